// pretrain: GPT-2-architecture pretraining on byte tokens over a DP × TP × PP mesh (Megatron layout:
// TP innermost, PP outermost), with 1F1B pipelining, bucketed data-parallel gradient averaging or
// ZeRO-1, global gradient clipping and AdamW with warm-up and cosine decay. Rank 0 prints one step line
// (loss, lr, time, tokens/s, MFU against the measured sgemm peak); --out writes run.json, metrics.csv
// and summary.json.
#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <vector>

#include "comm/process_mesh.hpp"
#include "common/cli.hpp"
#include "core/dtype.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "core/results.hpp"
#include "core/runtime.hpp"
#include "core/timer.hpp"
#include "data/tokens.hpp"
#include "dist/hybrid/gpt_trainer.hpp"
#include "kernels/cpu/ops.hpp"

#if MERIDIAN_HAVE_CUDA
#include "kernels/cuda/ops.hpp"
#endif

namespace meridian::pretrain {

struct Options {
  std::string preset = "tiny";
  int dp = 0, tp = 1, pp = 1;  // dp 0: world / (tp·pp)
  int micro_batches = 1;
  bool zero1 = false;
  std::int64_t layers = 0, d_model = 0, heads = 0, seq = 0, batch = 0, steps = 0, warmup = -1;
  double lr = 0, min_lr_fraction = 0.1, weight_decay = 0.1, grad_clip = 1.0;
  std::string data_dir;
  std::int64_t eval_every = 0, eval_batches = 4, print_every = 1, skip = 2;
  std::string device = "cpu", bucket_text = "25M", sparse_ffn_text, precision_text = "fp32";
  MatmulPrecision precision = MatmulPrecision::fp32;
  nn::NMPattern sparse_ffn{.n = 0, .m = 4, .v = 1};
  std::int64_t bucket_bytes = 0;
  std::uint64_t seed = 1;
  std::string out_dir;
  int threads = 0;

  nlohmann::json to_json() const {
    return {{"preset", preset}, {"dp", dp}, {"tp", tp}, {"pp", pp}, {"micro_batches", micro_batches},
            {"zero1", zero1}, {"layers", layers}, {"d_model", d_model}, {"heads", heads}, {"seq", seq},
            {"batch", batch}, {"steps", steps}, {"warmup", warmup}, {"lr", lr}, {"min_lr_fraction", min_lr_fraction},
            {"weight_decay", weight_decay}, {"grad_clip", grad_clip}, {"data", data_dir}, {"eval_every", eval_every},
            {"eval_batches", eval_batches}, {"print_every", print_every}, {"skip", skip}, {"device", device},
            {"precision", precision_text}, {"bucket", bucket_text}, {"sparse_ffn", sparse_ffn_text}, {"seed", seed},
            {"out", out_dir}, {"threads", threads}};
  }

  nn::GptConfig gpt_config() const {
    return nn::GptConfig{.vocab = data::kByteVocab, .max_seq = seq, .layers = layers, .d_model = d_model,
                         .heads = heads, .sparse_ffn = sparse_ffn, .precision = precision};
  }
};

// Named model and run shapes; flags given on the command line override them.
struct Preset {
  std::int64_t layers, d_model, heads, seq, batch, steps, warmup;
  double lr;
};

Preset find_preset(const std::string& name) {
  // tiny: learns the fortunes corpus to below 2 nats/byte in about three minutes on two cores.
  if (name == "tiny") return {4, 128, 4, 64, 32, 1000, 30, 6e-3};
  // gpt2-124m: GPT-2 small's shape (12 layers, 768 channels, 12 heads) on byte tokens.
  if (name == "gpt2-124m") return {12, 768, 12, 1024, 8, 1000, 100, 6e-4};
  throw InputError(cat("--preset '", name, "': use tiny or gpt2-124m"));
}

void finish_parsing(Options& o, const CLI::App& app) {
  const Preset p = find_preset(o.preset);
  auto pick = [&](const char* flag, std::int64_t& value, std::int64_t preset) {
    if (app.count(flag) == 0) value = preset;
  };
  pick("--layers", o.layers, p.layers);
  pick("--d-model", o.d_model, p.d_model);
  pick("--heads", o.heads, p.heads);
  pick("--seq", o.seq, p.seq);
  pick("--batch", o.batch, p.batch);
  pick("--steps", o.steps, p.steps);
  pick("--warmup", o.warmup, std::min(p.warmup, o.steps / 10));  // a short run keeps its warm-up short
  if (app.count("--lr") == 0) o.lr = p.lr;
  MERIDIAN_INPUT_CHECK(o.steps >= 1, "--steps ", o.steps, ": train at least one step");
  MERIDIAN_INPUT_CHECK(o.batch >= 1, "--batch ", o.batch, ": the global batch (sequences per step) must be >= 1");
  MERIDIAN_INPUT_CHECK(o.seq >= 1, "--seq ", o.seq, ": the sequence length must be >= 1");
  MERIDIAN_INPUT_CHECK(o.micro_batches >= 1, "--micro-batches ", o.micro_batches, ": give at least 1");
  MERIDIAN_INPUT_CHECK(o.lr > 0 && std::isfinite(o.lr), "--lr ", o.lr, ": give a positive learning rate");
  MERIDIAN_INPUT_CHECK(o.warmup >= 0 && o.warmup <= o.steps, "--warmup ", o.warmup, ": give 0 .. --steps (", o.steps,
                       ") warm-up steps");
  MERIDIAN_INPUT_CHECK(o.eval_every >= 0, "--eval-every ", o.eval_every, ": give 0 (only at the end) or a step count");
  MERIDIAN_INPUT_CHECK(o.eval_batches >= 1, "--eval-batches ", o.eval_batches, ": give at least 1");
  MERIDIAN_INPUT_CHECK(o.print_every >= 1, "--print-every ", o.print_every, ": give at least 1");
  MERIDIAN_INPUT_CHECK(o.skip >= 0, "--skip ", o.skip, ": give 0 or more warm-up steps to leave out of the means");
  MERIDIAN_INPUT_CHECK(o.tp >= 1 && o.pp >= 1 && o.dp >= 0, "--dp ", o.dp, " --tp ", o.tp, " --pp ", o.pp,
                       ": tp and pp must be >= 1, dp >= 1 (or 0 for world / (tp·pp))");
  const Device device = parse_device(o.device);
  MERIDIAN_INPUT_CHECK(device.is_cpu() || cuda_available(), "--device ", o.device,
                       ": this build has no CUDA backend or this machine no GPU; build with the cuda preset and run "
                       "on a GPU node, or use --device cpu");
  o.bucket_bytes = cli::parse_bytes("--bucket", o.bucket_text);
  o.precision = parse_matmul_precision(o.precision_text, "--precision");
  if (!o.sparse_ffn_text.empty()) {
    const NMLayout nm = cli::parse_nm_pattern("--sparse-ffn", o.sparse_ffn_text);
    o.sparse_ffn = nn::NMPattern{.n = nm.n, .m = nm.m, .v = nm.v};
  }
  o.gpt_config().validate(o.tp, o.pp);
}

// The best sgemm rate of this rank (GFLOP/s) on square matrices, measured with the rank's threads
// while every rank measures at once: what "peak" means for MFU on the CPU. One untimed product first
// (thread start-up, clock ramp), then the best of five at two sizes.
double measure_sgemm_gflops() {
  auto gemm_gflops = [](std::int64_t n) {
    std::vector<float> a(static_cast<std::size_t>(n * n), 0.5f), b(a), c(a);
    const WallTimer timer;
    kernels::cpu::gemm(kernels::Trans::no, kernels::Trans::no, n, n, n, 1.f, a.data(), n, b.data(), n, 0.f, c.data(),
                       n);
    return 2.0 * static_cast<double>(n * n * n) / timer.elapsed_s() / 1e9;
  };
  gemm_gflops(1024);
  double best = 0;
  for (const std::int64_t n : {1024, 2048})
    for (int rep = 0; rep < 5; ++rep) best = std::max(best, gemm_gflops(n));
  return best;
}

// Datasheet peak of the GPU, in GFLOP/s, for the arithmetic the matmuls run in: fp32 on CUDA cores
// (no TF32), or dense bf16 on tensor cores (no sparsity); 0 for a GPU not in the table. What "peak"
// means for MFU on a GPU.
double gpu_peak_gflops([[maybe_unused]] int device, [[maybe_unused]] MatmulPrecision precision,
                       [[maybe_unused]] std::string& product) {
#if MERIDIAN_HAVE_CUDA
  product = kernels::cuda::device_product(device);
  const auto has = [&](const char* s) { return product.find(s) != std::string::npos; };
  const bool bf16 = precision == MatmulPrecision::bf16;
  if (has("H200")) return bf16 ? 989.4e3 : 67e3;
  if (has("H100")) return has("PCIe") ? (bf16 ? 756e3 : 51e3) : (bf16 ? 989.4e3 : 67e3);
  if (has("A100")) return bf16 ? 312e3 : 19.5e3;
#endif
  return 0.0;
}

std::string human_rate(double per_s) {
  char buf[32];
  if (per_s >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.2fM", per_s / 1e6);
  } else if (per_s >= 1e3) {
    std::snprintf(buf, sizeof buf, "%.1fk", per_s / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f", per_s);
  }
  return buf;
}

struct Corpus {
  std::shared_ptr<std::vector<std::uint16_t>> train, val;
  std::string source;
};

// --data DIR: DIR/train.bin and DIR/val.bin written by the tokenize tool; none: Debian's fortunes,
// split here as the tool would with its defaults.
Corpus load_corpus(const Options& o) {
  Corpus c;
  if (!o.data_dir.empty()) {
    const std::filesystem::path dir(o.data_dir);
    auto read = [&](const char* name) {
      data::TokenFile f = data::read_token_file((dir / name).string());
      MERIDIAN_INPUT_CHECK(f.vocab <= data::kByteVocab, (dir / name).string(), " has a vocabulary of ", f.vocab,
                           " tokens but the GPT is byte-level (", data::kByteVocab, "): write it with the tokenize tool");
      return std::make_shared<std::vector<std::uint16_t>>(std::move(f.tokens));
    };
    c.train = read("train.bin");
    c.val = read("val.bin");
    c.source = o.data_dir;
  } else {
    const auto files = data::default_corpus_files();
    const auto docs = data::read_documents(files, "%");
    data::TokenSplit split = data::split_documents(docs, 0.1, 1);
    c.train = std::make_shared<std::vector<std::uint16_t>>(std::move(split.train));
    c.val = std::make_shared<std::vector<std::uint16_t>>(std::move(split.val));
    c.source = cat("fortunes (", files.size(), " files, ", docs.size(), " documents)");
  }
  return c;
}

int run(const Options& o, Runtime& runtime, const std::vector<std::string>& command_line) {
  const bool gpu = parse_device(o.device).is_cuda();
  MeshOptions mesh_options;
  mesh_options.shape = MeshShape{.dp = o.dp, .tp = o.tp, .pp = o.pp};
  mesh_options.backend = gpu ? CommBackend::nccl : CommBackend::mpi;
  ProcessMesh mesh(MPI_COMM_WORLD, mesh_options);
  const MeshShape shape = mesh.layout().shape();
  MERIDIAN_INPUT_CHECK(o.batch % (shape.dp * o.micro_batches) == 0, "--batch ", o.batch,
                       " sequences do not split over dp = ", shape.dp, " ranks x --micro-batches ", o.micro_batches,
                       ": use a multiple of ", shape.dp * o.micro_batches);

  const Corpus corpus = load_corpus(o);
  data::TokenLoaderOptions lo{.seq_len = o.seq, .global_batch = o.batch, .dp_rank = mesh.coord().dp,
                              .dp_size = shape.dp, .seed = o.seed};
  data::TokenLoader train(corpus.train, lo);
  data::TokenLoader val(corpus.val, lo);

  const nn::GptConfig config = o.gpt_config();
  dist::GptTrainOptions to;
  to.micro_batches = o.micro_batches;
  to.zero1 = o.zero1;
  to.bucket_bytes = o.bucket_bytes;
  to.adamw.weight_decay = static_cast<float>(o.weight_decay);
  to.grad_clip = o.grad_clip;
  if (gpu) to.device = Device::cuda(mesh.tp().device().index);
  to.schedule = nn::LrSchedule{.max_lr = static_cast<float>(o.lr), .warmup_steps = o.warmup, .total_steps = o.steps,
                               .min_lr_fraction = static_cast<float>(o.min_lr_fraction)};
  dist::GptTrainer trainer(config, mesh, o.seed, to);

  // MFU's denominator, summed over ranks: the measured sgemm rate (CPU, where bf16 is emulated on
  // sgemm too) or the GPU's datasheet peak for the matmuls' precision.
  std::string product;
  double peak = gpu ? gpu_peak_gflops(to.device.index, o.precision, product) : measure_sgemm_gflops();
  MPI_Allreduce(MPI_IN_PLACE, &peak, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  const std::string peak_kind =
      gpu ? cat("the datasheet ", o.precision == MatmulPrecision::bf16 ? "dense bf16 tensor-core" : "fp32",
                " peak of ", product.empty() ? "an unknown GPU" : product)
          : std::string("the measured sgemm peak");
  const double flops_per_token = config.training_flops_per_token(o.seq);

  RunInfo info;
  info.app = "pretrain";
  info.config = o.to_json();
  info.config["dp"] = shape.dp;
  info.command_line = command_line;
  info.threads = runtime.threads();
  if (gpu) info.device = cat(device_name(to.device), " (", product, ")");
  ResultsDir out(o.out_dir, info, MPI_COMM_WORLD);
  out.open_metrics({"step", "loss", "val_loss", "lr", "grad_norm", "step_ms", "tokens_per_s", "mfu", "tp_ms", "pp_ms",
                    "dp_ms", "optimizer_ms"});

  log_info("pretrain: GPT ", o.layers, " layers x ", o.d_model, " channels x ", o.heads, " heads, ",
           config.parameter_count(), " parameters",
           config.sparse() ? cat(" (MLP ", o.sparse_ffn_text, " sparse)") : std::string(), "; seq ", o.seq, ", batch ", o.batch, " sequences (", o.batch * o.seq,
           " tokens) per step; dp ", shape.dp, " x tp ", shape.tp, " x pp ", shape.pp, ", ", o.micro_batches,
           " micro-batches", o.zero1 ? ", ZeRO-1" : "", "; matmuls ", matmul_precision_name(o.precision),
           o.precision == MatmulPrecision::fp32 ? ""
           : gpu                                ? " (fp32 accumulation)"
                                                : " (emulated, fp32 accumulation)",
           "; ", runtime.threads(), " threads per rank");
  log_info("data: ", corpus.source, ": ", corpus.train->size(), " train / ", corpus.val->size(),
           " validation tokens; MFU against ", peak_kind, ", ", peak, " GFLOP/s over ", runtime.world_size(),
           " ranks", peak > 0 ? "" : " (unknown: MFU not reported)");

  auto validation_loss = [&]() {
    double sum = 0;
    const std::int64_t batches = std::min(o.eval_batches, val.eval_steps());
    for (std::int64_t k = 0; k < batches; ++k) {
      const data::TokenBatch b = val.eval_batch(k);
      sum += trainer.evaluate(b.inputs, b.targets);
    }
    return sum / static_cast<double>(batches);
  };

  std::vector<double> step_times, losses;
  double last_val = std::nan(""), first_loss = 0;
  for (std::int64_t s = 0; s < o.steps; ++s) {
    const data::TokenBatch batch = train.next_batch();
    const dist::GptStepStats st = trainer.step(batch.inputs, batch.targets, s);
    // The slowest rank's time is the step's time.
    double step_s = st.step_s;
    MPI_Allreduce(MPI_IN_PLACE, &step_s, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    const double tok_s = static_cast<double>(o.batch * o.seq) / step_s;
    const double mfu = peak > 0 ? tok_s * flops_per_token / (peak * 1e9) : std::nan("");
    if (s == 0) first_loss = st.loss;
    losses.push_back(st.loss);
    if (s >= o.skip) {
      step_times.push_back(step_s);
    }
    double val_loss = std::nan("");
    const bool last = s + 1 == o.steps;
    if ((o.eval_every > 0 && (s + 1) % o.eval_every == 0) || last) {
      val_loss = last_val = validation_loss();
    }
    if ((s + 1) % o.print_every == 0 || s == 0 || last) {
      char line[256];
      std::snprintf(line, sizeof line, "step %lld/%lld | loss %.4f | lr %.2e | %.0f ms | %s tok/s | MFU %.0f%%%s",
                    static_cast<long long>(s + 1), static_cast<long long>(o.steps), st.loss, st.lr, step_s * 1e3,
                    human_rate(tok_s).c_str(), 100 * mfu, st.skipped ? " | skipped: non-finite gradient" : "");
      log_info(line, std::isnan(val_loss) ? std::string() : cat(" | val ", val_loss));
    }
    out.metrics_row({s + 1, st.loss, val_loss, st.lr, st.grad_norm, step_s * 1e3, tok_s, mfu, st.tp_s * 1e3,
                     st.pp_s * 1e3, st.dp_s * 1e3, st.optimizer_s * 1e3});
  }

  double step_sum = 0;
  for (double t : step_times) step_sum += t;
  const double mean_step = step_times.empty() ? std::nan("") : step_sum / static_cast<double>(step_times.size());
  const double mean_tps = step_times.empty() ? std::nan("") : static_cast<double>(o.batch * o.seq) / mean_step;
  const double mfu = peak > 0 ? mean_tps * flops_per_token / (peak * 1e9) : std::nan("");
  log_info("final: train loss ", losses.back(), " (first ", first_loss, "), validation loss ", last_val,
           " nats/byte; ", human_rate(mean_tps), " tok/s, ", mean_step * 1e3, " ms per step, MFU ", 100 * mfu,
           "% of ", peak_kind, " (means over steps after the first ", o.skip, ")");
  out.write_summary({{"final_train_loss", losses.back()},
                     {"first_train_loss", first_loss},
                     {"final_val_loss", last_val},
                     {"tokens_per_s", mean_tps},
                     {"step_ms", mean_step * 1e3},
                     {"mfu", mfu},
                     {"mfu_peak", peak_kind},
                     {"peak_gflops", peak},
                     {"flops_per_token", flops_per_token},
                     {"parameters", config.parameter_count()},
                     {"precision", matmul_precision_name(o.precision)},
                     {"layout", {{"dp", shape.dp}, {"tp", shape.tp}, {"pp", shape.pp},
                                 {"micro_batches", o.micro_batches}, {"zero1", o.zero1}}},
                     {"model", {{"layers", o.layers}, {"d_model", o.d_model}, {"heads", o.heads}, {"seq", o.seq},
                                {"vocab", config.vocab}, {"padded_vocab", config.padded_vocab()},
                                {"sparse_ffn", o.sparse_ffn_text}}},
                     {"steps", o.steps},
                     {"batch", o.batch}});
  return 0;
}

}  // namespace meridian::pretrain

int main(int argc, char** argv) {
  using namespace meridian;
  const std::vector<std::string> command_line(argv, argv + argc);
  return run_main([&]() -> int {
    pretrain::Options o;
    CLI::App app{"pretrain: GPT-2-architecture pretraining on byte tokens with data, tensor and pipeline\n"
                 "parallelism (Megatron layout, 1F1B). Run under mpirun/srun; world = dp x tp x pp."};
    cli::configure(app);
    app.add_option("--preset", o.preset, "Model and run shape: tiny or gpt2-124m (flags below override it)");
    app.add_option("--dp", o.dp, "Data-parallel ranks (0: world / (tp x pp))");
    app.add_option("--tp", o.tp, "Tensor-parallel ranks (innermost)");
    app.add_option("--pp", o.pp, "Pipeline stages (outermost)");
    app.add_option("--micro-batches", o.micro_batches, "Micro-batches per step and data-parallel rank (1F1B)");
    app.add_flag("--zero1", o.zero1, "Shard AdamW's state over the data-parallel group (ZeRO-1)");
    app.add_option("--layers", o.layers, "Transformer blocks");
    app.add_option("--d-model", o.d_model, "Channels C");
    app.add_option("--heads", o.heads, "Attention heads");
    app.add_option("--seq", o.seq, "Sequence length T");
    app.add_option("--batch", o.batch, "Global batch: sequences per step over all data-parallel ranks");
    app.add_option("--steps", o.steps, "Optimizer steps");
    app.add_option("--lr", o.lr, "Peak learning rate");
    app.add_option("--warmup", o.warmup, "Linear warm-up steps, then cosine decay to --min-lr-fraction x lr");
    app.add_option("--min-lr-fraction", o.min_lr_fraction, "Final learning rate as a fraction of --lr");
    app.add_option("--weight-decay", o.weight_decay, "AdamW's decoupled weight decay (matmul weights, embeddings)");
    app.add_option("--grad-clip", o.grad_clip, "Largest global gradient norm (0: no clipping)");
    app.add_option("--data", o.data_dir, "Folder with train.bin and val.bin from the tokenize tool (default: Debian's fortunes)");
    app.add_option("--eval-every", o.eval_every, "Steps between validation losses (0: only at the end)");
    app.add_option("--eval-batches", o.eval_batches, "Global batches of validation windows per evaluation");
    app.add_option("--print-every", o.print_every, "Steps between step lines");
    app.add_option("--skip", o.skip, "Leading steps left out of the mean step time");
    app.add_option("--bucket", o.bucket_text, "Data-parallel all-reduce bucket size (K, M suffixes)");
    app.add_option("--sparse-ffn", o.sparse_ffn_text,
                   "N:M sparse MLP weights, n:m or n:m:v (e.g. 2:4), pruned by magnitude at initialisation");
    app.add_option("--device", o.device, "cpu, or cuda (each rank's GPU, NCCL between them)");
    app.add_option("--precision", o.precision_text,
                   "Matmuls: fp32, or bf16 (inputs rounded to bf16, fp32 accumulation; tensor cores on a GPU, "
                   "emulated on the CPU); master weights, AdamW and the rest stay fp32");
    app.add_option("--seed", o.seed, "Seed of the initial weights and the data order");
    app.add_option("--out", o.out_dir, "Results directory: run.json, metrics.csv, summary.json");
    app.add_option("--threads", o.threads, "Compute threads per rank (0: automatic)");
    if (!cli::parse(app, argc, argv)) return 0;
    pretrain::finish_parsing(o, app);
    RuntimeOptions runtime_options;
    runtime_options.threads = o.threads;
    Runtime runtime(argc, argv, runtime_options);
    return pretrain::run(o, runtime, command_line);
  });
}
