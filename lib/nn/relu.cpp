// ReLU on the CPU: one Kokkos loop forward, one backward; the output doubles as the backward mask.
#include "nn/relu.hpp"

#include "nn/checks.hpp"
#include "nn/host_parallel.hpp"

namespace meridian::nn {

Tensor ReLU::forward(const Tensor& x_in, bool training) {
  const Tensor x =
      require_host_f32(x_in, describe(), "x", Shape(static_cast<std::size_t>(x_in.dim()), -1), "(any shape)");
  Tensor y = Tensor::empty(x.shape());
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  host_for("meridian::nn::relu_forward", x.numel(), 1,
           [=](const std::int64_t i) { yp[i] = xp[i] > 0.f ? xp[i] : 0.f; });
  y_ = training ? y : Tensor();
  return y;
}

Tensor ReLU::backward(const Tensor& dy_in) {
  require_cache(y_.defined());
  const Tensor dy = require_host_f32(dy_in, describe(), "dy", y_.shape(), "(same shape as y)");
  Tensor dx = Tensor::empty(y_.shape());
  const float* yp = y_.data<float>();
  const float* dyp = dy.data<float>();
  float* dxp = dx.data<float>();
  host_for("meridian::nn::relu_backward", dx.numel(), 1,
           [=](const std::int64_t i) { dxp[i] = yp[i] > 0.f ? dyp[i] : 0.f; });
  return dx;
}

}  // namespace meridian::nn
