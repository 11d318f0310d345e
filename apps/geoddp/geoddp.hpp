// geoddp: data-parallel training of an image classifier on ranks placed in emulated data centers,
// under one or several synchronisation schemes in turn (S-SGD, WFBP, FLSGD, PLSGD-even, DreamDDP),
// with time-to-accuracy, per-iteration metrics and the simulator's prediction side by side.
// geoddp.cpp: options and the training loop; geoddp_report.cpp: metrics.csv, summary.json and the
// comparison table.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "comm/link_model.hpp"
#include "core/results.hpp"
#include "dist/dp/data_parallel.hpp"
#include "dist/sim/simulator.hpp"

namespace meridian::geoddp {

struct Options {
  std::string model = "cnn";             // mlp | cnn
  std::string schemes_text = "dreamddp"; // one scheme or a comma list, run in turn
  std::vector<dist::Scheme> schemes;
  int period = 10;                       // --H
  int dcs = 1;
  std::string dc_map;
  LinkOptions link;
  double epochs = 1;                     // may be fractional
  std::int64_t iterations = 0;           // cap per scheme (0: epochs decide)
  std::int64_t batch = 32;               // per worker
  double lr = 0.05, momentum = 0.9, weight_decay = 0;
  double target_acc = 0.85;
  double noniid_alpha = 0;               // 0: IID; > 0: Dirichlet(alpha) over labels
  std::uint64_t seed = 1;
  std::string out_dir;
  std::string data_dir;
  std::int64_t eval_every = 0;           // iterations between test evaluations (0: once per epoch)
  std::int64_t eval_samples = 0;         // test images used (0: all)
  std::int64_t print_every = 10;
  std::int64_t skip = 5;                 // leading iterations left out of the mean iteration time
  std::string bucket_text = "1M", unit_text = "auto";
  std::int64_t bucket_bytes = 0, unit_bytes = -1;  // parsed from the two texts (unit: -1 = auto)
  int profile_iterations = 4;
  double replan_threshold = 0.2;
  int threads = 0;
  bool sweep = false;                    // --sweep: the simulator's study from the measured profile

  dist::SchemeOptions scheme_options(dist::Scheme scheme) const;
  nlohmann::json to_json() const;
};

// Per iteration, gathered from every rank (rank-major vectors of doubles, see geoddp_report.cpp).
struct IterationRow {
  std::int64_t iteration = 0;
  double epoch = 0;               // fractional epoch at the end of the iteration
  double loss_mean = 0, train_acc = 0;
  double wall_max_s = 0, compute_mean_s = 0, exposed_mean_s = 0, exposed_max_s = 0, busy_mean_s = 0;
  double overlap = 1;             // 1 - sum exposed / sum busy over ranks
  double syncs = 0, synced_bytes = 0;  // rank 0's
  std::vector<double> link_bytes;      // dcs x dcs, bytes sent from data center a to b this iteration
  // Filled on evaluation iterations (NaN otherwise).
  double test_acc = 0, divergence = 0, train_time_s = 0;
  bool evaluated = false;
};

struct SchemeResult {
  dist::Scheme scheme = dist::Scheme::ssgd;
  int period = 1;
  std::vector<IterationRow> rows;  // rank 0 only
  double mean_iteration_s = 0, mean_compute_s = 0, mean_exposed_s = 0, overlap = 1;
  double wan_bytes_per_iteration = 0;   // over every inter-DC link
  double predicted_iteration_s = 0;     // the simulator, from this run's compute profile
  dist::Estimate predicted;
  double final_test_acc = 0, best_test_acc = 0, train_time_s = 0;
  std::optional<double> time_to_target_s;
  std::optional<std::int64_t> iterations_to_target;
  nlohmann::json plan;                  // the plan in force at the end (plsgd, dreamddp)
  nlohmann::json planner;               // dreamddp: planner statistics and replans
  dist::ModelProfile profile;           // maximum over ranks of the measured per-unit times
};

// geoddp_report.cpp
std::vector<std::string> metrics_columns(int dcs);
std::vector<CsvValue> metrics_values(const IterationRow& row, int dcs);
nlohmann::json summary_json(const SchemeResult& r, const Options& o);
void print_comparison(const std::vector<SchemeResult>& results, const Options& o, const std::string& links);
nlohmann::json comparison_json(const std::vector<SchemeResult>& results);
std::vector<std::string> comparison_columns();
std::vector<CsvValue> comparison_values(const SchemeResult& r, const SchemeResult* ssgd);
// The simulator's sweep over workers and inter-DC bandwidths from a measured profile: printed, and
// written to DIR/sweep.csv when `dir` is not empty.
void write_sweep(const std::vector<dist::SweepRow>& rows, const std::string& dir);

}  // namespace meridian::geoddp
