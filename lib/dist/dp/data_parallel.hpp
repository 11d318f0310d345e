// Data-parallel training over an emulated WAN: one interface (DataParallelTrainer) over the
// synchronisation schemes of the geo-distributed study, chosen by Scheme:
//   ssgd      average the gradients after backward (one blocking all-reduce of the whole model)
//   wfbp      gradients packed in backprop order into buckets of >= bucket_bytes, each bucket
//             all-reduced non-blocking from the backward hook of its last layer (wait-free
//             backprop); waited for before the optimizer step
//   flsgd     H local steps, then a blocking average of all parameters after step H
//   plsgd     PLSGD-even(H): the sync units cut into H contiguous groups, one group's parameters
//             averaged per iteration
//   dreamddp  DreamDDP(H): the first `profile_iterations` iterations average every unit (blocking,
//             each timed) and time each layer's backward; the per-unit costs (maximum over ranks)
//             feed plan_dreamddp; then each iteration's units are averaged non-blocking from the
//             backward hook and waited for before the step. With a bandwidth trace the plan is
//             rebuilt at a period boundary when the link has moved by more than replan_threshold.
// The partial schemes average PARAMETERS during backward, before the local optimizer step, as in
// DreamDDP; the optimizer state (momentum) stays local. The time of one iteration is split into
// compute and exposed communication (what the loop waited for); channel busy time and bytes per
// link come from the WanCommunicator.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "comm/communicator.hpp"
#include "comm/wan_communicator.hpp"
#include "dist/dp/sync_plan.hpp"
#include "dist/dp/sync_units.hpp"
#include "dist/sim/simulator.hpp"
#include "nn/model.hpp"
#include "nn/sgd.hpp"

namespace meridian::dist {

struct SchemeOptions {
  Scheme scheme = Scheme::ssgd;
  int period = 10;                           // H (flsgd, plsgd, dreamddp); >= 1
  std::int64_t bucket_bytes = 1ll << 20;     // wfbp bucket size (<= 0: one bucket per layer)
  // Largest sync unit: > 0 bytes; 0 whole layers; < 0 (auto): for dreamddp the model's bytes / period,
  // so that one period can spread the model evenly over its iterations, for plsgd whole layers (PLSGD-even
  // as defined groups layers; give a size to make it group the same units as dreamddp).
  std::int64_t unit_bytes = -1;
  int profile_iterations = 4;                // dreamddp: >= 1 (the first is a warm-up when >= 2)
  double replan_threshold = 0.2;             // dreamddp: relative bandwidth change that re-plans
  PlannerOptions planner;
  // InputError naming the option for H < 1, profile_iterations < 1, a negative threshold.
  void validate() const;
};

// One iteration on this rank, in seconds.
struct IterationStats {
  std::int64_t iteration = 0;
  double loss = 0;
  std::int64_t correct = 0;     // training samples of the batch classified right
  double wall_s = 0;            // the whole iteration
  double forward_s = 0;         // forward and loss
  double backward_s = 0;        // backward, hooks included (they only copy and launch)
  double step_s = 0;            // optimizer step
  double exposed_s = 0;         // waiting for communication (blocking syncs and waits)
  double comm_busy_s = 0;       // time the communicator's channel was busy during the iteration
  std::int64_t synced_bytes = 0;   // payload of the all-reduces started in this iteration
  int syncs = 0;                   // all-reduces started in this iteration
  std::vector<std::int64_t> bytes_to_dc;  // bytes this rank sent to each data center
  double compute_s() const { return wall_s - exposed_s; }
};

class DataParallelTrainer {
 public:
  // comm: the (WAN-emulated) communicator the syncs use; control: an unpaced communicator over the
  // same ranks for agreement on plans (a few bytes per period). Both must outlive the trainer.
  // Installs the model's backward hook (removed by the destructor). Collective.
  DataParallelTrainer(nn::Model& model, nn::SGD& optimizer, WanCommunicator& comm, Communicator& control,
                      const SchemeOptions& options);
  ~DataParallelTrainer();
  DataParallelTrainer(const DataParallelTrainer&) = delete;
  DataParallelTrainer& operator=(const DataParallelTrainer&) = delete;

  // One training iteration on this rank's batch (images, labels): forward, loss, backward with the
  // scheme's hooks, the scheme's waits, the optimizer step, the scheme's post-step sync. Collective.
  IterationStats step(const Tensor& images, const Tensor& labels);

  const SchemeOptions& options() const { return options_; }
  const UnitLayout& units() const { return units_; }
  std::int64_t iteration() const { return iteration_; }
  // The plan in force (plsgd and dreamddp; dreamddp: none during profiling).
  const SyncPlan* plan() const { return plan_ ? &*plan_ : nullptr; }
  // DreamDDP: the per-unit costs the current plan was made from, and its planner statistics.
  const std::vector<LayerCost>& planned_costs() const { return planned_costs_; }
  const PlannerStats& planner_stats() const { return planner_stats_; }
  int replans() const { return replans_; }
  // How many times each unit's parameters or gradients have been averaged so far.
  const std::vector<std::int64_t>& unit_syncs() const { return unit_syncs_; }
  // Whether every replica holds the same parameters after iteration `iteration` completes
  // (ssgd/wfbp always; flsgd at the end of each period; the partial schemes never promise it).
  bool replicas_equal_after(std::int64_t iteration) const;

  // Mean per-unit backward, forward and step times over the iterations after the first (this
  // rank's), as the simulator's profile: one entry per sync unit, the forward total on unit 0, each
  // layer's backward on its last unit (the one backprop reaches first).
  ModelProfile measured_profile() const;

 private:
  void on_layer_ready(int layer);
  void launch_units(int layer, nn::ParamField field);
  void wait_launched(nn::ParamField field, IterationStats& stats);
  void profile_iteration(IterationStats& stats);
  void record_backward_times(std::vector<double>& per_unit) const;
  void make_dreamddp_plan();
  void maybe_replan();
  double timed_all_reduce(float* data, std::int64_t count, IterationStats& stats);

  nn::Model& model_;
  nn::SGD& optimizer_;
  WanCommunicator& comm_;
  Communicator& control_;
  SchemeOptions options_;
  std::vector<nn::Parameter*> params_;
  UnitLayout units_;
  std::vector<float> flat_;                   // staging buffer of the whole flat vector
  std::vector<std::pair<int, int>> buckets_;  // wfbp: [first unit, last unit] in forward order
  std::vector<int> bucket_of_layer_end_;      // wfbp: per model layer, the bucket it closes, or -1
  std::optional<SyncPlan> plan_;
  std::int64_t plan_start_ = 0;               // iteration at which the plan's slot 0 ran
  double plan_bandwidth_bps_ = 0;
  std::vector<LayerCost> planned_costs_;
  std::vector<LayerCost> measured_costs_;     // dreamddp: as profiled, at measured_bandwidth_bps_
  double measured_bandwidth_bps_ = 0;
  PlannerStats planner_stats_;
  int replans_ = 0;
  std::vector<std::int64_t> unit_syncs_;
  std::int64_t iteration_ = 0;

  // This iteration's launched all-reduces: request and unit range.
  struct InFlight {
    Request request;
    std::int64_t offset, count;
  };
  std::vector<InFlight> in_flight_;
  IterationStats* current_ = nullptr;
  double backward_start_s_ = 0;
  std::vector<double> hook_time_s_;           // per model layer, this iteration

  // Profiles: sums over iterations after the first, per unit.
  std::vector<double> backward_sum_s_;
  std::vector<std::vector<double>> profile_backward_s_, profile_comm_s_;  // dreamddp, per profiling iteration
  double forward_sum_s_ = 0, step_sum_s_ = 0;
  std::int64_t profiled_ = 0;
};

// Relative RMS distance of the replicas from their average: sqrt(mean_r |w_r - w̄|²) / |w̄|, with
// w̄ written to `average` (every rank). Collective over `comm` (unpaced: a measurement).
double parameter_divergence(nn::Model& model, Communicator& comm, std::vector<float>& average);

}  // namespace meridian::dist
