// Flatten: x (B, d1, d2, ...) -> y (B, d1·d2·...), e.g. (B, C, H, W) -> (B, C·H·W) between the conv
// and linear parts of a CNN. Row-major order is kept, so it is a view; backward restores the shape.
#pragma once

#include <string>

#include "nn/layer.hpp"

namespace meridian::nn {

class Flatten final : public Layer {
 public:
  explicit Flatten(std::string name = "flatten") : Layer(std::move(name)) {}

  // x must have at least one dimension; y shares x's buffer when x is contiguous.
  Tensor forward(const Tensor& x, bool training) override;
  // dy (B, d1·d2·...) -> dx (B, d1, d2, ...) of the last forward's input shape.
  Tensor backward(const Tensor& dy) override;
  std::string kind() const override { return "Flatten"; }

 private:
  Shape input_shape_;
  bool has_cache_ = false;
};

}  // namespace meridian::nn
