// Rank-aware log lines: rank 0 speaks for everyone unless a line is marked for all ranks.
#include "core/log.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace meridian {
namespace {

LogLevel level_from_environment() {
  if (const char* v = std::getenv("MERIDIAN_LOG_LEVEL")) {
    try {
      return parse_log_level(v);
    } catch (const Error&) {
      std::fprintf(stderr, "warning: MERIDIAN_LOG_LEVEL=%s is not a level (debug, info, warn, error, quiet); using info\n", v);
    }
  }
  return LogLevel::info;
}

std::atomic<LogLevel>& current_level() {
  static std::atomic<LogLevel> level{level_from_environment()};
  return level;
}

std::mutex output_mutex;

}  // namespace

void set_log_level(LogLevel level) { current_level().store(level); }
LogLevel log_level() { return current_level().load(); }

LogLevel parse_log_level(std::string_view name) {
  if (name == "debug") return LogLevel::debug;
  if (name == "info") return LogLevel::info;
  if (name == "warn") return LogLevel::warn;
  if (name == "error") return LogLevel::error;
  if (name == "quiet") return LogLevel::quiet;
  throw InputError(cat("log level '", name, "' is not one of debug, info, warn, error, quiet"));
}

void log_line(LogLevel level, bool all_ranks, const std::string& text) {
  if (level < log_level()) return;
  const int rank = process_identity().rank;
  if (!all_ranks && rank > 0) return;
  std::FILE* stream = level >= LogLevel::warn ? stderr : stdout;
  std::lock_guard lock(output_mutex);
  if (all_ranks && rank >= 0) std::fprintf(stream, "[rank %d] ", rank);
  if (level == LogLevel::warn) std::fputs("warning: ", stream);
  if (level == LogLevel::error) std::fputs("error: ", stream);
  std::fputs(text.c_str(), stream);
  std::fputc('\n', stream);
  std::fflush(stream);
}

}  // namespace meridian
