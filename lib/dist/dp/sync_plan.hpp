// Which layers a partial-local-SGD scheme synchronises (parameter-averages) in which iteration of its
// period, the one cost model that predicts a slot's time, and the plan builders (FLSGD, PLSGD-even,
// DreamDDP). Layers are indexed in FORWARD order 0..L-1; backprop visits L-1 first. Times in seconds.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace meridian::dist {

// A period of H iterations; in iteration i the layers of slot i mod H are averaged across workers.
// Invariant (checked on construction): H >= 1, L >= 1, every layer in at least one slot, no layer
// twice in one slot. Each slot's layers are kept in ascending (forward) order.
class SyncPlan {
 public:
  // InputError naming the first problem (H = 0, a layer index out of range or repeated in a slot, a
  // layer in no slot).
  SyncPlan(int layers, std::vector<std::vector<int>> slots);

  int period() const { return static_cast<int>(slots_.size()); }
  int layers() const { return layers_; }
  const std::vector<int>& slot(int t) const;  // layers of slot t, ascending
  // Whether `layer` is synchronised in `iteration` (any iteration >= 0; slot = iteration mod H).
  bool syncs(int layer, std::int64_t iteration) const;
  std::vector<int> slots_of(int layer) const;  // ascending
  int syncs_per_period() const;                // sum of slot sizes
  // "H=3 L=5 | t0: 3-4 | t1: 1-2 | t2: 0,4" (ranges of consecutive layers).
  std::string describe() const;

  // {"period": H, "layers": L, "slots": [[...], ...]}; from_json validates as the constructor does
  // and throws InputError for a missing or mistyped field.
  nlohmann::json to_json() const;
  static SyncPlan from_json(const nlohmann::json& json);

  bool operator==(const SyncPlan& other) const = default;

 private:
  int layers_ = 0;
  std::vector<std::vector<int>> slots_;
  std::vector<std::uint8_t> member_;  // H x L, member_[t * L + l]
};

// Profiled cost of one layer: its backward time and the time of one all-reduce (average) of its
// parameters at the current worker count and links.
struct LayerCost {
  double backward_s = 0;
  double comm_s = 0;
};

// THE COST MODEL (shared by the scheduler and the simulator). In one iteration:
//   forward (forward_s), backward of layers L-1..0, then the optimizer step (optimizer_s).
//   Layer l's gradient exists at ready_l = sum_{k >= l} backward_k after backward starts.
//   Syncs of the slot run on one serial channel in backprop order: start_l = max(ready_l, free),
//   free = start_l + comm_l. Whatever of the channel runs past the end of backward B = sum backward_k
//   is exposed wait before the optimizer step: exposed = max(0, free_last - B).
//   slot time = forward_s + B + exposed + optimizer_s.
struct SlotCost {
  double forward_s = 0;
  double backward_s = 0;
  double comm_s = 0;          // channel busy time (sum of comm_s of the synced layers)
  double exposed_comm_s = 0;  // wait after backward
  double optimizer_s = 0;
  double total_s() const { return forward_s + backward_s + exposed_comm_s + optimizer_s; }
};

// Exposed wait of synchronising the layers where in_slot[l] != 0 (size L) under the cost model.
double exposed_comm_s(const std::vector<std::uint8_t>& in_slot, const std::vector<LayerCost>& costs);
SlotCost slot_cost(const SyncPlan& plan, int t, const std::vector<LayerCost>& costs, double forward_s,
                   double optimizer_s);
double slot_time(const SyncPlan& plan, int t, const std::vector<LayerCost>& costs, double forward_s,
                 double optimizer_s);
// Sum of slot_time over the period (what the DreamDDP search minimises, up to constants).
double period_time(const SyncPlan& plan, const std::vector<LayerCost>& costs, double forward_s,
                   double optimizer_s);

// FLSGD(H): every layer in the last slot (H-1), nothing before.
SyncPlan plan_flsgd(int layers, int period);
// PLSGD-even(H): layers cut into H contiguous groups whose sizes differ by at most 1 (the larger
// groups on the output side); slot 0 takes the OUTPUT-side group (layers near L-1), slot H-1 the
// input-side group (layer 0). Output side first because that is the order backprop produces
// gradients and the order DreamDDP fills slots, so the two plans line up slot by slot. With L < H
// the last H - L slots are empty.
SyncPlan plan_plsgd_even(int layers, int period);

struct PlannerOptions {
  bool bubble_fill = true;
  std::int64_t node_budget = 1'000'000;  // search nodes before falling back to the best plan so far
};

struct PlannerStats {
  std::int64_t nodes = 0;
  bool exact = true;            // false when the node budget ran out (plan = best found, >= greedy)
  double objective_s = 0;       // sum over slots of backward + exposed comm of the searched plan
  double greedy_objective_s = 0;
  int extra_syncs = 0;          // added by bubble filling
  std::string note;             // why the search stopped early, if it did
};

// DreamDDP(H). Depth-first search over layers in backprop order (L-1 first); each layer goes to one
// slot (sync now in a slot whose channel is busy, paying any exposed wait, or defer to an idle slot);
// objective: sum over slots of (backward + exposed comm). Pruning, all exact:
//   - optimal hiding: a sync that finishes before the next gradient is ready is free now and changes
//     nothing later, so it is taken without branching;
//   - delayed communication: all slots whose channel is idle when the gradient is ready (and all
//     slots in the same channel state) are one choice, so deferring is one branch, not H;
//     states already explored at the same layer are skipped (64-bit hash of the sorted states);
//   - at-least-once: every remaining layer must still be placed, which gives the lower bound
//     max(sum_l (comm_l - backward below l)+, remaining comm - idle channel time left before B)
//     used for branch and bound against the best plan found (the greedy plan to start with).
// Then bubble filling (options.bubble_fill): per slot, output side first, each layer not yet in the
// slot is added if the slot's time does not grow. InputError for H < 1, empty or negative costs.
SyncPlan plan_dreamddp(const std::vector<LayerCost>& costs, int period, const PlannerOptions& options = {},
                       PlannerStats* stats = nullptr);

// Adds extra syncs to every slot of `plan` where they do not increase the slot's time (output side
// first); returns the number added. Exposed for the tests and for plans built elsewhere.
SyncPlan bubble_fill(const SyncPlan& plan, const std::vector<LayerCost>& costs, int* added = nullptr);

// Re-planning: true when the link bandwidth moved by more than `threshold` (relative, e.g. 0.2 =
// 20%) from the bandwidth the current plan was made for. InputError for a bandwidth <= 0 or a
// negative threshold. The running scheme then rebuilds the costs (dist::layer_costs with the new
// link, or a new profile) and calls plan_dreamddp again at a period boundary.
bool needs_replan(double old_bandwidth_bps, double new_bandwidth_bps, double threshold);

}  // namespace meridian::dist
