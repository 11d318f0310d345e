// Trace readers: request streams (BurstGPT CSV, Azure LLM inference CSV, JSON lines), inter-region
// link tables, link-bandwidth series and failure logs, each checked line by line (one InputError per
// defect: "FILE:LINE: column N (NAME): expected ..., got '...'" and the fix), plus row filters on a
// RequestTrace. Times are seconds; every format is documented in traces/FORMATS.md.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "trace/request_trace.hpp"

namespace meridian::trace {

// Progress of a long read or generation: called now and then on the calling thread (after every
// block read, every 65,536 requests generated) with the fraction done, in [0, 1].
using ProgressFn = std::function<void(double fraction)>;

// ---- Request traces -------------------------------------------------------------------------------

enum class RequestFormat : std::uint8_t { automatic = 0, burstgpt_csv, azure_csv, jsonl };

// "burstgpt", "azure", "jsonl", "auto" (the names --format flags take).
std::string_view format_name(RequestFormat format);
// The inverse of format_name; InputError listing the accepted names for anything else.
RequestFormat parse_request_format(std::string_view name);

// BurstGPT CSV, v1 (Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type) or v2
// (adds Session ID,Elapsed time). Columns are found by name in any order; unknown extra columns are
// ignored. Timestamps: seconds, non-decreasing; tokens: integers >= 0 with Total = Request +
// Response; Log Type "Conversation log", "API log" or empty (unknown). v2 fills `session`.
RequestTrace read_burstgpt_csv(const std::string& path, const ProgressFn& progress = {});

// Azure LLM inference CSV (TIMESTAMP,ContextTokens,GeneratedTokens), TIMESTAMP a UTC wall clock
// "YYYY-MM-DD HH:MM:SS[.fraction]" with up to 9 fraction digits. time_s counts from the first row,
// whose Unix time goes to origin_unix_s. Rows must be in time order.
RequestTrace read_azure_csv(const std::string& path, const ProgressFn& progress = {});

// JSON lines: one object per line with "timestamp" (milliseconds, non-decreasing), "input_length"
// and "output_length" (integers >= 0), optionally "model" (string); other keys are ignored.
// origin_unix_s is the first timestamp in seconds (a Unix time only when the file's timestamps are).
RequestTrace read_jsonl(const std::string& path, const ProgressFn& progress = {});

// The format of a request file: .jsonl/.ndjson/.json -> jsonl; otherwise from the first line (a JSON
// object, or the BurstGPT or Azure header). InputError naming what was found and the accepted forms.
RequestFormat detect_request_format(const std::string& path);
// Reads with the reader of `format` (detect_request_format when automatic).
RequestTrace read_requests(const std::string& path, RequestFormat format = RequestFormat::automatic,
                           const ProgressFn& progress = {});

// BurstGPT's name of a log type ("Conversation log", "API log"; "" for unknown).
std::string_view log_type_name(LogType type);

// ---- Filters (each returns a new trace; times stay relative to the original first request, the
// model list and origin_unix_s are kept, so indices and times compare across filtered traces) ------

// Rows of the model called `model_name`; InputError listing the trace's models if it has none such.
RequestTrace filter_model(const RequestTrace& trace, std::string_view model_name);
RequestTrace filter_log_type(const RequestTrace& trace, LogType type);
// Rows with response_tokens > 0 (BurstGPT marks a failed request with 0 response tokens).
RequestTrace drop_failed(const RequestTrace& trace);
// Rows with t0_s <= time_s < t1_s. InputError when t1_s < t0_s or either is NaN.
RequestTrace filter_window(const RequestTrace& trace, double t0_s, double t1_s);

// ---- Inter-region link tables ---------------------------------------------------------------------

struct LinkRow {
  std::string src;  // "aws:us-east-1"
  std::string dst;
  double value = 0;  // in the unit of the table's value column (Gbit/s, ms)
  std::int64_t line = 0;  // where it was read (for messages)
};

// One measurement per row, in file order; a pair measured more than once has several rows.
struct LinkTable {
  std::string path;          // where it was read from (for messages)
  std::string value_column;  // "throughput_gbps", "rtt_ms_avg"
  std::vector<LinkRow> rows;

  // The mean of every row from src to dst, or nullopt.
  std::optional<double> find(std::string_view src, std::string_view dst) const;
  // find(), or InputError naming the pair, the file and a few known regions.
  double lookup(std::string_view src, std::string_view dst) const;
  // Every region named as source or destination, sorted.
  std::vector<std::string> regions() const;
};

// CSV with a header naming src_region, dst_region and `value_column` (other columns ignored); values
// finite and > 0, region names non-empty.
LinkTable read_link_table(const std::string& path, std::string_view value_column);
inline LinkTable read_throughput_table(const std::string& path) { return read_link_table(path, "throughput_gbps"); }
inline LinkTable read_rtt_table(const std::string& path) { return read_link_table(path, "rtt_ms_avg"); }

// ---- Link bandwidth over time ---------------------------------------------------------------------

// Piecewise-constant bandwidth: bandwidth_bps[i] from time_s[i] on. Times >= 0 and strictly
// increasing, bandwidths >= 0 (0 = the link is down).
struct BandwidthTrace {
  std::vector<double> time_s;
  std::vector<double> bandwidth_bps;
  std::size_t size() const { return time_s.size(); }
};

// CSV with the header time_s,bandwidth_bps (by name; more columns ignored).
BandwidthTrace read_bandwidth_csv(const std::string& path);

// ---- Failure logs ---------------------------------------------------------------------------------

// Failure times per node: node[i] failed at every time in time_s[i] (sorted). Nodes in natural order
// ("n2" before "n10").
struct FailureLog {
  std::vector<std::string> node;
  std::vector<std::vector<double>> time_s;

  std::size_t failures() const;        // all failures of all nodes
  std::vector<double> all_times() const;  // every failure time, sorted
};

// CSV with the header node,time_s (rows in any order; a node may fail several times; times >= 0).
FailureLog read_failure_csv(const std::string& path);

// How a job ended (Slurm's sacct states).
enum class JobState : std::uint8_t { completed, failed, node_fail, cancelled, timeout, out_of_memory, preempted };
std::string_view job_state_name(JobState state);  // "COMPLETED", "NODE_FAIL", ...

struct JobRecord {
  std::string job_id;
  int nodes = 0;                      // node count (>= 1)
  std::vector<std::string> node_list;  // node names when the table has them (else empty)
  double start_s = 0;
  double end_s = 0;                   // >= start_s
  JobState state = JobState::completed;
};

// CSV with the header job_id,nodes,start_s,end_s,state and optionally node_list (names separated by
// spaces or ';', as many as `nodes`). States: COMPLETED, FAILED, NODE_FAIL, CANCELLED (also
// "CANCELLED by UID"), TIMEOUT, OUT_OF_MEMORY, PREEMPTED. Rows in file order.
std::vector<JobRecord> read_job_table(const std::string& path);

// The end times of the NODE_FAIL jobs, sorted (the moments a node failure ended a job).
std::vector<double> node_fail_times(const std::vector<JobRecord>& jobs);

}  // namespace meridian::trace
