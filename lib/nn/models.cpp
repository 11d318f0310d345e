// make_mlp and make_cnn: layer lists and their names ("fc1", "conv1", ...); layer k of the list draws
// its initial values from InitKey{seed, k}.
#include "nn/models.hpp"

#include <string>

#include "nn/conv2d.hpp"
#include "nn/flatten.hpp"
#include "nn/linear.hpp"
#include "nn/max_pool2d.hpp"
#include "nn/relu.hpp"

namespace meridian::nn {

Model make_mlp(std::int64_t in, const std::vector<std::int64_t>& hidden, std::int64_t classes, std::uint64_t seed) {
  MERIDIAN_INPUT_CHECK(in > 0 && classes > 0, "make_mlp: in and classes must be positive, got in = ", in,
                       ", classes = ", classes);
  Model model;
  model.emplace<Flatten>("flatten");
  std::int64_t width = in;
  int fc = 0;
  for (const std::int64_t h : hidden) {
    MERIDIAN_INPUT_CHECK(h > 0, "make_mlp: hidden widths must be positive, got ", h);
    ++fc;
    model.emplace<Linear>("fc" + std::to_string(fc), width, h, InitKey{seed, static_cast<std::uint64_t>(model.size())});
    model.emplace<ReLU>("relu" + std::to_string(fc));
    width = h;
  }
  model.emplace<Linear>("fc" + std::to_string(fc + 1), width, classes,
                        InitKey{seed, static_cast<std::uint64_t>(model.size())});
  model.set_input_grad_needed(false);
  return model;
}

Model make_cnn(std::uint64_t seed, const CnnShape& s) {
  MERIDIAN_INPUT_CHECK(s.image > 0 && s.image % 4 == 0,
                       "make_cnn: the image size must be a positive multiple of 4, got ", s.image);
  MERIDIAN_INPUT_CHECK(s.kernel > 0 && s.kernel % 2 == 1, "make_cnn: the kernel must be odd, got ", s.kernel);
  MERIDIAN_INPUT_CHECK(s.in_channels > 0 && s.channels1 > 0 && s.channels2 > 0 && s.hidden > 0 && s.classes > 0,
                       "make_cnn: channel counts, hidden width and classes must be positive");
  Model model;
  const auto key = [&] { return InitKey{seed, static_cast<std::uint64_t>(model.size())}; };
  const std::int64_t pad = s.kernel / 2;
  model.emplace<Conv2d>("conv1", Conv2dShape{s.in_channels, s.channels1, s.kernel, 1, pad}, key());
  model.emplace<ReLU>("relu1");
  model.emplace<MaxPool2d>("pool1", 2);
  model.emplace<Conv2d>("conv2", Conv2dShape{s.channels1, s.channels2, s.kernel, 1, pad}, key());
  model.emplace<ReLU>("relu2");
  model.emplace<MaxPool2d>("pool2", 2);
  model.emplace<Flatten>("flatten");
  const std::int64_t side = s.image / 4;
  model.emplace<Linear>("fc1", s.channels2 * side * side, s.hidden, key());
  model.emplace<ReLU>("relu3");
  model.emplace<Linear>("fc2", s.hidden, s.classes, key());
  model.set_input_grad_needed(false);
  return model;
}

}  // namespace meridian::nn
