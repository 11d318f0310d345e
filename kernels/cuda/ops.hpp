// CUDA kernels on device memory (plain CUDA and cuBLAS), with the same names, arguments and
// semantics as kernels/cpu/ops.hpp plus a trailing stream. Flat arrays of n elements; matrices are
// ROW-MAJOR with a row stride (ld) of at least their stored row length. Host-compilable (g++).
//
// Ordering: kernels are enqueued on `stream` (nullptr: the legacy default stream) and return before
// they finish, except those that hand a value back to the host (sum, max), which synchronize
// `stream`, and memcpy_h2d / memcpy_d2h, which return when the copy is complete. Argument errors
// throw meridian::Error before anything is enqueued; CUDA and cuBLAS failures throw it too.
// Element conversion rules are those of kernels/reference/ops.hpp (bit-identical to the CPU).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "kernels/common/dtype.hpp"
#include "kernels/reference/ops.hpp"

namespace meridian::kernels::cuda {

using kernels::Trans;

// ---- devices and memory ----

// Number of CUDA devices; 0 when there is no driver or no device (never throws).
int device_count();
// The product name of device `index`, e.g. "NVIDIA H100 80GB HBM3".
std::string device_product(int index);
// cudaDeviceSynchronize on the current device.
void synchronize();
// cudaMalloc; nullptr for 0 bytes.
void* device_alloc(std::size_t bytes);
// cudaFree; nullptr is ignored.
void device_free(void* p);
// Host -> device and device -> host: return when the copy is complete (the host buffer may be
// pageable). Device -> device: ordered on `stream`, returns at once.
void memcpy_h2d(void* dst_device, const void* src_host, std::size_t bytes, cudaStream_t stream = nullptr);
void memcpy_d2h(void* dst_host, const void* src_device, std::size_t bytes, cudaStream_t stream = nullptr);
void memcpy_d2d(void* dst_device, const void* src_device, std::size_t bytes,
                cudaStream_t stream = nullptr);

// ---- fill, copy, convert ----

// dst[0, n) = value converted to dtype (converted once on the host).
void fill(void* dst, DType dtype, std::int64_t n, double value, cudaStream_t stream = nullptr);
// Device-to-device copy of `bytes`; the ranges must not overlap.
void copy(void* dst, const void* src, std::int64_t bytes, cudaStream_t stream = nullptr);
// dst[i] = src[i] converted from src_dtype to dst_dtype; any pair of dtypes, no overlap.
void convert(void* dst, DType dst_dtype, const void* src, DType src_dtype, std::int64_t n,
             cudaStream_t stream = nullptr);

// ---- elementwise (each result rounded exactly as on the CPU: no FMA contraction) ----

void axpy(std::int64_t n, float alpha, const float* x, float* y, cudaStream_t stream = nullptr);
void axpy(std::int64_t n, double alpha, const double* x, double* y, cudaStream_t stream = nullptr);
void scale(std::int64_t n, float alpha, float* x, cudaStream_t stream = nullptr);
void scale(std::int64_t n, double alpha, double* x, cudaStream_t stream = nullptr);
// out may be a or b (but not partially overlap them).
void add(std::int64_t n, const float* a, const float* b, float* out, cudaStream_t stream = nullptr);
void add(std::int64_t n, const double* a, const double* b, double* out, cudaStream_t stream = nullptr);
void mul(std::int64_t n, const float* a, const float* b, float* out, cudaStream_t stream = nullptr);
void mul(std::int64_t n, const double* a, const double* b, double* out, cudaStream_t stream = nullptr);

// ---- reductions: two passes of block reductions, no atomics; the result depends only on n and
// the data (not on the device). Both synchronize `stream`. ----

double sum(std::int64_t n, const float* x, cudaStream_t stream = nullptr);
double sum(std::int64_t n, const double* x, cudaStream_t stream = nullptr);
// n > 0; NaN if any element is NaN.
float max(std::int64_t n, const float* x, cudaStream_t stream = nullptr);
double max(std::int64_t n, const double* x, cudaStream_t stream = nullptr);

// ---- counter-based random fills (see kernels/common/philox.hpp) ----

// Bit-identical to cpu::fill_uniform.
void fill_uniform(float* x, std::int64_t n, std::uint64_t seed, std::uint64_t stream,
                  std::uint64_t offset, float lo, float hi, cudaStream_t cuda_stream = nullptr);
// Within an ulp or two of cpu::fill_normal (device and host transcendental functions differ).
void fill_normal(float* x, std::int64_t n, std::uint64_t seed, std::uint64_t stream,
                 std::uint64_t offset, float mean, float stddev, cudaStream_t cuda_stream = nullptr);

// ---- GEMM (cuBLAS), row-major: C = alpha op(A) op(B) + beta C; op(A) m x k, op(B) k x n ----
// lda, ldb, ldc are row strides as stored; dimensions and leading dimensions must fit in int.
// beta == 0: C is write-only. Strided batched: matrix p of A starts at a + p * stride_a elements
// (likewise B, C); A and B strides may be 0, C matrices must not overlap.

void gemm(Trans ta, Trans tb, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
          const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
          std::int64_t ldc, cudaStream_t stream = nullptr);
void gemm(Trans ta, Trans tb, std::int64_t m, std::int64_t n, std::int64_t k, double alpha,
          const double* a, std::int64_t lda, const double* b, std::int64_t ldb, double beta,
          double* c, std::int64_t ldc, cudaStream_t stream = nullptr);
void gemm_strided_batched(Trans ta, Trans tb, std::int64_t m, std::int64_t n, std::int64_t k,
                          float alpha, const float* a, std::int64_t lda, const float* b,
                          std::int64_t ldb, float beta, float* c, std::int64_t ldc,
                          std::int64_t batch, std::int64_t stride_a, std::int64_t stride_b,
                          std::int64_t stride_c, cudaStream_t stream = nullptr);
// bf16 A, B and C; products accumulated in fp32 (CUBLAS_COMPUTE_32F), C rounded to bf16 once.
void gemm_bf16(Trans ta, Trans tb, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
               const bf16* a, std::int64_t lda, const bf16* b, std::int64_t ldb, float beta, bf16* c,
               std::int64_t ldc, cudaStream_t stream = nullptr);
void gemm_bf16_strided_batched(Trans ta, Trans tb, std::int64_t m, std::int64_t n, std::int64_t k,
                               float alpha, const bf16* a, std::int64_t lda, const bf16* b,
                               std::int64_t ldb, float beta, bf16* c, std::int64_t ldc,
                               std::int64_t batch, std::int64_t stride_a, std::int64_t stride_b,
                               std::int64_t stride_c, cudaStream_t stream = nullptr);

// fp32 A, B and C with A and B rounded to bf16 on the device first (MatmulPrecision::bf16): a bf16
// tensor-core product, accumulated and returned in fp32 (CUBLAS_COMPUTE_32F). The rounded copies
// live in stream-ordered scratch memory. Matches cpu::gemm_bf16_inputs up to the order of the fp32
// accumulation.
void gemm_bf16_inputs(Trans ta, Trans tb, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
                      const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
                      std::int64_t ldc, cudaStream_t stream = nullptr);
void gemm_bf16_inputs_strided_batched(Trans ta, Trans tb, std::int64_t m, std::int64_t n, std::int64_t k,
                                      float alpha, const float* a, std::int64_t lda, const float* b,
                                      std::int64_t ldb, float beta, float* c, std::int64_t ldc,
                                      std::int64_t batch, std::int64_t stride_a, std::int64_t stride_b,
                                      std::int64_t stride_c, cudaStream_t stream = nullptr);
// The fp32 product or the one with bf16 inputs, as `precision` says.
void gemm(MatmulPrecision precision, Trans ta, Trans tb, std::int64_t m, std::int64_t n, std::int64_t k,
          float alpha, const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
          std::int64_t ldc, cudaStream_t stream = nullptr);
void gemm_strided_batched(MatmulPrecision precision, Trans ta, Trans tb, std::int64_t m, std::int64_t n,
                          std::int64_t k, float alpha, const float* a, std::int64_t lda, const float* b,
                          std::int64_t ldb, float beta, float* c, std::int64_t ldc, std::int64_t batch,
                          std::int64_t stride_a, std::int64_t stride_b, std::int64_t stride_c,
                          cudaStream_t stream = nullptr);

}  // namespace meridian::kernels::cuda
