// CUDA_CHECK and CUBLAS_CHECK: run a CUDA runtime / cuBLAS call and throw meridian::Error on failure
// with "rank R on HOST, file:line: `call` failed: NAME (description)". Host code only; compiles
// with g++ and nvcc.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "kernels/common/error.hpp"

namespace meridian::cuda_detail {

[[noreturn]] inline void throw_cuda_error(const char* file, int line, const char* call,
                                          cudaError_t status) {
  throw Error(cat(error_location(file, line), ": `", call, "` failed: ", cudaGetErrorName(status),
                  " (", cudaGetErrorString(status), ")"));
}

[[noreturn]] inline void throw_cublas_error(const char* file, int line, const char* call,
                                            cublasStatus_t status) {
  throw Error(cat(error_location(file, line), ": `", call, "` failed: ", cublasGetStatusName(status),
                  " (", cublasGetStatusString(status), ")"));
}

}  // namespace meridian::cuda_detail

#define CUDA_CHECK(call)                                                                        \
  do {                                                                                          \
    const cudaError_t meridian_cuda_status_ = (call);                                           \
    if (meridian_cuda_status_ != cudaSuccess) [[unlikely]]                                      \
      ::meridian::cuda_detail::throw_cuda_error(__FILE__, __LINE__, #call, meridian_cuda_status_); \
  } while (0)

#define CUBLAS_CHECK(call)                                                                 \
  do {                                                                                     \
    const cublasStatus_t meridian_cublas_status_ = (call);                                 \
    if (meridian_cublas_status_ != CUBLAS_STATUS_SUCCESS) [[unlikely]]                     \
      ::meridian::cuda_detail::throw_cublas_error(__FILE__, __LINE__, #call,               \
                                                  meridian_cublas_status_);                \
  } while (0)
