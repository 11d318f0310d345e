// SparseLinear: NMSparseLinear (y = x·W + b, W N:M sparse along `in`) behind the Layer interface.
// x is (B, in), y is (B, out); the trainable weight is the kept values (kept_rows, out), b is (out).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nn/layer.hpp"
#include "nn/nm_sparse_linear.hpp"

namespace meridian::nn {

struct NMPattern {
  int n = 2, m = 4, v = 1;  // keep n of every m rows of W, one choice per vector of v columns
};

class SparseLinear final : public Layer {
 public:
  // A dense W (in, out) and b drawn as Linear draws them (same streams of `init`), then W pruned to
  // the N:M pattern by magnitude; the mask stays fixed during training.
  SparseLinear(std::string name, std::int64_t in, std::int64_t out, const NMPattern& pattern, const InitKey& init);

  // x (B, in) -> y (B, out). Keeps a reference to x when training.
  Tensor forward(const Tensor& x, bool training) override;
  // dy (B, out) -> dx (B, in); the kept values' and the bias's gradients are accumulated.
  Tensor backward(const Tensor& dy) override;
  // weight: the kept values (kept_rows, out); bias (out). Both alias the wrapped layer's tensors, so
  // an optimizer step on them updates the sparse layer in place.
  std::vector<Parameter*> parameters() override { return {&weight_, &bias_}; }
  std::string kind() const override { return "SparseLinear"; }

  Parameter& weight() { return weight_; }
  Parameter& bias() { return bias_; }
  NMSparseLinear& sparse() { return layer_; }

 private:
  NMSparseLinear layer_;
  Parameter weight_, bias_;
  Tensor x_;
};

}  // namespace meridian::nn
