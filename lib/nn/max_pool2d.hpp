// MaxPool2d with kernel = stride = k, no padding: x (B, C, H, W) -> y (B, C, H/k, W/k) (rows and
// columns that do not fill a window are dropped, as PyTorch's floor mode does). NCHW, row-major.
#pragma once

#include <cstdint>
#include <string>

#include "nn/layer.hpp"

namespace meridian::nn {

class MaxPool2d final : public Layer {
 public:
  MaxPool2d(std::string name, std::int64_t kernel);

  // Keeps, per output element, the position of its window's maximum (the first one on ties; a NaN
  // wins, so NaNs propagate) when training.
  Tensor forward(const Tensor& x, bool training) override;
  // dy (B, C, H/k, W/k) -> dx (B, C, H, W): each dy goes to its window's argmax, zeros elsewhere.
  Tensor backward(const Tensor& dy) override;
  std::string kind() const override { return "MaxPool2d"; }

  std::int64_t kernel() const { return kernel_; }

 private:
  std::int64_t kernel_;
  Shape input_shape_;
  Tensor argmax_;  // i32 (B, C, H/k, W/k): index h·W + w into the input plane
};

}  // namespace meridian::nn
