// CUDA GEMM through cuBLAS with a ROW-MAJOR interface: C (m x n) = alpha op(A) op(B) + beta C.
// cuBLAS is column-major, and a row-major matrix is its transpose read column-major, so we ask it
// for C^T (n x m) = op(B)^T op(A)^T: operands swapped, transposes and leading dimensions unchanged.
#include <algorithm>
#include <climits>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "kernels/cuda/check.hpp"
#include "kernels/cuda/ops.hpp"
#include "kernels/cuda/stream_scratch.hpp"

namespace meridian::kernels::cuda {
namespace {

struct DeviceBlas {
  std::mutex mutex;  // held while the stream is set and a call is enqueued
  cublasHandle_t handle = nullptr;
};

// The cuBLAS handle of the current device, created on first use. This function-local static is
// the only global mutable state of kernels/. It is never destroyed: destroying cuBLAS handles
// during static destruction can run after the CUDA runtime has been torn down.
DeviceBlas& device_blas() {
  struct Cache {
    std::mutex mutex;
    std::vector<std::unique_ptr<DeviceBlas>> per_device;
  };
  static Cache* const cache = new Cache();
  int device = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  std::lock_guard lock(cache->mutex);
  if (cache->per_device.size() <= static_cast<std::size_t>(device)) {
    cache->per_device.resize(static_cast<std::size_t>(device) + 1);
  }
  std::unique_ptr<DeviceBlas>& slot = cache->per_device[static_cast<std::size_t>(device)];
  if (!slot) {
    auto fresh = std::make_unique<DeviceBlas>();
    CUBLAS_CHECK(cublasCreate(&fresh->handle));
    CUBLAS_CHECK(cublasSetMathMode(fresh->handle, CUBLAS_DEFAULT_MATH));  // fp32 stays fp32 (no TF32)
    // The bf16-input products take their scratch from the device's stream-ordered pool on every
    // call: keep what they give back in the pool instead of returning it to the driver at each sync.
    cudaMemPool_t pool = nullptr;
    CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, device));
    std::uint64_t keep = UINT64_MAX;
    CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep));
    slot = std::move(fresh);
  }
  return *slot;
}

// Runs call(handle) with the current device's handle bound to `stream`; the handle is locked so
// that two host threads cannot interleave their cublasSetStream and enqueue.
template <class Call>
void with_blas(cudaStream_t stream, Call&& call) {
  DeviceBlas& blas = device_blas();
  std::lock_guard lock(blas.mutex);
  CUBLAS_CHECK(cublasSetStream(blas.handle, stream));
  call(blas.handle);
}

cublasOperation_t to_cublas(Trans t) { return t == Trans::no ? CUBLAS_OP_N : CUBLAS_OP_T; }

int to_int(std::int64_t v, const char* what, const char* name) {
  MERIDIAN_CHECK(v <= INT_MAX, what, ": ", name, "=", v, " exceeds cuBLAS's int range");
  return static_cast<int>(v);
}

// The column-major call that computes the row-major product: C^T = op(B)^T op(A)^T.
struct ColumnMajor {
  cublasOperation_t op_b, op_a;
  int rows, cols, k;  // of C^T: n x m
  int ldb, lda, ldc;  // >= 1 as cuBLAS requires; a zero one belongs to an empty matrix
};

ColumnMajor column_major(const char* what, Trans ta, Trans tb, std::int64_t m, std::int64_t n,
                         std::int64_t k, std::int64_t lda, std::int64_t ldb, std::int64_t ldc) {
  return ColumnMajor{to_cublas(tb),
                     to_cublas(ta),
                     to_int(n, what, "n"),
                     to_int(m, what, "m"),
                     to_int(k, what, "k"),
                     to_int(std::max<std::int64_t>(ldb, 1), what, "ldb"),
                     to_int(std::max<std::int64_t>(lda, 1), what, "lda"),
                     to_int(std::max<std::int64_t>(ldc, 1), what, "ldc")};
}

// Checks a GEMM's arguments, returns where there is no work (m or n zero), and otherwise
// enqueues enqueue(handle, g) on `stream`, g being the column-major form of the call.
template <class T, class Enqueue>
void checked_gemm(const char* what, Trans ta, Trans tb, std::int64_t m, std::int64_t n,
                  std::int64_t k, const T* a, std::int64_t lda, const T* b, std::int64_t ldb, T* c,
                  std::int64_t ldc, cudaStream_t stream, Enqueue&& enqueue) {
  detail::check_gemm(what, ta, tb, m, n, k, a, lda, b, ldb, c, ldc);
  if (m == 0 || n == 0) return;
  const ColumnMajor g = column_major(what, ta, tb, m, n, k, lda, ldb, ldc);
  with_blas(stream, [&](cublasHandle_t h) { enqueue(h, g); });
}

// The same for a strided batch: also checks the batch and strides, and returns where batch is zero;
// enqueue(handle, g, batches) gets the batch count as cuBLAS's int.
template <class T, class Enqueue>
void checked_gemm_batched(const char* what, Trans ta, Trans tb, std::int64_t m, std::int64_t n,
                          std::int64_t k, const T* a, std::int64_t lda, const T* b, std::int64_t ldb,
                          T* c, std::int64_t ldc, std::int64_t batch, std::int64_t stride_a,
                          std::int64_t stride_b, std::int64_t stride_c, cudaStream_t stream,
                          Enqueue&& enqueue) {
  detail::check_gemm(what, ta, tb, m, n, k, a, lda, b, ldb, c, ldc);
  detail::check_gemm_batch(what, m, n, ldc, batch, stride_a, stride_b, stride_c);
  if (m == 0 || n == 0 || batch == 0) return;
  const ColumnMajor g = column_major(what, ta, tb, m, n, k, lda, ldb, ldc);
  const int batches = to_int(batch, what, "batch");
  with_blas(stream, [&](cublasHandle_t h) { enqueue(h, g, batches); });
}

}  // namespace

void gemm(Trans ta, Trans tb, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
          const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
          std::int64_t ldc, cudaStream_t stream) {
  checked_gemm("cuda::gemm", ta, tb, m, n, k, a, lda, b, ldb, c, ldc, stream,
               [&](cublasHandle_t h, const ColumnMajor& g) {
                 CUBLAS_CHECK(cublasSgemm(h, g.op_b, g.op_a, g.rows, g.cols, g.k, &alpha, b, g.ldb, a,
                                          g.lda, &beta, c, g.ldc));
               });
}

void gemm(Trans ta, Trans tb, std::int64_t m, std::int64_t n, std::int64_t k, double alpha,
          const double* a, std::int64_t lda, const double* b, std::int64_t ldb, double beta,
          double* c, std::int64_t ldc, cudaStream_t stream) {
  checked_gemm("cuda::gemm", ta, tb, m, n, k, a, lda, b, ldb, c, ldc, stream,
               [&](cublasHandle_t h, const ColumnMajor& g) {
                 CUBLAS_CHECK(cublasDgemm(h, g.op_b, g.op_a, g.rows, g.cols, g.k, &alpha, b, g.ldb, a,
                                          g.lda, &beta, c, g.ldc));
               });
}

void gemm_strided_batched(Trans ta, Trans tb, std::int64_t m, std::int64_t n, std::int64_t k,
                          float alpha, const float* a, std::int64_t lda, const float* b,
                          std::int64_t ldb, float beta, float* c, std::int64_t ldc,
                          std::int64_t batch, std::int64_t stride_a, std::int64_t stride_b,
                          std::int64_t stride_c, cudaStream_t stream) {
  checked_gemm_batched("cuda::gemm_strided_batched", ta, tb, m, n, k, a, lda, b, ldb, c, ldc, batch,
                       stride_a, stride_b, stride_c, stream,
                       [&](cublasHandle_t h, const ColumnMajor& g, int batches) {
                         CUBLAS_CHECK(cublasSgemmStridedBatched(
                             h, g.op_b, g.op_a, g.rows, g.cols, g.k, &alpha, b, g.ldb, stride_b, a,
                             g.lda, stride_a, &beta, c, g.ldc, stride_c, batches));
                       });
}

void gemm_bf16(Trans ta, Trans tb, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
               const bf16* a, std::int64_t lda, const bf16* b, std::int64_t ldb, float beta, bf16* c,
               std::int64_t ldc, cudaStream_t stream) {
  checked_gemm("cuda::gemm_bf16", ta, tb, m, n, k, a, lda, b, ldb, c, ldc, stream,
               [&](cublasHandle_t h, const ColumnMajor& g) {
                 CUBLAS_CHECK(cublasGemmEx(h, g.op_b, g.op_a, g.rows, g.cols, g.k, &alpha, b,
                                           CUDA_R_16BF, g.ldb, a, CUDA_R_16BF, g.lda, &beta, c,
                                           CUDA_R_16BF, g.ldc, CUBLAS_COMPUTE_32F,
                                           CUBLAS_GEMM_DEFAULT));
               });
}

void gemm_bf16_strided_batched(Trans ta, Trans tb, std::int64_t m, std::int64_t n, std::int64_t k,
                               float alpha, const bf16* a, std::int64_t lda, const bf16* b,
                               std::int64_t ldb, float beta, bf16* c, std::int64_t ldc,
                               std::int64_t batch, std::int64_t stride_a, std::int64_t stride_b,
                               std::int64_t stride_c, cudaStream_t stream) {
  checked_gemm_batched("cuda::gemm_bf16_strided_batched", ta, tb, m, n, k, a, lda, b, ldb, c, ldc,
                       batch, stride_a, stride_b, stride_c, stream,
                       [&](cublasHandle_t h, const ColumnMajor& g, int batches) {
                         CUBLAS_CHECK(cublasGemmStridedBatchedEx(
                             h, g.op_b, g.op_a, g.rows, g.cols, g.k, &alpha, b, CUDA_R_16BF, g.ldb,
                             stride_b, a, CUDA_R_16BF, g.lda, stride_a, &beta, c, CUDA_R_16BF, g.ldc,
                             stride_c, batches, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
                       });
}

// ---- fp32 operands rounded to bf16 for a tensor-core product ----

namespace {

constexpr int kPackThreads = 256;
constexpr std::int64_t kPackMaxRowBlocks = 65535;  // grid-stride beyond this (a row per block)

// dst = the `count` matrices at src (rows x cols, row stride ld, matrix p at src + p·stride) rounded
// to bf16 and packed (row stride cols, matrix stride rows·cols). A block takes one row at a time, its
// threads the columns: one 64-bit division per row, none per element.
__global__ void pack_bf16_kernel(bf16* dst, const float* src, std::int64_t count, std::int64_t rows,
                                 std::int64_t cols, std::int64_t ld, std::int64_t stride) {
  for (std::int64_t row = blockIdx.x; row < count * rows; row += gridDim.x) {
    const float* s = src + (row / rows) * stride + (row % rows) * ld;
    bf16* d = dst + row * cols;
    for (std::int64_t j = threadIdx.x; j < cols; j += blockDim.x) d[j] = float_to_bf16(s[j]);
  }
}

void pack_bf16(bf16* dst, const float* src, std::int64_t count, std::int64_t rows, std::int64_t cols,
               std::int64_t ld, std::int64_t stride, cudaStream_t stream) {
  const std::int64_t total = count * rows * cols;
  if (total == 0) return;
  if (ld == cols && (count == 1 || stride == rows * cols)) {  // one contiguous run: a flat conversion
    convert(dst, DType::bf16, src, DType::f32, total, stream);
    return;
  }
  // Threads per block: the columns rounded up to a warp, at most kPackThreads (attention's heads
  // have 64 columns).
  const int threads = static_cast<int>(std::min<std::int64_t>(kPackThreads, (cols + 31) / 32 * 32));
  const auto blocks = static_cast<unsigned>(std::min(count * rows, kPackMaxRowBlocks));
  pack_bf16_kernel<<<blocks, threads, 0, stream>>>(dst, src, count, rows, cols, ld, stride);
  CUDA_CHECK(cudaGetLastError());
}

// The bf16-input product of `batch` matrices; arguments already checked. A stride of 0 (one matrix
// shared by the batch) is packed once and stays shared.
void bf16_inputs_product(const char* what, Trans ta, Trans tb, std::int64_t m, std::int64_t n, std::int64_t k,
                         float alpha, const float* a, std::int64_t lda, const float* b, std::int64_t ldb,
                         float beta, float* c, std::int64_t ldc, std::int64_t batch, std::int64_t stride_a,
                         std::int64_t stride_b, std::int64_t stride_c, cudaStream_t stream) {
  const std::int64_t a_rows = ta == Trans::no ? m : k, a_cols = ta == Trans::no ? k : m;
  const std::int64_t b_rows = tb == Trans::no ? k : n, b_cols = tb == Trans::no ? n : k;
  const std::int64_t a_count = stride_a == 0 ? 1 : batch, b_count = stride_b == 0 ? 1 : batch;
  const std::int64_t a_elems = a_count * a_rows * a_cols, b_elems = b_count * b_rows * b_cols;
  const std::int64_t a_space = (a_elems + 127) / 128 * 128;  // B's copy starts 256-byte aligned
  const StreamScratch scratch(static_cast<std::size_t>(a_space + b_elems) * sizeof(bf16), stream);
  bf16* pa = static_cast<bf16*>(scratch.data());
  bf16* pb = pa + a_space;
  pack_bf16(pa, a, a_count, a_rows, a_cols, lda, stride_a, stream);
  pack_bf16(pb, b, b_count, b_rows, b_cols, ldb, stride_b, stream);
  const ColumnMajor g = column_major(what, ta, tb, m, n, k, a_cols, b_cols, ldc);
  const long long packed_stride_a = stride_a == 0 ? 0 : a_rows * a_cols;
  const long long packed_stride_b = stride_b == 0 ? 0 : b_rows * b_cols;
  const int batches = to_int(batch, what, "batch");
  with_blas(stream, [&](cublasHandle_t h) {
    CUBLAS_CHECK(cublasGemmStridedBatchedEx(h, g.op_b, g.op_a, g.rows, g.cols, g.k, &alpha, pb, CUDA_R_16BF, g.ldb,
                                            packed_stride_b, pa, CUDA_R_16BF, g.lda, packed_stride_a, &beta, c,
                                            CUDA_R_32F, g.ldc, stride_c, batches, CUBLAS_COMPUTE_32F,
                                            CUBLAS_GEMM_DEFAULT));
  });
}

}  // namespace

void gemm_bf16_inputs(Trans ta, Trans tb, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
                      const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
                      std::int64_t ldc, cudaStream_t stream) {
  const char* what = "cuda::gemm_bf16_inputs";
  detail::check_gemm(what, ta, tb, m, n, k, a, lda, b, ldb, c, ldc);
  if (m == 0 || n == 0) return;
  bf16_inputs_product(what, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, 1, 0, 0, 0, stream);
}

void gemm_bf16_inputs_strided_batched(Trans ta, Trans tb, std::int64_t m, std::int64_t n, std::int64_t k,
                                      float alpha, const float* a, std::int64_t lda, const float* b,
                                      std::int64_t ldb, float beta, float* c, std::int64_t ldc,
                                      std::int64_t batch, std::int64_t stride_a, std::int64_t stride_b,
                                      std::int64_t stride_c, cudaStream_t stream) {
  const char* what = "cuda::gemm_bf16_inputs_strided_batched";
  detail::check_gemm(what, ta, tb, m, n, k, a, lda, b, ldb, c, ldc);
  detail::check_gemm_batch(what, m, n, ldc, batch, stride_a, stride_b, stride_c);
  if (m == 0 || n == 0 || batch == 0) return;
  bf16_inputs_product(what, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, batch, stride_a, stride_b,
                      stride_c, stream);
}

void gemm(MatmulPrecision precision, Trans ta, Trans tb, std::int64_t m, std::int64_t n, std::int64_t k,
          float alpha, const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
          std::int64_t ldc, cudaStream_t stream) {
  if (precision == MatmulPrecision::bf16) {
    gemm_bf16_inputs(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, stream);
  } else {
    gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, stream);
  }
}

void gemm_strided_batched(MatmulPrecision precision, Trans ta, Trans tb, std::int64_t m, std::int64_t n,
                          std::int64_t k, float alpha, const float* a, std::int64_t lda, const float* b,
                          std::int64_t ldb, float beta, float* c, std::int64_t ldc, std::int64_t batch,
                          std::int64_t stride_a, std::int64_t stride_b, std::int64_t stride_c,
                          cudaStream_t stream) {
  if (precision == MatmulPrecision::bf16) {
    gemm_bf16_inputs_strided_batched(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, batch, stride_a,
                                     stride_b, stride_c, stream);
  } else {
    gemm_strided_batched(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, batch, stride_a, stride_b,
                         stride_c, stream);
  }
}

}  // namespace meridian::kernels::cuda
