// Maximum-likelihood fits (exponential, lognormal, gamma, Weibull, Zipf, empirical), AIC selection,
// per-window and length fits, failure statistics, and the WorkloadModel with its JSON.
#include "trace/fit.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <type_traits>

#include "core/json_integer.hpp"
#include "kernels/common/error.hpp"

namespace meridian::trace {

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr std::int64_t kCountingLimit = std::int64_t{1} << 24;

// One pass over a positive sample: sums of x and ln x, the logs themselves (the Weibull solver
// reuses them) and the centred second moment of ln x (second pass over the logs).
struct PositiveSample {
  std::size_t n = 0;
  double sum = 0.0;
  double sum_log = 0.0;
  double log_max = -kInf;
  double log_m2 = 0.0;  // sum (ln x - mean ln x)^2
  std::vector<double> logs;
  double mean() const { return sum / static_cast<double>(n); }
  double log_mean() const { return sum_log / static_cast<double>(n); }
};

// InputError naming the first sample that is not positive and finite.
void check_positive(std::span<const double> x, const char* who) {
  MERIDIAN_INPUT_CHECK(!x.empty(), who, ": the sample is empty");
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double v = x[i];
    if (v > 0.0 && v < kInf) continue;
    if (v == 0.0) {
      throw InputError(cat(who, ": sample ", i, " of ", x.size(), " is 0, which has zero density; inter-arrival ",
                           "times of integer-second timestamps tie: jitter them first (jitter_integer_times(times, ",
                           "seed) or ZeroPolicy::jitter), or drop the zeros (ZeroPolicy::drop)"));
    }
    throw InputError(cat(who, ": sample ", i, " of ", x.size(), " is ", v,
                         "; samples must be positive and finite (are the times sorted?)"));
  }
}

PositiveSample summarize(std::span<const double> x, const char* who) {
  check_positive(x, who);
  PositiveSample s;
  s.n = x.size();
  s.logs.resize(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double l = std::log(x[i]);
    s.logs[i] = l;
    s.sum += x[i];
    s.sum_log += l;
    s.log_max = std::max(s.log_max, l);
  }
  const double m = s.log_mean();
  for (const double l : s.logs) s.log_m2 += (l - m) * (l - m);
  return s;
}

Fit make_fit(Distribution d, double log_likelihood, std::size_t n) {
  Fit f;
  f.n = n;
  f.log_likelihood = log_likelihood;
  f.aic = 2.0 * d.parameter_count() - 2.0 * log_likelihood;
  f.distribution = std::move(d);
  return f;
}

Fit exponential_from(const PositiveSample& s) {
  const double n = static_cast<double>(s.n);
  const double rate = n / s.sum;
  return make_fit(Exponential{rate}, n * std::log(rate) - n, s.n);
}

Fit lognormal_from(const PositiveSample& s) {
  const double n = static_cast<double>(s.n);
  const double sigma = std::sqrt(s.log_m2 / n);
  MERIDIAN_INPUT_CHECK(sigma > 0.0, "fit lognormal: all ", s.n, " samples are equal; no spread to fit");
  const double ll = -s.sum_log - n * std::log(sigma) - 0.5 * n * std::log(2.0 * kPi) - 0.5 * n;
  return make_fit(LogNormal{s.log_mean(), sigma}, ll, s.n);
}

Fit gamma_from(const PositiveSample& s) {
  const double n = static_cast<double>(s.n);
  const double mean = s.mean();
  const double target = std::log(mean) - s.log_mean();  // >= 0 by Jensen, 0 only for constant data
  MERIDIAN_INPUT_CHECK(target > 1e-14 && s.log_m2 > 0.0, "fit gamma: the ", s.n,
                       " samples are (nearly) all equal; no spread to fit a shape to");
  double k = (3.0 - target + std::sqrt((target - 3.0) * (target - 3.0) + 24.0 * target)) / (12.0 * target);
  for (int it = 0; it < 100; ++it) {
    const double f = std::log(k) - digamma(k) - target;
    const double df = 1.0 / k - trigamma(k);  // < 0
    double next = k - f / df;
    if (!(next > 0.0) || !std::isfinite(next)) next = 0.5 * k;
    const bool done = std::fabs(next - k) <= 1e-13 * k;
    k = next;
    if (done) break;
  }
  const double scale = mean / k;
  const double ll = (k - 1.0) * s.sum_log - n * k - n * k * std::log(scale) - n * std::lgamma(k);
  return make_fit(Gamma{k, scale}, ll, s.n);
}

Fit weibull_from(const PositiveSample& s) {
  const double n = static_cast<double>(s.n);
  const double sd = std::sqrt(s.log_m2 / n);
  MERIDIAN_INPUT_CHECK(sd > 0.0, "fit weibull: all ", s.n, " samples are equal; no spread to fit a shape to");
  // With y = ln x - max ln x <= 0 (no overflow in e^{k y}) and A_j = sum y^j e^{k y}:
  //   g(k) = A1/A0 - 1/k - mean(y) = 0,   g'(k) = A2/A0 - (A1/A0)^2 + 1/k^2 > 0.
  const double y_mean = s.log_mean() - s.log_max;
  double a0 = 0.0;
  auto evaluate = [&](double k, double& g, double& dg) {
    double s0 = 0.0, s1 = 0.0, s2 = 0.0;
    for (const double l : s.logs) {
      const double y = l - s.log_max;
      const double w = std::exp(k * y);
      s0 += w;
      s1 += w * y;
      s2 += w * y * y;
    }
    const double m1 = s1 / s0;
    g = m1 - 1.0 / k - y_mean;
    dg = s2 / s0 - m1 * m1 + 1.0 / (k * k);
    a0 = s0;
  };
  double k = kPi / (std::sqrt(6.0) * sd);
  double lo = 0.0, hi = kInf;
  for (int it = 0; it < 200; ++it) {
    double g = 0.0, dg = 0.0;
    evaluate(k, g, dg);
    if (g == 0.0) break;
    if (g < 0.0) lo = k; else hi = k;
    double next = k - g / dg;
    if (!(next > lo && next < hi) || !std::isfinite(next)) next = std::isinf(hi) ? 2.0 * k : 0.5 * (lo + hi);
    if (std::fabs(next - k) <= 1e-13 * k) {
      k = next;
      break;
    }
    k = next;
  }
  double g = 0.0, dg = 0.0;
  evaluate(k, g, dg);  // a0 at the final k
  // scale^k = (1/n) sum x^k  =>  ln scale = max ln x + (ln A0 - ln n) / k; then sum (x/scale)^k = n.
  const double log_scale = s.log_max + (std::log(a0) - std::log(n)) / k;
  const double ll = n * std::log(k) - n * k * log_scale + (k - 1.0) * s.sum_log - n;
  return make_fit(Weibull{k, std::exp(log_scale)}, ll, s.n);
}

// Zipf MLE from the sufficient statistics: n, sum ln x and n_max.
Fit zipf_from(std::size_t count, double sum_log, std::int64_t n_max) {
  MERIDIAN_INPUT_CHECK(n_max <= Zipf::kMaxSupport, "fit zipf: the largest value ", n_max, " exceeds the supported ",
                       Zipf::kMaxSupport);
  const double n = static_cast<double>(count);
  const double target = sum_log / n;  // mean ln x, in [0, ln n_max]
  const double log_n_max = std::log(static_cast<double>(n_max));
  MERIDIAN_INPUT_CHECK(n_max > 1 && target > 0.0 && target < log_n_max * (1.0 - 1e-12), "fit zipf: all ", count,
                       " samples are equal (", n_max, "); no exponent to fit");
  std::vector<double> log_k(static_cast<std::size_t>(n_max));
  for (std::int64_t k = 1; k <= n_max; ++k) log_k[static_cast<std::size_t>(k - 1)] = std::log(static_cast<double>(k));
  // E_s[ln K] decreases in s; solve E_s[ln K] = target (the score equation) by Newton with
  // dE/ds = -Var_s[ln K], inside a bracket that grows outward until it holds the root.
  auto moments = [&](double s, double& e, double& var) {
    const double ref = s >= 0.0 ? 0.0 : log_n_max;
    double w0 = 0.0, w1 = 0.0, w2 = 0.0;
    for (const double l : log_k) {
      const double w = std::exp(-s * (l - ref));
      w0 += w;
      w1 += w * l;
      w2 += w * l * l;
    }
    e = w1 / w0;
    var = std::max(w2 / w0 - e * e, 0.0);
  };
  double s = 1.0, lo = -kInf, hi = kInf;
  for (int it = 0; it < 200; ++it) {
    double e = 0.0, var = 0.0;
    moments(s, e, var);
    const double h = e - target;
    if (h == 0.0) break;
    if (h > 0.0) lo = s; else hi = s;  // mean ln K too large: the exponent must grow
    double next = var > 0.0 ? s + h / var : kInf;
    if (!(next > lo && next < hi) || !std::isfinite(next)) {
      if (std::isinf(hi)) next = s + std::max(1.0, std::fabs(s));
      else if (std::isinf(lo)) next = s - std::max(1.0, std::fabs(s));
      else next = 0.5 * (lo + hi);
    }
    if (std::fabs(next - s) <= 1e-12 * std::max(1.0, std::fabs(s))) {
      s = next;
      break;
    }
    s = next;
  }
  Zipf z(s, n_max);
  const double ll = -s * sum_log - n * z.log_normalizer();
  return make_fit(Distribution(std::move(z)), ll, count);
}

// Whether every value is a non-negative integer no larger than kCountingLimit (then the maximum).
bool small_integers(std::span<const double> x, std::int64_t& max_value) {
  max_value = 0;
  for (const double v : x) {
    if (!(v >= 0.0 && v <= static_cast<double>(kCountingLimit)) || v != std::floor(v)) return false;
    max_value = std::max(max_value, static_cast<std::int64_t>(v));
  }
  return true;
}

Fit empirical_from_table(std::vector<double> values, std::vector<std::uint64_t> counts, std::size_t n) {
  double ll = 0.0;
  const double log_n = std::log(static_cast<double>(n));
  for (const std::uint64_t c : counts) ll += static_cast<double>(c) * (std::log(static_cast<double>(c)) - log_n);
  return make_fit(Distribution(Empirical(std::move(values), std::move(counts))), ll, n);
}

std::vector<std::pair<std::string, double>> aic_table(const std::vector<Fit>& fits) {
  std::vector<std::pair<std::string, double>> table;
  for (const Fit& f : fits) table.emplace_back(family_name(f.distribution.family()), f.aic);
  return table;
}

}  // namespace

nlohmann::json Fit::to_json() const {
  return nlohmann::json{
      {"distribution", distribution.to_json()}, {"log_likelihood", log_likelihood}, {"aic", aic}, {"n", n}};
}

// ---------------------------------------------------------------------------------------------
// Zeros and gaps

const char* zero_policy_name(ZeroPolicy policy) {
  switch (policy) {
    case ZeroPolicy::reject: return "reject";
    case ZeroPolicy::drop: return "drop";
    case ZeroPolicy::jitter: return "jitter";
  }
  return "?";
}

namespace {
ZeroPolicy parse_zero_policy(const std::string& name) {
  for (const ZeroPolicy p : {ZeroPolicy::reject, ZeroPolicy::drop, ZeroPolicy::jitter}) {
    if (name == zero_policy_name(p)) return p;
  }
  throw InputError(cat("workload model JSON: \"zeros\" is \"", name, "\"; expected reject, drop or jitter"));
}
}  // namespace

bool all_integer_times(std::span<const double> times_s) {
  return std::all_of(times_s.begin(), times_s.end(), [](double t) { return t == std::floor(t); });
}

std::vector<double> jitter_integer_times(std::span<const double> times_s, std::uint64_t seed, std::uint64_t stream) {
  Rng rng(seed, stream);
  std::vector<double> out(times_s.size());
  std::vector<double> spacing;
  std::size_t i = 0;
  while (i < times_s.size()) {
    const double t = times_s[i];
    MERIDIAN_INPUT_CHECK(t >= 0.0 && t == std::floor(t) && std::isfinite(t), "jitter_integer_times: time ", i, " is ",
                         t, "; expected whole non-negative seconds (sub-second times need no jitter)");
    MERIDIAN_INPUT_CHECK(i == 0 || t >= times_s[i - 1], "jitter_integer_times: time ", i, " (", t,
                         ") is before the one before it; sort the trace by time");
    std::size_t j = i;
    while (j < times_s.size() && times_s[j] == t) ++j;
    // m sorted uniforms in (0, 1): cumulative sums of m + 1 exponentials, over their total.
    const std::size_t m = j - i;
    spacing.resize(m + 1);
    double total = 0.0;
    for (std::size_t r = 0; r <= m; ++r) {
      total += -std::log(1.0 - rng.uniform_double());
      spacing[r] = total;
    }
    for (std::size_t r = 0; r < m; ++r) out[i + r] = t + spacing[r] / total;
    i = j;
  }
  return out;
}

std::vector<double> inter_arrival_times(std::span<const double> times_s, ZeroPolicy zeros, std::size_t* dropped) {
  std::vector<double> gaps;
  gaps.reserve(times_s.empty() ? 0 : times_s.size() - 1);
  std::size_t zero_count = 0;
  for (std::size_t i = 1; i < times_s.size(); ++i) {
    const double g = times_s[i] - times_s[i - 1];
    MERIDIAN_INPUT_CHECK(g >= 0.0, "inter-arrival times: time ", i, " (", times_s[i], ") is before time ", i - 1, " (",
                         times_s[i - 1], "); sort the trace by time");
    if (g == 0.0 && zeros == ZeroPolicy::drop) {
      ++zero_count;
      continue;
    }
    gaps.push_back(g);
  }
  if (dropped != nullptr) *dropped = zero_count;
  return gaps;
}

// ---------------------------------------------------------------------------------------------
// Single-family fits

Fit fit_exponential(std::span<const double> x) { return exponential_from(summarize(x, "fit exponential")); }
Fit fit_lognormal(std::span<const double> x) { return lognormal_from(summarize(x, "fit lognormal")); }
Fit fit_gamma(std::span<const double> x) { return gamma_from(summarize(x, "fit gamma")); }
Fit fit_weibull(std::span<const double> x) { return weibull_from(summarize(x, "fit weibull")); }

Fit fit_zipf(std::span<const double> x) {
  check_positive(x, "fit zipf");
  double sum_log = 0.0;
  double max_value = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    MERIDIAN_INPUT_CHECK(x[i] == std::floor(x[i]), "fit zipf: sample ", i, " is ", x[i],
                         "; Zipf is for positive integers (token counts)");
    sum_log += std::log(x[i]);
    max_value = std::max(max_value, x[i]);
  }
  MERIDIAN_INPUT_CHECK(max_value <= static_cast<double>(Zipf::kMaxSupport), "fit zipf: the largest value ", max_value,
                       " exceeds the supported ", Zipf::kMaxSupport);
  return zipf_from(x.size(), sum_log, static_cast<std::int64_t>(max_value));
}

Fit fit_empirical(std::span<const double> x) {
  MERIDIAN_INPUT_CHECK(!x.empty(), "fit empirical: the sample is empty");
  for (std::size_t i = 0; i < x.size(); ++i) {
    MERIDIAN_INPUT_CHECK(std::isfinite(x[i]), "fit empirical: sample ", i, " is not finite");
  }
  std::int64_t max_value = 0;
  std::vector<double> values;
  std::vector<std::uint64_t> counts;
  if (small_integers(x, max_value)) {
    std::vector<std::uint64_t> histogram(static_cast<std::size_t>(max_value) + 1, 0);
    for (const double v : x) ++histogram[static_cast<std::size_t>(v)];
    for (std::size_t v = 0; v < histogram.size(); ++v) {
      if (histogram[v] == 0) continue;
      values.push_back(static_cast<double>(v));
      counts.push_back(histogram[v]);
    }
    return empirical_from_table(std::move(values), std::move(counts), x.size());
  }
  const Empirical e = Empirical::from_samples(x);
  return empirical_from_table(e.values(), e.counts(), x.size());
}

Fit fit_family(Family family, std::span<const double> x) {
  switch (family) {
    case Family::exponential: return fit_exponential(x);
    case Family::gamma: return fit_gamma(x);
    case Family::weibull: return fit_weibull(x);
    case Family::lognormal: return fit_lognormal(x);
    case Family::zipf: return fit_zipf(x);
    case Family::empirical: return fit_empirical(x);
  }
  throw InputError("fit_family: unknown family");
}

Fit fit_best(std::span<const double> samples, std::span<const Family> families, std::vector<Fit>* all) {
  MERIDIAN_INPUT_CHECK(!families.empty(), "fit_best: no families to choose from");
  const bool needs_positive = std::any_of(families.begin(), families.end(), [](Family f) { return f != Family::empirical; });
  // Validate once so that a zero or negative sample is an error, never a silently skipped family.
  std::optional<PositiveSample> summary;
  if (needs_positive) summary = summarize(samples, "fit_best");
  std::vector<Fit> fits;
  std::string reasons;
  for (const Family family : families) {
    try {
      switch (family) {
        case Family::exponential: fits.push_back(exponential_from(*summary)); break;
        case Family::gamma: fits.push_back(gamma_from(*summary)); break;
        case Family::weibull: fits.push_back(weibull_from(*summary)); break;
        case Family::lognormal: fits.push_back(lognormal_from(*summary)); break;
        case Family::zipf: fits.push_back(fit_zipf(samples)); break;
        case Family::empirical: fits.push_back(fit_empirical(samples)); break;
      }
    } catch (const InputError& e) {
      reasons += cat(reasons.empty() ? "" : "; ", e.what());
    }
  }
  MERIDIAN_INPUT_CHECK(!fits.empty(), "fit_best: no family fits the ", samples.size(), " samples: ", reasons);
  std::size_t best = 0;
  for (std::size_t i = 1; i < fits.size(); ++i) {
    if (fits[i].aic < fits[best].aic) best = i;
  }
  Fit chosen = fits[best];
  if (all != nullptr) *all = std::move(fits);
  return chosen;
}

// ---------------------------------------------------------------------------------------------
// Windows

std::vector<WindowFit> fit_windows(std::span<const double> times_s, double window_s, std::span<const Family> families,
                                   std::size_t min_gaps) {
  MERIDIAN_INPUT_CHECK(window_s > 0.0 && std::isfinite(window_s), "fit_windows: window_s must be positive, got ",
                       window_s);
  MERIDIAN_INPUT_CHECK(min_gaps >= 2, "fit_windows: min_gaps must be at least 2, got ", min_gaps);
  std::vector<WindowFit> windows;
  if (times_s.empty()) return windows;
  MERIDIAN_INPUT_CHECK(times_s.front() >= 0.0, "fit_windows: times start at ", times_s.front(),
                       "; expected seconds since the trace start (>= 0)");
  const auto count = static_cast<std::size_t>(std::floor(times_s.back() / window_s)) + 1;
  windows.resize(count);
  std::vector<double> gaps;
  std::size_t i = 0;
  for (std::size_t w = 0; w < count; ++w) {
    WindowFit& win = windows[w];
    win.start_s = static_cast<double>(w) * window_s;
    const double end_s = static_cast<double>(w + 1) * window_s;
    gaps.clear();
    const std::size_t first = i;
    while (i < times_s.size() && (times_s[i] < end_s || w + 1 == count)) {
      MERIDIAN_INPUT_CHECK(i == 0 || times_s[i] >= times_s[i - 1], "fit_windows: time ", i, " (", times_s[i],
                           ") is before the one before it; sort the trace by time");
      if (i > 0) gaps.push_back(times_s[i] - times_s[i - 1]);
      ++i;
    }
    win.arrivals = i - first;
    win.gaps = gaps.size();
    win.rate_per_s = static_cast<double>(win.arrivals) / window_s;
    if (gaps.size() >= min_gaps) {
      win.fit = fit_best(gaps, families);
      win.fitted = true;
    }
  }
  return windows;
}

// ---------------------------------------------------------------------------------------------
// Lengths

std::vector<Family> default_length_families() { return {Family::zipf, Family::lognormal, Family::empirical}; }

LengthFit fit_lengths(std::span<const std::int32_t> tokens, std::span<const Family> families) {
  LengthFit out;
  std::vector<double> values;
  values.reserve(tokens.size());
  for (const std::int32_t t : tokens) {
    if (t >= 1) values.push_back(static_cast<double>(t)); else ++out.dropped;
  }
  MERIDIAN_INPUT_CHECK(!values.empty(), "fit_lengths: none of the ", tokens.size(), " lengths is >= 1");
  out.best = fit_best(values, families, &out.fits);
  return out;
}

LengthFit fit_lengths(std::span<const std::int32_t> tokens) {
  const std::vector<Family> families = default_length_families();
  return fit_lengths(tokens, families);
}

// ---------------------------------------------------------------------------------------------
// Failures

std::vector<FailureRate> failure_rates(const RequestTrace& trace) {
  std::vector<FailureRate> rates(trace.models.size());
  for (std::size_t m = 0; m < rates.size(); ++m) rates[m].model = trace.models[m];
  for (std::size_t i = 0; i < trace.size(); ++i) {
    const std::size_t m = trace.model.empty() ? 0 : trace.model[i];
    if (m >= rates.size()) rates.resize(m + 1);
    ++rates[m].requests;
    if (trace.response_tokens[i] == 0) ++rates[m].failures;
  }
  for (FailureRate& r : rates) {
    r.probability = r.requests == 0 ? 0.0 : static_cast<double>(r.failures) / static_cast<double>(r.requests);
  }
  return rates;
}

FailureIntervalFit fit_failure_intervals(const std::vector<std::vector<double>>& failure_times_s, ZeroPolicy zeros) {
  MERIDIAN_INPUT_CHECK(zeros != ZeroPolicy::jitter, "fit_failure_intervals: jitter is for integer-second request ",
                       "times; use reject or drop for failure logs");
  FailureIntervalFit out;
  out.nodes = failure_times_s.size();
  std::vector<double> intervals;
  for (std::size_t node = 0; node < failure_times_s.size(); ++node) {
    const auto& times = failure_times_s[node];
    out.failures += times.size();
    for (std::size_t i = 1; i < times.size(); ++i) {
      const double g = times[i] - times[i - 1];
      MERIDIAN_INPUT_CHECK(g >= 0.0, "fit_failure_intervals: node ", node, ": failure ", i, " (", times[i],
                           " s) is before the one before it; sort each node's failure times");
      if (g == 0.0 && zeros == ZeroPolicy::drop) {
        ++out.zeros_dropped;
        continue;
      }
      intervals.push_back(g);
    }
  }
  MERIDIAN_INPUT_CHECK(intervals.size() >= 2, "fit_failure_intervals: need at least 2 intervals between failures of ",
                       "the same node, got ", intervals.size());
  const PositiveSample s = summarize(intervals, "fit_failure_intervals");
  out.intervals = s.n;
  out.mean_interval_s = s.mean();
  out.exponential = exponential_from(s);
  out.weibull = weibull_from(s);
  out.best = out.weibull.aic < out.exponential.aic ? Family::weibull : Family::exponential;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Workload model

const char* group_by_name(GroupBy group_by) {
  switch (group_by) {
    case GroupBy::all: return "all";
    case GroupBy::model: return "model";
    case GroupBy::model_and_log_type: return "model_and_log_type";
  }
  return "?";
}

GroupBy parse_group_by(const std::string& name) {
  for (const GroupBy g : {GroupBy::all, GroupBy::model, GroupBy::model_and_log_type}) {
    if (name == group_by_name(g)) return g;
  }
  throw InputError(cat("unknown group_by \"", name, "\"; expected all, model or model_and_log_type"));
}

const char* log_type_label(LogType type) {
  switch (type) {
    case LogType::unknown: return "unknown";
    case LogType::conversation: return "conversation";
    case LogType::api: return "api";
  }
  return "unknown";
}

namespace {

nlohmann::json aic_json(const std::vector<std::pair<std::string, double>>& table) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [name, aic] : table) j[name] = aic;
  return j;
}

// Field access for WorkloadModel::from_json: InputError naming the path of a missing or mistyped field.
// `document` names the file kind in messages.
const nlohmann::json& field(const nlohmann::json& j, const char* name, const std::string& where,
                            const char* document = "workload model JSON") {
  MERIDIAN_INPUT_CHECK(j.is_object() && j.contains(name), document, ": ", where, " has no field \"", name, "\"");
  return j.at(name);
}

template <class T>
T get_field(const nlohmann::json& j, const char* name, const std::string& where,
            const char* document = "workload model JSON") {
  const nlohmann::json& v = field(j, name, where, document);
  if constexpr (std::is_integral_v<T>) {
    return checked_json_integer<T>(v, cat(document, ": field \"", name, "\" of ", where));
  } else {
    try {
      return v.get<T>();
    } catch (const nlohmann::json::exception& e) {
      throw InputError(
          cat(document, ": field \"", name, "\" of ", where, " has the wrong type (", e.what(), ")"));
    }
  }
}

Distribution get_distribution(const nlohmann::json& j, const char* name, const std::string& where) {
  const nlohmann::json& v = field(j, name, where);
  try {
    return Distribution::from_json(v);
  } catch (const InputError& e) {
    throw InputError(cat("workload model JSON: field \"", name, "\" of ", where, ": ", e.what()));
  }
}

std::vector<std::pair<std::string, double>> get_aic(const nlohmann::json& j, const char* name) {
  std::vector<std::pair<std::string, double>> table;
  if (!j.is_object() || !j.contains(name) || !j.at(name).is_object()) return table;
  for (const auto& [family, aic] : j.at(name).items()) {
    if (aic.is_number()) table.emplace_back(family, aic.get<double>());
  }
  return table;
}

// Exactly m of the n indices, uniformly, in increasing order (selection sampling, one pass).
std::vector<std::size_t> choose_indices(std::size_t n, std::size_t m, Rng& rng) {
  std::vector<std::size_t> chosen;
  if (m >= n) {
    chosen.resize(n);
    std::iota(chosen.begin(), chosen.end(), std::size_t{0});
    return chosen;
  }
  chosen.reserve(m);
  for (std::size_t i = 0; i < n && chosen.size() < m; ++i) {
    const double remaining = static_cast<double>(n - i);
    const double needed = static_cast<double>(m - chosen.size());
    if (remaining * rng.uniform_double() < needed) chosen.push_back(i);
  }
  return chosen;
}

// Rows of one class, gathered in one pass over the trace.
struct ClassRows {
  std::string model;
  std::string log_type;
  std::vector<double> times;
  std::vector<std::int32_t> request;
  std::vector<std::int32_t> response;
};

}  // namespace

constexpr const char* kLinkModelJson = "link model JSON";

nlohmann::json BandwidthModel::to_json() const {
  return nlohmann::json{{"format", "meridian-link-model"}, {"version", 1},       {"mean_bps", mean_bps},
                        {"sigma", sigma},                  {"rho", rho},         {"step_s", step_s},
                        {"samples", samples},              {"outages", outages}};
}

BandwidthModel BandwidthModel::from_json(const nlohmann::json& json) {
  MERIDIAN_INPUT_CHECK(json.is_object(), "link model JSON: expected an object, got ", json.dump().substr(0, 200));
  const auto format = get_field<std::string>(json, "format", "the top level", kLinkModelJson);
  MERIDIAN_INPUT_CHECK(format == "meridian-link-model", "link model JSON: \"format\" is \"", format,
                       "\"; expected \"meridian-link-model\" (written by tracegen fit-bandwidth)");
  const int version = get_field<int>(json, "version", "the top level", kLinkModelJson);
  MERIDIAN_INPUT_CHECK(version == 1, "link model JSON: \"version\" is ", version, "; this build reads version 1");
  BandwidthModel m;
  m.mean_bps = get_field<double>(json, "mean_bps", "the top level", kLinkModelJson);
  m.sigma = get_field<double>(json, "sigma", "the top level", kLinkModelJson);
  m.rho = get_field<double>(json, "rho", "the top level", kLinkModelJson);
  m.step_s = get_field<double>(json, "step_s", "the top level", kLinkModelJson);
  m.samples = get_field<std::size_t>(json, "samples", "the top level", kLinkModelJson);
  m.outages = get_field<std::size_t>(json, "outages", "the top level", kLinkModelJson);
  MERIDIAN_INPUT_CHECK(m.mean_bps > 0 && std::isfinite(m.mean_bps) && m.sigma >= 0 && std::isfinite(m.sigma) &&
                           m.rho >= 0 && m.rho < 1 && m.step_s > 0 && std::isfinite(m.step_s),
                       "link model JSON: mean_bps ", m.mean_bps, ", sigma ", m.sigma, ", rho ", m.rho, ", step_s ",
                       m.step_s, ": expected mean_bps > 0, sigma >= 0, 0 <= rho < 1, step_s > 0");
  return m;
}

BandwidthModel fit_bandwidth(std::span<const double> time_s, std::span<const double> bandwidth_bps) {
  MERIDIAN_INPUT_CHECK(time_s.size() == bandwidth_bps.size(), "fit_bandwidth: ", time_s.size(), " times but ",
                       bandwidth_bps.size(), " bandwidths");
  BandwidthModel m;
  std::vector<double> logs;
  std::vector<std::size_t> index;  // of each positive sample in the series
  double sum = 0.0;
  for (std::size_t i = 0; i < bandwidth_bps.size(); ++i) {
    const double b = bandwidth_bps[i];
    MERIDIAN_INPUT_CHECK(b >= 0 && std::isfinite(b), "fit_bandwidth: sample ", i, " is ", b,
                         " bit/s; bandwidths are finite and >= 0");
    if (b == 0.0) {
      ++m.outages;
      continue;
    }
    sum += b;
    logs.push_back(std::log(b));
    index.push_back(i);
  }
  m.samples = logs.size();
  MERIDIAN_INPUT_CHECK(m.samples >= 3, "fit_bandwidth: ", m.samples, " positive samples (", m.outages,
                       " outages); a fit needs at least 3");
  const double n = static_cast<double>(m.samples);
  m.mean_bps = sum / n;
  const double mu = std::accumulate(logs.begin(), logs.end(), 0.0) / n;
  double var = 0.0, cov = 0.0;
  std::size_t pairs = 0;
  for (std::size_t k = 0; k < logs.size(); ++k) {
    var += (logs[k] - mu) * (logs[k] - mu);
    if (k > 0 && index[k] == index[k - 1] + 1) {
      cov += (logs[k] - mu) * (logs[k - 1] - mu);
      ++pairs;
    }
  }
  m.sigma = std::sqrt(var / n);
  m.rho = var > 0.0 && pairs > 0 ? std::clamp(cov / static_cast<double>(pairs) / (var / n), 0.0, 0.99) : 0.0;
  std::vector<double> steps;
  for (std::size_t i = 1; i < time_s.size(); ++i) steps.push_back(time_s[i] - time_s[i - 1]);
  std::nth_element(steps.begin(), steps.begin() + static_cast<std::ptrdiff_t>(steps.size() / 2), steps.end());
  m.step_s = steps[steps.size() / 2];
  MERIDIAN_INPUT_CHECK(m.step_s > 0, "fit_bandwidth: the median time between samples is ", m.step_s,
                       " s; times must increase");
  return m;
}

RateWindows::RateWindows(double window_s, std::span<const std::uint32_t> counts, double span_s) {
  MERIDIAN_INPUT_CHECK(window_s > 0.0 && std::isfinite(window_s), "arrival windows: window_s is ", window_s,
                       "; expected a positive number of seconds");
  MERIDIAN_INPUT_CHECK(span_s > 0.0 && std::isfinite(span_s), "arrival windows: the span (duration_s) is ", span_s,
                       "; per-window rates need a trace longer than an instant");
  // Counted in doubles: for a tiny window the count does not fit a size_t (converting it is undefined).
  const double expected = std::floor(span_s / window_s) + 1;
  MERIDIAN_INPUT_CHECK(static_cast<double>(counts.size()) == expected, "arrival windows: window_counts has ",
                       counts.size(), " entries, but duration_s ", span_s, " and window_s ", window_s,
                       " make ", expected <= 0x1p53 ? cat(static_cast<std::uint64_t>(expected)) : cat(expected),
                       " windows; write floor(duration_s / window_s) + 1 counts");
  std::vector<double> c(counts.begin(), counts.end());
  std::size_t k = c.size();
  if (k >= 2 && span_s - static_cast<double>(k - 1) * window_s < 0.5 * window_s) {
    c[k - 2] += c[k - 1];  // a short last piece joins the window before it
    --k;
  }
  edge_.resize(k + 1);
  cumulative_.assign(k + 1, 0.0);
  rate_.resize(k);
  for (std::size_t i = 0; i < k; ++i) edge_[i] = static_cast<double>(i) * window_s;
  edge_[k] = span_s;
  for (std::size_t i = 0; i < k; ++i) {
    rate_[i] = c[i] / (edge_[i + 1] - edge_[i]);
    cumulative_[i + 1] = cumulative_[i] + c[i];
  }
  MERIDIAN_INPUT_CHECK(total() > 0.0, "arrival windows: every window count is 0; a class with requests has at "
                       "least one in some window");
}

double RateWindows::operational(double t_s) const {
  const double span = span_s();
  const double periods = std::floor(t_s / span);
  const double t = std::clamp(t_s - periods * span, 0.0, span);
  const auto i = std::min(static_cast<std::size_t>(std::upper_bound(edge_.begin(), edge_.end(), t) - edge_.begin()),
                          edge_.size() - 1) - 1;
  return periods * total() + cumulative_[i] + rate_[i] * (t - edge_[i]);
}

double RateWindows::real(double tau) const {
  const double periods = std::floor(tau / total());
  const double u = std::clamp(tau - periods * total(), 0.0, total());
  // The last window whose cumulative start is <= u: empty windows (equal starts) are passed over.
  const auto i = std::min(static_cast<std::size_t>(std::upper_bound(cumulative_.begin(), cumulative_.end(), u) -
                                                   cumulative_.begin()),
                          rate_.size()) - 1;
  auto w = i;
  while (rate_[w] == 0.0 && w > 0) --w;  // u == total() after rounding, with empty windows at the end
  return periods * span_s() + edge_[w] + (u - cumulative_[w]) / rate_[w];
}

nlohmann::json WorkloadModel::to_json() const {
  nlohmann::json classes_json = nlohmann::json::array();
  for (const WorkloadClass& c : classes) {
    nlohmann::json arrival{{"rate_per_s", c.arrival.rate_per_s},
                           {"inter_arrival", c.arrival.inter_arrival.to_json()},
                           {"zeros", zero_policy_name(c.arrival.zeros)},
                           {"zeros_dropped", c.arrival.zeros_dropped},
                           {"window_s", c.arrival.window_s},
                           {"window_counts", c.arrival.window_counts},
                           {"rescaled_inter_arrival", c.arrival.rescaled_inter_arrival
                                                          ? c.arrival.rescaled_inter_arrival->to_json()
                                                          : nlohmann::json(nullptr)}};
    classes_json.push_back(nlohmann::json{
        {"model", c.model},
        {"log_type", c.log_type},
        {"requests", c.requests},
        {"failures", c.failures},
        {"failure_probability", c.failure_probability},
        {"arrival", std::move(arrival)},
        {"request_tokens", c.request_tokens.to_json()},
        {"response_tokens", c.response_tokens.to_json()},
        {"joint", c.joint ? c.joint->to_json() : nlohmann::json(nullptr)},
        {"aic",
         {{"inter_arrival", aic_json(c.inter_arrival_aic)},
          {"request_tokens", aic_json(c.request_aic)},
          {"response_tokens", aic_json(c.response_aic)}}}});
  }
  nlohmann::json skipped_json = nlohmann::json::array();
  for (const SkippedClass& s : skipped) {
    skipped_json.push_back(
        {{"model", s.model}, {"log_type", s.log_type}, {"requests", s.requests}, {"reason", s.reason}});
  }
  return nlohmann::json{{"format", "meridian-workload-model"},
                        {"version", kVersion},
                        {"duration_s", duration_s},
                        {"requests", requests},
                        {"group_by", group_by_name(group_by)},
                        {"classes", std::move(classes_json)},
                        {"skipped", std::move(skipped_json)}};
}

WorkloadModel WorkloadModel::from_json(const nlohmann::json& json) {
  MERIDIAN_INPUT_CHECK(json.is_object(), "workload model JSON: expected an object, got ", json.dump().substr(0, 200));
  const auto format = get_field<std::string>(json, "format", "the top level");
  MERIDIAN_INPUT_CHECK(format == "meridian-workload-model", "workload model JSON: \"format\" is \"", format,
                       "\"; expected \"meridian-workload-model\"");
  const int version = get_field<int>(json, "version", "the top level");
  MERIDIAN_INPUT_CHECK(version >= 1 && version <= kVersion, "workload model JSON: \"version\" is ", version,
                       "; this build reads versions 1..", kVersion);
  WorkloadModel model;
  model.duration_s = get_field<double>(json, "duration_s", "the top level");
  MERIDIAN_INPUT_CHECK(std::isfinite(model.duration_s) && model.duration_s >= 0.0,
                       "workload model JSON: \"duration_s\" is ", model.duration_s,
                       "; expected a finite number of seconds >= 0");
  model.requests = get_field<std::size_t>(json, "requests", "the top level");
  model.group_by = parse_group_by(get_field<std::string>(json, "group_by", "the top level"));
  const nlohmann::json& classes = field(json, "classes", "the top level");
  MERIDIAN_INPUT_CHECK(classes.is_array(), "workload model JSON: \"classes\" must be an array");
  for (std::size_t i = 0; i < classes.size(); ++i) {
    const nlohmann::json& cj = classes[i];
    const std::string where = cat("classes[", i, "]");
    WorkloadClass c;
    c.model = get_field<std::string>(cj, "model", where);
    c.log_type = get_field<std::string>(cj, "log_type", where);
    c.requests = get_field<std::size_t>(cj, "requests", where);
    c.failures = get_field<std::size_t>(cj, "failures", where);
    c.failure_probability = get_field<double>(cj, "failure_probability", where);
    MERIDIAN_INPUT_CHECK(c.failure_probability >= 0.0 && c.failure_probability <= 1.0, "workload model JSON: ", where,
                         ".failure_probability is ", c.failure_probability, "; expected a value in [0, 1]");
    const nlohmann::json& aj = field(cj, "arrival", where);
    const std::string arrival_where = where + ".arrival";
    c.arrival.rate_per_s = get_field<double>(aj, "rate_per_s", arrival_where);
    MERIDIAN_INPUT_CHECK(std::isfinite(c.arrival.rate_per_s) && c.arrival.rate_per_s >= 0.0, "workload model JSON: ",
                         arrival_where, ".rate_per_s is ", c.arrival.rate_per_s, "; expected a finite rate >= 0");
    c.arrival.inter_arrival = get_distribution(aj, "inter_arrival", arrival_where);
    c.arrival.zeros = parse_zero_policy(get_field<std::string>(aj, "zeros", arrival_where));
    c.arrival.zeros_dropped = get_field<std::size_t>(aj, "zeros_dropped", arrival_where);
    c.arrival.window_s = get_field<double>(aj, "window_s", arrival_where);
    c.arrival.window_counts = checked_json_integers<std::uint32_t>(
        field(aj, "window_counts", arrival_where),
        cat("workload model JSON: ", arrival_where, ".window_counts"));
    if (aj.contains("rescaled_inter_arrival") && !aj.at("rescaled_inter_arrival").is_null())
      c.arrival.rescaled_inter_arrival = get_distribution(aj, "rescaled_inter_arrival", arrival_where);
    if (!c.arrival.window_counts.empty()) {
      try {
        RateWindows(c.arrival.window_s, c.arrival.window_counts, model.duration_s);
      } catch (const InputError& e) {
        throw InputError(cat("workload model JSON: ", arrival_where, ": ", e.what()));
      }
    }
    c.request_tokens = get_distribution(cj, "request_tokens", where);
    c.response_tokens = get_distribution(cj, "response_tokens", where);
    const nlohmann::json& joint = field(cj, "joint", where);
    if (!joint.is_null()) {
      try {
        c.joint = Empirical2D::from_json(joint);
      } catch (const InputError& e) {
        throw InputError(cat("workload model JSON: field \"joint\" of ", where, ": ", e.what()));
      }
    }
    if (cj.contains("aic")) {
      const nlohmann::json& aic = cj.at("aic");
      c.inter_arrival_aic = get_aic(aic, "inter_arrival");
      c.request_aic = get_aic(aic, "request_tokens");
      c.response_aic = get_aic(aic, "response_tokens");
    }
    model.classes.push_back(std::move(c));
  }
  if (json.contains("skipped")) {
    const nlohmann::json& sj = json.at("skipped");
    MERIDIAN_INPUT_CHECK(sj.is_array(), "workload model JSON: \"skipped\" must be an array");
    for (std::size_t i = 0; i < sj.size(); ++i) {
      const std::string where = cat("skipped[", i, "]");
      model.skipped.push_back(SkippedClass{get_field<std::string>(sj[i], "model", where),
                                           get_field<std::string>(sj[i], "log_type", where),
                                           get_field<std::size_t>(sj[i], "requests", where),
                                           get_field<std::string>(sj[i], "reason", where)});
    }
  }
  return model;
}

WorkloadModel fit_workload(const RequestTrace& trace, const WorkloadFitOptions& options) {
  MERIDIAN_INPUT_CHECK(!trace.empty(), "fit_workload: the trace is empty");
  MERIDIAN_INPUT_CHECK(trace.request_tokens.size() == trace.size() && trace.response_tokens.size() == trace.size(),
                       "fit_workload: the trace's columns have different lengths");
  MERIDIAN_INPUT_CHECK(options.window_s >= 0.0 && std::isfinite(options.window_s),
                       "fit_workload: window_s must be >= 0 (0 = no windows), got ", options.window_s);
  MERIDIAN_INPUT_CHECK(!options.arrival_families.empty() && !options.length_families.empty(),
                       "fit_workload: arrival_families and length_families must not be empty");
  const bool has_model = trace.model.size() == trace.size();
  const bool has_type = trace.log_type.size() == trace.size();

  // One pass: rows to classes keyed by (model index, log type) as the grouping asks.
  constexpr std::size_t kTypes = 3;
  const std::size_t model_count = std::max<std::size_t>(trace.models.size(), 1);
  std::vector<int> class_of_key(model_count * kTypes, -1);
  std::vector<ClassRows> rows;
  const double t0 = trace.time_s.front();
  for (std::size_t i = 0; i < trace.size(); ++i) {
    const std::size_t m = options.group_by == GroupBy::all || !has_model ? 0 : trace.model[i];
    const LogType type = options.group_by == GroupBy::model_and_log_type && has_type ? trace.log_type[i] : LogType::unknown;
    MERIDIAN_INPUT_CHECK(m < model_count, "fit_workload: row ", i, " has model index ", m, " but the trace names ",
                         trace.models.size(), " models");
    const std::size_t key = m * kTypes + static_cast<std::size_t>(type);
    MERIDIAN_INPUT_CHECK(static_cast<std::size_t>(type) < kTypes, "fit_workload: row ", i, " has an unknown log type");
    if (class_of_key[key] < 0) {
      class_of_key[key] = static_cast<int>(rows.size());
      ClassRows r;
      r.model = options.group_by == GroupBy::all || trace.models.empty() ? "*" : trace.models[m];
      r.log_type = options.group_by == GroupBy::model_and_log_type ? log_type_label(type) : "*";
      rows.push_back(std::move(r));
    }
    ClassRows& r = rows[static_cast<std::size_t>(class_of_key[key])];
    r.times.push_back(trace.time_s[i] - t0);
    r.request.push_back(trace.request_tokens[i]);
    r.response.push_back(trace.response_tokens[i]);
  }

  WorkloadModel model;
  model.requests = trace.size();
  model.group_by = options.group_by;
  model.duration_s = trace.time_s.back() - t0;
  const std::size_t window_count =
      options.window_s > 0.0 ? static_cast<std::size_t>(std::floor(model.duration_s / options.window_s)) + 1 : 0;

  for (std::size_t ci = 0; ci < rows.size(); ++ci) {
    ClassRows& r = rows[ci];
    const std::size_t n = r.times.size();
    auto skip = [&](const std::string& reason) { model.skipped.push_back({r.model, r.log_type, n, reason}); };
    if (n < std::max<std::size_t>(options.min_class_requests, 3)) {
      skip(cat("fewer than ", std::max<std::size_t>(options.min_class_requests, 3), " requests"));
      continue;
    }
    WorkloadClass c;
    c.model = r.model;
    c.log_type = r.log_type;
    c.requests = n;

    // Failures and the (request, response) pairs of successful requests.
    std::vector<std::int32_t> ok_response;
    std::vector<std::size_t> ok_rows;
    ok_response.reserve(n);
    ok_rows.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      if (r.response[i] == 0) {
        ++c.failures;
      } else if (r.response[i] > 0) {
        ok_response.push_back(r.response[i]);
        ok_rows.push_back(i);
      }
    }
    c.failure_probability = static_cast<double>(c.failures) / static_cast<double>(n);
    if (ok_response.empty()) {
      skip("no successful request (every response has 0 tokens)");
      continue;
    }

    // Arrivals: jitter integer seconds (or drop / keep zero gaps), fit the families, count windows.
    c.arrival.zeros = options.zeros;
    std::vector<double> times, gaps;
    if (options.zeros == ZeroPolicy::jitter && all_integer_times(r.times)) {
      times = jitter_integer_times(r.times, options.seed, stream_id(StreamPurpose::trace, ci, 0));
      gaps = inter_arrival_times(times, ZeroPolicy::reject);
    } else {
      if (options.zeros == ZeroPolicy::jitter) c.arrival.zeros = ZeroPolicy::drop;
      gaps = inter_arrival_times(r.times, c.arrival.zeros, &c.arrival.zeros_dropped);
      times = std::move(r.times);
    }
    if (gaps.size() < 2) {
      skip("fewer than 2 positive gaps between requests");
      continue;
    }
    std::vector<Fit> fits;
    try {
      c.arrival.inter_arrival = fit_best(gaps, options.arrival_families, &fits).distribution;
    } catch (const InputError& e) {
      throw InputError(cat("fit_workload: class ", r.model, "/", r.log_type, ": ", e.what()));
    }
    c.inter_arrival_aic = aic_table(fits);
    c.arrival.rate_per_s = model.duration_s > 0.0 ? static_cast<double>(n) / model.duration_s : 0.0;
    if (window_count > 0 && model.duration_s > 0.0) {
      c.arrival.window_s = options.window_s;
      c.arrival.window_counts.assign(window_count, 0);
      for (const double t : times) {
        const auto w = std::min(static_cast<std::size_t>(t / options.window_s), window_count - 1);
        ++c.arrival.window_counts[w];
      }
      // The same gaps in operational time: the rate swings between windows taken out.
      const RateWindows windows(options.window_s, c.arrival.window_counts, model.duration_s);
      for (double& t : times) t = windows.operational(t);
      const std::vector<double> rescaled = inter_arrival_times(times, ZeroPolicy::drop);
      if (rescaled.size() >= 2) {
        try {
          c.arrival.rescaled_inter_arrival = fit_best(rescaled, options.arrival_families).distribution;
        } catch (const InputError&) {
          // e.g. constant rescaled gaps: the windowed generator falls back to the inter_arrival shape
        }
      }
    }

    // Lengths.
    const LengthFit request = fit_lengths(r.request, options.length_families);
    c.request_tokens = request.best.distribution;
    c.request_aic = aic_table(request.fits);
    const LengthFit response = fit_lengths(ok_response, options.length_families);
    c.response_tokens = response.best.distribution;
    c.response_aic = aic_table(response.fits);

    // The joint, subsampled uniformly to at most max_pairs pairs.
    if (options.max_pairs > 0) {
      Rng rng(options.seed, stream_id(StreamPurpose::trace, ci, 1));
      const auto chosen = choose_indices(ok_rows.size(), options.max_pairs, rng);
      std::vector<std::int64_t> x(chosen.size()), y(chosen.size());
      for (std::size_t k = 0; k < chosen.size(); ++k) {
        const std::size_t row = ok_rows[chosen[k]];
        x[k] = r.request[row];
        y[k] = r.response[row];
      }
      c.joint = Empirical2D::from_pairs(x, y);
    }
    model.classes.push_back(std::move(c));
  }
  return model;
}

}  // namespace meridian::trace
