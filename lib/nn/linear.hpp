// Linear: y = x·W + b. x is (B, in), W is (in, out) row-major, b is (out), y is (B, out).
// The matmuls go through core's ops::matmul (OpenBLAS sgemm on the CPU).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nn/layer.hpp"

namespace meridian::nn {

class Linear final : public Layer {
 public:
  // W and b ~ U(-1/sqrt(in), 1/sqrt(in)) (PyTorch's default, Kaiming-uniform with a = sqrt(5)) from
  // the streams of `init` (tensor 0 = W, 1 = b). Without a bias, b is absent from parameters().
  Linear(std::string name, std::int64_t in, std::int64_t out, const InitKey& init, bool bias = true);

  // x (B, in) -> y (B, out). Keeps a reference to x when training.
  Tensor forward(const Tensor& x, bool training) override;
  // dy (B, out) -> dx (B, in) = dy·Wᵀ (undefined when !input_grad_needed()); W.grad += xᵀ·dy,
  // b.grad += column sums of dy.
  Tensor backward(const Tensor& dy) override;
  std::vector<Parameter*> parameters() override;
  std::string kind() const override { return "Linear"; }

  std::int64_t in_features() const { return in_; }
  std::int64_t out_features() const { return out_; }
  Parameter& weight() { return weight_; }
  Parameter& bias() { return bias_; }  // undefined tensors when built without a bias
  bool has_bias() const { return bias_.value.defined(); }

 private:
  std::int64_t in_, out_;
  Parameter weight_, bias_;
  Tensor x_;  // forward input, for W's gradient
};

}  // namespace meridian::nn
