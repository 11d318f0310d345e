// Wall-clock timing (steady clock). CUDA-event timing lives in kernels/cuda (device streams).
#pragma once

#include <chrono>

namespace meridian {

// Seconds on the steady clock since its epoch (boot, on Linux: the same for every process of a
// node). For time stamps that are compared or subtracted; WallTimer for one interval.
inline double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

class WallTimer {
 public:
  WallTimer() { reset(); }
  void reset() { start_ = std::chrono::steady_clock::now(); }
  double elapsed_s() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  double elapsed_us() const { return elapsed_s() * 1e6; }
  double elapsed_ms() const { return elapsed_s() * 1e3; }

 private:
  std::chrono::steady_clock::time_point start_;
};

}  // namespace meridian
