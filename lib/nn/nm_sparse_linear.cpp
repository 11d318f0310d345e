// NMSparseLinear on the CPU N:M kernels (kernels/cpu/nm_sparse.hpp). Shapes: x (B, in), y and dy
// (B, out), W (in, out) stored compressed as values (kept_rows, out) and index (kept_rows, col_vectors).
#include "nn/nm_sparse_linear.hpp"

#include <vector>

#include "core/error.hpp"
#include "core/ops.hpp"
#include "kernels/cpu/nm_sparse.hpp"

namespace meridian::nn {
namespace {

namespace kc = kernels::cpu;

// A contiguous host f32 matrix with `cols` columns, or Error naming the argument.
Tensor host_matrix(const Tensor& t, const char* what, std::int64_t cols, const char* cols_name) {
  MERIDIAN_CHECK(t.defined(), "NMSparseLinear: ", what, " is undefined");
  MERIDIAN_CHECK(t.device().is_cpu(), "NMSparseLinear: ", what, " is on ", device_name(t.device()),
                 "; only host tensors are supported until the CUDA N:M kernel exists");
  MERIDIAN_CHECK(t.dtype() == DType::f32, "NMSparseLinear: ", what, " must be f32, got ", dtype_name(t.dtype()));
  MERIDIAN_CHECK(t.dim() == 2 && t.size(1) == cols, "NMSparseLinear: ", what, " must be (B, ", cols_name, " = ", cols,
                 "), got ", shape_string(t.shape()));
  return t.contiguous();
}

}  // namespace

NMSparseLinear::NMSparseLinear(const Tensor& dense_weight, const Tensor& bias, int n, int m, int v) {
  MERIDIAN_CHECK(dense_weight.defined() && dense_weight.dim() == 2, "NMSparseLinear: the weight must be (in, out), got ",
                 dense_weight.defined() ? shape_string(dense_weight.shape()) : std::string("an undefined tensor"));
  MERIDIAN_CHECK(dense_weight.device().is_cpu() && dense_weight.dtype() == DType::f32,
                 "NMSparseLinear: the weight must be a host f32 tensor, got ", dtype_name(dense_weight.dtype()), " on ",
                 device_name(dense_weight.device()));
  layout_ = NMLayout{.k = dense_weight.size(0), .cols = dense_weight.size(1), .n = n, .m = m, .v = v};
  check_nm_layout(layout_);
  const Tensor w = dense_weight.contiguous();
  values_ = Tensor::empty({layout_.kept_rows(), layout_.cols});
  index_ = Tensor::empty({layout_.kept_rows(), layout_.col_vectors()}, DType::u8);
  kc::nm_select(w.data<float>(), layout_.cols, layout_, index_.data<std::uint8_t>());
  kc::nm_compress(w.data<float>(), layout_.cols, layout_, index_.data<std::uint8_t>(), values_.data<float>());
  if (bias.defined()) {
    MERIDIAN_CHECK(bias.device().is_cpu() && bias.dtype() == DType::f32 && bias.dim() == 1 &&
                       bias.size(0) == layout_.cols,
                   "NMSparseLinear: the bias must be a host f32 tensor of shape (out = ", layout_.cols, "), got ",
                   shape_string(bias.shape()), " ", dtype_name(bias.dtype()), " on ", device_name(bias.device()));
    bias_ = bias.clone();
  } else {
    bias_ = Tensor::zeros({layout_.cols});
  }
  grad_values_ = Tensor::zeros(values_.shape());
  grad_bias_ = Tensor::zeros(bias_.shape());
}

Tensor NMSparseLinear::forward(const Tensor& x_in) const {
  const Tensor x = host_matrix(x_in, "x", layout_.k, "in");
  const std::int64_t batch = x.size(0);
  Tensor y = Tensor::empty({batch, layout_.cols});
  // y starts as the bias in every row; the SpMM adds x · W on top (beta = 1).
  const float* b = bias_.data<float>();
  float* yp = y.data<float>();
  for (std::int64_t i = 0; i < batch; ++i)
    for (std::int64_t c = 0; c < layout_.cols; ++c) yp[i * layout_.cols + c] = b[c];
  kc::nm_spmm(batch, layout_, 1.f, x.data<float>(), layout_.k, values_.data<float>(), index_.data<std::uint8_t>(), 1.f,
              yp, layout_.cols);
  return y;
}

Tensor NMSparseLinear::backward(const Tensor& x_in, const Tensor& dy_in) {
  const Tensor x = host_matrix(x_in, "x", layout_.k, "in");
  const Tensor dy = host_matrix(dy_in, "dy", layout_.cols, "out");
  MERIDIAN_CHECK(x.size(0) == dy.size(0), "NMSparseLinear::backward: x has ", x.size(0), " rows but dy has ",
                 dy.size(0), "; pass the forward input and the gradient of its output");
  const std::int64_t batch = x.size(0);
  Tensor dx = Tensor::empty({batch, layout_.k});
  kc::nm_spmm_grad_a(batch, layout_, 1.f, dy.data<float>(), layout_.cols, values_.data<float>(),
                     index_.data<std::uint8_t>(), 0.f, dx.data<float>(), layout_.k);
  kc::nm_spmm_grad_b(batch, layout_, 1.f, x.data<float>(), layout_.k, dy.data<float>(), layout_.cols,
                     index_.data<std::uint8_t>(), 1.f, grad_values_.data<float>());
  // Bias gradient: column sums of dy, accumulated in double.
  std::vector<double> sums(static_cast<std::size_t>(layout_.cols), 0.0);
  const float* dyp = dy.data<float>();
  for (std::int64_t i = 0; i < batch; ++i)
    for (std::int64_t c = 0; c < layout_.cols; ++c) sums[static_cast<std::size_t>(c)] += dyp[i * layout_.cols + c];
  float* gb = grad_bias_.data<float>();
  for (std::int64_t c = 0; c < layout_.cols; ++c) gb[c] += static_cast<float>(sums[static_cast<std::size_t>(c)]);
  return dx;
}

void NMSparseLinear::zero_grad() {
  ops::fill(grad_values_, 0.0);
  ops::fill(grad_bias_, 0.0);
}

Tensor NMSparseLinear::dense_weight() const {
  Tensor w = Tensor::empty({layout_.k, layout_.cols});
  kc::nm_decompress(layout_, values_.data<float>(), index_.data<std::uint8_t>(), w.data<float>(), layout_.cols);
  return w;
}

}  // namespace meridian::nn
