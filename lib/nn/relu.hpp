// ReLU: y = max(x, 0) elementwise. x, y, dy and dx all have the same shape, any rank (e.g. (B, C, H, W)).
#pragma once

#include <string>

#include "nn/layer.hpp"

namespace meridian::nn {

class ReLU final : public Layer {
 public:
  explicit ReLU(std::string name = "relu") : Layer(std::move(name)) {}

  // Keeps y when training (the mask y > 0 is all backward needs).
  Tensor forward(const Tensor& x, bool training) override;
  // dx = dy where y > 0, else 0 (the subgradient at 0 is 0, as in PyTorch).
  Tensor backward(const Tensor& dy) override;
  std::string kind() const override { return "ReLU"; }

 private:
  Tensor y_;
};

}  // namespace meridian::nn
