// The host loops of lib/nn: Kokkos parallel_for on the default host space (OpenMP) with 64-bit indices,
// named "meridian::nn::<layer>_<step>", or a plain loop in the caller's thread when the work is too small
// to pay for waking the threads (tiny layers, the bias of a 10-class head).
#pragma once

#include <Kokkos_Core.hpp>
#include <cstdint>

namespace meridian::nn {

using HostRange = Kokkos::RangePolicy<Kokkos::DefaultHostExecutionSpace, Kokkos::IndexType<std::int64_t>>;

// Below this many element operations a loop runs serially: ~10-30 µs of work, against a few µs to
// start a parallel region on idle cores (and a scheduler time slice when the cores are oversubscribed).
inline constexpr std::int64_t kParallelMinWork = std::int64_t{1} << 15;

// Calls f(i) for every i in [0, n); `work_per_item` is a rough count of element operations per i.
template <class F>
void host_for(const char* name, std::int64_t n, std::int64_t work_per_item, const F& f) {
  if (n <= 0) return;
  if (n < 2 || n * work_per_item < kParallelMinWork) {
    for (std::int64_t i = 0; i < n; ++i) f(i);
    return;
  }
  Kokkos::parallel_for(name, HostRange(0, n), f);
}

}  // namespace meridian::nn
