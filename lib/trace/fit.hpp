// Maximum-likelihood fitting of trace models: inter-arrival times (seconds) per family and per time
// window, token lengths (Zipf / lognormal / empirical), failure probabilities, times between node
// failures, and the per-class WorkloadModel that trace generators read (JSON schema below).
// Samples are 1-D spans; every fit is one or a few passes over them (no sorting unless an empirical
// table of non-integer values is asked for).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/rng.hpp"
#include "trace/distributions.hpp"
#include "trace/request_trace.hpp"

namespace meridian::trace {

// One fitted family: parameters (in `distribution`), the maximised log-likelihood lnL, Akaike's
// criterion AIC = 2k - 2 lnL (k = distribution.parameter_count()) and the sample size.
// For discrete families lnL is a sum of log pmf; for continuous ones a sum of log densities, so
// comparing the two kinds on integer data treats the density at an integer as the probability of
// the values that round to it (fine for lengths >> 1, crude near 1).
struct Fit {
  Distribution distribution;
  double log_likelihood = 0.0;
  double aic = 0.0;
  std::size_t n = 0;
  // {"distribution": {...}, "log_likelihood": l, "aic": a, "n": n}
  nlohmann::json to_json() const;
};

// ---------------------------------------------------------------------------------------------
// Zeros in inter-arrival times. Integer-second timestamps (BurstGPT v1) put many requests in the
// same second, so their gaps are exactly 0, which has zero density under every continuous family
// (log 0 = -inf). The fitters never return NaN for this: a zero or negative sample is an
// InputError that names the index and says to jitter or drop. The ways out:
//   jitter: jitter_integer_times spreads the requests of each second over [t, t + 1) as sorted
//           uniforms (a Poisson process within the second), which keeps the per-second counts
//           exactly and turns ties into small positive gaps;
//   drop:   leave the zero gaps out (biases the fit towards longer gaps; fine for failure logs
//           with a duplicate record now and then, not for BurstGPT arrivals).
enum class ZeroPolicy : std::uint8_t { reject = 0, drop = 1, jitter = 2 };
const char* zero_policy_name(ZeroPolicy policy);  // "reject", "drop", "jitter"

// Each group of requests in the same integer second t gets times t + u_(1) < ... < u_(m) < t + 1,
// the order statistics of m uniforms (drawn as normalised cumulative exponential spacings, O(m), no
// sort), from Rng(seed, stream). InputError when the times are not sorted, negative or not whole
// seconds (sub-second timestamps need no jitter).
std::vector<double> jitter_integer_times(std::span<const double> times_s, std::uint64_t seed,
                                         std::uint64_t stream = stream_id(StreamPurpose::trace));
// Whether every time is a whole number (the precondition of jitter_integer_times).
bool all_integer_times(std::span<const double> times_s);
// The n - 1 gaps of sorted times (InputError when a time goes backwards). With ZeroPolicy::drop the
// zero gaps are left out and counted in *dropped; with reject they stay (a later fit will refuse
// them); jitter is not applied here (call jitter_integer_times first).
std::vector<double> inter_arrival_times(std::span<const double> times_s, ZeroPolicy zeros = ZeroPolicy::reject,
                                        std::size_t* dropped = nullptr);

// ---------------------------------------------------------------------------------------------
// Single-family maximum-likelihood fits of positive samples. InputError for an empty sample, a
// sample <= 0 or non-finite (naming its index; zeros: see ZeroPolicy), or data that the family
// cannot fit (all values equal for the two-parameter families).
Fit fit_exponential(std::span<const double> x);  // rate = 1 / mean
Fit fit_lognormal(std::span<const double> x);    // mu, sigma = mean and (1/n) standard deviation of ln x
// Gamma: shape k solves ln k - psi(k) = ln(mean) - mean(ln x) by Newton from Minka's start
// k0 = (3 - s + sqrt((s - 3)^2 + 24 s)) / (12 s); scale = mean / k.
Fit fit_gamma(std::span<const double> x);
// Weibull: shape k solves sum x^k ln x / sum x^k - 1/k = mean(ln x) (increasing in k) by Newton
// inside a bisection bracket, starting from k0 = pi / (sqrt 6 * sd(ln x)); scale = (mean x^k)^(1/k).
Fit fit_weibull(std::span<const double> x);
// Zipf on {1..n_max} with n_max = the sample maximum: s maximises -s sum ln x - n ln H(s); the
// log-likelihood is concave in s, solved by Newton with a bracket (every step O(n_max)). Samples
// must be positive integers (InputError otherwise); all-equal samples are refused.
Fit fit_zipf(std::span<const double> x);
// Empirical table of the sample: lnL = sum c ln(c / n), k = distinct values - 1. Non-negative
// integers up to 2^24 are counted in one pass; anything else is sorted. Zeros are allowed here.
Fit fit_empirical(std::span<const double> x);
Fit fit_family(Family family, std::span<const double> x);

// Fits each of `families` and returns the one with the smallest AIC; all successful fits go to
// *all (in the order given). The sample is validated once (InputError as above, so a zero is never
// skipped silently); a family that cannot fit this sample (zipf on non-integers, a two-parameter
// family on constant data) is left out, and InputError lists the reasons when none fits.
Fit fit_best(std::span<const double> samples, std::span<const Family> families, std::vector<Fit>* all = nullptr);

// ---------------------------------------------------------------------------------------------
// Per-window inter-arrival fits. Windows are [w * window_s, (w + 1) * window_s) from time 0 up to
// the last request (times are seconds since the trace start, sorted, >= 0; jitter integer times
// first). A gap belongs to the window of its later request. A window with fewer than `min_gaps`
// gaps is kept with fitted = false (its rate is still given); generators use the trace-wide family
// for it. rate_per_s = arrivals / window_s (the last window may be partial and reads low).
struct WindowFit {
  double start_s = 0.0;
  std::size_t arrivals = 0;
  std::size_t gaps = 0;
  double rate_per_s = 0.0;
  bool fitted = false;
  Fit fit;  // valid when fitted
};
std::vector<WindowFit> fit_windows(std::span<const double> times_s, double window_s, std::span<const Family> families,
                                   std::size_t min_gaps = 30);

// ---------------------------------------------------------------------------------------------
// Token lengths. Values < 1 cannot come from Zipf or lognormal and are left out (counted in
// `dropped`; for response lengths they are the failures, see failure_rates). Default families:
// zipf, lognormal, empirical; the best by AIC is `best`, all fits in `fits`.
struct LengthFit {
  Fit best;
  std::vector<Fit> fits;
  std::size_t dropped = 0;
};
std::vector<Family> default_length_families();
LengthFit fit_lengths(std::span<const std::int32_t> tokens, std::span<const Family> families);
LengthFit fit_lengths(std::span<const std::int32_t> tokens);

// ---------------------------------------------------------------------------------------------
// Failures of requests: fraction of rows with response_tokens == 0, per model (trace.models order).
struct FailureRate {
  std::string model;
  std::size_t requests = 0;
  std::size_t failures = 0;
  double probability = 0.0;  // failures / requests (0 for a model without requests)
};
std::vector<FailureRate> failure_rates(const RequestTrace& trace);

// Failures of nodes: times between consecutive failures of each node (failure_times_s[node], sorted
// seconds), pooled over nodes, fitted with exponential and Weibull MLE. Censoring is ignored: the
// time from the start of observation to a node's first failure and from its last failure to the
// end are not used (a slight bias towards shorter intervals when few failures per node are seen).
// Zero intervals (duplicate records) follow `zeros` (reject: InputError, drop: left out).
struct FailureIntervalFit {
  std::size_t nodes = 0;
  std::size_t failures = 0;
  std::size_t intervals = 0;
  std::size_t zeros_dropped = 0;
  double mean_interval_s = 0.0;  // MTBF of one node
  Fit exponential;
  Fit weibull;
  Family best = Family::exponential;  // smaller AIC of the two
};
FailureIntervalFit fit_failure_intervals(const std::vector<std::vector<double>>& failure_times_s,
                                         ZeroPolicy zeros = ZeroPolicy::reject);

// ---------------------------------------------------------------------------------------------
// Link bandwidth: the AR(1) log-normal model that generate_bandwidth draws from, one sample every
// step_s: b_t = mean_bps · exp(σ z_t − σ²/2), z_t = ρ z_{t−1} + sqrt(1 − ρ²) ε_t.
struct BandwidthModel {
  double mean_bps = 0.0;
  double sigma = 0.0;
  double rho = 0.0;
  double step_s = 1.0;
  std::size_t samples = 0;  // positive samples fitted
  std::size_t outages = 0;  // zero samples (link down), left out of the fit
  // {"format": "meridian-link-model", "version": 1, "mean_bps", "sigma", "rho", "step_s", "samples",
  //  "outages"}; from_json: InputError naming a missing or out-of-range field.
  nlohmann::json to_json() const;
  static BandwidthModel from_json(const nlohmann::json& json);
};

// Fits a measured series: mean_bps = the mean of the positive samples, σ = the (1/n) standard
// deviation of their logarithms, ρ = the lag-1 autocorrelation of the logarithms over consecutive
// positive samples clamped to [0, 0.99] (a series that alternates is fitted as independent),
// step_s = the median time between consecutive samples (the samples are taken as evenly spaced).
// InputError for fewer than 3 positive samples.
BandwidthModel fit_bandwidth(std::span<const double> time_s, std::span<const double> bandwidth_bps);

// ---------------------------------------------------------------------------------------------
// The workload model.
//
// JSON schema, version 1 (what WorkloadModel::to_json writes and from_json accepts):
// {
//   "format": "meridian-workload-model", "version": 1,
//   "duration_s": D,            // last request time - first (the trace's span)
//   "requests": N,              // rows in the trace
//   "group_by": "model_and_log_type" | "model" | "all",
//   "classes": [{               // one per (model, log type) with enough requests
//     "model": "ChatGPT",       // "*" when models are pooled
//     "log_type": "conversation" | "api" | "unknown" | "*",
//     "requests": n, "failures": f,
//     "failure_probability": p, // fraction with response_tokens == 0; draw the failure first
//     "arrival": {
//       "rate_per_s": r,        // n / D
//       "inter_arrival": DIST,  // distribution of gaps between this class's requests (seconds)
//       "zeros": "jitter" | "drop" | "reject",  // how tied integer-second times were handled
//       "zeros_dropped": z,
//       "window_s": w,          // 0 when no windows; otherwise request counts per window:
//       "window_counts": [c0, c1, ...],  // requests in [i w, (i + 1) w), floor(D / w) + 1 of them
//       "rescaled_inter_arrival": DIST | null  // optional: the gaps in the operational time of
//                               // RateWindows (mean about 1); a windowed generator draws these
//                               // and maps them back to real time. Absent: inter_arrival / mean.
//     },
//     "request_tokens": DIST,   // prompt length of all requests (values >= 1)
//     "response_tokens": DIST,  // generated length of successful requests (>= 1)
//     "joint": {"x": [...], "y": [...], "counts": [...]} | null,
//                               // (request, response) pairs of successful requests, uniformly
//                               // subsampled to at most max_pairs; resample pairs for the joint
//     "aic": {"inter_arrival": {family: aic, ...}, "request_tokens": {...}, "response_tokens": {...}}
//   }, ...],
//   "skipped": [{"model": m, "log_type": t, "requests": n, "reason": "..."}]
// }
// DIST is a Distribution's JSON ({"family": "gamma", "shape": k, "scale": theta}, ...).
enum class GroupBy : std::uint8_t { all = 0, model = 1, model_and_log_type = 2 };
const char* group_by_name(GroupBy group_by);
GroupBy parse_group_by(const std::string& name);  // InputError for an unknown name
const char* log_type_label(LogType type);         // "unknown", "conversation", "api"

struct ArrivalModel {
  double rate_per_s = 0.0;
  Distribution inter_arrival;
  ZeroPolicy zeros = ZeroPolicy::jitter;
  std::size_t zeros_dropped = 0;
  double window_s = 0.0;
  std::vector<std::uint32_t> window_counts;
  std::optional<Distribution> rescaled_inter_arrival;  // with window_counts: gaps in operational time
};

// A class's time-varying arrival rate from its per-window counts, for the time-rescaling theorem:
// the cumulative intensity Λ(t) (the expected arrivals by time t) is piecewise linear, rising by
// count c_i over window i, and τ = Λ(t) is "operational time", in which a rate-modulated process
// has unit rate. A fit measures the gaps' shape in τ (burstiness without the rate swings); a
// generator draws gaps in τ and maps them back with Λ⁻¹, so its counts per window follow the trace.
// Windows are [i w, (i + 1) w); the last one ends at the span D (a last piece shorter than w / 2
// joins the window before it). Past D the pattern repeats with period D.
class RateWindows {
 public:
  // InputError (naming the fields of the model file) when window_s <= 0, span_s <= 0, the number of
  // counts is not floor(span_s / window_s) + 1, or every count is 0.
  RateWindows(double window_s, std::span<const std::uint32_t> counts, double span_s);
  double operational(double t_s) const;  // Λ(t) for t >= 0
  double real(double tau) const;         // the t with Λ(t) = τ, τ >= 0 (past a run of empty windows)
  double total() const { return cumulative_.back(); }  // Λ(D): the requests of one period
  double span_s() const { return edge_.back(); }

 private:
  std::vector<double> edge_;        // window i is [edge_[i], edge_[i + 1])
  std::vector<double> cumulative_;  // Λ(edge_[i])
  std::vector<double> rate_;        // requests per second in window i
};

struct WorkloadClass {
  std::string model = "*";
  std::string log_type = "*";
  std::size_t requests = 0;
  std::size_t failures = 0;
  double failure_probability = 0.0;
  ArrivalModel arrival;
  Distribution request_tokens;
  Distribution response_tokens;
  std::optional<Empirical2D> joint;
  // AIC of every family tried, by name (kept for reports; generators ignore it).
  std::vector<std::pair<std::string, double>> inter_arrival_aic, request_aic, response_aic;
};

struct SkippedClass {
  std::string model;
  std::string log_type;
  std::size_t requests = 0;
  std::string reason;
};

struct WorkloadModel {
  static constexpr int kVersion = 1;
  double duration_s = 0.0;
  std::size_t requests = 0;
  GroupBy group_by = GroupBy::model_and_log_type;
  std::vector<WorkloadClass> classes;
  std::vector<SkippedClass> skipped;

  nlohmann::json to_json() const;
  // InputError naming the missing or mistyped field (and for a version newer than kVersion).
  static WorkloadModel from_json(const nlohmann::json& json);
};

struct WorkloadFitOptions {
  GroupBy group_by = GroupBy::model_and_log_type;
  std::vector<Family> arrival_families = continuous_families();
  std::vector<Family> length_families = default_length_families();
  // jitter: integer-second times are jittered (Rng(seed, stream_id(trace, class, 0))); times that
  // are not whole seconds are left alone and any zero gaps among them dropped (and counted).
  ZeroPolicy zeros = ZeroPolicy::jitter;
  double window_s = 60.0;           // 0: no window counts
  std::size_t max_pairs = 100'000;  // joint (request, response) sample size; 0: no joint
  std::size_t min_class_requests = 20;  // smaller classes go to `skipped`
  std::uint64_t seed = 1;
};

// Fits one class per group of rows. InputError for an empty trace or bad options.
WorkloadModel fit_workload(const RequestTrace& trace, const WorkloadFitOptions& options = {});

}  // namespace meridian::trace
