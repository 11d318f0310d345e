// Trace readers and writers: every writer through its reader (round trip), one malformed input per
// kind of defect and reader (the InputError must name file:line), the samples in traces/samples, the
// real Azure trace and link tables of ../shared/traces when present, seeded mutation fuzzing of the
// samples (InputError or success, nothing else), and a speed print for a 200k-row BurstGPT file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "common/input_error.hpp"
#include "kernels/common/error.hpp"
#include "trace/readers.hpp"
#include "trace/writers.hpp"

namespace meridian::trace {
namespace {

namespace fs = std::filesystem;
using meridian::testing::input_error;

// One folder per process for the files the tests write, removed at exit.
struct TempDir {
  fs::path path = fs::temp_directory_path() / ("meridian_trace_readers_" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

fs::path temp_dir() {
  static const TempDir dir;
  return dir.path;
}

std::string temp_path(const std::string& name) { return (temp_dir() / name).string(); }

std::string write_temp(const std::string& name, const std::string& text) {
  const std::string p = temp_path(name);
  std::error_code ec;
  fs::remove(p, ec);  // a new file: rewriting one in place waits for the disk on some file systems
  std::ofstream(p, std::ios::binary) << text;
  return p;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

std::string sample(const std::string& name) { return std::string(MERIDIAN_SOURCE_DIR) + "/traces/samples/" + name; }
std::string shared_trace(const std::string& name) {
  return std::string(MERIDIAN_SOURCE_DIR) + "/../shared/traces/" + name;
}

// The InputError of `f` must contain every piece (file:line, column, what was expected).
void expect_error(const std::function<void()>& f, std::initializer_list<std::string> pieces) {
  const std::string msg = input_error(f);
  for (const std::string& piece : pieces)
    EXPECT_NE(msg.find(piece), std::string::npos) << "missing '" << piece << "' in: " << msg;
}

// A trace with ties, failures (0 response tokens), two models and both log types.
RequestTrace synthetic(int n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::exponential_distribution<double> gap(2.0);
  std::uniform_int_distribution<int> tokens(0, 4000);
  RequestTrace t;
  double time = 0;
  for (int i = 0; i < n; ++i) {
    if (i > 0 && rng() % 5 != 0) time += gap(rng);
    const int resp = rng() % 17 == 0 ? 0 : tokens(rng);
    t.push(time, tokens(rng), resp, rng() % 3 == 0 ? "GPT-4" : "ChatGPT",
           rng() % 2 == 0 ? LogType::conversation : LogType::api);
  }
  return t;
}

void expect_same_requests(const RequestTrace& a, const RequestTrace& b, double time_tol) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (time_tol == 0) {
      ASSERT_EQ(a.time_s[i], b.time_s[i]) << "row " << i;
    } else {
      ASSERT_NEAR(a.time_s[i], b.time_s[i], time_tol * std::max(1.0, std::fabs(a.time_s[i]))) << "row " << i;
    }
    ASSERT_EQ(a.request_tokens[i], b.request_tokens[i]) << "row " << i;
    ASSERT_EQ(a.response_tokens[i], b.response_tokens[i]) << "row " << i;
  }
}

const char* const kBurstHeader = "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n";

// ---- Round trips ----------------------------------------------------------------------------------

TEST(TraceWriters, BurstGptRoundTripIsExact) {
  const RequestTrace t = synthetic(500, 1);
  const std::string p = temp_path("rt_burst.csv");
  write_burstgpt_csv(t, p);
  const RequestTrace r = read_burstgpt_csv(p);
  expect_same_requests(t, r, 0);
  EXPECT_EQ(r.models, t.models);
  EXPECT_EQ(r.model, t.model);
  EXPECT_EQ(r.log_type, t.log_type);
  EXPECT_TRUE(r.session.empty());
  EXPECT_EQ(read_requests(p).size(), t.size());  // detected by header
}

TEST(TraceWriters, AzureRoundTripKeepsTicksAndOrigin) {
  // Azure clocks tick in 100 ns: times on that grid come back exactly, the origin to the double.
  std::mt19937_64 rng(2);
  RequestTrace t;
  std::int64_t ticks = 0;
  for (int i = 0; i < 300; ++i) {
    t.push(static_cast<double>(ticks) / 1e7, static_cast<std::int32_t>(rng() % 5000),
           static_cast<std::int32_t>(rng() % 900));
    ticks += static_cast<std::int64_t>(rng() % 40000000);
  }
  t.origin_unix_s = 1700158546.68059;
  const std::string p = temp_path("rt_azure.csv");
  write_azure_csv(t, p);
  EXPECT_EQ(slurp(p).substr(0, 68), "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,");
  const RequestTrace r = read_azure_csv(p);
  expect_same_requests(t, r, 0);
  EXPECT_EQ(r.origin_unix_s, t.origin_unix_s);
  EXPECT_EQ(detect_request_format(p), RequestFormat::azure_csv);
}

TEST(TraceWriters, AzureWritesDatesAcrossMonthsAndLeapDays) {
  RequestTrace t;
  t.push(0, 1, 1);
  t.push(86400.5, 2, 2);  // one day and half a second later
  t.origin_unix_s = 951782399.25;  // 2000-02-28 23:59:59.25 UTC
  const std::string p = temp_path("rt_leap.csv");
  write_azure_csv(t, p);
  EXPECT_EQ(slurp(p),
            "TIMESTAMP,ContextTokens,GeneratedTokens\n2000-02-28 23:59:59.2500000,1,1\n"
            "2000-02-29 23:59:59.7500000,2,2\n");
  const RequestTrace r = read_azure_csv(p);
  EXPECT_EQ(r.time_s[1], 86400.5);
  EXPECT_EQ(r.origin_unix_s, 951782399.25);
}

// A read reports its progress by bytes: non-decreasing fractions in (0, 1], ending at 1. The file
// spans several 4 MiB blocks.
TEST(TraceReaders, ReadsReportProgress) {
  const RequestTrace t = synthetic(150000, 4);
  const std::string p = temp_path("progress.jsonl");
  write_jsonl(t, p);
  std::vector<double> seen;
  const RequestTrace r = read_requests(p, RequestFormat::automatic, [&](double f) { seen.push_back(f); });
  EXPECT_EQ(r.size(), t.size());
  ASSERT_GE(seen.size(), 2u);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  EXPECT_GT(seen.front(), 0.0);
  EXPECT_DOUBLE_EQ(seen.back(), 1.0);
}

TEST(TraceWriters, JsonlRoundTrip) {
  const RequestTrace t = synthetic(400, 3);
  const std::string p = temp_path("rt.jsonl");
  write_jsonl(t, p);
  const RequestTrace r = read_jsonl(p);
  expect_same_requests(t, r, 1e-15);
  EXPECT_EQ(r.models, t.models);
  EXPECT_EQ(r.model, t.model);
  EXPECT_EQ(detect_request_format(p), RequestFormat::jsonl);
  // Without model names the key is left out and the trace reads back with one unnamed model.
  RequestTrace plain;
  plain.push(0, 5, 6);
  plain.push(0.25, 7, 0);
  write_requests(plain, temp_path("plain.jsonl"));
  EXPECT_EQ(slurp(temp_path("plain.jsonl")),
            "{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 6}\n"
            "{\"timestamp\": 250, \"input_length\": 7, \"output_length\": 0}\n");
}

TEST(TraceWriters, LinkBandwidthFailureAndJobTablesRoundTrip) {
  LinkTable table;
  table.value_column = "throughput_gbps";
  table.rows = {{"aws:us-east-1", "gcp:europe-west4-a", 4.7374}, {"gcp:europe-west4-a", "aws:us-east-1", 0.1 + 0.2}};
  write_link_table(table, temp_path("links.csv"));
  const LinkTable lt = read_throughput_table(temp_path("links.csv"));
  ASSERT_EQ(lt.rows.size(), 2u);
  EXPECT_EQ(lt.rows[1].value, 0.1 + 0.2);
  EXPECT_EQ(lt.rows[0].src, "aws:us-east-1");

  BandwidthTrace b{{0, 0.5, 1.0 / 3.0 + 1, 7}, {1e9, 0, 123456789.125, 2.5e6}};
  write_bandwidth_csv(b, temp_path("bw.csv"));
  const BandwidthTrace rb = read_bandwidth_csv(temp_path("bw.csv"));
  EXPECT_EQ(rb.time_s, b.time_s);
  EXPECT_EQ(rb.bandwidth_bps, b.bandwidth_bps);

  FailureLog log{{"n2", "n10"}, {{1.5, 7.25}, {0.1}}};
  write_failure_csv(log, temp_path("fail.csv"));
  const FailureLog rl = read_failure_csv(temp_path("fail.csv"));
  EXPECT_EQ(rl.node, log.node);
  EXPECT_EQ(rl.time_s, log.time_s);

  std::vector<JobRecord> jobs(2);
  jobs[0] = JobRecord{"17", 2, {"a1", "a2"}, 0.5, 10.25, JobState::node_fail};
  jobs[1] = JobRecord{"18.batch", 1, {}, 3, 3, JobState::cancelled};
  write_job_table(jobs, temp_path("jobs.csv"));
  const std::vector<JobRecord> rj = read_job_table(temp_path("jobs.csv"));
  ASSERT_EQ(rj.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(rj[i].job_id, jobs[i].job_id);
    EXPECT_EQ(rj[i].nodes, jobs[i].nodes);
    EXPECT_EQ(rj[i].node_list, jobs[i].node_list);
    EXPECT_EQ(rj[i].start_s, jobs[i].start_s);
    EXPECT_EQ(rj[i].end_s, jobs[i].end_s);
    EXPECT_EQ(rj[i].state, jobs[i].state);
  }
  EXPECT_EQ(node_fail_times(rj), std::vector<double>{10.25});
}

TEST(TraceWriters, RefuseWhatTheReadersWouldRefuse) {
  RequestTrace t;
  t.push(0, 1, 1, "gpt,4");
  expect_error([&] { write_burstgpt_csv(t, temp_path("bad_name.csv")); }, {"bad_name.csv", "'gpt,4'", "rename"});
  expect_error([] { write_burstgpt_csv(RequestTrace{}, temp_path("empty.csv")); }, {"empty.csv", "empty"});
  RequestTrace unsorted;
  unsorted.push(1, 1, 1);
  unsorted.push(0, 1, 1);
  expect_error([&] { write_jsonl(unsorted, temp_path("unsorted.jsonl")); }, {"non-decreasing"});
  expect_error([] { write_bandwidth_csv(BandwidthTrace{}, temp_path("nobw.csv")); }, {"nobw.csv", "empty"});
  RequestTrace ok;
  ok.push(0, 1, 1);
  expect_error([&] { write_burstgpt_csv(ok, (temp_dir() / "no_such_dir" / "x.csv").string()); },
               {"no_such_dir", "cannot create"});
}

// ---- The samples ----------------------------------------------------------------------------------

TEST(TraceReaders, SamplesAreValid) {
  const RequestTrace v1 = read_requests(sample("burstgpt_v1.csv"));
  EXPECT_EQ(v1.size(), 40u);
  EXPECT_EQ(v1.time_s.front(), 0.0);
  EXPECT_EQ(v1.models, (std::vector<std::string>{"ChatGPT", "GPT-4"}));
  EXPECT_LT(drop_failed(v1).size(), v1.size());
  const RequestTrace v2 = read_requests(sample("burstgpt_v2.csv"));
  EXPECT_EQ(v2.size(), 36u);
  ASSERT_EQ(v2.session.size(), 36u);
  EXPECT_GE(v2.session.front(), 1000);
  const RequestTrace az = read_requests(sample("azure_conv.csv"));
  EXPECT_EQ(az.size(), 30u);
  EXPECT_NEAR(az.origin_unix_s, 1709285400.2851858, 1e-6);  // 2024-03-01 09:30:00.2851858 UTC
  const RequestTrace js = read_requests(sample("requests.jsonl"));
  EXPECT_EQ(js.size(), 30u);
  EXPECT_EQ(js.origin_unix_s, 0.801);
  EXPECT_EQ(js.models.size(), 2u);

  const LinkTable tp = read_throughput_table(sample("inter_region_throughput.csv"));
  EXPECT_EQ(tp.regions().size(), 5u);
  EXPECT_EQ(tp.rows.size(), 21u);
  const double a = tp.rows[0].value, b = tp.rows.back().value;  // the pair measured twice
  EXPECT_DOUBLE_EQ(tp.lookup("aws:us-east-1", "aws:eu-west-1"), (a + b) / 2);
  expect_error([&] { tp.lookup("aws:us-east-1", "aws:mars-1"); }, {"inter_region_throughput.csv", "aws:mars-1"});
  const LinkTable rtt = read_rtt_table(sample("inter_region_rtt.csv"));
  EXPECT_EQ(rtt.rows.size(), 25u);
  EXPECT_TRUE(rtt.find("gcp:asia-east1-a", "gcp:asia-east1-a").has_value());

  const BandwidthTrace bw = read_bandwidth_csv(sample("link_bandwidth.csv"));
  EXPECT_EQ(bw.size(), 30u);
  const FailureLog fl = read_failure_csv(sample("node_failures.csv"));
  EXPECT_EQ(fl.failures(), 30u);
  for (std::size_t i = 0; i + 1 < fl.node.size(); ++i) {
    const int x = std::stoi(fl.node[i].substr(4)), y = std::stoi(fl.node[i + 1].substr(4));
    EXPECT_LT(x, y) << "nodes in natural order";
  }
  for (const auto& times : fl.time_s) EXPECT_TRUE(std::is_sorted(times.begin(), times.end()));
  const std::vector<JobRecord> jobs = read_job_table(sample("jobs.csv"));
  EXPECT_EQ(jobs.size(), 30u);
  EXPECT_EQ(node_fail_times(jobs).size(), 2u);
}

// ---- Filters --------------------------------------------------------------------------------------

TEST(TraceReaders, FiltersKeepTimesAndModels) {
  RequestTrace t;
  t.push(0, 10, 5, "ChatGPT", LogType::conversation);
  t.push(1, 11, 0, "GPT-4", LogType::api);
  t.push(2, 12, 7, "GPT-4", LogType::conversation);
  t.push(3, 13, 8, "ChatGPT", LogType::api);
  t.origin_unix_s = 100;
  const RequestTrace gpt4 = filter_model(t, "GPT-4");
  EXPECT_EQ(gpt4.time_s, (std::vector<double>{1, 2}));
  EXPECT_EQ(gpt4.models, t.models);
  EXPECT_EQ(gpt4.model, (std::vector<std::uint16_t>{1, 1}));
  EXPECT_EQ(gpt4.origin_unix_s, 100);
  EXPECT_EQ(filter_log_type(t, LogType::api).request_tokens, (std::vector<std::int32_t>{11, 13}));
  EXPECT_EQ(drop_failed(t).size(), 3u);
  const RequestTrace w = filter_window(t, 1, 3);
  EXPECT_EQ(w.time_s, (std::vector<double>{1, 2}));  // [t0, t1), not re-based
  EXPECT_TRUE(filter_window(t, 5, 9).empty());
  expect_error([&] { filter_model(t, "Claude"); }, {"'Claude'", "'ChatGPT'", "'GPT-4'"});
  expect_error([&] { filter_window(t, 3, 1); }, {"reversed"});
}

TEST(TraceReaders, FormatNamesAndDetection) {
  EXPECT_EQ(parse_request_format("azure"), RequestFormat::azure_csv);
  EXPECT_EQ(format_name(RequestFormat::burstgpt_csv), "burstgpt");
  expect_error([] { parse_request_format("parquet"); }, {"'parquet'", "burstgpt", "jsonl"});
  const std::string p = write_temp("what.csv", "a,b,c\n1,2,3\n");
  expect_error([&] { read_requests(p); }, {"what.csv:1:", "cannot tell", "name the format"});
  const std::string j = write_temp("objects.txt", "\n{\"timestamp\": 5, \"input_length\": 1, \"output_length\": 2}\n");
  EXPECT_EQ(detect_request_format(j), RequestFormat::jsonl);
  expect_error([] { read_requests(temp_path("does_not_exist.csv")); }, {"does_not_exist.csv", "cannot open"});
  expect_error([] { read_requests(write_temp("nothing.csv", "")); }, {"nothing.csv", "empty"});
}

// ---- BurstGPT -------------------------------------------------------------------------------------

TEST(TraceReaders, BurstGptAcceptsVariants) {
  // Columns in another order, an unknown column, CRLF, a byte-order mark, blank lines, ties, a final
  // line without a line end, quoted fields, fractional timestamps.
  const std::string p = write_temp(
      "variants.csv",
      "\xEF\xBB\xBFLog Type,Note,Timestamp,Model,Request tokens,Response tokens,Total tokens\r\n"
      "API log,x,5.5,\"GPT-4\",10,0,10\r\n\r\n"
      "Conversation log,y,5.5,ChatGPT,1,2,3\r\n"
      ",z,7,ChatGPT,0,4,4");
  const RequestTrace t = read_burstgpt_csv(p);
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t.time_s, (std::vector<double>{0, 0, 1.5}));
  EXPECT_EQ(t.models, (std::vector<std::string>{"GPT-4", "ChatGPT"}));
  EXPECT_EQ(t.log_type, (std::vector<LogType>{LogType::api, LogType::conversation, LogType::unknown}));
  EXPECT_EQ(t.response_tokens[0], 0);
  EXPECT_EQ(t.origin_unix_s, 0);
}

TEST(TraceReaders, BurstGptMalformed) {
  const auto burst = [](const std::string& name, const std::string& text) {
    const std::string p = write_temp(name, text);
    return [p] { read_burstgpt_csv(p); };
  };
  expect_error(burst("b_empty.csv", ""), {"b_empty.csv", "empty", "Timestamp,Model"});
  expect_error(burst("b_blank.csv", "\n  \n"), {"b_blank.csv", "empty"});
  expect_error(burst("b_header_only.csv", kBurstHeader), {"b_header_only.csv", "no data lines"});
  expect_error(burst("b_missing.csv", "Timestamp,Model,Request tokens\n1,a,2\n"),
               {"b_missing.csv:1:", "'Response tokens', 'Total tokens', 'Log Type'"});
  const std::string h = kBurstHeader;
  expect_error(burst("b_time.csv", h + "1,ChatGPT,1,1,2,API log\nsoon,ChatGPT,1,1,2,API log\n"),
               {"b_time.csv:3: column 1 (Timestamp): expected a time in seconds, got 'soon'"});
  expect_error(burst("b_tokens.csv", h + "1,ChatGPT,12x,1,13,API log\n"),
               {"b_tokens.csv:2: column 3 (Request tokens): expected a token count", "got '12x'"});
  expect_error(burst("b_fraction.csv", h + "1,ChatGPT,12.0,1,13,API log\n"),
               {"b_fraction.csv:2: column 3", "whole number"});
  expect_error(burst("b_negative.csv", h + "1,ChatGPT,5,-3,2,API log\n"),
               {"b_negative.csv:2: column 4 (Response tokens)", "got '-3'", "cannot be negative"});
  expect_error(burst("b_unsorted.csv",
                     h + "1,ChatGPT,1,1,2,API log\n9,ChatGPT,1,1,2,API log\n4,ChatGPT,1,1,2,API log\n"),
               {"b_unsorted.csv:4: column 1 (Timestamp): unsorted timestamps", "on line 3"});
  expect_error(burst("b_total.csv", h + "1,ChatGPT,10,20,31,API log\n"),
               {"b_total.csv:2: column 5 (Total tokens): expected Request tokens + Response tokens = 30, got '31'"});
  expect_error(burst("b_log.csv", h + "1,ChatGPT,1,1,2,Batch log\n"),
               {"b_log.csv:2: column 6 (Log Type)", "'Conversation log' or 'API log'", "got 'Batch log'"});
  expect_error(burst("b_cut_fields.csv", h + "1,ChatGPT,1,1,2,API log\n2,ChatGPT,10"),
               {"b_cut_fields.csv:3:", "expected 6 comma-separated fields", "got 3", "cut short"});
  expect_error(burst("b_cut_field.csv", h + "1,ChatGPT,1,1,2,API log\n2,ChatGPT,10,20,30,Conversation l"),
               {"b_cut_field.csv:3: column 6 (Log Type)", "got 'Conversation l'", "cut short"});
  expect_error(burst("b_extra.csv", h + "1,ChatGPT,1,1,2,API log,surplus\n"),
               {"b_extra.csv:2:", "expected 6 comma-separated fields", "got 7"});
  expect_error(burst("b_inf.csv", h + "inf,ChatGPT,1,1,2,API log\n"), {"b_inf.csv:2: column 1", "got 'inf'"});
  const std::string v2 =
      "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type,Session ID,Elapsed time\n";
  expect_error(burst("b_session.csv", v2 + "1,ChatGPT,1,1,2,API log,abc,0.5\n"),
               {"b_session.csv:2: column 7 (Session ID): expected an integer session id"});
  expect_error(burst("b_elapsed.csv", v2 + "1,ChatGPT,1,1,2,API log,4,-1\n"),
               {"b_elapsed.csv:2: column 8 (Elapsed time)", ">= 0"});
  // A complete final line without a line end is fine; an empty session id reads as -1.
  const std::string ok = write_temp("b_ok.csv", v2 + "1,ChatGPT,1,1,2,API log,,\n3,GPT-4,2,0,2,API log,77,1.25");
  const RequestTrace t = read_burstgpt_csv(ok);
  EXPECT_EQ(t.session, (std::vector<std::int64_t>{-1, 77}));
  EXPECT_EQ(t.time_s.back(), 2.0);
}

// ---- Azure ----------------------------------------------------------------------------------------

TEST(TraceReaders, AzureMalformed) {
  const auto azure = [](const std::string& name, const std::string& text) {
    const std::string p = write_temp(name, text);
    return [p] { read_azure_csv(p); };
  };
  const std::string h = "TIMESTAMP,ContextTokens,GeneratedTokens\n";
  expect_error(azure("a_empty.csv", ""), {"a_empty.csv", "empty", "TIMESTAMP,ContextTokens,GeneratedTokens"});
  expect_error(azure("a_missing.csv", "TIMESTAMP,Tokens\n"),
               {"a_missing.csv:1:", "'ContextTokens', 'GeneratedTokens'"});
  expect_error(azure("a_date.csv", h + "2023-13-01 00:00:00.0,1,1\n"),
               {"a_date.csv:2: column 1 (TIMESTAMP): expected a UTC date and time", "got '2023-13-01 00:00:00.0'"});
  expect_error(azure("a_feb.csv", h + "2023-02-29 00:00:00,1,1\n"), {"a_feb.csv:2: column 1"});
  expect_error(azure("a_digits.csv", h + "2023-11-16 18:15:46.6805900123,1,1\n"), {"a_digits.csv:2: column 1"});
  expect_error(azure("a_unsorted.csv", h + "2023-11-16 18:15:46.5,1,1\n2023-11-16 18:15:46.4,1,1\n"),
               {"a_unsorted.csv:3: column 1 (TIMESTAMP): unsorted timestamps", "line 2"});
  expect_error(azure("a_tokens.csv", h + "2023-11-16 18:15:46.5,many,1\n"),
               {"a_tokens.csv:2: column 2 (ContextTokens): expected a token count", "got 'many'"});
  expect_error(azure("a_negative.csv", h + "2023-11-16 18:15:46.5,1,-1\n"),
               {"a_negative.csv:2: column 3 (GeneratedTokens)", "cannot be negative"});
  expect_error(azure("a_cut.csv", h + "2023-11-16 18:15:46.5,1,1\n2023-11-16 18:1"),
               {"a_cut.csv:3:", "expected 3 comma-separated fields", "cut short"});
  // 'T', 'Z', no fraction, and reordered columns are accepted.
  const RequestTrace t = read_azure_csv(write_temp(
      "a_ok.csv", "GeneratedTokens,TIMESTAMP,ContextTokens\n4,2023-11-16T18:15:46Z,3\n5,2023-11-16 18:15:47.25,6"));
  EXPECT_EQ(t.time_s, (std::vector<double>{0, 1.25}));
  EXPECT_EQ(t.request_tokens, (std::vector<std::int32_t>{3, 6}));
  EXPECT_EQ(t.origin_unix_s, 1700158546.0);
}

TEST(TraceReaders, RealAzureTrace) {
  const std::string p = shared_trace("azure_llm_conv_2023.csv");
  if (!fs::exists(p)) GTEST_SKIP() << p << " not present";
  const RequestTrace t = read_requests(p);
  ASSERT_EQ(t.size(), 19366u);
  EXPECT_EQ(t.time_s.front(), 0.0);
  EXPECT_NEAR(t.origin_unix_s, 1700158546.68059, 1e-6);  // 2023-11-16 18:15:46.6805900 UTC
  EXPECT_NEAR(t.time_s[1], 4.314579, 1e-9);
  EXPECT_NEAR(t.time_s.back(), 3501.721937, 1e-9);  // 19:14:08.4025270
  EXPECT_EQ(t.request_tokens.front(), 374);
  EXPECT_EQ(t.response_tokens.front(), 44);
  // Written again, it reads back the same, and the text is the source's (line ends aside).
  const std::string copy = temp_path("azure_copy.csv");
  write_azure_csv(t, copy);
  const RequestTrace r = read_azure_csv(copy);
  expect_same_requests(t, r, 0);
  EXPECT_EQ(r.origin_unix_s, t.origin_unix_s);
  std::string source = slurp(p);
  std::erase(source, '\r');
  if (source.back() != '\n') source += '\n';
  EXPECT_TRUE(slurp(copy) == source) << "the rewritten Azure trace differs from the source";
}

TEST(TraceReaders, RealLinkTables) {
  const std::string tp = shared_trace("inter_region_throughput.csv"), rtt = shared_trace("inter_region_rtt.csv");
  if (!fs::exists(tp) || !fs::exists(rtt)) GTEST_SKIP() << "../shared/traces link tables not present";
  const LinkTable t = read_throughput_table(tp);
  const LinkTable r = read_rtt_table(rtt);
  EXPECT_EQ(t.rows.size(), 7053u);
  EXPECT_EQ(r.rows.size(), 8010u);
  EXPECT_GT(t.regions().size(), 50u);
  EXPECT_GT(t.lookup(t.rows[0].src, t.rows[0].dst), 0);
  EXPECT_GT(r.lookup("aws:eu-north-1", "azure:eastus"), 100);
}

// ---- JSON lines -----------------------------------------------------------------------------------

TEST(TraceReaders, JsonlMalformed) {
  const auto jsonl = [](const std::string& name, const std::string& text) {
    const std::string p = write_temp(name, text);
    return [p] { read_jsonl(p); };
  };
  const std::string ok = "{\"timestamp\": 10, \"input_length\": 1, \"output_length\": 2}\n";
  expect_error(jsonl("j_empty.jsonl", ""), {"j_empty.jsonl", "no requests"});
  expect_error(jsonl("j_syntax.jsonl", ok + "{\"timestamp\": 11, \"input_length\" 1}\n"),
               {"j_syntax.jsonl:2: column", "expected one JSON object"});
  expect_error(jsonl("j_array.jsonl", ok + "[1, 2, 3]\n"), {"j_array.jsonl:2:", "expected one JSON object"});
  expect_error(jsonl("j_missing.jsonl", ok + "{\"timestamp\": 11, \"input_length\": 1}\n"),
               {"j_missing.jsonl:2: key \"output_length\": missing"});
  expect_error(jsonl("j_nots.jsonl", "{\"input_length\": 1, \"output_length\": 2}\n"),
               {"j_nots.jsonl:1: key \"timestamp\": missing"});
  expect_error(jsonl("j_text.jsonl", "{\"timestamp\": \"10\", \"input_length\": 1, \"output_length\": 2}\n"),
               {"j_text.jsonl:1: key \"timestamp\": expected a time in milliseconds, got '\"10\"'"});
  expect_error(jsonl("j_negative.jsonl", "{\"timestamp\": 10, \"input_length\": -4, \"output_length\": 2}\n"),
               {"j_negative.jsonl:1: key \"input_length\": expected a token count", "got '-4'"});
  expect_error(jsonl("j_float.jsonl", "{\"timestamp\": 10, \"input_length\": 4.5, \"output_length\": 2}\n"),
               {"j_float.jsonl:1: key \"input_length\"", "got '4.5'"});
  expect_error(jsonl("j_unsorted.jsonl", ok + "{\"timestamp\": 9, \"input_length\": 1, \"output_length\": 2}\n"),
               {"j_unsorted.jsonl:2: key \"timestamp\": unsorted timestamps", "line 1"});
  expect_error(jsonl("j_model.jsonl", "{\"timestamp\": 10, \"input_length\": 1, \"output_length\": 2, \"model\": 7}\n"),
               {"j_model.jsonl:1: key \"model\": expected a string"});
  expect_error(jsonl("j_overflow.jsonl", "{\"timestamp\": 2e853, \"input_length\": 1, \"output_length\": 2}\n"),
               {"j_overflow.jsonl:1: expected one JSON object", "number overflow parsing '2e853'"});
  expect_error(jsonl("j_cut.jsonl", ok + "{\"timestamp\": 11, \"input_le"), {"j_cut.jsonl:2:", "cut short"});
  // Extra keys are ignored; a complete last line without a line end is fine.
  const RequestTrace t = read_jsonl(
      write_temp("j_ok.jsonl",
                 ok + "{\"hash_ids\": [1, 2], \"timestamp\": 1010.5, \"input_length\": 3, \"output_length\": 0}"));
  EXPECT_EQ(t.time_s, (std::vector<double>{0, 1.0005}));
  EXPECT_EQ(t.origin_unix_s, 0.01);
}

// Lines that are valid but unusual: the fast (SAX) path and the checked (document) path must read
// them alike. Nested keys named like ours are not ours; a repeated key keeps its last value; escapes
// in a model name are decoded; any number form is a timestamp.
TEST(TraceReaders, JsonlUnusualButValidLines) {
  const RequestTrace t = read_jsonl(write_temp(
      "j_unusual.jsonl",
      "{\"output_length\": 2, \"input_length\": 1, \"timestamp\": 1e3}\n"
      "  {\"meta\": {\"timestamp\": -5, \"input_length\": \"x\", \"model\": [1]}, \"timestamp\": 1000.25,"
      " \"input_length\": 7, \"output_length\": 8}  \n"
      "{\"timestamp\": 2000, \"input_length\": 9, \"input_length\": 10, \"output_length\": 11, \"model\": \"GPT\\u002d4\"}\n"
      "\n"
      "{\"timestamp\":3000,\"input_length\":2147483647,\"output_length\":0,\"model\":\"GPT-4\",\"x\":null}\n"));
  ASSERT_EQ(t.size(), 4u);
  EXPECT_EQ(t.time_s, (std::vector<double>{0, 0.00025, 1, 2}));
  EXPECT_EQ(t.request_tokens, (std::vector<std::int32_t>{1, 7, 10, 2147483647}));
  EXPECT_EQ(t.response_tokens, (std::vector<std::int32_t>{2, 8, 11, 0}));
  EXPECT_EQ(t.models, (std::vector<std::string>{"", "GPT-4"}));
  EXPECT_EQ(t.model, (std::vector<std::uint16_t>{0, 0, 1, 1}));
  // Values the fast path hands to the checked one, which names them.
  const auto bad = [](const std::string& name, const std::string& line) {
    const std::string p = write_temp(name, line + "\n");
    return [p] { read_jsonl(p); };
  };
  expect_error(bad("j_big.jsonl", "{\"timestamp\": 1, \"input_length\": 2147483648, \"output_length\": 1}"),
               {"key \"input_length\": expected a token count", "2147483648"});
  expect_error(bad("j_null_model.jsonl", "{\"timestamp\": 1, \"input_length\": 2, \"output_length\": 1, \"model\": null}"),
               {"key \"model\": expected a string"});
  expect_error(bad("j_obj_ts.jsonl", "{\"timestamp\": {\"ms\": 1}, \"input_length\": 2, \"output_length\": 1}"),
               {"key \"timestamp\": expected a time in milliseconds"});
  expect_error(bad("j_scalar.jsonl", "17"), {"expected one JSON object"});
  expect_error(bad("j_trailing.jsonl", "{\"timestamp\": 1, \"input_length\": 2, \"output_length\": 1} x"),
               {"column", "expected one JSON object"});
}

// ---- Link tables, bandwidth, failures, jobs ---------------------------------------------------------

TEST(TraceReaders, LinkAndBandwidthMalformed) {
  const auto links = [](const std::string& name, const std::string& text) {
    const std::string p = write_temp(name, text);
    return [p] { read_throughput_table(p); };
  };
  const std::string h = "src_region,dst_region,throughput_gbps\n";
  expect_error(links("l_empty.csv", ""), {"l_empty.csv", "empty", "src_region,dst_region,throughput_gbps"});
  expect_error(links("l_missing.csv", "src_region,dst_region,rtt_ms_avg\n"), {"l_missing.csv:1:", "'throughput_gbps'"});
  expect_error(links("l_value.csv", h + "a:x,b:y,fast\n"),
               {"l_value.csv:2: column 3 (throughput_gbps): expected a positive number, got 'fast'"});
  expect_error(links("l_zero.csv", h + "a:x,b:y,0\n"), {"l_zero.csv:2: column 3", "got '0'"});
  expect_error(links("l_region.csv", h + "a:x,,1\n"), {"l_region.csv:2: column 2 (dst_region)"});
  expect_error(links("l_cut.csv", h + "a:x,b:y,1\na:x,b:"), {"l_cut.csv:3:", "cut short"});

  const auto bw = [](const std::string& name, const std::string& text) {
    const std::string p = write_temp(name, text);
    return [p] { read_bandwidth_csv(p); };
  };
  const std::string hb = "time_s,bandwidth_bps\n";
  expect_error(bw("w_empty.csv", ""), {"w_empty.csv", "empty", "time_s,bandwidth_bps"});
  expect_error(bw("w_missing.csv", "time_s,bw\n0,1\n"), {"w_missing.csv:1:", "'bandwidth_bps'"});
  expect_error(bw("w_negative.csv", hb + "0,1e9\n1,-5\n"), {"w_negative.csv:3: column 2 (bandwidth_bps)", ">= 0"});
  expect_error(bw("w_time.csv", hb + "-1,1e9\n"), {"w_time.csv:2: column 1 (time_s)", ">= 0"});
  expect_error(bw("w_unsorted.csv", hb + "0,1e9\n2,1e9\n2,5e8\n"),
               {"w_unsorted.csv:4: column 1 (time_s): expected a time after 2 (line 3)"});
  expect_error(bw("w_text.csv", hb + "0,lots\n"), {"w_text.csv:2: column 2", "got 'lots'"});
}

TEST(TraceReaders, FailureLogsAndJobTables) {
  const FailureLog log = read_failure_csv(
      write_temp("f_ok.csv", "time_s,node\n50,n10\n3,n2\n7,n10\n1,n2\n2,n01\n"));
  EXPECT_EQ(log.node, (std::vector<std::string>{"n01", "n2", "n10"}));
  EXPECT_EQ(log.time_s[1], (std::vector<double>{1, 3}));
  EXPECT_EQ(log.time_s[2], (std::vector<double>{7, 50}));
  EXPECT_EQ(log.all_times(), (std::vector<double>{1, 2, 3, 7, 50}));
  const auto fail = [](const std::string& name, const std::string& text) {
    const std::string p = write_temp(name, text);
    return [p] { read_failure_csv(p); };
  };
  expect_error(fail("f_empty.csv", ""), {"f_empty.csv", "empty", "node,time_s"});
  expect_error(fail("f_missing.csv", "host,time_s\nn1,2\n"), {"f_missing.csv:1:", "'node'"});
  expect_error(fail("f_node.csv", "node,time_s\n,2\n"), {"f_node.csv:2: column 1 (node): expected a node name"});
  expect_error(fail("f_time.csv", "node,time_s\nn1,-2\n"), {"f_time.csv:2: column 2 (time_s)", ">= 0"});

  const auto jobs = [](const std::string& name, const std::string& text) {
    const std::string p = write_temp(name, text);
    return [p] { read_job_table(p); };
  };
  const std::string h = "job_id,nodes,start_s,end_s,state\n";
  expect_error(jobs("g_missing.csv", "job_id,nodes,start_s,state\n"), {"g_missing.csv:1:", "'end_s'"});
  expect_error(jobs("g_state.csv", h + "1,2,0,5,CRASHED\n"),
               {"g_state.csv:2: column 5 (state): expected one of COMPLETED", "NODE_FAIL", "got 'CRASHED'"});
  expect_error(jobs("g_end.csv", h + "1,2,10,5,FAILED\n"), {"g_end.csv:2: column 4 (end_s)", ">= start_s"});
  expect_error(jobs("g_nodes.csv", h + "1,0,0,5,FAILED\n"), {"g_nodes.csv:2: column 2 (nodes)", "got '0'"});
  expect_error(jobs("g_list.csv", "job_id,nodes,start_s,end_s,state,node_list\n1,2,0,5,NODE_FAIL,a;b;c\n"),
               {"g_list.csv:2: column 6 (node_list): expected 2 node names", "got 3"});
  const std::vector<JobRecord> j = read_job_table(
      write_temp("g_ok.csv", h + "7,1,0,9,CANCELLED by 1001\n8,3,1,4,NODE_FAIL\n9,3,2,3,NODE_FAIL\n"));
  EXPECT_EQ(j[0].state, JobState::cancelled);
  EXPECT_EQ(node_fail_times(j), (std::vector<double>{3, 4}));
}

// ---- Fuzzing ----------------------------------------------------------------------------------------

// Seeded mutations of a valid file (bytes replaced, inserted or deleted, lines duplicated or swapped,
// the file cut short): every reader must succeed or throw InputError, nothing else.
std::string mutate(std::string text, std::mt19937_64& rng) {
  static const std::string kBytes = "0123456789,-.e+ \n\r\"{}[]:xTZ\t\x01\xff";
  const int edits = 1 + static_cast<int>(rng() % 4);
  for (int e = 0; e < edits && !text.empty(); ++e) {
    const std::size_t at = rng() % text.size();
    switch (rng() % 6) {
      case 0: text[at] = kBytes[rng() % kBytes.size()]; break;
      case 1: text.insert(at, 1, kBytes[rng() % kBytes.size()]); break;
      case 2: text.erase(at, 1 + rng() % 8); break;
      case 3: text.resize(at); break;
      case 4: {  // duplicate the line holding `at`
        const std::size_t b = text.rfind('\n', at), e2 = text.find('\n', at);
        const std::size_t begin = b == std::string::npos ? 0 : b + 1;
        const std::size_t end = e2 == std::string::npos ? text.size() : e2;
        text.insert(begin, text.substr(begin, end - begin) + "\n");
        break;
      }
      default: {  // swap two bytes far apart (often reorders lines' values)
        const std::size_t other = rng() % text.size();
        std::swap(text[at], text[other]);
      }
    }
  }
  return text;
}

void fuzz(const std::string& sample_name, const std::function<void(const std::string&)>& read, std::uint64_t seed) {
  const std::string original = slurp(sample(sample_name));
  ASSERT_FALSE(original.empty()) << sample_name;
  std::mt19937_64 rng(seed);
  int accepted = 0, refused = 0;
  for (int i = 0; i < 1000; ++i) {
    const std::string p = write_temp("fuzz_" + sample_name, mutate(original, rng));
    try {
      read(p);
      ++accepted;
    } catch (const InputError& e) {
      ++refused;
      EXPECT_NE(std::string(e.what()).find("fuzz_" + sample_name), std::string::npos) << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << sample_name << " mutation " << i << ": not an InputError: " << e.what();
    }
  }
  EXPECT_GT(refused, 0) << sample_name;
  std::printf("[ fuzz     ] %s: %d accepted, %d refused\n", sample_name.c_str(), accepted, refused);
}

TEST(TraceReaders, FuzzBurstGpt) {
  fuzz("burstgpt_v1.csv", [](const std::string& p) { read_burstgpt_csv(p); }, 11);
  fuzz("burstgpt_v2.csv", [](const std::string& p) { read_requests(p, RequestFormat::burstgpt_csv); }, 12);
}
TEST(TraceReaders, FuzzAzure) {
  fuzz("azure_conv.csv", [](const std::string& p) { read_azure_csv(p); }, 13);
}
TEST(TraceReaders, FuzzJsonl) {
  fuzz("requests.jsonl", [](const std::string& p) { read_jsonl(p); }, 14);
}
TEST(TraceReaders, FuzzLinkTables) {
  fuzz("inter_region_throughput.csv", [](const std::string& p) { read_throughput_table(p); }, 15);
  fuzz("inter_region_rtt.csv", [](const std::string& p) { read_rtt_table(p); }, 16);
}
TEST(TraceReaders, FuzzBandwidth) {
  fuzz("link_bandwidth.csv", [](const std::string& p) { read_bandwidth_csv(p); }, 17);
}
TEST(TraceReaders, FuzzFailures) {
  fuzz("node_failures.csv", [](const std::string& p) { read_failure_csv(p); }, 18);
  fuzz("jobs.csv", [](const std::string& p) { read_job_table(p); }, 19);
}
TEST(TraceReaders, FuzzDetection) {
  fuzz("burstgpt_v1.csv", [](const std::string& p) { read_requests(p); }, 20);
  fuzz("azure_conv.csv", [](const std::string& p) { read_requests(p); }, 21);
}

// ---- Speed (a print, not an assertion) ----------------------------------------------------------------

TEST(TraceReaders, SpeedOf200kRowBurstGpt) {
  const RequestTrace t = synthetic(200000, 4);
  const std::string p = temp_path("speed.csv");
  const auto t0 = std::chrono::steady_clock::now();
  write_burstgpt_csv(t, p);
  const auto t1 = std::chrono::steady_clock::now();
  const RequestTrace r = read_burstgpt_csv(p);
  const auto t2 = std::chrono::steady_clock::now();
  ASSERT_EQ(r.size(), t.size());
  const double write_s = std::chrono::duration<double>(t1 - t0).count();
  const double read_s = std::chrono::duration<double>(t2 - t1).count();
  const double mb = static_cast<double>(fs::file_size(p)) / 1e6;
  std::printf("[ speed    ] BurstGPT 200k rows (%.1f MB): read %.1f ms (%.2f M rows/s, %.0f MB/s), write %.1f ms\n",
              mb, read_s * 1e3, 0.2 / read_s, mb / read_s, write_s * 1e3);
}

}  // namespace
}  // namespace meridian::trace
