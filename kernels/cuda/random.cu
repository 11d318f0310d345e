// CUDA counter-based random fills of flat float arrays: element i of x uses Philox word (uniform)
// or normal number (normal) `offset + i` of (seed, stream), exactly as kernels/cpu does; uniforms
// are bit-identical to the CPU, normals agree to an ulp or two (device transcendental functions).
#include <algorithm>

#include "kernels/cuda/check.hpp"
#include "kernels/cuda/ops.hpp"

namespace meridian::kernels::cuda {
namespace {

constexpr int kThreads = 256;
constexpr std::int64_t kMaxBlocks = 4096;

unsigned blocks_for(std::int64_t work_items) {
  return static_cast<unsigned>(std::min((work_items + kThreads - 1) / kThreads, kMaxBlocks));
}

// One thread per Philox block (four consecutive words) covering [offset, end).
__global__ void uniform_kernel(std::uint64_t blocks, std::uint64_t first_block, std::uint64_t offset,
                               std::uint64_t end, std::uint64_t seed, std::uint64_t stream, float lo,
                               float hi, float* x) {
  const std::uint64_t step = static_cast<std::uint64_t>(gridDim.x) * blockDim.x;
  for (std::uint64_t b = static_cast<std::uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x; b < blocks; b += step) {
    const std::uint64_t block = first_block + b;
    const Philox4 words = philox_block(seed, stream, block);
#pragma unroll
    for (unsigned j = 0; j < 4; ++j) {
      const std::uint64_t w = block * 4 + j;
      if (w >= offset && w < end) x[w - offset] = reference::uniform_value(words.v[j], lo, hi);
    }
  }
}

__global__ void normal_kernel(std::int64_t n, std::uint64_t seed, std::uint64_t stream,
                              std::uint64_t offset, float mean, float stddev, float* x) {
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    const float z = normal_at(seed, stream, offset + static_cast<std::uint64_t>(i));
    x[i] = reference::normal_value(z, mean, stddev);
  }
}

}  // namespace

void fill_uniform(float* x, std::int64_t n, std::uint64_t seed, std::uint64_t stream,
                  std::uint64_t offset, float lo, float hi, cudaStream_t cuda_stream) {
  detail::check_count(n, x, "cuda::fill_uniform");
  if (n == 0) return;
  const std::uint64_t end = offset + static_cast<std::uint64_t>(n);
  const std::uint64_t first_block = offset >> 2;
  const std::uint64_t blocks = ((end - 1) >> 2) - first_block + 1;
  uniform_kernel<<<blocks_for(static_cast<std::int64_t>(blocks)), kThreads, 0, cuda_stream>>>(
      blocks, first_block, offset, end, seed, stream, lo, hi, x);
  CUDA_CHECK(cudaGetLastError());
}

void fill_normal(float* x, std::int64_t n, std::uint64_t seed, std::uint64_t stream,
                 std::uint64_t offset, float mean, float stddev, cudaStream_t cuda_stream) {
  detail::check_count(n, x, "cuda::fill_normal");
  if (n == 0) return;
  normal_kernel<<<blocks_for(n), kThreads, 0, cuda_stream>>>(n, seed, stream, offset, mean, stddev, x);
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace meridian::kernels::cuda
