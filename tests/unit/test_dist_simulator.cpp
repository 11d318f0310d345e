// lib/dist/sim: the hierarchical all-reduce cost, each scheme's closed form (S-SGD, FLSGD), bounds
// (WFBP), DreamDDP <= FLSGD / PLSGD under the shared cost model, the paper's trends (speedup over
// S-SGD grows as bandwidth falls; gain over FLSGD <= 1 + b/(f+b+o) < 2, peaking where one full
// all-reduce ~ H x backward), and the 32..1024-worker sweep. Layers in forward order; seconds.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "comm/link_model.hpp"
#include "dist/sim/simulator.hpp"
#include "kernels/common/error.hpp"

namespace meridian::dist {
namespace {

// GPT-2-small-like: token embedding (38.6M params) first, 12 blocks of 7.1M, then the final norm
// and the (tied) output projection, compute-heavy and almost parameter-free.
ModelProfile gpt_like() {
  ModelProfile p;
  p.layers.push_back({"embedding", 1e-3, 2e-3, 154'389'504});
  for (int i = 0; i < 12; ++i) p.layers.push_back({"block" + std::to_string(i), 10e-3, 20e-3, 28'348'416});
  p.layers.push_back({"head", 15e-3, 30e-3, 6'144});
  p.optimizer_s = 3e-3;
  return p;
}

// Sixteen equal layers (the cleanest case for the 2x bound).
ModelProfile uniform_layers() {
  ModelProfile p;
  for (int i = 0; i < 16; ++i) p.layers.push_back({"layer" + std::to_string(i), 5e-3, 10e-3, 4'000'000});
  p.optimizer_s = 1e-3;
  return p;
}

ClusterModel cluster(int workers, int dcs, double inter_bps, double inter_latency_s, double intra_latency_s = 5e-6) {
  ClusterModel c;
  c.workers = workers;
  c.dcs = dcs;
  c.intra_bandwidth_bps = 100e9;
  c.intra_latency_s = intra_latency_s;
  c.inter_bandwidth_bps = inter_bps;
  c.inter_latency_s = inter_latency_s;
  return c;
}

// Log-spaced from `lo` to `hi`, `n` points, highest first (bandwidth falling).
std::vector<double> falling(double hi, double lo, int n) {
  std::vector<double> v;
  for (int i = 0; i < n; ++i) v.push_back(hi * std::pow(lo / hi, static_cast<double>(i) / (n - 1)));
  return v;
}

TEST(DistSimulator, AllReduceCostIsTheHierarchicalFormula) {
  const ClusterModel c = cluster(32, 4, 1e9, 0.03, 1e-5);  // 8 workers per DC
  const std::int64_t n = 1'000'000;
  const double bits = 8e6;
  const AllReduceCost ar = all_reduce_cost(n, c);
  EXPECT_DOUBLE_EQ(ar.intra_s, 2.0 * 7 * (1e-5 + bits / (8 * 100e9)));
  EXPECT_DOUBLE_EQ(ar.inter_s, 2.0 * 3 * (0.03 + bits / (4 * 1e9)));
  EXPECT_DOUBLE_EQ(ar.broadcast_s, 3 * 1e-5 + bits / 100e9);
  EXPECT_DOUBLE_EQ(all_reduce_s(n, c), ar.total_s());
  EXPECT_DOUBLE_EQ(inter_dc_bytes_per_link(n, c), 2.0 * 3 * n / 4);
  EXPECT_EQ(all_reduce_s(0, c), 0.0);
  EXPECT_EQ(all_reduce_s(n, cluster(1, 1, 1e9, 0.03)), 0.0);  // one worker: nothing to do
  // Uneven placement: 10 workers in 3 DCs -> the largest has 4.
  EXPECT_EQ(cluster(10, 3, 1e9, 0).workers_per_dc(), 4);
  EXPECT_THROW(cluster(2, 3, 1e9, 0).validate(), InputError);
  EXPECT_THROW(cluster(4, 2, 0, 0).validate(), InputError);
  EXPECT_THROW(cluster(4, 2, 1e9, -1).validate(), InputError);
}

TEST(DistSimulator, ClusterFromLinkModel) {
  LinkModel links = LinkModel::uniform(3, 200e6, 0.02);
  links.link(0, 2).bandwidth_bps = 50e6;
  const ClusterModel c = ClusterModel::from_link_model(12, links, 100e9, 5e-6);
  EXPECT_EQ(c.dcs, 3);
  EXPECT_EQ(c.workers_per_dc(), 4);
  EXPECT_DOUBLE_EQ(c.inter_bandwidth_bps, 50e6);  // the ring is as slow as its slowest hop
  EXPECT_DOUBLE_EQ(c.inter_latency_s, 0.02);
}

TEST(DistSimulator, SsgdAndFlsgdClosedForms) {
  const ModelProfile p = gpt_like();
  const double f = p.forward_s(), b = p.backward_s(), o = p.optimizer_s;
  for (double bw : {10e6, 1e9, 10e9}) {
    const ClusterModel c = cluster(32, 2, bw, 0.03);
    const double ar_full = all_reduce_s(p.param_bytes(), c);
    const Estimate s = simulate(Scheme::ssgd, p, c);
    EXPECT_DOUBLE_EQ(s.iteration_s, f + b + o + ar_full);
    EXPECT_DOUBLE_EQ(s.exposed_comm_s, ar_full);
    for (int h : {1, 4, 10}) {
      SimOptions opt;
      opt.period = h;
      const Estimate fl = simulate(Scheme::flsgd, p, c, opt);
      EXPECT_NEAR(fl.iteration_s, (h * (f + b + o) + ar_full) / h, 1e-12 * fl.iteration_s);
      EXPECT_DOUBLE_EQ(fl.inter_dc_bytes_per_link, inter_dc_bytes_per_link(p.param_bytes(), c) / h);
    }
  }
}

TEST(DistSimulator, WfbpBounds) {
  const ModelProfile p = gpt_like();
  const double f = p.forward_s(), b = p.backward_s(), o = p.optimizer_s;
  for (double latency : {0.0, 0.03}) {
    for (double bw : falling(10e9, 10e6, 7)) {
      const ClusterModel c = cluster(32, 2, bw, latency, latency > 0 ? 5e-6 : 0.0);
      const double ar_full = all_reduce_s(p.param_bytes(), c);
      const double ssgd = simulate(Scheme::ssgd, p, c).iteration_s;
      for (std::int64_t bucket : {std::int64_t{0}, std::int64_t{25} << 20, std::int64_t{100} << 20}) {
        SimOptions opt;
        opt.bucket_bytes = bucket;
        const Estimate w = simulate(Scheme::wfbp, p, c, opt);
        // Every byte still crosses (sum of bucket all-reduces >= one flat one), at best while
        // backward runs.
        EXPECT_GE(w.iteration_s, f + o + std::max(b, ar_full) - 1e-12);
        EXPECT_GE(w.comm_s, ar_full - 1e-12);
        // Without per-message latency bucketing only helps; with it, each extra bucket may cost
        // one more all-reduce latency.
        const double latency_per_ar = all_reduce_s(1, c) - all_reduce_s(2, c) + all_reduce_s(1, c);
        EXPECT_LE(w.iteration_s, ssgd + (w.syncs_per_period - 1) * latency_per_ar + 1e-12)
            << "bw " << bw << " latency " << latency << " bucket " << bucket;
        if (latency == 0.0) {
          EXPECT_LE(w.iteration_s, ssgd + 1e-12);
        }
      }
      SimOptions one_bucket;
      one_bucket.bucket_bytes = p.param_bytes() * 2;
      EXPECT_NEAR(simulate(Scheme::wfbp, p, c, one_bucket).iteration_s, ssgd, 1e-12 * ssgd);
    }
  }
}

TEST(DistSimulator, DreamddpIsNoSlowerThanFlsgdOrPlsgd) {
  for (const ModelProfile& p : {gpt_like(), uniform_layers()}) {
    for (int h : {4, 10}) {
      SimOptions opt;
      opt.period = h;
      for (double bw : falling(10e9, 10e6, 13)) {
        // Pure bandwidth links: per-layer and flat all-reduces cost the same bytes, so the plan
        // search covers FLSGD's choice and PLSGD's exactly.
        const ClusterModel c = cluster(32, 2, bw, 0.0, 0.0);
        const Estimate d = simulate(Scheme::dreamddp, p, c, opt);
        const double fl = simulate(Scheme::flsgd, p, c, opt).iteration_s;
        const double pl = simulate(Scheme::plsgd, p, c, opt).iteration_s;
        EXPECT_LE(d.iteration_s, std::min(fl, pl) * (1 + 1e-12)) << "H=" << h << " bw=" << bw;
        // With 30 ms of latency per message PLSGD is still in DreamDDP's search space.
        const ClusterModel slow = cluster(32, 2, bw, 0.03);
        EXPECT_LE(simulate(Scheme::dreamddp, p, slow, opt).iteration_s,
                  simulate(Scheme::plsgd, p, slow, opt).iteration_s * (1 + 1e-12));
      }
    }
  }
}

TEST(DistSimulator, PlanPredictionUsesTheSharedCostModel) {
  const ModelProfile p = gpt_like();
  const ClusterModel c = cluster(16, 2, 1e9, 0.01);
  const auto costs = layer_costs(p, c);
  ASSERT_EQ(costs.size(), p.layers.size());
  for (std::size_t l = 0; l < costs.size(); ++l) {
    EXPECT_DOUBLE_EQ(costs[l].backward_s, p.layers[l].backward_s);
    EXPECT_DOUBLE_EQ(costs[l].comm_s, all_reduce_s(p.layers[l].param_bytes, c));
  }
  const SyncPlan plan = plan_dreamddp(costs, 10);
  const Estimate e = simulate_plan(plan, p, c);
  EXPECT_NEAR(e.iteration_s, period_time(plan, costs, p.forward_s(), p.optimizer_s) / 10, 1e-12 * e.iteration_s);
  EXPECT_NEAR(e.iteration_s, e.compute_s + e.exposed_comm_s, 1e-12 * e.iteration_s);
  SimOptions opt;
  opt.period = 10;
  EXPECT_NEAR(simulate(Scheme::dreamddp, p, c, opt).iteration_s, e.iteration_s, 1e-12 * e.iteration_s);
  EXPECT_THROW(simulate_plan(plan_flsgd(3, 2), p, c), InputError);

  std::printf("  GPT-like, 16 workers in 2 DCs, 1 Gbit/s, 10 ms, H=10 (s/iteration):");
  for (const Estimate& est : simulate_all(p, c, opt)) std::printf(" %s %.3f", scheme_name(est.scheme), est.iteration_s);
  std::printf("\n  DreamDDP plan: %s\n", plan.describe().c_str());
}

TEST(DistSimulator, SpeedupOverSsgdGrowsAsBandwidthFalls) {
  for (const ModelProfile& p : {gpt_like(), uniform_layers()}) {
    double previous = 0;
    for (double bw : falling(10e9, 10e6, 31)) {
      const ClusterModel c = cluster(32, 2, bw, 0.03);
      const double speedup = simulate(Scheme::ssgd, p, c).iteration_s / simulate(Scheme::dreamddp, p, c).iteration_s;
      EXPECT_GE(speedup, previous * (1 - 1e-9)) << "at " << bw / 1e6 << " Mbit/s";
      EXPECT_GE(speedup, 1.0);
      previous = speedup;
    }
    EXPECT_GT(previous, 5.0);  // at 10 Mbit/s with H = 10
  }
}

TEST(DistSimulator, GainOverFlsgdIsBoundedAndPeaksNearHTimesBackward) {
  for (const ModelProfile& p : {uniform_layers(), gpt_like()}) {
    const double f = p.forward_s(), b = p.backward_s(), o = p.optimizer_s;
    const double bound = 1 + b / (f + b + o);  // < 2 (reached with free forward and optimizer)
    ASSERT_LT(bound, 2.0);
    SimOptions opt;
    opt.period = 10;
    double best_ratio = 0, ar_at_best = 0, first = 0, last = 0;
    const auto grid = falling(100e9, 1e6, 81);
    for (double bw : grid) {
      const ClusterModel c = cluster(32, 2, bw, 0.0, 0.0);
      const double ratio = simulate(Scheme::flsgd, p, c, opt).iteration_s / simulate(Scheme::dreamddp, p, c, opt).iteration_s;
      EXPECT_LE(ratio, bound + 1e-9) << "at " << bw / 1e6 << " Mbit/s";
      if (ratio > best_ratio) {
        best_ratio = ratio;
        ar_at_best = all_reduce_s(p.param_bytes(), c);
      }
      if (bw == grid.front()) first = ratio;
      last = ratio;
    }
    const double where = ar_at_best / (opt.period * b);  // full all-reduce / (H x backward) at the peak
    std::printf("  FLSGD/DreamDDP peak %.3f (bound %.3f) where AR_full = %.2f x H x backward\n", best_ratio, bound,
                where);
    EXPECT_GT(best_ratio, 1.2);
    EXPECT_GT(where, 0.5);
    EXPECT_LT(where, 2.0);
    EXPECT_LT(first, best_ratio);  // fast links: nothing to gain; slow links: the gain fades
    EXPECT_LT(last, best_ratio);
  }
}

TEST(DistSimulator, SweepCoversThousandWorkersAndTenMegabit) {
  SweepSpec spec;
  spec.workers = {32, 1024};
  spec.inter_bandwidth_bps = {10e9, 10e6};
  spec.base = cluster(32, 4, 1e9, 0.03);
  const auto rows = sweep(gpt_like(), spec);
  ASSERT_EQ(rows.size(), 2u * 2u * 5u);
  for (const auto& r : rows) {
    EXPECT_TRUE(std::isfinite(r.estimate.iteration_s) && r.estimate.iteration_s > 0);
    EXPECT_GE(r.estimate.iteration_s, r.estimate.compute_s);
    if (r.estimate.scheme == Scheme::dreamddp && r.inter_bandwidth_bps == 10e6) {
      EXPECT_GT(r.speedup_vs_ssgd, 5.0);
    }
    if (r.estimate.scheme == Scheme::ssgd) {
      EXPECT_DOUBLE_EQ(r.speedup_vs_ssgd, 1.0);
    }
  }
  const std::string table = format_sweep(rows);
  EXPECT_NE(table.find("workers"), std::string::npos);
  EXPECT_NE(table.find("dreamddp"), std::string::npos);
  std::printf("%s", table.c_str());
  EXPECT_THROW(sweep(gpt_like(), SweepSpec{{}, {1e9}, ClusterModel{}, SimOptions{}, all_schemes()}), InputError);
}

TEST(DistSimulator, ProfilesSchemesAndErrors) {
  const ModelProfile p = gpt_like();
  const ModelProfile q = ModelProfile::from_json(nlohmann::json::parse(p.to_json().dump()));
  ASSERT_EQ(q.layers.size(), p.layers.size());
  EXPECT_EQ(q.layers[3].name, "block2");
  EXPECT_EQ(q.param_bytes(), p.param_bytes());
  EXPECT_DOUBLE_EQ(q.backward_s(), p.backward_s());
  EXPECT_THROW(ModelProfile::from_json(nlohmann::json::parse(R"({"layers": [{"forward_s": 1}]})")), InputError);
  EXPECT_THROW(ModelProfile::from_json(nlohmann::json::parse(R"({"layers": []})")), InputError);
  EXPECT_THROW(ModelProfile::from_json(
                   nlohmann::json::parse(R"({"layers": [{"forward_s": 1, "backward_s": -1, "param_bytes": 4}]})")),
               InputError);
  for (const char* bytes : {"1e300", "-1e300", "4.5", "18446744073709551615"}) {
    const std::string text =
        std::string(R"({"layers": [{"forward_s": 1, "backward_s": 1, "param_bytes": )") + bytes + "}]}";
    try {
      (void)ModelProfile::from_json(nlohmann::json::parse(text));
      ADD_FAILURE() << "accepted " << text;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("param_bytes"), std::string::npos) << e.what();
    }
  }
  for (Scheme s : all_schemes()) EXPECT_EQ(parse_scheme(scheme_name(s)), s);
  EXPECT_THROW(parse_scheme("diloco"), InputError);
  SimOptions bad;
  bad.period = 0;
  EXPECT_THROW(simulate(Scheme::flsgd, p, cluster(4, 2, 1e9, 0), bad), InputError);
  EXPECT_EQ(simulate(Scheme::dreamddp, p, cluster(4, 2, 1e9, 0)).to_json().at("scheme"), "dreamddp");
}

}  // namespace
}  // namespace meridian::dist
