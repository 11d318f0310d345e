// libFuzzer target for every trace reader of lib/trace: the first byte picks the reader, the rest is
// the file's content. A reader must return or throw meridian::InputError; anything else (another
// exception, a crash, a sanitizer report) is a finding. Built and run by tests/fuzz/run.sh.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "kernels/common/error.hpp"
#include "trace/readers.hpp"

namespace {

// The file each input is written to: in MERIDIAN_FUZZ_SCRATCH (run.sh gives its work folder and
// removes the files there afterwards), else in /tmp.
const std::string& scratch_path() {
  static const std::string path = [] {
    const char* dir = std::getenv("MERIDIAN_FUZZ_SCRATCH");
    return std::string(dir != nullptr ? dir : "/tmp") + "/meridian_fuzz_trace_" + std::to_string(::getpid());
  }();
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace meridian::trace;
  if (size == 0) return 0;
  const std::string& path = scratch_path();
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) std::abort();
  std::fwrite(data + 1, 1, size - 1, f);
  std::fclose(f);
  try {
    switch (data[0] % 8) {
      case 0: read_burstgpt_csv(path); break;
      case 1: read_azure_csv(path); break;
      case 2: read_jsonl(path); break;
      case 3: read_throughput_table(path); break;
      case 4: read_rtt_table(path); break;
      case 5: read_bandwidth_csv(path); break;
      case 6: read_failure_csv(path); break;
      default: read_job_table(path); break;
    }
  } catch (const meridian::InputError&) {
    // the expected outcome for malformed input
  }
  return 0;
}
