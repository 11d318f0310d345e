// Trace writers: rows are formatted with std::to_chars into one buffer that goes to the file in
// large blocks; names are checked so that no writer produces a file its reader refuses.
#include "trace/writers.hpp"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string_view>

#include "kernels/common/error.hpp"

namespace meridian::trace {
namespace {

constexpr std::size_t kFlushBytes = std::size_t{1} << 20;

// A file being written: text is gathered in a buffer and written in blocks; close() reports errors.
class TextOut {
 public:
  explicit TextOut(const std::string& path) : path_(path) {
    errno = 0;
    file_ = std::fopen(path.c_str(), "wb");
    if (file_ == nullptr) {
      const int err = errno;
      throw InputError(cat(path, ": cannot create the file (", err != 0 ? std::strerror(err) : "unknown error",
                           "); check that the folder exists and is writable"));
    }
    buf_.reserve(kFlushBytes + 4096);
  }
  ~TextOut() {
    if (file_ != nullptr) std::fclose(file_);
  }
  TextOut(const TextOut&) = delete;
  TextOut& operator=(const TextOut&) = delete;

  TextOut& operator<<(std::string_view s) {
    buf_.append(s);
    return *this;
  }
  TextOut& operator<<(char c) {
    buf_.push_back(c);
    return *this;
  }
  // Shortest decimal that reads back as the same double.
  TextOut& operator<<(double v) {
    char tmp[32];
    const auto r = std::to_chars(tmp, tmp + sizeof tmp, v);
    buf_.append(tmp, r.ptr);
    return *this;
  }
  TextOut& operator<<(std::int64_t v) {
    char tmp[24];
    const auto r = std::to_chars(tmp, tmp + sizeof tmp, v);
    buf_.append(tmp, r.ptr);
    return *this;
  }
  TextOut& operator<<(int v) { return *this << std::int64_t{v}; }
  // Call after each line.
  void line_done() {
    buf_.push_back('\n');
    if (buf_.size() >= kFlushBytes) flush();
  }
  void close() {
    flush();
    const int rc = std::fclose(file_);
    file_ = nullptr;
    if (rc != 0) throw InputError(cat(path_, ": writing failed on close (", std::strerror(errno), ")"));
  }

 private:
  void flush() {
    if (buf_.empty()) return;
    if (std::fwrite(buf_.data(), 1, buf_.size(), file_) != buf_.size())
      throw InputError(cat(path_, ": writing failed (", std::strerror(errno), "); is the disk full?"));
    buf_.clear();
  }
  std::string path_;
  std::FILE* file_ = nullptr;
  std::string buf_;
};

void check_columns(const RequestTrace& t, const std::string& path) {
  const std::size_t n = t.size();
  MERIDIAN_CHECK(t.request_tokens.size() == n && t.response_tokens.size() == n && t.model.size() == n &&
                     t.log_type.size() == n,
                 "RequestTrace columns of different lengths (", n, " times) written to ", path);
  MERIDIAN_INPUT_CHECK(n > 0, path, ": the trace is empty; a trace file needs at least one request (did a filter "
                       "remove every row?)");
  for (std::size_t i = 0; i < n; ++i) {
    MERIDIAN_CHECK(t.model[i] < t.models.size(), "RequestTrace row ", i, " names model ", t.model[i], " of ",
                   t.models.size());
    MERIDIAN_INPUT_CHECK(std::isfinite(t.time_s[i]) && (i == 0 || t.time_s[i] >= t.time_s[i - 1]), path,
                         ": request ", i, " has time ", t.time_s[i],
                         "; times must be finite and non-decreasing (sort the trace first)");
    MERIDIAN_INPUT_CHECK(t.request_tokens[i] >= 0 && t.response_tokens[i] >= 0, path, ": request ", i,
                         " has a negative token count");
  }
}

// CSV fields cannot hold separators in our formats (no quoting).
void check_name(std::string_view name, std::string_view what, const std::string& path) {
  const bool bad = name.find_first_of(",\"\n\r") != std::string_view::npos ||
                   (!name.empty() && (name.front() == ' ' || name.back() == ' ' || name.front() == '\t' ||
                                      name.back() == '\t'));
  MERIDIAN_INPUT_CHECK(!bad, path, ": the ", what, " '", name,
                       "' holds a comma, quote, line end or surrounding blanks, which this CSV format cannot hold; "
                       "rename it");
}

// Proleptic Gregorian date of a day count from 1970-01-01.
void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0);
}

void put_digits(std::string& s, std::int64_t v, int width) {
  char tmp[24];
  for (int i = width - 1; i >= 0; --i) {
    tmp[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  s.append(tmp, static_cast<std::size_t>(width));
}

// 100-ns ticks since 1970 -> "YYYY-MM-DD HH:MM:SS.fffffff".
std::string wall_clock(std::int64_t ticks) {
  constexpr std::int64_t kTicksPerDay = 864000000000;
  std::int64_t days = ticks / kTicksPerDay, rest = ticks % kTicksPerDay;
  if (rest < 0) {
    rest += kTicksPerDay;
    --days;
  }
  std::int64_t y = 0;
  unsigned m = 0, d = 0;
  civil_from_days(days, y, m, d);
  const std::int64_t secs = rest / 10000000, frac = rest % 10000000;
  std::string s;
  s.reserve(27);
  put_digits(s, y, 4);
  s += '-';
  put_digits(s, m, 2);
  s += '-';
  put_digits(s, d, 2);
  s += ' ';
  put_digits(s, secs / 3600, 2);
  s += ':';
  put_digits(s, secs / 60 % 60, 2);
  s += ':';
  put_digits(s, secs % 60, 2);
  s += '.';
  put_digits(s, frac, 7);
  return s;
}

// The Unix time the Azure reader makes of a clock reading of `ticks` (whole seconds and the
// fraction apart, as read_azure_csv does).
double origin_of_ticks(std::int64_t ticks) {
  const std::int64_t whole = ticks >= 0 ? ticks / 10000000 : -((-ticks + 9999999) / 10000000);
  return static_cast<double>(whole) + static_cast<double>((ticks - whole * 10000000) * 100) / 1e9;
}

// The clock reading (100-ns ticks) to print for an origin. A double near 1.7e9 s resolves only about
// 240 ns, so several readings give the same origin back; of those, the one with the most trailing
// zero digits (the source's own reading, when it had fewer digits than the clock shows).
std::int64_t origin_ticks(double origin_unix_s) {
  const double whole = std::floor(origin_unix_s);
  const std::int64_t base =
      static_cast<std::int64_t>(whole) * 10000000 + std::llround((origin_unix_s - whole) * 1e7);
  std::int64_t best = base;
  int best_zeros = -1;
  for (std::int64_t d = 0; d <= 6; ++d) {
    const std::int64_t ticks = base + (d % 2 == 0 ? d / 2 : -(d + 1) / 2);  // base, base-1, base+1, ...
    if (origin_of_ticks(ticks) != origin_unix_s) continue;
    int zeros = 0;
    for (std::int64_t v = ticks; zeros < 7 && v % 10 == 0; v /= 10) ++zeros;
    if (zeros > best_zeros) {
      best = ticks;
      best_zeros = zeros;
    }
  }
  return best;
}

}  // namespace

void write_burstgpt_csv(const RequestTrace& t, const std::string& path) {
  check_columns(t, path);
  for (const std::string& m : t.models) check_name(m, "model name", path);
  TextOut out(path);
  out << "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type";
  out.line_done();
  for (std::size_t i = 0; i < t.size(); ++i) {
    out << t.time_s[i] << ',' << std::string_view(t.models[t.model[i]]) << ',' << int{t.request_tokens[i]} << ','
        << int{t.response_tokens[i]} << ',' << (std::int64_t{t.request_tokens[i]} + t.response_tokens[i]) << ','
        << log_type_name(t.log_type[i]);
    out.line_done();
  }
  out.close();
}

void write_azure_csv(const RequestTrace& t, const std::string& path) {
  check_columns(t, path);
  MERIDIAN_INPUT_CHECK(std::isfinite(t.origin_unix_s) && std::fabs(t.origin_unix_s) < 7e9, path,
                       ": origin_unix_s ", t.origin_unix_s, " is not a Unix time between 1748 and 2191");
  MERIDIAN_INPUT_CHECK(t.time_s.back() - t.time_s.front() < 1e9, path, ": the trace spans ", t.time_s.back(),
                       " s, more than a wall clock from its origin can show");
  // Ticks of 100 ns: the origin once, then each row's offset, so rows keep their exact spacing.
  const std::int64_t origin = origin_ticks(t.origin_unix_s);
  TextOut out(path);
  out << "TIMESTAMP,ContextTokens,GeneratedTokens";
  out.line_done();
  for (std::size_t i = 0; i < t.size(); ++i) {
    const std::int64_t ticks = origin + std::llround(t.time_s[i] * 1e7);
    out << wall_clock(ticks) << ',' << int{t.request_tokens[i]} << ',' << int{t.response_tokens[i]};
    out.line_done();
  }
  out.close();
}

void write_jsonl(const RequestTrace& t, const std::string& path) {
  check_columns(t, path);
  bool named = false;
  std::vector<std::string> quoted;  // each model name as a JSON string
  for (const std::string& m : t.models) {
    named = named || !m.empty();
    quoted.push_back(nlohmann::json(m).dump());
  }
  const double origin_ms = t.origin_unix_s * 1000.0;
  TextOut out(path);
  for (std::size_t i = 0; i < t.size(); ++i) {
    out << "{\"timestamp\": " << (origin_ms + t.time_s[i] * 1000.0) << ", \"input_length\": "
        << int{t.request_tokens[i]} << ", \"output_length\": " << int{t.response_tokens[i]};
    if (named) out << ", \"model\": " << std::string_view(quoted[t.model[i]]);
    out << '}';
    out.line_done();
  }
  out.close();
}

void write_requests(const RequestTrace& trace, const std::string& path, RequestFormat format) {
  if (format == RequestFormat::automatic) {
    std::string ext = std::filesystem::path(path).extension().string();
    for (char& c : ext) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    format = ext == ".jsonl" || ext == ".ndjson" || ext == ".json" ? RequestFormat::jsonl : RequestFormat::burstgpt_csv;
  }
  switch (format) {
    case RequestFormat::burstgpt_csv: return write_burstgpt_csv(trace, path);
    case RequestFormat::azure_csv: return write_azure_csv(trace, path);
    case RequestFormat::jsonl: return write_jsonl(trace, path);
    case RequestFormat::automatic: break;
  }
}

void write_link_table(const LinkTable& table, const std::string& path) {
  MERIDIAN_INPUT_CHECK(!table.rows.empty(), path, ": the link table is empty; nothing to write");
  check_name(table.value_column, "value column", path);
  TextOut out(path);
  out << "src_region,dst_region," << std::string_view(table.value_column);
  out.line_done();
  for (const LinkRow& r : table.rows) {
    check_name(r.src, "region", path);
    check_name(r.dst, "region", path);
    out << std::string_view(r.src) << ',' << std::string_view(r.dst) << ',' << r.value;
    out.line_done();
  }
  out.close();
}

void write_bandwidth_csv(const BandwidthTrace& b, const std::string& path) {
  MERIDIAN_CHECK(b.time_s.size() == b.bandwidth_bps.size(), "BandwidthTrace with ", b.time_s.size(), " times and ",
                 b.bandwidth_bps.size(), " bandwidths written to ", path);
  MERIDIAN_INPUT_CHECK(!b.time_s.empty(), path, ": the bandwidth trace is empty; nothing to write");
  TextOut out(path);
  out << "time_s,bandwidth_bps";
  out.line_done();
  for (std::size_t i = 0; i < b.size(); ++i) {
    out << b.time_s[i] << ',' << b.bandwidth_bps[i];
    out.line_done();
  }
  out.close();
}

void write_failure_csv(const FailureLog& log, const std::string& path) {
  MERIDIAN_CHECK(log.node.size() == log.time_s.size(), "FailureLog with ", log.node.size(), " nodes and ",
                 log.time_s.size(), " time lists written to ", path);
  MERIDIAN_INPUT_CHECK(log.failures() > 0, path, ": the failure log is empty; nothing to write");
  for (const std::string& n : log.node) {
    MERIDIAN_INPUT_CHECK(!n.empty(), path, ": a node has no name");
    check_name(n, "node name", path);
  }
  TextOut out(path);
  out << "node,time_s";
  out.line_done();
  for (std::size_t i = 0; i < log.node.size(); ++i)
    for (const double t : log.time_s[i]) {
      out << std::string_view(log.node[i]) << ',' << t;
      out.line_done();
    }
  out.close();
}

void write_job_table(const std::vector<JobRecord>& jobs, const std::string& path) {
  MERIDIAN_INPUT_CHECK(!jobs.empty(), path, ": the job table is empty; nothing to write");
  for (const JobRecord& j : jobs) {
    MERIDIAN_INPUT_CHECK(!j.job_id.empty(), path, ": a job has no id");
    check_name(j.job_id, "job id", path);
    for (const std::string& n : j.node_list) {
      MERIDIAN_INPUT_CHECK(!n.empty() && n.find_first_of(" ;") == std::string::npos, path, ": job ", j.job_id,
                           " lists the node name '", n, "', which is empty or holds a space or ';'");
      check_name(n, "node name", path);
    }
  }
  TextOut out(path);
  out << "job_id,nodes,start_s,end_s,state,node_list";
  out.line_done();
  for (const JobRecord& j : jobs) {
    out << std::string_view(j.job_id) << ',' << j.nodes << ',' << j.start_s << ',' << j.end_s << ','
        << job_state_name(j.state) << ',';
    for (std::size_t k = 0; k < j.node_list.size(); ++k)
      out << std::string_view(k == 0 ? "" : " ") << std::string_view(j.node_list[k]);
    out.line_done();
  }
  out.close();
}

}  // namespace meridian::trace
