// tracegen: trace-driven workload generation. Subcommands:
//   stats FILE          what a request trace holds (rate, burstiness, lengths, models, failures)
//   fit FILE --out M    a workload model (arrival process, lengths, their joint, failures) as JSON
//   generate            requests (replay / bootstrap of a trace, or parametric from a model, scaled),
//                       link-bandwidth series, or failure schedules
//   fit-failures FILE   times between node failures (exponential and Weibull), from a node,time_s log
//   fit-bandwidth FILE  the AR(1) log-normal model of a link-bandwidth series (time_s,bandwidth_bps)
//   validate A B        two request traces side by side (KS, Anderson-Darling, W1, percentiles,
//                       burstiness per window)
// One process, no MPI. Progress lines (stage, count, elapsed) go to stderr.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "comm/link_model.hpp"
#include "common/cli.hpp"
#include "core/runtime.hpp"
#include "trace/fit.hpp"
#include "trace/generate.hpp"
#include "trace/readers.hpp"
#include "trace/stats.hpp"
#include "trace/writers.hpp"

namespace meridian::tracegen {
namespace {

using namespace meridian::trace;

// Progress of one stage on stderr. On a terminal, a bar redrawn in place at most ten times a second
// ("reading big.csv [#########           ]  45 %  0.6 s"), then replaced by the stage's result
// ("reading big.csv ... 1400000 requests in 1.21 s"). Not on a terminal (a batch job's log), plain
// lines: the result, and "... 45 % after 10 s" every 10 s of a long stage.
class Progress {
 public:
  explicit Progress(std::string stage) : stage_(std::move(stage)) {
    if (tty_) std::fprintf(stderr, "%s ...", stage_.c_str());
  }
  // For a reader or generator: reports the fraction done.
  ProgressFn callback() {
    return [this](double fraction) { update(fraction); };
  }
  void update(double fraction) {
    const double s = elapsed_s();
    if (s < next_report_s_) return;
    const int percent = static_cast<int>(100 * std::clamp(fraction, 0.0, 1.0));
    if (tty_) {
      constexpr int kWidth = 30;
      const int filled = percent * kWidth / 100;
      std::fprintf(stderr, "\r%s [%s%s] %3d %%  %.1f s\033[K", stage_.c_str(), std::string(filled, '#').c_str(),
                   std::string(kWidth - filled, ' ').c_str(), percent, s);
      next_report_s_ = s + 0.1;
    } else if (s >= 10) {
      std::fprintf(stderr, "%s ... %d %% after %.0f s\n", stage_.c_str(), percent, s);
      next_report_s_ = s + 10;
    }
  }
  void done(const std::string& what) {
    std::fprintf(stderr, "%s%s ... %s in %.2f s\n", tty_ ? "\r\033[K" : "", stage_.c_str(), what.c_str(), elapsed_s());
  }

 private:
  double elapsed_s() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(); }

  std::string stage_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  double next_report_s_ = 0;
  bool tty_ = isatty(2) != 0;
};

// The JSON document in the file a flag names; InputError naming the flag and the file otherwise.
nlohmann::json read_json(const char* flag, const std::string& path) {
  std::ifstream is(path);
  MERIDIAN_INPUT_CHECK(is.good(), flag, " ", path, ": cannot read the file");
  try {
    return nlohmann::json::parse(is);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(cat(flag, " ", path, ": not JSON (", e.what(), ")"));
  }
}

// Writes `json` (indented) to the file a flag names; InputError naming the flag and the file when it
// cannot be written.
void write_json(const char* flag, const std::string& path, const nlohmann::json& json) {
  std::ofstream os(path);
  MERIDIAN_INPUT_CHECK(os.good(), flag, " ", path, ": cannot write there");
  os << json.dump(1) << "\n";
  os.flush();
  MERIDIAN_INPUT_CHECK(os.good(), flag, " ", path, ": writing failed (disk full?)");
}

struct Filters {
  std::string format = "auto", model, log_type;
  bool drop_failed = false;
  double from_s = 0, to_s = 0;  // to 0: no end
};

void add_filters(CLI::App* app, Filters& f) {
  app->add_option("--format", f.format, "burstgpt, azure, jsonl or auto (from the extension and header)");
  app->add_option("--model", f.model, "Keep the requests of this model only");
  app->add_option("--log-type", f.log_type, "Keep conversation or api requests only");
  app->add_flag("--drop-failed", f.drop_failed, "Drop failed requests (0 response tokens)");
  app->add_option("--from", f.from_s, "Keep requests from this time (s since the first request)");
  app->add_option("--to", f.to_s, "Keep requests before this time (0: to the end)");
}

RequestTrace load(const std::string& path, const Filters& f) {
  Progress p(cat("reading ", path));
  RequestTrace t = read_requests(path, f.format == "auto" ? RequestFormat::automatic : parse_request_format(f.format),
                                 p.callback());
  const std::size_t read = t.size();
  if (!f.model.empty()) {
    MERIDIAN_INPUT_CHECK(t.model_index(f.model) >= 0, "--model ", f.model, ": ", path, " has no request of that model");
    t = filter_model(t, f.model);
  }
  if (!f.log_type.empty()) {
    MERIDIAN_INPUT_CHECK(f.log_type == "conversation" || f.log_type == "api", "--log-type ", f.log_type,
                         ": use conversation or api");
    t = filter_log_type(t, f.log_type == "api" ? LogType::api : LogType::conversation);
  }
  if (f.drop_failed) t = drop_failed(t);
  if (f.from_s > 0 || f.to_s > 0) t = filter_window(t, f.from_s, f.to_s > 0 ? f.to_s : 1e300);
  p.done(cat(read, " requests read, ", t.size(), " kept"));
  MERIDIAN_INPUT_CHECK(!t.empty(), path, ": no request left after the filters");
  return t;
}

std::vector<double> as_doubles(const std::vector<std::int32_t>& v) { return {v.begin(), v.end()}; }

std::vector<double> parse_windows(const std::string& text) {
  std::vector<double> out;
  for (const std::string& part : cli::split(text, ',')) {
    char* end = nullptr;
    const double w = std::strtod(part.c_str(), &end);
    MERIDIAN_INPUT_CHECK(end != part.c_str() && *end == '\0' && w > 0, "--windows: '", part,
                         "' is not a positive number of seconds; write e.g. 1,10,60");
    out.push_back(w);
  }
  return out;
}

int run_stats(const std::string& path, const Filters& f, const std::string& windows_text) {
  const RequestTrace t = load(path, f);
  const auto windows = parse_windows(windows_text);
  const std::vector<double> gaps = inter_arrival_s(t.time_s);
  std::printf("%s: %zu requests over %.3f s (%.4g requests/s)\n", path.c_str(), t.size(),
              t.time_s.back() - t.time_s.front(), mean_rate(t));
  for (const FailureRate& r : failure_rates(t))
    std::printf("  model %-24s %10zu requests, %8zu failed (%.2f %%)\n", r.model.empty() ? "(none)" : r.model.c_str(),
                r.requests, r.failures, 100 * r.probability);
  if (gaps.size() >= 2)
    std::printf("  inter-arrival: mean %.4g s, CV %.3f, p50 %.4g s, p99 %.4g s\n", mean(gaps),
                coefficient_of_variation(gaps), percentile(gaps, 50), percentile(gaps, 99));
  for (double w : windows) {
    const auto counts = window_counts(t.time_s, w);
    if (counts.size() >= 2)
      std::printf("  window %6g s: %zu windows, index of dispersion %.3f, lag-1 autocorrelation %.3f\n", w,
                  counts.size(), index_of_dispersion(counts), autocorrelation(counts, 1).at(0));
  }
  const auto req = as_doubles(t.request_tokens), resp = as_doubles(t.response_tokens);
  std::printf("  request tokens:  mean %.1f, p50 %.0f, p99 %.0f, max %.0f\n", mean(req), percentile(req, 50),
              percentile(req, 99), percentile(req, 100));
  std::printf("  response tokens: mean %.1f, p50 %.0f, p99 %.0f, max %.0f\n", mean(resp), percentile(resp, 50),
              percentile(resp, 99), percentile(resp, 100));
  return 0;
}

int run_fit(const std::string& path, const Filters& f, const std::string& out, const std::string& group_by,
            double window_s, const std::string& zeros, std::uint64_t seed) {
  const RequestTrace t = load(path, f);
  WorkloadFitOptions o;
  o.group_by = parse_group_by(group_by);
  o.window_s = window_s;
  MERIDIAN_INPUT_CHECK(zeros == "jitter" || zeros == "drop" || zeros == "reject", "--zeros ", zeros,
                       ": use jitter, drop or reject");
  o.zeros = zeros == "jitter" ? ZeroPolicy::jitter : zeros == "drop" ? ZeroPolicy::drop : ZeroPolicy::reject;
  o.seed = seed;
  Progress p("fitting");
  const WorkloadModel model = fit_workload(t, o);
  p.done(cat(model.classes.size(), " classes"));
  for (const WorkloadClass& c : model.classes)
    std::printf("%s/%s: %zu requests, %.4g/s, inter-arrival %s, request %s, response %s, failures %.2f %%\n",
                c.model.c_str(), c.log_type.c_str(), c.requests, c.arrival.rate_per_s,
                c.arrival.inter_arrival.describe().c_str(), c.request_tokens.describe().c_str(),
                c.response_tokens.describe().c_str(), 100 * c.failure_probability);
  for (const SkippedClass& s : model.skipped)
    std::printf("skipped %s/%s (%zu requests): %s\n", s.model.c_str(), s.log_type.c_str(), s.requests, s.reason.c_str());
  write_json("--out", out, model.to_json());
  std::printf("model written to %s\n", out.c_str());
  return 0;
}

int run_fit_failures(const std::string& path, const std::string& out) {
  Progress p(cat("reading ", path));
  const FailureLog log = read_failure_csv(path);
  p.done(cat(log.failures(), " failures of ", log.node.size(), " nodes"));
  const FailureIntervalFit f = fit_failure_intervals(log.time_s, ZeroPolicy::drop);
  std::printf("%zu nodes, %zu failures, %zu intervals between failures of one node (%zu zero intervals dropped)\n",
              f.nodes, f.failures, f.intervals, f.zeros_dropped);
  std::printf("MTBF of one node: %.6g s (%.4g h)\n", f.mean_interval_s, f.mean_interval_s / 3600);
  std::printf("exponential: %s, AIC %.2f\nweibull:     %s, AIC %.2f\nbest by AIC: %s\n",
              f.exponential.distribution.describe().c_str(), f.exponential.aic, f.weibull.distribution.describe().c_str(),
              f.weibull.aic, family_name(f.best));
  if (!out.empty())
    write_json("--out", out,
               {{"nodes", f.nodes},
                {"failures", f.failures},
                {"intervals", f.intervals},
                {"mtbf_s", f.mean_interval_s},
                {"exponential", f.exponential.to_json()},
                {"weibull", f.weibull.to_json()},
                {"best", family_name(f.best)}});
  return 0;
}

int run_fit_bandwidth(const std::string& path, const std::string& out) {
  Progress p(cat("reading ", path));
  const BandwidthTrace series = read_bandwidth_csv(path);
  p.done(cat(series.size(), " samples"));
  const BandwidthModel m = fit_bandwidth(series.time_s, series.bandwidth_bps);
  std::printf("%zu samples (%zu outages left out), one every %.4g s\n", m.samples, m.outages, m.step_s);
  std::printf("mean %.6g bit/s, sigma (of ln bandwidth) %.4f, lag-1 correlation rho %.4f\n", m.mean_bps, m.sigma, m.rho);
  if (!out.empty()) {
    write_json("--out", out, m.to_json());
    std::printf("link model written to %s\n", out.c_str());
  }
  return 0;
}

struct GenerateOptions {
  std::string kind = "requests", mode, trace, model, out, format = "auto", summary;
  Filters filters;
  std::int64_t count = 0;
  double duration_s = 0, compress = 1, rate = 0, shift_s = 0, length_scale = 1;
  int superpose = 1;
  bool stationary = false;
  std::int32_t min_tokens = 0, max_tokens = 1 << 20;
  std::uint64_t seed = 1;
  // bandwidth
  std::string mean_bandwidth = "1Gbit";
  double sigma = 0.2, rho = 0.9, step_s = 1;
  std::string region_tables, pair, link_model;
  const CLI::App* command = nullptr;  // to tell options given on the command line from defaults
  bool given(const char* option) const { return command->count(option) > 0; }
  // failures
  int nodes = 1, ranks_per_node = 1;
  double mtbf_hours = 2400, shape = 1, step_time_s = 0;
};

int run_generate(const GenerateOptions& g) {
  MERIDIAN_INPUT_CHECK(!g.out.empty(), "generate: give --out FILE");
  if (g.kind == "bandwidth") {
    // From a fitted link model when one is given; --mean/--pair, --sigma, --rho and --step given on
    // the command line override its values (e.g. a measured link with a chosen variability).
    BandwidthSeriesOptions o;
    if (!g.link_model.empty()) {
      const BandwidthModel m = BandwidthModel::from_json(read_json("--link-model", g.link_model));
      o.mean_bps = m.mean_bps;
      o.sigma = m.sigma;
      o.rho = m.rho;
      o.step_s = m.step_s;
    }
    if (g.link_model.empty() || g.given("--mean")) o.mean_bps = parse_bandwidth_bps(g.mean_bandwidth, "--mean:");
    if (!g.pair.empty()) {
      MERIDIAN_INPUT_CHECK(!g.region_tables.empty(), "--pair needs --region-tables DIR (inter_region_throughput.csv)");
      const auto ends = cli::split(g.pair, ',');
      MERIDIAN_INPUT_CHECK(ends.size() == 2, "--pair '", g.pair, "': write SRC,DST, e.g. aws:us-east-1,gcp:europe-west4-a");
      const LinkTable table = read_throughput_table((std::filesystem::path(g.region_tables) / "inter_region_throughput.csv").string());
      o.mean_bps = table.lookup(ends[0], ends[1]) * 1e9;
    }
    if (g.link_model.empty() || g.given("--sigma")) o.sigma = g.sigma;
    if (g.link_model.empty() || g.given("--rho")) o.rho = g.rho;
    if (g.link_model.empty() || g.given("--step")) o.step_s = g.step_s;
    o.duration_s = g.duration_s > 0 ? g.duration_s : 600;
    o.seed = g.seed;
    const BandwidthTrace b = generate_bandwidth(o);
    write_bandwidth_csv(b, g.out);
    std::printf("%zu bandwidth samples (mean %.4g bit/s, sigma %.3g, rho %.3g, every %.4g s) written to %s\n", b.size(),
                o.mean_bps, o.sigma, o.rho, o.step_s, g.out.c_str());
    return 0;
  }
  if (g.kind == "failures") {
    FailureOptions o;
    o.nodes = g.nodes;
    o.mtbf_s = g.mtbf_hours * 3600;
    o.weibull_shape = g.shape;
    o.duration_s = g.duration_s > 0 ? g.duration_s : 86400;
    o.seed = g.seed;
    const FailureLog log = generate_failures(o);
    if (g.step_time_s > 0) {
      std::ofstream os(g.out);
      MERIDIAN_INPUT_CHECK(os.good(), "--out ", g.out, ": cannot write there");
      for (const std::string& item : failure_schedule(log, g.step_time_s, g.ranks_per_node)) os << item << "\n";
    } else {
      write_failure_csv(log, g.out);
    }
    std::printf("%zu failures of %d nodes over %.0f s (MTBF %.4g h per node) written to %s\n", log.failures(), o.nodes,
                o.duration_s, g.mtbf_hours, g.out.c_str());
    return 0;
  }
  MERIDIAN_INPUT_CHECK(g.kind == "requests", "--kind ", g.kind, ": use requests, bandwidth or failures");
  std::string mode = g.mode;
  if (mode.empty()) mode = g.model.empty() ? "bootstrap" : "parametric";
  RequestTrace t;
  std::optional<Progress> p;
  if (mode == "parametric") {
    MERIDIAN_INPUT_CHECK(!g.model.empty(), "--mode parametric needs --workload MODEL.json (from tracegen fit)");
    const WorkloadModel model = WorkloadModel::from_json(read_json("--workload", g.model));
    ParametricOptions o;
    o.count = g.count;
    o.duration_s = g.duration_s;
    o.seed = g.seed;
    o.windowed = !g.stationary;
    p.emplace("generating (parametric)");
    o.progress = p->callback();
    t = generate_parametric(model, o);
  } else {
    MERIDIAN_INPUT_CHECK(mode == "replay" || mode == "bootstrap", "--mode ", mode,
                         ": use replay, bootstrap (both need --trace) or parametric (needs --workload)");
    MERIDIAN_INPUT_CHECK(!g.trace.empty(), "--mode ", mode, " needs --trace FILE");
    const RequestTrace source = load(g.trace, g.filters);
    p.emplace(cat("generating (", mode, ")"));
    t = mode == "replay" ? source
                         : bootstrap(source, g.count > 0 ? g.count : static_cast<std::int64_t>(source.size()), g.seed,
                                     p->callback());
  }
  if (g.compress != 1) t = compress_time(t, g.compress);
  if (g.rate > 0) t = normalize_rate(t, g.rate);
  if (g.superpose > 1) t = superpose(t, g.superpose, g.shift_s);
  if (g.length_scale != 1 || g.min_tokens > 0 || g.max_tokens < (1 << 20))
    t = scale_lengths(t, g.length_scale, g.min_tokens, g.max_tokens);
  p->done(cat(t.size(), " requests"));
  Progress w(cat("writing ", g.out));
  write_requests(t, g.out, g.format == "auto" ? RequestFormat::automatic : parse_request_format(g.format));
  w.done("done");
  if (!g.summary.empty()) {
    const auto req = as_doubles(t.request_tokens), resp = as_doubles(t.response_tokens);
    nlohmann::json s = {{"requests", t.size()},
                        {"duration_s", t.empty() ? 0.0 : t.time_s.back() - t.time_s.front()},
                        {"rate_per_s", mean_rate(t)},
                        {"mode", mode},
                        {"seed", g.seed},
                        {"request_tokens_mean", t.empty() ? 0.0 : mean(req)},
                        {"response_tokens_mean", t.empty() ? 0.0 : mean(resp)},
                        {"models", t.models}};
    write_json("--summary", g.summary, s);
  }
  std::printf("%zu requests (%.4g/s) written to %s\n", t.size(), mean_rate(t), g.out.c_str());
  return 0;
}

int run_validate(const std::string& a_path, const std::string& b_path, const Filters& f, const std::string& windows_text,
                 const std::string& json_out) {
  const RequestTrace a = load(a_path, f), b = load(b_path, f);
  CompareOptions o;
  o.window_s = parse_windows(windows_text);
  const Comparison c = compare_traces(a, b, o);
  std::printf("%s", format_comparison(c, a_path, b_path).c_str());
  if (!json_out.empty()) write_json("--json", json_out, c.to_json());
  return 0;
}

}  // namespace
}  // namespace meridian::tracegen

int main(int argc, char** argv) {
  using namespace meridian;
  using namespace meridian::tracegen;
  return run_main([&]() -> int {
    CLI::App app{"tracegen: read, fit, generate and validate workload traces (LLM request streams, link bandwidth, "
                 "failures).\nRun 'tracegen SUBCOMMAND --help' for each subcommand's options."};
    cli::configure(app);
    app.require_subcommand(1);

    Filters stats_filters, fit_filters, validate_filters;
    std::string stats_path, stats_windows = "1,10,60";
    CLI::App* stats = app.add_subcommand("stats", "What a request trace holds: rate, burstiness, lengths, models, failures");
    stats->add_option("FILE", stats_path, "Request trace (BurstGPT CSV, Azure CSV or JSONL)")->required();
    stats->add_option("--windows", stats_windows, "Window sizes (s) for counts: index of dispersion, autocorrelation");
    add_filters(stats, stats_filters);

    std::string fit_path, fit_out, group_by = "model_and_log_type", zeros = "jitter";
    double window_s = 60;
    std::uint64_t fit_seed = 1;
    CLI::App* fit = app.add_subcommand("fit", "Fit a workload model (JSON) to a request trace");
    fit->add_option("FILE", fit_path, "Request trace")->required();
    fit->add_option("--out", fit_out, "Model file to write (JSON)")->required();
    fit->add_option("--group-by", group_by, "Classes: all, model or model_and_log_type");
    fit->add_option("--window", window_s, "Window (s) of the per-window arrival counts kept in the model (0: none)");
    fit->add_option("--zeros", zeros, "Equal timestamps (integer seconds): jitter within the second, drop, or reject");
    fit->add_option("--seed", fit_seed, "Seed of the jitter and of the joint sample");
    add_filters(fit, fit_filters);

    std::string failures_path, failures_out;
    CLI::App* fit_failures =
        app.add_subcommand("fit-failures", "Fit the times between node failures of a failure log (node,time_s)");
    fit_failures->add_option("FILE", failures_path, "Failure log: CSV node,time_s")->required();
    fit_failures->add_option("--out", failures_out, "Also write the fits as JSON here");

    std::string bandwidth_path, bandwidth_out;
    CLI::App* fit_bw = app.add_subcommand(
        "fit-bandwidth", "Fit the AR(1) log-normal model of a link-bandwidth series (time_s,bandwidth_bps)");
    fit_bw->add_option("FILE", bandwidth_path, "Bandwidth series: CSV time_s,bandwidth_bps")->required();
    fit_bw->add_option("--out", bandwidth_out, "Also write the link model (JSON) here, for generate --link-model");

    GenerateOptions g;
    CLI::App* gen = app.add_subcommand("generate", "Generate requests, a link-bandwidth series or a failure schedule");
    gen->add_option("--kind", g.kind, "requests, bandwidth or failures");
    gen->add_option("--mode", g.mode, "Requests: replay, bootstrap (from --trace) or parametric (from --workload)");
    gen->add_option("--trace", g.trace, "Source trace for replay and bootstrap");
    gen->add_option("--workload", g.model, "Workload model file (from tracegen fit) for parametric");
    gen->add_option("--count", g.count, "Requests to generate (bootstrap, parametric)");
    gen->add_option("--duration", g.duration_s, "Seconds to generate (parametric, bandwidth, failures)");
    gen->add_option("--seed", g.seed, "Seed: the same seed gives the same stream");
    gen->add_flag("--stationary", g.stationary,
                  "Parametric: arrivals at the mean rate, ignoring the model's per-window counts");
    gen->add_option("--compress", g.compress, "Divide every timestamp by this (2: twice the rate)");
    gen->add_option("--rate", g.rate, "Scale time to this mean rate (requests/s)");
    gen->add_option("--superpose", g.superpose, "Superpose this many shifted copies");
    gen->add_option("--shift", g.shift_s, "Shift (s) between superposed copies");
    gen->add_option("--scale-lengths", g.length_scale, "Multiply request and response lengths");
    gen->add_option("--min-tokens", g.min_tokens, "Clamp lengths from below");
    gen->add_option("--max-tokens", g.max_tokens, "Clamp lengths from above");
    gen->add_option("--out", g.out, "Output file (.csv BurstGPT, .jsonl; --out-format azure for Azure's CSV)");
    gen->add_option("--out-format", g.format, "Output format: burstgpt, azure, jsonl or auto (from the extension)");
    gen->add_option("--summary", g.summary, "Also write a summary JSON here");
    gen->add_option("--mean", g.mean_bandwidth, "Bandwidth: mean (e.g. 1Gbit)");
    gen->add_option("--sigma", g.sigma, "Bandwidth: log-space standard deviation");
    gen->add_option("--rho", g.rho, "Bandwidth: lag-1 correlation of successive samples");
    gen->add_option("--step", g.step_s, "Bandwidth: seconds between samples");
    gen->add_option("--region-tables", g.region_tables, "Bandwidth: folder with inter_region_throughput.csv");
    gen->add_option("--pair", g.pair, "Bandwidth: SRC,DST regions whose measured throughput is the mean");
    gen->add_option("--link-model", g.link_model,
                    "Bandwidth: a link model (from tracegen fit-bandwidth); --mean, --sigma, --rho, --step override it");
    g.command = gen;
    gen->add_option("--nodes", g.nodes, "Failures: nodes");
    gen->add_option("--mtbf-hours", g.mtbf_hours, "Failures: mean time between failures of one node, hours");
    gen->add_option("--shape", g.shape,
                    "Failures: Weibull shape of the times between failures, 0.1 .. 100 (1: exponential)");
    gen->add_option("--step-time", g.step_time_s, "Failures: write STEP:RANK:node lines for steps of this many seconds");
    gen->add_option("--ranks-per-node", g.ranks_per_node, "Failures: ranks on each node (for STEP:RANK lines)");
    add_filters(gen, g.filters);

    std::string a_path, b_path, validate_windows = "1,10,60", json_out;
    CLI::App* val = app.add_subcommand("validate", "Compare two request traces side by side");
    val->add_option("A", a_path, "Reference trace")->required();
    val->add_option("B", b_path, "Trace to compare (e.g. generated)")->required();
    val->add_option("--windows", validate_windows, "Window sizes (s) for counts");
    val->add_option("--json", json_out, "Also write the comparison as JSON here");
    add_filters(val, validate_filters);

    if (!cli::parse(app, argc, argv)) return 0;
    if (stats->parsed()) return run_stats(stats_path, stats_filters, stats_windows);
    if (fit->parsed()) return run_fit(fit_path, fit_filters, fit_out, group_by, window_s, zeros, fit_seed);
    if (gen->parsed()) return run_generate(g);
    if (fit_failures->parsed()) return run_fit_failures(failures_path, failures_out);
    if (fit_bw->parsed()) return run_fit_bandwidth(bandwidth_path, bandwidth_out);
    return run_validate(a_path, b_path, validate_filters, validate_windows, json_out);
  });
}
