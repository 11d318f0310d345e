// The virtual-clock simulator: the hierarchical all-reduce cost, the per-scheme iteration models
// (formulas in simulator.hpp) and the sweep table. Layers in forward order; seconds, bytes, bit/s.
#include "dist/sim/simulator.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "core/json_integer.hpp"
#include "kernels/common/error.hpp"

namespace meridian::dist {

// ---------------------------------------------------------------------------------------------
// Profile and cluster

double ModelProfile::forward_s() const {
  double s = 0;
  for (const auto& l : layers) s += l.forward_s;
  return s;
}

double ModelProfile::backward_s() const {
  double s = 0;
  for (const auto& l : layers) s += l.backward_s;
  return s;
}

std::int64_t ModelProfile::param_bytes() const {
  std::int64_t n = 0;
  for (const auto& l : layers) n += l.param_bytes;
  return n;
}

void ModelProfile::validate() const {
  MERIDIAN_INPUT_CHECK(!layers.empty(), "model profile: no layers");
  const auto ok = [](double v) { return std::isfinite(v) && v >= 0; };
  MERIDIAN_INPUT_CHECK(ok(optimizer_s), "model profile: optimizer_s=", optimizer_s, " must be finite and >= 0");
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const auto& l = layers[i];
    MERIDIAN_INPUT_CHECK(ok(l.forward_s) && ok(l.backward_s) && l.param_bytes >= 0, "model profile: layer ", i,
                         " (", l.name, ") has forward_s=", l.forward_s, " backward_s=", l.backward_s,
                         " param_bytes=", l.param_bytes, "; times must be finite and >= 0, bytes >= 0");
  }
}

nlohmann::json ModelProfile::to_json() const {
  nlohmann::json ls = nlohmann::json::array();
  for (const auto& l : layers) {
    ls.push_back({{"name", l.name}, {"forward_s", l.forward_s}, {"backward_s", l.backward_s},
                  {"param_bytes", l.param_bytes}});
  }
  return nlohmann::json{{"optimizer_s", optimizer_s}, {"layers", ls}};
}

ModelProfile ModelProfile::from_json(const nlohmann::json& json) {
  ModelProfile p;
  try {
    p.optimizer_s = json.value("optimizer_s", 0.0);
    for (const auto& l : json.at("layers")) {
      LayerProfile lp;
      lp.name = l.value("name", std::string());
      lp.forward_s = l.at("forward_s").get<double>();
      lp.backward_s = l.at("backward_s").get<double>();
      lp.param_bytes = checked_json_integer<std::int64_t>(
          l.at("param_bytes"), cat("model profile JSON: layer ", p.layers.size(), " \"param_bytes\""));
      p.layers.push_back(std::move(lp));
    }
  } catch (const nlohmann::json::exception& e) {
    throw InputError(cat("model profile JSON: ", e.what(),
                         "; expected {\"optimizer_s\": s, \"layers\": [{\"name\", \"forward_s\", \"backward_s\", "
                         "\"param_bytes\"}, ...]}"));
  }
  p.validate();
  return p;
}

int ClusterModel::workers_per_dc() const { return (workers + dcs - 1) / dcs; }

void ClusterModel::validate() const {
  MERIDIAN_INPUT_CHECK(dcs >= 1 && workers >= dcs, "cluster: ", workers, " workers in ", dcs,
                       " data centers; need dcs >= 1 and at least one worker per data center");
  const auto bw_ok = [](double v) { return v > 0 && !std::isnan(v); };
  const auto lat_ok = [](double v) { return std::isfinite(v) && v >= 0; };
  MERIDIAN_INPUT_CHECK(bw_ok(intra_bandwidth_bps) && bw_ok(inter_bandwidth_bps), "cluster: bandwidths must be > 0 (intra ",
                       intra_bandwidth_bps, ", inter ", inter_bandwidth_bps, " bit/s)");
  MERIDIAN_INPUT_CHECK(lat_ok(intra_latency_s) && lat_ok(inter_latency_s), "cluster: latencies must be >= 0 (intra ",
                       intra_latency_s, ", inter ", inter_latency_s, " s)");
}

ClusterModel ClusterModel::from_link_model(int workers, const LinkModel& links, double intra_bandwidth_bps,
                                           double intra_latency_s, double at_s) {
  ClusterModel c;
  c.workers = workers;
  c.dcs = links.dcs();
  c.intra_bandwidth_bps = intra_bandwidth_bps;
  c.intra_latency_s = intra_latency_s;
  if (c.dcs > 1) {
    c.inter_bandwidth_bps = links.min_bandwidth_at(at_s);
    c.inter_latency_s = links.max_latency_s();
  }
  c.validate();
  return c;
}

// ---------------------------------------------------------------------------------------------
// All-reduce

AllReduceCost all_reduce_cost(std::int64_t bytes, const ClusterModel& cluster) {
  AllReduceCost c;
  if (bytes <= 0) return c;
  const double bits = 8.0 * static_cast<double>(bytes);
  const int p = cluster.workers_per_dc(), d = cluster.dcs;
  if (p > 1) {
    c.intra_s = 2.0 * (p - 1) * (cluster.intra_latency_s + bits / (p * cluster.intra_bandwidth_bps));
    c.broadcast_s = std::ceil(std::log2(static_cast<double>(p))) * cluster.intra_latency_s + bits / cluster.intra_bandwidth_bps;
  }
  if (d > 1) c.inter_s = 2.0 * (d - 1) * (cluster.inter_latency_s + bits / (d * cluster.inter_bandwidth_bps));
  return c;
}

double all_reduce_s(std::int64_t bytes, const ClusterModel& cluster) { return all_reduce_cost(bytes, cluster).total_s(); }

double inter_dc_bytes_per_link(std::int64_t bytes, const ClusterModel& cluster) {
  if (cluster.dcs <= 1 || bytes <= 0) return 0;
  return 2.0 * (cluster.dcs - 1) * static_cast<double>(bytes) / cluster.dcs;
}

namespace {

double intra_bytes_per_worker(std::int64_t bytes, const ClusterModel& cluster) {
  const int p = cluster.workers_per_dc();
  if (p <= 1 || bytes <= 0) return 0;
  return 2.0 * (p - 1) * static_cast<double>(bytes) / p;
}

}  // namespace

std::vector<LayerCost> layer_costs(const ModelProfile& profile, const ClusterModel& cluster) {
  profile.validate();
  cluster.validate();
  std::vector<LayerCost> costs;
  costs.reserve(profile.layers.size());
  for (const auto& l : profile.layers) costs.push_back(LayerCost{l.backward_s, all_reduce_s(l.param_bytes, cluster)});
  return costs;
}

// ---------------------------------------------------------------------------------------------
// Schemes

const char* scheme_name(Scheme scheme) {
  switch (scheme) {
    case Scheme::ssgd: return "ssgd";
    case Scheme::wfbp: return "wfbp";
    case Scheme::flsgd: return "flsgd";
    case Scheme::plsgd: return "plsgd";
    case Scheme::dreamddp: return "dreamddp";
  }
  return "?";
}

Scheme parse_scheme(std::string_view name) {
  for (Scheme s : all_schemes()) {
    if (name == scheme_name(s)) return s;
  }
  throw InputError(cat("unknown scheme '", name, "'; use one of ssgd, wfbp, flsgd, plsgd, dreamddp"));
}

std::vector<Scheme> all_schemes() { return {Scheme::ssgd, Scheme::wfbp, Scheme::flsgd, Scheme::plsgd, Scheme::dreamddp}; }

nlohmann::json Estimate::to_json() const {
  return nlohmann::json{{"scheme", scheme_name(scheme)},
                        {"period", period},
                        {"iteration_s", iteration_s},
                        {"compute_s", compute_s},
                        {"exposed_comm_s", exposed_comm_s},
                        {"comm_s", comm_s},
                        {"inter_dc_bytes_per_link", inter_dc_bytes_per_link},
                        {"intra_dc_bytes_per_worker", intra_dc_bytes_per_worker},
                        {"syncs_per_period", syncs_per_period}};
}

Estimate simulate_plan(const SyncPlan& plan, const ModelProfile& profile, const ClusterModel& cluster, Scheme label) {
  const auto costs = layer_costs(profile, cluster);
  MERIDIAN_INPUT_CHECK(plan.layers() == static_cast<int>(costs.size()), "simulate: the plan has ", plan.layers(),
                       " layers but the profile ", costs.size());
  Estimate e;
  e.scheme = label;
  e.period = plan.period();
  const double f = profile.forward_s(), o = profile.optimizer_s;
  double bytes = 0, intra = 0;
  for (int t = 0; t < plan.period(); ++t) {
    const SlotCost s = slot_cost(plan, t, costs, f, o);
    e.iteration_s += s.total_s();
    e.exposed_comm_s += s.exposed_comm_s;
    e.comm_s += s.comm_s;
    for (int l : plan.slot(t)) {
      const std::int64_t n = profile.layers[static_cast<std::size_t>(l)].param_bytes;
      bytes += inter_dc_bytes_per_link(n, cluster);
      intra += intra_bytes_per_worker(n, cluster);
    }
  }
  const double h = plan.period();
  e.iteration_s /= h;
  e.exposed_comm_s /= h;
  e.comm_s /= h;
  e.compute_s = f + profile.backward_s() + o;
  e.inter_dc_bytes_per_link = bytes / h;
  e.intra_dc_bytes_per_worker = intra / h;
  e.syncs_per_period = plan.syncs_per_period();
  return e;
}

Estimate simulate(Scheme scheme, const ModelProfile& profile, const ClusterModel& cluster, const SimOptions& options) {
  profile.validate();
  cluster.validate();
  MERIDIAN_INPUT_CHECK(options.period >= 1, "simulate: the period H must be >= 1 (got ", options.period, ")");
  const int layers = static_cast<int>(profile.layers.size());
  const double f = profile.forward_s(), b = profile.backward_s(), o = profile.optimizer_s;
  const std::int64_t total = profile.param_bytes();
  Estimate e;
  e.scheme = scheme;
  e.compute_s = f + b + o;
  switch (scheme) {
    case Scheme::ssgd: {
      e.comm_s = e.exposed_comm_s = all_reduce_s(total, cluster);
      e.inter_dc_bytes_per_link = inter_dc_bytes_per_link(total, cluster);
      e.intra_dc_bytes_per_worker = intra_bytes_per_worker(total, cluster);
      e.syncs_per_period = 1;
      break;
    }
    case Scheme::wfbp: {
      double ready = 0, free = 0;
      std::int64_t bucket = 0;
      for (int l = layers - 1; l >= 0; --l) {  // backprop order
        const auto& lp = profile.layers[static_cast<std::size_t>(l)];
        ready += lp.backward_s;
        bucket += lp.param_bytes;
        const bool close = l == 0 || options.bucket_bytes <= 0 || bucket >= options.bucket_bytes;
        if (close && bucket > 0) {
          const double ar = all_reduce_s(bucket, cluster);
          free = std::max(free, ready) + ar;
          e.comm_s += ar;
          e.inter_dc_bytes_per_link += inter_dc_bytes_per_link(bucket, cluster);
          e.intra_dc_bytes_per_worker += intra_bytes_per_worker(bucket, cluster);
          ++e.syncs_per_period;
          bucket = 0;
        }
      }
      e.exposed_comm_s = std::max(0.0, free - ready);
      break;
    }
    case Scheme::flsgd: {
      const double h = options.period;
      e.period = options.period;
      e.comm_s = e.exposed_comm_s = all_reduce_s(total, cluster) / h;
      e.inter_dc_bytes_per_link = inter_dc_bytes_per_link(total, cluster) / h;
      e.intra_dc_bytes_per_worker = intra_bytes_per_worker(total, cluster) / h;
      e.syncs_per_period = 1;
      break;
    }
    case Scheme::plsgd:
      return simulate_plan(plan_plsgd_even(layers, options.period), profile, cluster, Scheme::plsgd);
    case Scheme::dreamddp:
      return simulate_plan(plan_dreamddp(layer_costs(profile, cluster), options.period, options.planner), profile,
                           cluster, Scheme::dreamddp);
  }
  e.iteration_s = e.compute_s + e.exposed_comm_s;
  return e;
}

std::vector<Estimate> simulate_all(const ModelProfile& profile, const ClusterModel& cluster, const SimOptions& options) {
  std::vector<Estimate> out;
  for (Scheme s : all_schemes()) out.push_back(simulate(s, profile, cluster, options));
  return out;
}

std::vector<SweepRow> sweep(const ModelProfile& profile, const SweepSpec& spec) {
  MERIDIAN_INPUT_CHECK(!spec.workers.empty() && !spec.inter_bandwidth_bps.empty() && !spec.schemes.empty(),
                       "sweep: give at least one worker count, one bandwidth and one scheme");
  std::vector<SweepRow> rows;
  for (int w : spec.workers) {
    for (double bw : spec.inter_bandwidth_bps) {
      ClusterModel c = spec.base;
      c.workers = w;
      c.inter_bandwidth_bps = bw;
      const double ssgd = simulate(Scheme::ssgd, profile, c, spec.options).iteration_s;
      for (Scheme s : spec.schemes) {
        SweepRow r;
        r.workers = w;
        r.inter_bandwidth_bps = bw;
        r.estimate = simulate(s, profile, c, spec.options);
        r.speedup_vs_ssgd = ssgd / r.estimate.iteration_s;
        rows.push_back(r);
      }
    }
  }
  return rows;
}

std::string format_sweep(const std::vector<SweepRow>& rows) {
  std::ostringstream os;
  char line[256];
  std::snprintf(line, sizeof line, "%8s %12s %9s %3s %12s %12s %12s %12s %8s\n", "workers", "inter_Mbps", "scheme", "H",
                "iter_ms", "compute_ms", "exposed_ms", "inter_MB", "speedup");
  os << line;
  for (const auto& r : rows) {
    const auto& e = r.estimate;
    std::snprintf(line, sizeof line, "%8d %12.1f %9s %3d %12.3f %12.3f %12.3f %12.3f %8.2f\n", r.workers,
                  r.inter_bandwidth_bps / 1e6, scheme_name(e.scheme), e.period, e.iteration_s * 1e3, e.compute_s * 1e3,
                  e.exposed_comm_s * 1e3, e.inter_dc_bytes_per_link / 1e6, r.speedup_vs_ssgd);
    os << line;
  }
  return os.str();
}

}  // namespace meridian::dist
