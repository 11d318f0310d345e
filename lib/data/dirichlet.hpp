// Gamma and Dirichlet draws from the counter-based Rng (lib/core/rng.hpp), for non-IID data
// partitions: Marsaglia-Tsang for Gamma(shape, 1), Dirichlet(alpha) as normalised Gammas computed in
// log space (so tiny alphas do not underflow to 0/0). Sequential: same numbers for any thread count.
#pragma once

#include <vector>

#include "core/rng.hpp"

namespace meridian::data {

// Gamma(shape, scale 1); shape > 0. Consumes a variable number of words from rng.
double sample_gamma(Rng& rng, double shape);

// log of a Gamma(shape, 1) draw, finite even when the draw itself underflows (shape << 1).
double sample_log_gamma(Rng& rng, double shape);

// k proportions ~ Dirichlet(alpha, ..., alpha): non-negative, summing to 1 (up to rounding).
std::vector<double> sample_dirichlet(Rng& rng, double alpha, int k);

}  // namespace meridian::data
