// The WAN link model between data centers: bandwidth (constant, or a time series) and one-way
// latency for every ordered pair of data centers, from numbers, from inter-region measurement
// tables (CSV with a header: src_region,dst_region,throughput_gbps and src_region,dst_region,...,
// rtt_ms_avg,...), or with a bandwidth trace (CSV time_s,bandwidth_bps). Times in seconds.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "trace/readers.hpp"

namespace meridian {

// "100Mbit", "1Gbit/s", "2.5Gbps", "800kbit", "1e9" (bit/s) -> bit/s. InputError naming `what`
// (e.g. "--bandwidth") and the accepted forms otherwise, or for a value <= 0.
double parse_bandwidth_bps(std::string_view text, std::string_view what);
// "30ms", "1.5s", "250us", "0" -> seconds. InputError for a missing unit, a negative value, junk.
double parse_duration_s(std::string_view text, std::string_view what);

// Bandwidth over time, piecewise constant: bandwidth_bps[i] from time_s[i] until time_s[i + 1],
// the last value forever after; before time_s[0] the first value.
class BandwidthSeries {
 public:
  BandwidthSeries(std::vector<double> time_s, std::vector<double> bandwidth_bps);
  // Reads a CSV file with the header time_s,bandwidth_bps (more columns are ignored), times
  // strictly increasing, bandwidths > 0. InputError with file:line and the fix otherwise.
  static BandwidthSeries read_csv(const std::string& path);

  double bandwidth_at(double t) const;
  // When `bits` sent from time `start` at the series' bandwidth are through (integrates across
  // changes of bandwidth).
  double finish_time(double start, double bits) const;
  // The first time after `t` at which the bandwidth changes (infinity if none).
  double next_change_after(double t) const;
  const std::vector<double>& times() const { return time_s_; }
  const std::vector<double>& bandwidths() const { return bandwidth_bps_; }

 private:
  std::size_t segment_at(double t) const;
  std::vector<double> time_s_;
  std::vector<double> bandwidth_bps_;
};

struct Link {
  double bandwidth_bps = 0;                       // when `series` is null
  double latency_s = 0;                           // one way
  std::shared_ptr<const BandwidthSeries> series;  // time-varying bandwidth (else constant)

  double bandwidth_at(double t) const { return series ? series->bandwidth_at(t) : bandwidth_bps; }
  double finish_time(double start, double bits) const {
    return series ? series->finish_time(start, bits) : start + bits / bandwidth_bps;
  }
};

// Measured link properties between named regions ("aws:us-east-1", "gcp:europe-west4-a"), read
// with lib/trace's link-table reader, so that tracegen and the WAN emulation see the same numbers.
class RegionTables {
 public:
  // throughput CSV: columns src_region, dst_region, throughput_gbps; rtt CSV: src_region,
  // dst_region, rtt_ms_avg (found by name in the header; other columns ignored). InputError with
  // file:line:column for a malformed line, a missing column, a non-positive number, and with
  // file:line for a value too large for its unit.
  static RegionTables read(const std::string& throughput_csv, const std::string& rtt_csv);

  // Throughput in bit/s and one-way latency (RTT / 2) in seconds from src to dst; a pair measured
  // more than once gives the mean of its rows. InputError naming the pair, the file and a few known
  // regions when the table has no such entry.
  double bandwidth_bps(const std::string& src, const std::string& dst) const;
  double latency_s(const std::string& src, const std::string& dst) const;
  std::vector<std::string> regions() const;  // every region named in the throughput table, sorted

 private:
  trace::LinkTable throughput_gbps_, rtt_ms_;
};

// Links between `dcs` data centers: link(i, j) for i != j (traffic inside a data center is not
// paced).
class LinkModel {
 public:
  // Every inter-DC link with the same bandwidth and one-way latency.
  static LinkModel uniform(int dcs, double bandwidth_bps, double latency_s);
  // Data center i is regions[i]; bandwidth and latency of each ordered pair from the tables.
  static LinkModel from_regions(const std::vector<std::string>& regions, const RegionTables& tables);

  int dcs() const { return dcs_; }
  const Link& link(int src_dc, int dst_dc) const;
  Link& link(int src_dc, int dst_dc);
  // Every inter-DC link follows `series` (its latency is kept).
  void set_series(std::shared_ptr<const BandwidthSeries> series);
  // The smallest bandwidth of any inter-DC link at time t (infinity with one data center).
  double min_bandwidth_at(double t) const;
  double max_latency_s() const;
  std::string describe() const;  // one line, e.g. "2 DCs, 100 Mbit/s, 30 ms one way"

 private:
  int dcs_ = 1;
  std::vector<Link> links_;  // dcs x dcs, row = src
};

// The link options every WAN-emulating app takes, as text (parsed by make_link_model).
struct LinkOptions {
  std::string bandwidth;      // --bandwidth 100Mbit: every inter-DC link
  std::string latency = "0";  // --latency 30ms: one way, every inter-DC link (with --bandwidth/--link-trace)
  std::string link_trace;     // --link-trace FILE: time_s,bandwidth_bps for every inter-DC link
  std::string regions;        // --regions aws:us-east-1,gcp:europe-west4-a: data center i in region i
  std::string region_tables;  // --region-tables DIR: inter_region_throughput.csv and inter_region_rtt.csv
  bool any() const { return !bandwidth.empty() || !link_trace.empty() || !regions.empty(); }
};

// The link model for `dcs` data centers from the options: --regions (with --region-tables), or
// --bandwidth, or --link-trace alone; --link-trace on top of either makes the bandwidth follow the
// trace. InputError naming the flags for every conflict or omission.
LinkModel make_link_model(const LinkOptions& options, int dcs);

}  // namespace meridian
