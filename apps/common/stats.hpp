// Summary statistics of repeated measurements, shared by the benchmark apps: the median of
// repeats (what every benchmark reports) and the geometric mean of ratios (speedups across shapes).
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

namespace meridian::stats {

// Median of `xs` (the mean of the two middle values for an even count); 0 for none.
inline double median(std::vector<double> xs) {
  if (xs.empty()) return 0;
  std::sort(xs.begin(), xs.end());
  const std::size_t n = xs.size();
  return n % 2 ? xs[n / 2] : 0.5 * (xs[n / 2 - 1] + xs[n / 2]);
}

// Geometric mean of positive `xs`; 0 for none.
inline double geomean(const std::vector<double>& xs) {
  if (xs.empty()) return 0;
  double s = 0;
  for (double x : xs) s += std::log(x);
  return std::exp(s / static_cast<double>(xs.size()));
}

}  // namespace meridian::stats
