// RequestTrace: a stream of inference requests held as columns (struct of arrays), as the readers
// produce it and the fitters, generators, writers and validators consume it. Times are seconds from
// the trace's first request (readers subtract the first timestamp; the original epoch, if any, is
// kept in `origin_unix_s`). Rows are sorted by time.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace meridian::trace {

// What the request was (BurstGPT's "Log Type"; traces without one use `unknown`).
enum class LogType : std::uint8_t { unknown = 0, conversation = 1, api = 2 };

struct RequestTrace {
  std::vector<double> time_s;                 // arrival, seconds since the first request, non-decreasing
  std::vector<std::int32_t> request_tokens;   // prompt length (>= 0)
  std::vector<std::int32_t> response_tokens;  // generated length (>= 0; 0 = a failed request in BurstGPT)
  std::vector<std::uint16_t> model;           // index into `models`
  std::vector<LogType> log_type;
  std::vector<std::int64_t> session;          // BurstGPT v2 session id; empty when the format has none
  std::vector<std::string> models;            // model names in order of first appearance ("" if none)
  double origin_unix_s = 0.0;                 // the first request's absolute time when the source had one

  std::size_t size() const { return time_s.size(); }
  bool empty() const { return time_s.empty(); }
  // Appends one request; `model_name` is interned into `models`.
  void push(double t, std::int32_t request, std::int32_t response, const std::string& model_name = "",
            LogType type = LogType::unknown);
  // Index of a model name, or -1.
  int model_index(const std::string& name) const;
};

}  // namespace meridian::trace
