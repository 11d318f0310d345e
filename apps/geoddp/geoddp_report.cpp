// geoddp's outputs: the per-iteration metrics.csv of each scheme, its summary.json, and the
// comparison of the schemes (table on the terminal, metrics.csv and summary.json at the top).
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "geoddp.hpp"

namespace meridian::geoddp {

namespace {

nlohmann::json optional_json(const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(); }

std::string label(const SchemeResult& r) {
  std::string s = dist::scheme_name(r.scheme);
  if (r.period > 1) s += cat("(", r.period, ")");
  return s;
}

}  // namespace

std::vector<std::string> metrics_columns(int dcs) {
  std::vector<std::string> c = {"iteration", "epoch", "loss", "train_acc", "wall_ms", "compute_ms", "exposed_ms",
                                "exposed_max_ms", "comm_busy_ms", "overlap", "syncs", "synced_MB"};
  for (int a = 0; a < dcs; ++a)
    for (int b = 0; b < dcs; ++b)
      if (a != b) c.push_back(cat("MB_dc", a, "_to_dc", b));
  for (const char* e : {"test_acc", "divergence", "train_time_s"}) c.push_back(e);
  return c;
}

std::vector<CsvValue> metrics_values(const IterationRow& row, int dcs) {
  std::vector<CsvValue> v = {row.iteration,           row.epoch,
                             row.loss_mean,           row.train_acc,
                             1e3 * row.wall_max_s,    1e3 * row.compute_mean_s,
                             1e3 * row.exposed_mean_s, 1e3 * row.exposed_max_s,
                             1e3 * row.busy_mean_s,   row.overlap,
                             static_cast<std::int64_t>(row.syncs), 1e-6 * row.synced_bytes};
  for (int a = 0; a < dcs; ++a)
    for (int b = 0; b < dcs; ++b)
      if (a != b) v.emplace_back(1e-6 * row.link_bytes[static_cast<std::size_t>(a * dcs + b)]);
  if (row.evaluated) {
    v.insert(v.end(), {row.test_acc, row.divergence, row.train_time_s});
  } else {
    v.insert(v.end(), {std::string(), std::string(), std::string()});
  }
  return v;
}

nlohmann::json summary_json(const SchemeResult& r, const Options& o) {
  nlohmann::json j = {{"scheme", dist::scheme_name(r.scheme)},
                      {"period", r.period},
                      {"iterations", r.rows.size()},
                      {"mean_iteration_s", r.mean_iteration_s},
                      {"mean_compute_s", r.mean_compute_s},
                      {"mean_exposed_comm_s", r.mean_exposed_s},
                      {"overlap", r.overlap},
                      {"wan_bytes_per_iteration", r.wan_bytes_per_iteration},
                      {"predicted", r.predicted.to_json()},
                      {"prediction_error", r.mean_iteration_s > 0
                                               ? (r.predicted_iteration_s - r.mean_iteration_s) / r.mean_iteration_s
                                               : 0.0},
                      {"target_acc", o.target_acc},
                      {"time_to_target_s", optional_json(r.time_to_target_s)},
                      {"iterations_to_target",
                       r.iterations_to_target ? nlohmann::json(*r.iterations_to_target) : nlohmann::json()},
                      {"final_test_acc", r.final_test_acc},
                      {"best_test_acc", r.best_test_acc},
                      {"train_time_s", r.train_time_s},
                      {"skipped_iterations", o.skip},
                      {"profile", r.profile.to_json()}};
  if (!r.plan.is_null()) j["plan"] = r.plan;
  if (!r.planner.is_null()) j["planner"] = r.planner;
  return j;
}

std::vector<std::string> comparison_columns() {
  return {"scheme",        "H",          "iter_ms",       "predicted_ms", "prediction_error", "compute_ms",
          "exposed_ms",    "overlap",    "wan_MB_per_iter", "time_to_target_s", "final_acc", "speedup_vs_ssgd"};
}

std::vector<CsvValue> comparison_values(const SchemeResult& r, const SchemeResult* ssgd) {
  const double err = r.mean_iteration_s > 0 ? (r.predicted_iteration_s - r.mean_iteration_s) / r.mean_iteration_s : 0;
  return {std::string(dist::scheme_name(r.scheme)),
          static_cast<std::int64_t>(r.period),
          1e3 * r.mean_iteration_s,
          1e3 * r.predicted_iteration_s,
          err,
          1e3 * r.mean_compute_s,
          1e3 * r.mean_exposed_s,
          r.overlap,
          1e-6 * r.wan_bytes_per_iteration,
          r.time_to_target_s ? CsvValue(*r.time_to_target_s) : CsvValue(std::string()),
          r.final_test_acc,
          ssgd != nullptr && r.mean_iteration_s > 0 ? CsvValue(ssgd->mean_iteration_s / r.mean_iteration_s)
                                                     : CsvValue(std::string())};
}

nlohmann::json comparison_json(const std::vector<SchemeResult>& results) {
  nlohmann::json j = nlohmann::json::array();
  for (const SchemeResult& r : results)
    j.push_back({{"scheme", dist::scheme_name(r.scheme)},
                 {"period", r.period},
                 {"mean_iteration_s", r.mean_iteration_s},
                 {"predicted_iteration_s", r.predicted_iteration_s},
                 {"mean_exposed_comm_s", r.mean_exposed_s},
                 {"overlap", r.overlap},
                 {"wan_bytes_per_iteration", r.wan_bytes_per_iteration},
                 {"time_to_target_s", optional_json(r.time_to_target_s)},
                 {"final_test_acc", r.final_test_acc},
                 {"train_time_s", r.train_time_s}});
  return {{"schemes", j}};
}

void print_comparison(const std::vector<SchemeResult>& results, const Options& o, const std::string& links) {
  const SchemeResult* ssgd = nullptr;
  for (const SchemeResult& r : results)
    if (r.scheme == dist::Scheme::ssgd) ssgd = &r;
  std::printf("\n# comparison: %s, batch %lld per worker; iteration times are means after the first %lld "
              "iterations (slowest worker); predicted = the simulator from this run's compute profile and the "
              "link model\n",
              links.c_str(), static_cast<long long>(o.batch), static_cast<long long>(o.skip));
  std::printf("%-14s %9s %9s %7s %10s %10s %7s %9s %10s %8s %8s\n", "scheme", "iter_ms", "pred_ms", "error",
              "compute_ms", "exposed_ms", "overlap", "WAN_MB/it", "to_target", "final", "speedup");
  for (const SchemeResult& r : results) {
    const double err = r.mean_iteration_s > 0 ? (r.predicted_iteration_s - r.mean_iteration_s) / r.mean_iteration_s : 0;
    const std::string target = r.time_to_target_s ? cat(std::lround(*r.time_to_target_s * 10) / 10.0, " s") : "not hit";
    std::printf("%-14s %9.1f %9.1f %6.1f%% %10.1f %10.1f %7.2f %9.3f %10s %7.2f%% %7.2fx\n", label(r).c_str(),
                1e3 * r.mean_iteration_s, 1e3 * r.predicted_iteration_s, 100 * err, 1e3 * r.mean_compute_s,
                1e3 * r.mean_exposed_s, r.overlap, 1e-6 * r.wan_bytes_per_iteration, target.c_str(),
                100 * r.final_test_acc, ssgd != nullptr && r.mean_iteration_s > 0 ? ssgd->mean_iteration_s / r.mean_iteration_s : 0.0);
  }
  if (ssgd != nullptr && ssgd->time_to_target_s)
    for (const SchemeResult& r : results)
      if (r.scheme != dist::Scheme::ssgd && r.time_to_target_s)
        std::printf("# time to %.0f%% test accuracy: %s %.2fx shorter than ssgd\n", 100 * o.target_acc,
                    label(r).c_str(), *ssgd->time_to_target_s / *r.time_to_target_s);
  std::fflush(stdout);
}

void write_sweep(const std::vector<dist::SweepRow>& rows, const std::string& dir) {
  std::printf("%s", dist::format_sweep(rows).c_str());
  std::fflush(stdout);
  if (dir.empty()) return;
  CsvWriter csv(std::filesystem::path(dir) / "sweep.csv",
                {"workers", "inter_bandwidth_bps", "scheme", "H", "iteration_s", "compute_s", "exposed_comm_s",
                 "inter_dc_bytes_per_link", "speedup_vs_ssgd"});
  for (const dist::SweepRow& r : rows)
    csv.row({static_cast<std::int64_t>(r.workers), r.inter_bandwidth_bps, std::string(dist::scheme_name(r.estimate.scheme)),
             static_cast<std::int64_t>(r.estimate.period), r.estimate.iteration_s, r.estimate.compute_s,
             r.estimate.exposed_comm_s, r.estimate.inter_dc_bytes_per_link, r.speedup_vs_ssgd});
}

}  // namespace meridian::geoddp
