// Flatten: reshapes (B, ...) to (B, rest) and back; no data moves for contiguous tensors.
#include "nn/flatten.hpp"

#include "nn/checks.hpp"

namespace meridian::nn {

Tensor Flatten::forward(const Tensor& x_in, bool training) {
  MERIDIAN_CHECK(x_in.defined() && x_in.dim() >= 1, describe(), ": x must have a batch dimension, got ",
                 x_in.defined() ? shape_string(x_in.shape()) : std::string("an undefined tensor"));
  const Tensor x = require_host_f32(x_in, describe(), "x", Shape(static_cast<std::size_t>(x_in.dim()), -1), "(B, ...)");
  input_shape_ = x.shape();
  has_cache_ = training;
  const std::int64_t batch = x.size(0);
  return x.view({batch, batch == 0 ? 0 : x.numel() / batch});
}

Tensor Flatten::backward(const Tensor& dy_in) {
  require_cache(has_cache_);
  const std::int64_t batch = input_shape_[0];
  const Tensor dy = require_host_f32(dy_in, describe(), "dy",
                                     {batch, batch == 0 ? 0 : shape_numel(input_shape_) / batch}, "(B, rest)");
  return dy.view(input_shape_);
}

}  // namespace meridian::nn
