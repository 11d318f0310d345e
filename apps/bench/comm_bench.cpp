// comm_bench: bus bandwidth of Meridian's collectives in the manner of nccl-tests (one flag set,
// one table per collective, exact #wrong from an untimed check), next to the same call made
// straight to MPI on the same buffers. Sizes are bytes of the larger buffer; output on rank 0.
#include <mpi.h>
#include <unistd.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "comm/communicator.hpp"
#include "common/cli.hpp"
#include "comm/mpi_communicator.hpp"
#include "comm/process_mesh.hpp"
#include "comm/wan_communicator.hpp"
#include "comm_bench.hpp"
#include "core/error.hpp"
#include "core/results.hpp"
#include "core/runtime.hpp"
#include "core/tensor.hpp"

namespace meridian::bench {
namespace {

struct Options {
  std::string min_bytes_text = "8";
  std::string max_bytes_text = "32M";
  std::int64_t min_bytes = 8;
  std::int64_t max_bytes = std::int64_t{32} << 20;
  int step_factor = 2;
  int iters = 20;
  int warmup_iters = 5;
  int rounds = 5;
  int check = 1;
  std::string ops = "all_reduce";
  std::string dtype_name = "f32";
  std::string redop_name = "sum";
  std::string backend_name = "mpi";
  int nonblocking = 0;
  int raw = 1;
  int root = 0;
  std::string json_path;
  std::string out_dir;
  int threads = 0;
  // The group the collectives run in: the whole world, or every group of one kind of a
  // DP×TP×PP mesh at once (e.g. --tp 2 --group tp: all TP pairs concurrently).
  std::string group = "world";
  int dp = 0;  // 0: world / (tp·pp)
  int tp = 1;
  int pp = 1;
  int dcs = 1;
  std::string dc_map;
  int ranks_per_node = 0;
  // WAN emulation between the data centers (--bandwidth, --latency, --link-trace, --regions, --region-tables).
  LinkOptions link;

  // Parsed from the text fields.
  std::vector<Collective> collectives;
  DType dtype = DType::f32;
  ReduceOp redop = ReduceOp::sum;
  CommBackend backend = CommBackend::mpi;
};

std::vector<Collective> parse_collectives(const std::string& text) {
  if (text == "all") return {std::begin(all_collectives), std::end(all_collectives)};
  std::vector<Collective> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = text.find(',', start);
    const std::string name = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    bool found = false;
    for (Collective c : all_collectives)
      if (name == collective_name(c)) {
        out.push_back(c);
        found = true;
      }
    MERIDIAN_INPUT_CHECK(found, "-o/--op: unknown collective '", name,
                         "'; use all_reduce, all_gather, reduce_scatter, broadcast, sendrecv, a comma list of "
                         "them, or all");
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// Everything that does not need MPI; the same verdict on every rank.
void finish_parsing(Options& o) {
  o.min_bytes = cli::parse_bytes("-b/--minbytes", o.min_bytes_text);
  o.max_bytes = cli::parse_bytes("-e/--maxbytes", o.max_bytes_text);
  MERIDIAN_INPUT_CHECK(o.min_bytes <= o.max_bytes, "-b/--minbytes (", o.min_bytes, ") is larger than -e/--maxbytes (",
                       o.max_bytes, ")");
  MERIDIAN_INPUT_CHECK(o.step_factor >= 2, "-f/--stepfactor must be >= 2, got ", o.step_factor);
  MERIDIAN_INPUT_CHECK(o.iters >= 1, "-n/--iters must be >= 1, got ", o.iters);
  MERIDIAN_INPUT_CHECK(o.warmup_iters >= 0, "-w/--warmup_iters must be >= 0, got ", o.warmup_iters);
  MERIDIAN_INPUT_CHECK(o.rounds >= 1, "--rounds must be >= 1, got ", o.rounds);
  o.collectives = parse_collectives(o.ops);
  // The library's parsers explain the accepted values; the flag is added here.
  const auto with_flag = [](const char* flag, auto&& parse) {
    try {
      return parse();
    } catch (const InputError& e) {
      throw InputError(cat(flag, ": ", e.what()));
    }
  };
  o.dtype = with_flag("-d/--dtype", [&] { return parse_dtype(o.dtype_name); });
  o.redop = with_flag("-r/--redop", [&] { return parse_reduce_op(o.redop_name); });
  o.backend = with_flag("--backend", [&] { return parse_comm_backend(o.backend_name); });
  MERIDIAN_INPUT_CHECK(o.group == "world" || o.group == "tp" || o.group == "dp" || o.group == "pp" ||
                           o.group == "node" || o.group == "dc",
                       "--group: '", o.group, "' is not one of world, tp, dp, pp, node, dc");
  MERIDIAN_INPUT_CHECK(o.redop != ReduceOp::avg || dtype_is_floating(o.dtype), "-r/--redop avg needs a floating "
                       "-d/--dtype (f32, f64, bf16, f16), got ", dtype_name(o.dtype));
}

std::vector<std::int64_t> sizes_of(const Options& o) {
  std::vector<std::int64_t> sizes;
  for (std::int64_t s = o.min_bytes; s <= o.max_bytes; s *= o.step_factor) {
    sizes.push_back(s);
    if (s == 0 || s > o.max_bytes / o.step_factor) break;
  }
  return sizes;
}

nlohmann::json options_json(const Options& o) {
  return {{"minbytes", o.min_bytes}, {"maxbytes", o.max_bytes}, {"stepfactor", o.step_factor},
          {"iters", o.iters},        {"warmup_iters", o.warmup_iters}, {"rounds", o.rounds},
          {"check", o.check},        {"op", o.ops},               {"dtype", o.dtype_name},
          {"redop", o.redop_name},   {"backend", o.backend_name}, {"nonblocking", o.nonblocking},
          {"raw", o.raw},            {"root", o.root},            {"json", o.json_path},
          {"out", o.out_dir},        {"threads", o.threads},      {"group", o.group},
          {"dp", o.dp},              {"tp", o.tp},                {"pp", o.pp},
          {"dcs", o.dcs},            {"dc_map", o.dc_map},        {"ranks_per_node", o.ranks_per_node},
          {"bandwidth", o.link.bandwidth}, {"latency", o.link.latency}, {"link_trace", o.link.link_trace},
          {"regions", o.link.regions}, {"region_tables", o.link.region_tables}};
}

std::string human_bytes(std::int64_t b) {
  if (b >= (std::int64_t{1} << 30) && b % (std::int64_t{1} << 30) == 0) return cat(b >> 30, " GiB");
  if (b >= (std::int64_t{1} << 20) && b % (std::int64_t{1} << 20) == 0) return cat(b >> 20, " MiB");
  if (b >= 1024 && b % 1024 == 0) return cat(b >> 10, " KiB");
  return cat(b, " B");
}

// Rank 0's printf.
template <class... Args>
void out(int rank, const char* format, Args... args) {
  if (rank != 0) return;
  std::printf(format, args...);
}

void print_ranks(MPI_Comm world, const std::string& device) {
  int rank = 0, size = 1;
  MPI_CHECK(MPI_Comm_rank(world, &rank));
  MPI_CHECK(MPI_Comm_size(world, &size));
  char host[64] = {};
  gethostname(host, sizeof(host) - 1);
  char line[160] = {};
  std::snprintf(line, sizeof(line), "#   rank %3d  pid %7d  host %-20s  device %s", rank, static_cast<int>(getpid()),
                host, device.c_str());
  std::vector<char> all(rank == 0 ? sizeof(line) * static_cast<std::size_t>(size) : 1);
  MPI_CHECK(MPI_Gather(line, sizeof(line), MPI_CHAR, all.data(), sizeof(line), MPI_CHAR, 0, world));
  if (rank == 0)
    for (int r = 0; r < size; ++r) std::printf("%s\n", all.data() + sizeof(line) * static_cast<std::size_t>(r));
}

Communicator& group_of(ProcessMesh& mesh, const std::string& name) {
  if (name == "tp") return mesh.tp();
  if (name == "dp") return mesh.dp();
  if (name == "pp") return mesh.pp();
  if (name == "node") return mesh.node();
  if (name == "dc") return mesh.dc();
  return mesh.world();
}

struct Row {
  Collective collective;
  Case c;
  Timing timing;
  std::int64_t wrong = -1;  // over all ranks; -1 = not checked
  double algbw_gbps = 0, busbw_gbps = 0, raw_busbw_gbps = -1, ratio = -1;
  double link_gbps = -1, wan_gbps = -1;  // WAN emulation: configured and achieved inter-DC bandwidth
};

// The inter-DC bandwidth a WAN-emulated operation achieved: the bytes it puts on the slowest link,
// over its time less the latencies it pays in sequence (broadcast and sendrecv: one message;
// all_reduce: the leaders' ring, 2(K-1) steps of size/K). -1 for the gathers, whose emulation does
// not follow one simple pattern.
double wan_achieved_bps(Collective c, std::int64_t bytes, double time_s, const LinkModel& links) {
  const int k = links.dcs();
  double wire_bytes = -1, latencies = 0;
  if (c == Collective::broadcast || c == Collective::sendrecv) {
    wire_bytes = static_cast<double>(bytes);
    latencies = 1;
  } else if (c == Collective::all_reduce) {
    wire_bytes = static_cast<double>(bytes) * 2.0 * (k - 1) / k;
    latencies = 2.0 * (k - 1);
  }
  const double moving_s = time_s - latencies * links.max_latency_s();
  return wire_bytes > 0 && moving_s > 0 ? 8.0 * wire_bytes / moving_s : -1;
}

int run(const Options& o, const Runtime& runtime, const std::vector<std::string>& command_line) {
  // The mesh validates --dp/--tp/--pp/--dcs/--dc-map/--ranks-per-node against the world size
  // (InputError on every rank alike); its MPI communicator of the chosen group is the base of ours.
  MeshOptions mesh_options;
  mesh_options.shape = {.dp = o.dp, .tp = o.tp, .pp = o.pp};
  mesh_options.dcs = o.dcs;
  mesh_options.dc_map = o.dc_map;
  mesh_options.ranks_per_node = o.ranks_per_node;
  ProcessMesh mesh(MPI_COMM_WORLD, mesh_options);
  const MPI_Comm base = static_cast<MpiCommunicator&>(group_of(mesh, o.group)).mpi_comm();
  const int printer = runtime.world_rank();  // rank 0 of the world prints
  int rank = 0, ranks = 1;                     // within the group
  MPI_CHECK(MPI_Comm_rank(base, &rank));
  MPI_CHECK(MPI_Comm_size(base, &ranks));
  int smallest_group = ranks;
  MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &smallest_group, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD));
  MERIDIAN_INPUT_CHECK(o.group == "world" || smallest_group == ranks,
                       "--group ", o.group, ": the groups of ", mesh.layout().describe(),
                       " differ in size; choose options that give every group the same size");
  MERIDIAN_INPUT_CHECK(o.group == "world" || ranks >= 2, "--group ", o.group, " has 1 rank per group in ",
                       mesh.layout().describe(), "; nothing to measure: choose a layout where that group has 2 or "
                       "more ranks");
  MERIDIAN_INPUT_CHECK(o.root >= 0 && o.root < ranks, "--root ", o.root, " is not a rank of the group (0..", ranks - 1,
                       ")");
  const bool wan = o.link.any();
  MERIDIAN_INPUT_CHECK(!wan || (o.group == "world" && o.backend == CommBackend::mpi && mesh.layout().num_dcs() > 1),
                       "--bandwidth/--regions/--link-trace emulate WAN links between data centers: they need "
                       "--dcs N or --dc-map with at least 2 data centers, --group world and --backend mpi");
  std::unique_ptr<Communicator> comm;
  const LinkModel* links = nullptr;
  if (wan) {
    auto w = std::make_unique<WanCommunicator>(base, mesh.layout().dc_of_rank(),
                                               make_link_model(o.link, mesh.layout().num_dcs()));
    links = &w->links();
    comm = std::move(w);
  } else {
    comm = make_communicator(o.backend, base);
  }
  const bool with_raw = o.raw != 0 && o.backend == CommBackend::mpi && !wan;
  MPI_Comm raw_comm = MPI_COMM_NULL, timing_comm = MPI_COMM_NULL;
  MPI_CHECK(MPI_Comm_dup(base, &raw_comm));
  MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &timing_comm));
  const Device device = comm->device();

  RunInfo info;
  info.app = "comm_bench";
  info.config = options_json(o);
  info.command_line = command_line;
  info.device = device_name(device);
  info.threads = runtime.threads();
  ResultsDir results(o.out_dir, info, MPI_COMM_WORLD);
  results.open_metrics({"collective", "backend", "nonblocking", "group", "ranks", "bytes", "count", "dtype", "redop",
                        "time_us", "algbw_gbps", "busbw_gbps", "wrong", "raw_time_us", "raw_busbw_gbps",
                        "ratio_ours_raw", "iters", "rounds", "link_gbps", "wan_gbps"});

  // Buffers for the largest case of any collective: max_bytes elements of send and recv.
  const std::int64_t max_elements = o.max_bytes / static_cast<std::int64_t>(dtype_size(o.dtype)) + 1;
  Tensor send = Tensor::empty({max_elements}, o.dtype, device);
  Tensor recv = Tensor::empty({max_elements}, o.dtype, device);
  fill_check_values(send, rank, ranks);
  fill_check_values(recv, rank, ranks);

  out(printer, "# comm_bench: Meridian collectives, nccl-tests style, %s\n",
      with_raw ? "next to the same call made straight to MPI" : "(no raw MPI comparison)");
  out(printer, "# ranks %d, backend %s, %s calls, dtype %s, redop %s, sizes %s .. %s x%d, %d iterations x %d rounds, "
            "%d warm-up, check %s\n",
      ranks, o.backend_name.c_str(), o.nonblocking ? "non-blocking (issue, then wait)" : "blocking",
      o.dtype_name.c_str(), o.redop_name.c_str(), human_bytes(o.min_bytes).c_str(), human_bytes(o.max_bytes).c_str(),
      o.step_factor, o.iters, o.rounds, o.warmup_iters, o.check ? "on" : "off");
  if (o.group != "world")
    out(printer, "# group %s: %d groups of %d ranks, all measured at once; mesh %s\n", o.group.c_str(),
        runtime.world_size() / ranks, ranks, mesh.layout().describe().c_str());
  if (wan)
    out(printer, "# WAN emulation: %s; link_Gbps: configured bandwidth of the slowest inter-DC link at time 0; "
              "wan_Gbps: bytes on that link x 8 / (time - latencies in sequence); wan/link: their ratio\n",
        links->describe().c_str());
  print_ranks(MPI_COMM_WORLD, device_name(device));
  out(printer, "#\n# time_us: mean over the %d iterations of a round on each rank, then MAX over ranks, then the median "
            "of %d rounds\n", o.iters, o.rounds);
  out(printer, "# size: bytes of the larger buffer; count: its elements; algbw = size / time; busbw = algbw x "
            "(all_reduce 2(n-1)/n; all_gather, reduce_scatter (n-1)/n; broadcast, sendrecv 1); GB/s = 1e9 B/s\n");
  if (with_raw)
    out(printer, "# raw_*: the same operation as one direct MPI call (MPI_Allreduce, ...; avg = MPI_SUM without the "
              "division) on the same buffers, timed in rounds alternating with ours; ours/raw = median over rounds of raw time / our "
              "time in that round (= busbw ours / raw)\n");
  out(printer, "# #wrong: elements differing from the closed-form result in a separate untimed pass, summed over "
            "ranks\n");

  TimingOptions timing;
  timing.warmup_iters = o.warmup_iters;
  timing.iters = o.iters;
  timing.rounds = o.rounds;
  timing.nonblocking = o.nonblocking != 0;
  timing.with_raw = with_raw;

  std::vector<Row> rows;
  for (Collective collective : o.collectives) {
    const bool reduces = collective == Collective::all_reduce || collective == Collective::reduce_scatter;
    out(printer, "#\n# %s%s\n", std::string(collective_name(collective)).c_str(),
        collective == Collective::broadcast ? cat(" (root ", o.root, ")").c_str() : "");
    out(printer, "# %12s %12s %5s %6s %11s %11s %11s %7s", "size", "count", "type", "redop", "time_us", "algbw_GBps",
        "busbw_GBps", "#wrong");
    if (with_raw) out(printer, " %11s %11s %9s", "raw_time_us", "raw_busbw", "ours/raw");
    if (wan) out(printer, " %9s %9s %8s", "link_Gbps", "wan_Gbps", "wan/link");
    out(printer, "\n");
    for (std::int64_t bytes : sizes_of(o)) {
      Row row;
      row.collective = collective;
      row.c = make_case(collective, bytes, o.dtype, o.redop, ranks, o.root);
      // Untimed check first, then restore ordinary inputs for timing.
      if (o.check) {
        std::int64_t wrong = check_case(*comm, row.c, send, recv, o.nonblocking != 0, o.backend == CommBackend::nccl);
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &wrong, 1, MPI_INT64_T, MPI_SUM, timing_comm));
        row.wrong = wrong;
      }
      row.timing = time_case(*comm, raw_comm, timing_comm, row.c, send.raw_data(), recv.raw_data(), timing);
      const double seconds = row.timing.time_us * 1e-6;
      row.algbw_gbps = seconds > 0 ? static_cast<double>(row.c.bytes) / seconds / 1e9 : 0;
      row.busbw_gbps = row.algbw_gbps * busbw_factor(collective, ranks);
      if (row.timing.raw_time_us >= 0) {
        const double raw_seconds = row.timing.raw_time_us * 1e-6;
        row.raw_busbw_gbps =
            raw_seconds > 0 ? static_cast<double>(row.c.bytes) / raw_seconds / 1e9 * busbw_factor(collective, ranks) : 0;
        row.ratio = row.timing.ratio;
      }
      if (wan) {
        row.link_gbps = links->min_bandwidth_at(0) / 1e9;
        const double achieved = wan_achieved_bps(collective, row.c.bytes, seconds, *links);
        row.wan_gbps = achieved > 0 ? achieved / 1e9 : -1;
      }
      const std::string redop = reduces ? std::string(reduce_op_name(o.redop)) : "none";
      const std::string wrong_text = row.wrong < 0 ? "N/A" : std::to_string(row.wrong);
      out(printer, "  %12lld %12lld %5s %6s %11.2f %11.3f %11.3f %7s", static_cast<long long>(row.c.bytes),
          static_cast<long long>(row.c.elements()), o.dtype_name.c_str(), redop.c_str(), row.timing.time_us,
          row.algbw_gbps, row.busbw_gbps, wrong_text.c_str());
      if (with_raw) {
        if (row.timing.raw_time_us >= 0) {
          out(printer, " %11.2f %11.3f %9.3f", row.timing.raw_time_us, row.raw_busbw_gbps, row.ratio);
        } else {
          out(printer, " %11s %11s %9s", "-", "-", "-");
        }
      }
      if (wan) {
        if (row.wan_gbps > 0) {
          out(printer, " %9.4f %9.4f %8.3f", row.link_gbps, row.wan_gbps, row.wan_gbps / row.link_gbps);
        } else {
          out(printer, " %9.4f %9s %8s", row.link_gbps, "-", "-");
        }
      }
      out(printer, "\n");
      if (printer == 0) std::fflush(stdout);
      auto maybe = [](double x) -> CsvValue { return x >= 0 ? CsvValue{x} : CsvValue{std::string()}; };
      results.metrics_row({std::string(collective_name(collective)), o.backend_name, std::int64_t{o.nonblocking},
                           o.group, std::int64_t{ranks}, row.c.bytes, row.c.elements(), o.dtype_name, redop,
                           row.timing.time_us, row.algbw_gbps, row.busbw_gbps,
                           row.wrong < 0 ? CsvValue{std::string("N/A")} : CsvValue{row.wrong},
                           maybe(row.timing.raw_time_us), maybe(row.raw_busbw_gbps), maybe(row.ratio),
                           std::int64_t{o.iters}, std::int64_t{o.rounds}, maybe(row.link_gbps), maybe(row.wan_gbps)});
      rows.push_back(row);
    }
  }

  // Summary: average bus bandwidth, the all_reduce target, verification.
  double busbw_sum = 0;
  std::int64_t wrong_total = 0;
  bool checked = false;
  double min_ratio_1mib = std::numeric_limits<double>::infinity();
  double wan_low = std::numeric_limits<double>::infinity(), wan_high = 0;  // achieved / configured, >= 1 MiB
  double wan_ar_low = std::numeric_limits<double>::infinity(), wan_ar_high = 0;
  nlohmann::json records = nlohmann::json::array();
  for (const Row& row : rows) {
    busbw_sum += row.busbw_gbps;
    if (row.wrong >= 0) {
      wrong_total += row.wrong;
      checked = true;
    }
    if (row.collective == Collective::all_reduce && row.c.bytes >= (std::int64_t{1} << 20) && row.ratio >= 0)
      min_ratio_1mib = std::min(min_ratio_1mib, row.ratio);
    if (row.wan_gbps > 0 && row.c.bytes >= (std::int64_t{1} << 20)) {
      // The link itself: one message per link (broadcast, sendrecv). An all-reduce also spends time on
      // its local reductions between the ring's steps; it is reported apart.
      const bool link_only = row.collective != Collective::all_reduce;
      double& low = link_only ? wan_low : wan_ar_low;
      double& high = link_only ? wan_high : wan_ar_high;
      low = std::min(low, row.wan_gbps / row.link_gbps);
      high = std::max(high, row.wan_gbps / row.link_gbps);
    }
    nlohmann::json record = {{"collective", collective_name(row.collective)},
                             {"backend", o.backend_name},
                             {"nonblocking", o.nonblocking != 0},
                             {"group", o.group},
                             {"ranks", ranks},
                             {"bytes", row.c.bytes},
                             {"count", row.c.elements()},
                             {"dtype", o.dtype_name},
                             {"redop", o.redop_name},
                             {"time_us", row.timing.time_us},
                             {"algbw_gbps", row.algbw_gbps},
                             {"busbw_gbps", row.busbw_gbps},
                             {"wrong", row.wrong < 0 ? nlohmann::json() : nlohmann::json(row.wrong)}};
    if (row.wan_gbps > 0) {
      record["link_gbps"] = row.link_gbps;
      record["wan_gbps"] = row.wan_gbps;
    }
    if (row.timing.raw_time_us >= 0) {
      record["raw_time_us"] = row.timing.raw_time_us;
      record["raw_busbw_gbps"] = row.raw_busbw_gbps;
      record["ratio_ours_raw"] = row.ratio;
    }
    records.push_back(record);
  }
  const double avg_busbw = rows.empty() ? 0 : busbw_sum / static_cast<double>(rows.size());
  out(printer, "#\n# Wrong elements       : %s\n", checked ? std::to_string(wrong_total).c_str() : "not checked");
  out(printer, "# Avg bus bandwidth    : %.3f GB/s (mean over the %zu rows above)\n", avg_busbw, rows.size());
  const bool have_ratio = std::isfinite(min_ratio_1mib);
  if (have_ratio)
    out(printer, "# all_reduce >= 1 MiB  : lowest busbw ours/raw MPI %.3f (target >= 0.95: %s)\n", min_ratio_1mib,
        min_ratio_1mib >= 0.95 ? "met" : "NOT met");
  const bool have_wan = std::isfinite(wan_low);
  if (have_wan)
    out(printer, "# WAN >= 1 MiB         : achieved / configured inter-DC bandwidth of broadcast and sendrecv %.3f .. "
              "%.3f (target within 0.95 .. 1.05: %s)\n",
        wan_low, wan_high, wan_low >= 0.95 && wan_high <= 1.05 ? "met" : "NOT met");
  if (std::isfinite(wan_ar_low))
    out(printer, "# WAN all_reduce       : %.3f .. %.3f of the link (its local reductions between ring steps "
              "included)\n", wan_ar_low, wan_ar_high);
  if (checked) {
    out(printer, "# verification: %s, %lld wrong elements in %zu checked results\n", wrong_total ? "FAIL" : "PASS",
        static_cast<long long>(wrong_total), rows.size());
  } else {
    out(printer, "# verification: not checked (-c 0)\n");
  }
  if (printer == 0) std::fflush(stdout);

  nlohmann::json summary = {{"ranks", ranks},
                            {"group", o.group},
                            {"mesh", mesh.layout().describe()},
                            {"backend", o.backend_name},
                            {"avg_busbw_gbps", avg_busbw},
                            {"rows", rows.size()},
                            {"checked", checked},
                            {"wrong_total", wrong_total},
                            {"verified", checked && wrong_total == 0}};
  if (have_wan) {
    summary["wan_links"] = links->describe();
    summary["wan_ratio_low_ge_1MiB"] = wan_low;
    summary["wan_ratio_high_ge_1MiB"] = wan_high;
  }
  if (have_ratio) {
    summary["all_reduce_min_ratio_ours_raw_ge_1MiB"] = min_ratio_1mib;
    summary["all_reduce_ratio_target"] = 0.95;
  }
  results.write_summary(summary);
  if (!o.json_path.empty() && printer == 0)
    write_json_file(o.json_path, {{"app", "comm_bench"}, {"config", options_json(o)}, {"records", records},
                                  {"summary", summary}});

  comm.reset();
  MPI_CHECK(MPI_Comm_free(&raw_comm));
  MPI_CHECK(MPI_Comm_free(&timing_comm));
  return checked && wrong_total > 0 ? 1 : 0;
}

}  // namespace
}  // namespace meridian::bench

int main(int argc, char** argv) {
  using namespace meridian;
  using bench::Options;
  const std::vector<std::string> command_line(argv, argv + argc);
  return run_main([&]() -> int {
    Options o;
    CLI::App app{"comm_bench: bus bandwidth of Meridian's collectives (nccl-tests style), next to raw MPI.\n"
                 "Run under mpirun/srun; human output on rank 0."};
    cli::configure(app);
    app.add_option("-b,--minbytes", o.min_bytes_text, "Smallest size in bytes (K, M, G suffixes)");
    app.add_option("-e,--maxbytes", o.max_bytes_text, "Largest size in bytes (K, M, G suffixes)");
    app.add_option("-f,--stepfactor", o.step_factor, "Multiply the size by this between rows");
    app.add_option("-n,--iters", o.iters, "Timed iterations per round");
    app.add_option("-w,--warmup_iters", o.warmup_iters, "Untimed iterations before timing each size");
    app.add_option("--rounds", o.rounds, "Timed rounds per size (median reported; ours and raw alternate)");
    app.add_option("-c,--check", o.check, "Check results in a separate untimed pass (0 or 1)")->check(CLI::Range(0, 1));
    app.add_option("-o,--op", o.ops, "all_reduce, all_gather, reduce_scatter, broadcast, sendrecv, a comma list, or all");
    app.add_option("-d,--dtype", o.dtype_name, "f32, f64, bf16, f16, i32, i64, u8");
    app.add_option("-r,--redop", o.redop_name, "sum, avg, max, min");
    app.add_option("--backend", o.backend_name, "mpi (host buffers) or nccl (device buffers)");
    app.add_option("--nonblocking", o.nonblocking, "Use the non-blocking calls: issue, then wait (0 or 1)")
        ->check(CLI::Range(0, 1));
    app.add_option("--raw", o.raw, "Also time the same call made straight to MPI (0 or 1; mpi backend)")
        ->check(CLI::Range(0, 1));
    app.add_option("--root", o.root, "Root rank of broadcast");
    app.add_option("--json", o.json_path, "Write every measurement to this JSON file (rank 0)");
    app.add_option("--out", o.out_dir, "Results directory: run.json, metrics.csv, summary.json");
    app.add_option("--threads", o.threads, "Compute threads per rank (0: automatic)");
    app.add_option("--group", o.group, "Where the collectives run: world, or every tp, dp, pp, node or dc group at once");
    app.add_option("--dp", o.dp, "Data-parallel size of the mesh (0: world / (tp·pp))");
    app.add_option("--tp", o.tp, "Tensor-parallel size of the mesh (innermost: consecutive ranks)");
    app.add_option("--pp", o.pp, "Pipeline-parallel size of the mesh (outermost)");
    app.add_option("--dcs", o.dcs, "Data centers: this many contiguous blocks of ranks");
    app.add_option("--dc-map", o.dc_map, "Data center of every rank, e.g. 0,0,1,1 (instead of --dcs)");
    app.add_option("--ranks-per-node", o.ranks_per_node, "Emulated nodes of this many consecutive ranks (0: real nodes)");
    app.add_option("--bandwidth", o.link.bandwidth, "Emulate WAN links of this bandwidth between the data centers (100Mbit, 1Gbit)");
    app.add_option("--latency", o.link.latency, "One-way latency of the emulated WAN links (30ms)");
    app.add_option("--link-trace", o.link.link_trace, "CSV time_s,bandwidth_bps: the WAN links' bandwidth over time");
    app.add_option("--regions", o.link.regions, "Data center i in region i (aws:us-east-1,gcp:europe-west4-a); needs --region-tables");
    app.add_option("--region-tables", o.link.region_tables, "Folder with inter_region_throughput.csv and inter_region_rtt.csv");
    if (!cli::parse(app, argc, argv)) return 0;
    if (o.link.any()) {  // paced transfers take real time: fewer repetitions unless asked for
      if (app.count("--iters") == 0) o.iters = 1;
      if (app.count("--warmup_iters") == 0) o.warmup_iters = 1;
      if (app.count("--rounds") == 0) o.rounds = 3;
    }
    bench::finish_parsing(o);
    RuntimeOptions runtime_options;
    runtime_options.threads = o.threads;
    Runtime runtime(argc, argv, runtime_options);
    return bench::run(o, runtime, command_line);
  });
}
