// The WAN link model: unit parsing, the bandwidth series' integration across changes (closed
// forms), the inter-region tables (synthetic files with every malformation, and the real tables
// of ../shared/traces when present) and the link matrix.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include "comm/link_model.hpp"
#include "trace/readers.hpp"
#include "kernels/common/error.hpp"
#include "common/input_error.hpp"

namespace meridian {
namespace {

namespace fs = std::filesystem;

std::string write_temp(const std::string& name, const std::string& text) {
  const fs::path p = fs::temp_directory_path() / ("meridian_link_" + std::to_string(::getpid()) + "_" + name);
  std::ofstream(p) << text;
  return p.string();
}

using meridian::testing::input_error;

TEST(LinkModel, ParsesUnits) {
  EXPECT_DOUBLE_EQ(parse_bandwidth_bps("100Mbit", "--bandwidth"), 100e6);
  EXPECT_DOUBLE_EQ(parse_bandwidth_bps("1Gbit/s", "--bandwidth"), 1e9);
  EXPECT_DOUBLE_EQ(parse_bandwidth_bps("2.5Gbps", "--bandwidth"), 2.5e9);
  EXPECT_DOUBLE_EQ(parse_bandwidth_bps("800kbit", "--bandwidth"), 800e3);
  EXPECT_DOUBLE_EQ(parse_bandwidth_bps("1e9", "--bandwidth"), 1e9);
  EXPECT_NE(input_error([] { parse_bandwidth_bps("100MB", "--bandwidth"); }).find("unknown unit"), std::string::npos);
  EXPECT_NE(input_error([] { parse_bandwidth_bps("fast", "--bandwidth"); }).find("--bandwidth"), std::string::npos);
  EXPECT_FALSE(input_error([] { parse_bandwidth_bps("0Mbit", "--bandwidth"); }).empty());
  EXPECT_DOUBLE_EQ(parse_duration_s("30ms", "--latency"), 0.030);
  EXPECT_DOUBLE_EQ(parse_duration_s("1.5s", "--latency"), 1.5);
  EXPECT_DOUBLE_EQ(parse_duration_s("250us", "--latency"), 250e-6);
  EXPECT_DOUBLE_EQ(parse_duration_s("0", "--latency"), 0);
  EXPECT_NE(input_error([] { parse_duration_s("30", "--latency"); }).find("missing unit"), std::string::npos);
  EXPECT_FALSE(input_error([] { parse_duration_s("-1ms", "--latency"); }).empty());
  // A number a double holds but not once scaled to bit/s is refused, not returned as infinity.
  EXPECT_NE(input_error([] { parse_bandwidth_bps("1e300Tbit", "--bandwidth"); }).find("too large"),
            std::string::npos);
}

TEST(LinkModel, SeriesIntegratesAcrossChanges) {
  // 8 Mbit/s until t = 1, then 2 Mbit/s until t = 3, then 4 Mbit/s.
  const BandwidthSeries s({0, 1, 3}, {8e6, 2e6, 4e6});
  EXPECT_DOUBLE_EQ(s.bandwidth_at(-1), 8e6);
  EXPECT_DOUBLE_EQ(s.bandwidth_at(1), 2e6);
  EXPECT_DOUBLE_EQ(s.bandwidth_at(10), 4e6);
  EXPECT_DOUBLE_EQ(s.finish_time(0, 4e6), 0.5);            // inside the first segment
  EXPECT_DOUBLE_EQ(s.finish_time(0.5, 4e6 + 2e6), 1.0 + 1.0);  // 4 Mbit by t=1, 2 Mbit more at 2 Mbit/s
  EXPECT_DOUBLE_EQ(s.finish_time(0, 8e6 + 4e6 + 8e6), 5.0);  // through all three segments
  EXPECT_DOUBLE_EQ(s.next_change_after(0.5), 1.0);
  EXPECT_TRUE(std::isinf(s.next_change_after(3)));
  EXPECT_THROW(BandwidthSeries({0, 0}, {1, 1}), InputError);
  EXPECT_THROW(BandwidthSeries({0}, {0}), InputError);
}

TEST(LinkModel, SeriesCsvErrorsNameFileAndLine) {
  const std::string good = write_temp("good.csv", "time_s,bandwidth_bps\n0,1e8\n10,5e7\n");
  const BandwidthSeries s = BandwidthSeries::read_csv(good);
  EXPECT_EQ(s.times().size(), 2u);
  EXPECT_DOUBLE_EQ(s.bandwidth_at(11), 5e7);
  const std::string unordered = write_temp("unordered.csv", "time_s,bandwidth_bps\n0,1e8\n0,5e7\n");
  EXPECT_NE(input_error([&] { BandwidthSeries::read_csv(unordered); }).find(unordered + ":3"), std::string::npos);
  const std::string junk = write_temp("junk.csv", "time_s,bandwidth_bps\n0,fast\n");
  const std::string msg = input_error([&] { BandwidthSeries::read_csv(junk); });
  EXPECT_NE(msg.find(junk + ":2: column 2"), std::string::npos) << msg;
  const std::string header = write_temp("header.csv", "t,bw\n0,1\n");
  EXPECT_NE(input_error([&] { BandwidthSeries::read_csv(header); }).find("time_s"), std::string::npos);
  EXPECT_NE(input_error([&] { BandwidthSeries::read_csv("/nonexistent/series.csv"); }).find("cannot open"),
            std::string::npos);
  const std::string negative = write_temp("negative.csv", "time_s,bandwidth_bps\n-1,1e8\n10,5e7\n");
  const std::string neg_msg = input_error([&] { BandwidthSeries::read_csv(negative); });
  EXPECT_NE(neg_msg.find(negative + ":2: column 1"), std::string::npos) << neg_msg;
  EXPECT_NE(neg_msg.find("(>= 0)"), std::string::npos) << neg_msg;  // says what is allowed
  EXPECT_THROW(BandwidthSeries({-0.5, 1}, {1, 1}), InputError);
  // An outage (0 bit/s) is a valid trace for tracegen but not a link the emulation can pace.
  const std::string down = write_temp("down.csv", "time_s,bandwidth_bps\n0,1e8\n10,0\n20,1e8\n");
  const std::string down_msg = input_error([&] { BandwidthSeries::read_csv(down); });
  EXPECT_NE(down_msg.find(down + ": bandwidth 0 at time_s 10"), std::string::npos) << down_msg;
  for (const auto& f : {good, unordered, junk, header, negative, down}) fs::remove(f);
}

TEST(LinkModel, RegionTables) {
  const std::string tput = write_temp("tput.csv",
                                      "src_region,dst_region,throughput_gbps\n"
                                      "aws:a,gcp:b,2.5\ngcp:b,aws:a,1.25\n");
  const std::string rtt = write_temp("rtt.csv",
                                     "src_region,dst_region,rtt_ms_min,rtt_ms_avg,rtt_ms_max\n"
                                     "aws:a,gcp:b,9,10,11\ngcp:b,aws:a,19,20,21\n");
  const RegionTables t = RegionTables::read(tput, rtt);
  const LinkModel m = LinkModel::from_regions({"aws:a", "gcp:b"}, t);
  EXPECT_EQ(m.dcs(), 2);
  EXPECT_DOUBLE_EQ(m.link(0, 1).bandwidth_bps, 2.5e9);
  EXPECT_DOUBLE_EQ(m.link(1, 0).bandwidth_bps, 1.25e9);
  EXPECT_DOUBLE_EQ(m.link(0, 1).latency_s, 0.005);  // half the round trip
  EXPECT_DOUBLE_EQ(m.link(1, 0).latency_s, 0.010);
  EXPECT_NE(input_error([&] { LinkModel::from_regions({"aws:a", "aws:zz"}, t); }).find("aws:zz"), std::string::npos);
  EXPECT_NE(input_error([&] { LinkModel::from_regions({"aws:a", "aws:a"}, t); }).find("twice"), std::string::npos);
  const std::string bad = write_temp("bad.csv", "src_region,dst_region,throughput_gbps\naws:a,gcp:b\n");
  EXPECT_NE(input_error([&] { RegionTables::read(bad, rtt); }).find(bad + ":2"), std::string::npos);
  // A throughput whose bit/s would overflow to infinity is refused with its place.
  const std::string huge = write_temp("huge.csv", "src_region,dst_region,throughput_gbps\naws:a,gcp:b,1e300\n");
  const std::string msg = input_error([&] { RegionTables::read(huge, rtt); });
  EXPECT_NE(msg.find(huge + ":2: "), std::string::npos) << msg;
  EXPECT_NE(msg.find("too large"), std::string::npos) << msg;
  // A pair measured twice is the mean of its rows, as tracegen reads the same table.
  const std::string twice = write_temp("twice.csv",
                                       "src_region,dst_region,throughput_gbps\n"
                                       "aws:a,gcp:b,2\ngcp:b,aws:a,1.25\naws:a,gcp:b,3\n");
  const RegionTables t2 = RegionTables::read(twice, rtt);
  EXPECT_DOUBLE_EQ(t2.bandwidth_bps("aws:a", "gcp:b"), 2.5e9);
  EXPECT_DOUBLE_EQ(t2.bandwidth_bps("aws:a", "gcp:b"), 1e9 * trace::read_throughput_table(twice).lookup("aws:a", "gcp:b"));
  for (const auto& f : {tput, rtt, bad, huge, twice}) fs::remove(f);
}

TEST(LinkModel, RealSkyplaneTablesWhenPresent) {
  const fs::path dir = fs::path(MERIDIAN_SOURCE_DIR) / ".." / "shared" / "traces";
  if (!fs::exists(dir / "inter_region_throughput.csv")) GTEST_SKIP() << "no ../shared/traces next to the source tree";
  const RegionTables t =
      RegionTables::read((dir / "inter_region_throughput.csv").string(), (dir / "inter_region_rtt.csv").string());
  EXPECT_GT(t.regions().size(), 50u);
  const LinkModel m = LinkModel::from_regions({"aws:us-east-1", "gcp:europe-west4-a"}, t);
  // Transatlantic: between 0.1 and 20 Gbit/s, and 30–60 ms one way.
  EXPECT_GT(m.link(0, 1).bandwidth_bps, 0.1e9);
  EXPECT_LT(m.link(0, 1).bandwidth_bps, 20e9);
  EXPECT_GT(m.link(0, 1).latency_s, 0.030);
  EXPECT_LT(m.link(0, 1).latency_s, 0.060);
}

TEST(LinkModel, UniformAndSeries) {
  LinkModel m = LinkModel::uniform(3, 1e8, 0.02);
  EXPECT_DOUBLE_EQ(m.link(2, 0).finish_time(1.0, 1e8), 2.0);
  m.set_series(std::make_shared<BandwidthSeries>(std::vector<double>{0, 5}, std::vector<double>{1e8, 1e6}));
  EXPECT_DOUBLE_EQ(m.min_bandwidth_at(6), 1e6);
  EXPECT_DOUBLE_EQ(m.max_latency_s(), 0.02);
  EXPECT_THROW(m.link(1, 1), Error);
  EXPECT_THROW(LinkModel::uniform(0, 1e8, 0), InputError);
  EXPECT_THROW(LinkModel::uniform(2, -1, 0), InputError);
}

}  // namespace
}  // namespace meridian
