// The command-line conventions every Meridian app shares: --config FILE (TOML/INI with the same
// option names), defaults shown in --help, --help printed once (by rank 0 under a launcher), and
// parse errors turned into one InputError that run_main reports cleanly.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdio>

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

}  // namespace meridian::cli
