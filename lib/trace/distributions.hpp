// Probability distributions for trace modelling: continuous families for inter-arrival and
// inter-failure times (seconds), discrete ones for token lengths, an empirical 2-D joint for
// (request, response) pairs, the special functions behind them, and a tagged JSON-able value.
// Conventions: scale parameters are in the unit of the data (seconds, tokens); rates are 1/unit.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/rng.hpp"

namespace meridian::trace {

// ---------------------------------------------------------------------------------------------
// Special functions (x > 0 unless said otherwise; Error for arguments outside the domain).

double digamma(double x);   // psi(x) = d/dx ln Gamma(x)
double trigamma(double x);  // psi'(x)
// Regularized lower incomplete gamma P(a, x) = gamma(a, x) / Gamma(a), a > 0, x >= 0 (series for
// x < a + 1, continued fraction for the upper part otherwise); gamma_q = 1 - P computed directly.
double gamma_p(double a, double x);
double gamma_q(double a, double x);
// Standard normal cdf and its inverse (p in (0, 1); 0 and 1 give -inf and +inf).
double normal_cdf(double z);
double normal_quantile(double p);
// One standard normal deviate in double precision (Box-Muller, one pair half used, no caching).
double standard_normal(Rng& rng);

// ---------------------------------------------------------------------------------------------
// Continuous families. Plain aggregates; check() throws InputError naming a bad parameter.
// log_pdf of x outside the support is -inf; cdf(x <= 0) is 0; quantile(p), p in [0, 1].

struct Exponential {
  double rate = 1.0;  // 1 / mean
  void check() const;
  double log_pdf(double x) const;
  double cdf(double x) const;
  double quantile(double p) const;
  double mean() const { return 1.0 / rate; }
  double sample(Rng& rng) const;  // inversion
};

struct Gamma {
  double shape = 1.0;  // k; coefficient of variation = 1/sqrt(k) (k < 1: burstier than Poisson)
  double scale = 1.0;  // theta; mean = k * theta
  void check() const;
  double log_pdf(double x) const;
  double cdf(double x) const;
  double quantile(double p) const;  // Newton on P(k, x/theta) = p inside a bisection bracket
  double mean() const { return shape * scale; }
  double sample(Rng& rng) const;  // Marsaglia-Tsang (shape < 1 via the u^(1/k) boost)
};

struct Weibull {
  double shape = 1.0;  // k (k < 1: decreasing hazard)
  double scale = 1.0;  // lambda
  void check() const;
  double log_pdf(double x) const;
  double cdf(double x) const;
  double quantile(double p) const;
  double mean() const;
  double sample(Rng& rng) const;  // inversion
};

struct LogNormal {
  double mu = 0.0;     // mean of ln x
  double sigma = 1.0;  // standard deviation of ln x
  void check() const;
  double log_pdf(double x) const;
  double cdf(double x) const;
  double quantile(double p) const;
  double mean() const;
  double sample(Rng& rng) const;  // exp(mu + sigma * Box-Muller normal)
};

// ---------------------------------------------------------------------------------------------
// Discrete families. log_pdf is the log pmf (-inf off the support); cdf(x) = P(X <= x);
// quantile(p) = the smallest support value v with cdf(v) >= p.

// Zipf on {1, ..., n_max}: pmf(k) = k^-s / H(s), H(s) = sum_{j=1..n_max} j^-s. Any real s (s <= 0
// is allowed: the support is finite). Sampling by binary search in a precomputed cdf table of
// n_max doubles, so n_max is limited to kMaxSupport.
class Zipf {
 public:
  static constexpr std::int64_t kMaxSupport = std::int64_t{1} << 22;
  Zipf() : Zipf(1.0, 1) {}
  Zipf(double s, std::int64_t n_max);  // InputError for a non-finite s or n_max outside [1, kMaxSupport]

  double exponent() const { return s_; }
  std::int64_t n_max() const { return n_max_; }
  double log_normalizer() const { return log_h_; }  // ln H(s)
  double log_pdf(double x) const;
  double cdf(double x) const;
  double quantile(double p) const;
  double mean() const { return mean_; }
  double sample(Rng& rng) const;

 private:
  double s_ = 1.0;
  std::int64_t n_max_ = 1;
  double log_h_ = 0.0;
  double log_k_ref_ = 0.0;  // ln of the k whose weight is largest: 1 for s >= 0, n_max for s < 0
  double log_total_ = 0.0;  // ln of the sum of the weights relative to that one
  double mean_ = 1.0;
  std::vector<double> cdf_;  // cdf_[k-1] = P(X <= k); the last entry is exactly 1
};

// Empirical distribution of values with counts: `values` strictly ascending, counts > 0.
// Sampling draws an integer below the total and binary-searches the cumulative counts, so the
// frequencies are exact in expectation.
class Empirical {
 public:
  Empirical() : Empirical({0.0}, {1}) {}
  Empirical(std::vector<double> values, std::vector<std::uint64_t> counts);  // InputError when malformed
  // From raw samples (sorted copy; equal values merged).
  static Empirical from_samples(std::span<const double> samples);

  const std::vector<double>& values() const { return values_; }
  const std::vector<std::uint64_t>& counts() const { return counts_; }
  std::uint64_t total() const { return cumulative_.back(); }
  double log_pdf(double x) const;
  double cdf(double x) const;
  double quantile(double p) const;
  double mean() const { return mean_; }
  double sample(Rng& rng) const;

 private:
  std::vector<double> values_;
  std::vector<std::uint64_t> counts_;
  std::vector<std::uint64_t> cumulative_;  // cumulative_[i] = counts_[0] + ... + counts_[i]
  double mean_ = 0.0;
};

// Empirical joint distribution of integer pairs (x, y), e.g. (request tokens, response tokens):
// distinct pairs in ascending (x, y) order with counts; sample() resamples a pair as a whole, so
// any relation between x and y in the data is kept. JSON: {"x": [...], "y": [...], "counts": [...]}.
class Empirical2D {
 public:
  Empirical2D() : Empirical2D({0}, {0}, {1}) {}
  Empirical2D(std::vector<std::int64_t> x, std::vector<std::int64_t> y, std::vector<std::uint64_t> counts);
  static Empirical2D from_pairs(std::span<const std::int64_t> x, std::span<const std::int64_t> y);

  const std::vector<std::int64_t>& x() const { return x_; }
  const std::vector<std::int64_t>& y() const { return y_; }
  const std::vector<std::uint64_t>& counts() const { return counts_; }
  std::uint64_t total() const { return cumulative_.back(); }
  std::size_t distinct() const { return x_.size(); }
  std::pair<std::int64_t, std::int64_t> sample(Rng& rng) const;

  nlohmann::json to_json() const;
  static Empirical2D from_json(const nlohmann::json& json);  // InputError naming the bad field

 private:
  std::vector<std::int64_t> x_, y_;
  std::vector<std::uint64_t> counts_;
  std::vector<std::uint64_t> cumulative_;
};

// ---------------------------------------------------------------------------------------------
// The tagged value.

// The order matches Distribution::Value's alternatives.
enum class Family : std::uint8_t { exponential = 0, gamma = 1, weibull = 2, lognormal = 3, zipf = 4, empirical = 5 };

const char* family_name(Family family);                // "exponential", "gamma", ...
Family parse_family(const std::string& name);          // InputError listing the known names
bool is_discrete(Family family);                       // zipf, empirical
std::vector<Family> continuous_families();             // exponential, gamma, weibull, lognormal

// One fitted or configured distribution of any family.
// JSON (the "family" key picks the rest):
//   {"family": "exponential", "rate": r}
//   {"family": "gamma",       "shape": k, "scale": theta}
//   {"family": "weibull",     "shape": k, "scale": lambda}
//   {"family": "lognormal",   "mu": m, "sigma": s}
//   {"family": "zipf",        "s": s, "n_max": n}
//   {"family": "empirical",   "values": [...ascending], "counts": [...]}
class Distribution {
 public:
  using Value = std::variant<Exponential, Gamma, Weibull, LogNormal, Zipf, Empirical>;

  Distribution() = default;  // Exponential(1)
  Distribution(Exponential d);
  Distribution(Gamma d);
  Distribution(Weibull d);
  Distribution(LogNormal d);
  Distribution(Zipf d);
  Distribution(Empirical d);

  Family family() const { return static_cast<Family>(value_.index()); }
  const Value& value() const { return value_; }
  template <class T>
  const T& as() const { return std::get<T>(value_); }  // std::bad_variant_access for the wrong family

  bool discrete() const { return is_discrete(family()); }
  // Free parameters counted in AIC: 1 (exponential), 2 (gamma, weibull, lognormal, zipf: s and the
  // support n_max), distinct values - 1 (empirical).
  int parameter_count() const;
  double log_pdf(double x) const;
  double cdf(double x) const;
  double quantile(double p) const;
  double mean() const;
  double sample(Rng& rng) const;
  std::string describe() const;  // "gamma(shape=0.52, scale=1.9)"

  nlohmann::json to_json() const;
  // InputError naming the missing, mistyped or out-of-range field.
  static Distribution from_json(const nlohmann::json& json);

 private:
  Value value_;
};

}  // namespace meridian::trace
