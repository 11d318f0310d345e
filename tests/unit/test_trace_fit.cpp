// lib/trace distributions and fits: special functions against closed forms, cdf/quantile round trips,
// samplers, known-answer maximum-likelihood fits (draw n from known parameters with a seeded Rng, fit,
// compare), AIC selection, zero handling, windows, lengths, failures and the WorkloadModel JSON.
// Fit tolerance: 4 c / sqrt(n) relative, c = max(1, the parameter's asymptotic relative standard
// deviation times sqrt(n) from the Fisher information), i.e. at least 4 standard errors.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "kernels/common/error.hpp"
#include "trace/distributions.hpp"
#include "trace/fit.hpp"
#include "trace/generate.hpp"
#include "trace/request_trace.hpp"

namespace meridian::trace {
namespace {

constexpr double kEulerGamma = 0.57721566490153286;
constexpr double kPi = 3.14159265358979323846;

Rng test_rng(std::uint64_t a, std::uint64_t b = 0) { return Rng(2024, stream_id(StreamPurpose::test, a, b)); }

std::vector<double> draw(const Distribution& d, std::size_t n, std::uint64_t stream) {
  Rng rng = test_rng(stream);
  std::vector<double> x(n);
  for (double& v : x) v = d.sample(rng);
  return x;
}

// |estimate / truth - 1| <= 4 max(1, c) / sqrt(n).
void expect_recovered(double estimate, double truth, double c, std::size_t n, const char* what) {
  const double tol = 4.0 * std::max(1.0, c) / std::sqrt(static_cast<double>(n));
  EXPECT_NEAR(estimate / truth, 1.0, tol) << what << ": estimate " << estimate << " truth " << truth << " n " << n;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no InputError)";
}

// ---------------------------------------------------------------------------------------------
// Special functions

TEST(TraceDistributions, DigammaAndTrigammaKnownValues) {
  EXPECT_NEAR(digamma(1.0), -kEulerGamma, 1e-14);
  EXPECT_NEAR(digamma(0.5), -kEulerGamma - 2.0 * std::log(2.0), 1e-14);
  double harmonic = 0.0;
  for (int k = 1; k <= 9; ++k) harmonic += 1.0 / k;
  EXPECT_NEAR(digamma(10.0), harmonic - kEulerGamma, 1e-14);
  for (const double x : {0.01, 0.3, 2.5, 7.0, 150.0, 1e6}) {
    EXPECT_NEAR(digamma(x + 1.0) - digamma(x), 1.0 / x, 1e-12 * std::max(1.0, 1.0 / x)) << x;
    EXPECT_NEAR(trigamma(x) - trigamma(x + 1.0), 1.0 / (x * x), 1e-12 / (x * x) + 1e-14 * trigamma(x)) << x;
  }
  EXPECT_NEAR(trigamma(1.0), kPi * kPi / 6.0, 1e-13);
  EXPECT_NEAR(trigamma(0.5), kPi * kPi / 2.0, 1e-13);
  EXPECT_THROW(digamma(0.0), Error);
}

TEST(TraceDistributions, IncompleteGammaClosedForms) {
  for (const double x : {1e-8, 0.01, 0.5, 1.0, 2.0, 5.0, 20.0, 80.0}) {
    EXPECT_NEAR(gamma_p(1.0, x), -std::expm1(-x), 1e-14) << x;
    EXPECT_NEAR(gamma_p(0.5, x), std::erf(std::sqrt(x)), 1e-14) << x;
    EXPECT_NEAR(gamma_p(3.0, x) + gamma_q(3.0, x), 1.0, 1e-14) << x;
    EXPECT_NEAR(gamma_p(3.0, x), 1.0 - std::exp(-x) * (1.0 + x + 0.5 * x * x), 1e-13) << x;
  }
  // Integer a: P(a, x) = 1 - e^-x sum_{k<a} x^k / k! (the Poisson tail), series and fraction sides.
  for (const int a : {10, 100}) {
    for (const double x : {0.5, 5.0, 10.0, 20.0, 99.0, 100.0, 130.0}) {
      double term = std::exp(-x), sum = 0.0;
      for (int k = 0; k < a; ++k) {
        sum += term;
        term *= x / (k + 1);
      }
      EXPECT_NEAR(gamma_q(a, x), sum, 1e-12) << "a " << a << " x " << x;
      EXPECT_NEAR(gamma_p(a, x), 1.0 - sum, 1e-12) << "a " << a << " x " << x;
    }
  }
  EXPECT_EQ(gamma_p(2.0, 0.0), 0.0);
  EXPECT_NEAR(normal_cdf(1.959963984540054), 0.975, 1e-15);
  EXPECT_NEAR(normal_quantile(0.975), 1.959963984540054, 1e-13);
  EXPECT_NEAR(normal_quantile(1e-10), -6.361340902404056, 1e-10);
}

TEST(TraceDistributions, CdfAndQuantileAreInverse) {
  const std::vector<Distribution> families = {
      Exponential{0.7},     Gamma{0.3, 2.0},      Gamma{1.0, 1.0},       Gamma{2.5, 0.1},  Gamma{50.0, 3.0},
      Gamma{1e4, 1e-4},     Weibull{0.6, 10.0},   Weibull{3.0, 0.5},     LogNormal{1.0, 0.5}, LogNormal{-3.0, 2.0}};
  for (const Distribution& d : families) {
    for (const double p : {1e-9, 1e-4, 0.01, 0.3, 0.5, 0.9, 0.999, 1.0 - 1e-9}) {
      const double x = d.quantile(p);
      EXPECT_NEAR(d.cdf(x), p, 1e-7 * std::min(p, 1.0 - p) + 1e-15) << d.describe() << " p " << p;
      EXPECT_NEAR(d.quantile(d.cdf(x)) / x, 1.0, 1e-7) << d.describe() << " p " << p;
    }
    EXPECT_EQ(d.quantile(0.0), 0.0) << d.describe();
  }
  // Discrete: quantile(cdf(v)) = v on the support.
  const Distribution z = Zipf(1.1, 1000);
  const Distribution e = Empirical({1.0, 2.0, 5.0, 9.5}, {3, 1, 4, 2});
  for (const double v : {1.0, 2.0, 17.0, 999.0, 1000.0}) EXPECT_EQ(z.quantile(z.cdf(v)), v);
  for (const double v : {1.0, 2.0, 5.0, 9.5}) EXPECT_EQ(e.quantile(e.cdf(v)), v);
  EXPECT_DOUBLE_EQ(e.cdf(4.0), 0.4);
  EXPECT_DOUBLE_EQ(e.mean(), (3.0 + 2.0 + 20.0 + 19.0) / 10.0);
}

TEST(TraceDistributions, SampleMeansMatch) {
  const std::size_t n = 200000;
  const std::vector<Distribution> families = {Exponential{2.0}, Gamma{0.4, 3.0}, Gamma{7.0, 0.5},
                                              Weibull{0.8, 2.0}, LogNormal{0.5, 0.6}, Zipf(1.5, 300)};
  std::uint64_t stream = 100;
  for (const Distribution& d : families) {
    const auto x = draw(d, n, stream++);
    double mean = 0.0, sq = 0.0;
    for (const double v : x) mean += v;
    mean /= static_cast<double>(n);
    for (const double v : x) sq += (v - mean) * (v - mean);
    const double sd = std::sqrt(sq / static_cast<double>(n));
    EXPECT_NEAR(mean, d.mean(), 5.0 * sd / std::sqrt(static_cast<double>(n))) << d.describe();
    // The empirical cdf at the median of the model.
    const double median = d.quantile(0.5);
    std::size_t below = 0;
    for (const double v : x) below += v <= median ? 1 : 0;
    EXPECT_GE(static_cast<double>(below) / static_cast<double>(n), 0.5 - 5.0 * 0.5 / std::sqrt(static_cast<double>(n)))
        << d.describe();
  }
}

TEST(TraceDistributions, EmpiricalSamplingFrequencies) {
  const Empirical e({1.0, 2.0, 5.0}, {1, 2, 7});
  Rng rng = test_rng(7);
  const std::size_t n = 100000;
  std::vector<std::size_t> hits(3, 0);
  for (std::size_t i = 0; i < n; ++i) {
    const double v = e.sample(rng);
    ++hits[v == 1.0 ? 0 : v == 2.0 ? 1 : 2];
  }
  const double p[3] = {0.1, 0.2, 0.7};
  for (int k = 0; k < 3; ++k) {
    const double sd = std::sqrt(p[k] * (1.0 - p[k]) / static_cast<double>(n));
    EXPECT_NEAR(static_cast<double>(hits[static_cast<std::size_t>(k)]) / static_cast<double>(n), p[k], 4.0 * sd);
  }
  // The 2-D joint resamples whole pairs: y = 2x + 1 holds for every draw.
  std::vector<std::int64_t> x, y;
  for (std::int64_t i = 1; i <= 50; ++i) {
    for (std::int64_t r = 0; r < i % 4 + 1; ++r) {
      x.push_back(i);
      y.push_back(2 * i + 1);
    }
  }
  const Empirical2D joint = Empirical2D::from_pairs(x, y);
  EXPECT_EQ(joint.distinct(), 50u);
  EXPECT_EQ(joint.total(), x.size());
  for (int i = 0; i < 1000; ++i) {
    const auto [a, b] = joint.sample(rng);
    EXPECT_EQ(b, 2 * a + 1);
  }
  const Empirical2D back = Empirical2D::from_json(nlohmann::json::parse(joint.to_json().dump()));
  EXPECT_EQ(back.x(), joint.x());
  EXPECT_EQ(back.counts(), joint.counts());
}

TEST(TraceDistributions, ExtremeParametersKeepAFiniteMeanAndPmf) {
  // |s| far beyond any fit: all mass on k = n_max (s < 0) or k = 1 (s > 0), not NaN.
  const Zipf down(-1e308, 10), up(1e308, 10);
  EXPECT_EQ(down.mean(), 10.0);
  EXPECT_EQ(down.log_pdf(10), 0.0);
  EXPECT_NEAR(down.log_pdf(9), 1e308 * std::log(0.9), 1e293);  // ln (9/10)^1e308
  EXPECT_EQ(up.mean(), 1.0);
  EXPECT_EQ(up.log_pdf(1), 0.0);
  Rng rng = test_rng(3);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(down.sample(rng), 10.0);
  // A moderate negative s still gives the same pmf as the direct formula k^-s / H.
  const Zipf z(-2.0, 5);
  double h = 0;
  for (int k = 1; k <= 5; ++k) h += std::pow(k, 2.0);
  for (int k = 1; k <= 5; ++k) EXPECT_NEAR(z.log_pdf(k), std::log(std::pow(k, 2.0) / h), 1e-12) << k;
  EXPECT_NEAR(z.log_normalizer(), std::log(h), 1e-12);
  // Values near the largest double: Σ v·c overflows, the mean does not.
  const Empirical wide({-1e308, 1e308}, {1, 1});
  EXPECT_EQ(wide.mean(), 0.0);
  const Empirical high({1e308, 1.5e308}, {3, 1});
  EXPECT_NEAR(high.mean(), 1.125e308, 1e294);
}

TEST(TraceDistributions, JsonRoundTripAndBadJson) {
  const std::vector<Distribution> all = {Exponential{0.25}, Gamma{0.5, 4.0}, Weibull{1.5, 2.0}, LogNormal{3.0, 1.2},
                                         Zipf(1.3, 4000), Empirical({1.0, 3.0}, {5, 6})};
  for (const Distribution& d : all) {
    const Distribution back = Distribution::from_json(nlohmann::json::parse(d.to_json().dump()));
    EXPECT_EQ(back.to_json(), d.to_json()) << d.describe();
    EXPECT_EQ(back.family(), d.family());
  }
  using nlohmann::json;
  EXPECT_NE(error_of([] { Distribution::from_json(json{{"family", "gamma"}, {"shape", 2.0}}); }).find("\"scale\""),
            std::string::npos);
  EXPECT_NE(error_of([] { Distribution::from_json(json{{"family", "pareto"}}); }).find("pareto"), std::string::npos);
  EXPECT_NE(error_of([] { Distribution::from_json(json{{"rate", 1.0}}); }).find("\"family\""), std::string::npos);
  EXPECT_NE(error_of([] { Distribution::from_json(json{{"family", "weibull"}, {"shape", -1.0}, {"scale", 1.0}}); })
                .find("\"shape\""),
            std::string::npos);
  EXPECT_NE(error_of([] { Distribution::from_json(json{{"family", "zipf"}, {"s", 1.0}, {"n_max", 1.5}}); })
                .find("\"n_max\""),
            std::string::npos);
  EXPECT_NE(error_of([] {
              Distribution::from_json(json{{"family", "empirical"}, {"values", {2.0, 1.0}}, {"counts", {1, 1}}});
            }).find("ascending"),
            std::string::npos);
  EXPECT_THROW(Distribution::from_json(json{{"family", "exponential"}, {"rate", "fast"}}), InputError);
}

// Counts and pairs read from JSON must be whole numbers their type holds, adding up to a total that
// fits: a count of 1.8e19 or -1 was converted without a check (undefined, or wrapped to 2^64 - 1),
// and a total past 2^64 - 1 wrapped and broke the sampler.
TEST(TraceDistributions, JsonCountsMustFitTheirType) {
  using nlohmann::json;
  const auto empirical = [](json counts) {
    return error_of([&] {
      Distribution::from_json(json{{"family", "empirical"}, {"values", {1, 2}}, {"counts", counts}});
    });
  };
  std::string msg = empirical(json{1.8446744073709552e19, 1});
  EXPECT_NE(msg.find("\"counts\"[0] is 1.8446744073709552e+19; expected a whole number from 0"),
            std::string::npos)
      << msg;
  msg = empirical(json{2, -1});
  EXPECT_NE(msg.find("\"counts\"[1] is -1"), std::string::npos) << msg;
  msg = empirical(json{std::numeric_limits<std::uint64_t>::max(), 1});
  EXPECT_NE(msg.find("add up to more than"), std::string::npos) << msg;
  EXPECT_EQ(Distribution::from_json(json{{"family", "empirical"}, {"values", {1, 2}}, {"counts", {2.0, 3}}})
                .as<Empirical>()
                .total(),
            5u);  // a whole number written as a double is still a count

  msg = error_of([] { Empirical2D::from_json(json{{"x", {1e300}}, {"y", {1}}, {"counts", {1}}}); });
  EXPECT_NE(msg.find("\"x\"[0] is 1e+300"), std::string::npos) << msg;
  msg = error_of([] {
    const std::uint64_t most = std::numeric_limits<std::uint64_t>::max();
    Empirical2D::from_json(json{{"x", {1, 2}}, {"y", {1, 2}}, {"counts", {most, 1}}});
  });
  EXPECT_NE(msg.find("add up to more than"), std::string::npos) << msg;
}

// ---------------------------------------------------------------------------------------------
// Known-answer fits

class TraceFitKnownAnswer : public ::testing::TestWithParam<std::size_t> {};

TEST_P(TraceFitKnownAnswer, RecoversParameters) {
  const std::size_t n = GetParam();
  {
    const auto x = draw(Exponential{0.3}, n, 1);
    const Fit f = fit_exponential(x);
    expect_recovered(f.distribution.as<Exponential>().rate, 0.3, 1.0, n, "exponential rate");
    EXPECT_EQ(f.n, n);
    EXPECT_NEAR(f.aic, 2.0 - 2.0 * f.log_likelihood, 1e-9 * std::fabs(f.aic));
  }
  for (const Gamma g : {Gamma{0.5, 4.0}, Gamma{2.0, 3.0}, Gamma{9.0, 0.2}}) {
    const auto x = draw(g, n, 2);
    const Fit f = fit_gamma(x);
    // Fisher information: var(k)/k^2 = 1/(k (k psi' - 1) n), var(theta)/theta^2 = psi'/((k psi' - 1) n).
    const double d = g.shape * trigamma(g.shape) - 1.0;
    expect_recovered(f.distribution.as<Gamma>().shape, g.shape, std::sqrt(1.0 / (g.shape * d)), n, "gamma shape");
    expect_recovered(f.distribution.as<Gamma>().scale, g.scale, std::sqrt(trigamma(g.shape) / d), n, "gamma scale");
    // lnL is a maximum: nudging the parameters lowers it.
    double at_fit = 0.0, nudged = 0.0;
    const Gamma fitted = f.distribution.as<Gamma>();
    const Gamma off{fitted.shape * 1.01, fitted.scale};
    for (const double v : x) {
      at_fit += fitted.log_pdf(v);
      nudged += off.log_pdf(v);
    }
    EXPECT_NEAR(at_fit, f.log_likelihood, 1e-8 * std::fabs(at_fit));
    EXPECT_LT(nudged, at_fit);
  }
  for (const Weibull w : {Weibull{0.7, 100.0}, Weibull{1.5, 2.0}, Weibull{4.0, 0.01}}) {
    const auto x = draw(w, n, 3);
    const Fit f = fit_weibull(x);
    // var(k)/k^2 = 6/(pi^2 n); var(lambda)/lambda^2 = (1 + 6 (1 - gamma)^2 / pi^2) / (k^2 n).
    expect_recovered(f.distribution.as<Weibull>().shape, w.shape, std::sqrt(6.0) / kPi, n, "weibull shape");
    const double c_scale = std::sqrt(1.0 + 6.0 * (1.0 - kEulerGamma) * (1.0 - kEulerGamma) / (kPi * kPi)) / w.shape;
    expect_recovered(f.distribution.as<Weibull>().scale, w.scale, c_scale, n, "weibull scale");
    double ll = 0.0;
    for (const double v : x) ll += f.distribution.log_pdf(v);
    EXPECT_NEAR(ll, f.log_likelihood, 1e-8 * std::fabs(ll));
  }
  {
    const LogNormal truth{2.0, 0.8};
    const auto x = draw(truth, n, 4);
    const Fit f = fit_lognormal(x);
    // mu: standard error sigma/sqrt(n) (absolute); sigma: 1/sqrt(2n) relative.
    EXPECT_NEAR(f.distribution.as<LogNormal>().mu, truth.mu, 4.0 * truth.sigma / std::sqrt(static_cast<double>(n)));
    expect_recovered(f.distribution.as<LogNormal>().sigma, truth.sigma, std::sqrt(0.5), n, "lognormal sigma");
  }
  for (const Zipf& z : {Zipf(1.2, 5000), Zipf(0.8, 2000)}) {
    const auto x = draw(z, n, 5);
    const Fit f = fit_zipf(x);
    // var(s) = 1/(n Var_s[ln K]).
    double e1 = 0.0, e2 = 0.0;
    for (std::int64_t k = 1; k <= z.n_max(); ++k) {
      const double p = std::exp(z.log_pdf(static_cast<double>(k)));
      const double l = std::log(static_cast<double>(k));
      e1 += p * l;
      e2 += p * l * l;
    }
    const double c = 1.0 / (z.exponent() * std::sqrt(e2 - e1 * e1));
    expect_recovered(f.distribution.as<Zipf>().exponent(), z.exponent(), c, n, "zipf exponent");
    EXPECT_LE(f.distribution.as<Zipf>().n_max(), z.n_max());
  }
}

INSTANTIATE_TEST_SUITE_P(TraceFit, TraceFitKnownAnswer, ::testing::Values(std::size_t{2000}, std::size_t{50000}));

TEST(TraceFit, AicPicksTheTrueFamily) {
  const std::size_t n = 20000;
  const std::vector<Family> families = continuous_families();
  const std::vector<Distribution> truths = {LogNormal{0.0, 1.0}, Weibull{3.0, 2.0}, Gamma{4.0, 1.0},
                                            Gamma{0.3, 10.0}, Weibull{0.5, 1.0}};
  std::uint64_t stream = 20;
  for (const Distribution& truth : truths) {
    const auto x = draw(truth, n, stream++);
    std::vector<Fit> all;
    const Fit best = fit_best(x, families, &all);
    EXPECT_EQ(best.distribution.family(), truth.family()) << truth.describe() << " -> " << best.distribution.describe();
    EXPECT_EQ(all.size(), families.size());
  }
  // Lengths drawn from a Zipf: Zipf beats lognormal. (With the empirical table among the families,
  // AIC often prefers the table on long-tailed data: rare tail values seen once each gain more
  // log-likelihood than their parameter costs. Only its presence is checked.)
  Rng rng = test_rng(30);
  const Zipf z(1.1, 8000);
  std::vector<std::int32_t> tokens(30000);
  for (auto& t : tokens) t = static_cast<std::int32_t>(z.sample(rng));
  tokens[0] = 0;  // a failure-like zero is dropped, not fatal
  const std::vector<Family> parametric = {Family::zipf, Family::lognormal};
  const LengthFit lengths = fit_lengths(tokens, parametric);
  ASSERT_EQ(lengths.best.distribution.family(), Family::zipf);
  EXPECT_EQ(lengths.dropped, 1u);
  EXPECT_EQ(lengths.fits.size(), 2u);
  expect_recovered(lengths.best.distribution.as<Zipf>().exponent(), 1.1, 2.0, tokens.size(), "length zipf");
  const LengthFit all_three = fit_lengths(tokens);
  EXPECT_EQ(all_three.fits.size(), 3u);
  EXPECT_NE(all_three.best.distribution.family(), Family::lognormal);
}

TEST(TraceFit, ZeroGapsNeedJitter) {
  // A Poisson process of rate 3/s with timestamps truncated to whole seconds: many exact ties.
  Rng rng = test_rng(40);
  const Exponential gap{3.0};
  std::vector<double> exact, seconds;
  double t = 0.0;
  for (int i = 0; i < 30000; ++i) {
    t += gap.sample(rng);
    exact.push_back(t);
    seconds.push_back(std::floor(t));
  }
  const auto raw = inter_arrival_times(seconds);
  const std::string message = error_of([&] { fit_gamma(raw); });
  EXPECT_NE(message.find("jitter"), std::string::npos) << message;
  EXPECT_THROW(fit_best(raw, continuous_families()), InputError);
  EXPECT_THROW(fit_exponential(std::vector<double>{1.0, -2.0}), InputError);

  const auto jittered = jitter_integer_times(seconds, 7);
  ASSERT_EQ(jittered.size(), seconds.size());
  for (std::size_t i = 0; i < seconds.size(); ++i) {
    ASSERT_EQ(std::floor(jittered[i]), seconds[i]) << i;  // per-second counts kept exactly
    if (i > 0) {
      ASSERT_GT(jittered[i], jittered[i - 1]) << i;
    }
  }
  std::vector<Fit> all;
  const Fit f = fit_best(inter_arrival_times(jittered), continuous_families(), &all);
  EXPECT_TRUE(std::isfinite(f.log_likelihood));
  for (const Fit& each : all) {
    if (each.distribution.family() == Family::exponential) {
      expect_recovered(each.distribution.as<Exponential>().rate, 3.0, 1.0, jittered.size(), "jittered rate");
    }
  }
  // Drop: the zero gaps are left out and counted.
  std::size_t dropped = 0;
  const auto kept = inter_arrival_times(seconds, ZeroPolicy::drop, &dropped);
  EXPECT_GT(dropped, 1000u);
  EXPECT_EQ(kept.size() + dropped, seconds.size() - 1);
  EXPECT_NO_THROW(fit_exponential(kept));
  EXPECT_THROW(jitter_integer_times(std::vector<double>{0.0, 0.5}, 1), InputError);
  EXPECT_THROW(jitter_integer_times(std::vector<double>{2.0, 1.0}, 1), InputError);
}

TEST(TraceFit, WindowsSeeRateChanges) {
  // 600 s at 10 requests/s, then 600 s at 1 request/s.
  Rng rng = test_rng(50);
  std::vector<double> times;
  double t = 0.0;
  while (t < 1200.0) {
    t += Exponential{t < 600.0 ? 10.0 : 1.0}.sample(rng);
    if (t < 1200.0) times.push_back(t);
  }
  const auto windows = fit_windows(times, 60.0, continuous_families(), 30);
  ASSERT_EQ(windows.size(), 20u);
  std::size_t arrivals = 0;
  for (std::size_t w = 0; w < windows.size(); ++w) {
    arrivals += windows[w].arrivals;
    const double rate = w < 10 ? 10.0 : 1.0;
    EXPECT_NEAR(windows[w].rate_per_s, rate, 5.0 * std::sqrt(rate / 60.0)) << w;
    EXPECT_TRUE(windows[w].fitted) << w;
    EXPECT_NEAR(windows[w].fit.distribution.mean(), 1.0 / rate, 5.0 / rate / std::sqrt(rate * 60.0)) << w;
  }
  EXPECT_EQ(arrivals, times.size());
  // Sparse windows are kept but not fitted.
  const auto coarse = fit_windows(times, 5.0, continuous_families(), 30);
  std::size_t unfitted = 0;
  for (const WindowFit& w : coarse) unfitted += w.fitted ? 0 : 1;
  EXPECT_GE(unfitted, 110u);
}

TEST(TraceFit, FailureRatesAndIntervals) {
  RequestTrace trace;
  for (int i = 0; i < 100; ++i) trace.push(i, 10, i % 10 == 0 ? 0 : 5, "ChatGPT", LogType::conversation);
  for (int i = 0; i < 50; ++i) trace.push(100 + i, 10, i % 25 == 0 ? 0 : 5, "GPT-4", LogType::api);
  const auto rates = failure_rates(trace);
  ASSERT_EQ(rates.size(), 2u);
  EXPECT_EQ(rates[0].model, "ChatGPT");
  EXPECT_DOUBLE_EQ(rates[0].probability, 0.1);
  EXPECT_DOUBLE_EQ(rates[1].probability, 0.04);

  // 40 nodes, Weibull(0.7, 5000 s) times between failures (infant-mortality-like).
  const Weibull truth{0.7, 5000.0};
  Rng rng = test_rng(60);
  std::vector<std::vector<double>> nodes(40);
  std::size_t intervals = 0;
  for (auto& node : nodes) {
    double t = truth.sample(rng);
    node.push_back(t);
    for (int k = 0; k < 100; ++k) {
      t += truth.sample(rng);
      node.push_back(t);
      ++intervals;
    }
  }
  const FailureIntervalFit f = fit_failure_intervals(nodes);
  EXPECT_EQ(f.intervals, intervals);
  EXPECT_EQ(f.best, Family::weibull);
  expect_recovered(f.weibull.distribution.as<Weibull>().shape, 0.7, std::sqrt(6.0) / kPi, intervals, "failure shape");
  EXPECT_NEAR(f.mean_interval_s / truth.mean(), 1.0, 0.1);
  nodes[0].push_back(nodes[0].back());  // a duplicate record
  EXPECT_THROW(fit_failure_intervals(nodes), InputError);
  EXPECT_EQ(fit_failure_intervals(nodes, ZeroPolicy::drop).zeros_dropped, 1u);
}

// ---------------------------------------------------------------------------------------------
// Link bandwidth

// Known answer: the AR(1) log-normal series of generate_bandwidth is fitted back. With rho 0.8 the
// 20,001 samples count as about 2,200 independent ones for sigma and the mean (standard errors
// ~0.005 and ~0.7 %); rho's is ~0.005.
TEST(TraceFit, BandwidthFitRecoversTheSeriesModel) {
  BandwidthSeriesOptions o;
  o.mean_bps = 3e8;
  o.sigma = 0.4;
  o.rho = 0.8;
  o.step_s = 2;
  o.duration_s = 40000;
  o.seed = 5;
  BandwidthTrace series = generate_bandwidth(o);
  series.bandwidth_bps[100] = 0;  // an outage is left out and counted
  const BandwidthModel m = fit_bandwidth(series.time_s, series.bandwidth_bps);
  EXPECT_EQ(m.samples, 20000u);
  EXPECT_EQ(m.outages, 1u);
  EXPECT_NEAR(m.mean_bps, 3e8, 0.04 * 3e8);
  EXPECT_NEAR(m.sigma, 0.4, 0.03);
  EXPECT_NEAR(m.rho, 0.8, 0.03);
  EXPECT_DOUBLE_EQ(m.step_s, 2);
  // Independent samples fit as rho about 0.
  o.rho = 0;
  const BandwidthTrace white = generate_bandwidth(o);
  EXPECT_LT(fit_bandwidth(white.time_s, white.bandwidth_bps).rho, 0.03);
  // JSON round trip, and bad files refused with the field named.
  const BandwidthModel back = BandwidthModel::from_json(nlohmann::json::parse(m.to_json().dump()));
  EXPECT_EQ(back.to_json(), m.to_json());
  nlohmann::json bad = m.to_json();
  bad["rho"] = 1.0;
  EXPECT_NE(error_of([&] { BandwidthModel::from_json(bad); }).find("rho"), std::string::npos);
  bad = m.to_json();
  bad.erase("sigma");
  EXPECT_NE(error_of([&] { BandwidthModel::from_json(bad); }).find("\"sigma\""), std::string::npos);
  const std::vector<double> t{0, 1, 2}, b{1e9, 0, 2e9};
  EXPECT_NE(error_of([&] { fit_bandwidth(t, b); }).find("at least 3"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// The workload model

// A BurstGPT-like trace: integer-second times from Gamma(0.5) gaps, Zipf lengths, response tied to
// request, two models and two log types, a few percent failures.
RequestTrace synthetic_trace(std::size_t rows, std::uint64_t stream) {
  Rng rng = test_rng(stream);
  RequestTrace trace;
  const Gamma gap{0.5, 7.0};
  const Zipf request(1.2, 4000);
  double t = 0.0;
  for (std::size_t i = 0; i < rows; ++i) {
    t += gap.sample(rng);
    const bool gpt4 = rng.uniform_double() < 0.3;
    const bool api = rng.uniform_double() < 0.4;
    const auto req = static_cast<std::int32_t>(request.sample(rng));
    const bool failed = rng.uniform_double() < (gpt4 ? 0.05 : 0.02);
    const auto resp = failed ? 0 : static_cast<std::int32_t>(1 + req / 4 + rng.below(200));
    trace.push(std::floor(t), req, resp, gpt4 ? "GPT-4" : "ChatGPT", api ? LogType::api : LogType::conversation);
  }
  return trace;
}

// Rescaled gaps: a Gamma(0.5) renewal process in operational time, mapped to real time through
// rates that alternate between 2/s and 12/s every minute. Fitted globally the gaps look burstier
// than Gamma(0.5) (the rate swings add variance); rescaled by the window counts they are Gamma(0.5)
// with mean 1 again.
TEST(TraceFit, RescaledGapsTakeOutTheRateSwings) {
  std::vector<std::uint32_t> expected(60);
  for (std::size_t i = 0; i < expected.size(); ++i) expected[i] = i % 2 == 0 ? 120 : 720;
  const RateWindows truth(60, expected, 3599.5);
  Rng rng = test_rng(90);
  const Gamma op_gap{0.5, 2.0};
  RequestTrace trace;
  for (double tau = 0;; tau += op_gap.sample(rng)) {
    const double t = truth.real(tau);
    if (t >= 3599.5) break;
    trace.push(t, 100, 10);
  }
  WorkloadFitOptions options;
  options.group_by = GroupBy::all;
  const WorkloadModel model = fit_workload(trace, options);
  ASSERT_EQ(model.classes.size(), 1u);
  const ArrivalModel& a = model.classes[0].arrival;
  ASSERT_TRUE(a.rescaled_inter_arrival.has_value());
  ASSERT_EQ(a.rescaled_inter_arrival->family(), Family::gamma) << a.rescaled_inter_arrival->describe();
  const auto& rescaled = std::get<Gamma>(a.rescaled_inter_arrival->value());
  // ~25,000 gaps: the shape's standard error is about 0.004.
  EXPECT_NEAR(rescaled.shape, 0.5, 0.03) << a.rescaled_inter_arrival->describe();
  EXPECT_NEAR(a.rescaled_inter_arrival->mean(), 1.0, 0.03);
  // The real-time gaps: coefficient of variation well above Gamma(0.5)'s sqrt(2).
  const std::vector<double> gaps = inter_arrival_times(trace.time_s);
  double sum = 0, sum2 = 0;
  for (const double g : gaps) {
    sum += g;
    sum2 += g * g;
  }
  const double m = sum / static_cast<double>(gaps.size());
  const double cv = std::sqrt(sum2 / static_cast<double>(gaps.size()) - m * m) / m;
  EXPECT_GT(cv, 1.6);

  // A model file whose window counts do not fit its span is refused, naming the field.
  nlohmann::json bad = model.to_json();
  bad["classes"][0]["arrival"]["window_counts"].erase(0);
  const std::string msg = error_of([&] { WorkloadModel::from_json(bad); });
  EXPECT_NE(msg.find("window_counts"), std::string::npos) << msg;
}

// Whole-number fields of the model files must be whole numbers their field holds: get<int> of
// 1e300 was undefined, and -1 or 2.5 as a count was wrapped or truncated without a word.
TEST(TraceFit, ModelJsonIntegersMustFitTheirFields) {
  using nlohmann::json;
  const json link = json::parse(R"({"format": "meridian-link-model", "version": 1, "mean_bps": 5e8,
                                   "sigma": 0.3, "rho": 0.8, "step_s": 1, "samples": 30, "outages": 2})");
  json bad = link;
  bad["version"] = 1e300;
  std::string msg = error_of([&] { BandwidthModel::from_json(bad); });
  EXPECT_NE(msg.find("field \"version\" of the top level is 1e+300; expected a whole number"),
            std::string::npos)
      << msg;
  bad = link;
  bad["samples"] = -1;
  msg = error_of([&] { BandwidthModel::from_json(bad); });
  EXPECT_NE(msg.find("field \"samples\" of the top level is -1"), std::string::npos) << msg;

  const json workload = json::parse(R"({"format": "meridian-workload-model", "version": 1,
      "duration_s": 10, "requests": 6, "group_by": "all", "classes": [{"model": "*", "log_type": "*",
      "requests": 6, "failures": 1, "failure_probability": 0.2, "arrival": {"rate_per_s": 0.6,
      "inter_arrival": {"family": "exponential", "rate": 0.6}, "zeros": "jitter", "zeros_dropped": 0,
      "window_s": 5, "window_counts": [4, 2, 0]}, "request_tokens": {"family": "exponential", "rate": 0.1},
      "response_tokens": {"family": "exponential", "rate": 0.1}, "joint": null}]})");
  EXPECT_EQ(WorkloadModel::from_json(workload).classes.at(0).arrival.window_counts.size(), 3u);
  bad = workload;
  bad["requests"] = 2.5;
  msg = error_of([&] { WorkloadModel::from_json(bad); });
  EXPECT_NE(msg.find("field \"requests\" of the top level is 2.5"), std::string::npos) << msg;
  bad = workload;
  bad["classes"][0]["arrival"]["window_counts"][1] = 1e300;
  msg = error_of([&] { WorkloadModel::from_json(bad); });
  EXPECT_NE(msg.find("classes[0].arrival.window_counts[1] is 1e+300"), std::string::npos) << msg;

  // A window so small that the number of windows does not fit a size_t: the count is compared in
  // doubles (converting it was undefined) and the message says how many windows the span makes.
  const std::vector<std::uint32_t> one{1};
  msg = error_of([&] { RateWindows(1e-10, one, 1e10); });
  EXPECT_NE(msg.find("make 1e+20 windows"), std::string::npos) << msg;
}

TEST(TraceFit, WorkloadModelJsonRoundTrip) {
  const RequestTrace trace = synthetic_trace(20000, 70);
  WorkloadFitOptions options;
  options.max_pairs = 3000;
  const WorkloadModel model = fit_workload(trace, options);
  ASSERT_EQ(model.classes.size(), 4u);
  EXPECT_EQ(model.requests, trace.size());
  std::size_t total = 0;
  for (const WorkloadClass& c : model.classes) {
    total += c.requests;
    EXPECT_EQ(c.arrival.zeros, ZeroPolicy::jitter);
    ASSERT_TRUE(c.joint.has_value());
    EXPECT_EQ(c.joint->total(), std::min<std::size_t>(3000, c.requests - c.failures));
    std::size_t windowed = 0;
    for (const auto count : c.arrival.window_counts) windowed += count;
    EXPECT_EQ(windowed, c.requests);
    EXPECT_GT(c.failure_probability, 0.0);
    EXPECT_LT(c.failure_probability, 0.12);
    EXPECT_EQ(c.inter_arrival_aic.size(), 4u);
  }
  EXPECT_EQ(total, trace.size());

  const std::string text = model.to_json().dump();
  const WorkloadModel back = WorkloadModel::from_json(nlohmann::json::parse(text));
  EXPECT_EQ(back.to_json().dump(), text);
  EXPECT_EQ(back.classes[0].model, model.classes[0].model);
  EXPECT_EQ(model.to_json().at("version"), WorkloadModel::kVersion);

  // Bad models are refused with the field named.
  nlohmann::json bad = model.to_json();
  bad["version"] = 99;
  EXPECT_NE(error_of([&] { WorkloadModel::from_json(bad); }).find("version"), std::string::npos);
  bad = model.to_json();
  bad["classes"][1].erase("arrival");
  EXPECT_NE(error_of([&] { WorkloadModel::from_json(bad); }).find("\"arrival\""), std::string::npos);
  bad = model.to_json();
  bad["classes"][0]["request_tokens"] = nlohmann::json{{"family", "gamma"}, {"shape", 1.0}};
  const std::string msg = error_of([&] { WorkloadModel::from_json(bad); });
  EXPECT_NE(msg.find("request_tokens"), std::string::npos) << msg;
  EXPECT_NE(msg.find("\"scale\""), std::string::npos) << msg;
  bad = model.to_json();
  bad["classes"][0]["failure_probability"] = "high";
  EXPECT_THROW(WorkloadModel::from_json(bad), InputError);
  EXPECT_THROW(WorkloadModel::from_json(nlohmann::json::array()), InputError);

  // Pooled grouping; reject without jitter refuses the tied integer seconds.
  options.group_by = GroupBy::all;
  const WorkloadModel pooled = fit_workload(trace, options);
  ASSERT_EQ(pooled.classes.size(), 1u);
  EXPECT_EQ(pooled.classes[0].model, "*");
  options.zeros = ZeroPolicy::reject;
  EXPECT_THROW(fit_workload(trace, options), InputError);
}

TEST(TraceFit, SpeedOnATraceOfBurstGptSize) {
  // No timed assertion: prints how long 1.4M rows take (the target is well under 2 s on one core).
  const RequestTrace trace = synthetic_trace(1'400'000, 80);
  auto start = std::chrono::steady_clock::now();
  const WorkloadModel model = fit_workload(trace);
  const double workload_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto gaps = draw(Gamma{0.5, 7.0}, trace.size(), 81);
  start = std::chrono::steady_clock::now();
  const Fit best = fit_best(gaps, continuous_families());
  const double best_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("fit_workload: %zu rows, %zu classes in %.3f s | fit_best (4 families) on %zu gaps in %.3f s -> %s\n",
              trace.size(), model.classes.size(), workload_s, gaps.size(), best_s,
              best.distribution.describe().c_str());
  EXPECT_EQ(model.classes.size(), 4u);
  ASSERT_EQ(best.distribution.family(), Family::gamma);
  expect_recovered(best.distribution.as<Gamma>().shape, 0.5, 1.2, gaps.size(), "gamma shape, 1.4M");
}

}  // namespace
}  // namespace meridian::trace
