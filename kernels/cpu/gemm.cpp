// CPU GEMM through OpenBLAS's CBLAS interface, row-major: C (m x n) = alpha op(A) op(B) + beta C
// with op(A) m x k and op(B) k x n; lda/ldb/ldc are the row strides of the matrices as stored.
// Arguments are checked here (kernels/reference/ops.hpp's rules) so that OpenBLAS never sees bad ones.
#include <cblas.h>

#include <algorithm>
#include <limits>
#include <vector>

#include "kernels/cpu/ops.hpp"

namespace meridian::kernels::cpu {
namespace {

CBLAS_TRANSPOSE to_cblas(Trans t) { return t == Trans::no ? CblasNoTrans : CblasTrans; }

// OpenBLAS takes 32-bit ints; a zero leading dimension (possible when a matrix is empty) is
// raised to 1, which BLAS requires and which is never used to address memory.
blasint to_blas_int(std::int64_t v, const char* name) {
  MERIDIAN_CHECK(v <= std::numeric_limits<blasint>::max(), "cpu::gemm: ", name, "=", v,
                 " exceeds OpenBLAS's integer range");
  return static_cast<blasint>(v);
}

struct BlasArgs {
  blasint m, n, k, lda, ldb, ldc;
};

BlasArgs blas_args(std::int64_t m, std::int64_t n, std::int64_t k, std::int64_t lda,
                   std::int64_t ldb, std::int64_t ldc) {
  return BlasArgs{to_blas_int(m, "m"),
                  to_blas_int(n, "n"),
                  to_blas_int(k, "k"),
                  to_blas_int(std::max<std::int64_t>(lda, 1), "lda"),
                  to_blas_int(std::max<std::int64_t>(ldb, 1), "ldb"),
                  to_blas_int(std::max<std::int64_t>(ldc, 1), "ldc")};
}

void blas_gemm(Trans ta, Trans tb, const BlasArgs& g, float alpha, const float* a, const float* b,
               float beta, float* c) {
  cblas_sgemm(CblasRowMajor, to_cblas(ta), to_cblas(tb), g.m, g.n, g.k, alpha, a, g.lda, b, g.ldb,
              beta, c, g.ldc);
}

void blas_gemm(Trans ta, Trans tb, const BlasArgs& g, double alpha, const double* a,
               const double* b, double beta, double* c) {
  cblas_dgemm(CblasRowMajor, to_cblas(ta), to_cblas(tb), g.m, g.n, g.k, alpha, a, g.lda, b, g.ldb,
              beta, c, g.ldc);
}

template <class T>
void gemm_impl(Trans ta, Trans tb, std::int64_t m, std::int64_t n, std::int64_t k, T alpha,
               const T* a, std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c,
               std::int64_t ldc) {
  detail::check_gemm("cpu::gemm", ta, tb, m, n, k, a, lda, b, ldb, c, ldc);
  if (m == 0 || n == 0) return;
  blas_gemm(ta, tb, blas_args(m, n, k, lda, ldb, ldc), alpha, a, b, beta, c);
}

}  // namespace

void gemm(Trans ta, Trans tb, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
          const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
          std::int64_t ldc) {
  gemm_impl(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void gemm(Trans ta, Trans tb, std::int64_t m, std::int64_t n, std::int64_t k, double alpha,
          const double* a, std::int64_t lda, const double* b, std::int64_t ldb, double beta,
          double* c, std::int64_t ldc) {
  gemm_impl(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void gemm_strided_batched(Trans ta, Trans tb, std::int64_t m, std::int64_t n, std::int64_t k,
                          float alpha, const float* a, std::int64_t lda, const float* b,
                          std::int64_t ldb, float beta, float* c, std::int64_t ldc,
                          std::int64_t batch, std::int64_t stride_a, std::int64_t stride_b,
                          std::int64_t stride_c) {
  detail::check_gemm("cpu::gemm_strided_batched", ta, tb, m, n, k, a, lda, b, ldb, c, ldc);
  detail::check_gemm_batch("cpu::gemm_strided_batched", m, n, ldc, batch, stride_a, stride_b,
                           stride_c);
  if (m == 0 || n == 0 || batch == 0) return;
  const BlasArgs g = blas_args(m, n, k, lda, ldb, ldc);
  for (std::int64_t p = 0; p < batch; ++p) {
    // A and B may be null when k == 0; never offset a null pointer.
    const float* a_p = a == nullptr ? a : a + p * stride_a;
    const float* b_p = b == nullptr ? b : b + p * stride_b;
    blas_gemm(ta, tb, g, alpha, a_p, b_p, beta, c + p * stride_c);
  }
}

namespace {

// The matrix stored at x (rows x cols, row stride ld) rounded to bf16, packed (row stride cols).
void pack_rounded(const float* x, std::int64_t rows, std::int64_t cols, std::int64_t ld, std::vector<float>& out) {
  out.resize(static_cast<std::size_t>(rows * cols));
  float* o = out.data();
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < cols; ++j) o[i * cols + j] = round_to_bf16(x[i * ld + j]);
}

}  // namespace

void gemm_bf16_inputs(Trans ta, Trans tb, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
                      const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta,
                      float* c, std::int64_t ldc) {
  detail::check_gemm("cpu::gemm_bf16_inputs", ta, tb, m, n, k, a, lda, b, ldb, c, ldc);
  if (m == 0 || n == 0) return;
  // One pair of buffers per thread: the GPT's attention calls this from parallel loops.
  thread_local std::vector<float> packed_a, packed_b;
  const std::int64_t a_cols = ta == Trans::no ? k : m, b_cols = tb == Trans::no ? n : k;
  pack_rounded(a, ta == Trans::no ? m : k, a_cols, lda, packed_a);
  pack_rounded(b, tb == Trans::no ? k : n, b_cols, ldb, packed_b);
  blas_gemm(ta, tb, blas_args(m, n, k, a_cols, b_cols, ldc), alpha, packed_a.data(), packed_b.data(), beta, c);
}

void gemm(MatmulPrecision precision, Trans ta, Trans tb, std::int64_t m, std::int64_t n, std::int64_t k,
          float alpha, const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta,
          float* c, std::int64_t ldc) {
  if (precision == MatmulPrecision::bf16) {
    gemm_bf16_inputs(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  } else {
    gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
}

}  // namespace meridian::kernels::cpu
