// Dispatch of tensor ops to kernels/cpu or kernels/cuda by the operands' device, with the
// argument checks done once here so the kernels can stay on raw memory.
#include "core/ops.hpp"

#include "kernels/cpu/ops.hpp"
#if defined(MERIDIAN_HAVE_CUDA)
#include "kernels/cuda/ops.hpp"
#endif

namespace meridian::ops {
namespace {

void require_contiguous(const Tensor& t, const char* op) {
  MERIDIAN_CHECK(t.defined(), op, ": undefined tensor");
  MERIDIAN_CHECK(t.is_contiguous(), op, ": tensor of shape ", shape_string(t.shape()),
                 " is a non-contiguous view; call contiguous() first");
}

void require_same_device(const Tensor& a, const Tensor& b, const char* op) {
  MERIDIAN_CHECK(a.device() == b.device(), op, ": operands on ", device_name(a.device()), " and ",
                 device_name(b.device()));
}

void require_float(const Tensor& t, const char* op) {
  MERIDIAN_CHECK(t.dtype() == DType::f32 || t.dtype() == DType::f64, op, ": supports f32 and f64, got ",
                 dtype_name(t.dtype()));
}

void require_same(const Tensor& a, const Tensor& b, const char* op) {
  require_contiguous(a, op);
  require_contiguous(b, op);
  require_same_device(a, b, op);
  MERIDIAN_CHECK(a.dtype() == b.dtype(), op, ": dtypes ", dtype_name(a.dtype()), " and ", dtype_name(b.dtype()));
  MERIDIAN_CHECK(a.numel() == b.numel(), op, ": ", a.numel(), " elements vs ", b.numel());
}

[[noreturn, maybe_unused]] void no_cuda(const char* op) {
  throw Error(cat(op, ": tensor on a CUDA device in a build without the CUDA backend"));
}

// Calls cpu(...) or cuda(...) with the same arguments depending on the device.
#if defined(MERIDIAN_HAVE_CUDA)
#define MERIDIAN_DISPATCH(device, op, call) \
  ((device).is_cpu() ? kernels::cpu::call : kernels::cuda::call)
#else
#define MERIDIAN_DISPATCH(device, op, call) ((device).is_cpu() ? kernels::cpu::call : (no_cuda(op), kernels::cpu::call))
#endif

}  // namespace

void fill(Tensor& t, double value) {
  require_contiguous(t, "fill");
  MERIDIAN_DISPATCH(t.device(), "fill", fill(t.raw_data(), t.dtype(), t.numel(), value));
}

void copy(Tensor& dst, const Tensor& src) {
  require_contiguous(dst, "copy");
  require_contiguous(src, "copy");
  MERIDIAN_CHECK(dst.dtype() == src.dtype() && dst.numel() == src.numel(), "copy: destination ",
                 dtype_name(dst.dtype()), shape_string(dst.shape()), " and source ", dtype_name(src.dtype()),
                 shape_string(src.shape()), " differ; use convert for dtype changes");
  const auto bytes = static_cast<std::int64_t>(src.nbytes());
  if (dst.device().is_cpu() && src.device().is_cpu()) {
    kernels::cpu::copy(dst.raw_data(), src.raw_data(), bytes);
    return;
  }
#if defined(MERIDIAN_HAVE_CUDA)
  if (dst.device().is_cuda() && src.device().is_cuda())
    kernels::cuda::memcpy_d2d(dst.raw_data(), src.raw_data(), static_cast<std::size_t>(bytes));
  else if (dst.device().is_cuda())
    kernels::cuda::memcpy_h2d(dst.raw_data(), src.raw_data(), static_cast<std::size_t>(bytes));
  else
    kernels::cuda::memcpy_d2h(dst.raw_data(), src.raw_data(), static_cast<std::size_t>(bytes));
  kernels::cuda::synchronize();
#else
  no_cuda("copy");
#endif
}

void convert(Tensor& dst, const Tensor& src) {
  require_contiguous(dst, "convert");
  require_contiguous(src, "convert");
  require_same_device(dst, src, "convert");
  MERIDIAN_CHECK(dst.numel() == src.numel(), "convert: ", dst.numel(), " elements vs ", src.numel());
  MERIDIAN_DISPATCH(dst.device(), "convert",
                    convert(dst.raw_data(), dst.dtype(), src.raw_data(), src.dtype(), src.numel()));
}

void axpy(float alpha, const Tensor& x, Tensor& y) {
  require_same(x, y, "axpy");
  require_float(x, "axpy");
  if (x.dtype() == DType::f32)
    MERIDIAN_DISPATCH(x.device(), "axpy", axpy(x.numel(), alpha, x.data<float>(), y.data<float>()));
  else
    MERIDIAN_DISPATCH(x.device(), "axpy", axpy(x.numel(), static_cast<double>(alpha), x.data<double>(), y.data<double>()));
}

void scale(Tensor& x, float alpha) {
  require_contiguous(x, "scale");
  require_float(x, "scale");
  if (x.dtype() == DType::f32)
    MERIDIAN_DISPATCH(x.device(), "scale", scale(x.numel(), alpha, x.data<float>()));
  else
    MERIDIAN_DISPATCH(x.device(), "scale", scale(x.numel(), static_cast<double>(alpha), x.data<double>()));
}

void add(const Tensor& a, const Tensor& b, Tensor& out) {
  require_same(a, b, "add");
  require_same(a, out, "add");
  require_float(a, "add");
  if (a.dtype() == DType::f32)
    MERIDIAN_DISPATCH(a.device(), "add", add(a.numel(), a.data<float>(), b.data<float>(), out.data<float>()));
  else
    MERIDIAN_DISPATCH(a.device(), "add", add(a.numel(), a.data<double>(), b.data<double>(), out.data<double>()));
}

void mul(const Tensor& a, const Tensor& b, Tensor& out) {
  require_same(a, b, "mul");
  require_same(a, out, "mul");
  require_float(a, "mul");
  if (a.dtype() == DType::f32)
    MERIDIAN_DISPATCH(a.device(), "mul", mul(a.numel(), a.data<float>(), b.data<float>(), out.data<float>()));
  else
    MERIDIAN_DISPATCH(a.device(), "mul", mul(a.numel(), a.data<double>(), b.data<double>(), out.data<double>()));
}

double sum(const Tensor& x) {
  require_contiguous(x, "sum");
  require_float(x, "sum");
  if (x.dtype() == DType::f32) return MERIDIAN_DISPATCH(x.device(), "sum", sum(x.numel(), x.data<float>()));
  return MERIDIAN_DISPATCH(x.device(), "sum", sum(x.numel(), x.data<double>()));
}

double max(const Tensor& x) {
  require_contiguous(x, "max");
  require_float(x, "max");
  MERIDIAN_CHECK(x.numel() > 0, "max of an empty tensor");
  if (x.dtype() == DType::f32) return MERIDIAN_DISPATCH(x.device(), "max", max(x.numel(), x.data<float>()));
  return MERIDIAN_DISPATCH(x.device(), "max", max(x.numel(), x.data<double>()));
}

void uniform(Tensor& t, std::uint64_t seed, std::uint64_t stream, float lo, float hi, std::uint64_t offset) {
  require_contiguous(t, "uniform");
  MERIDIAN_CHECK(t.dtype() == DType::f32, "uniform: f32 tensors only, got ", dtype_name(t.dtype()));
  MERIDIAN_DISPATCH(t.device(), "uniform", fill_uniform(t.data<float>(), t.numel(), seed, stream, offset, lo, hi));
}

void normal(Tensor& t, std::uint64_t seed, std::uint64_t stream, float mean, float stddev, std::uint64_t offset) {
  require_contiguous(t, "normal");
  MERIDIAN_CHECK(t.dtype() == DType::f32, "normal: f32 tensors only, got ", dtype_name(t.dtype()));
  MERIDIAN_DISPATCH(t.device(), "normal", fill_normal(t.data<float>(), t.numel(), seed, stream, offset, mean, stddev));
}

void matmul(const Tensor& a, const Tensor& b, Tensor& c, bool transpose_a, bool transpose_b, float alpha,
            float beta) {
  require_contiguous(a, "matmul");
  require_contiguous(b, "matmul");
  require_contiguous(c, "matmul");
  require_same_device(a, b, "matmul");
  require_same_device(a, c, "matmul");
  MERIDIAN_CHECK(a.dtype() == b.dtype() && a.dtype() == c.dtype(), "matmul: dtypes ", dtype_name(a.dtype()), ", ",
                 dtype_name(b.dtype()), ", ", dtype_name(c.dtype()), " differ");
  MERIDIAN_CHECK(a.dim() == b.dim() && a.dim() == c.dim() && (a.dim() == 2 || a.dim() == 3),
                 "matmul: operands must be all 2-D or all 3-D (batched), got ", shape_string(a.shape()), ", ",
                 shape_string(b.shape()), ", ", shape_string(c.shape()));
  const std::int64_t batch = a.dim() == 3 ? a.size(0) : 1;
  const std::int64_t a_rows = a.size(-2), a_cols = a.size(-1), b_rows = b.size(-2), b_cols = b.size(-1);
  const std::int64_t m = transpose_a ? a_cols : a_rows, k = transpose_a ? a_rows : a_cols;
  const std::int64_t kb = transpose_b ? b_cols : b_rows, n = transpose_b ? b_rows : b_cols;
  MERIDIAN_CHECK(k == kb && c.size(-2) == m && c.size(-1) == n && (a.dim() == 2 || (b.size(0) == batch && c.size(0) == batch)),
                 "matmul: shapes ", shape_string(a.shape()), (transpose_a ? "ᵀ" : ""), " x ", shape_string(b.shape()),
                 (transpose_b ? "ᵀ" : ""), " -> ", shape_string(c.shape()), " do not match");
  using kernels::cpu::Trans;
  const Trans ta = transpose_a ? Trans::yes : Trans::no, tb = transpose_b ? Trans::yes : Trans::no;
  if (a.device().is_cpu()) {
    if (a.dtype() == DType::f32 && batch == 1 && a.dim() == 2)
      kernels::cpu::gemm(ta, tb, m, n, k, alpha, a.data<float>(), a_cols, b.data<float>(), b_cols, beta,
                         c.data<float>(), n);
    else if (a.dtype() == DType::f32)
      kernels::cpu::gemm_strided_batched(ta, tb, m, n, k, alpha, a.data<float>(), a_cols, b.data<float>(), b_cols,
                                         beta, c.data<float>(), n, batch, a_rows * a_cols, b_rows * b_cols, m * n);
    else if (a.dtype() == DType::f64 && a.dim() == 2)
      kernels::cpu::gemm(ta, tb, m, n, k, static_cast<double>(alpha), a.data<double>(), a_cols, b.data<double>(),
                         b_cols, static_cast<double>(beta), c.data<double>(), n);
    else
      throw Error(cat("matmul on cpu: supports f32 (2-D and batched) and f64 (2-D), got ", dtype_name(a.dtype()),
                      " ", a.dim(), "-D"));
    return;
  }
#if defined(MERIDIAN_HAVE_CUDA)
  using CTrans = kernels::cuda::Trans;
  const CTrans cta = transpose_a ? CTrans::yes : CTrans::no, ctb = transpose_b ? CTrans::yes : CTrans::no;
  if (a.dtype() == DType::f32)
    kernels::cuda::gemm_strided_batched(cta, ctb, m, n, k, alpha, a.data<float>(), a_cols, b.data<float>(), b_cols,
                                        beta, c.data<float>(), n, batch, a_rows * a_cols, b_rows * b_cols, m * n);
  else if (a.dtype() == DType::bf16)
    kernels::cuda::gemm_bf16_strided_batched(cta, ctb, m, n, k, alpha, a.data<bf16>(), a_cols, b.data<bf16>(),
                                             b_cols, beta, c.data<bf16>(), n, batch, a_rows * a_cols,
                                             b_rows * b_cols, m * n);
  else
    throw Error(cat("matmul on cuda: supports f32 and bf16, got ", dtype_name(a.dtype())));
#else
  no_cuda("matmul");
#endif
}

}  // namespace meridian::ops
