// Validation statistics of lib/trace/stats: KS (against closed forms, brute-force enumeration of
// the permutation distribution and published Kolmogorov values), Anderson-Darling (hand-worked and
// Scholz & Stephens' published example), W1 closed forms, numpy-style percentiles, burstiness of
// seeded Poisson / periodic / alternating streams, and the trace comparison table.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "common/input_error.hpp"
#include "core/rng.hpp"
#include "kernels/common/error.hpp"
#include "trace/stats.hpp"

namespace meridian::trace {
namespace {

using meridian::testing::input_error;

double binomial(int n, int k) {
  double c = 1.0;
  for (int i = 1; i <= k; ++i) c = c * (n - k + i) / i;
  return c;
}

std::vector<double> normal_sample(std::uint64_t seed, std::size_t n, double shift) {
  Rng rng(seed, stream_id(StreamPurpose::test, 41));
  std::vector<double> x(n);
  for (double& v : x) v = static_cast<double>(rng.normal()) + shift;
  return x;
}

// Arrival times of a Poisson process of `rate_per_s` over about `count` arrivals, starting at 0.
std::vector<double> poisson_times(std::uint64_t seed, std::size_t count, double rate_per_s) {
  Rng rng(seed, stream_id(StreamPurpose::test, 42));
  std::vector<double> t(count);
  double now = 0.0;
  for (std::size_t i = 0; i < count; ++i) {
    t[i] = now;
    now += -std::log(1.0 - rng.uniform_double()) / rate_per_s;
  }
  return t;
}

// ---- Kolmogorov-Smirnov -------------------------------------------------------------------------

TEST(TraceStats, KsIdenticalSamplesGiveZeroAndPOne) {
  const std::vector<double> a = {3.0, 1.0, 2.0, 5.0, 4.0};
  const KsResult exact = ks_two_sample(a, a);
  EXPECT_EQ(exact.statistic, 0.0);
  EXPECT_EQ(exact.p_value, 1.0);
  EXPECT_TRUE(exact.exact);
  const KsResult asym = ks_two_sample(a, a, 0);
  EXPECT_EQ(asym.statistic, 0.0);
  EXPECT_EQ(asym.p_value, 1.0);
  EXPECT_FALSE(asym.exact);
}

TEST(TraceStats, KsFullySeparatedSamplesMatchTwoOverBinomial) {
  // Only the two extreme arrangements (all of a first, or all of b first) reach D = 1, so the exact
  // p-value is 2 / C(n+m, n), however small.
  struct Case {
    int n, m;
  };
  for (const Case c : {Case{3, 4}, Case{1, 1}, Case{10, 10}, Case{30, 40}, Case{100, 100}}) {
    std::vector<double> a, b;
    for (int i = 0; i < c.n; ++i) a.push_back(-1.0 - i);
    for (int j = 0; j < c.m; ++j) b.push_back(0.5 * j);
    const KsResult r = ks_two_sample(a, b);
    EXPECT_EQ(r.statistic, 1.0);
    ASSERT_TRUE(r.exact);
    const double expect = 2.0 / binomial(c.n + c.m, c.n);
    EXPECT_NEAR(r.p_value / expect, 1.0, 1e-9) << c.n << "x" << c.m << ": p " << r.p_value << " vs " << expect;
  }
  EXPECT_NEAR(ks_two_sample(std::vector<double>{1, 2, 3}, std::vector<double>{4, 5, 6, 7}).p_value, 2.0 / 35.0, 1e-15);
}

TEST(TraceStats, KsTiesStepBothEcdfsTogether) {
  // F_a jumps to 1/2 at 1 and to 1 at 2; F_b to 1/4 at 1 and to 1 at 2: D = 1/4. Stepping through
  // equal values one sample at a time would report a spurious 1/2 (or 3/4) in between.
  const std::vector<double> a = {1, 1, 2, 2}, b = {2, 1, 2, 2};
  EXPECT_DOUBLE_EQ(ks_statistic(a, b), 0.25);
  EXPECT_DOUBLE_EQ(ks_statistic(b, a), 0.25);
  // All values equal in both: the ECDFs coincide.
  EXPECT_EQ(ks_statistic(std::vector<double>{7, 7, 7}, std::vector<double>{7, 7}), 0.0);
  // D over interleaved integers with a common value: a = {0,1,2,3}, b = {2,3,4,5}: at 1, 2/4 - 0 = 1/2.
  EXPECT_DOUBLE_EQ(ks_statistic(std::vector<double>{0, 1, 2, 3}, std::vector<double>{2, 3, 4, 5}), 0.5);
}

TEST(TraceStats, KsExactMatchesBruteForceEnumeration) {
  // Under H0 every placement of the n a-ranks among n + m positions is equally likely; enumerate
  // them all, compute D for each, and compare P(D >= d) with the lattice-path count for every d.
  for (const auto& [n, m] : {std::pair{4, 5}, std::pair{3, 7}, std::pair{6, 6}, std::pair{2, 9}}) {
    const int total = n + m;
    std::vector<double> ds;
    for (std::uint32_t mask = 0; mask < (1u << total); ++mask) {
      if (std::popcount(mask) != n) continue;
      std::vector<double> a, b;
      for (int p = 0; p < total; ++p) ((mask >> p) & 1u ? a : b).push_back(p);
      ds.push_back(ks_statistic(a, b));
    }
    ASSERT_EQ(static_cast<double>(ds.size()), binomial(total, n));
    std::vector<double> levels = ds;
    std::sort(levels.begin(), levels.end());
    levels.erase(std::unique(levels.begin(), levels.end()), levels.end());
    for (double d : levels) {
      const double brute = static_cast<double>(std::count_if(ds.begin(), ds.end(), [&](double x) {
                             return x >= d - 1e-12;
                           })) / static_cast<double>(ds.size());
      EXPECT_NEAR(ks_p_exact(n, m, d), brute, 1e-12) << n << "x" << m << " d=" << d;
    }
  }
}

TEST(TraceStats, KolmogorovDistributionMatchesPublishedValues) {
  // The classic 5% and 1% points of the Kolmogorov distribution: Q(1.36) ~ 0.05, Q(1.63) ~ 0.01.
  EXPECT_NEAR(kolmogorov_q(1.36), 0.0495, 5e-4);
  EXPECT_NEAR(kolmogorov_q(1.63), 0.0098, 1e-4);
  EXPECT_NEAR(kolmogorov_q(1.224), 0.10, 1e-3);
  EXPECT_EQ(kolmogorov_q(0.0), 1.0);
  EXPECT_EQ(kolmogorov_q(-1.0), 1.0);
  EXPECT_NEAR(kolmogorov_q(0.2), 1.0, 1e-12);
  EXPECT_LT(kolmogorov_q(4.0), 1e-12);
  // The two series agree where the branch switches, and the function is decreasing.
  EXPECT_NEAR(kolmogorov_q(1.0 - 1e-12), kolmogorov_q(1.0 + 1e-12), 1e-10);
  double prev = 1.0;
  for (double lambda = 0.05; lambda < 3.0; lambda += 0.05) {
    const double q = kolmogorov_q(lambda);
    EXPECT_LE(q, prev + 1e-15) << lambda;
    prev = q;
  }
  // Stephens' scaling: ne = 50 * 50 / 100 = 25, sqrt = 5, lambda = (5 + 0.12 + 0.022) D.
  EXPECT_DOUBLE_EQ(ks_p_asymptotic(50, 50, 0.2), kolmogorov_q((5.0 + 0.12 + 0.11 / 5.0) * 0.2));
}

TEST(TraceStats, KsExactAndAsymptoticAgreeForModerateSamples) {
  // An independent reference point: a = 0..79, b = a + 9.5 gives D = 10/80, and
  // scipy.stats.ks_2samp(a, b, method="exact") reports p = 0.5624609023639255.
  std::vector<double> a, b;
  for (int i = 0; i < 80; ++i) {
    a.push_back(i);
    b.push_back(i + 9.5);
  }
  const KsResult r = ks_two_sample(a, b);
  EXPECT_EQ(r.statistic, 0.125);
  EXPECT_TRUE(r.exact);
  EXPECT_NEAR(r.p_value, 0.5624609023639255, 1e-12);
  // n m <= 10000 so both apply. Over the attainable D (multiples of gcd(n, m) / (n m)) the
  // Stephens-corrected asymptotic stays within 0.035 of the exact tail, and within 0.012 where the
  // exact p < 0.1 (the region that decides a test); equal sizes, with the coarsest lattice, are worst.
  for (const auto& [n, m] : {std::pair{80, 80}, std::pair{60, 90}, std::pair{50, 120}, std::pair{70, 110},
                             std::pair{97, 101}, std::pair{20, 500}}) {
    const double nm = static_cast<double>(n) * m;
    const int g = std::gcd(n, m);
    double worst = 0.0, worst_tail = 0.0;
    // About 300 attainable values of D up to 0.5 (beyond it both tails are below 1e-10 here).
    const int step = g * std::max(1, n * m / (2 * g * 300));
    for (int k = g; k <= n * m / 2; k += step) {
      const double d = k / nm;
      const double exact = ks_p_exact(n, m, d), asym = ks_p_asymptotic(n, m, d);
      worst = std::max(worst, std::abs(exact - asym));
      if (exact < 0.1) worst_tail = std::max(worst_tail, std::abs(exact - asym));
    }
    EXPECT_LT(worst, 0.035) << n << "x" << m;
    EXPECT_LT(worst_tail, 0.012) << n << "x" << m;
  }
}

TEST(TraceStats, KsSameDistributionHighPShiftedLowP) {
  const std::vector<double> a = normal_sample(1, 400, 0.0), b = normal_sample(2, 500, 0.0);
  const KsResult same = ks_two_sample(a, b);
  EXPECT_FALSE(same.exact);
  EXPECT_GT(same.p_value, 0.05) << "D = " << same.statistic;
  const std::vector<double> c = normal_sample(3, 500, 0.5);
  const KsResult shifted = ks_two_sample(a, c);
  EXPECT_LT(shifted.p_value, 1e-6) << "D = " << shifted.statistic;
  // Small enough for the exact count.
  const std::vector<double> a2 = normal_sample(4, 60, 0.0), b2 = normal_sample(5, 70, 0.0);
  const std::vector<double> c2 = normal_sample(6, 70, 1.0);
  const KsResult same2 = ks_two_sample(a2, b2), shifted2 = ks_two_sample(a2, c2);
  EXPECT_TRUE(same2.exact);
  EXPECT_GT(same2.p_value, 0.05);
  EXPECT_LT(shifted2.p_value, 1e-3);
}

// ---- Anderson-Darling ---------------------------------------------------------------------------

TEST(TraceStats, AdMatchesHandComputedTinyExample) {
  // a = {1, 3}, b = {2, 4}, N = 4, no ties.
  // Right-continuous (A2_kN = 1/N sum_i 1/n_i sum_{j<N} (N M_ij - j n_i)^2 / (j (N - j))):
  //   sample a: M = 1, 1, 2 at j = 1, 2, 3 -> (4-2)^2/3 + 0 + (8-6)^2/3 = 8/3; likewise b: 8/3;
  //   A2 = (1/4) (8/3 / 2 + 8/3 / 2) = 2/3.
  // Mid-rank (A2_akN, l_j = 1): every term has |N M_aij - n_i B_aj| = 1 with denominators
  //   B_aj (N - B_aj) - N/4 = 3/4, 11/4, 11/4, 3/4, so each sample gives (4/3 + 4/11 + 4/11 + 4/3) / 2
  //   = 56/33; A2 = (N - 1)/N^2 * 112/33 = 7/11.
  const std::vector<double> a = {1, 3}, b = {2, 4};
  const AdResult rc = anderson_darling_2(a, b, AdVariant::right_continuous);
  const AdResult mr = anderson_darling_2(a, b, AdVariant::midrank);
  EXPECT_NEAR(rc.statistic, 2.0 / 3.0, 1e-14);
  EXPECT_NEAR(mr.statistic, 7.0 / 11.0, 1e-14);
  // Variance (eq. 4) for k = 2, N = 4, n = (2, 2): H = 1, h = 11/6, g = 4/9 give a = 28/9,
  // b = -277/9, c = 203/3, d = 24 and sigma^2 = (64a + 16b + 4c + d) / (3 * 2 * 1) = (4/3) / 6 = 2/9,
  // so T = (A2 - 1) / (sqrt(2)/3); for A2 = 2/3 that is -1/sqrt(2).
  EXPECT_NEAR(rc.standardized, -1.0 / std::sqrt(2.0), 1e-12);
  EXPECT_NEAR(mr.standardized, (7.0 / 11.0 - 1.0) / (std::sqrt(2.0) / 3.0), 1e-12);
}

TEST(TraceStats, AdReproducesScholzStephensExample) {
  // Scholz & Stephens (1987), smoothness of paper measured by four laboratories (8 each, with ties):
  // A2_kN = 8.3559 (T = 4.449) and A2_akN = 8.3926 (T = 4.480), sigma_N = 1.2038, P about 0.0023 /
  // 0.0022. (scipy.stats.anderson_ksamp gives the same T: 4.4493 with midrank=False, 4.4798 with True.)
  const std::vector<double> x1 = {38.7, 41.5, 43.8, 44.5, 45.5, 46.0, 47.7, 58.0};
  const std::vector<double> x2 = {39.2, 39.3, 39.7, 41.4, 41.8, 42.9, 43.3, 45.8};
  const std::vector<double> x3 = {34.0, 35.0, 39.0, 40.0, 43.0, 43.0, 44.0, 45.0};
  const std::vector<double> x4 = {34.0, 34.8, 34.8, 35.4, 37.2, 37.8, 41.2, 42.8};
  const std::vector<std::span<const double>> s = {x1, x2, x3, x4};
  const AdResult rc = anderson_darling_ksample(s, AdVariant::right_continuous);
  const AdResult mr = anderson_darling_ksample(s, AdVariant::midrank);
  EXPECT_NEAR(rc.statistic, 8.3559, 5e-5);
  EXPECT_NEAR(mr.statistic, 8.3926, 5e-5);
  EXPECT_NEAR(rc.standardized, 4.449, 5e-4);
  EXPECT_NEAR(mr.standardized, 4.480, 5e-4);
  EXPECT_GT(rc.p_value, 0.0015);
  EXPECT_LT(rc.p_value, 0.0035);
  EXPECT_GT(mr.p_value, 0.0015);
  EXPECT_LT(mr.p_value, 0.0035);
  EXPECT_LT(mr.p_value, rc.p_value);  // larger T, smaller p
}

TEST(TraceStats, AdCriticalValuesAndPValue) {
  // m = 1 (two samples): b0 + b1 + b2 of the table.
  const std::vector<double> t = ad_critical_values(1);
  const double expect[5] = {0.325, 1.226, 1.961, 2.718, 3.752};
  ASSERT_EQ(t.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(t[i], expect[i], 1e-12);
  // The interpolated p-value passes close to the table's levels at its critical values.
  for (int m : {1, 2, 3, 5}) {
    const std::vector<double> tm = ad_critical_values(m);
    for (int i = 0; i < 5; ++i) {
      const double p = ad_p_value(tm[i], m);
      EXPECT_NEAR(std::log(p / (1 - p)), std::log(kAdSignificanceLevels[i] / (1 - kAdSignificanceLevels[i])), 0.1)
          << "m=" << m << " alpha=" << kAdSignificanceLevels[i];
    }
    EXPECT_GT(ad_p_value(-1.0, m), 0.25);
    EXPECT_LT(ad_p_value(6.0, m), 0.01);
    // Beyond the table the extrapolation keeps p decreasing in T (a bare parabola would turn back).
    double prev = 1.0;
    for (double t_std = -3.0; t_std < 200.0; t_std += 0.25) {
      const double p = ad_p_value(t_std, m);
      EXPECT_GE(p, 0.0);
      EXPECT_TRUE(p < prev || (p == 0.0 && prev == 0.0)) << "m=" << m << " T=" << t_std;
      prev = p;
    }
  }
  EXPECT_FALSE(input_error([] { ad_critical_values(0); }).empty());
}

TEST(TraceStats, AdIdenticalSmallSeparatedLarge) {
  const std::vector<double> a = normal_sample(7, 200, 0.0);
  const AdResult same = anderson_darling_2(a, a);
  EXPECT_NEAR(same.statistic, 0.0, 1e-12);  // every mid-rank term vanishes when n_a = n_b and a == b
  EXPECT_GT(same.p_value, 0.25);
  const std::vector<double> b = normal_sample(8, 300, 0.0);
  const AdResult similar = anderson_darling_2(a, b);
  EXPECT_LT(similar.standardized, 1.961);  // not rejected at 5%
  EXPECT_GT(similar.p_value, 0.05);
  const std::vector<double> c = normal_sample(9, 300, 3.0);
  const AdResult far = anderson_darling_2(a, c);
  EXPECT_GT(far.statistic, 50.0);
  EXPECT_GT(far.standardized, 3.752);
  EXPECT_LT(far.p_value, 0.01);
  // A single shared value: nothing to distinguish.
  EXPECT_EQ(anderson_darling_2(std::vector<double>{5, 5, 5}, std::vector<double>{5, 5}).statistic, 0.0);
  // Fewer than four values in all: no finite-N variance.
  EXPECT_TRUE(std::isnan(anderson_darling_2(std::vector<double>{1}, std::vector<double>{2, 3}).standardized));
}

// ---- Wasserstein-1 ------------------------------------------------------------------------------

TEST(TraceStats, WassersteinClosedForms) {
  EXPECT_DOUBLE_EQ(wasserstein1(std::vector<double>{2.0}, std::vector<double>{-3.5}), 5.5);
  // Shifting a sample by c moves every unit of mass by c.
  const std::vector<double> a = normal_sample(10, 257, 0.0);
  std::vector<double> b = a;
  for (double& v : b) v += 0.75;
  EXPECT_NEAR(wasserstein1(a, b), 0.75, 1e-12);
  EXPECT_NEAR(wasserstein1(b, a), 0.75, 1e-12);
  // Same distribution, different multiplicities.
  EXPECT_EQ(wasserstein1(std::vector<double>{0, 1}, std::vector<double>{1, 0, 0, 1}), 0.0);
  // Half the mass of b must move from 1 to 0.
  EXPECT_DOUBLE_EQ(wasserstein1(std::vector<double>{0}, std::vector<double>{0, 1}), 0.5);
  // Two-point masses: {0 w.p. 1/2, 10 w.p. 1/2} vs {0 w.p. 3/4, 10 w.p. 1/4}: |F - G| = 1/4 on [0, 10).
  EXPECT_DOUBLE_EQ(wasserstein1(std::vector<double>{0, 10}, std::vector<double>{0, 0, 0, 10}), 2.5);
  // Equal sizes: W1 = mean |a_(i) - b_(i)| over order statistics.
  const std::vector<double> x = normal_sample(11, 100, 0.0), y = normal_sample(12, 100, 0.3);
  std::vector<double> xs = x, ys = y;
  std::sort(xs.begin(), xs.end());
  std::sort(ys.begin(), ys.end());
  double sum = 0.0;
  for (std::size_t i = 0; i < xs.size(); ++i) sum += std::abs(xs[i] - ys[i]);
  EXPECT_NEAR(wasserstein1(x, y), sum / 100.0, 1e-12);
}

// ---- Percentiles --------------------------------------------------------------------------------

TEST(TraceStats, PercentilesMatchNumpyLinear) {
  // numpy.percentile([1, 2, 3, 4], [50, 90, 99]) = [2.5, 3.7, 3.97]
  const std::vector<double> x = {4, 1, 3, 2};
  EXPECT_DOUBLE_EQ(percentile(x, 50), 2.5);
  EXPECT_DOUBLE_EQ(percentile(x, 90), 3.7);
  EXPECT_DOUBLE_EQ(percentile(x, 99), 3.97);
  // numpy.percentile([7, 1, 3, 10, 2], [0, 25, 50, 75, 100, 33]) = [1, 2, 3, 7, 10, 2.32]
  const std::vector<double> y = {7, 1, 3, 10, 2};
  const std::vector<double> qs = {0, 25, 50, 75, 100, 33};
  const std::vector<double> expect = {1, 2, 3, 7, 10, 2.32};
  const std::vector<double> got = percentiles(y, qs);
  ASSERT_EQ(got.size(), expect.size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_DOUBLE_EQ(got[i], expect[i]) << qs[i];
  EXPECT_EQ(percentile(std::vector<double>{42}, 99), 42.0);
  EXPECT_FALSE(input_error([] { percentile(std::vector<double>{1, 2}, 100.5); }).empty());
  EXPECT_FALSE(input_error([] { percentile(std::vector<double>{1, 2}, -1); }).empty());
}

TEST(TraceStats, RelativeError) {
  EXPECT_DOUBLE_EQ(relative_error(110, 100), 0.10);
  EXPECT_DOUBLE_EQ(relative_error(90, 100), -0.10);
  EXPECT_DOUBLE_EQ(relative_error(-3, -2), -0.5);
  EXPECT_EQ(relative_error(0, 0), 0.0);
  EXPECT_TRUE(std::isinf(relative_error(1, 0)));
}

// ---- Arrival streams ----------------------------------------------------------------------------

TEST(TraceStats, PoissonStreamHasUnitCvAndDispersion) {
  const std::size_t n = 20000;
  const std::vector<double> t = poisson_times(13, n, 5.0);  // ~4000 s
  const std::vector<double> gaps = inter_arrival_s(t);
  ASSERT_EQ(gaps.size(), n - 1);
  // The CV of exponential gaps is 1; its sampling sd is about 1/sqrt(n) (~0.007): 5 sd.
  EXPECT_NEAR(coefficient_of_variation(gaps), 1.0, 5.0 / std::sqrt(static_cast<double>(n)));
  for (double w : {1.0, 10.0, 60.0}) {
    const std::vector<double> counts = window_counts(t, w);
    const double k = static_cast<double>(counts.size());
    ASSERT_GT(k, 30.0) << w;
    // The sample dispersion of Poisson counts has sd about sqrt(2 / (K - 1)); allow 4 sd.
    EXPECT_NEAR(index_of_dispersion(counts), 1.0, 4.0 * std::sqrt(2.0 / (k - 1.0))) << "window " << w;
    EXPECT_NEAR(mean(counts), 5.0 * w, 5.0 * std::sqrt(5.0 * w / k)) << "window " << w;
    // Counts in disjoint windows are independent: autocorrelations within 4/sqrt(K) of 0.
    for (double r : autocorrelation(counts, 3)) EXPECT_NEAR(r, 0.0, 4.0 / std::sqrt(k)) << "window " << w;
  }
}

TEST(TraceStats, PeriodicStreamHasZeroCvAndDispersion) {
  std::vector<double> t;
  for (int i = 0; i < 400; ++i) t.push_back(0.25 * i);  // exact in binary
  EXPECT_EQ(coefficient_of_variation(inter_arrival_s(t)), 0.0);
  const std::vector<double> counts = window_counts(t, 1.0);
  ASSERT_EQ(counts.size(), 99u);  // span 99.75 s: 99 full windows of 4 arrivals
  for (double c : counts) EXPECT_EQ(c, 4.0);
  EXPECT_EQ(index_of_dispersion(counts), 0.0);
  // A constant series has no defined autocorrelation.
  EXPECT_TRUE(std::isnan(autocorrelation(counts, 1)[0]));
}

TEST(TraceStats, WindowCountsDropTheTrailingPartialWindow) {
  const std::vector<double> t = {0.0, 0.5, 1.0, 2.5, 3.25};
  EXPECT_EQ(window_counts(t, 1.0), (std::vector<double>{2, 1, 1}));
  EXPECT_EQ(window_counts(t, 1.5), (std::vector<double>{3, 1}));
  EXPECT_TRUE(window_counts(t, 10.0).empty());
  EXPECT_TRUE(std::isnan(index_of_dispersion(window_counts(t, 10.0))));
  // Unsorted input gives the same gaps and counts.
  const std::vector<double> shuffled = {2.5, 0.0, 3.25, 1.0, 0.5};
  EXPECT_EQ(window_counts(shuffled, 1.0), (std::vector<double>{2, 1, 1}));
  EXPECT_EQ(inter_arrival_s(shuffled), (std::vector<double>{0.5, 0.5, 1.5, 0.75}));
}

TEST(TraceStats, AutocorrelationOfAlternatingAndBurstyStreams) {
  std::vector<double> x;
  for (int i = 0; i < 1000; ++i) x.push_back(i % 2);
  const std::vector<double> r = autocorrelation(x, 3);
  // Exactly -(K-1)/K, (K-2)/K, -(K-3)/K for the biased estimator.
  EXPECT_NEAR(r[0], -0.999, 1e-12);
  EXPECT_NEAR(r[1], 0.998, 1e-12);
  EXPECT_NEAR(r[2], -0.997, 1e-12);
  // Lags beyond the series are NaN.
  const std::vector<double> short_r = autocorrelation(std::vector<double>{1, 2, 3}, 4);
  EXPECT_NEAR(short_r[0], 0.0, 1e-15);  // (-1*0 + 0*1) / 2
  EXPECT_NEAR(short_r[1], -0.5, 1e-15);  // (-1*1) / 2
  EXPECT_TRUE(std::isnan(short_r[2]));
  EXPECT_TRUE(std::isnan(short_r[3]));
  // An on/off stream (bursts of 50 Poisson arrivals/s for 30 s, then 30 s of silence) is
  // over-dispersed at 10 s windows and positively autocorrelated at lag 1.
  Rng rng(14, stream_id(StreamPurpose::test, 43));
  std::vector<double> t;
  for (double now = 0.0; now < 3600.0;) {
    now += -std::log(1.0 - rng.uniform_double()) / 50.0;
    if (std::fmod(now, 60.0) < 30.0) t.push_back(now);
  }
  const std::vector<double> counts = window_counts(t, 10.0);
  EXPECT_GT(index_of_dispersion(counts), 50.0);
  EXPECT_GT(autocorrelation(counts, 1)[0], 0.2);  // a 6-window square wave: about 1/3
  EXPECT_GT(coefficient_of_variation(inter_arrival_s(t)), 2.0);
}

TEST(TraceStats, EmptyOrBadInputIsAnInputError) {
  const std::vector<double> empty, one = {1.0};
  EXPECT_FALSE(input_error([&] { ks_statistic(empty, one); }).empty());
  EXPECT_FALSE(input_error([&] { ks_two_sample(one, empty); }).empty());
  EXPECT_FALSE(input_error([&] { anderson_darling_2(empty, one); }).empty());
  EXPECT_FALSE(input_error([&] { anderson_darling_ksample({one}); }).empty());
  EXPECT_FALSE(input_error([&] { wasserstein1(one, empty); }).empty());
  EXPECT_FALSE(input_error([&] { percentile(empty, 50); }).empty());
  EXPECT_FALSE(input_error([&] { mean(empty); }).empty());
  EXPECT_FALSE(input_error([&] { inter_arrival_s(one); }).empty());
  EXPECT_FALSE(input_error([&] { window_counts(empty, 1.0); }).empty());
  EXPECT_FALSE(input_error([&] { window_counts(one, 0.0); }).empty());
  EXPECT_FALSE(input_error([&] { autocorrelation(one, 0); }).empty());
  EXPECT_FALSE(input_error([&] { ks_p_exact(0, 3, 0.5); }).empty());
  const std::vector<double> with_nan = {1.0, std::nan("")};
  EXPECT_NE(input_error([&] { ks_statistic(with_nan, one); }).find("NaN"), std::string::npos);
  EXPECT_NE(input_error([&] { ks_statistic(empty, one); }).find("empty"), std::string::npos);
}

// ---- Comparison ---------------------------------------------------------------------------------

RequestTrace synthetic_trace(std::uint64_t seed, std::size_t n, double rate_per_s, int token_scale) {
  const std::vector<double> t = poisson_times(seed, n, rate_per_s);
  Rng rng(seed, stream_id(StreamPurpose::test, 44));
  RequestTrace trace;
  for (double time : t) {
    const auto request = static_cast<std::int32_t>(1 + rng.below(static_cast<std::uint64_t>(token_scale)));
    const auto response = static_cast<std::int32_t>(rng.below(static_cast<std::uint64_t>(token_scale / 2)));
    trace.push(time, request, response, "m");
  }
  return trace;
}

TEST(TraceStats, ComparisonOfATraceWithItselfIsExact) {
  const RequestTrace a = synthetic_trace(15, 3000, 4.0, 1000);
  const Comparison c = compare_traces(a, a);
  EXPECT_EQ(c.requests_a, 3000u);
  EXPECT_EQ(c.duration_a_s, c.duration_b_s);
  ASSERT_EQ(c.quantities.size(), 3u);
  EXPECT_EQ(c.quantities[0].name, "inter_arrival_s");
  EXPECT_EQ(c.quantities[1].name, "request_tokens");
  EXPECT_EQ(c.quantities[2].name, "response_tokens");
  for (const QuantityComparison& q : c.quantities) {
    EXPECT_EQ(q.ks.statistic, 0.0) << q.name;
    EXPECT_EQ(q.ks.p_value, 1.0) << q.name;
    EXPECT_EQ(q.w1, 0.0) << q.name;
    EXPECT_NEAR(q.ad.statistic, 0.0, 1e-9) << q.name;
    EXPECT_EQ(q.p50_rel_error, 0.0) << q.name;
    EXPECT_EQ(q.p99_rel_error, 0.0) << q.name;
  }
  ASSERT_EQ(c.windows.size(), 3u);
  for (const WindowComparison& w : c.windows) {
    EXPECT_EQ(w.dispersion_a, w.dispersion_b);
    ASSERT_EQ(w.acf_a.size(), 5u);
    EXPECT_EQ(w.acf_a, w.acf_b);
  }
}

TEST(TraceStats, ComparisonTableAndJson) {
  const RequestTrace a = synthetic_trace(16, 4000, 4.0, 1000);
  const RequestTrace b = synthetic_trace(17, 3000, 3.0, 1400);  // larger tokens
  CompareOptions options;
  options.window_s = {1.0, 10.0};
  options.max_lag = 2;
  const Comparison c = compare_traces(a, b, options);
  // Same arrival process up to rate: the inter-arrival CV is about 1 in both.
  EXPECT_NEAR(c.interarrival_cv_a, 1.0, 0.1);
  EXPECT_NEAR(c.interarrival_cv_b, 1.0, 0.1);
  // Request tokens uniform on 1..1000 vs 1..1400: p50 about 500 vs 700, +40%; KS clearly rejects.
  const QuantityComparison& req = c.quantities[1];
  EXPECT_NEAR(req.p50_rel_error, 0.4, 0.08);
  EXPECT_LT(req.ks.p_value, 1e-10);
  EXPECT_GT(req.w1, 150.0);
  EXPECT_LT(c.quantities[0].ks.statistic, 0.3);  // exponential gaps with rates 4 vs 3: D = 1/4 - small

  const nlohmann::json j = c.to_json();
  EXPECT_EQ(j["requests"]["a"], 4000);
  EXPECT_EQ(j["quantities"].size(), 3u);
  EXPECT_EQ(j["quantities"][1]["name"], "request_tokens");
  EXPECT_TRUE(j["quantities"][1]["ks"].contains("p"));
  EXPECT_EQ(j["windows"].size(), 2u);
  EXPECT_EQ(j["windows"][0]["acf"]["a"].size(), 2u);
  EXPECT_NO_THROW((void)j.dump());

  const std::string table = format_comparison(c, "real", "generated");
  std::istringstream in(table);
  std::string header, rule, line;
  std::getline(in, header);
  std::getline(in, rule);
  EXPECT_EQ(header.rfind("quantity", 0), 0u);
  EXPECT_NE(header.find("real"), std::string::npos);
  EXPECT_NE(header.find("generated"), std::string::npos);
  EXPECT_EQ(rule.find_first_not_of('-'), std::string::npos);
  // Columns are aligned: the error column starts at the same offset on every line.
  const std::size_t err_col = header.find("error");
  int lines = 0;
  bool saw_ks = false, saw_acf = false;
  while (std::getline(in, line)) {
    ++lines;
    ASSERT_GE(line.size(), err_col) << line;
    EXPECT_EQ(line[err_col - 1], ' ') << line;
    EXPECT_NE(line[err_col], ' ') << line;
    saw_ks |= line.rfind("request_tokens KS", 0) == 0;
    saw_acf |= line.rfind("acf lag 2 @10s", 0) == 0;
  }
  EXPECT_GT(lines, 30);
  EXPECT_TRUE(saw_ks);
  EXPECT_TRUE(saw_acf);

  RequestTrace tiny;
  tiny.push(0.0, 1, 1);
  EXPECT_FALSE(input_error([&] { compare_traces(tiny, a); }).empty());
  CompareOptions bad;
  bad.window_s = {};
  EXPECT_FALSE(input_error([&] { compare_traces(a, b, bad); }).empty());
}

}  // namespace
}  // namespace meridian::trace
