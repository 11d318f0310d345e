// Human-readable lines: info/warn on rank 0 only (every rank may call them), errors and
// log_all on every rank with a "[rank R]" prefix. Level from MERIDIAN_LOG_LEVEL or set_log_level.
#pragma once

#include <string>
#include <string_view>

#include "kernels/common/error.hpp"

namespace meridian {

enum class LogLevel { debug = 0, info = 1, warn = 2, error = 3, quiet = 4 };

void set_log_level(LogLevel level);
LogLevel log_level();
// "debug", "info", "warn", "error", "quiet"; throws InputError naming the accepted values.
LogLevel parse_log_level(std::string_view name);

void log_line(LogLevel level, bool all_ranks, const std::string& text);

template <class... Args>
void log_debug(const Args&... args) { log_line(LogLevel::debug, false, cat(args...)); }
template <class... Args>
void log_info(const Args&... args) { log_line(LogLevel::info, false, cat(args...)); }
template <class... Args>
void log_warn(const Args&... args) { log_line(LogLevel::warn, false, cat(args...)); }
// Errors come from whichever rank has them.
template <class... Args>
void log_error(const Args&... args) { log_line(LogLevel::error, true, cat(args...)); }
// Information every rank must report (at info level), prefixed with its rank.
template <class... Args>
void log_all(const Args&... args) { log_line(LogLevel::info, true, cat(args...)); }

}  // namespace meridian
