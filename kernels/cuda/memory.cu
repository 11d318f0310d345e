// Device discovery, device memory and copies for the CUDA backend: thin checked wrappers over the
// CUDA runtime. Sizes in bytes; pointers are device memory unless named *_host.
#include "kernels/cuda/check.hpp"
#include "kernels/cuda/ops.hpp"

namespace meridian::kernels::cuda {

std::string device_product(int index) {
  cudaDeviceProp prop{};
  CUDA_CHECK(cudaGetDeviceProperties(&prop, index));
  return prop.name;
}

int device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    (void)cudaGetLastError();  // no driver or no device: clear the error, report none
    return 0;
  }
  return count;
}

void synchronize() { CUDA_CHECK(cudaDeviceSynchronize()); }

void* device_alloc(std::size_t bytes) {
  if (bytes == 0) return nullptr;
  void* p = nullptr;
  CUDA_CHECK(cudaMalloc(&p, bytes));
  return p;
}

void device_free(void* p) {
  if (p != nullptr) CUDA_CHECK(cudaFree(p));
}

void memcpy_h2d(void* dst_device, const void* src_host, std::size_t bytes, cudaStream_t stream) {
  if (bytes == 0) return;
  CUDA_CHECK(cudaMemcpyAsync(dst_device, src_host, bytes, cudaMemcpyHostToDevice, stream));
  CUDA_CHECK(cudaStreamSynchronize(stream));
}

void memcpy_d2h(void* dst_host, const void* src_device, std::size_t bytes, cudaStream_t stream) {
  if (bytes == 0) return;
  CUDA_CHECK(cudaMemcpyAsync(dst_host, src_device, bytes, cudaMemcpyDeviceToHost, stream));
  CUDA_CHECK(cudaStreamSynchronize(stream));
}

void memcpy_d2d(void* dst_device, const void* src_device, std::size_t bytes, cudaStream_t stream) {
  if (bytes == 0) return;
  CUDA_CHECK(cudaMemcpyAsync(dst_device, src_device, bytes, cudaMemcpyDeviceToDevice, stream));
}

}  // namespace meridian::kernels::cuda
