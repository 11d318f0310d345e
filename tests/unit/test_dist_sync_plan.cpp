// lib/dist/dp: SyncPlan invariants and JSON, the FLSGD / PLSGD-even builders, and the DreamDDP
// planner against brute-force enumeration of every assignment (small L and H, fixed seeds), bubble
// filling, a 100-layer planning run and re-planning. Layers in forward order; times in seconds.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <limits>
#include <random>
#include <vector>

#include "dist/dp/sync_plan.hpp"
#include "kernels/common/error.hpp"

namespace meridian::dist {
namespace {

// Uniform in [0, 1) from a fixed-seed 64-bit engine (bit-exact on every platform).
double uniform(std::mt19937_64& g) { return static_cast<double>(g() >> 11) * 0x1.0p-53; }

// L layers: backward 0.1..1 ms, communication 0..comm_scale ms, a few layers with nothing to send.
std::vector<LayerCost> random_costs(int layers, double comm_scale, std::uint64_t seed) {
  std::mt19937_64 g(seed);
  std::vector<LayerCost> costs(static_cast<std::size_t>(layers));
  for (auto& c : costs) {
    c.backward_s = 1e-4 + 9e-4 * uniform(g);
    c.comm_s = uniform(g) < 0.1 ? 0.0 : comm_scale * 1e-3 * uniform(g);
  }
  return costs;
}

double backward_total(const std::vector<LayerCost>& costs) {
  double b = 0;
  for (const auto& c : costs) b += c.backward_s;
  return b;
}

// Minimum over all H^L single-slot assignments of sum_t (B + exposed_t).
double brute_force_single(const std::vector<LayerCost>& costs, int period) {
  const int layers = static_cast<int>(costs.size());
  std::vector<int> assign(static_cast<std::size_t>(layers), 0);
  double best = std::numeric_limits<double>::infinity();
  const double b = backward_total(costs);
  while (true) {
    double total = 0;
    for (int t = 0; t < period; ++t) {
      std::vector<std::uint8_t> mask(costs.size(), 0);
      for (int l = 0; l < layers; ++l) mask[static_cast<std::size_t>(l)] = assign[static_cast<std::size_t>(l)] == t;
      total += b + exposed_comm_s(mask, costs);
    }
    best = std::min(best, total);
    int i = 0;
    while (i < layers && ++assign[static_cast<std::size_t>(i)] == period) assign[static_cast<std::size_t>(i++)] = 0;
    if (i == layers) break;
  }
  return best;
}

// Minimum over all plans where every layer has ANY non-empty set of slots ((2^H - 1)^L of them).
double brute_force_multi(const std::vector<LayerCost>& costs, int period) {
  const int layers = static_cast<int>(costs.size());
  const int sets = (1 << period) - 1;
  std::vector<int> set(static_cast<std::size_t>(layers), 1);  // bitmask of slots, 1..sets
  double best = std::numeric_limits<double>::infinity();
  const double b = backward_total(costs);
  while (true) {
    double total = 0;
    for (int t = 0; t < period; ++t) {
      std::vector<std::uint8_t> mask(costs.size(), 0);
      for (int l = 0; l < layers; ++l) mask[static_cast<std::size_t>(l)] = (set[static_cast<std::size_t>(l)] >> t) & 1;
      total += b + exposed_comm_s(mask, costs);
    }
    best = std::min(best, total);
    int i = 0;
    while (i < layers && ++set[static_cast<std::size_t>(i)] > sets) set[static_cast<std::size_t>(i++)] = 1;
    if (i == layers) break;
  }
  return best;
}

void expect_every_layer_synced(const SyncPlan& plan) {
  for (int l = 0; l < plan.layers(); ++l) {
    EXPECT_FALSE(plan.slots_of(l).empty()) << "layer " << l << " in " << plan.describe();
    bool seen = false;
    for (std::int64_t it = 0; it < plan.period(); ++it) seen = seen || plan.syncs(l, it);
    EXPECT_TRUE(seen) << "layer " << l;
  }
}

TEST(DistSyncPlan, ValidatesAndAnswersQueries) {
  const SyncPlan plan(5, {{3, 4}, {2, 1}, {0, 4}});
  EXPECT_EQ(plan.period(), 3);
  EXPECT_EQ(plan.layers(), 5);
  EXPECT_EQ(plan.slot(1), (std::vector<int>{1, 2}));  // kept ascending
  EXPECT_EQ(plan.slots_of(4), (std::vector<int>{0, 2}));
  EXPECT_TRUE(plan.syncs(4, 0));
  EXPECT_TRUE(plan.syncs(4, 5));   // 5 mod 3 = 2
  EXPECT_FALSE(plan.syncs(4, 7));  // 7 mod 3 = 1
  EXPECT_TRUE(plan.syncs(0, 302));
  EXPECT_EQ(plan.syncs_per_period(), 6);
  EXPECT_EQ(plan.describe(), "H=3 L=5 | t0: 3-4 | t1: 1-2 | t2: 0,4");
  EXPECT_THROW(SyncPlan(3, {}), InputError);
  EXPECT_THROW(SyncPlan(3, {{0, 1}, {1}}), InputError);        // layer 2 never synced
  EXPECT_THROW(SyncPlan(3, {{0, 1, 2, 3}}), InputError);       // out of range
  EXPECT_THROW(SyncPlan(3, {{0, 1, 2, 2}}), InputError);       // twice in a slot
  EXPECT_THROW(SyncPlan(0, std::vector<std::vector<int>>(1)), InputError);
  try {
    SyncPlan(3, {{0, 1}, {1}});
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("layer 2"), std::string::npos) << e.what();
  }
}

TEST(DistSyncPlan, JsonRoundTripAndErrors) {
  const SyncPlan plan(4, {{3}, {}, {0, 1, 2, 3}});
  const auto j = plan.to_json();
  EXPECT_EQ(j.at("period").get<int>(), 3);
  EXPECT_EQ(SyncPlan::from_json(j), plan);
  EXPECT_EQ(SyncPlan::from_json(nlohmann::json::parse(j.dump())), plan);
  EXPECT_THROW(SyncPlan::from_json(nlohmann::json::parse(R"({"period": 2, "layers": 2})")), InputError);
  EXPECT_THROW(SyncPlan::from_json(nlohmann::json::parse(R"({"period": 2, "layers": 2, "slots": [[0,1]]})")),
               InputError);
  EXPECT_THROW(SyncPlan::from_json(nlohmann::json::parse(R"({"period": "x", "layers": 2, "slots": [[0,1]]})")),
               InputError);
  EXPECT_THROW(SyncPlan::from_json(nlohmann::json::parse(R"({"period": 1, "layers": 2, "slots": [[0]]})")),
               InputError);
  // Numbers an int cannot hold are input errors, not undefined conversions.
  for (const char* text : {R"({"period": 1e300, "layers": 1, "slots": [[0]]})",
                           R"({"period": 1, "layers": 4294967297, "slots": [[0]]})",
                           R"({"period": 1, "layers": 1, "slots": [[2.5]]})",
                           R"({"period": 1, "layers": 1, "slots": [[-1e19]]})",
                           R"({"period": 1, "layers": 1, "slots": 3})"}) {
    try {
      (void)SyncPlan::from_json(nlohmann::json::parse(text));
      ADD_FAILURE() << "accepted " << text;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("sync plan JSON"), std::string::npos) << e.what();
    }
  }
}

TEST(DistSyncPlan, FlsgdSyncsEverythingInTheLastSlot) {
  const SyncPlan plan = plan_flsgd(7, 4);
  for (int t = 0; t < 3; ++t) EXPECT_TRUE(plan.slot(t).empty());
  EXPECT_EQ(plan.slot(3).size(), 7u);
  EXPECT_THROW(plan_flsgd(7, 0), InputError);
  EXPECT_THROW(plan_flsgd(0, 3), InputError);
}

TEST(DistSyncPlan, PlsgdEvenGroupsAreContiguousAndEven) {
  for (int layers = 1; layers <= 23; ++layers) {
    for (int period = 1; period <= 12; ++period) {
      const SyncPlan plan = plan_plsgd_even(layers, period);
      ASSERT_EQ(plan.period(), period);
      std::size_t lo = static_cast<std::size_t>(layers), hi = 0;
      int expect_top = layers - 1;  // slot 0 starts at the output side and groups walk down
      for (int t = 0; t < period; ++t) {
        const auto& s = plan.slot(t);
        lo = std::min(lo, s.size());
        hi = std::max(hi, s.size());
        for (std::size_t i = 1; i < s.size(); ++i) EXPECT_EQ(s[i], s[i - 1] + 1) << plan.describe();
        if (!s.empty()) {
          EXPECT_EQ(s.back(), expect_top) << plan.describe();
          expect_top = s.front() - 1;
        }
      }
      EXPECT_EQ(expect_top, -1) << plan.describe();
      EXPECT_LE(hi - lo, 1u) << plan.describe();
      EXPECT_EQ(plan.syncs_per_period(), layers);  // each layer exactly once
      expect_every_layer_synced(plan);
    }
  }
  EXPECT_EQ(plan_plsgd_even(5, 2).describe(), "H=2 L=5 | t0: 2-4 | t1: 0-1");
}

TEST(DistSyncPlan, SlotCostFollowsTheSerialChannelModel) {
  // Backprop: layer 2 ready at 1, layer 1 at 3, layer 0 at 6 (= B).
  const std::vector<LayerCost> costs = {{3, 1}, {2, 4}, {1, 2.5}};
  // Layer 2 alone: [1, 3.5], hidden. Layers 2 and 1: [1, 3.5], [3.5, 7.5] -> 1.5 exposed.
  // All three: then layer 0 [7.5, 8.5] -> 2.5.
  EXPECT_DOUBLE_EQ(exposed_comm_s({0, 0, 1}, costs), 0.0);
  EXPECT_DOUBLE_EQ(exposed_comm_s({0, 1, 1}, costs), 1.5);
  EXPECT_DOUBLE_EQ(exposed_comm_s({1, 1, 1}, costs), 2.5);
  EXPECT_DOUBLE_EQ(exposed_comm_s({1, 0, 0}, costs), 1.0);  // the input layer never hides
  const SyncPlan plan(3, {{2}, {0, 1}});
  const SlotCost s = slot_cost(plan, 1, costs, 0.5, 0.25);
  EXPECT_DOUBLE_EQ(s.backward_s, 6.0);
  EXPECT_DOUBLE_EQ(s.comm_s, 5.0);
  EXPECT_DOUBLE_EQ(s.exposed_comm_s, 2.0);  // layer 1 [3, 7], layer 0 [7, 8], backward ends at 6
  EXPECT_DOUBLE_EQ(slot_time(plan, 1, costs, 0.5, 0.25), 0.5 + 6 + 2 + 0.25);
  EXPECT_DOUBLE_EQ(period_time(plan, costs, 0.5, 0.25), (0.5 + 6 + 0 + 0.25) + (0.5 + 6 + 2 + 0.25));
}

TEST(DistSyncPlan, DreamddpMatchesBruteForceOnSmallCases) {
  int cases = 0;
  for (int layers = 1; layers <= 6; ++layers) {
    for (int period = 1; period <= 4; ++period) {
      for (double comm_scale : {0.2, 1.0, 3.0, 8.0}) {
        for (std::uint64_t seed = 1; seed <= 4; ++seed) {
          const auto costs = random_costs(layers, comm_scale, 1000 * seed + 17 * static_cast<std::uint64_t>(layers) +
                                                                  static_cast<std::uint64_t>(period));
          PlannerOptions options;
          options.bubble_fill = false;
          PlannerStats stats;
          const SyncPlan plan = plan_dreamddp(costs, period, options, &stats);
          const double want = brute_force_single(costs, period);
          const double got = period_time(plan, costs, 0, 0);
          const double tol = 1e-12 * want + 1e-15;
          ASSERT_NEAR(got, want, tol) << "L=" << layers << " H=" << period << " scale=" << comm_scale << " seed=" << seed
                                      << " plan " << plan.describe();
          EXPECT_NEAR(stats.objective_s, got, tol);
          EXPECT_TRUE(stats.exact);
          EXPECT_GE(stats.greedy_objective_s, stats.objective_s - tol);
          EXPECT_EQ(plan.syncs_per_period(), layers);  // without bubble filling: exactly once each
          expect_every_layer_synced(plan);
          // Bubble filling keeps the objective and every slot's time.
          PlannerStats filled_stats;
          const SyncPlan filled = plan_dreamddp(costs, period, {}, &filled_stats);
          EXPECT_LE(period_time(filled, costs, 0, 0), got + tol);
          ++cases;
        }
      }
    }
  }
  EXPECT_EQ(cases, 6 * 4 * 4 * 4);
}

TEST(DistSyncPlan, ExtraSyncsNeverBeatTheSingleSlotOptimum) {
  // Adding a sync to a slot never shortens it, so searching one slot per layer loses nothing: the
  // optimum over every non-empty set of slots per layer is the same.
  for (int layers = 1; layers <= 4; ++layers) {
    for (int period = 1; period <= 3; ++period) {
      for (std::uint64_t seed = 1; seed <= 3; ++seed) {
        const auto costs = random_costs(layers, 2.0, 77 * seed + static_cast<std::uint64_t>(layers * 5 + period));
        const double single = brute_force_single(costs, period);
        EXPECT_NEAR(brute_force_multi(costs, period), single, 1e-12 * single);
      }
    }
  }
}

TEST(DistSyncPlan, BubbleFillingOnlyAddsSyncsAndNeverSlowsASlot) {
  int added_somewhere = 0;
  for (int layers : {3, 6, 12, 30}) {
    for (int period : {2, 4, 10}) {
      for (double comm_scale : {0.1, 0.5, 2.0}) {
        const auto costs = random_costs(layers, comm_scale, static_cast<std::uint64_t>(layers * 131 + period));
        PlannerOptions options;
        options.bubble_fill = false;
        const SyncPlan base = plan_dreamddp(costs, period, options);
        int added = 0;
        const SyncPlan filled = bubble_fill(base, costs, &added);
        added_somewhere += added;
        EXPECT_EQ(filled.syncs_per_period(), base.syncs_per_period() + added);
        for (int t = 0; t < period; ++t) {
          for (int l : base.slot(t)) EXPECT_TRUE(filled.syncs(l, t)) << "bubble filling removed layer " << l;
          EXPECT_LE(slot_time(filled, t, costs, 1e-3, 1e-4), slot_time(base, t, costs, 1e-3, 1e-4))
              << base.describe() << " -> " << filled.describe();
        }
      }
    }
  }
  EXPECT_GT(added_somewhere, 0);  // with cheap communication there are bubbles to fill
  // A clear case: 3 layers whose syncs all hide behind backward; with H = 3 each slot can take the
  // two output-side layers again.
  const std::vector<LayerCost> costs = {{5, 0.1}, {5, 0.1}, {5, 0.1}};
  PlannerStats stats;
  const SyncPlan plan = plan_dreamddp(costs, 3, {}, &stats);
  EXPECT_GT(stats.extra_syncs, 0);
  EXPECT_DOUBLE_EQ(period_time(plan, costs, 0, 0), 3 * 15 + 0.1);  // layer 0's sync is never hidden
}

TEST(DistSyncPlan, DreamddpDefersWhenHidingIsImpossibleNow) {
  // Ready at 1, 2, 3 (= B). All in one slot: layer 2 [1, 2.5], layer 1 [2.5, 4], layer 0 [4, 4.5]
  // -> 1.5 exposed. Deferring layer 1 to its own slot: [2, 3.5] -> 0.5, and layer 0 behind layer 2
  // [3, 3.5] -> 0.5: 1.0 in all.
  const std::vector<LayerCost> costs = {{1, 0.5}, {1, 1.5}, {1, 1.5}};
  PlannerOptions options;
  options.bubble_fill = false;
  const SyncPlan plan = plan_dreamddp(costs, 3, options);
  EXPECT_NEAR(period_time(plan, costs, 0, 0), brute_force_single(costs, 3), 1e-12);
  EXPECT_DOUBLE_EQ(period_time(plan, costs, 0, 0), 9 + 1.0);
  EXPECT_DOUBLE_EQ(period_time(plan_flsgd(3, 3), costs, 0, 0), 9 + 1.5);
}

// 100 layers: the search ends within its node budget (what bounds its time; the wall time is printed,
// not asserted, since sanitizer builds and shared machines vary by 10x).
TEST(DistSyncPlan, PlansHundredLayersWithinTheNodeBudget) {
  for (int period : {10, 32}) {
    for (double comm_scale : {0.5, 5.0, 50.0}) {
      const auto costs = random_costs(100, comm_scale, static_cast<std::uint64_t>(period) * 7 + 3);
      PlannerStats stats;
      const auto start = std::chrono::steady_clock::now();
      const SyncPlan plan = plan_dreamddp(costs, period, {}, &stats);
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      EXPECT_LE(stats.nodes, PlannerOptions{}.node_budget + 1) << "H=" << period << " scale=" << comm_scale;
      EXPECT_EQ(plan.layers(), 100);
      expect_every_layer_synced(plan);
      EXPECT_LE(stats.objective_s, stats.greedy_objective_s);
      EXPECT_LE(period_time(plan, costs, 0, 0), period_time(plan_plsgd_even(100, period), costs, 0, 0) * (1 + 1e-12));
      std::printf("  L=100 H=%d comm_scale=%.1f: %.3f s, %lld nodes, %s, %d extra syncs\n", period, comm_scale,
                  seconds, static_cast<long long>(stats.nodes), stats.exact ? "exact" : "budget reached",
                  stats.extra_syncs);
    }
  }
  // A budget of one node: the greedy plan, flagged inexact, with the reason.
  PlannerOptions tiny;
  tiny.node_budget = 1;
  PlannerStats stats;
  const SyncPlan plan = plan_dreamddp(random_costs(40, 5.0, 9), 8, tiny, &stats);
  EXPECT_FALSE(stats.exact);
  EXPECT_NE(stats.note.find("node budget"), std::string::npos);
  expect_every_layer_synced(plan);
}

TEST(DistSyncPlan, RejectsBadPlannerInput) {
  EXPECT_THROW(plan_dreamddp({{1, 1}}, 0), InputError);
  EXPECT_THROW(plan_dreamddp({}, 3), InputError);
  EXPECT_THROW(plan_dreamddp({{1, -1}}, 3), InputError);
  EXPECT_THROW(plan_dreamddp({{std::nan(""), 1}}, 3), InputError);
}

TEST(DistSyncPlan, NeedsReplanPastTheThreshold) {
  EXPECT_FALSE(needs_replan(100e6, 110e6, 0.2));
  EXPECT_FALSE(needs_replan(100e6, 80e6, 0.2));
  EXPECT_TRUE(needs_replan(100e6, 79e6, 0.2));
  EXPECT_TRUE(needs_replan(100e6, 121e6, 0.2));
  EXPECT_TRUE(needs_replan(100e6, 100.1e6, 0.0));
  EXPECT_FALSE(needs_replan(100e6, 100e6, 0.0));
  EXPECT_THROW(needs_replan(0, 1e6, 0.2), InputError);
  EXPECT_THROW(needs_replan(1e6, -1, 0.2), InputError);
  EXPECT_THROW(needs_replan(1e6, 1e6, -0.1), InputError);
}

}  // namespace
}  // namespace meridian::dist
