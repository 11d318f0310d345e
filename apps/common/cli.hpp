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

#include "kernels/common/error.hpp"

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
    if (process_identity().rank <= 0) std::printf("%s", app.help().c_str());
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

}  // namespace meridian::cli
