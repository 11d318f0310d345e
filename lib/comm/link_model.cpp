// Link model: unit parsing, bandwidth series (piecewise-constant integration), the inter-region
// tables and the per-pair link matrix. The CSV files are read by lib/trace's readers.
#include "comm/link_model.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

#include "core/text.hpp"
#include "kernels/common/error.hpp"

namespace meridian {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// The number at the start of `text`; `rest` gets what follows it. False when there is none.
bool leading_number(std::string_view text, double& value, std::string_view& rest) {
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || !std::isfinite(value)) return false;
  rest = std::string_view(ptr, static_cast<std::size_t>(end - ptr));
  return true;
}

}  // namespace

double parse_bandwidth_bps(std::string_view text, std::string_view what) {
  const std::string_view t = trim(text);
  double v = 0;
  std::string_view unit;
  const std::string accepted = "use a number with a unit: 800kbit, 100Mbit, 1Gbit, 2.5Gbps, or bits per second (1e9)";
  MERIDIAN_INPUT_CHECK(leading_number(t, v, unit), what, " '", text, "' is not a bandwidth; ", accepted);
  std::string u = ascii_lower(trim(unit));
  if (u.size() > 2 && u.ends_with("/s")) u.resize(u.size() - 2);
  if (u.ends_with("ps")) u.resize(u.size() - 2), u += "it";  // Mbps -> Mbit
  double scale = 0;
  if (u.empty() || u == "bit") scale = 1;
  else if (u == "kbit") scale = 1e3;
  else if (u == "mbit") scale = 1e6;
  else if (u == "gbit") scale = 1e9;
  else if (u == "tbit") scale = 1e12;
  MERIDIAN_INPUT_CHECK(scale > 0, what, " '", text, "': unknown unit '", trim(unit), "'; ", accepted);
  MERIDIAN_INPUT_CHECK(v > 0, what, " '", text, "' must be > 0");
  MERIDIAN_INPUT_CHECK(std::isfinite(v * scale), what, " '", text, "' is too large to count in bit/s; ",
                       accepted);
  return v * scale;
}

double parse_duration_s(std::string_view text, std::string_view what) {
  const std::string_view t = trim(text);
  double v = 0;
  std::string_view unit;
  const std::string accepted = "use a number with a unit: 30ms, 1.5s, 250us (or 0)";
  MERIDIAN_INPUT_CHECK(leading_number(t, v, unit), what, " '", text, "' is not a duration; ", accepted);
  const std::string u = ascii_lower(trim(unit));
  double scale = 0;
  if (u == "s") scale = 1;
  else if (u == "ms") scale = 1e-3;
  else if (u == "us") scale = 1e-6;
  else if (u == "ns") scale = 1e-9;
  else if (u.empty() && v == 0) scale = 1;
  MERIDIAN_INPUT_CHECK(scale > 0, what, " '", text, "': ", u.empty() ? "missing unit" : cat("unknown unit '", u, "'"),
                       "; ", accepted);
  MERIDIAN_INPUT_CHECK(v >= 0, what, " '", text, "' must not be negative");
  return v * scale;
}

// ---- BandwidthSeries

BandwidthSeries::BandwidthSeries(std::vector<double> time_s, std::vector<double> bandwidth_bps)
    : time_s_(std::move(time_s)), bandwidth_bps_(std::move(bandwidth_bps)) {
  MERIDIAN_INPUT_CHECK(!time_s_.empty() && time_s_.size() == bandwidth_bps_.size(),
                       "bandwidth series: needs at least one point and as many times as bandwidths");
  for (std::size_t i = 0; i < time_s_.size(); ++i) {
    MERIDIAN_INPUT_CHECK(time_s_[i] >= 0 && std::isfinite(time_s_[i]), "bandwidth series: point ", i, " has time ",
                         time_s_[i], "; times count seconds from the start of the run (0 or more)");
    MERIDIAN_INPUT_CHECK(bandwidth_bps_[i] > 0 && std::isfinite(bandwidth_bps_[i]), "bandwidth series: point ", i,
                         " has bandwidth ", bandwidth_bps_[i], "; bandwidths must be > 0");
    MERIDIAN_INPUT_CHECK(i == 0 || time_s_[i] > time_s_[i - 1], "bandwidth series: time ", time_s_[i], " at point ",
                         i, " does not follow ", i > 0 ? time_s_[i - 1] : 0.0, "; times must increase strictly");
  }
}

BandwidthSeries BandwidthSeries::read_csv(const std::string& path) {
  trace::BandwidthTrace t = trace::read_bandwidth_csv(path);
  for (std::size_t i = 0; i < t.size(); ++i)
    MERIDIAN_INPUT_CHECK(t.bandwidth_bps[i] > 0, path, ": bandwidth 0 at time_s ", t.time_s[i], " (point ", i + 1,
                         "): the link is down there, and the WAN emulation needs a positive bandwidth at every "
                         "time; replace the outage by a small bandwidth");
  return BandwidthSeries(std::move(t.time_s), std::move(t.bandwidth_bps));
}

std::size_t BandwidthSeries::segment_at(double t) const {
  const auto it = std::upper_bound(time_s_.begin(), time_s_.end(), t);
  return it == time_s_.begin() ? 0 : static_cast<std::size_t>(it - time_s_.begin()) - 1;
}

double BandwidthSeries::bandwidth_at(double t) const { return bandwidth_bps_[segment_at(t)]; }

double BandwidthSeries::next_change_after(double t) const {
  const auto it = std::upper_bound(time_s_.begin(), time_s_.end(), t);
  return it == time_s_.end() ? kInf : *it;
}

double BandwidthSeries::finish_time(double start, double bits) const {
  double t = start, left = bits;
  for (std::size_t s = segment_at(t);; ++s) {
    const double bw = bandwidth_bps_[s];
    const double end = s + 1 < time_s_.size() ? std::max(time_s_[s + 1], t) : kInf;
    const double can = (end - t) * bw;  // inf for the last segment
    if (can >= left) return t + left / bw;
    left -= can;
    t = end;
  }
}

// ---- RegionTables

RegionTables RegionTables::read(const std::string& throughput_csv, const std::string& rtt_csv) {
  RegionTables out;
  out.throughput_gbps_ = trace::read_throughput_table(throughput_csv);
  out.rtt_ms_ = trace::read_rtt_table(rtt_csv);
  // Each value must hold in the unit it is used in (bit/s, seconds one way).
  for (const auto& [table, scale] : {std::pair{&out.throughput_gbps_, 1e9}, std::pair{&out.rtt_ms_, 0.5e-3}})
    for (const trace::LinkRow& row : table->rows)
      MERIDIAN_INPUT_CHECK(std::isfinite(row.value * scale), table->path, ":", row.line, ": ", table->value_column, " ",
                           row.value, " from ", row.src, " to ", row.dst,
                           " is too large to be a measurement; check the column's unit");
  return out;
}

double RegionTables::bandwidth_bps(const std::string& src, const std::string& dst) const {
  return 1e9 * throughput_gbps_.lookup(src, dst);
}

double RegionTables::latency_s(const std::string& src, const std::string& dst) const {
  return 0.5e-3 * rtt_ms_.lookup(src, dst);
}

std::vector<std::string> RegionTables::regions() const { return throughput_gbps_.regions(); }

// ---- LinkModel

LinkModel LinkModel::uniform(int dcs, double bandwidth_bps, double latency_s) {
  MERIDIAN_INPUT_CHECK(dcs >= 1, "link model: ", dcs, " data centers; need at least 1");
  MERIDIAN_INPUT_CHECK(bandwidth_bps > 0, "link model: bandwidth ", bandwidth_bps, " bit/s must be > 0");
  MERIDIAN_INPUT_CHECK(latency_s >= 0, "link model: latency ", latency_s, " s must not be negative");
  LinkModel m;
  m.dcs_ = dcs;
  m.links_.assign(static_cast<std::size_t>(dcs) * dcs, Link{bandwidth_bps, latency_s, nullptr});
  return m;
}

LinkModel LinkModel::from_regions(const std::vector<std::string>& regions, const RegionTables& tables) {
  const int dcs = static_cast<int>(regions.size());
  MERIDIAN_INPUT_CHECK(dcs >= 1, "--regions: name at least one region");
  LinkModel m = uniform(dcs, 1, 0);
  for (int i = 0; i < dcs; ++i)
    for (int j = 0; j < dcs; ++j) {
      if (i == j) continue;
      MERIDIAN_INPUT_CHECK(regions[i] != regions[j], "--regions: '", regions[i], "' is named twice (data centers ",
                           i, " and ", j, "); every data center needs its own region");
      m.link(i, j) = Link{tables.bandwidth_bps(regions[i], regions[j]), tables.latency_s(regions[i], regions[j]),
                          nullptr};
    }
  return m;
}

const Link& LinkModel::link(int src_dc, int dst_dc) const {
  MERIDIAN_CHECK(src_dc >= 0 && src_dc < dcs_ && dst_dc >= 0 && dst_dc < dcs_ && src_dc != dst_dc,
                 "LinkModel::link(", src_dc, ", ", dst_dc, "): not a pair of distinct data centers of ", dcs_);
  return links_[static_cast<std::size_t>(src_dc) * dcs_ + dst_dc];
}

Link& LinkModel::link(int src_dc, int dst_dc) {
  return const_cast<Link&>(static_cast<const LinkModel&>(*this).link(src_dc, dst_dc));
}

void LinkModel::set_series(std::shared_ptr<const BandwidthSeries> series) {
  for (Link& l : links_) l.series = series;
}

double LinkModel::min_bandwidth_at(double t) const {
  double bw = kInf;
  for (int i = 0; i < dcs_; ++i)
    for (int j = 0; j < dcs_; ++j)
      if (i != j) bw = std::min(bw, link(i, j).bandwidth_at(t));
  return bw;
}

double LinkModel::max_latency_s() const {
  double lat = 0;
  for (int i = 0; i < dcs_; ++i)
    for (int j = 0; j < dcs_; ++j)
      if (i != j) lat = std::max(lat, link(i, j).latency_s);
  return lat;
}

std::string LinkModel::describe() const {
  if (dcs_ == 1) return "1 DC (no WAN links)";
  const double lo = min_bandwidth_at(0);
  double hi = 0;
  for (int i = 0; i < dcs_; ++i)
    for (int j = 0; j < dcs_; ++j)
      if (i != j) hi = std::max(hi, link(i, j).bandwidth_at(0));
  const auto mbit = [](double bps) { return cat(bps / 1e6, " Mbit/s"); };
  return cat(dcs_, " DCs, ", lo == hi ? mbit(lo) : cat(mbit(lo), "..", mbit(hi)), ", up to ",
             max_latency_s() * 1e3, " ms one way", links_.front().series || links_.back().series ? ", traced" : "");
}

LinkModel make_link_model(const LinkOptions& o, int dcs) {
  MERIDIAN_INPUT_CHECK(o.any(), "no WAN link given: pass --bandwidth (e.g. 100Mbit), --regions with --region-tables, "
                       "or --link-trace FILE");
  MERIDIAN_INPUT_CHECK(o.bandwidth.empty() || o.regions.empty(),
                       "--bandwidth and --regions both give the links' bandwidth; pass one of them");
  LinkModel model;
  if (!o.regions.empty()) {
    MERIDIAN_INPUT_CHECK(o.latency == "0", "--latency and --regions both give the links' latency; pass one of them");
    MERIDIAN_INPUT_CHECK(!o.region_tables.empty(), "--regions needs --region-tables DIR: the folder holding "
                         "inter_region_throughput.csv and inter_region_rtt.csv (the Skyplane project publishes such tables)");
    std::vector<std::string> names;
    std::string_view rest = o.regions;
    for (;;) {
      const std::size_t comma = rest.find(',');
      names.emplace_back(trim(rest.substr(0, comma)));
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    MERIDIAN_INPUT_CHECK(static_cast<int>(names.size()) == dcs, "--regions names ", names.size(),
                         " regions but the run has ", dcs, " data centers; name one region per data center");
    const std::string dir = o.region_tables;
    model = LinkModel::from_regions(
        names, RegionTables::read(dir + "/inter_region_throughput.csv", dir + "/inter_region_rtt.csv"));
  } else {
    const double latency = parse_duration_s(o.latency, "--latency");
    // With only a trace, the constant bandwidth is a placeholder that the series replaces.
    const double bw = o.bandwidth.empty() ? 1.0 : parse_bandwidth_bps(o.bandwidth, "--bandwidth");
    model = LinkModel::uniform(dcs, bw, latency);
  }
  if (!o.link_trace.empty())
    model.set_series(std::make_shared<const BandwidthSeries>(BandwidthSeries::read_csv(o.link_trace)));
  return model;
}

}  // namespace meridian
