// Generation and scaling. Request i of a bootstrap reads words from position 8·i of its Philox stream,
// so any request can be drawn independently of the others; the times are then a running sum.
#include "trace/generate.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>
#include <string>

#include "core/rng.hpp"
#include "kernels/common/error.hpp"

namespace meridian::trace {
namespace {

constexpr std::uint64_t kWordsPerRequest = 8;
constexpr std::size_t kProgressEvery = 65536;  // requests between two progress reports

enum : std::uint64_t { kBootstrapStream = 1, kBandwidthStream = 2, kFailureStream = 3, kParametricStream = 4 };

// An index in [0, n) from a uniform double (53 bits: the bias is below 2^-40 for any n here).
std::size_t pick(Rng& rng, std::size_t n) {
  return std::min(n - 1, static_cast<std::size_t>(rng.uniform_double() * static_cast<double>(n)));
}

// A copy of the trace's columns for the rows in `order`.
RequestTrace select_rows(const RequestTrace& t, const std::vector<std::size_t>& order) {
  RequestTrace out;
  out.models = t.models;
  out.origin_unix_s = t.origin_unix_s;
  out.time_s.reserve(order.size());
  for (std::size_t i : order) {
    out.time_s.push_back(t.time_s[i]);
    out.request_tokens.push_back(t.request_tokens[i]);
    out.response_tokens.push_back(t.response_tokens[i]);
    out.model.push_back(t.model[i]);
    out.log_type.push_back(t.log_type[i]);
    if (!t.session.empty()) out.session.push_back(t.session[i]);
  }
  return out;
}

std::vector<std::size_t> all_rows(const RequestTrace& t) {
  std::vector<std::size_t> order(t.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  return order;
}

// InputError unless `rows` (a count, or an expected count as a double) is at most kMaxGeneratedRows.
void check_rows(double rows, const std::string& what, const std::string& how_to_fix) {
  MERIDIAN_INPUT_CHECK(rows <= static_cast<double>(kMaxGeneratedRows), what, " (", rows, ") is more than the ",
                       kMaxGeneratedRows, " rows one call makes; ", how_to_fix);
}

}  // namespace

RequestTrace bootstrap(const RequestTrace& source, std::int64_t count, std::uint64_t seed, const ProgressFn& progress) {
  MERIDIAN_INPUT_CHECK(source.size() >= 2, "bootstrap: the source trace has ", source.size(),
                       " requests; resampling needs at least 2 (one inter-arrival gap)");
  MERIDIAN_INPUT_CHECK(count >= 0, "bootstrap: a negative request count (", count, ")");
  check_rows(static_cast<double>(count), "bootstrap: the request count", "ask for fewer requests");
  const std::size_t n = source.size();
  RequestTrace out;
  out.models = source.models;
  const auto m = static_cast<std::size_t>(count);
  out.time_s.resize(m);
  out.request_tokens.resize(m);
  out.response_tokens.resize(m);
  out.model.resize(m);
  out.log_type.resize(m);
  const std::uint64_t stream = stream_id(StreamPurpose::trace, kBootstrapStream, 0);
  double t = 0.0;
  for (std::size_t i = 0; i < m; ++i) {
    Rng rng(RngState{seed, stream, kWordsPerRequest * i});
    const std::size_t gap = pick(rng, n - 1);
    const std::size_t row = pick(rng, n);
    if (i > 0) t += source.time_s[gap + 1] - source.time_s[gap];
    out.time_s[i] = t;
    out.request_tokens[i] = source.request_tokens[row];
    out.response_tokens[i] = source.response_tokens[row];
    out.model[i] = source.model[row];
    out.log_type[i] = source.log_type[row];
    if (progress && (i + 1) % kProgressEvery == 0) progress(static_cast<double>(i + 1) / static_cast<double>(m));
  }
  return out;
}

namespace {

LogType log_type_of(const std::string& label) {
  if (label == "conversation") return LogType::conversation;
  if (label == "api") return LogType::api;
  return LogType::unknown;
}

std::int32_t token_count(double x) {
  return static_cast<std::int32_t>(std::clamp(std::round(x), 0.0, 2147483647.0));
}
std::int32_t token_count(std::int64_t x) {
  return static_cast<std::int32_t>(std::clamp<std::int64_t>(x, 0, 2147483647));
}

// The gap distribution of class c's renewal process and the factor its draws are scaled by: the
// rescaled gaps (operational time) with windows when the model has them, else the inter-arrival
// distribution, scaled to mean 1 with windows.
struct Gaps {
  const Distribution* distribution;
  double scale;
};
Gaps gaps_of(const WorkloadClass& c, const RateWindows* windows) {
  if (windows == nullptr) return {&c.arrival.inter_arrival, 1.0};
  if (c.arrival.rescaled_inter_arrival) return {&*c.arrival.rescaled_inter_arrival, 1.0};
  const double mean = c.arrival.inter_arrival.mean();
  MERIDIAN_INPUT_CHECK(mean > 0 && std::isfinite(mean), "generate: class (", c.model, ", ", c.log_type,
                       ") has per-window counts but an inter-arrival distribution of mean ", mean,
                       ", which cannot be scaled to the unit mean of operational time; refit the model");
  return {&c.arrival.inter_arrival, 1.0 / mean};
}

// The expected number of class c's requests in [0, duration_s): the elapsed (operational) time over
// the mean gap. Infinite for a mean gap of 0, where the process never advances.
double expected_requests(const WorkloadClass& c, const RateWindows* windows, double duration_s) {
  const Gaps g = gaps_of(c, windows);
  const double elapsed = windows != nullptr ? windows->operational(duration_s) : duration_s;
  const double mean_gap = g.scale * g.distribution->mean();
  return mean_gap > 0 ? elapsed / mean_gap : std::numeric_limits<double>::infinity();
}

// Class c's requests in [0, duration_s), at most `max_rows` of them, appended to `out` (model names
// interned there); returns whether it stopped at max_rows. With `windows`, gaps are drawn in
// operational time (the rescaled shape, or the inter-arrival shape at unit mean) and t = Λ⁻¹(τ);
// without, t is a renewal process of the inter-arrival distribution.
bool generate_class(const WorkloadClass& c, std::size_t index, double duration_s, std::int64_t max_rows,
                    const RateWindows* windows, std::uint64_t seed, RequestTrace& out, const ProgressFn& progress) {
  Rng rng(seed, stream_id(StreamPurpose::trace, kParametricStream, index));
  const std::string model = c.model == "*" ? "" : c.model;
  const LogType type = log_type_of(c.log_type);
  const Gaps gaps = gaps_of(c, windows);
  double t = 0.0, tau = 0.0;
  for (std::int64_t rows = 0;; ++rows) {
    if (rows == max_rows) return true;
    std::int32_t request = 0, response = 0;
    if (c.joint) {
      const auto [x, y] = c.joint->sample(rng);
      request = token_count(x);
      response = token_count(y);
    } else {
      request = token_count(c.request_tokens.sample(rng));
      response = token_count(c.response_tokens.sample(rng));
    }
    if (rng.uniform_double() < c.failure_probability) response = 0;
    if (t >= duration_s) return false;
    out.push(t, request, response, model, type);
    if (progress && out.size() % kProgressEvery == 0) progress(t / duration_s);
    if (windows != nullptr) {
      tau += gaps.scale * gaps.distribution->sample(rng);
      t = windows->real(tau);
    } else {
      t += gaps.distribution->sample(rng);
    }
  }
}

}  // namespace

RequestTrace generate_parametric(const WorkloadModel& model, const ParametricOptions& o) {
  MERIDIAN_INPUT_CHECK(!model.classes.empty(), "generate: the workload model has no class to generate from");
  MERIDIAN_INPUT_CHECK(o.duration_s > 0 || o.count > 0, "generate: give a duration (> 0 s) or a request count (> 0)");
  MERIDIAN_INPUT_CHECK(std::isfinite(o.duration_s), "generate: the duration (", o.duration_s, " s) must be finite");
  const bool by_count = o.duration_s <= 0;
  if (by_count) check_rows(static_cast<double>(o.count), "generate: the request count", "ask for fewer requests");
  std::vector<std::optional<RateWindows>> windows(model.classes.size());
  for (std::size_t c = 0; c < model.classes.size(); ++c) {
    const ArrivalModel& a = model.classes[c].arrival;
    if (o.windowed && !a.window_counts.empty()) windows[c].emplace(a.window_s, a.window_counts, model.duration_s);
  }
  const auto window_of = [&](std::size_t c) { return windows[c] ? &*windows[c] : nullptr; };
  if (!by_count) {
    double expected = 0.0;
    for (std::size_t c = 0; c < model.classes.size(); ++c)
      expected += expected_requests(model.classes[c], window_of(c), o.duration_s);
    check_rows(expected, cat("generate: the expected number of requests in ", o.duration_s, " s at the model's rates"),
               "give a shorter duration, or a request count instead (a gap distribution of mean 0 never advances)");
  }
  double rate = 0.0;
  for (const WorkloadClass& c : model.classes) rate += c.arrival.rate_per_s;
  // A span long enough for `count` requests: from the model's rate with a margin, doubled until it is.
  // No class can place more than `count` requests among the earliest `count`, so each stops there.
  double duration = by_count ? 1.2 * static_cast<double>(o.count) / std::max(rate, 1e-9) + 1.0 : o.duration_s;
  const std::int64_t max_rows = by_count ? o.count : kMaxGeneratedRows;
  for (;;) {
    RequestTrace all;
    const double classes = static_cast<double>(model.classes.size());
    for (std::size_t c = 0; c < model.classes.size(); ++c) {
      ProgressFn class_progress;
      if (o.progress) class_progress = [&](double f) { o.progress((static_cast<double>(c) + f) / classes); };
      const bool full =
          generate_class(model.classes[c], c, duration, max_rows, window_of(c), o.seed, all, class_progress);
      // The expected count was checked; a heavy tail of short gaps can still pass the bound.
      MERIDIAN_INPUT_CHECK(by_count || !full, "generate: class ", c, " (", model.classes[c].model, ", ",
                           model.classes[c].log_type, ") alone made ", kMaxGeneratedRows, " requests in less than ",
                           o.duration_s, " s, the most one call makes; give a shorter duration or a request count");
    }
    std::vector<std::size_t> order = all_rows(all);
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return all.time_s[a] < all.time_s[b]; });
    if (by_count && static_cast<std::int64_t>(order.size()) < o.count) {
      MERIDIAN_INPUT_CHECK(std::isfinite(duration), "generate: the model's arrival times pass the largest time a ",
                           "double holds after ", order.size(), " of the ", o.count,
                           " requests; its inter-arrival gaps are too long for a count this large");
      duration *= 2;
      continue;
    }
    if (by_count) order.resize(static_cast<std::size_t>(o.count));
    return select_rows(all, order);
  }
}

RequestTrace compress_time(const RequestTrace& trace, double factor) {
  MERIDIAN_INPUT_CHECK(factor > 0 && std::isfinite(factor), "time compression factor ", factor,
                       ": give a positive number (2 = twice the rate)");
  RequestTrace out = trace;
  for (double& t : out.time_s) t /= factor;
  return out;
}

double mean_rate(const RequestTrace& trace) {
  if (trace.size() < 2) return 0.0;
  const double span = trace.time_s.back() - trace.time_s.front();
  return span > 0 ? static_cast<double>(trace.size() - 1) / span : 0.0;
}

RequestTrace normalize_rate(const RequestTrace& trace, double target_per_s) {
  MERIDIAN_INPUT_CHECK(target_per_s > 0 && std::isfinite(target_per_s), "target rate ", target_per_s,
                       " requests/s: give a positive number");
  const double rate = mean_rate(trace);
  MERIDIAN_INPUT_CHECK(rate > 0, "normalize_rate: the trace has no rate (fewer than 2 requests or no time span)");
  return compress_time(trace, target_per_s / rate);
}

RequestTrace superpose(const RequestTrace& trace, int k, double shift_s) {
  MERIDIAN_INPUT_CHECK(k >= 1, "superpose: ", k, " copies; give at least 1");
  MERIDIAN_INPUT_CHECK(shift_s >= 0 && std::isfinite(shift_s), "superpose: shift ", shift_s, " s must be >= 0");
  check_rows(static_cast<double>(k) * static_cast<double>(trace.size()), "superpose: copies x requests",
             "superpose fewer copies or a shorter trace");
  // Row r of copy c arrives at time[r] + c·shift; merge the k·n (copy, row) pairs by that time.
  const std::size_t n = trace.size();
  const auto at = [&](std::size_t i) { return trace.time_s[i % n] + static_cast<double>(i / n) * shift_s; };
  std::vector<std::size_t> order(static_cast<std::size_t>(k) * n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return at(a) < at(b); });
  std::vector<std::size_t> rows(order.size());
  std::transform(order.begin(), order.end(), rows.begin(), [n](std::size_t i) { return i % n; });
  RequestTrace out = select_rows(trace, rows);
  for (std::size_t j = 0; j < order.size(); ++j) out.time_s[j] = at(order[j]);
  return out;
}

RequestTrace scale_lengths(const RequestTrace& trace, double factor, std::int32_t min_tokens,
                           std::int32_t max_tokens) {
  MERIDIAN_INPUT_CHECK(factor > 0 && std::isfinite(factor), "length scale ", factor, ": give a positive number");
  MERIDIAN_INPUT_CHECK(min_tokens >= 0 && min_tokens <= max_tokens, "length clamp [", min_tokens, ", ", max_tokens,
                       "]: give 0 <= min <= max");
  RequestTrace out = trace;
  auto scale = [&](std::int32_t x) {
    const double y = std::round(static_cast<double>(x) * factor);
    return static_cast<std::int32_t>(std::clamp(y, static_cast<double>(min_tokens), static_cast<double>(max_tokens)));
  };
  for (auto& x : out.request_tokens) x = scale(x);
  for (auto& x : out.response_tokens) x = scale(x);
  return out;
}

BandwidthTrace generate_bandwidth(const BandwidthSeriesOptions& o) {
  MERIDIAN_INPUT_CHECK(o.mean_bps > 0 && std::isfinite(o.mean_bps), "bandwidth series: mean ", o.mean_bps,
                       " bit/s must be positive");
  MERIDIAN_INPUT_CHECK(o.sigma >= 0 && o.rho >= 0 && o.rho < 1, "bandwidth series: sigma ", o.sigma, " must be >= 0 and rho ",
                       o.rho, " in [0, 1)");
  MERIDIAN_INPUT_CHECK(o.step_s > 0 && o.duration_s >= 0 && std::isfinite(o.duration_s), "bandwidth series: step ",
                       o.step_s, " s must be > 0 and duration ", o.duration_s, " s finite and >= 0");
  const double samples = std::floor(o.duration_s / o.step_s) + 1;
  check_rows(samples, "bandwidth series: the number of samples", "give a longer step or a shorter duration");
  BandwidthTrace out;
  const auto steps = static_cast<std::int64_t>(samples);
  Rng rng(o.seed, stream_id(StreamPurpose::trace, kBandwidthStream, 0));
  const double innovation = std::sqrt(1.0 - o.rho * o.rho);
  double z = rng.normal();
  for (std::int64_t s = 0; s < steps; ++s) {
    if (s > 0) z = o.rho * z + innovation * rng.normal();
    out.time_s.push_back(static_cast<double>(s) * o.step_s);
    out.bandwidth_bps.push_back(o.mean_bps * std::exp(o.sigma * z - 0.5 * o.sigma * o.sigma));
  }
  return out;
}

FailureLog generate_failures(const FailureOptions& o) {
  MERIDIAN_INPUT_CHECK(o.nodes >= 1, "failures: ", o.nodes, " nodes; give at least 1");
  MERIDIAN_INPUT_CHECK(o.mtbf_s > 0 && std::isfinite(o.mtbf_s) && o.duration_s >= 0 && std::isfinite(o.duration_s),
                       "failures: MTBF ", o.mtbf_s, " s must be positive and finite, duration ", o.duration_s,
                       " s finite and >= 0");
  // Below 0.1 nearly every gap rounds to 0 against the clock (and Γ(1 + 1/k) soon overflows).
  MERIDIAN_INPUT_CHECK(o.weibull_shape >= 0.1 && o.weibull_shape <= 100, "failures: Weibull shape ", o.weibull_shape,
                       " must be in [0.1, 100] (measured failure processes lie in about 0.5 .. 2; 1 is exponential)");
  check_rows(static_cast<double>(o.nodes) * o.duration_s / o.mtbf_s,
             "failures: the expected number of failures (nodes x duration / MTBF)",
             "give a longer MTBF, fewer nodes or a shorter duration");
  // A Weibull(k, λ) has mean λ·Γ(1 + 1/k): the scale that gives the requested MTBF.
  const double scale = o.mtbf_s / std::tgamma(1.0 + 1.0 / o.weibull_shape);
  FailureLog log;
  for (int node = 0; node < o.nodes; ++node) {
    Rng rng(o.seed, stream_id(StreamPurpose::trace, kFailureStream, static_cast<std::uint64_t>(node)));
    log.node.push_back(cat("node", node));
    log.time_s.emplace_back();
    double t = 0.0;
    for (;;) {
      const double u = 1.0 - rng.uniform_double();  // (0, 1]
      t += scale * std::pow(-std::log(u), 1.0 / o.weibull_shape);
      if (t >= o.duration_s) break;
      // The expected count was checked; a shape below 1 piles gaps near 0 and can pass it.
      MERIDIAN_INPUT_CHECK(log.time_s.back().size() < static_cast<std::size_t>(kMaxGeneratedRows), "failures: node ",
                           node, " alone failed ", kMaxGeneratedRows, " times in ", o.duration_s,
                           " s; give a Weibull shape nearer 1 or a shorter duration");
      log.time_s.back().push_back(t);
    }
  }
  return log;
}

std::vector<std::string> failure_schedule(const FailureLog& failures, double step_s, int ranks_per_node,
                                          const std::string& kind) {
  MERIDIAN_INPUT_CHECK(step_s > 0 && ranks_per_node >= 1, "failure schedule: step time ", step_s,
                       " s must be > 0 and ranks per node ", ranks_per_node, " >= 1");
  std::vector<std::pair<double, std::size_t>> events;  // (time, node)
  for (std::size_t node = 0; node < failures.time_s.size(); ++node)
    for (double t : failures.time_s[node]) events.emplace_back(t, node);
  std::sort(events.begin(), events.end());
  std::vector<std::string> out;
  for (const auto& [t, node] : events) {
    const auto step = static_cast<std::int64_t>(std::floor(t / step_s));
    for (int r = 0; r < ranks_per_node; ++r)
      out.push_back(cat(step, ":", static_cast<std::int64_t>(node) * ranks_per_node + r, ":", kind));
  }
  return out;
}

}  // namespace meridian::trace
