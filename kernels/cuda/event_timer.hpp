// Device-side timing with CUDA events: the time between two points of a stream's work as the GPU
// saw it (host wall clocks measure launch, not execution). Host code; compiles with g++ and nvcc.
#pragma once

#include <cuda_runtime_api.h>

#include "kernels/cuda/check.hpp"

namespace meridian::kernels::cuda {

class EventTimer {
 public:
  EventTimer() {
    CUDA_CHECK(cudaEventCreate(&start_));
    CUDA_CHECK(cudaEventCreate(&stop_));
  }
  ~EventTimer() {
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
  }
  EventTimer(const EventTimer&) = delete;
  EventTimer& operator=(const EventTimer&) = delete;

  // Marks the start / end of the timed work in `stream` (enqueued, returns at once).
  void start(cudaStream_t stream = nullptr) { CUDA_CHECK(cudaEventRecord(start_, stream)); }
  void stop(cudaStream_t stream = nullptr) { CUDA_CHECK(cudaEventRecord(stop_, stream)); }

  // Waits for the stop event, then returns the GPU time between the two (about 0.5 us resolution).
  double elapsed_ms() const {
    CUDA_CHECK(cudaEventSynchronize(stop_));
    float ms = 0.f;
    CUDA_CHECK(cudaEventElapsedTime(&ms, start_, stop_));
    return static_cast<double>(ms);
  }
  double elapsed_us() const { return elapsed_ms() * 1e3; }

 private:
  cudaEvent_t start_ = nullptr;
  cudaEvent_t stop_ = nullptr;
};

}  // namespace meridian::kernels::cuda
