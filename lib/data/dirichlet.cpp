// Marsaglia & Tsang (2000), "A simple method for generating gamma variables": for shape a >= 1,
// d = a - 1/3, c = 1/sqrt(9d), accept d(1 + cx)^3; for a < 1, Gamma(a) = Gamma(a + 1) * U^(1/a).
#include "data/dirichlet.hpp"

#include <algorithm>
#include <cmath>

#include "kernels/common/error.hpp"

namespace meridian::data {
namespace {

// Standard normal in double precision (Box-Muller, cosine branch; four words per draw).
double normal_double(Rng& rng) {
  const double u1 = 1.0 - rng.uniform_double();  // (0, 1]
  const double u2 = rng.uniform_double();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

// log Gamma(a, 1) for a >= 1 by Marsaglia-Tsang (log of the accepted d*v).
double log_gamma_at_least_one(Rng& rng, double a) {
  const double d = a - 1.0 / 3.0;
  const double c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    double x = 0.0, v = 0.0;
    do {
      x = normal_double(rng);
      v = 1.0 + c * x;
    } while (v <= 0.0);
    v = v * v * v;
    const double u = 1.0 - rng.uniform_double();  // (0, 1]
    const double x2 = x * x;
    if (u < 1.0 - 0.0331 * x2 * x2) return std::log(d) + std::log(v);
    if (std::log(u) < 0.5 * x2 + d * (1.0 - v + std::log(v))) return std::log(d) + std::log(v);
  }
}

}  // namespace

double sample_log_gamma(Rng& rng, double shape) {
  MERIDIAN_CHECK(shape > 0.0 && std::isfinite(shape), "Gamma shape must be positive and finite, not ", shape);
  if (shape >= 1.0) return log_gamma_at_least_one(rng, shape);
  const double lg = log_gamma_at_least_one(rng, shape + 1.0);
  const double u = 1.0 - rng.uniform_double();  // (0, 1]
  return lg + std::log(u) / shape;
}

double sample_gamma(Rng& rng, double shape) { return std::exp(sample_log_gamma(rng, shape)); }

std::vector<double> sample_dirichlet(Rng& rng, double alpha, int k) {
  MERIDIAN_CHECK(k > 0, "sample_dirichlet: k = ", k);
  std::vector<double> p(static_cast<std::size_t>(k));
  for (double& v : p) v = sample_log_gamma(rng, alpha);
  const double top = *std::max_element(p.begin(), p.end());
  double sum = 0.0;
  for (double& v : p) sum += (v = std::exp(v - top));  // the largest is exactly 1: sum >= 1
  for (double& v : p) v /= sum;
  return p;
}

}  // namespace meridian::data
