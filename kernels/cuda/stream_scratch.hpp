// StreamScratch: device memory for the work of one stream, allocated and given back in stream order
// (cudaMallocAsync / cudaFreeAsync), so a kernel's temporary buffer needs no synchronisation. Host code
// only; compiles with g++ and nvcc.
#pragma once

#include <algorithm>
#include <cstddef>

#include <cuda_runtime_api.h>

#include "kernels/cuda/check.hpp"

namespace meridian::kernels::cuda {

class StreamScratch {
 public:
  // At least 256 bytes (an allocation of 0 bytes gives no pointer), aligned as cudaMalloc's are.
  StreamScratch(std::size_t bytes, cudaStream_t stream) : stream_(stream) {
    CUDA_CHECK(cudaMallocAsync(&data_, std::max<std::size_t>(bytes, 256), stream));
  }
  // Given back after the work enqueued on the stream before it.
  ~StreamScratch() { (void)cudaFreeAsync(data_, stream_); }
  StreamScratch(const StreamScratch&) = delete;
  StreamScratch& operator=(const StreamScratch&) = delete;
  void* data() const { return data_; }

 private:
  void* data_ = nullptr;
  cudaStream_t stream_;
};

}  // namespace meridian::kernels::cuda
