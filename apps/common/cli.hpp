// The command-line conventions every Meridian app shares: --config FILE (TOML/INI with the same
// option names), defaults shown in --help, --help printed once (by rank 0 under a launcher), and
// parse errors turned into one InputError that run_main reports cleanly.
#pragma once

#include <CLI/CLI.hpp>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "kernels/common/error.hpp"
#include "kernels/common/nm_layout.hpp"

namespace meridian::cli {

// Applies the shared settings to a freshly made CLI::App (before its options are added).
inline void configure(CLI::App& app) {
  app.option_defaults()->always_capture_default();
  app.set_config("--config", "", "Read options from a TOML/INI file");
}

// Parses argv. Returns false when --help was asked for (the help is already printed): the app then
// exits with 0. Throws InputError for anything CLI11 rejects.
inline bool parse(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    // The help of the subcommand asked about ("tracegen generate --help"), else the app's.
    const CLI::App* target = &app;
    while (!target->get_subcommands().empty()) target = target->get_subcommands().front();
    if (process_identity().rank <= 0) std::printf("%s", target->help().c_str());
    return false;
  } catch (const CLI::ParseError& e) {
    throw InputError(cat(e.what(), " (see --help)"));
  }
  return true;
}

// "8", "64K", "1M", "2G" (powers of 1024); InputError naming the flag otherwise.
inline std::int64_t parse_bytes(const std::string& flag, const std::string& text) {
  const auto bad = [&] {
    return InputError(cat(flag, ": '", text, "' is not a size; write whole bytes with an optional K, M or G "
                          "suffix (powers of 1024), e.g. 8, 64K, 1M, 1G"));
  };
  std::size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0 || digits > 15) throw bad();
  std::int64_t value = std::stoll(text.substr(0, digits));
  const std::string suffix = text.substr(digits);
  std::int64_t scale = 1;
  if (suffix.empty()) scale = 1;
  else if (suffix == "K" || suffix == "k") scale = std::int64_t{1} << 10;
  else if (suffix == "M" || suffix == "m") scale = std::int64_t{1} << 20;
  else if (suffix == "G" || suffix == "g") scale = std::int64_t{1} << 30;
  else throw bad();
  if (value > std::numeric_limits<std::int64_t>::max() / scale) throw bad();
  return value * scale;
}

// The pieces of `text` between the separators (empty pieces kept).
inline std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    const std::size_t at = text.find(sep, start);
    parts.push_back(text.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) break;
    start = at + 1;
  }
  return parts;
}

// The value of a positive decimal integer below 2^31; -1 for anything else.
inline std::int64_t parse_positive(const std::string& text) {
  if (text.empty() || text.size() > 10) return -1;
  for (char ch : text)
    if (ch < '0' || ch > '9') return -1;
  const std::int64_t value = std::stoll(text);
  return value >= 1 && value <= std::numeric_limits<int>::max() ? value : -1;
}

// "n:m:v" (or "n:m", v = 1): an N:M pattern (k and cols left 0), checked by check_nm_layout; one
// InputError naming the flag otherwise.
inline NMLayout parse_nm_pattern(const std::string& flag, const std::string& text) {
  const std::vector<std::string> parts = split(text, ':');
  bool numbers = parts.size() == 2 || parts.size() == 3;
  for (const std::string& part : parts) numbers = numbers && parse_positive(part) > 0;
  if (!numbers)
    throw InputError(cat(flag, ": '", text, "' is not n:m:v (keep n of every m rows, one choice per v columns); ",
                         "write e.g. 2:4, 16:32:32 or 8:32:32"));
  NMLayout layout{.k = 0,
                  .cols = 0,
                  .n = static_cast<int>(parse_positive(parts[0])),
                  .m = static_cast<int>(parse_positive(parts[1])),
                  .v = parts.size() == 3 ? static_cast<int>(parse_positive(parts[2])) : 1};
  try {
    check_nm_layout(layout);
  } catch (const InputError& e) {
    throw InputError(cat(flag, " '", text, "': ", e.what()));
  }
  return layout;
}

}  // namespace meridian::cli
