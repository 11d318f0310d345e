// Trace readers. Files are read in large blocks and cut into lines in place; fields are string_views
// into the block and numbers are parsed with std::from_chars, so the hot path allocates nothing per
// field. Every defect is one InputError naming file:line, the column and the fix.
#include "trace/readers.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "core/text.hpp"
#include "kernels/common/error.hpp"

namespace meridian::trace {
namespace {

constexpr std::size_t kBlockBytes = std::size_t{4} << 20;  // bytes read per fread call
constexpr std::size_t kShownChars = 48;                     // longest field quoted in a message
constexpr std::string_view kCutHint =
    "; this is the file's last line and it has no line end, so the file may be cut short (copy it again)";

bool is_blank(std::string_view s) { return trim(s).empty(); }

// A field as quoted in a message: at most kShownChars characters, anything unprintable as \xNN.
std::string show(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  const std::size_t n = std::min(s.size(), kShownChars);
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  if (s.size() > n) out += "...";
  return out;
}

bool parse_int(std::string_view s, std::int64_t& v) {
  const char* end = s.data() + s.size();
  const auto [ptr, ec] = std::from_chars(s.data(), end, v);
  return ec == std::errc() && ptr == end;
}

bool parse_real(std::string_view s, double& v) {
  const char* end = s.data() + s.size();
  const auto [ptr, ec] = std::from_chars(s.data(), end, v);
  return ec == std::errc() && ptr == end && std::isfinite(v);
}

// ---- Lines ----------------------------------------------------------------------------------------

// A file cut into lines, read in blocks; a line is a view into the block, valid until next().
class LineReader {
 public:
  explicit LineReader(const std::string& path, std::size_t block_bytes = kBlockBytes, ProgressFn progress = {})
      : path_(path), progress_(std::move(progress)) {
    errno = 0;
    file_ = std::fopen(path.c_str(), "rb");
    if (file_ == nullptr) {
      const int err = errno;
      throw InputError(cat(path, ": cannot open the file (", err != 0 ? std::strerror(err) : "unknown error",
                           "); check the path and that it is readable"));
    }
    std::error_code ec;
    const auto n = std::filesystem::file_size(path, ec);
    size_ = ec ? 0 : static_cast<std::size_t>(n);
    // A small file gets a small buffer (it grows if a line outgrows it).
    buf_.resize(size_ > 0 ? std::clamp(size_ + 1, std::size_t{4096}, block_bytes) : block_bytes);
  }
  ~LineReader() {
    if (file_ != nullptr) std::fclose(file_);
  }
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // The next line without its line end ("\n" or "\r\n"); false at the end of the file.
  bool next(std::string_view& line) {
    for (;;) {
      const char* start = buf_.data() + begin_;
      const void* nl = std::memchr(start, '\n', end_ - begin_);
      if (nl != nullptr) {
        const auto len = static_cast<std::size_t>(static_cast<const char*>(nl) - start);
        begin_ += len + 1;
        ++line_no_;
        unterminated_ = false;
        line = without_cr(start, len);
        return true;
      }
      if (eof_) {
        if (begin_ == end_) return false;
        const std::size_t len = end_ - begin_;
        begin_ = end_;
        ++line_no_;
        unterminated_ = true;
        line = without_cr(start, len);
        return true;
      }
      refill();
    }
  }

  std::int64_t line_no() const { return line_no_; }
  // True when the current line is the last one and ends without a line end.
  bool unterminated() const { return unterminated_; }
  const std::string& path() const { return path_; }
  std::FILE* file() const { return file_; }
  std::size_t file_bytes() const { return size_; }  // the file's size when opened (0 when unknown)

 private:
  static std::string_view without_cr(const char* p, std::size_t len) {
    if (len > 0 && p[len - 1] == '\r') --len;
    return {p, len};
  }
  void refill() {
    if (begin_ > 0) {
      std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (end_ == buf_.size()) buf_.resize(buf_.size() * 2);  // a line longer than the block
    const std::size_t want = buf_.size() - end_;
    const std::size_t got = std::fread(buf_.data() + end_, 1, want, file_);
    if (got < want) {
      if (std::ferror(file_) != 0)
        throw InputError(cat(path_, ": read error after line ", line_no_, " (", std::strerror(errno), ")"));
      eof_ = true;
    }
    end_ += got;
    read_ += got;
    if (progress_ && size_ > 0) progress_(std::min(1.0, static_cast<double>(read_) / static_cast<double>(size_)));
  }

  std::string path_;
  ProgressFn progress_;
  std::size_t size_ = 0, read_ = 0;  // the file's bytes (0 when unknown), bytes read so far
  std::FILE* file_ = nullptr;
  std::vector<char> buf_;
  std::size_t begin_ = 0, end_ = 0;
  bool eof_ = false;
  bool unterminated_ = false;
  std::int64_t line_no_ = 0;
};

// The first non-blank line (UTF-8 byte-order mark removed); false for a file with none.
bool first_line(LineReader& lines, std::string_view& line) {
  while (lines.next(line)) {
    if (lines.line_no() == 1 && line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);
    if (!is_blank(line)) return true;
  }
  return false;
}

// Splits at commas (no quoting: a field cannot hold a comma); fields are trimmed and one pair of
// surrounding double quotes is removed.
void split_fields(std::string_view line, std::vector<std::string_view>& out) {
  out.clear();
  const char* p = line.data();
  const char* const end = p + line.size();
  for (;;) {
    const auto* comma = static_cast<const char*>(std::memchr(p, ',', static_cast<std::size_t>(end - p)));
    const char* stop = comma != nullptr ? comma : end;
    std::string_view f = trim(std::string_view(p, static_cast<std::size_t>(stop - p)));
    if (f.size() >= 2 && f.front() == '"' && f.back() == '"') f = f.substr(1, f.size() - 2);
    out.push_back(f);
    if (comma == nullptr) break;
    p = comma + 1;
  }
}

// ---- CSV with a header ----------------------------------------------------------------------------

// A CSV file whose first non-blank line names the columns. Data lines must have as many fields as
// the header; blank lines are skipped.
class CsvReader {
 public:
  // `what` names the format in messages ("BurstGPT CSV"), `header` is its expected header.
  CsvReader(const std::string& path, std::string_view what, std::string_view header, ProgressFn progress = {})
      : lines_(path, kBlockBytes, std::move(progress)), what_(what), expected_header_(header) {
    std::string_view line;
    if (!first_line(lines_, line))
      throw InputError(cat(path, ": the file is empty; a ", what, " starts with the header ", header));
    header_line_ = lines_.line_no();
    split_fields(line, fields_);
    for (const std::string_view f : fields_) names_.emplace_back(f);
    header_text_ = std::string(trim(line));
  }

  // Column indices of `names`; one InputError listing every missing one.
  std::vector<std::size_t> require(std::initializer_list<std::string_view> names) const {
    std::vector<std::size_t> cols;
    std::string missing;
    for (const std::string_view name : names) {
      const auto c = find_column(name);
      if (c) {
        cols.push_back(*c);
      } else {
        missing += cat(missing.empty() ? "" : ", ", "'", name, "'");
      }
    }
    if (!missing.empty())
      throw InputError(cat(lines_.path(), ":", header_line_, ": the header lacks the column",
                           missing.find(',') != std::string::npos ? "s " : " ", missing, " (found: ",
                           show(header_text_), "); a ", what_, " needs the header ", expected_header_,
                           " (columns in any order, more columns allowed)"));
    return cols;
  }
  std::optional<std::size_t> find_column(std::string_view name) const {
    for (std::size_t i = 0; i < names_.size(); ++i)
      if (names_[i] == name) return i;
    return std::nullopt;
  }

  // The next non-blank data line; false at the end of the file.
  bool next() {
    std::string_view line;
    do {
      if (!lines_.next(line)) return false;
    } while (is_blank(line));
    split_fields(line, fields_);
    if (fields_.size() != names_.size())
      fail_line("expected ", names_.size(), " comma-separated fields as in the header (", show(header_text_),
                "), got ", fields_.size(), fields_.size() < names_.size() ? ": the line is incomplete" : "");
    return true;
  }

  std::string_view field(std::size_t col) const { return fields_[col]; }
  std::int64_t line() const { return lines_.line_no(); }
  const std::string& path() const { return lines_.path(); }

  // "FILE:LINE: column N (NAME): parts" (+ the cut-file hint on an unterminated last line).
  template <class... Args>
  [[noreturn]] void fail(std::size_t col, const Args&... parts) const {
    throw InputError(cat(lines_.path(), ":", lines_.line_no(), ": column ", col + 1, " (", names_[col], "): ",
                         parts..., lines_.unterminated() ? kCutHint : std::string_view()));
  }
  template <class... Args>
  [[noreturn]] void fail_line(const Args&... parts) const {
    throw InputError(cat(lines_.path(), ":", lines_.line_no(), ": ", parts...,
                         lines_.unterminated() ? kCutHint : std::string_view()));
  }
  [[noreturn]] void fail_no_data() const {
    throw InputError(cat(lines_.path(), ": no data lines after the header (line ", header_line_,
                         "); the file holds no records"));
  }

  // A finite number in column `col`; `expected` says what it is ("a number of seconds").
  double real(std::size_t col, std::string_view expected) const {
    double v = 0;
    if (!parse_real(fields_[col], v)) fail(col, "expected ", expected, ", got '", show(fields_[col]), "'");
    return v;
  }
  double non_negative(std::size_t col, std::string_view expected) const {
    const double v = real(col, expected);
    if (v < 0) fail(col, "expected ", expected, " (>= 0), got '", show(fields_[col]), "'");
    return v;
  }
  // An integer in [lo, hi].
  std::int64_t integer(std::size_t col, std::string_view expected, std::int64_t lo, std::int64_t hi) const {
    std::int64_t v = 0;
    const std::string_view f = fields_[col];
    if (!parse_int(f, v)) {
      double d = 0;
      const bool fractional = parse_real(f, d);
      fail(col, "expected ", expected, ", got '", show(f), "'",
           fractional ? "; write it as a whole number without a decimal point" : "");
    }
    if (v < lo || v > hi)
      fail(col, "expected ", expected, " in [", lo, ", ", hi, "], got '", show(f), "'",
           v < 0 && lo >= 0 ? "; it cannot be negative" : "");
    return v;
  }
  std::int32_t tokens(std::size_t col) const {
    return static_cast<std::int32_t>(
        integer(col, "a token count (an integer >= 0)", 0, std::numeric_limits<std::int32_t>::max()));
  }

  std::size_t file_bytes() const { return lines_.file_bytes(); }

 private:
  LineReader lines_;
  std::string what_, expected_header_, header_text_;
  std::vector<std::string> names_;
  std::vector<std::string_view> fields_;
  std::int64_t header_line_ = 0;
};

// Model names interned into a trace's `models`, the last one found remembered (traces repeat it).
class ModelInterner {
 public:
  explicit ModelInterner(RequestTrace& trace) : trace_(trace) {}
  // Index of `name`, appended if new; -1 when the trace already has the most names it can index.
  int index(std::string_view name) {
    if (last_ >= 0 && trace_.models[static_cast<std::size_t>(last_)] == name) return last_;
    for (std::size_t i = 0; i < trace_.models.size(); ++i)
      if (trace_.models[i] == name) return last_ = static_cast<int>(i);
    if (trace_.models.size() >= 65535) return -1;
    trace_.models.emplace_back(name);
    return last_ = static_cast<int>(trace_.models.size()) - 1;
  }

 private:
  RequestTrace& trace_;
  int last_ = -1;
};

void reserve_rows(RequestTrace& t, std::size_t rows, bool sessions) {
  t.time_s.reserve(rows);
  t.request_tokens.reserve(rows);
  t.response_tokens.reserve(rows);
  t.model.reserve(rows);
  t.log_type.reserve(rows);
  if (sessions) t.session.reserve(rows);
}

// Makes times relative to the first request.
void rebase(RequestTrace& t) {
  if (t.empty()) return;
  const double t0 = t.time_s.front();
  for (double& x : t.time_s) x -= t0;
}

// ---- Wall-clock time ------------------------------------------------------------------------------

// Days from 1970-01-01 to the proleptic Gregorian date y-m-d (any year, negative before 1970).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool leap_year(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

// `n` digits at s[pos] as a number; false if any is not a digit.
bool digits(std::string_view s, std::size_t pos, std::size_t n, int& v) {
  if (pos + n > s.size()) return false;
  v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  return true;
}

// "YYYY-MM-DD HH:MM:SS[.fffffffff]" ('T' also separates, a final 'Z' is allowed), UTC -> Unix ns.
// Years 1900..2200 (int64 nanoseconds hold about 1678..2262).
bool parse_wall_clock_ns(std::string_view s, std::int64_t& ns) {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!s.empty() && s.back() == 'Z') s.remove_suffix(1);
  if (s.size() < 19 || !digits(s, 0, 4, year) || s[4] != '-' || !digits(s, 5, 2, month) || s[7] != '-' ||
      !digits(s, 8, 2, day) || (s[10] != ' ' && s[10] != 'T') || !digits(s, 11, 2, hour) || s[13] != ':' ||
      !digits(s, 14, 2, minute) || s[16] != ':' || !digits(s, 17, 2, second))
    return false;
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (year < 1900 || year > 2200 || month < 1 || month > 12 || day < 1 ||
      day > kDays[month - 1] + (month == 2 && leap_year(year) ? 1 : 0) || hour > 23 || minute > 59 || second > 59)
    return false;
  std::int64_t frac_ns = 0;
  if (s.size() > 19) {
    const std::size_t n = s.size() - 20;
    if (s[19] != '.' || n < 1 || n > 9) return false;
    int part = 0;
    if (!digits(s, 20, n, part)) return false;
    frac_ns = part;
    for (std::size_t i = n; i < 9; ++i) frac_ns *= 10;
  }
  const std::int64_t days = days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  ns = ((days * 24 + hour) * 60 + minute) * 60 + second;
  ns = ns * 1000000000 + frac_ns;
  return true;
}

// ---- Natural order of node names ------------------------------------------------------------------

// "n2" < "n10": runs of digits compare as numbers, everything else byte by byte; ties ("n01" vs
// "n1") fall back to plain comparison so the order is strict.
bool natural_less(std::string_view a, std::string_view b) {
  std::size_t i = 0, j = 0;
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  while (i < a.size() && j < b.size()) {
    if (digit(a[i]) && digit(b[j])) {
      std::size_t ie = i, je = j;
      while (ie < a.size() && digit(a[ie])) ++ie;
      while (je < b.size() && digit(b[je])) ++je;
      std::string_view x = a.substr(i, ie - i), y = b.substr(j, je - j);
      while (x.size() > 1 && x.front() == '0') x.remove_prefix(1);
      while (y.size() > 1 && y.front() == '0') y.remove_prefix(1);
      if (x.size() != y.size()) return x.size() < y.size();
      if (x != y) return x < y;
      i = ie;
      j = je;
    } else {
      if (a[i] != b[j]) return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[j]);
      ++i;
      ++j;
    }
  }
  if ((a.size() - i) != (b.size() - j)) return a.size() - i < b.size() - j;
  return a < b;
}

struct NaturalLess {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const { return natural_less(a, b); }
};

// ---- Filters --------------------------------------------------------------------------------------

template <class Keep>
RequestTrace select_rows(const RequestTrace& t, Keep keep) {
  const std::size_t n = t.size();
  MERIDIAN_CHECK(t.request_tokens.size() == n && t.response_tokens.size() == n && t.model.size() == n &&
                     t.log_type.size() == n && (t.session.empty() || t.session.size() == n),
                 "RequestTrace columns of different lengths (", n, " times)");
  RequestTrace out;
  out.models = t.models;
  out.origin_unix_s = t.origin_unix_s;
  const bool sessions = !t.session.empty();
  for (std::size_t i = 0; i < n; ++i) {
    if (!keep(i)) continue;
    out.time_s.push_back(t.time_s[i]);
    out.request_tokens.push_back(t.request_tokens[i]);
    out.response_tokens.push_back(t.response_tokens[i]);
    out.model.push_back(t.model[i]);
    out.log_type.push_back(t.log_type[i]);
    if (sessions) out.session.push_back(t.session[i]);
  }
  return out;
}

constexpr std::string_view kBurstHeader =
    "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type (v2 adds Session ID,Elapsed time)";
constexpr std::string_view kAzureHeader = "TIMESTAMP,ContextTokens,GeneratedTokens";

}  // namespace

// ---- Request formats ------------------------------------------------------------------------------

std::string_view format_name(RequestFormat format) {
  switch (format) {
    case RequestFormat::burstgpt_csv: return "burstgpt";
    case RequestFormat::azure_csv: return "azure";
    case RequestFormat::jsonl: return "jsonl";
    case RequestFormat::automatic: break;
  }
  return "auto";
}

RequestFormat parse_request_format(std::string_view name) {
  for (const RequestFormat f : {RequestFormat::automatic, RequestFormat::burstgpt_csv, RequestFormat::azure_csv,
                                RequestFormat::jsonl})
    if (format_name(f) == name) return f;
  throw InputError(cat("unknown request-trace format '", show(name),
                       "'; use one of: auto, burstgpt (BurstGPT CSV), azure (Azure LLM inference CSV), jsonl"));
}

std::string_view log_type_name(LogType type) {
  switch (type) {
    case LogType::conversation: return "Conversation log";
    case LogType::api: return "API log";
    case LogType::unknown: break;
  }
  return "";
}

RequestTrace read_burstgpt_csv(const std::string& path, const ProgressFn& progress) {
  CsvReader csv(path, "BurstGPT CSV", kBurstHeader, progress);
  const std::vector<std::size_t> c = csv.require(
      {"Timestamp", "Model", "Request tokens", "Response tokens", "Total tokens", "Log Type"});
  const std::size_t c_time = c[0], c_model = c[1], c_req = c[2], c_resp = c[3], c_total = c[4], c_log = c[5];
  const std::optional<std::size_t> c_session = csv.find_column("Session ID");
  const std::optional<std::size_t> c_elapsed = csv.find_column("Elapsed time");

  RequestTrace t;
  reserve_rows(t, csv.file_bytes() / 32 + 16, c_session.has_value());
  ModelInterner models(t);
  std::int64_t prev_line = 0;
  while (csv.next()) {
    const double time = csv.real(c_time, "a time in seconds");
    if (!t.empty() && time < t.time_s.back())
      csv.fail(c_time, "unsorted timestamps: ", show(csv.field(c_time)), " comes after ", t.time_s.back(), " on line ",
               prev_line, "; sort the rows by Timestamp");
    const int m = models.index(csv.field(c_model));
    if (m < 0) csv.fail(c_model, "more than 65535 distinct model names; is this column really the model?");
    const std::int32_t req = csv.tokens(c_req), resp = csv.tokens(c_resp);
    const std::int64_t total = csv.integer(c_total, "a token count (an integer >= 0)", 0,
                                           std::numeric_limits<std::int64_t>::max());
    if (total != std::int64_t{req} + resp)
      csv.fail(c_total, "expected Request tokens + Response tokens = ", std::int64_t{req} + resp, ", got '",
               show(csv.field(c_total)), "'; correct the counts on this line");
    const std::string_view log = csv.field(c_log);
    LogType type = LogType::unknown;
    if (log == "Conversation log") {
      type = LogType::conversation;
    } else if (log == "API log") {
      type = LogType::api;
    } else if (!log.empty()) {
      csv.fail(c_log, "expected 'Conversation log' or 'API log' (or nothing for unknown), got '", show(log), "'");
    }
    if (c_session) {
      const bool none = csv.field(*c_session).empty();
      t.session.push_back(none ? -1
                               : csv.integer(*c_session, "an integer session id (or nothing)", 0,
                                             std::numeric_limits<std::int64_t>::max()));
    }
    if (c_elapsed && !csv.field(*c_elapsed).empty()) csv.non_negative(*c_elapsed, "a time in seconds");
    t.time_s.push_back(time);
    t.request_tokens.push_back(req);
    t.response_tokens.push_back(resp);
    t.model.push_back(static_cast<std::uint16_t>(m));
    t.log_type.push_back(type);
    prev_line = csv.line();
  }
  if (t.empty()) csv.fail_no_data();
  rebase(t);
  return t;
}

RequestTrace read_azure_csv(const std::string& path, const ProgressFn& progress) {
  CsvReader csv(path, "Azure LLM inference CSV", kAzureHeader, progress);
  const std::vector<std::size_t> c = csv.require({"TIMESTAMP", "ContextTokens", "GeneratedTokens"});
  const std::size_t c_time = c[0], c_ctx = c[1], c_gen = c[2];

  RequestTrace t;
  reserve_rows(t, csv.file_bytes() / 36 + 16, false);
  t.models.emplace_back();  // no model names in this format
  std::int64_t first_ns = 0, prev_ns = 0, prev_line = 0;
  while (csv.next()) {
    std::int64_t ns = 0;
    if (!parse_wall_clock_ns(csv.field(c_time), ns))
      csv.fail(c_time, "expected a UTC date and time like 2023-11-16 18:15:46.6805900, got '",
               show(csv.field(c_time)), "'");
    if (t.empty()) {
      first_ns = ns;
    } else if (ns < prev_ns) {
      csv.fail(c_time, "unsorted timestamps: ", show(csv.field(c_time)), " is earlier than the time on line ",
               prev_line,
               "; sort the rows by TIMESTAMP");
    }
    const std::int32_t ctx = csv.tokens(c_ctx), gen = csv.tokens(c_gen);
    t.time_s.push_back(static_cast<double>(ns - first_ns) / 1e9);
    t.request_tokens.push_back(ctx);
    t.response_tokens.push_back(gen);
    t.model.push_back(0);
    t.log_type.push_back(LogType::unknown);
    prev_ns = ns;
    prev_line = csv.line();
  }
  if (t.empty()) csv.fail_no_data();
  // Whole seconds and the fraction apart, so the origin is the nearest double to the exact time.
  const std::int64_t whole = first_ns >= 0 ? first_ns / 1000000000 : -((-first_ns + 999999999) / 1000000000);
  t.origin_unix_s = static_cast<double>(whole) + static_cast<double>(first_ns - whole * 1000000000) / 1e9;
  return t;
}

namespace {

// One request line's values.
struct JsonlRow {
  double ms = 0;
  std::int32_t input = 0, output = 0;
  bool has_model = false;
  std::string model;
};

// The fast path of the JSON-lines reader: nlohmann's SAX parser, keeping the top-level keys it
// needs and building no document. It accepts only what the checked path (parse_jsonl_dom) accepts
// without complaint, and gives up (returns false from parse) on anything else, letting that path
// find the defect and word its error; duplicate keys keep the last value in both.
class JsonlSax final : public nlohmann::json_sax<nlohmann::json> {
 public:
  bool parse(std::string_view line, JsonlRow& row) {
    row_ = &row;
    depth_ = 0;
    field_ = Field::other;
    seen_ = 0;
    row.has_model = false;
    return nlohmann::json::sax_parse(line.begin(), line.end(), this) && seen_ == kNeeded;
  }

  bool null() override { return ignored(); }
  bool boolean(bool) override { return ignored(); }
  bool number_integer(number_integer_t v) override {  // the parser's type for negative integers only
    if (depth_ != 1) return true;
    if (field_ == Field::timestamp) return set_time(static_cast<double>(v));
    return field_ == Field::other;  // a negative token count: let the checked path explain
  }
  bool number_unsigned(number_unsigned_t v) override {
    if (depth_ != 1) return true;
    switch (field_) {
      case Field::timestamp: return set_time(static_cast<double>(v));
      case Field::input: return set_length(v, row_->input, kInput);
      case Field::output: return set_length(v, row_->output, kOutput);
      case Field::model: return false;
      case Field::other: return true;
    }
    return false;
  }
  bool number_float(number_float_t v, const string_t&) override {
    if (depth_ != 1) return true;
    if (field_ == Field::timestamp) return set_time(v);
    return field_ == Field::other;
  }
  bool string(string_t& v) override {
    if (depth_ != 1 || field_ == Field::other) return true;
    if (field_ != Field::model) return false;
    row_->model = std::move(v);
    row_->has_model = true;
    return true;
  }
  bool binary(binary_t&) override { return ignored(); }
  bool start_object(std::size_t) override { return nest(); }
  bool start_array(std::size_t) override { return depth_ > 0 && nest(); }  // a top-level array is no request
  bool end_object() override { return unnest(); }
  bool end_array() override { return unnest(); }
  bool key(string_t& k) override {
    if (depth_ == 1) {
      field_ = k == "timestamp"       ? Field::timestamp
               : k == "input_length"  ? Field::input
               : k == "output_length" ? Field::output
               : k == "model"         ? Field::model
                                      : Field::other;
    }
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }

 private:
  enum class Field : std::uint8_t { timestamp, input, output, model, other };
  static constexpr unsigned kTime = 1, kInput = 2, kOutput = 4, kNeeded = kTime | kInput | kOutput;

  bool ignored() const { return depth_ != 1 || field_ == Field::other; }
  bool nest() {
    if (depth_ == 1 && field_ != Field::other) return false;  // an object or array where a value of ours goes
    ++depth_;
    return true;
  }
  bool unnest() {
    --depth_;
    return true;
  }
  bool set_time(double ms) {
    if (!std::isfinite(ms)) return false;
    row_->ms = ms;
    seen_ |= kTime;
    return true;
  }
  bool set_length(number_unsigned_t v, std::int32_t& into, unsigned bit) {
    if (v > static_cast<number_unsigned_t>(std::numeric_limits<std::int32_t>::max())) return false;
    into = static_cast<std::int32_t>(v);
    seen_ |= bit;
    return true;
  }

  JsonlRow* row_ = nullptr;
  int depth_ = 0;
  Field field_ = Field::other;
  unsigned seen_ = 0;
};

}  // namespace

RequestTrace read_jsonl(const std::string& path, const ProgressFn& progress) {
  LineReader lines(path, kBlockBytes, progress);
  RequestTrace t;
  ModelInterner models(t);
  double first_ms = 0, prev_ms = 0;
  std::int64_t prev_line = 0;
  std::string_view line;
  const auto fail = [&](const auto&... parts) {
    throw InputError(cat(path, ":", lines.line_no(), ": ", parts..., lines.unterminated() ? kCutHint : ""));
  };
  const auto length = [&](const nlohmann::json& j, const char* key) {
    const auto it = j.find(key);
    if (it == j.end())
      fail("key \"", key, "\": missing; every line needs \"timestamp\", \"input_length\" and \"output_length\"");
    const bool ok = it->is_number_unsigned() ||
                    (it->is_number_integer() && it->get<std::int64_t>() >= 0);
    if (!ok || it->get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max()))
      fail("key \"", key, "\": expected a token count (an integer >= 0), got '", show(it->dump()), "'");
    return static_cast<std::int32_t>(it->get<std::int64_t>());
  };
  // The checked path: a whole document per line, every defect named.
  const auto parse_jsonl_dom = [&](std::string_view text, JsonlRow& row) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(text.begin(), text.end());
    } catch (const nlohmann::json::parse_error& e) {
      std::string why = e.what();
      const std::size_t colon = why.find(": ");
      if (colon != std::string::npos) why.erase(0, colon + 2);
      fail("column ", e.byte, ": expected one JSON object, got '", show(text), "' (", why, ")");
    } catch (const nlohmann::json::exception& e) {  // e.g. a number too large for a double
      std::string why = e.what();
      const std::size_t bracket = why.find("] ");
      if (bracket != std::string::npos) why.erase(0, bracket + 2);
      fail("expected one JSON object with numbers a double can hold, got '", show(text), "' (", why, ")");
    }
    if (!j.is_object()) fail("expected one JSON object {\"timestamp\": ms, ...}, got '", show(text), "'");
    const auto ts = j.find("timestamp");
    if (ts == j.end())
      fail("key \"timestamp\": missing; every line needs \"timestamp\", \"input_length\" and \"output_length\"");
    if (!ts->is_number() || !std::isfinite(ts->get<double>()))
      fail("key \"timestamp\": expected a time in milliseconds, got '", show(ts->dump()), "'");
    row.ms = ts->get<double>();
    row.input = length(j, "input_length");
    row.output = length(j, "output_length");
    const auto model = j.find("model");
    row.has_model = model != j.end();
    if (row.has_model) {
      if (!model->is_string()) fail("key \"model\": expected a string, got '", show(model->dump()), "'");
      row.model = model->get<std::string>();
    }
  };
  JsonlSax sax;
  JsonlRow row;
  while (lines.next(line)) {
    if (lines.line_no() == 1 && line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);
    if (is_blank(line)) continue;
    if (!sax.parse(line, row)) parse_jsonl_dom(line, row);
    if (!t.empty() && row.ms < prev_ms)
      fail("key \"timestamp\": unsorted timestamps: ", row.ms, " comes after ", prev_ms, " on line ", prev_line,
           "; sort the lines by timestamp");
    const int m = models.index(row.has_model ? std::string_view(row.model) : std::string_view());
    if (m < 0) fail("key \"model\": more than 65535 distinct model names");
    if (t.empty()) first_ms = row.ms;
    t.time_s.push_back((row.ms - first_ms) / 1000.0);
    t.request_tokens.push_back(row.input);
    t.response_tokens.push_back(row.output);
    t.model.push_back(static_cast<std::uint16_t>(m));
    t.log_type.push_back(LogType::unknown);
    prev_ms = row.ms;
    prev_line = lines.line_no();
  }
  if (t.empty())
    throw InputError(cat(path, ": no requests; a JSON-lines trace holds one object per line, e.g. ",
                         "{\"timestamp\": 0, \"input_length\": 512, \"output_length\": 64}"));
  t.origin_unix_s = first_ms / 1000.0;
  return t;
}

RequestFormat detect_request_format(const std::string& path) {
  const std::string ext = ascii_lower(std::filesystem::path(path).extension().string());
  if (ext == ".jsonl" || ext == ".ndjson" || ext == ".json") return RequestFormat::jsonl;
  LineReader lines(path, std::size_t{64} << 10);
  std::string_view line;
  if (!first_line(lines, line))
    throw InputError(
        cat(path, ": the file is empty; expected a request trace (BurstGPT CSV, Azure CSV or JSON lines)"));
  if (trim(line).front() == '{') return RequestFormat::jsonl;
  std::vector<std::string_view> fields;
  split_fields(line, fields);
  const auto has = [&](std::string_view name) { return std::find(fields.begin(), fields.end(), name) != fields.end(); };
  if (has("Timestamp") && has("Request tokens")) return RequestFormat::burstgpt_csv;
  if (has("TIMESTAMP") && has("ContextTokens")) return RequestFormat::azure_csv;
  throw InputError(cat(path, ":", lines.line_no(), ": cannot tell the request-trace format: the first line '",
                       show(trim(line)), "' is neither a BurstGPT header (", kBurstHeader, "), an Azure header (",
                       kAzureHeader,
                       ") nor a JSON object; fix the header or name the format (burstgpt, azure, jsonl)"));
}

RequestTrace read_requests(const std::string& path, RequestFormat format, const ProgressFn& progress) {
  if (format == RequestFormat::automatic) format = detect_request_format(path);
  switch (format) {
    case RequestFormat::burstgpt_csv: return read_burstgpt_csv(path, progress);
    case RequestFormat::azure_csv: return read_azure_csv(path, progress);
    case RequestFormat::jsonl: return read_jsonl(path, progress);
    case RequestFormat::automatic: break;
  }
  throw Error("read_requests: unreachable format");
}

// ---- Filters --------------------------------------------------------------------------------------

RequestTrace filter_model(const RequestTrace& trace, std::string_view model_name) {
  const auto it = std::find(trace.models.begin(), trace.models.end(), model_name);
  if (it == trace.models.end()) {
    std::string known;
    for (const std::string& m : trace.models) known += cat(known.empty() ? "" : ", ", "'", m, "'");
    throw InputError(cat("the trace has no model '", show(model_name), "' (its models: ",
                         known.empty() ? "none" : known, "); name one of them"));
  }
  const auto m = static_cast<std::uint16_t>(it - trace.models.begin());
  return select_rows(trace, [&](std::size_t i) { return trace.model[i] == m; });
}

RequestTrace filter_log_type(const RequestTrace& trace, LogType type) {
  return select_rows(trace, [&](std::size_t i) { return trace.log_type[i] == type; });
}

RequestTrace drop_failed(const RequestTrace& trace) {
  return select_rows(trace, [&](std::size_t i) { return trace.response_tokens[i] > 0; });
}

RequestTrace filter_window(const RequestTrace& trace, double t0_s, double t1_s) {
  MERIDIAN_INPUT_CHECK(!std::isnan(t0_s) && !std::isnan(t1_s) && t0_s <= t1_s, "time window [", t0_s, ", ", t1_s,
                       ") is empty or reversed; give the start before the end (seconds from the first request)");
  return select_rows(trace, [&](std::size_t i) { return trace.time_s[i] >= t0_s && trace.time_s[i] < t1_s; });
}

// ---- Link tables ----------------------------------------------------------------------------------

std::optional<double> LinkTable::find(std::string_view src, std::string_view dst) const {
  double sum = 0;
  int n = 0;
  for (const LinkRow& r : rows)
    if (r.src == src && r.dst == dst) {
      sum += r.value;
      ++n;
    }
  if (n == 0) return std::nullopt;
  return sum / n;
}

double LinkTable::lookup(std::string_view src, std::string_view dst) const {
  if (const auto v = find(src, dst)) return *v;
  const std::vector<std::string> all = regions();
  std::string some;
  for (std::size_t i = 0; i < all.size() && i < 6; ++i) some += cat(i == 0 ? "" : ", ", all[i]);
  throw InputError(cat(path.empty() ? std::string("link table") : path, ": no ", value_column, " from '", show(src),
                       "' to '", show(dst), "' (", all.size(), " regions, e.g. ", some,
                       "); name regions as provider:region exactly as in the file"));
}

std::vector<std::string> LinkTable::regions() const {
  std::set<std::string> all;
  for (const LinkRow& r : rows) {
    all.insert(r.src);
    all.insert(r.dst);
  }
  return {all.begin(), all.end()};
}

LinkTable read_link_table(const std::string& path, std::string_view value_column) {
  CsvReader csv(path, "link table", cat("src_region,dst_region,", value_column));
  const std::vector<std::size_t> c = csv.require({"src_region", "dst_region", value_column});
  LinkTable table;
  table.path = path;
  table.value_column = std::string(value_column);
  while (csv.next()) {
    for (const std::size_t col : {c[0], c[1]})
      if (csv.field(col).empty()) csv.fail(col, "expected a region name like aws:us-east-1, got ''");
    const double v = csv.real(c[2], "a positive number");
    if (!(v > 0)) csv.fail(c[2], "expected a positive number, got '", show(csv.field(c[2])), "'");
    table.rows.push_back(LinkRow{std::string(csv.field(c[0])), std::string(csv.field(c[1])), v, csv.line()});
  }
  if (table.rows.empty()) csv.fail_no_data();
  return table;
}

// ---- Bandwidth series -----------------------------------------------------------------------------

BandwidthTrace read_bandwidth_csv(const std::string& path) {
  CsvReader csv(path, "bandwidth trace", "time_s,bandwidth_bps");
  const std::vector<std::size_t> c = csv.require({"time_s", "bandwidth_bps"});
  BandwidthTrace b;
  std::int64_t prev_line = 0;
  while (csv.next()) {
    const double t = csv.non_negative(c[0], "a time in seconds");
    if (!b.time_s.empty() && !(t > b.time_s.back()))
      csv.fail(c[0], "expected a time after ", b.time_s.back(), " (line ", prev_line, "), got '", show(csv.field(c[0])),
               "'; times must increase strictly: sort the rows and give each time once");
    b.time_s.push_back(t);
    b.bandwidth_bps.push_back(csv.non_negative(c[1], "a bandwidth in bit/s"));
    prev_line = csv.line();
  }
  if (b.time_s.empty()) csv.fail_no_data();
  return b;
}

// ---- Failure logs ---------------------------------------------------------------------------------

std::size_t FailureLog::failures() const {
  std::size_t n = 0;
  for (const auto& v : time_s) n += v.size();
  return n;
}

std::vector<double> FailureLog::all_times() const {
  std::vector<double> all;
  all.reserve(failures());
  for (const auto& v : time_s) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  return all;
}

FailureLog read_failure_csv(const std::string& path) {
  CsvReader csv(path, "failure log", "node,time_s");
  const std::vector<std::size_t> c = csv.require({"node", "time_s"});
  std::map<std::string, std::vector<double>, NaturalLess> per_node;
  while (csv.next()) {
    const std::string_view node = csv.field(c[0]);
    if (node.empty()) csv.fail(c[0], "expected a node name, got ''");
    const double t = csv.non_negative(c[1], "a time in seconds");
    auto it = per_node.find(node);
    if (it == per_node.end()) it = per_node.emplace(std::string(node), std::vector<double>{}).first;
    it->second.push_back(t);
  }
  if (per_node.empty()) csv.fail_no_data();
  FailureLog log;
  for (auto& [node, times] : per_node) {
    std::sort(times.begin(), times.end());
    log.node.push_back(node);
    log.time_s.push_back(std::move(times));
  }
  return log;
}

std::string_view job_state_name(JobState state) {
  switch (state) {
    case JobState::completed: return "COMPLETED";
    case JobState::failed: return "FAILED";
    case JobState::node_fail: return "NODE_FAIL";
    case JobState::cancelled: return "CANCELLED";
    case JobState::timeout: return "TIMEOUT";
    case JobState::out_of_memory: return "OUT_OF_MEMORY";
    case JobState::preempted: return "PREEMPTED";
  }
  return "?";
}

std::vector<JobRecord> read_job_table(const std::string& path) {
  CsvReader csv(path, "job table", "job_id,nodes,start_s,end_s,state[,node_list]");
  const std::vector<std::size_t> c = csv.require({"job_id", "nodes", "start_s", "end_s", "state"});
  const std::optional<std::size_t> c_list = csv.find_column("node_list");
  constexpr JobState kStates[] = {JobState::completed, JobState::failed,  JobState::node_fail,
                                  JobState::cancelled, JobState::timeout, JobState::out_of_memory,
                                  JobState::preempted};
  std::vector<JobRecord> jobs;
  while (csv.next()) {
    JobRecord r;
    r.job_id = std::string(csv.field(c[0]));
    if (r.job_id.empty()) csv.fail(c[0], "expected a job id, got ''");
    r.nodes = static_cast<int>(csv.integer(c[1], "a node count", 1, std::numeric_limits<int>::max()));
    r.start_s = csv.non_negative(c[2], "a time in seconds");
    r.end_s = csv.non_negative(c[3], "a time in seconds");
    if (r.end_s < r.start_s)
      csv.fail(c[3], "expected an end time >= start_s ", csv.field(c[2]), ", got '", show(csv.field(c[3])), "'");
    std::string_view state = csv.field(c[4]);
    if (state.substr(0, 13) == "CANCELLED by ") state = "CANCELLED";  // sacct names who cancelled
    bool known = false;
    for (const JobState s : kStates)
      if (job_state_name(s) == state) {
        r.state = s;
        known = true;
      }
    if (!known)
      csv.fail(c[4], "expected one of COMPLETED, FAILED, NODE_FAIL, CANCELLED, TIMEOUT, OUT_OF_MEMORY, ",
               "PREEMPTED, got '", show(state), "'");
    if (c_list) {
      std::string_view rest = csv.field(*c_list);
      while (!rest.empty()) {
        const std::size_t cut = rest.find_first_of(" ;");
        if (cut != 0) r.node_list.emplace_back(rest.substr(0, cut));
        if (cut == std::string_view::npos) break;
        rest.remove_prefix(cut + 1);
      }
      if (!r.node_list.empty() && static_cast<int>(r.node_list.size()) != r.nodes)
        csv.fail(*c_list, "expected ", r.nodes, " node names (the nodes column), got ", r.node_list.size(), " in '",
                 show(csv.field(*c_list)), "'");
    }
    jobs.push_back(std::move(r));
  }
  if (jobs.empty()) csv.fail_no_data();
  return jobs;
}

std::vector<double> node_fail_times(const std::vector<JobRecord>& jobs) {
  std::vector<double> out;
  for (const JobRecord& j : jobs)
    if (j.state == JobState::node_fail) out.push_back(j.end_s);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace meridian::trace
