// CUDA elementwise kernels (fill, copy, convert, axpy, scale, add, mul) on flat device arrays of
// n elements: grid-stride loops, one launch each. Results are bit-identical to kernels/cpu: the
// conversions are kernels/reference's, and axpy's multiply and add are rounded separately (no FMA).
#include <algorithm>
#include <cstring>

#include "kernels/cuda/check.hpp"
#include "kernels/cuda/ops.hpp"

namespace meridian::kernels::cuda {
namespace {

constexpr int kThreads = 256;
constexpr std::int64_t kMaxBlocks = 4096;  // grid-stride beyond this

unsigned blocks_for(std::int64_t n) {
  return static_cast<unsigned>(std::min((n + kThreads - 1) / kThreads, kMaxBlocks));
}

__device__ __forceinline__ std::int64_t first_index() {
  return static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ std::int64_t grid_stride() {
  return static_cast<std::int64_t>(gridDim.x) * blockDim.x;
}

__device__ __forceinline__ float mul_rn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double mul_rn(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ float add_rn(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ double add_rn(double a, double b) { return __dadd_rn(a, b); }

// Fill with the bit pattern of one element (U is an unsigned integer of the element's size).
template <class U>
__global__ void fill_kernel(std::int64_t n, U pattern, U* dst) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) dst[i] = pattern;
}

template <class To, class From>
__global__ void convert_kernel(std::int64_t n, const From* src, To* dst) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) dst[i] = convert_element<To>(src[i]);
}

template <class T>
__global__ void axpy_kernel(std::int64_t n, T alpha, const T* x, T* y) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) y[i] = add_rn(y[i], mul_rn(alpha, x[i]));
}

template <class T>
__global__ void scale_kernel(std::int64_t n, T alpha, T* x) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) x[i] = mul_rn(alpha, x[i]);
}

template <class T>
__global__ void add_kernel(std::int64_t n, const T* a, const T* b, T* out) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) out[i] = add_rn(a[i], b[i]);
}

template <class T>
__global__ void mul_kernel(std::int64_t n, const T* a, const T* b, T* out) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) out[i] = mul_rn(a[i], b[i]);
}

template <class U>
void launch_fill(std::int64_t n, const void* value_bytes, void* dst, cudaStream_t stream) {
  U pattern;
  std::memcpy(&pattern, value_bytes, sizeof(U));
  fill_kernel<U><<<blocks_for(n), kThreads, 0, stream>>>(n, pattern, static_cast<U*>(dst));
  CUDA_CHECK(cudaGetLastError());
}

template <class T>
void axpy_impl(std::int64_t n, T alpha, const T* x, T* y, cudaStream_t stream) {
  detail::check_count(n, x, "cuda::axpy");
  detail::check_count(n, y, "cuda::axpy");
  if (n == 0) return;
  axpy_kernel<<<blocks_for(n), kThreads, 0, stream>>>(n, alpha, x, y);
  CUDA_CHECK(cudaGetLastError());
}

template <class T>
void scale_impl(std::int64_t n, T alpha, T* x, cudaStream_t stream) {
  detail::check_count(n, x, "cuda::scale");
  if (n == 0) return;
  scale_kernel<<<blocks_for(n), kThreads, 0, stream>>>(n, alpha, x);
  CUDA_CHECK(cudaGetLastError());
}

template <class T>
void add_impl(std::int64_t n, const T* a, const T* b, T* out, cudaStream_t stream) {
  detail::check_count(n, a, "cuda::add");
  detail::check_count(n, b, "cuda::add");
  detail::check_count(n, out, "cuda::add");
  if (n == 0) return;
  add_kernel<<<blocks_for(n), kThreads, 0, stream>>>(n, a, b, out);
  CUDA_CHECK(cudaGetLastError());
}

template <class T>
void mul_impl(std::int64_t n, const T* a, const T* b, T* out, cudaStream_t stream) {
  detail::check_count(n, a, "cuda::mul");
  detail::check_count(n, b, "cuda::mul");
  detail::check_count(n, out, "cuda::mul");
  if (n == 0) return;
  mul_kernel<<<blocks_for(n), kThreads, 0, stream>>>(n, a, b, out);
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace

void fill(void* dst, DType dtype, std::int64_t n, double value, cudaStream_t stream) {
  detail::check_count(n, dst, "cuda::fill");
  dispatch_dtype(dtype, [&]<class T>(TypeTag<T>) {
    if (n == 0) return;
    const T v = convert_element<T>(value);  // on the host, by the shared rules
    if constexpr (sizeof(T) == 1) {
      launch_fill<std::uint8_t>(n, &v, dst, stream);
    } else if constexpr (sizeof(T) == 2) {
      launch_fill<std::uint16_t>(n, &v, dst, stream);
    } else if constexpr (sizeof(T) == 4) {
      launch_fill<std::uint32_t>(n, &v, dst, stream);
    } else {
      static_assert(sizeof(T) == 8);
      launch_fill<std::uint64_t>(n, &v, dst, stream);
    }
  });
}

void copy(void* dst, const void* src, std::int64_t bytes, cudaStream_t stream) {
  detail::check_count(bytes, dst, "cuda::copy");
  detail::check_count(bytes, src, "cuda::copy");
  if (bytes == 0) return;
  CUDA_CHECK(cudaMemcpyAsync(dst, src, static_cast<std::size_t>(bytes), cudaMemcpyDeviceToDevice, stream));
}

void convert(void* dst, DType dst_dtype, const void* src, DType src_dtype, std::int64_t n,
             cudaStream_t stream) {
  detail::check_count(n, dst, "cuda::convert");
  detail::check_count(n, src, "cuda::convert");
  dispatch_dtype(dst_dtype, [&]<class To>(TypeTag<To>) {
    dispatch_dtype(src_dtype, [&]<class From>(TypeTag<From>) {
      if (n == 0) return;
      convert_kernel<To, From><<<blocks_for(n), kThreads, 0, stream>>>(
          n, static_cast<const From*>(src), static_cast<To*>(dst));
      CUDA_CHECK(cudaGetLastError());
    });
  });
}

void axpy(std::int64_t n, float alpha, const float* x, float* y, cudaStream_t stream) {
  axpy_impl(n, alpha, x, y, stream);
}
void axpy(std::int64_t n, double alpha, const double* x, double* y, cudaStream_t stream) {
  axpy_impl(n, alpha, x, y, stream);
}
void scale(std::int64_t n, float alpha, float* x, cudaStream_t stream) { scale_impl(n, alpha, x, stream); }
void scale(std::int64_t n, double alpha, double* x, cudaStream_t stream) { scale_impl(n, alpha, x, stream); }
void add(std::int64_t n, const float* a, const float* b, float* out, cudaStream_t stream) {
  add_impl(n, a, b, out, stream);
}
void add(std::int64_t n, const double* a, const double* b, double* out, cudaStream_t stream) {
  add_impl(n, a, b, out, stream);
}
void mul(std::int64_t n, const float* a, const float* b, float* out, cudaStream_t stream) {
  mul_impl(n, a, b, out, stream);
}
void mul(std::int64_t n, const double* a, const double* b, double* out, cudaStream_t stream) {
  mul_impl(n, a, b, out, stream);
}

}  // namespace meridian::kernels::cuda
