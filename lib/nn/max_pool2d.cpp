// MaxPool2d on the CPU: one Kokkos loop over the B·C planes forward (max and argmax) and one backward
// (scatter to the argmax). Windows do not overlap (stride = kernel), so planes never race.
#include "nn/max_pool2d.hpp"

#include "nn/checks.hpp"
#include "nn/host_parallel.hpp"

namespace meridian::nn {

MaxPool2d::MaxPool2d(std::string name, std::int64_t kernel) : Layer(std::move(name)), kernel_(kernel) {
  MERIDIAN_CHECK(kernel >= 1, describe(), ": the kernel size must be at least 1, got ", kernel);
}

Tensor MaxPool2d::forward(const Tensor& x_in, bool training) {
  const Tensor x = require_host_f32(x_in, describe(), "x", {-1, -1, -1, -1}, "(B, C, H, W)");
  const std::int64_t planes = x.size(0) * x.size(1), h = x.size(2), w = x.size(3), k = kernel_;
  const std::int64_t oh = h / k, ow = w / k;
  MERIDIAN_CHECK(oh > 0 && ow > 0, describe(), ": input ", shape_string(x.shape()), " is smaller than the ", k, "x", k,
                 " window");
  Tensor y = Tensor::empty({x.size(0), x.size(1), oh, ow});
  Tensor argmax = Tensor::empty(y.shape(), DType::i32);
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  std::int32_t* ap = argmax.data<std::int32_t>();
  host_for("meridian::nn::max_pool2d_forward", planes, h * w, [=](const std::int64_t p) {
    const float* in = xp + p * h * w;
    for (std::int64_t i = 0; i < oh; ++i)
      for (std::int64_t j = 0; j < ow; ++j) {
        std::int64_t best_at = (i * k) * w + j * k;
        float best = in[best_at];
        for (std::int64_t di = 0; di < k; ++di)
          for (std::int64_t dj = 0; dj < k; ++dj) {
            const std::int64_t at = (i * k + di) * w + (j * k + dj);
            const float v = in[at];
            if (v > best || (v != v && best == best)) {
              best = v;
              best_at = at;
            }
          }
        yp[(p * oh + i) * ow + j] = best;
        ap[(p * oh + i) * ow + j] = static_cast<std::int32_t>(best_at);
      }
  });
  input_shape_ = x.shape();
  argmax_ = training ? argmax : Tensor();
  return y;
}

Tensor MaxPool2d::backward(const Tensor& dy_in) {
  require_cache(argmax_.defined());
  const Tensor dy = require_host_f32(dy_in, describe(), "dy", argmax_.shape(), "(B, C, H/k, W/k)");
  Tensor dx = Tensor::empty(input_shape_);
  const std::int64_t planes = input_shape_[0] * input_shape_[1], in_plane = input_shape_[2] * input_shape_[3];
  const std::int64_t out_plane = argmax_.size(2) * argmax_.size(3);
  const float* dyp = dy.data<float>();
  const std::int32_t* ap = argmax_.data<std::int32_t>();
  float* dxp = dx.data<float>();
  host_for("meridian::nn::max_pool2d_backward", planes, in_plane, [=](const std::int64_t p) {
    float* out = dxp + p * in_plane;
    for (std::int64_t i = 0; i < in_plane; ++i) out[i] = 0.f;
    for (std::int64_t o = 0; o < out_plane; ++o) out[ap[p * out_plane + o]] += dyp[p * out_plane + o];
  });
  return dx;
}

}  // namespace meridian::nn
