// The files a fuzz target writes each input to, for parsers that read from a path.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace meridian::fuzz {

// meridian_fuzz_<tag>_<pid><suffix> in MERIDIAN_FUZZ_SCRATCH (run.sh gives its work folder and
// removes meridian_fuzz_* there afterwards), else in /tmp.
inline std::string scratch_path(std::string_view tag, std::string_view suffix = {}) {
  const char* dir = std::getenv("MERIDIAN_FUZZ_SCRATCH");
  return std::string(dir != nullptr ? dir : "/tmp") + "/meridian_fuzz_" + std::string(tag) + "_" +
         std::to_string(::getpid()) + std::string(suffix);
}

// `bytes` as the whole content of `path`; aborts (a finding) when the file cannot be written.
inline void write_file(const std::string& path, std::string_view bytes) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) std::abort();
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
}

}  // namespace meridian::fuzz
