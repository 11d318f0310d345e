// CUDA event timing against the host wall clock on work whose duration is known from its size.
#include <gtest/gtest.h>

#include "core/timer.hpp"
#include "kernels/cuda/event_timer.hpp"
#include "kernels/cuda/ops.hpp"

namespace cuda = meridian::kernels::cuda;

TEST(EventTimer, MeasuresDeviceWorkLikeTheWallClockAndGrowsWithIt) {
  if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device: event timing needs a GPU";
  const std::int64_t n = std::int64_t{1} << 26;  // 256 MiB of floats
  auto* x = static_cast<float*>(cuda::device_alloc(static_cast<std::size_t>(n) * sizeof(float)));
  cuda::fill(x, meridian::DType::f32, n, 1.0);
  cuda::synchronize();

  auto time_scales = [&](int repeats, double& wall_ms) {
    cuda::EventTimer timer;
    meridian::WallTimer wall;
    timer.start();
    for (int r = 0; r < repeats; ++r) cuda::scale(n, 1.0001f, x);
    timer.stop();
    const double ms = timer.elapsed_ms();
    wall_ms = wall.elapsed_ms();
    return ms;
  };
  double wall1 = 0, wall4 = 0;
  const double one = time_scales(1, wall1);
  const double four = time_scales(4, wall4);
  EXPECT_GT(one, 0.0);
  EXPECT_LE(four, wall4 * 1.05);             // the GPU cannot take longer than the host waited
  EXPECT_GT(four, 2.5 * one);                // four passes over the same memory take about 4x one
  EXPECT_LT(four, 6.0 * one);
  cuda::device_free(x);
}
