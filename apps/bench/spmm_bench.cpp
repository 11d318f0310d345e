// spmm_bench: the N:M sparse SpMM kernel (kernels/cpu/nm_sparse.hpp) and, with --op, its training products
// against dense sgemm (OpenBLAS) on the same inputs, in the manner of the NM-SpMM reference suite, untimed check.
// Shapes as in the reference: C (M x N) = A (M x K) · B (K x N); B is the N:M sparse weight; dA (M x K), dC (M x N).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/cli.hpp"
#include "common/stats.hpp"
#include "core/error.hpp"
#include "core/ops.hpp"
#include "core/results.hpp"
#include "core/rng.hpp"
#include "core/runtime.hpp"
#include "core/tensor.hpp"
#include "core/timer.hpp"
#include "core/version.hpp"
#include "kernels/common/nm_layout.hpp"
#include "kernels/cpu/nm_sparse.hpp"
#include "kernels/cpu/ops.hpp"
#include "spmm_check.hpp"
#ifdef MERIDIAN_HAVE_CUDA
#include "spmm_bench_cuda.hpp"  // --device cuda
#endif

namespace meridian::bench {
namespace {

struct Shape3 {
  std::int64_t m = 0;  // rows of A and C (tokens)
  std::int64_t n = 0;  // columns of B and C (output features)
  std::int64_t k = 0;  // reduction dimension
};

struct Sparsity {
  int n = 0, m = 0, v = 1;  // keep n of every m rows; one choice per v columns
  std::string label() const { return cat(n, ":", m, ":", v); }
};

struct Options {
  std::string suite = "quick";
  std::string shapes_text;
  std::string sparsity_text = "16:32:32,12:32:32,8:32:32,4:32:32,2:4:1";
  int repeats = 5;
  int warmup = 1;
  int flush_mb = 0;  // 0: automatic (twice the last-level cache, at least 64 MiB)
  int check = 1;
  std::string device_name = "cpu";
  int threads = 0;
  std::uint64_t seed = 1234;
  std::string json_path;
  std::string csv_path;
  std::string out_dir;
  std::string op = "forward";  // forward | grad_a | grad_b | all

  // Parsed from the text fields.
  std::vector<std::string> ops;  // the products --op names, in table order
  std::vector<Shape3> shapes;
  std::vector<Sparsity> sparsities;
  std::int64_t flush_bytes = 0;
};

// The 20 (N, K) pairs of LLaMA layers used by the NM-SpMM reference, and its M values.
constexpr std::int64_t llama_pairs[][2] = {
    {2048, 5632},   {5632, 2048},   {4096, 11008},  {11008, 4096}, {4096, 12288}, {12288, 4096}, {5120, 13824},
    {13824, 5120},  {5120, 15360},  {15360, 5120},  {6656, 17920}, {17920, 6656}, {6656, 19968}, {19968, 6656},
    {8192, 22016},  {22016, 8192},  {8192, 24576},  {24576, 8192}, {4096, 4096},  {8192, 8192}};
constexpr std::int64_t full_rows[] = {256, 512, 1024, 2048, 4096};

// Quick suite for a small CPU: M ∈ {256, 512, 1024} × six pairs of the full suite scaled by 1/4 (the
// first four LLaMA pairs and both squares), 18 shapes; about a minute on 2 cores.
constexpr std::int64_t quick_pairs[][2] = {{512, 1408}, {1408, 512}, {1024, 2752},
                                           {2752, 1024}, {1024, 1024}, {2048, 2048}};
constexpr std::int64_t quick_rows[] = {256, 512, 1024};

using cli::parse_positive;
using cli::split;

std::vector<Shape3> parse_shapes(const std::string& text) {
  std::vector<Shape3> shapes;
  for (const std::string& item : split(text, ';')) {
    if (item.empty()) continue;  // a trailing ';'
    const std::vector<std::string> dims = split(item, ',');
    Shape3 s;
    if (dims.size() == 3) s = {parse_positive(dims[0]), parse_positive(dims[1]), parse_positive(dims[2])};
    MERIDIAN_INPUT_CHECK(dims.size() == 3 && s.m > 0 && s.n > 0 && s.k > 0, "--shapes: '", item,
                         "' is not M,N,K with three positive integers; write e.g. --shapes \"256,512,1024;512,1024,"
                         "1024\" (C (MxN) = A (MxK) · B (KxN))");
    shapes.push_back(s);
  }
  MERIDIAN_INPUT_CHECK(!shapes.empty(), "--shapes: no shape in '", text, "'; write e.g. --shapes \"256,512,1024\"");
  return shapes;
}

std::vector<Sparsity> parse_sparsities(const std::string& text) {
  std::vector<Sparsity> out;
  for (const std::string& item : split(text, ',')) {
    const NMLayout pattern = cli::parse_nm_pattern("--sparsity", item);
    out.push_back(Sparsity{.n = pattern.n, .m = pattern.m, .v = pattern.v});
  }
  return out;
}

// Size of the largest cache of CPU 0 from sysfs ("32768K"); glibc's sysconf reports nonsense on
// some VMs (320 MiB of L3 on the development VM), so it is only the fallback. 0 when unknown.
std::int64_t last_level_cache_bytes() {
  std::int64_t largest = 0;
  for (int i = 0; i < 8; ++i) {
    std::ifstream in(cat("/sys/devices/system/cpu/cpu0/cache/index", i, "/size"));
    std::int64_t value = 0;
    std::string unit;
    if (!(in >> value)) continue;
    in >> unit;
    const std::int64_t scale = unit == "K" ? 1024 : unit == "M" ? 1024 * 1024 : unit == "G" ? 1024 * 1024 * 1024 : 1;
    largest = std::max(largest, value * scale);
  }
  if (largest > 0) return largest;
  long bytes = -1;
#ifdef _SC_LEVEL3_CACHE_SIZE
  bytes = sysconf(_SC_LEVEL3_CACHE_SIZE);
#endif
  return bytes > 0 ? static_cast<std::int64_t>(bytes) : 0;
}

// The 1-minute load average ("2.13"), to show in the output whether something else shared the CPU.
std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string first;
  return in >> first ? first : std::string("unknown");
}

void finish_parsing(Options& o) {
  MERIDIAN_INPUT_CHECK(o.suite == "quick" || o.suite == "full", "--suite: '", o.suite,
                       "' is not a suite; use quick (scaled-down CPU subset) or full (the NM-SpMM reference's 100 "
                       "LLaMA shapes)");
  MERIDIAN_INPUT_CHECK(o.repeats >= 1, "--repeats must be >= 1, got ", o.repeats);
  MERIDIAN_INPUT_CHECK(o.warmup >= 0, "--warmup must be >= 0, got ", o.warmup);
  MERIDIAN_INPUT_CHECK(o.flush_mb >= 0 && o.flush_mb <= 65536, "--flush-mb must be in 0..65536 (0: automatic), got ",
                       o.flush_mb);
  MERIDIAN_INPUT_CHECK(o.threads >= 0, "--threads must be >= 0 (0: automatic), got ", o.threads);
  const Device device = parse_device(o.device_name);  // InputError for names that are no device
#ifdef MERIDIAN_HAVE_CUDA
  if (!device.is_cpu()) check_cuda_bench_options(o.device_name, o.op);  // runs in spmm_bench_cuda.cpp
#else
  MERIDIAN_INPUT_CHECK(device.is_cpu(), "--device ", o.device_name, ": this build has no CUDA backend (configure "
                       "with -DMERIDIAN_ENABLE_CUDA=ON); only --device cpu can be benchmarked");
#endif
  if (!o.shapes_text.empty()) {
    o.shapes = parse_shapes(o.shapes_text);
  } else if (o.suite == "full") {
    for (std::int64_t rows : full_rows)
      for (const auto& p : llama_pairs) o.shapes.push_back({rows, p[0], p[1]});
  } else {
    for (std::int64_t rows : quick_rows)
      for (const auto& p : quick_pairs) o.shapes.push_back({rows, p[0], p[1]});
  }
  o.sparsities = parse_sparsities(o.sparsity_text);
  MERIDIAN_INPUT_CHECK(o.op == "forward" || o.op == "grad_a" || o.op == "grad_b" || o.op == "all", "--op: '", o.op,
                       "' is not a product; use forward (C = A·B), grad_a (dA = dC·Bᵀ), grad_b (dB = Aᵀ·dC at the "
                       "kept positions) or all");
  o.ops = o.op == "all" ? std::vector<std::string>{"forward", "grad_a", "grad_b"} : std::vector<std::string>{o.op};
  o.flush_bytes = o.flush_mb > 0 ? std::int64_t{o.flush_mb} << 20
                                 : std::max<std::int64_t>(std::int64_t{64} << 20, 2 * last_level_cache_bytes());
}

nlohmann::json options_json(const Options& o) {
  nlohmann::json j = {{"suite", o.suite},       {"shapes", o.shapes_text}, {"sparsity", o.sparsity_text},
                      {"repeats", o.repeats},   {"warmup", o.warmup},      {"flush_mb", o.flush_mb},
                      {"flush_bytes", o.flush_bytes}, {"check", o.check},  {"device", o.device_name},
                      {"threads", o.threads},   {"seed", o.seed},          {"json", o.json_path},
                      {"csv", o.csv_path},      {"out", o.out_dir}};
  if (o.op != "forward") j["op"] = o.op;  // --op forward keeps the records of before the option
  return j;
}

// Whether the table, records and summary carry an `op` column (any run but a plain forward one).
bool with_op(const Options& o) { return o.op != "forward"; }

// ---- Timing: each call timed alone, after an untimed pass over a buffer larger than the LLC.

class CacheFlusher {
 public:
  explicit CacheFlusher(std::int64_t bytes) : data_(static_cast<std::size_t>(bytes / 8), 1.0) {}
  // Reads and writes every cache line of the buffer; the sum keeps the compiler from skipping it.
  void flush() {
    double s = 0;
    for (double& x : data_) {
      x += 1.0;
      s += x;
    }
    sink_ += s;
  }
  double sink() const { return sink_; }

 private:
  std::vector<double> data_;
  double sink_ = 0;
};

template <class Fn>
double time_once_us(Fn&& fn) {
  const WallTimer timer;
  fn();
  return timer.elapsed_us();
}

using stats::median;

// ---- One (shape, sparsity) case.

struct Row {
  std::string op = "forward";  // forward | grad_a | grad_b
  Shape3 shape;
  Sparsity sparsity;
  double sparse_us = 0, dense_us = 0;
  double sparse_tflops = 0, dense_tflops = 0;  // dense-equivalent: 2·M·N·K / time
  double speedup = 0;                          // dense time / sparse time
  double ideal = 0;                            // m / n
  double fraction_of_ideal = 0;                // speedup / ideal
  std::int64_t wrong = -1;                     // -1: not checked
};

struct Buffers {
  Tensor a, b_dense, b_pruned, values, index, c_sparse, c_dense;
  // The training products (allocated when --op asks for them): dC (M x N); dA (M x K) sparse and dense;
  // dvalues (kept_rows x N) and the dense weight gradient dB (K x N).
  Tensor dc, da_sparse, da_dense, dvalues, db_dense;
};

// Times `sparse` against `dense` (untimed check first, warm-up, then interleaved repeats after a cache flush)
// and fills the timing fields of `row`.
template <class Sparse, class Dense, class Check>
Row time_case(const Options& o, Row row, const Sparse& sparse, const Dense& dense, const Check& check,
              CacheFlusher& flusher) {
  const Shape3& s = row.shape;
  const Sparsity& sp = row.sparsity;
  // Untimed check pass (it is also the first warm-up).
  if (o.check) {
    sparse();
    dense();
    row.wrong = check();
  }
  for (int w = 0; w < o.warmup; ++w) {
    sparse();
    dense();
  }
  std::vector<double> sparse_us, dense_us;
  for (int r = 0; r < o.repeats; ++r) {
    // Alternate the order so that slow drift (clocks, neighbours) affects both alike.
    const bool sparse_first = r % 2 == 0;
    for (int pass = 0; pass < 2; ++pass) {
      flusher.flush();
      if ((pass == 0) == sparse_first) sparse_us.push_back(time_once_us(sparse));
      else dense_us.push_back(time_once_us(dense));
    }
  }
  row.sparse_us = median(sparse_us);
  row.dense_us = median(dense_us);
  const double flops = 2.0 * static_cast<double>(s.m) * static_cast<double>(s.n) * static_cast<double>(s.k);
  row.sparse_tflops = flops / (row.sparse_us * 1e-6) / 1e12;
  row.dense_tflops = flops / (row.dense_us * 1e-6) / 1e12;
  row.speedup = row.dense_us / row.sparse_us;
  row.ideal = static_cast<double>(sp.m) / sp.n;
  row.fraction_of_ideal = row.speedup / row.ideal;
  return row;
}

// The training products of one case: dA = dC·Bᵀ against sgemm dC (MxN)·Bᵀ (NxK), and dB at the kept positions
// = Aᵀ·dC against sgemm Aᵀ (KxM)·dC (MxN); both 2·M·N·K dense-equivalent FLOPs.
Row run_grad_case(const Options& o, const std::string& op, const Shape3& s, const Sparsity& sp,
                  const NMLayout& layout, Buffers& buf, CacheFlusher& flusher) {
  namespace kc = kernels::cpu;
  Row row;
  row.op = op;
  row.shape = s;
  row.sparsity = sp;
  if (op == "grad_a") {
    const auto sparse = [&] {
      kc::nm_spmm_grad_a(s.m, layout, 1.f, buf.dc.data<float>(), s.n, buf.values.data<float>(),
                         buf.index.data<std::uint8_t>(), 0.f, buf.da_sparse.data<float>(), s.k);
    };
    const auto dense = [&] {
      kc::gemm(kc::Trans::no, kc::Trans::yes, s.m, s.k, s.n, 1.f, buf.dc.data<float>(), s.n,
               buf.b_pruned.data<float>(), s.n, 0.f, buf.da_dense.data<float>(), s.k);
    };
    return time_case(o, row, sparse, dense, [&] {
    return check_spmm_grad_a(s.m, layout, buf.dc.data<float>(), buf.b_pruned.data<float>(), buf.values.data<float>(),
                             buf.index.data<std::uint8_t>(), buf.da_sparse.data<float>(), buf.da_dense.data<float>());
  }, flusher);
  }
  const auto sparse = [&] {
    kc::nm_spmm_grad_b(s.m, layout, 1.f, buf.a.data<float>(), s.k, buf.dc.data<float>(), s.n,
                       buf.index.data<std::uint8_t>(), 0.f, buf.dvalues.data<float>());
  };
  const auto dense = [&] {
    kc::gemm(kc::Trans::yes, kc::Trans::no, s.k, s.n, s.m, 1.f, buf.a.data<float>(), s.k, buf.dc.data<float>(), s.n,
             0.f, buf.db_dense.data<float>(), s.n);
  };
  return time_case(o, row, sparse, dense, [&] {
    return check_spmm_grad_b(s.m, layout, buf.a.data<float>(), buf.dc.data<float>(), buf.index.data<std::uint8_t>(),
                             buf.dvalues.data<float>(), buf.db_dense.data<float>());
  }, flusher);
}

Row run_case(const Options& o, const Shape3& s, const Sparsity& sp, Buffers& buf, CacheFlusher& flusher) {
  namespace kc = kernels::cpu;
  const NMLayout layout{.k = s.k, .cols = s.n, .n = sp.n, .m = sp.m, .v = sp.v};
  buf.values = Tensor::empty({layout.kept_rows(), s.n});
  buf.index = Tensor::empty({layout.kept_rows(), layout.col_vectors()}, DType::u8);
  buf.b_pruned = Tensor::empty({s.k, s.n});
  // Untimed: prune B by magnitude, compress, and the dense equivalent of what the kernel sees.
  kc::nm_select(buf.b_dense.data<float>(), s.n, layout, buf.index.data<std::uint8_t>());
  kc::nm_compress(buf.b_dense.data<float>(), s.n, layout, buf.index.data<std::uint8_t>(), buf.values.data<float>());
  kc::nm_decompress(layout, buf.values.data<float>(), buf.index.data<std::uint8_t>(), buf.b_pruned.data<float>(), s.n);

  const auto sparse = [&] {
    kc::nm_spmm(s.m, layout, 1.f, buf.a.data<float>(), s.k, buf.values.data<float>(), buf.index.data<std::uint8_t>(),
                0.f, buf.c_sparse.data<float>(), s.n);
  };
  const auto dense = [&] {
    kc::gemm(kc::Trans::no, kc::Trans::no, s.m, s.n, s.k, 1.f, buf.a.data<float>(), s.k, buf.b_pruned.data<float>(),
             s.n, 0.f, buf.c_dense.data<float>(), s.n);
  };

  Row row;
  row.shape = s;
  row.sparsity = sp;
  return time_case(o, row, sparse, dense, [&] {
    return check_spmm_forward(s.m, layout, buf.a.data<float>(), buf.b_pruned.data<float>(), buf.values.data<float>(),
                              buf.index.data<std::uint8_t>(), buf.c_sparse.data<float>(), buf.c_dense.data<float>())
        .wrong;
  }, flusher);
}

// Every product --op asks for on one (shape, sparsity): B pruned and compressed once, then one row per product.
std::vector<Row> run_ops(const Options& o, const Shape3& s, const Sparsity& sp, Buffers& buf, CacheFlusher& flusher) {
  std::vector<Row> out;
  for (const std::string& op : o.ops) {
    if (op == "forward") {
      out.push_back(run_case(o, s, sp, buf, flusher));  // prunes and compresses B
      continue;
    }
    if (out.empty()) {  // no forward row: prune and compress here (run_case does it otherwise)
      namespace kc = kernels::cpu;
      const NMLayout l{.k = s.k, .cols = s.n, .n = sp.n, .m = sp.m, .v = sp.v};
      buf.values = Tensor::empty({l.kept_rows(), s.n});
      buf.index = Tensor::empty({l.kept_rows(), l.col_vectors()}, DType::u8);
      buf.b_pruned = Tensor::empty({s.k, s.n});
      kc::nm_select(buf.b_dense.data<float>(), s.n, l, buf.index.data<std::uint8_t>());
      kc::nm_compress(buf.b_dense.data<float>(), s.n, l, buf.index.data<std::uint8_t>(), buf.values.data<float>());
      kc::nm_decompress(l, buf.values.data<float>(), buf.index.data<std::uint8_t>(), buf.b_pruned.data<float>(), s.n);
    }
    const NMLayout layout{.k = s.k, .cols = s.n, .n = sp.n, .m = sp.m, .v = sp.v};
    if (op == "grad_b") buf.dvalues = Tensor::empty({layout.kept_rows(), s.n});
    out.push_back(run_grad_case(o, op, s, sp, layout, buf, flusher));
  }
  return out;
}

using stats::geomean;

nlohmann::json row_json(const Row& r, bool op_column) {
  nlohmann::json j = {{"M", r.shape.m},
          {"N", r.shape.n},
          {"K", r.shape.k},
          {"sparsity", r.sparsity.label()},
          {"sparsity_fraction", 1.0 - static_cast<double>(r.sparsity.n) / r.sparsity.m},
          {"sparse_us", r.sparse_us},
          {"dense_us", r.dense_us},
          {"sparse_tflops", r.sparse_tflops},
          {"dense_tflops", r.dense_tflops},
          {"speedup", r.speedup},
          {"ideal_speedup", r.ideal},
          {"fraction_of_ideal", r.fraction_of_ideal},
          {"wrong", r.wrong < 0 ? nlohmann::json() : nlohmann::json(r.wrong)}};
  if (op_column) j["op"] = r.op;
  return j;
}

std::vector<CsvValue> row_csv(const Row& r, int repeats, bool op_column) {
  std::vector<CsvValue> out = {r.shape.m,
          r.shape.n,
          r.shape.k,
          r.sparsity.label(),
          1.0 - static_cast<double>(r.sparsity.n) / r.sparsity.m,
          r.sparse_us,
          r.dense_us,
          r.sparse_tflops,
          r.dense_tflops,
          r.speedup,
          r.ideal,
          r.fraction_of_ideal,
          r.wrong < 0 ? CsvValue{std::string("N/A")} : CsvValue{r.wrong},
          std::int64_t{repeats}};
  if (op_column) out.insert(out.begin(), CsvValue{r.op});
  return out;
}

std::vector<std::string> csv_columns(bool op_column) {
  std::vector<std::string> out = {"M", "N", "K", "sparsity", "sparsity_fraction", "sparse_us", "dense_us",
                                  "sparse_tflops", "dense_tflops", "speedup", "ideal_speedup", "fraction_of_ideal",
                                  "wrong", "repeats"};
  if (op_column) out.insert(out.begin(), "op");
  return out;
}

// Compute-bound shapes for the target line: enough rows that A's reuse hides the weight traffic.
constexpr std::int64_t compute_bound_rows = 512;
constexpr double target_fraction = 0.7;
// The training products' (aspirational) goal: half the forward's ideal share.
constexpr double grad_target_fraction = 0.5;

int run(const Options& o, const Runtime& runtime, const std::vector<std::string>& command_line) {
#ifdef MERIDIAN_HAVE_CUDA
  if (!parse_device(o.device_name).is_cpu()) {
    CudaBenchOptions c;
    for (const Shape3& s : o.shapes) c.shapes.push_back({s.m, s.n, s.k});
    for (const Sparsity& sp : o.sparsities) c.sparsities.push_back({sp.n, sp.m, sp.v});
    c.device_name = o.device_name;
    c.op = o.op;
    c.repeats = o.repeats;
    c.warmup = o.warmup;
    c.check = o.check;
    c.flush_mb = o.flush_mb;
    c.seed = o.seed;
    c.suite_label = o.shapes_text.empty() ? cat("suite ", o.suite) : std::string("--shapes");
    c.json_path = o.json_path;
    c.csv_path = o.csv_path;
    c.out_dir = o.out_dir;
    c.config = options_json(o);
    return run_spmm_bench_cuda(c, runtime, command_line);
  }
#endif
  MERIDIAN_INPUT_CHECK(runtime.world_size() == 1, "spmm_bench runs as one process; launch it plainly or with "
                       "mpiexec -n 1 (got ", runtime.world_size(), " ranks)");
  const std::map<std::string, std::string> versions = library_versions();
  const auto version_of = [&](const char* name) {
    const auto it = versions.find(name);
    return it == versions.end() ? std::string("unknown") : it->second;
  };
  RunInfo info;
  info.app = "spmm_bench";
  info.config = options_json(o);
  info.command_line = command_line;
  info.device = "cpu";
  info.threads = runtime.threads();
  ResultsDir results(o.out_dir, info, MPI_COMM_WORLD);
  const bool op_column = with_op(o);
  results.open_metrics(csv_columns(op_column));
  std::unique_ptr<CsvWriter> csv;
  if (!o.csv_path.empty()) csv = std::make_unique<CsvWriter>(o.csv_path, csv_columns(op_column));

  CacheFlusher flusher(o.flush_bytes);
  std::printf("# spmm_bench: N:M sparse SpMM (kernels/cpu/nm_sparse) against dense sgemm (%s) on %s\n",
              version_of("openblas").c_str(), runtime.hostname().c_str());
  std::printf("# device cpu, SpMM ISA %s, %d threads, %zu shapes (%s), %zu sparsities, %d warm-up + %d repeats, "
              "cache flush %lld MiB before every timed call, check %s\n",
              kernels::cpu::nm_spmm_isa(), runtime.threads(), o.shapes.size(),
              o.shapes_text.empty() ? cat("suite ", o.suite).c_str() : "--shapes", o.sparsities.size(), o.warmup,
              o.repeats, static_cast<long long>(o.flush_bytes >> 20), o.check ? "on" : "off");
  const std::string load_at_start = load_average();
  std::printf("# 1-minute load average at start %s (this run adds up to its thread count; more: shared CPUs)\n",
              load_at_start.c_str());
  // OpenBLAS's pthread build busy-waits after every call (about 0.1 s by default); on a machine with as
  // many cores as compute threads its workers then compete with the SpMM timed next and slow it by
  // 2-4x at random. The OpenMP build (the default link) shares Kokkos's thread pool instead.
  const char* blas_timeout = std::getenv("OPENBLAS_THREAD_TIMEOUT");
  const std::string blas_threading = openblas_threading();
  std::printf("# OpenBLAS threading %s, OPENBLAS_THREAD_TIMEOUT=%s%s\n", blas_threading.c_str(),
              blas_timeout ? blas_timeout : "(unset)",
              blas_threading == "pthread" && !blas_timeout
                  ? ": the pthread workers spin after each dense call and can slow the SpMM timed next; "
                    "link the OpenMP build or set OPENBLAS_THREAD_TIMEOUT=4 for stable comparisons"
                  : "");
  std::printf("# C (MxN) = A (MxK) · B (KxN), f32; B is n:m:v sparse along K (keep n of every m rows, one choice per "
              "v columns)\n");
  std::printf("# *_us: median of the repeats, each call timed alone, dense and sparse interleaved; TFLOPs = 2·M·N·K / "
              "time (dense-equivalent)\n");
  std::printf("# speedup = dense_us / sparse_us; ideal = m/n; %%ideal = speedup / ideal; #wrong: entries off the "
              "dense result on the decompressed B (bound 2(K+2)·eps·max|a|·Σ|b|), untimed\n");
  if (op_column) {
    std::printf("# op %s (SpMM ISA also used by the gradients): forward C = A·B vs sgemm; grad_a dA (MxK) = "
                "dC (MxN)·Bᵀ vs sgemm dC·Bᵀ; grad_b dvalues = Aᵀ·dC at B's kept positions vs sgemm Aᵀ (KxM)·dC (MxN) = "
                "dB (KxN)\n",
                o.op.c_str());
    std::printf("# gradients' #wrong: every entry against the dense product (bound 2(len+2)·eps·max·Σ over the "
                "reduction of length N or M), padding exactly 0, plus 64 entries summed in double from the "
                "compressed format as kernels/reference does\n");
  }
  // Every table line: a two-character lead, the op column when there is one, then the fields.
  std::printf("# ");
  if (op_column) std::printf("%6s ", "op");
  std::printf("%6s %6s %6s %9s %12s %12s %9s %9s %8s %6s %7s %7s\n", "M", "N", "K", "n:m:v", "sparse_us",
              "dense_us", "sp_TFLOPs", "de_TFLOPs", "speedup", "ideal", "%ideal", "#wrong");
  std::fflush(stdout);

  std::vector<Row> rows;
  for (const Shape3& s : o.shapes) {
    Buffers buf;
    buf.a = Tensor::empty({s.m, s.k});
    buf.b_dense = Tensor::empty({s.k, s.n});
    buf.c_sparse = Tensor::empty({s.m, s.n});
    buf.c_dense = Tensor::empty({s.m, s.n});
    // Mixed signs, fixed seed; the weights normal so magnitude pruning has something to choose.
    ops::uniform(buf.a, o.seed, stream_id(StreamPurpose::data, 1), -1.f, 1.f);
    ops::normal(buf.b_dense, o.seed, stream_id(StreamPurpose::data, 2), 0.f, 0.02f);
    if (op_column) {  // the gradient of the output, mixed signs, and the gradients' outputs
      buf.dc = Tensor::empty({s.m, s.n});
      buf.da_sparse = Tensor::empty({s.m, s.k});
      buf.da_dense = Tensor::empty({s.m, s.k});
      buf.db_dense = Tensor::empty({s.k, s.n});
      ops::uniform(buf.dc, o.seed, stream_id(StreamPurpose::data, 3), -1.f, 1.f);
    }
    for (const Sparsity& sp : o.sparsities) {
      for (const Row& row : run_ops(o, s, sp, buf, flusher)) {
        const std::string wrong_text = row.wrong < 0 ? "N/A" : std::to_string(row.wrong);
        std::printf("  ");
        if (op_column) std::printf("%6s ", row.op.c_str());
        std::printf("%6lld %6lld %6lld %9s %12.1f %12.1f %9.4f %9.4f %8.3f %6.2f %6.1f%% %7s\n",
                    static_cast<long long>(s.m), static_cast<long long>(s.n), static_cast<long long>(s.k),
                    sp.label().c_str(), row.sparse_us, row.dense_us, row.sparse_tflops, row.dense_tflops, row.speedup,
                    row.ideal, 100.0 * row.fraction_of_ideal, wrong_text.c_str());
        std::fflush(stdout);
        results.metrics_row(row_csv(row, o.repeats, op_column));
        if (csv) csv->row(row_csv(row, o.repeats, op_column));
        rows.push_back(row);
      }
    }
  }

  // Summary: geometric means per sparsity, the target on compute-bound shapes, verification.
  std::printf("#\n# ");
  if (op_column) std::printf("%6s ", "op");
  std::printf("%9s %10s %14s %14s %16s\n", "n:m:v", "sparsity", "geomean_speedup", "geomean_%ideal",
              "compute-bound");
  nlohmann::json per_sparsity = nlohmann::json::array();
  std::vector<std::string> target_lines;
  for (const std::string& op : o.ops) {
    for (const Sparsity& sp : o.sparsities) {
      std::vector<double> speedups, fractions, bound_fractions;
      for (const Row& r : rows)
        if (r.op == op && r.sparsity.label() == sp.label()) {
          speedups.push_back(r.speedup);
          fractions.push_back(r.fraction_of_ideal);
          if (r.shape.m >= compute_bound_rows) bound_fractions.push_back(r.fraction_of_ideal);
        }
      const double sparsity_fraction = 1.0 - static_cast<double>(sp.n) / sp.m;
      const double gm_bound = geomean(bound_fractions);
      std::printf("# ");
      if (op_column) std::printf("%6s ", op.c_str());
      std::printf("%9s %9.1f%% %14.3f %13.1f%% %16s\n", sp.label().c_str(), 100.0 * sparsity_fraction,
                  geomean(speedups), 100.0 * geomean(fractions),
                  bound_fractions.empty() ? "-" : cat(bound_fractions.size(), " shapes").c_str());
      nlohmann::json entry = {{"sparsity", sp.label()},
                              {"sparsity_fraction", sparsity_fraction},
                              {"shapes", speedups.size()},
                              {"geomean_speedup", geomean(speedups)},
                              {"geomean_fraction_of_ideal", geomean(fractions)}};
      if (op_column) entry["op"] = op;
      const double goal = op == "forward" ? target_fraction : grad_target_fraction;
      if (!bound_fractions.empty()) {
        entry["compute_bound_shapes"] = bound_fractions.size();
        entry["compute_bound_geomean_fraction_of_ideal"] = gm_bound;
        if (sp.m == 32 && (sp.n == 16 || sp.n == 8)) {
          const bool met = gm_bound >= goal;
          entry["target_fraction_of_ideal"] = goal;
          entry["target_met"] = met;
          char line[256];
          std::snprintf(line, sizeof(line),
                        "# target %s%s (%.1f%%) on %zu shapes with M >= %lld: geomean of sparse_TFLOPs / ((m/n) x "
                        "dense_TFLOPs) = %.3f vs >= %.2f: %s",
                        op_column ? cat(op, " ").c_str() : "", sp.label().c_str(), 100.0 * sparsity_fraction,
                        bound_fractions.size(), static_cast<long long>(compute_bound_rows), gm_bound, goal,
                        met ? "met" : "NOT met");
          target_lines.push_back(line);
        }
      }
      per_sparsity.push_back(entry);
    }
  }
  std::int64_t wrong_total = 0;
  bool checked = false;
  nlohmann::json records = nlohmann::json::array();
  for (const Row& r : rows) {
    if (r.wrong >= 0) {
      checked = true;
      wrong_total += r.wrong;
    }
    records.push_back(row_json(r, op_column));
  }
  std::printf("#\n");
  for (const std::string& line : target_lines) std::printf("%s\n", line.c_str());
  if (target_lines.empty())
    std::printf("# target (16:32 and 8:32 at >= 70%% of ideal on M >= %lld): no such rows in this run\n",
                static_cast<long long>(compute_bound_rows));
  if (checked)
    std::printf("# verification: %s, %lld wrong entries in %zu checked results\n", wrong_total ? "FAIL" : "PASS",
                static_cast<long long>(wrong_total), rows.size());
  else
    std::printf("# verification: not checked (--check 0)\n");
  const std::string load_at_end = load_average();
  std::printf("# 1-minute load average at end %s; flush checksum %.0f\n", load_at_end.c_str(), flusher.sink());
  std::fflush(stdout);

  nlohmann::json summary = {{"isa", kernels::cpu::nm_spmm_isa()},
                            {"threads", runtime.threads()},
                            {"openblas", version_of("openblas")},
                            {"openblas_thread_timeout", blas_timeout ? blas_timeout : ""},
                            {"openblas_threading", blas_threading},
                            {"load_average_start", load_at_start},
                            {"load_average_end", load_at_end},
                            {"rows", rows.size()},
                            {"per_sparsity", per_sparsity},
                            {"checked", checked},
                            {"wrong_total", wrong_total},
                            {"verified", checked && wrong_total == 0}};
  results.write_summary(summary);
  if (!o.json_path.empty())
    write_json_file(o.json_path, {{"app", "spmm_bench"}, {"config", options_json(o)}, {"records", records},
                                  {"summary", summary}});
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
    CLI::App app{"spmm_bench: N:M sparse SpMM against dense sgemm on the NM-SpMM reference's LLaMA shapes.\n"
                 "One process (plain launch or mpiexec -n 1). C (MxN) = A (MxK) · B (KxN), B sparse."};
    cli::configure(app);
    app.add_option("--suite", o.suite,
                   "full: M in {256..4096} x the 20 LLaMA (N,K) pairs; quick: M in {256,512,1024} x 6 pairs scaled by 1/4");
    app.add_option("--shapes", o.shapes_text, "Custom shapes \"M,N,K;M,N,K;...\" (replace the suite)");
    app.add_option("--sparsity", o.sparsity_text, "Comma list of n:m:v (keep n of m rows, one choice per v columns)");
    app.add_option("--repeats", o.repeats, "Timed calls per kernel and case (median reported)");
    app.add_option("--warmup", o.warmup, "Untimed calls per kernel and case before timing");
    app.add_option("--flush-mb", o.flush_mb, "MiB streamed through before every timed call (0: 2 x LLC, >= 64)");
    app.add_option("--check", o.check, "Check every result in an untimed pass (0 or 1)")->check(CLI::Range(0, 1));
    app.add_option("--op", o.op,
                   "forward (C = A·B), grad_a (dA = dC·Bᵀ), grad_b (dB = Aᵀ·dC at the kept positions) or all; the "
                   "gradients are timed against sgemm on the same shapes");
    app.add_option("--device", o.device_name, "cpu, or cuda / cuda:I in CUDA builds (fp32 and bf16 vs cuBLAS)");
    app.add_option("--threads", o.threads, "Compute threads (OpenMP and OpenBLAS; 0: automatic)");
    app.add_option("--seed", o.seed, "Seed of the random inputs");
    app.add_option("--json", o.json_path, "Write every record and the summary to this JSON file");
    app.add_option("--csv", o.csv_path, "Write every record to this CSV file");
    app.add_option("--out", o.out_dir, "Results directory: run.json, metrics.csv, summary.json");
    if (!cli::parse(app, argc, argv)) return 0;
    bench::finish_parsing(o);
    RuntimeOptions runtime_options;
    runtime_options.threads = o.threads;
    Runtime runtime(argc, argv, runtime_options);
    return bench::run(o, runtime, command_line);
  });
}
