// Virtual-clock simulator of the geo-distributed data-parallel schemes (S-SGD, WFBP, FLSGD,
// PLSGD-even, DreamDDP): mean iteration time and its breakdown from a per-layer profile, the worker
// placement and the links. Layers in FORWARD order 0..L-1; seconds, bytes, bit/s.
//
// ALL-REDUCE COST of n bytes (matching WanCommunicator's hierarchical all-reduce), W workers placed
// contiguously in D data centers, p = ceil(W/D) workers in the largest one:
//   intra ring   R_in(n) = 2(p-1) * (a_in + 8n / (p * B_in))                (0 when p = 1)
//   leader ring  R_x(n)  = 2(D-1) * (a_x  + 8n / (D * B_x))                 (0 when D = 1)
//   broadcast    C_in(n) = ceil(log2 p) * a_in + 8n / B_in                  (0 when p = 1)
//   AR(n) = R_in(n) + R_x(n) + C_in(n);  AR(0) = 0.
// a = one-way latency (s), B = bandwidth (bit/s); "in" = inside a data center, "x" = between data
// centers (the slowest inter-DC link and the largest latency of a LinkModel: the ring is as slow as
// its slowest hop). Bytes each leader sends on its ring link per all-reduce: 2(D-1)/D * n.
//
// SCHEMES, per iteration, f/b = total forward/backward, o = optimizer step, N = all parameter bytes:
//   S-SGD     f + b + AR(N) + o                          (one flat all-reduce after backward)
//   WFBP      f + b + exposed + o; gradients packed in backprop order into buckets of >= bucket_bytes,
//             each all-reduced (AR(bucket)) on one serial channel as soon as its last layer's
//             gradient exists; exposed = what runs past the end of backward
//   FLSGD(H)  f + b + o + AR(N) / H                      (one flat parameter average after step H,
//             not overlapped)
//   PLSGD(H), DreamDDP(H): the mean of dist::slot_time over the plan's slots with
//             comm_l = AR(bytes_l) (layer_costs below): per-layer averages overlapping backward.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "comm/link_model.hpp"
#include "dist/dp/sync_plan.hpp"

namespace meridian::dist {

struct LayerProfile {
  std::string name;
  double forward_s = 0;
  double backward_s = 0;
  std::int64_t param_bytes = 0;
};

// Per-layer measured (or assumed) times of one worker's iteration at its batch size.
struct ModelProfile {
  std::vector<LayerProfile> layers;  // forward order
  double optimizer_s = 0;

  double forward_s() const;
  double backward_s() const;
  std::int64_t param_bytes() const;
  // InputError for no layers, negative or non-finite times, negative bytes.
  void validate() const;
  // {"optimizer_s": .., "layers": [{"name", "forward_s", "backward_s", "param_bytes"}, ...]}
  nlohmann::json to_json() const;
  static ModelProfile from_json(const nlohmann::json& json);
};

// Workers, their placement and the links, as plain numbers.
struct ClusterModel {
  int workers = 1;
  int dcs = 1;                        // workers placed contiguously, ceil(W/D) in the largest DC
  double intra_bandwidth_bps = 100e9; // inside a data center (per worker link)
  double intra_latency_s = 5e-6;
  double inter_bandwidth_bps = 1e9;   // between data-center leaders
  double inter_latency_s = 0;

  int workers_per_dc() const;  // the largest data center's
  // InputError for workers < dcs, dcs < 1, bandwidth <= 0, latency < 0.
  void validate() const;
  // Inter-DC numbers from a LinkModel at time `at_s` (slowest link, largest latency); dcs from it.
  static ClusterModel from_link_model(int workers, const LinkModel& links, double intra_bandwidth_bps,
                                      double intra_latency_s, double at_s = 0);
};

struct AllReduceCost {
  double intra_s = 0;      // R_in
  double inter_s = 0;      // R_x
  double broadcast_s = 0;  // C_in
  double total_s() const { return intra_s + inter_s + broadcast_s; }
};
AllReduceCost all_reduce_cost(std::int64_t bytes, const ClusterModel& cluster);
double all_reduce_s(std::int64_t bytes, const ClusterModel& cluster);
// Bytes a data-center leader sends on its (one) inter-DC ring link for one all-reduce of `bytes`.
double inter_dc_bytes_per_link(std::int64_t bytes, const ClusterModel& cluster);

// The DreamDDP planner's input: backward_s from the profile, comm_s = AR(param_bytes). The simulator
// uses the same vector, so plan and prediction agree.
std::vector<LayerCost> layer_costs(const ModelProfile& profile, const ClusterModel& cluster);

enum class Scheme { ssgd, wfbp, flsgd, plsgd, dreamddp };
const char* scheme_name(Scheme scheme);  // "ssgd", "wfbp", "flsgd", "plsgd", "dreamddp"
// InputError naming the accepted names otherwise.
Scheme parse_scheme(std::string_view name);
std::vector<Scheme> all_schemes();

struct SimOptions {
  int period = 10;                          // H of FLSGD / PLSGD / DreamDDP
  std::int64_t bucket_bytes = 25ll << 20;   // WFBP bucket (<= 0: one bucket per layer)
  PlannerOptions planner;                   // DreamDDP
};

// Predicted mean iteration of one scheme (averaged over a period for the periodic ones).
struct Estimate {
  Scheme scheme = Scheme::ssgd;
  int period = 1;
  double iteration_s = 0;         // compute_s + exposed_comm_s
  double compute_s = 0;           // f + b + o
  double exposed_comm_s = 0;      // communication not hidden behind computation
  double comm_s = 0;              // channel busy time (hidden or not)
  double inter_dc_bytes_per_link = 0;    // per iteration, per leader ring link (one direction)
  double intra_dc_bytes_per_worker = 0;  // per iteration, sent by one worker inside its DC (ring)
  int syncs_per_period = 0;       // all-reduces per period (layers, buckets, or 1)
  nlohmann::json to_json() const;
};

Estimate simulate(Scheme scheme, const ModelProfile& profile, const ClusterModel& cluster,
                  const SimOptions& options = {});
// The prediction for a given plan (the running scheme's own), per-layer averages as in DreamDDP.
Estimate simulate_plan(const SyncPlan& plan, const ModelProfile& profile, const ClusterModel& cluster,
                       Scheme label = Scheme::dreamddp);
std::vector<Estimate> simulate_all(const ModelProfile& profile, const ClusterModel& cluster,
                                   const SimOptions& options = {});

// A study on paper: every (workers, inter-DC bandwidth) pair, every scheme.
struct SweepSpec {
  std::vector<int> workers = {32, 64, 128, 256, 512, 1024};
  std::vector<double> inter_bandwidth_bps = {10e6, 100e6, 1e9, 10e9};
  ClusterModel base;             // dcs, intra link, inter latency (workers/bandwidth overridden)
  SimOptions options;
  std::vector<Scheme> schemes = all_schemes();
};
struct SweepRow {
  int workers = 0;
  double inter_bandwidth_bps = 0;
  Estimate estimate;
  double speedup_vs_ssgd = 0;  // S-SGD's iteration_s / this one's (S-SGD is always simulated)
};
std::vector<SweepRow> sweep(const ModelProfile& profile, const SweepSpec& spec);
// One line per row: workers bandwidth scheme iter_ms compute_ms exposed_ms inter_MB speedup.
std::string format_sweep(const std::vector<SweepRow>& rows);

}  // namespace meridian::dist
