// libFuzzer target for the parsers of user files and text outside the trace readers: the first byte
// picks the parser, the rest is its input (some parsers take one more byte first, see below). A
// parser must return a value that keeps its documented promises or throw meridian::InputError with
// a message; anything else (another exception, a broken promise, a crash, a hang, a sanitizer report)
// is a finding. Built and run by tests/fuzz/run.sh.
//
//   0  parse_bandwidth_bps          text
//   1  parse_duration_s             text
//   2  BandwidthSeries::read_csv    file
//   3  RegionTables::read           file: the throughput table (the RTT table is a fixed valid one)
//   4  RegionTables::read           file: the RTT table (the throughput table is a fixed valid one)
//   5  parse_data_center_map        byte 1: world size 1 + (byte % 64); then the text
//   6  read_token_file              file
//   7  documents_from_text          the first line is the separator, the rest the text
//   8  read_idx                     byte 1: expected dimensions (byte % 5); then the file (raw or gzip)
//   9  BandwidthModel::from_json    JSON text (tracegen generate --link-model)
//   10 WorkloadModel::from_json     JSON text (tracegen generate --workload), then 16 requests from it
//   11 Distribution::from_json      JSON text
//   12 the name parsers             byte 1 picks one (byte % 9): parse_dtype, parse_device,
//                                   parse_scheme, parse_reduce_op, parse_comm_backend,
//                                   parse_log_level, parse_family, parse_group_by,
//                                   parse_request_format; then the name
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "comm/communicator.hpp"
#include "comm/link_model.hpp"
#include "comm/mesh_layout.hpp"
#include "core/dtype.hpp"
#include "core/log.hpp"
#include "core/rng.hpp"
#include "core/tensor.hpp"
#include "data/idx.hpp"
#include "data/tokens.hpp"
#include "dist/sim/simulator.hpp"
#include "fuzz_scratch.hpp"
#include "kernels/common/error.hpp"
#include "trace/distributions.hpp"
#include "trace/fit.hpp"
#include "trace/generate.hpp"
#include "trace/readers.hpp"

namespace {

using namespace meridian;

using fuzz::write_file;
std::string scratch_path(const char* suffix) { return fuzz::scratch_path("inputs", suffix); }

// A broken promise of a parser that returned: reported as a crash, so libFuzzer keeps the input.
void require(bool ok, const char* promise) {
  if (ok) return;
  std::fprintf(stderr, "fuzz_inputs: a parser returned but broke its promise: %s\n", promise);
  std::abort();
}

// Draws a few values, as a generator would: a model that from_json accepted must be usable. (Extreme
// but finite parameters may overflow a draw to infinity; NaN is never a value.)
void use(const trace::Distribution& d, Rng& rng) {
  for (int i = 0; i < 4; ++i) require(!std::isnan(d.sample(rng)), "a distribution from JSON samples numbers");
  require(!std::isnan(d.quantile(0.5)), "a distribution from JSON has a median");
}

void parse_model_json(int which, std::string_view text) {
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception&) {
    return;  // tracegen's read_json turns every error of the JSON parser into an InputError
  }
  Rng rng(1, stream_id(StreamPurpose::test));
  if (which == 9) {
    const trace::BandwidthModel m = trace::BandwidthModel::from_json(json);
    require(m.mean_bps > 0 && std::isfinite(m.mean_bps) && m.step_s > 0 && std::isfinite(m.step_s),
            "a link model has a positive mean bandwidth and step");
  } else if (which == 10) {
    const trace::WorkloadModel m = trace::WorkloadModel::from_json(json);
    for (const trace::WorkloadClass& c : m.classes) {
      use(c.arrival.inter_arrival, rng);
      if (c.arrival.rescaled_inter_arrival) use(*c.arrival.rescaled_inter_arrival, rng);
      use(c.request_tokens, rng);
      use(c.response_tokens, rng);
      if (c.joint) c.joint->sample(rng);
    }
    if (!m.classes.empty()) {  // a few requests by count must come back, whatever the rates
      trace::ParametricOptions o;
      o.count = 16;
      const trace::RequestTrace t = trace::generate_parametric(m, o);
      require(t.size() == 16 && std::is_sorted(t.time_s.begin(), t.time_s.end()),
              "generating 16 requests gives 16 in time order");
    }
  } else {
    use(trace::Distribution::from_json(json), rng);
  }
}

void parse_name(std::uint8_t which, std::string_view name) {
  switch (which % 9) {
    case 0: parse_dtype(name); break;
    case 1: {
      const Device d = parse_device(name);
      require(d.is_cpu() || d.index >= 0, "a CUDA device index is >= 0");
      break;
    }
    case 2: dist::parse_scheme(name); break;
    case 3: parse_reduce_op(name); break;
    case 4: parse_comm_backend(name); break;
    case 5: parse_log_level(name); break;
    case 6: trace::parse_family(std::string(name)); break;
    case 7: trace::parse_group_by(std::string(name)); break;
    default: trace::parse_request_format(name); break;
  }
}

void run(std::uint8_t selector, std::string_view in) {
  switch (selector % 13) {
    case 0: {
      const double bps = parse_bandwidth_bps(in, "--bandwidth");
      require(bps > 0 && std::isfinite(bps), "a bandwidth is positive and finite");
      break;
    }
    case 1: {
      const double s = parse_duration_s(in, "--latency");
      require(s >= 0 && std::isfinite(s), "a duration is >= 0 and finite");
      break;
    }
    case 2: {
      const std::string path = scratch_path(".csv");
      write_file(path, in);
      BandwidthSeries::read_csv(path);
      break;
    }
    case 3:
    case 4: {
      const std::string throughput = scratch_path(".throughput.csv"), rtt = scratch_path(".rtt.csv");
      const bool first = selector % 13 == 3;
      write_file(throughput, first ? in : "src_region,dst_region,throughput_gbps\na:x,b:y,1.5\nb:y,a:x,2\n");
      write_file(rtt, first ? "src_region,dst_region,rtt_ms_avg\na:x,b:y,30\nb:y,a:x,31\n" : in);
      const RegionTables tables = RegionTables::read(throughput, rtt);
      const std::vector<std::string> regions = tables.regions();
      for (std::size_t i = 0; i < regions.size() && i < 4; ++i)
        for (std::size_t j = 0; j < regions.size() && j < 4; ++j) {
          try {
            const double bps = tables.bandwidth_bps(regions[i], regions[j]);
            require(bps > 0 && std::isfinite(bps), "a table's bandwidth is positive and finite");
            const double latency = tables.latency_s(regions[i], regions[j]);
            require(latency > 0 && std::isfinite(latency), "a table's latency is positive and finite");
          } catch (const InputError&) {
            // a pair the table does not have
          }
        }
      break;
    }
    case 5: {
      if (in.empty()) return;
      const int world = 1 + static_cast<std::uint8_t>(in[0]) % 64;
      const std::vector<int> ids = parse_data_center_map(in.substr(1), world);
      require(static_cast<int>(ids.size()) == world, "a data-center map has one id per rank");
      for (int id : ids) require(id >= 0 && id < world, "data-center ids are 0..K-1 with K <= ranks");
      break;
    }
    case 6: {
      const std::string path = scratch_path(".bin");
      write_file(path, in);
      const data::TokenFile file = data::read_token_file(path);
      require(!file.tokens.empty() && file.vocab >= 1, "a token file has tokens and a vocabulary");
      for (std::uint16_t t : file.tokens) require(t < file.vocab, "every token is below the vocabulary size");
      break;
    }
    case 7: {
      const std::size_t newline = in.find('\n');
      const std::string_view separator = in.substr(0, newline);
      const std::string_view text = newline == std::string_view::npos ? "" : in.substr(newline + 1);
      for (const std::string& doc : data::documents_from_text(text, separator))
        require(doc.find_first_not_of(" \t\n\r\f\v") != std::string::npos, "documents are not blank");
      break;
    }
    case 8: {
      if (in.empty()) return;
      const int ndims = static_cast<std::uint8_t>(in[0]) % 5;
      const std::string path = scratch_path(".idx");
      write_file(path, in.substr(1));
      const data::IdxArray a = data::read_idx(path, ndims);
      require(!a.dims.empty() && a.bytes.size() == a.numel(), "an IDX array has its dimensions' bytes");
      require(ndims == 0 || a.dims.size() == static_cast<std::size_t>(ndims),
              "an IDX array has the dimensions asked for");
      break;
    }
    case 9:
    case 10:
    case 11: parse_model_json(selector % 13, in); break;
    default:
      if (in.empty()) return;
      parse_name(static_cast<std::uint8_t>(in[0]), in.substr(1));
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // MERIDIAN_FUZZ_SHOW=1 prints every outcome (to check that the seeds parse, and to read messages).
  static const bool show = std::getenv("MERIDIAN_FUZZ_SHOW") != nullptr;
  if (size == 0) return 0;
  try {
    run(data[0], std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  } catch (const meridian::InputError& e) {
    require(e.what()[0] != '\0', "an InputError says what is wrong");
    if (show) std::fprintf(stderr, "InputError: %s\n", e.what());
    return 0;
  }
  if (show) std::fprintf(stderr, "parsed\n");
  return 0;
}
