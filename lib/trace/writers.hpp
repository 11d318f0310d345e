// Trace writers: the formats of readers.hpp written back, with numbers printed so that reading the
// file again gives the same values (shortest round-trip decimal; the Azure clock to 100 ns). Every
// writer throws InputError when the file cannot be written or a name would break the format.
#pragma once

#include <string>
#include <vector>

#include "trace/readers.hpp"
#include "trace/request_trace.hpp"

namespace meridian::trace {

// BurstGPT v1: Timestamp (= time_s),Model,Request tokens,Response tokens,Total tokens (the sum),Log
// Type ("Conversation log", "API log", empty for unknown). Sessions and origin_unix_s are not kept.
void write_burstgpt_csv(const RequestTrace& trace, const std::string& path);

// Azure: TIMESTAMP,ContextTokens,GeneratedTokens with TIMESTAMP = origin_unix_s + time_s as a UTC
// wall clock with 7 fraction digits ("2023-11-16 18:15:46.6805900"). Model and log type are not kept.
void write_azure_csv(const RequestTrace& trace, const std::string& path);

// JSON lines: {"timestamp": ms, "input_length": n, "output_length": m}, timestamp = (origin_unix_s +
// time_s) * 1000, and "model" when any model has a name.
void write_jsonl(const RequestTrace& trace, const std::string& path);

// With the writer of `format`; automatic picks by extension (.jsonl/.ndjson/.json -> jsonl, anything
// else -> BurstGPT CSV).
void write_requests(const RequestTrace& trace, const std::string& path,
                    RequestFormat format = RequestFormat::automatic);

// src_region,dst_region,<value_column>, one line per row.
void write_link_table(const LinkTable& table, const std::string& path);
// time_s,bandwidth_bps.
void write_bandwidth_csv(const BandwidthTrace& trace, const std::string& path);
// node,time_s, grouped per node in the log's order.
void write_failure_csv(const FailureLog& log, const std::string& path);
// job_id,nodes,start_s,end_s,state,node_list (names separated by spaces).
void write_job_table(const std::vector<JobRecord>& jobs, const std::string& path);

}  // namespace meridian::trace
