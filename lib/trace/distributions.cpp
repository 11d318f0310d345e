// Distributions for trace modelling: special functions (digamma, trigamma, regularized incomplete
// gamma, normal cdf and inverse), the families' densities, cdfs, quantiles and samplers, and JSON.
#include "trace/distributions.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <sstream>

#include "core/json_integer.hpp"
#include "kernels/common/error.hpp"

namespace meridian::trace {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kPi = 3.14159265358979323846;
constexpr double kEps = std::numeric_limits<double>::epsilon();
// `running` plus the count of entry i of an empirical table (`what` names it in messages); InputError
// when the total would pass the largest a sampler can draw an integer below.
std::uint64_t add_count(std::uint64_t running, std::uint64_t count, std::size_t i, const char* what) {
  constexpr std::uint64_t kMaxTotal = std::numeric_limits<std::uint64_t>::max();
  MERIDIAN_INPUT_CHECK(count <= kMaxTotal - running, what, ": \"counts\" add up to more than ", kMaxTotal,
                       " at entry ", i, "; a table of sample counts cannot hold that many");
  return running + count;
}

// log(x^a e^-x / Gamma(a)): the common prefactor of the incomplete-gamma expansions.
double gamma_prefactor_log(double a, double x) { return a * std::log(x) - x - std::lgamma(a); }

// Series  P(a, x) = e^-x x^a / Gamma(a) * sum_{n>=0} x^n / (a (a+1) ... (a+n)); good for x < a + 1.
double gamma_p_series(double a, double x) {
  double term = 1.0 / a;
  double sum = term;
  for (int n = 1; n < 1'000'000; ++n) {
    term *= x / (a + n);
    sum += term;
    if (term < sum * kEps) break;
  }
  return sum * std::exp(gamma_prefactor_log(a, x));
}

// Continued fraction  Q(a, x) = e^-x x^a / Gamma(a) * 1/(x+1-a- 1(1-a)/(x+3-a- 2(2-a)/(x+5-a- ...)))
// evaluated with the modified Lentz method; good for x >= a + 1.
double gamma_q_fraction(double a, double x) {
  constexpr double kTiny = 1e-300;
  double b = x + 1.0 - a;
  double c = 1.0 / kTiny;
  double d = 1.0 / b;
  double h = d;
  for (int i = 1; i < 1'000'000; ++i) {
    const double an = -i * (i - a);
    b += 2.0;
    d = an * d + b;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = b + an / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    const double delta = d * c;
    h *= delta;
    if (std::fabs(delta - 1.0) < kEps) break;
  }
  return h * std::exp(gamma_prefactor_log(a, x));
}

void check_probability(double p, const char* who) {
  MERIDIAN_INPUT_CHECK(p >= 0.0 && p <= 1.0, who, ": probability ", p, " is outside [0, 1]");
}

// A uniform in (0, 1]: safe to take the log of.
double open_uniform(Rng& rng) { return 1.0 - rng.uniform_double(); }

// Index of the first cumulative entry > r (r < total).
std::size_t search_cumulative(const std::vector<std::uint64_t>& cumulative, std::uint64_t r) {
  return static_cast<std::size_t>(std::upper_bound(cumulative.begin(), cumulative.end(), r) - cumulative.begin());
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Special functions

double digamma(double x) {
  MERIDIAN_CHECK(x > 0.0 && std::isfinite(x), "digamma: argument ", x, " must be positive and finite");
  // Recurrence psi(x) = psi(x + 1) - 1/x up to x >= 10, then the asymptotic series
  // ln x - 1/(2x) - sum B_2n / (2n x^2n) (first omitted term < 1e-15 there).
  double shift = 0.0;
  while (x < 10.0) {
    shift -= 1.0 / x;
    x += 1.0;
  }
  const double r = 1.0 / (x * x);
  const double tail =
      r * (1.0 / 12 - r * (1.0 / 120 - r * (1.0 / 252 - r * (1.0 / 240 - r * (1.0 / 132 - r * (691.0 / 32760))))));
  return shift + std::log(x) - 0.5 / x - tail;
}

double trigamma(double x) {
  MERIDIAN_CHECK(x > 0.0 && std::isfinite(x), "trigamma: argument ", x, " must be positive and finite");
  // Recurrence psi'(x) = psi'(x + 1) + 1/x^2 up to x >= 10, then
  // 1/x + 1/(2x^2) + sum B_2n / x^(2n+1) (first omitted term < 1e-13 there).
  double shift = 0.0;
  while (x < 10.0) {
    shift += 1.0 / (x * x);
    x += 1.0;
  }
  const double r = 1.0 / (x * x);
  const double tail = r * (1.0 / 6 - r * (1.0 / 30 - r * (1.0 / 42 - r * (1.0 / 30 - r * (5.0 / 66)))));
  return shift + 1.0 / x + 0.5 * r + tail / x;
}

double gamma_p(double a, double x) {
  MERIDIAN_CHECK(a > 0.0 && std::isfinite(a), "gamma_p: shape ", a, " must be positive and finite");
  MERIDIAN_CHECK(x >= 0.0, "gamma_p: argument ", x, " must be >= 0");
  if (x == 0.0) return 0.0;
  if (std::isinf(x)) return 1.0;
  if (x < a + 1.0) return std::min(1.0, gamma_p_series(a, x));
  return std::max(0.0, 1.0 - gamma_q_fraction(a, x));
}

double gamma_q(double a, double x) {
  MERIDIAN_CHECK(a > 0.0 && std::isfinite(a), "gamma_q: shape ", a, " must be positive and finite");
  MERIDIAN_CHECK(x >= 0.0, "gamma_q: argument ", x, " must be >= 0");
  if (x == 0.0) return 1.0;
  if (std::isinf(x)) return 0.0;
  if (x < a + 1.0) return std::max(0.0, 1.0 - gamma_p_series(a, x));
  return std::min(1.0, gamma_q_fraction(a, x));
}

double normal_cdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

double normal_quantile(double p) {
  check_probability(p, "normal_quantile");
  if (p == 0.0) return -kInf;
  if (p == 1.0) return kInf;
  // Work in the lower tail (q <= 1/2, z <= 0) where erfc keeps full relative precision, start from
  // the rational approximation of Abramowitz & Stegun 26.2.23 (|error| < 4.5e-4) and polish with
  // Halley steps on Phi(z) - q (Phi' = phi, Phi'' = -z phi).
  const double q = std::min(p, 1.0 - p);
  const double t = std::sqrt(-2.0 * std::log(q));
  double z = -(t - (2.515517 + t * (0.802853 + t * 0.010328)) / (1.0 + t * (1.432788 + t * (0.189269 + t * 0.001308))));
  for (int i = 0; i < 4; ++i) {
    const double f = normal_cdf(z) - q;
    const double phi = std::exp(-0.5 * z * z) / std::sqrt(2.0 * kPi);
    if (phi == 0.0) break;
    const double u = f / phi;
    z -= u / (1.0 + 0.5 * z * u);
  }
  return p < 0.5 ? z : -z;
}

double standard_normal(Rng& rng) {
  const double u1 = open_uniform(rng);
  const double u2 = rng.uniform_double();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * kPi * u2);
}

// ---------------------------------------------------------------------------------------------
// Exponential

void Exponential::check() const {
  MERIDIAN_INPUT_CHECK(rate > 0.0 && std::isfinite(rate), "exponential: \"rate\" must be positive and finite, got ",
                       rate);
}
double Exponential::log_pdf(double x) const { return x < 0.0 ? -kInf : std::log(rate) - rate * x; }
double Exponential::cdf(double x) const { return x <= 0.0 ? 0.0 : -std::expm1(-rate * x); }
double Exponential::quantile(double p) const {
  check_probability(p, "exponential quantile");
  return -std::log1p(-p) / rate;
}
double Exponential::sample(Rng& rng) const { return -std::log(open_uniform(rng)) / rate; }

// ---------------------------------------------------------------------------------------------
// Gamma

void Gamma::check() const {
  MERIDIAN_INPUT_CHECK(shape > 0.0 && std::isfinite(shape), "gamma: \"shape\" must be positive and finite, got ",
                       shape);
  MERIDIAN_INPUT_CHECK(scale > 0.0 && std::isfinite(scale), "gamma: \"scale\" must be positive and finite, got ",
                       scale);
}

double Gamma::log_pdf(double x) const {
  if (x < 0.0) return -kInf;
  if (x == 0.0) return shape < 1.0 ? kInf : (shape == 1.0 ? -std::log(scale) : -kInf);
  const double y = x / scale;
  return (shape - 1.0) * std::log(y) - y - std::lgamma(shape) - std::log(scale);
}

double Gamma::cdf(double x) const { return x <= 0.0 ? 0.0 : gamma_p(shape, x / scale); }

double Gamma::quantile(double p) const {
  check_probability(p, "gamma quantile");
  if (p == 0.0) return 0.0;
  if (p == 1.0) return kInf;
  // Start: Wilson-Hilferty (the cube root of a gamma variate is nearly normal); for small shapes or
  // far lower tails the small-y form P(k, y) ~ y^k / Gamma(k + 1) is better.
  const double k = shape;
  const double z = normal_quantile(p);
  const double c = 1.0 / (9.0 * k);
  const double y_wilson = k * std::pow(std::max(1.0 - c + z * std::sqrt(c), 0.0), 3.0);
  const double y_small = std::exp((std::log(p) + std::lgamma(k + 1.0)) / k);
  double y = (k >= 1.0 && y_wilson > 0.0) ? y_wilson : y_small;
  if (!(y > 0.0) || !std::isfinite(y)) y = k;
  // Newton on f(y) = P(k, y) - p (f' = the standard gamma density) inside a bracket [lo, hi];
  // a step leaving the bracket is replaced by bisection (or doubling while hi is unbounded).
  double lo = 0.0, hi = kInf;
  for (int it = 0; it < 300; ++it) {
    const double f = gamma_p(k, y) - p;
    if (f == 0.0) break;
    if (f < 0.0) lo = y; else hi = y;
    const double log_density = (k - 1.0) * std::log(y) - y - std::lgamma(k);
    double next = y - f / std::exp(log_density);
    if (!(next > lo && next < hi) || !std::isfinite(next)) next = std::isinf(hi) ? 2.0 * y : 0.5 * (lo + hi);
    if (std::fabs(next - y) <= 4.0 * kEps * y) {
      y = next;
      break;
    }
    y = next;
  }
  return y * scale;
}

double Gamma::sample(Rng& rng) const {
  // Marsaglia & Tsang (2000): for k >= 1 with d = k - 1/3, c = 1/sqrt(9d), propose v = (1 + c z)^3
  // and accept d v when ln u < z^2/2 + d - d v + d ln v. For k < 1 draw with k + 1 and multiply by
  // u^(1/k).
  const double k = shape < 1.0 ? shape + 1.0 : shape;
  const double d = k - 1.0 / 3.0;
  const double c = 1.0 / std::sqrt(9.0 * d);
  double x = 0.0;
  for (;;) {
    const double z = standard_normal(rng);
    const double t = 1.0 + c * z;
    if (t <= 0.0) continue;
    const double v = t * t * t;
    const double u = open_uniform(rng);
    if (std::log(u) < 0.5 * z * z + d - d * v + d * std::log(v)) {
      x = d * v;
      break;
    }
  }
  if (shape < 1.0) x *= std::exp(std::log(open_uniform(rng)) / shape);
  return x * scale;
}

// ---------------------------------------------------------------------------------------------
// Weibull

void Weibull::check() const {
  MERIDIAN_INPUT_CHECK(shape > 0.0 && std::isfinite(shape), "weibull: \"shape\" must be positive and finite, got ",
                       shape);
  MERIDIAN_INPUT_CHECK(scale > 0.0 && std::isfinite(scale), "weibull: \"scale\" must be positive and finite, got ",
                       scale);
}

double Weibull::log_pdf(double x) const {
  if (x < 0.0) return -kInf;
  if (x == 0.0) return shape < 1.0 ? kInf : (shape == 1.0 ? -std::log(scale) : -kInf);
  const double y = x / scale;
  return std::log(shape / scale) + (shape - 1.0) * std::log(y) - std::pow(y, shape);
}
double Weibull::cdf(double x) const { return x <= 0.0 ? 0.0 : -std::expm1(-std::pow(x / scale, shape)); }
double Weibull::quantile(double p) const {
  check_probability(p, "weibull quantile");
  return scale * std::pow(-std::log1p(-p), 1.0 / shape);
}
double Weibull::mean() const { return scale * std::exp(std::lgamma(1.0 + 1.0 / shape)); }
double Weibull::sample(Rng& rng) const { return scale * std::pow(-std::log(open_uniform(rng)), 1.0 / shape); }

// ---------------------------------------------------------------------------------------------
// LogNormal

void LogNormal::check() const {
  MERIDIAN_INPUT_CHECK(std::isfinite(mu), "lognormal: \"mu\" must be finite, got ", mu);
  MERIDIAN_INPUT_CHECK(sigma > 0.0 && std::isfinite(sigma), "lognormal: \"sigma\" must be positive and finite, got ",
                       sigma);
}
double LogNormal::log_pdf(double x) const {
  if (x <= 0.0) return -kInf;
  const double lx = std::log(x);
  const double z = (lx - mu) / sigma;
  return -lx - std::log(sigma) - 0.5 * std::log(2.0 * kPi) - 0.5 * z * z;
}
double LogNormal::cdf(double x) const { return x <= 0.0 ? 0.0 : normal_cdf((std::log(x) - mu) / sigma); }
double LogNormal::quantile(double p) const {
  check_probability(p, "lognormal quantile");
  return std::exp(mu + sigma * normal_quantile(p));
}
double LogNormal::mean() const { return std::exp(mu + 0.5 * sigma * sigma); }
double LogNormal::sample(Rng& rng) const { return std::exp(mu + sigma * standard_normal(rng)); }

// ---------------------------------------------------------------------------------------------
// Zipf

Zipf::Zipf(double s, std::int64_t n_max) : s_(s), n_max_(n_max) {
  MERIDIAN_INPUT_CHECK(std::isfinite(s), "zipf: \"s\" must be finite, got ", s);
  MERIDIAN_INPUT_CHECK(n_max >= 1 && n_max <= kMaxSupport, "zipf: \"n_max\" must be in [1, ", kMaxSupport, "], got ",
                       n_max);
  // Weights (k / k_ref)^-s relative to the largest one (k_ref = 1 for s >= 0, n_max for s < 0): each
  // is in (0, 1] and the one at k_ref is exactly 1, so no |s| overflows or gives inf - inf.
  log_k_ref_ = s >= 0.0 ? 0.0 : std::log(static_cast<double>(n_max));
  cdf_.resize(static_cast<std::size_t>(n_max));
  double total = 0.0, first_moment = 0.0;
  for (std::int64_t k = 1; k <= n_max; ++k) {
    const double w = std::exp(-s * (std::log(static_cast<double>(k)) - log_k_ref_));
    total += w;
    first_moment += w * static_cast<double>(k);
    cdf_[static_cast<std::size_t>(k - 1)] = total;
  }
  for (double& c : cdf_) c /= total;
  cdf_.back() = 1.0;
  log_total_ = std::log(total);
  log_h_ = log_total_ - s * log_k_ref_;  // +inf when H(s) passes the largest double (s far below 0)
  mean_ = first_moment / total;
}

double Zipf::log_pdf(double x) const {
  if (x < 1.0 || x > static_cast<double>(n_max_) || x != std::floor(x)) return -kInf;
  return -s_ * (std::log(x) - log_k_ref_) - log_total_;
}

double Zipf::cdf(double x) const {
  if (x < 1.0) return 0.0;
  if (x >= static_cast<double>(n_max_)) return 1.0;
  return cdf_[static_cast<std::size_t>(std::floor(x)) - 1];
}

double Zipf::quantile(double p) const {
  check_probability(p, "zipf quantile");
  const auto it = std::lower_bound(cdf_.begin(), cdf_.end(), p);
  return static_cast<double>(std::min<std::ptrdiff_t>(it - cdf_.begin(), n_max_ - 1) + 1);
}

double Zipf::sample(Rng& rng) const {
  const double u = rng.uniform_double();  // [0, 1): the first k with cdf(k) > u
  const auto it = std::upper_bound(cdf_.begin(), cdf_.end(), u);
  return static_cast<double>(std::min<std::ptrdiff_t>(it - cdf_.begin(), n_max_ - 1) + 1);
}

// ---------------------------------------------------------------------------------------------
// Empirical

Empirical::Empirical(std::vector<double> values, std::vector<std::uint64_t> counts)
    : values_(std::move(values)), counts_(std::move(counts)) {
  MERIDIAN_INPUT_CHECK(!values_.empty(), "empirical: \"values\" is empty");
  MERIDIAN_INPUT_CHECK(values_.size() == counts_.size(), "empirical: \"values\" has ", values_.size(),
                       " entries but \"counts\" has ", counts_.size());
  cumulative_.resize(counts_.size());
  std::uint64_t running = 0;
  for (std::size_t i = 0; i < values_.size(); ++i) {
    MERIDIAN_INPUT_CHECK(std::isfinite(values_[i]), "empirical: \"values\"[", i, "] is not finite");
    MERIDIAN_INPUT_CHECK(i == 0 || values_[i] > values_[i - 1], "empirical: \"values\" must be strictly ascending; ",
                         "entry ", i, " (", values_[i], ") is not above the one before");
    MERIDIAN_INPUT_CHECK(counts_[i] > 0, "empirical: \"counts\"[", i, "] is 0; leave the value out instead");
    running = add_count(running, counts_[i], i, "empirical");
    cumulative_[i] = running;
  }
  // Σ v·(c / total): every partial sum stays within the largest |v|, where Σ v·c could overflow
  // (values near ±1e308) and give inf - inf. Clamped against the last rounding.
  double mean = 0.0;
  for (std::size_t i = 0; i < values_.size(); ++i)
    mean += values_[i] * (static_cast<double>(counts_[i]) / static_cast<double>(running));
  mean_ = std::clamp(mean, values_.front(), values_.back());
}

Empirical Empirical::from_samples(std::span<const double> samples) {
  MERIDIAN_INPUT_CHECK(!samples.empty(), "empirical: no samples");
  std::vector<double> sorted(samples.begin(), samples.end());
  std::sort(sorted.begin(), sorted.end());
  std::vector<double> values;
  std::vector<std::uint64_t> counts;
  for (const double v : sorted) {
    if (!values.empty() && values.back() == v) {
      ++counts.back();
    } else {
      values.push_back(v);
      counts.push_back(1);
    }
  }
  return Empirical(std::move(values), std::move(counts));
}

double Empirical::log_pdf(double x) const {
  const auto it = std::lower_bound(values_.begin(), values_.end(), x);
  if (it == values_.end() || *it != x) return -kInf;
  return std::log(static_cast<double>(counts_[static_cast<std::size_t>(it - values_.begin())])) -
         std::log(static_cast<double>(total()));
}

double Empirical::cdf(double x) const {
  const auto n = static_cast<std::size_t>(std::upper_bound(values_.begin(), values_.end(), x) - values_.begin());
  return n == 0 ? 0.0 : static_cast<double>(cumulative_[n - 1]) / static_cast<double>(total());
}

double Empirical::quantile(double p) const {
  check_probability(p, "empirical quantile");
  // The smallest i with cumulative_[i] >= p * total (computed in doubles, clamped).
  const double target = p * static_cast<double>(total());
  std::size_t lo = 0, hi = values_.size() - 1;
  while (lo < hi) {
    const std::size_t mid = (lo + hi) / 2;
    if (static_cast<double>(cumulative_[mid]) >= target) hi = mid; else lo = mid + 1;
  }
  return values_[lo];
}

double Empirical::sample(Rng& rng) const { return values_[search_cumulative(cumulative_, rng.below(total()))]; }

// ---------------------------------------------------------------------------------------------
// Empirical2D

Empirical2D::Empirical2D(std::vector<std::int64_t> x, std::vector<std::int64_t> y, std::vector<std::uint64_t> counts)
    : x_(std::move(x)), y_(std::move(y)), counts_(std::move(counts)) {
  MERIDIAN_INPUT_CHECK(!x_.empty(), "empirical 2-D: \"x\" is empty");
  MERIDIAN_INPUT_CHECK(x_.size() == y_.size() && x_.size() == counts_.size(), "empirical 2-D: \"x\", \"y\" and ",
                       "\"counts\" must have equal lengths, got ", x_.size(), ", ", y_.size(), ", ", counts_.size());
  cumulative_.resize(counts_.size());
  std::uint64_t running = 0;
  for (std::size_t i = 0; i < x_.size(); ++i) {
    MERIDIAN_INPUT_CHECK(counts_[i] > 0, "empirical 2-D: \"counts\"[", i, "] is 0; leave the pair out instead");
    running = add_count(running, counts_[i], i, "empirical 2-D");
    cumulative_[i] = running;
  }
}

Empirical2D Empirical2D::from_pairs(std::span<const std::int64_t> x, std::span<const std::int64_t> y) {
  MERIDIAN_INPUT_CHECK(!x.empty() && x.size() == y.size(), "empirical 2-D: need equally long, non-empty x and y, got ",
                       x.size(), " and ", y.size());
  std::vector<std::pair<std::int64_t, std::int64_t>> pairs(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) pairs[i] = {x[i], y[i]};
  std::sort(pairs.begin(), pairs.end());
  std::vector<std::int64_t> ux, uy;
  std::vector<std::uint64_t> counts;
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    if (i > 0 && pairs[i] == pairs[i - 1]) {
      ++counts.back();
    } else {
      ux.push_back(pairs[i].first);
      uy.push_back(pairs[i].second);
      counts.push_back(1);
    }
  }
  return Empirical2D(std::move(ux), std::move(uy), std::move(counts));
}

std::pair<std::int64_t, std::int64_t> Empirical2D::sample(Rng& rng) const {
  const std::size_t i = search_cumulative(cumulative_, rng.below(total()));
  return {x_[i], y_[i]};
}

nlohmann::json Empirical2D::to_json() const { return nlohmann::json{{"x", x_}, {"y", y_}, {"counts", counts_}}; }

Empirical2D Empirical2D::from_json(const nlohmann::json& json) {
  MERIDIAN_INPUT_CHECK(json.is_object(), "empirical 2-D JSON: expected an object with \"x\", \"y\" and \"counts\", got ",
                       json.dump().substr(0, 200));
  auto field = [&](const char* name) -> const nlohmann::json& {
    MERIDIAN_INPUT_CHECK(json.contains(name) && json.at(name).is_array(), "empirical 2-D JSON: field \"", name,
                         "\" is missing or not an array");
    return json.at(name);
  };
  auto x = checked_json_integers<std::int64_t>(field("x"), "empirical 2-D JSON: \"x\"");
  auto y = checked_json_integers<std::int64_t>(field("y"), "empirical 2-D JSON: \"y\"");
  auto counts = checked_json_integers<std::uint64_t>(field("counts"), "empirical 2-D JSON: \"counts\"");
  return Empirical2D(std::move(x), std::move(y), std::move(counts));
}

// ---------------------------------------------------------------------------------------------
// Family names

const char* family_name(Family family) {
  switch (family) {
    case Family::exponential: return "exponential";
    case Family::gamma: return "gamma";
    case Family::weibull: return "weibull";
    case Family::lognormal: return "lognormal";
    case Family::zipf: return "zipf";
    case Family::empirical: return "empirical";
  }
  return "?";
}

Family parse_family(const std::string& name) {
  for (const Family f : {Family::exponential, Family::gamma, Family::weibull, Family::lognormal, Family::zipf,
                         Family::empirical}) {
    if (name == family_name(f)) return f;
  }
  throw InputError(cat("unknown distribution family \"", name,
                       "\"; known: exponential, gamma, weibull, lognormal, zipf, empirical"));
}

bool is_discrete(Family family) { return family == Family::zipf || family == Family::empirical; }

std::vector<Family> continuous_families() {
  return {Family::exponential, Family::gamma, Family::weibull, Family::lognormal};
}

// ---------------------------------------------------------------------------------------------
// Distribution

Distribution::Distribution(Exponential d) : value_(d) { d.check(); }
Distribution::Distribution(Gamma d) : value_(d) { d.check(); }
Distribution::Distribution(Weibull d) : value_(d) { d.check(); }
Distribution::Distribution(LogNormal d) : value_(d) { d.check(); }
Distribution::Distribution(Zipf d) : value_(std::move(d)) {}
Distribution::Distribution(Empirical d) : value_(std::move(d)) {}

int Distribution::parameter_count() const {
  switch (family()) {
    case Family::exponential: return 1;
    case Family::empirical: return static_cast<int>(as<Empirical>().values().size()) - 1;
    default: return 2;
  }
}

double Distribution::log_pdf(double x) const {
  return std::visit([x](const auto& d) { return d.log_pdf(x); }, value_);
}
double Distribution::cdf(double x) const {
  return std::visit([x](const auto& d) { return d.cdf(x); }, value_);
}
double Distribution::quantile(double p) const {
  return std::visit([p](const auto& d) { return d.quantile(p); }, value_);
}
double Distribution::mean() const {
  return std::visit([](const auto& d) { return d.mean(); }, value_);
}
double Distribution::sample(Rng& rng) const {
  return std::visit([&rng](const auto& d) { return d.sample(rng); }, value_);
}

std::string Distribution::describe() const {
  std::ostringstream os;
  os.precision(4);
  os << family_name(family()) << '(';
  switch (family()) {
    case Family::exponential: os << "rate=" << as<Exponential>().rate; break;
    case Family::gamma: os << "shape=" << as<Gamma>().shape << ", scale=" << as<Gamma>().scale; break;
    case Family::weibull: os << "shape=" << as<Weibull>().shape << ", scale=" << as<Weibull>().scale; break;
    case Family::lognormal: os << "mu=" << as<LogNormal>().mu << ", sigma=" << as<LogNormal>().sigma; break;
    case Family::zipf: os << "s=" << as<Zipf>().exponent() << ", n_max=" << as<Zipf>().n_max(); break;
    case Family::empirical:
      os << as<Empirical>().values().size() << " values, " << as<Empirical>().total() << " samples";
      break;
  }
  os << ')';
  return os.str();
}

nlohmann::json Distribution::to_json() const {
  nlohmann::json j{{"family", family_name(family())}};
  switch (family()) {
    case Family::exponential: j["rate"] = as<Exponential>().rate; break;
    case Family::gamma:
      j["shape"] = as<Gamma>().shape;
      j["scale"] = as<Gamma>().scale;
      break;
    case Family::weibull:
      j["shape"] = as<Weibull>().shape;
      j["scale"] = as<Weibull>().scale;
      break;
    case Family::lognormal:
      j["mu"] = as<LogNormal>().mu;
      j["sigma"] = as<LogNormal>().sigma;
      break;
    case Family::zipf:
      j["s"] = as<Zipf>().exponent();
      j["n_max"] = as<Zipf>().n_max();
      break;
    case Family::empirical:
      j["values"] = as<Empirical>().values();
      j["counts"] = as<Empirical>().counts();
      break;
  }
  return j;
}

Distribution Distribution::from_json(const nlohmann::json& json) {
  MERIDIAN_INPUT_CHECK(json.is_object() && json.contains("family") && json.at("family").is_string(),
                       "distribution JSON: expected an object with a string field \"family\", got ",
                       json.dump().substr(0, 200));
  const Family family = parse_family(json.at("family").get<std::string>());
  const char* fname = family_name(family);
  auto number = [&](const char* name) {
    MERIDIAN_INPUT_CHECK(json.contains(name) && json.at(name).is_number(), "distribution JSON (", fname,
                         "): field \"", name, "\" is missing or not a number in ", json.dump().substr(0, 200));
    return json.at(name).get<double>();
  };
  switch (family) {
    case Family::exponential: return Distribution(Exponential{number("rate")});
    case Family::gamma: return Distribution(Gamma{number("shape"), number("scale")});
    case Family::weibull: return Distribution(Weibull{number("shape"), number("scale")});
    case Family::lognormal: return Distribution(LogNormal{number("mu"), number("sigma")});
    case Family::zipf: {
      const double s = number("s");
      MERIDIAN_INPUT_CHECK(json.contains("n_max") && json.at("n_max").is_number_integer(),
                           "distribution JSON (zipf): field \"n_max\" is missing or not an integer");
      return Distribution(Zipf(s, json.at("n_max").get<std::int64_t>()));
    }
    case Family::empirical: {
      for (const char* name : {"values", "counts"}) {
        MERIDIAN_INPUT_CHECK(json.contains(name) && json.at(name).is_array(), "distribution JSON (empirical): field \"",
                             name, "\" is missing or not an array");
      }
      try {
        auto values = json.at("values").get<std::vector<double>>();
        auto counts = checked_json_integers<std::uint64_t>(json.at("counts"),
                                                           "distribution JSON (empirical): \"counts\"");
        return Distribution(Empirical(std::move(values), std::move(counts)));
      } catch (const nlohmann::json::exception& e) {
        throw InputError(cat("distribution JSON (empirical): \"values\" must be numbers (", e.what(), ")"));
      }
    }
  }
  throw InputError("distribution JSON: unreachable family");
}

}  // namespace meridian::trace
