// Generation and scaling of workload streams: requests by replay or bootstrap of a trace, scaled in
// time (compression, a target rate, superposed shifted copies) and in length; link-bandwidth series
// for the geo-distributed app; failure schedules for fault-injection studies. Every random draw of
// request i (failure j, sample k) comes from a fixed place of a Philox stream keyed by the seed, so a
// generated stream is the same for the same seed whatever the thread count or chunking.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "trace/fit.hpp"
#include "trace/readers.hpp"
#include "trace/request_trace.hpp"

namespace meridian::trace {

// The most rows (requests, bandwidth samples, failure events) one generator or scaling call makes.
// A call that would make more (a count, a duration at the model's rate, k copies of a trace) is an
// InputError before any work, so a mistyped rate or duration cannot run for hours or fill memory.
inline constexpr std::int64_t kMaxGeneratedRows = 1'000'000'000;

// `count` requests resampled from `source` (at least 2 requests): inter-arrival gaps drawn with
// replacement from the source's gaps, and each request's (request, response, model, log type) drawn
// jointly from one source row. Times start at 0. Sessions are not carried over.
RequestTrace bootstrap(const RequestTrace& source, std::int64_t count, std::uint64_t seed,
                       const ProgressFn& progress = {});

// Requests from a fitted WorkloadModel, per class from time 0: arrivals follow the class's
// per-window counts when it has them and `windowed` is set (a renewal process of the rescaled gaps
// in the operational time of RateWindows, mapped back to real time: the rate changes window by window
// as in the trace, repeating past its span), else a renewal process of its inter-arrival
// distribution at the mean rate. Lengths as one pair of the class's joint (request, response)
// sample when it has one, else drawn from the two length distributions; a failed request (response
// 0) with the class's failure probability. Classes merged in time order. `duration_s` > 0
// generates that span; else `count` requests (the earliest of a long enough span). Class c draws
// from its own stream (seed, c), so adding requests never changes the earlier ones. InputError: a
// span whose expected number of requests (span / mean gap, or Λ(span) with windows) passes
// kMaxGeneratedRows (any span where the gaps have mean 0); a count whose arrival times pass the
// largest double first; windows over an inter-arrival distribution of mean 0.
struct ParametricOptions {
  double duration_s = 0.0;
  std::int64_t count = 0;
  std::uint64_t seed = 1;
  bool windowed = true;  // false: stationary arrivals even where the model has window counts
  ProgressFn progress;   // optional
};
RequestTrace generate_parametric(const WorkloadModel& model, const ParametricOptions& options);

// Scaling. Each returns a new trace; none changes the number of requests except superpose.
// Time compression: every time divided by `factor` (> 0), so the rate is multiplied by it exactly.
RequestTrace compress_time(const RequestTrace& trace, double factor);
// Requests per second over the trace's span: (n − 1) / (last − first); 0 for fewer than 2 requests or
// no span.
double mean_rate(const RequestTrace& trace);
// Compressed so that mean_rate becomes `target_per_s` (> 0).
RequestTrace normalize_rate(const RequestTrace& trace, double target_per_s);
// k copies, copy i shifted by i·shift_s, merged in time order (ties keep copy order).
RequestTrace superpose(const RequestTrace& trace, int k, double shift_s);
// Request and response lengths multiplied by `factor` (> 0), rounded, clamped to [min_tokens, max_tokens].
RequestTrace scale_lengths(const RequestTrace& trace, double factor, std::int32_t min_tokens,
                           std::int32_t max_tokens);

// A link's bandwidth over time: samples every step_s over duration_s of
// mean_bps · exp(σ·z_t − σ²/2), z an AR(1) standard normal process with lag-1 correlation `rho`
// (0 = independent samples), so the long-run mean is mean_bps and the spread grows with σ.
struct BandwidthSeriesOptions {
  double mean_bps = 1e9;
  double sigma = 0.2;        // log-space standard deviation (0 = constant)
  double rho = 0.9;          // in [0, 1)
  double step_s = 1.0;
  double duration_s = 600.0;
  std::uint64_t seed = 1;
};
BandwidthTrace generate_bandwidth(const BandwidthSeriesOptions& options);

// Failures of `nodes` nodes ("node0", "node1", ...) over `duration_s`: per node, times between
// failures drawn from a Weibull of shape `weibull_shape` (in [0.1, 100]; 1 = exponential) with mean
// `mtbf_s` (the per-node mean time between failures). Node n draws from its own stream (seed, n).
struct FailureOptions {
  int nodes = 1;
  double mtbf_s = 100.0 * 86400.0;
  double weibull_shape = 1.0;
  double duration_s = 86400.0;
  std::uint64_t seed = 1;
};
FailureLog generate_failures(const FailureOptions& options);

// A failure schedule for the pretraining app: "STEP:RANK:kind" items in time order, one per rank of
// each failed node (node i of the log holds ranks i·ranks_per_node ...), the step being the one the
// failure falls in (time / step_s), `kind` "node" when a whole node fails.
std::vector<std::string> failure_schedule(const FailureLog& failures, double step_s, int ranks_per_node,
                                          const std::string& kind = "node");

}  // namespace meridian::trace
