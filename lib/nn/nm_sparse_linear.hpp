// NMSparseLinear: y (B, out) = x (B, in) · W + b, where W (in x out) is N:M sparse along `in` (the
// reduction dimension) with one choice per vector of v output columns (kernels/common/nm_layout.hpp).
// The mask comes from magnitude pruning of a dense weight at construction and stays fixed.
#pragma once

#include <cstdint>

#include "core/tensor.hpp"
#include "kernels/common/nm_layout.hpp"

namespace meridian::nn {

// Host f32 tensors only for now (kernels/cpu/nm_sparse.hpp); the CUDA path comes with the CUDA N:M
// kernel. Not thread-safe: backward accumulates into the layer's gradients.
class NMSparseLinear {
 public:
  // dense_weight (in, out) is pruned by magnitude (per window of m rows and vector of v columns,
  // the n rows with the largest sum of |w|) and compressed; bias (out), or undefined for zeros.
  // Throws InputError for an unsupported n:m:v, Error for wrong shapes, dtypes or devices.
  NMSparseLinear(const Tensor& dense_weight, const Tensor& bias, int n, int m, int v = 1);

  // y (B, out) = x (B, in) · W + b.
  Tensor forward(const Tensor& x) const;
  // Given the forward input x (B, in) and dy (B, out): returns dx (B, in) = dy · Wᵀ, and adds
  // xᵀ · dy at the kept positions to grad_values() and the column sums of dy to grad_bias().
  Tensor backward(const Tensor& x, const Tensor& dy);
  void zero_grad();

  std::int64_t in_features() const { return layout_.k; }
  std::int64_t out_features() const { return layout_.cols; }
  const NMLayout& layout() const { return layout_; }
  // Kept weights (kept_rows, out), f32; index (kept_rows, col_vectors), u8; bias (out), f32.
  Tensor& values() { return values_; }
  const Tensor& values() const { return values_; }
  const Tensor& index() const { return index_; }
  Tensor& bias() { return bias_; }
  const Tensor& bias() const { return bias_; }
  const Tensor& grad_values() const { return grad_values_; }
  const Tensor& grad_bias() const { return grad_bias_; }
  // W (in, out) with zeros at the pruned positions (for tests and export).
  Tensor dense_weight() const;

 private:
  NMLayout layout_;
  Tensor values_, index_, bias_;
  Tensor grad_values_, grad_bias_;
};

}  // namespace meridian::nn
