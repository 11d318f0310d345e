// CPU kernels on host memory: Kokkos (host execution space, OpenMP) for elementwise ops,
// reductions and random fills; OpenBLAS for GEMM. Buffers are flat arrays of n elements; matrices
// are ROW-MAJOR with a row stride (ld) of at least their stored row length.
//
// Kokkos must be initialized by the caller (lib/core's Runtime, or the test main) before any kernel
// here runs; kernels throw meridian::Error if it is not. Argument errors (negative sizes, null
// pointers with n > 0, bad GEMM dimensions or strides) throw meridian::Error. Element conversion
// rules (fill, convert) are those of kernels/reference/ops.hpp: round to nearest even for floating
// targets, truncation toward zero with saturation (NaN -> 0) for integer targets.
#pragma once

#include <cstdint>

#include "kernels/common/dtype.hpp"
#include "kernels/reference/ops.hpp"

namespace meridian::kernels::cpu {

using kernels::Trans;

// Threads of the Kokkos host execution space.
int num_threads();

// dst[0, n) = value converted to dtype.
void fill(void* dst, DType dtype, std::int64_t n, double value);
// memcpy semantics: the ranges must not overlap.
void copy(void* dst, const void* src, std::int64_t bytes);
// dst[i] = src[i] converted from src_dtype to dst_dtype; any pair of dtypes, no overlap.
void convert(void* dst, DType dst_dtype, const void* src, DType src_dtype, std::int64_t n);

// y += alpha * x (unfused: one multiply, one add).
void axpy(std::int64_t n, float alpha, const float* x, float* y);
void axpy(std::int64_t n, double alpha, const double* x, double* y);
// x *= alpha
void scale(std::int64_t n, float alpha, float* x);
void scale(std::int64_t n, double alpha, double* x);
// out = a + b and out = a * b; out may be a or b (but not partially overlap them).
void add(std::int64_t n, const float* a, const float* b, float* out);
void add(std::int64_t n, const double* a, const double* b, double* out);
void mul(std::int64_t n, const float* a, const float* b, float* out);
void mul(std::int64_t n, const double* a, const double* b, double* out);

// Sum accumulated in double over fixed chunks, so the result does not depend on the thread count.
double sum(std::int64_t n, const float* x);
double sum(std::int64_t n, const double* x);
// Largest element, n > 0; NaN if any element is NaN (which NaN, and the sign of a zero result,
// are unspecified).
float max(std::int64_t n, const float* x);
double max(std::int64_t n, const double* x);

// x[i] = lo + (hi - lo) * uniform_from_word(philox_word(seed, stream, offset + i)), in [lo, hi];
// bit-identical to the CUDA backend and independent of the thread count.
void fill_uniform(float* x, std::int64_t n, std::uint64_t seed, std::uint64_t stream,
                  std::uint64_t offset, float lo, float hi);
// x[i] = mean + stddev * normal_at(seed, stream, offset + i).
void fill_normal(float* x, std::int64_t n, std::uint64_t seed, std::uint64_t stream,
                 std::uint64_t offset, float mean, float stddev);

// C = alpha * op(A) * op(B) + beta * C, row-major: op(A) m x k, op(B) k x n, C m x n; lda, ldb,
// ldc are the row strides of A, B, C as stored. beta == 0: C is write-only. Dimensions must fit
// in a 32-bit int (OpenBLAS's integer).
void gemm(Trans ta, Trans tb, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
          const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
          std::int64_t ldc);
void gemm(Trans ta, Trans tb, std::int64_t m, std::int64_t n, std::int64_t k, double alpha,
          const double* a, std::int64_t lda, const double* b, std::int64_t ldb, double beta,
          double* c, std::int64_t ldc);
// `batch` GEMMs; matrix p of A starts at a + p * stride_a (elements), likewise B and C. A and B
// strides may be 0 (shared operand); C matrices must not overlap. Batches run one after another,
// each with OpenBLAS's own threads.
void gemm_strided_batched(Trans ta, Trans tb, std::int64_t m, std::int64_t n, std::int64_t k,
                          float alpha, const float* a, std::int64_t lda, const float* b,
                          std::int64_t ldb, float beta, float* c, std::int64_t ldc,
                          std::int64_t batch, std::int64_t stride_a, std::int64_t stride_b,
                          std::int64_t stride_c);
// As the fp32 gemm, with A and B rounded to bf16 first (MatmulPrecision::bf16, emulated): the
// products of the rounded values are accumulated and returned in fp32. The reference that the CUDA
// backend's gemm_bf16_inputs is compared against; rounding costs a packed copy of A and B.
void gemm_bf16_inputs(Trans ta, Trans tb, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
                      const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta,
                      float* c, std::int64_t ldc);
// gemm or gemm_bf16_inputs, as `precision` says.
void gemm(MatmulPrecision precision, Trans ta, Trans tb, std::int64_t m, std::int64_t n, std::int64_t k,
          float alpha, const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta,
          float* c, std::int64_t ldc);

}  // namespace meridian::kernels::cpu
