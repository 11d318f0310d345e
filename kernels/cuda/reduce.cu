// CUDA reductions (sum in double, NaN-propagating max) over flat device arrays of n elements.
// Two passes without atomics: a grid of block reductions writes one partial per block, one block
// reduces the partials. The grid size depends only on n, so a result depends only on the data.
#include <algorithm>
#include <limits>

#include "kernels/cuda/check.hpp"
#include "kernels/cuda/ops.hpp"
#include "kernels/cuda/stream_scratch.hpp"

namespace meridian::kernels::cuda {
namespace {

constexpr int kThreads = 256;                // power of two (tree reduction)
constexpr std::int64_t kPerThread = 8;       // elements per thread before a new block is added
constexpr std::int64_t kMaxBlocks = 1024;    // partials of the first pass

struct SumOp {
  template <class T>
  __device__ __forceinline__ T operator()(T a, T b) const { return a + b; }
};

struct NanMaxOp {
  template <class T>
  __device__ __forceinline__ T operator()(T a, T b) const { return (a != a || a >= b) ? a : b; }
};

// out[blockIdx.x] = op-reduction of the elements this block visits, converted to Acc.
template <class Acc, class T, class Op>
__global__ void reduce_kernel(std::int64_t n, const T* x, Acc identity, Op op, Acc* out) {
  __shared__ Acc lane[kThreads];
  Acc acc = identity;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * kThreads;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < n; i += stride) {
    acc = op(acc, static_cast<Acc>(x[i]));
  }
  lane[threadIdx.x] = acc;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (static_cast<int>(threadIdx.x) < half) lane[threadIdx.x] = op(lane[threadIdx.x], lane[threadIdx.x + half]);
    __syncthreads();
  }
  if (threadIdx.x == 0) out[blockIdx.x] = lane[0];
}

template <class Acc, class T, class Op>
Acc reduce(std::int64_t n, const T* x, Acc identity, Op op, cudaStream_t stream) {
  const std::int64_t blocks = std::clamp<std::int64_t>((n + kThreads * kPerThread - 1) / (kThreads * kPerThread),
                                                       1, kMaxBlocks);
  const StreamScratch scratch(static_cast<std::size_t>(blocks + 1) * sizeof(Acc), stream);
  Acc* partial = static_cast<Acc*>(scratch.data());
  reduce_kernel<Acc, T, Op><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(n, x, identity, op, partial);
  CUDA_CHECK(cudaGetLastError());
  reduce_kernel<Acc, Acc, Op><<<1, kThreads, 0, stream>>>(blocks, partial, identity, op, partial + blocks);
  CUDA_CHECK(cudaGetLastError());
  Acc result{};
  CUDA_CHECK(cudaMemcpyAsync(&result, partial + blocks, sizeof(Acc), cudaMemcpyDeviceToHost, stream));
  CUDA_CHECK(cudaStreamSynchronize(stream));
  return result;
}

template <class T>
double sum_impl(std::int64_t n, const T* x, cudaStream_t stream) {
  detail::check_count(n, x, "cuda::sum");
  if (n == 0) return 0.0;
  return reduce<double>(n, x, 0.0, SumOp{}, stream);
}

template <class T>
T max_impl(std::int64_t n, const T* x, cudaStream_t stream) {
  MERIDIAN_CHECK(n > 0, "cuda::max of an empty range (n=", n, ")");
  detail::check_count(n, x, "cuda::max");
  return reduce<T>(n, x, -std::numeric_limits<T>::infinity(), NanMaxOp{}, stream);
}

}  // namespace

double sum(std::int64_t n, const float* x, cudaStream_t stream) { return sum_impl(n, x, stream); }
double sum(std::int64_t n, const double* x, cudaStream_t stream) { return sum_impl(n, x, stream); }
float max(std::int64_t n, const float* x, cudaStream_t stream) { return max_impl(n, x, stream); }
double max(std::int64_t n, const double* x, cudaStream_t stream) { return max_impl(n, x, stream); }

}  // namespace meridian::kernels::cuda
