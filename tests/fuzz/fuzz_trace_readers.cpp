// libFuzzer target for every trace reader of lib/trace: the first byte picks the reader, the rest is
// the file's content. A reader must return or throw meridian::InputError; anything else (another
// exception, a crash, a sanitizer report) is a finding. Built and run by tests/fuzz/run.sh.
#include <cstdint>
#include <string>

#include "fuzz_scratch.hpp"
#include "kernels/common/error.hpp"
#include "trace/readers.hpp"

namespace {

// The file each input is written to.
const std::string& scratch_path() {
  static const std::string path = meridian::fuzz::scratch_path("trace");
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace meridian::trace;
  if (size == 0) return 0;
  const std::string& path = scratch_path();
  meridian::fuzz::write_file(path, {reinterpret_cast<const char*>(data) + 1, size - 1});
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
