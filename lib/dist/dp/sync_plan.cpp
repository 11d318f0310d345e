// SyncPlan, the slot cost model, and the FLSGD / PLSGD-even / DreamDDP plan builders.
// Layers in forward order 0..L-1; searches walk them in backprop order (L-1 first). Seconds.
#include "dist/dp/sync_plan.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <sstream>
#include <unordered_set>

#include "core/json_integer.hpp"
#include "core/log.hpp"
#include "kernels/common/error.hpp"

namespace meridian::dist {

// ---------------------------------------------------------------------------------------------
// SyncPlan

SyncPlan::SyncPlan(int layers, std::vector<std::vector<int>> slots) : layers_(layers), slots_(std::move(slots)) {
  MERIDIAN_INPUT_CHECK(!slots_.empty(), "sync plan: the period H must be at least 1 (got 0 slots)");
  MERIDIAN_INPUT_CHECK(layers_ >= 1, "sync plan: the model must have at least 1 layer (got ", layers_, ")");
  const int h = period();
  member_.assign(static_cast<std::size_t>(h) * static_cast<std::size_t>(layers_), 0);
  for (int t = 0; t < h; ++t) {
    auto& s = slots_[static_cast<std::size_t>(t)];
    std::sort(s.begin(), s.end());
    for (std::size_t i = 0; i < s.size(); ++i) {
      MERIDIAN_INPUT_CHECK(s[i] >= 0 && s[i] < layers_, "sync plan: slot ", t, " names layer ", s[i],
                           ", outside 0..", layers_ - 1);
      MERIDIAN_INPUT_CHECK(i == 0 || s[i] != s[i - 1], "sync plan: slot ", t, " names layer ", s[i], " twice");
      member_[static_cast<std::size_t>(t) * static_cast<std::size_t>(layers_) + static_cast<std::size_t>(s[i])] = 1;
    }
  }
  for (int l = 0; l < layers_; ++l) {
    MERIDIAN_INPUT_CHECK(!slots_of(l).empty(), "sync plan: layer ", l, " is synchronised in no slot of the period H=",
                         h, "; every layer must be averaged at least once per period");
  }
}

const std::vector<int>& SyncPlan::slot(int t) const {
  MERIDIAN_CHECK(t >= 0 && t < period(), "slot ", t, " of a period of ", period());
  return slots_[static_cast<std::size_t>(t)];
}

bool SyncPlan::syncs(int layer, std::int64_t iteration) const {
  MERIDIAN_CHECK(layer >= 0 && layer < layers_ && iteration >= 0, "layer ", layer, " iteration ", iteration);
  const auto t = static_cast<std::size_t>(iteration % period());
  return member_[t * static_cast<std::size_t>(layers_) + static_cast<std::size_t>(layer)] != 0;
}

std::vector<int> SyncPlan::slots_of(int layer) const {
  MERIDIAN_CHECK(layer >= 0 && layer < layers_, "layer ", layer, " of ", layers_);
  std::vector<int> out;
  for (int t = 0; t < period(); ++t) {
    if (member_[static_cast<std::size_t>(t) * static_cast<std::size_t>(layers_) + static_cast<std::size_t>(layer)]) {
      out.push_back(t);
    }
  }
  return out;
}

int SyncPlan::syncs_per_period() const {
  int n = 0;
  for (const auto& s : slots_) n += static_cast<int>(s.size());
  return n;
}

std::string SyncPlan::describe() const {
  std::ostringstream os;
  os << "H=" << period() << " L=" << layers_;
  for (int t = 0; t < period(); ++t) {
    const auto& s = slots_[static_cast<std::size_t>(t)];
    os << " | t" << t << ": ";
    if (s.empty()) os << "-";
    for (std::size_t i = 0; i < s.size();) {
      std::size_t j = i;
      while (j + 1 < s.size() && s[j + 1] == s[j] + 1) ++j;
      os << (i > 0 ? "," : "") << s[i];
      if (j > i) os << "-" << s[j];
      i = j + 1;
    }
  }
  return os.str();
}

nlohmann::json SyncPlan::to_json() const {
  return nlohmann::json{{"period", period()}, {"layers", layers_}, {"slots", slots_}};
}

SyncPlan SyncPlan::from_json(const nlohmann::json& json) {
  MERIDIAN_INPUT_CHECK(json.is_object() && json.contains("period") && json.contains("layers") && json.contains("slots"),
                       "sync plan JSON: expected an object with \"period\", \"layers\" and \"slots\", got ",
                       json.dump().substr(0, 200));
  try {
    const int period = checked_json_integer<int>(json.at("period"), "sync plan JSON: \"period\"");
    const int layers = checked_json_integer<int>(json.at("layers"), "sync plan JSON: \"layers\"");
    const nlohmann::json& slot_list = json.at("slots");
    MERIDIAN_INPUT_CHECK(slot_list.is_array(), "sync plan JSON: \"slots\" is ", slot_list.dump().substr(0, 40),
                         "; expected a list of lists of layer indices");
    std::vector<std::vector<int>> slots;
    for (std::size_t s = 0; s < slot_list.size(); ++s)
      slots.push_back(checked_json_integers<int>(slot_list[s], cat("sync plan JSON: \"slots\"[", s, "]")));
    MERIDIAN_INPUT_CHECK(static_cast<int>(slots.size()) == period, "sync plan JSON: \"period\" is ", period,
                         " but \"slots\" has ", slots.size(), " entries");
    return SyncPlan(layers, std::move(slots));
  } catch (const nlohmann::json::exception& e) {
    throw InputError(cat("sync plan JSON: a field has the wrong type (", e.what(),
                         "); period and layers are integers, slots a list of lists of layer indices"));
  }
}

// ---------------------------------------------------------------------------------------------
// The cost model

namespace {

double total_backward_s(const std::vector<LayerCost>& costs) {
  double b = 0;
  for (const auto& c : costs) b += c.backward_s;
  return b;
}

void check_costs(const std::vector<LayerCost>& costs) {
  MERIDIAN_INPUT_CHECK(!costs.empty(), "layer costs: no layers");
  for (std::size_t l = 0; l < costs.size(); ++l) {
    MERIDIAN_INPUT_CHECK(std::isfinite(costs[l].backward_s) && costs[l].backward_s >= 0 &&
                             std::isfinite(costs[l].comm_s) && costs[l].comm_s >= 0,
                         "layer costs: layer ", l, " has backward_s=", costs[l].backward_s, " comm_s=",
                         costs[l].comm_s, "; both must be finite and >= 0");
  }
}

}  // namespace

double exposed_comm_s(const std::vector<std::uint8_t>& in_slot, const std::vector<LayerCost>& costs) {
  MERIDIAN_CHECK(in_slot.size() == costs.size(), "slot mask of ", in_slot.size(), " layers, costs of ", costs.size());
  double ready = 0, free = 0;
  for (std::size_t i = costs.size(); i-- > 0;) {  // backprop order
    ready += costs[i].backward_s;
    if (in_slot[i]) free = std::max(free, ready) + costs[i].comm_s;
  }
  return std::max(0.0, free - ready);  // `ready` is now B, the end of backward
}

SlotCost slot_cost(const SyncPlan& plan, int t, const std::vector<LayerCost>& costs, double forward_s,
                   double optimizer_s) {
  MERIDIAN_CHECK(static_cast<int>(costs.size()) == plan.layers(), "plan of ", plan.layers(), " layers, costs of ",
                 costs.size());
  std::vector<std::uint8_t> mask(costs.size(), 0);
  SlotCost out;
  for (int l : plan.slot(t)) {
    mask[static_cast<std::size_t>(l)] = 1;
    out.comm_s += costs[static_cast<std::size_t>(l)].comm_s;
  }
  out.forward_s = forward_s;
  out.backward_s = total_backward_s(costs);
  out.exposed_comm_s = exposed_comm_s(mask, costs);
  out.optimizer_s = optimizer_s;
  return out;
}

double slot_time(const SyncPlan& plan, int t, const std::vector<LayerCost>& costs, double forward_s,
                 double optimizer_s) {
  return slot_cost(plan, t, costs, forward_s, optimizer_s).total_s();
}

double period_time(const SyncPlan& plan, const std::vector<LayerCost>& costs, double forward_s, double optimizer_s) {
  double sum = 0;
  for (int t = 0; t < plan.period(); ++t) sum += slot_time(plan, t, costs, forward_s, optimizer_s);
  return sum;
}

// ---------------------------------------------------------------------------------------------
// Simple builders

SyncPlan plan_flsgd(int layers, int period) {
  MERIDIAN_INPUT_CHECK(period >= 1, "FLSGD: the period H must be >= 1 (got ", period, ")");
  MERIDIAN_INPUT_CHECK(layers >= 1, "FLSGD: the model must have at least 1 layer (got ", layers, ")");
  std::vector<std::vector<int>> slots(static_cast<std::size_t>(period));
  for (int l = 0; l < layers; ++l) slots.back().push_back(l);
  return SyncPlan(layers, std::move(slots));
}

SyncPlan plan_plsgd_even(int layers, int period) {
  MERIDIAN_INPUT_CHECK(period >= 1, "PLSGD: the period H must be >= 1 (got ", period, ")");
  MERIDIAN_INPUT_CHECK(layers >= 1, "PLSGD: the model must have at least 1 layer (got ", layers, ")");
  std::vector<std::vector<int>> slots(static_cast<std::size_t>(period));
  const int base = layers / period, extra = layers % period;  // the first `extra` groups get one more
  int top = layers;                                            // groups taken from the output side down
  for (int t = 0; t < period; ++t) {
    const int size = base + (t < extra ? 1 : 0);
    for (int l = top - size; l < top; ++l) slots[static_cast<std::size_t>(t)].push_back(l);
    top -= size;
  }
  return SyncPlan(layers, std::move(slots));
}

// ---------------------------------------------------------------------------------------------
// DreamDDP search

namespace {

// The depth-first search of plan_dreamddp. Slot channel states are `free_[t]`: when slot t's channel
// is next free (relative to the start of backward). Placing layer l in slot t costs
// max(0, max(free, ready_l) + comm_l - B) - max(0, free - B) of exposed time.
class DreamSearch {
 public:
  DreamSearch(const std::vector<LayerCost>& costs, int period, std::int64_t budget)
      : costs_(costs), h_(period), l_(static_cast<int>(costs.size())), budget_(budget) {
    ready_.assign(static_cast<std::size_t>(l_) + 1, 0);
    // ready_[l] = sum_{k >= l} backward_k; ready_[l_] = 0.
    for (int l = l_ - 1; l >= 0; --l) ready_[static_cast<std::size_t>(l)] = ready_[static_cast<std::size_t>(l) + 1] + costs_[static_cast<std::size_t>(l)].backward_s;
    b_ = ready_[0];
    // hide_excess_suffix_[l] = sum_{k <= l} max(0, comm_k - (B - ready_k)): exposure no placement of
    // layers 0..l can avoid (layer k can hide behind the backward of layers below it at most).
    // comm_suffix_[l] = sum_{k <= l} comm_k.
    hide_excess_.assign(static_cast<std::size_t>(l_), 0);
    comm_below_.assign(static_cast<std::size_t>(l_), 0);
    double ex = 0, cm = 0;
    for (int k = 0; k < l_; ++k) {
      const auto& c = costs_[static_cast<std::size_t>(k)];
      ex += std::max(0.0, c.comm_s - (b_ - ready_[static_cast<std::size_t>(k)]));
      cm += c.comm_s;
      hide_excess_[static_cast<std::size_t>(k)] = ex;
      comm_below_[static_cast<std::size_t>(k)] = cm;
    }
  }

  // The greedy plan: each layer (backprop order) to the slot where it adds the least exposure,
  // ties to the busiest such channel (best fit, keeping idle slots for later layers).
  double greedy(std::vector<int>& assign) const {
    std::vector<double> free(static_cast<std::size_t>(h_), 0);
    assign.assign(static_cast<std::size_t>(l_), 0);
    for (int l = l_ - 1; l >= 0; --l) {
      const auto order = branch_order(free, l);
      const int t = order.front();
      assign[static_cast<std::size_t>(l)] = t;
      free[static_cast<std::size_t>(t)] = placed(free[static_cast<std::size_t>(t)], l);
    }
    return exposure(free);
  }

  // Runs the search from the incumbent (`best_assign`, `best`); returns true when it finished
  // within the budget (then `best_assign` is optimal).
  bool run(std::vector<int>& best_assign, double& best) {
    best_ = best;
    best_assign_ = best_assign;
    assign_.assign(static_cast<std::size_t>(l_), 0);
    free_.assign(static_cast<std::size_t>(h_), 0);
    seen_.clear();
    aborted_ = false;
    dfs(l_ - 1);
    best = best_;
    best_assign = best_assign_;
    return !aborted_;
  }

  std::int64_t nodes() const { return nodes_; }
  double backward_s() const { return b_; }

 private:
  double placed(double free, int l) const {
    const auto& c = costs_[static_cast<std::size_t>(l)];
    return std::max(free, ready_[static_cast<std::size_t>(l)]) + c.comm_s;
  }
  double exposure(const std::vector<double>& free) const {
    double e = 0;
    for (double f : free) e += std::max(0.0, f - b_);
    return e;
  }
  // Slots to try for layer l, one per distinct channel state (as seen from layer l on: a channel
  // free before ready_l is the same as one free at ready_l), cheapest exposure first, then the
  // busiest channel first.
  std::vector<int> branch_order(const std::vector<double>& free, int l) const {
    const double r = ready_[static_cast<std::size_t>(l)];
    std::vector<int> order;
    std::vector<double> states;
    for (int t = 0; t < h_; ++t) {
      const double s = std::max(free[static_cast<std::size_t>(t)], r);
      if (std::find(states.begin(), states.end(), s) != states.end()) continue;
      states.push_back(s);
      order.push_back(t);
    }
    const auto delta = [&](int t) {
      const double f = free[static_cast<std::size_t>(t)];
      return std::max(0.0, placed(f, l) - b_) - std::max(0.0, f - b_);
    };
    std::sort(order.begin(), order.end(), [&](int a, int b) {
      const double da = delta(a), db = delta(b);
      if (da != db) return da < db;
      return std::max(free[static_cast<std::size_t>(a)], r) > std::max(free[static_cast<std::size_t>(b)], r);
    });
    return order;
  }
  double lower_bound(int l) const {  // layers l..0 still to place
    double idle = 0;
    const double r = ready_[static_cast<std::size_t>(l)];
    for (double f : free_) idle += std::max(0.0, b_ - std::max(f, r));
    const double capacity_bound = comm_below_[static_cast<std::size_t>(l)] - idle;
    return exposure(free_) + std::max({0.0, hide_excess_[static_cast<std::size_t>(l)], capacity_bound});
  }
  std::uint64_t state_key(int l) const {
    const double r = ready_[static_cast<std::size_t>(l)];
    std::vector<double> s(free_.size());
    for (std::size_t t = 0; t < free_.size(); ++t) s[t] = std::max(free_[t], r);
    std::sort(s.begin(), s.end());
    std::uint64_t h = 1469598103934665603ull ^ static_cast<std::uint64_t>(l);  // FNV-1a over the bits
    for (double v : s) {
      std::uint64_t bits = 0;
      static_assert(sizeof bits == sizeof v);
      std::memcpy(&bits, &v, sizeof v);
      for (int i = 0; i < 8; ++i) {
        h ^= (bits >> (8 * i)) & 0xffu;
        h *= 1099511628211ull;
      }
    }
    return h;
  }

  void dfs(int l) {
    if (aborted_) return;
    if (l < 0) {
      const double e = exposure(free_);
      if (e < best_) {
        best_ = e;
        best_assign_ = assign_;
      }
      return;
    }
    if (++nodes_ > budget_) {
      aborted_ = true;
      return;
    }
    if (lower_bound(l) >= best_) return;
    // This channel state at this layer was explored (or pruned) before: its future is the same.
    // The table stops growing at kSeenCap entries (the search stays exact, only slower).
    const std::uint64_t key = state_key(l);
    if (seen_.count(key) != 0) return;
    if (seen_.size() < kSeenCap) seen_.insert(key);
    // Optimal hiding: a slot where the sync ends before the next gradient (or the end of backward)
    // is ready costs nothing and leaves the slot as good as idle for every later layer.
    const double next_ready = l > 0 ? ready_[static_cast<std::size_t>(l) - 1] : b_;
    for (int t = 0; t < h_; ++t) {
      const double before = free_[static_cast<std::size_t>(t)];
      if (placed(before, l) <= next_ready) {
        take(l, t, before);
        return;
      }
    }
    for (int t : branch_order(free_, l)) {
      take(l, t, free_[static_cast<std::size_t>(t)]);
      if (aborted_) return;
    }
  }
  void take(int l, int t, double before) {
    assign_[static_cast<std::size_t>(l)] = t;
    free_[static_cast<std::size_t>(t)] = placed(before, l);
    dfs(l - 1);
    free_[static_cast<std::size_t>(t)] = before;
  }

  static constexpr std::size_t kSeenCap = std::size_t{1} << 21;
  const std::vector<LayerCost>& costs_;
  int h_, l_;
  std::int64_t budget_;
  std::vector<double> ready_, hide_excess_, comm_below_;
  double b_ = 0;
  std::vector<double> free_;
  std::vector<int> assign_, best_assign_;
  double best_ = 0;
  std::unordered_set<std::uint64_t> seen_;
  std::int64_t nodes_ = 0;
  bool aborted_ = false;
};

}  // namespace

SyncPlan bubble_fill(const SyncPlan& plan, const std::vector<LayerCost>& costs, int* added) {
  MERIDIAN_CHECK(static_cast<int>(costs.size()) == plan.layers(), "plan of ", plan.layers(), " layers, costs of ",
                 costs.size());
  const int h = plan.period(), layers = plan.layers();
  std::vector<std::vector<int>> slots(static_cast<std::size_t>(h));
  int count = 0;
  for (int t = 0; t < h; ++t) {
    std::vector<std::uint8_t> mask(costs.size(), 0);
    for (int l : plan.slot(t)) mask[static_cast<std::size_t>(l)] = 1;
    double exposed = exposed_comm_s(mask, costs);
    for (int l = layers - 1; l >= 0; --l) {  // output side first
      auto& m = mask[static_cast<std::size_t>(l)];
      if (m) continue;
      m = 1;
      const double with = exposed_comm_s(mask, costs);
      if (with <= exposed) {
        exposed = with;
        ++count;
      } else {
        m = 0;
      }
    }
    for (int l = 0; l < layers; ++l) {
      if (mask[static_cast<std::size_t>(l)]) slots[static_cast<std::size_t>(t)].push_back(l);
    }
  }
  if (added != nullptr) *added = count;
  return SyncPlan(layers, std::move(slots));
}

SyncPlan plan_dreamddp(const std::vector<LayerCost>& costs, int period, const PlannerOptions& options,
                       PlannerStats* stats) {
  MERIDIAN_INPUT_CHECK(period >= 1, "DreamDDP: the period H must be >= 1 (got ", period, ")");
  check_costs(costs);
  MERIDIAN_INPUT_CHECK(options.node_budget >= 1, "DreamDDP: the planner's node budget must be >= 1 (got ",
                       options.node_budget, ")");
  const int layers = static_cast<int>(costs.size());
  DreamSearch search(costs, period, options.node_budget);
  std::vector<int> assign;
  const double greedy = search.greedy(assign);
  double best = greedy;
  const bool exact = search.run(assign, best);

  // Slots renumbered in order of first use from the output side, so slot 0 holds layer L-1.
  std::vector<int> renumber(static_cast<std::size_t>(period), -1);
  int next = 0;
  std::vector<std::vector<int>> slots(static_cast<std::size_t>(period));
  for (int l = layers - 1; l >= 0; --l) {
    int& t = renumber[static_cast<std::size_t>(assign[static_cast<std::size_t>(l)])];
    if (t < 0) t = next++;
    slots[static_cast<std::size_t>(t)].push_back(l);
  }
  SyncPlan plan(layers, std::move(slots));
  PlannerStats st;
  st.nodes = search.nodes();
  st.exact = exact;
  st.objective_s = period * search.backward_s() + best;
  st.greedy_objective_s = period * search.backward_s() + greedy;
  if (!exact) {
    st.note = cat("DreamDDP planner: node budget of ", options.node_budget, " reached (L=", layers, ", H=", period,
                  "); using the best plan found (", st.objective_s, " s per period; greedy ", st.greedy_objective_s,
                  " s)");
    log_warn(st.note);
  }
  if (options.bubble_fill) plan = bubble_fill(plan, costs, &st.extra_syncs);
  if (stats != nullptr) *stats = st;
  return plan;
}

bool needs_replan(double old_bandwidth_bps, double new_bandwidth_bps, double threshold) {
  MERIDIAN_INPUT_CHECK(old_bandwidth_bps > 0 && new_bandwidth_bps > 0 && std::isfinite(old_bandwidth_bps) &&
                           std::isfinite(new_bandwidth_bps),
                       "re-planning: bandwidths must be finite and > 0 (got ", old_bandwidth_bps, " and ",
                       new_bandwidth_bps, " bit/s)");
  MERIDIAN_INPUT_CHECK(threshold >= 0 && std::isfinite(threshold),
                       "re-planning: the threshold is a relative change >= 0, e.g. 0.2 for 20% (got ", threshold, ")");
  return std::abs(new_bandwidth_bps - old_bandwidth_bps) > threshold * old_bandwidth_bps;
}

}  // namespace meridian::dist
