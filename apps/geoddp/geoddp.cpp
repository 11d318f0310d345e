// geoddp main: options, data, and one training run per scheme (see geoddp.hpp).
#include "geoddp.hpp"

#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>

#include "common/cli.hpp"
#include "comm/mesh_layout.hpp"
#include "comm/mpi_communicator.hpp"
#include "comm/wan_communicator.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "core/results.hpp"
#include "core/runtime.hpp"
#include "data/fashion_mnist.hpp"
#include "data/sampler.hpp"
#include "nn/models.hpp"
#include "nn/sgd.hpp"

namespace meridian::geoddp {

dist::SchemeOptions Options::scheme_options(dist::Scheme scheme) const {
  dist::SchemeOptions s;
  s.scheme = scheme;
  s.period = period;
  s.bucket_bytes = bucket_bytes;
  s.unit_bytes = unit_bytes;
  s.profile_iterations = profile_iterations;
  s.replan_threshold = replan_threshold;
  return s;
}

nlohmann::json Options::to_json() const {
  return {{"model", model},         {"scheme", schemes_text},     {"H", period},
          {"dcs", dcs},             {"dc_map", dc_map},           {"bandwidth", link.bandwidth},
          {"latency", link.latency}, {"link_trace", link.link_trace}, {"regions", link.regions},
          {"region_tables", link.region_tables}, {"epochs", epochs}, {"iterations", iterations},
          {"batch", batch},         {"lr", lr},                   {"momentum", momentum},
          {"weight_decay", weight_decay}, {"target_acc", target_acc}, {"noniid_alpha", noniid_alpha},
          {"seed", seed},           {"out", out_dir},             {"data", data_dir},
          {"eval_every", eval_every}, {"eval_samples", eval_samples}, {"print_every", print_every},
          {"skip", skip},           {"bucket", bucket_text},      {"unit", unit_text},
          {"profile_iters", profile_iterations}, {"replan_threshold", replan_threshold}, {"threads", threads},
          {"sweep", sweep}};
}

namespace {

std::vector<dist::Scheme> parse_schemes(const std::string& text) {
  std::vector<dist::Scheme> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = text.find(',', start);
    const std::string name = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    try {
      out.push_back(dist::parse_scheme(name));
    } catch (const InputError& e) {
      throw InputError(cat("--scheme: ", e.what(), " (one name or a comma list, e.g. ssgd,flsgd,dreamddp)"));
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// Everything that needs no MPI; the same verdict on every rank.
void finish_parsing(Options& o) {
  o.schemes = parse_schemes(o.schemes_text);
  MERIDIAN_INPUT_CHECK(o.model == "mlp" || o.model == "cnn", "--model '", o.model, "': use mlp or cnn");
  MERIDIAN_INPUT_CHECK(o.epochs > 0 && std::isfinite(o.epochs), "--epochs ", o.epochs, ": give a positive number");
  MERIDIAN_INPUT_CHECK(o.iterations >= 0, "--iterations ", o.iterations, ": give 0 (no cap) or a positive cap");
  MERIDIAN_INPUT_CHECK(o.batch >= 1, "--batch ", o.batch, ": the per-worker batch must be at least 1");
  MERIDIAN_INPUT_CHECK(o.lr > 0 && std::isfinite(o.lr), "--lr ", o.lr, ": give a positive learning rate");
  MERIDIAN_INPUT_CHECK(o.momentum >= 0 && o.momentum < 1, "--momentum ", o.momentum, ": give a value in [0, 1)");
  MERIDIAN_INPUT_CHECK(o.weight_decay >= 0, "--weight-decay ", o.weight_decay, ": give a value >= 0");
  MERIDIAN_INPUT_CHECK(o.target_acc > 0 && o.target_acc <= 1, "--target-acc ", o.target_acc,
                       ": give a test accuracy in (0, 1], e.g. 0.85");
  MERIDIAN_INPUT_CHECK(o.noniid_alpha >= 0 && std::isfinite(o.noniid_alpha), "--noniid-alpha ", o.noniid_alpha,
                       ": give 0 for IID shards or a Dirichlet concentration > 0 (e.g. 0.5)");
  MERIDIAN_INPUT_CHECK(o.eval_every >= 0 && o.eval_samples >= 0 && o.print_every >= 1 && o.skip >= 0,
                       "--eval-every, --eval-samples and --skip must be >= 0 and --print-every >= 1");
  o.bucket_bytes = cli::parse_bytes("--bucket", o.bucket_text);
  o.unit_bytes = o.unit_text == "auto" ? -1 : cli::parse_bytes("--unit", o.unit_text);
  for (dist::Scheme s : o.schemes) o.scheme_options(s).validate();  // --H, --profile-iters, sizes
}

// Test accuracy of `model` on this rank's share (every W-th image) of the first `samples` test
// images, summed over ranks. Collective over `control`.
double test_accuracy(nn::Model& model, const data::Dataset& test, std::int64_t samples, Communicator& control) {
  const std::int64_t n = samples > 0 ? std::min(samples, test.size()) : test.size();
  constexpr std::int64_t kBatch = 500;
  std::int64_t counts[2] = {0, 0};  // correct, seen
  std::vector<std::int64_t> idx;
  data::Batch batch;
  for (std::int64_t start = control.rank(); start < n; start += kBatch * control.size()) {
    idx.clear();
    for (std::int64_t i = start; i < n && static_cast<std::int64_t>(idx.size()) < kBatch; i += control.size())
      idx.push_back(i);
    data::gather_into(test, idx, batch);
    const Tensor logits = model.forward(batch.images, false);
    const float* z = logits.data<float>();
    const std::int64_t classes = logits.shape()[1];
    for (std::size_t r = 0; r < idx.size(); ++r) {
      const float* row = z + static_cast<std::int64_t>(r) * classes;
      const std::int64_t best = std::max_element(row, row + classes) - row;
      counts[0] += best == test.labels[static_cast<std::size_t>(idx[r])] ? 1 : 0;
    }
    counts[1] += static_cast<std::int64_t>(idx.size());
  }
  control.all_reduce(counts, counts, 2, DType::i64, ReduceOp::sum);
  return static_cast<double>(counts[0]) / static_cast<double>(std::max<std::int64_t>(counts[1], 1));
}

nn::Model make_model(const Options& o) {
  return o.model == "mlp" ? nn::make_mlp(784, {512, 256}, 10, o.seed) : nn::make_cnn(o.seed);
}

// The numbers every rank contributes per iteration to the gathered metrics.
constexpr int kFixedFields = 9;  // loss, correct, wall, compute, exposed, busy, syncs, synced bytes, batch
std::vector<double> iteration_fields(const dist::IterationStats& s, std::int64_t batch) {
  std::vector<double> v = {s.loss, static_cast<double>(s.correct), s.wall_s, s.compute_s(), s.exposed_s,
                           s.comm_busy_s, static_cast<double>(s.syncs), static_cast<double>(s.synced_bytes),
                           static_cast<double>(batch)};
  for (std::int64_t b : s.bytes_to_dc) v.push_back(static_cast<double>(b));
  return v;
}

// Rank 0 gets every rank's fields of every iteration and folds them into rows.
std::vector<IterationRow> gather_rows(const std::vector<double>& mine, std::int64_t iterations,
                                      const std::vector<int>& dc_of_rank, MPI_Comm world, int dcs) {
  int rank = 0, size = 1;
  MPI_CHECK(MPI_Comm_rank(world, &rank));
  MPI_CHECK(MPI_Comm_size(world, &size));
  const std::size_t per_iter = static_cast<std::size_t>(kFixedFields + dcs);
  std::vector<double> all(rank == 0 ? mine.size() * static_cast<std::size_t>(size) : 1);
  MPI_CHECK(MPI_Gather(mine.data(), static_cast<int>(mine.size()), MPI_DOUBLE, all.data(),
                       static_cast<int>(mine.size()), MPI_DOUBLE, 0, world));
  std::vector<IterationRow> rows;
  if (rank != 0) return rows;
  for (std::int64_t it = 0; it < iterations; ++it) {
    IterationRow row;
    row.iteration = it;
    row.link_bytes.assign(static_cast<std::size_t>(dcs * dcs), 0.0);
    double exposed_sum = 0, busy_sum = 0, correct = 0, seen = 0;
    for (int r = 0; r < size; ++r) {
      const double* f = all.data() + static_cast<std::size_t>(r) * mine.size() + static_cast<std::size_t>(it) * per_iter;
      row.loss_mean += f[0] / size;
      correct += f[1];
      seen += f[8];
      row.wall_max_s = std::max(row.wall_max_s, f[2]);
      row.compute_mean_s += f[3] / size;
      row.exposed_mean_s += f[4] / size;
      row.exposed_max_s = std::max(row.exposed_max_s, f[4]);
      row.busy_mean_s += f[5] / size;
      exposed_sum += f[4];
      busy_sum += f[5];
      if (r == 0) {
        row.syncs = f[6];
        row.synced_bytes = f[7];
      }
      const int a = dc_of_rank[static_cast<std::size_t>(r)];
      for (int b = 0; b < dcs; ++b) row.link_bytes[static_cast<std::size_t>(a * dcs + b)] += f[kFixedFields + b];
    }
    row.train_acc = seen > 0 ? correct / seen : 0;
    row.overlap = busy_sum > 0 ? std::clamp(1.0 - exposed_sum / busy_sum, 0.0, 1.0) : 1.0;
    rows.push_back(std::move(row));
  }
  return rows;
}

struct Context {
  const Options& o;
  const Runtime& runtime;
  const std::vector<std::string>& command_line;
  const data::Dataset& train;
  const data::Dataset& test;
  std::vector<int> dc_of_rank;
  LinkModel links;
  MpiCommunicator& control;
};

SchemeResult run_scheme(const Context& ctx, dist::Scheme scheme) {
  const Options& o = ctx.o;
  const int rank = ctx.control.rank(), world = ctx.control.size(), dcs = ctx.links.dcs();
  SchemeResult result;
  result.scheme = scheme;
  result.period = scheme == dist::Scheme::ssgd || scheme == dist::Scheme::wfbp ? 1 : o.period;

  nn::Model model = make_model(o);
  nn::Model eval_model = make_model(o);
  nn::SGD optimizer(model.parameters(), nn::SgdOptions{static_cast<float>(o.lr), static_cast<float>(o.momentum),
                                                       static_cast<float>(o.weight_decay)});
  WanCommunicator wan(ctx.control.mpi_comm(), ctx.dc_of_rank, ctx.links);
  dist::DataParallelTrainer trainer(model, optimizer, wan, ctx.control, o.scheme_options(scheme));

  data::SamplerOptions so;
  so.mode = o.noniid_alpha > 0 ? data::SamplerMode::dirichlet : data::SamplerMode::iid;
  so.world_size = world;
  so.rank = rank;
  so.seed = o.seed;
  so.alpha = o.noniid_alpha > 0 ? o.noniid_alpha : 1.0;
  so.drop_last = true;  // every rank runs the same number of full batches
  data::DistributedSampler sampler(ctx.train.labels, ctx.train.classes, so);
  const std::int64_t per_epoch = sampler.batches_per_epoch(o.batch);
  MERIDIAN_INPUT_CHECK(per_epoch >= 1, "--batch ", o.batch, " is larger than a worker's ", sampler.samples_per_epoch(),
                       " samples per epoch");
  std::int64_t total = static_cast<std::int64_t>(std::ceil(o.epochs * static_cast<double>(per_epoch)));
  if (o.iterations > 0) total = std::min(total, o.iterations);
  MERIDIAN_INPUT_CHECK(total > o.skip, "--skip ", o.skip, " leaves no iteration of ", total,
                       " to average; lower --skip or run more iterations");
  const std::int64_t eval_every = o.eval_every > 0 ? o.eval_every : per_epoch;

  std::string tag = dist::scheme_name(scheme);
  if (result.period > 1) tag += cat("(H=", result.period, ")");
  log_info("== ", tag, ": ", total, " iterations (", per_epoch, " per epoch), batch ", o.batch, " per worker x ",
           world, " workers, ", trainer.units().units.size(), " sync units");

  std::vector<double> fields;
  std::vector<float> average;
  std::vector<IterationRow> evals;  // evaluation results, by iteration (rank 0 fills rows later)
  data::Batch batch;
  double train_time = 0, steady_time = 0;
  for (std::int64_t it = 0; it < total; ++it) {
    const std::vector<std::int64_t> idx = sampler.next_batch(o.batch);
    data::gather_into(ctx.train, idx, batch);
    const dist::IterationStats s = trainer.step(batch.images, batch.labels);
    const std::vector<double> f = iteration_fields(s, static_cast<std::int64_t>(idx.size()));
    fields.insert(fields.end(), f.begin(), f.end());
    train_time += s.wall_s;
    if (it >= o.skip) steady_time += s.wall_s;
    if (rank == 0 && ((it + 1) % o.print_every == 0 || it == 0 || it + 1 == total)) {
      std::int64_t wan_bytes = 0;
      for (int d = 0; d < dcs; ++d) wan_bytes += d == wan.dc_id() ? 0 : s.bytes_to_dc[static_cast<std::size_t>(d)];
      std::printf("step %5lld/%lld | loss %.4f | %7.1f ms | exposed comm %7.1f ms | WAN sent %.2f MB\n",
                  static_cast<long long>(it + 1), static_cast<long long>(total), s.loss, 1e3 * s.wall_s,
                  1e3 * s.exposed_s, 1e-6 * static_cast<double>(wan_bytes));
      std::fflush(stdout);
    }
    if ((it + 1) % eval_every == 0 || it + 1 == total) {
      // Outside the timed iterations: the divergence of the replicas, then the test accuracy of
      // their average (the model a local-SGD deployment would serve).
      IterationRow e;
      e.iteration = it;
      e.divergence = dist::parameter_divergence(model, ctx.control, average);
      eval_model.copy_parameters_from(average);
      e.test_acc = test_accuracy(eval_model, ctx.test, o.eval_samples, ctx.control);
      double slowest = train_time;  // the job's time is its slowest worker's
      ctx.control.all_reduce(&slowest, &slowest, 1, DType::f64, ReduceOp::max);
      e.train_time_s = slowest;
      e.evaluated = true;
      evals.push_back(e);
      log_info("eval after ", it + 1, " iterations (epoch ", static_cast<double>(it + 1) / per_epoch, "): test acc ",
               e.test_acc, ", divergence ", e.divergence, ", training time ", slowest, " s");
      if (!result.time_to_target_s && e.test_acc >= o.target_acc) {
        result.time_to_target_s = slowest;
        result.iterations_to_target = it + 1;
      }
    }
  }

  // Gather the per-iteration records and fold in the evaluations.
  result.rows = gather_rows(fields, total, ctx.dc_of_rank, ctx.control.mpi_comm(), dcs);
  for (IterationRow& row : result.rows) row.epoch = static_cast<double>(row.iteration + 1) / per_epoch;
  for (const IterationRow& e : evals) {
    if (rank == 0) {
      IterationRow& row = result.rows[static_cast<std::size_t>(e.iteration)];
      row.test_acc = e.test_acc;
      row.divergence = e.divergence;
      row.train_time_s = e.train_time_s;
      row.evaluated = true;
    }
    result.best_test_acc = std::max(result.best_test_acc, e.test_acc);
  }
  result.final_test_acc = evals.back().test_acc;
  result.train_time_s = evals.back().train_time_s;

  // The measured profile (slowest rank per entry) and the simulator's prediction from it.
  result.profile = trainer.measured_profile();
  std::vector<double> numbers;
  for (const auto& l : result.profile.layers) numbers.insert(numbers.end(), {l.forward_s, l.backward_s});
  numbers.push_back(result.profile.optimizer_s);
  ctx.control.all_reduce(numbers.data(), numbers.data(), static_cast<std::int64_t>(numbers.size()), DType::f64,
                         ReduceOp::max);
  for (std::size_t i = 0; i < result.profile.layers.size(); ++i) {
    result.profile.layers[i].forward_s = numbers[2 * i];
    result.profile.layers[i].backward_s = numbers[2 * i + 1];
  }
  result.profile.optimizer_s = numbers.back();
  const dist::ClusterModel cluster =
      dist::ClusterModel::from_link_model(world, ctx.links, dist::ClusterModel{}.intra_bandwidth_bps,
                                          dist::ClusterModel{}.intra_latency_s);
  dist::SimOptions sim;
  sim.period = o.period;
  sim.bucket_bytes = o.bucket_bytes;
  result.predicted = trainer.plan() != nullptr ? dist::simulate_plan(*trainer.plan(), result.profile, cluster, scheme)
                                               : dist::simulate(scheme, result.profile, cluster, sim);
  result.predicted_iteration_s = result.predicted.iteration_s;
  if (trainer.plan() != nullptr) result.plan = trainer.plan()->to_json();
  if (scheme == dist::Scheme::dreamddp) {
    const dist::PlannerStats& ps = trainer.planner_stats();
    nlohmann::json costs = nlohmann::json::array();
    for (const dist::LayerCost& c : trainer.planned_costs()) costs.push_back({c.backward_s, c.comm_s});
    result.planner = {{"nodes", ps.nodes},       {"exact", ps.exact},
                      {"objective_s", ps.objective_s}, {"greedy_objective_s", ps.greedy_objective_s},
                      {"extra_syncs", ps.extra_syncs}, {"replans", trainer.replans()},
                      {"costs_backward_comm_s", costs}};
  }
  // The job's iteration time: its slowest worker's time over the steady iterations, per iteration
  // (workers of the local schemes drift apart within a period, so per-iteration maxima would overstate it).
  ctx.control.all_reduce(&steady_time, &steady_time, 1, DType::f64, ReduceOp::max);
  if (rank == 0) {
    double n = 0, busy = 0;
    for (const IterationRow& row : result.rows) {
      if (row.iteration < o.skip) continue;
      n += 1;
      result.mean_compute_s += row.compute_mean_s;
      result.mean_exposed_s += row.exposed_mean_s;
      busy += row.busy_mean_s;
      for (int a = 0; a < dcs; ++a)
        for (int b = 0; b < dcs; ++b)
          if (a != b) result.wan_bytes_per_iteration += row.link_bytes[static_cast<std::size_t>(a * dcs + b)];
    }
    result.overlap = busy > 0 ? std::clamp(1.0 - result.mean_exposed_s / busy, 0.0, 1.0) : 1.0;
    result.mean_iteration_s = steady_time / n;
    result.mean_compute_s /= n;
    result.mean_exposed_s /= n;
    result.wan_bytes_per_iteration /= n;
  }

  // Per-scheme results directory.
  RunInfo info;
  info.app = "geoddp";
  info.config = o.to_json();
  info.config["scheme"] = dist::scheme_name(scheme);
  info.command_line = ctx.command_line;
  info.threads = ctx.runtime.threads();
  ResultsDir dir(o.out_dir.empty() ? "" : (std::filesystem::path(o.out_dir) / dist::scheme_name(scheme)).string(),
                 info, ctx.control.mpi_comm());
  dir.open_metrics(metrics_columns(dcs));
  for (const IterationRow& row : result.rows) dir.metrics_row(metrics_values(row, dcs));
  dir.write_summary(summary_json(result, o));
  return result;
}

int run(const Options& o, const Runtime& runtime, const std::vector<std::string>& command_line) {
  const int world = runtime.world_size();
  const std::vector<int> dc_of_rank =
      o.dc_map.empty() ? data_centers_from_count(world, o.dcs) : parse_data_center_map(o.dc_map, world);
  const int dcs = *std::max_element(dc_of_rank.begin(), dc_of_rank.end()) + 1;
  MERIDIAN_INPUT_CHECK(dcs == 1 || o.link.any(), "geoddp: ", dcs, " data centers need WAN links: give --bandwidth ",
                       "(and --latency), --link-trace, or --regions with --region-tables");
  MERIDIAN_INPUT_CHECK(dcs > 1 || !o.link.any(), "geoddp: --bandwidth/--link-trace/--regions describe links between ",
                       "data centers; give --dcs N (N >= 2) or --dc-map as well");
  const LinkModel links = dcs > 1 ? make_link_model(o.link, dcs) : LinkModel::uniform(1, 1e12, 0);

  data::FashionMnistOptions fm;
  if (!o.data_dir.empty()) fm.dir = o.data_dir;
  const data::Dataset train = data::load_fashion_mnist(data::Split::train, fm);
  const data::Dataset test = data::load_fashion_mnist(data::Split::test, fm);
  MpiCommunicator control(MPI_COMM_WORLD);

  log_info("geoddp: ", o.model, " on Fashion-MNIST (", train.size(), " train / ", test.size(), " test), ", world,
           " workers in ", dcs, " data centers, ", dcs > 1 ? links.describe() : std::string("no WAN"), ", ",
           o.noniid_alpha > 0 ? cat("non-IID Dirichlet(", o.noniid_alpha, ")") : std::string("IID"), " shards, lr ",
           o.lr, ", momentum ", o.momentum, ", threads ", runtime.threads(), " per rank");

  RunInfo info;
  info.app = "geoddp";
  info.config = o.to_json();
  info.command_line = command_line;
  info.threads = runtime.threads();
  ResultsDir top(o.out_dir, info, MPI_COMM_WORLD);
  const Context ctx{o, runtime, command_line, train, test, dc_of_rank, links, control};
  std::vector<SchemeResult> results;
  for (dist::Scheme s : o.schemes) results.push_back(run_scheme(ctx, s));

  if (runtime.world_rank() == 0) print_comparison(results, o, dcs > 1 ? links.describe() : "no WAN");
  const SchemeResult* ssgd = nullptr;
  for (const SchemeResult& r : results)
    if (r.scheme == dist::Scheme::ssgd) ssgd = &r;
  top.open_metrics(comparison_columns());
  for (const SchemeResult& r : results) top.metrics_row(comparison_values(r, ssgd));
  top.write_summary(comparison_json(results));

  if (o.sweep && runtime.world_rank() == 0) {
    // DreamDDP's profile when it ran (its units are the ones the planner spreads), else the last one.
    const SchemeResult* source = &results.back();
    for (const SchemeResult& r : results)
      if (r.scheme == dist::Scheme::dreamddp) source = &r;
    dist::SweepSpec spec;
    spec.workers = {world, 32, 128, 1024};
    spec.inter_bandwidth_bps = {10e6, 30e6, 100e6, 300e6, 1e9, 10e9};
    spec.base = dist::ClusterModel::from_link_model(world, links, spec.base.intra_bandwidth_bps,
                                                    spec.base.intra_latency_s);
    spec.base.dcs = std::max(dcs, 2);
    if (dcs == 1) spec.base.inter_latency_s = 0;
    spec.options.period = o.period;
    spec.options.bucket_bytes = o.bucket_bytes;
    log_info("\n# simulator sweep from the measured profile of ", dist::scheme_name(source->scheme), " (",
             source->profile.layers.size(), " units), ", spec.base.dcs, " data centers, latency ",
             1e3 * spec.base.inter_latency_s, " ms");
    write_sweep(dist::sweep(source->profile, spec), o.out_dir);
  }
  return 0;
}

}  // namespace
}  // namespace meridian::geoddp

int main(int argc, char** argv) {
  using namespace meridian;
  using geoddp::Options;
  const std::vector<std::string> command_line(argv, argv + argc);
  return run_main([&]() -> int {
    Options o;
    CLI::App app{"geoddp: data-parallel training across emulated data centers (S-SGD, WFBP, FLSGD, PLSGD-even, "
                 "DreamDDP),\nwith time-to-accuracy and the simulator's prediction. Run under mpirun/srun."};
    cli::configure(app);
    app.add_option("--model", o.model, "mlp or cnn");
    app.add_option("--scheme", o.schemes_text, "ssgd, wfbp, flsgd, plsgd, dreamddp, or a comma list run in turn");
    app.add_option("--H", o.period, "Period of flsgd, plsgd and dreamddp (iterations per full synchronisation)");
    app.add_option("--dcs", o.dcs, "Data centers: this many contiguous blocks of ranks");
    app.add_option("--dc-map", o.dc_map, "Data center of every rank, e.g. 0,0,1,1 (instead of --dcs)");
    app.add_option("--bandwidth", o.link.bandwidth, "Bandwidth of every inter-DC link (100Mbit, 1Gbit)");
    app.add_option("--latency", o.link.latency, "One-way latency of every inter-DC link (30ms)");
    app.add_option("--link-trace", o.link.link_trace, "CSV time_s,bandwidth_bps: the inter-DC bandwidth over time");
    app.add_option("--regions", o.link.regions, "Data center i in region i (aws:us-east-1,gcp:europe-west4-a)");
    app.add_option("--region-tables", o.link.region_tables,
                   "Folder with inter_region_throughput.csv and inter_region_rtt.csv (for --regions)");
    app.add_option("--epochs", o.epochs, "Epochs per scheme (fractions allowed)");
    app.add_option("--iterations", o.iterations, "Cap on the iterations per scheme (0: --epochs decides)");
    app.add_option("--batch", o.batch, "Batch size per worker");
    app.add_option("--lr", o.lr, "Learning rate");
    app.add_option("--momentum", o.momentum, "SGD momentum (local state of each worker)");
    app.add_option("--weight-decay", o.weight_decay, "SGD weight decay");
    app.add_option("--target-acc", o.target_acc, "Test accuracy whose time-to-reach is reported");
    app.add_option("--noniid-alpha", o.noniid_alpha, "0: IID shards; > 0: Dirichlet(alpha) label skew per worker");
    app.add_option("--seed", o.seed, "Seed of the model, the sampler and the shards");
    app.add_option("--out", o.out_dir, "Results directory: summary.json and metrics.csv (comparison), one folder per scheme");
    app.add_option("--data", o.data_dir, "Fashion-MNIST folder (default: Debian's dataset-fashion-mnist)");
    app.add_option("--eval-every", o.eval_every, "Iterations between test evaluations (0: once per epoch)");
    app.add_option("--eval-samples", o.eval_samples, "Test images per evaluation (0: all 10000)");
    app.add_option("--print-every", o.print_every, "Iterations between step lines");
    app.add_option("--skip", o.skip, "Leading iterations left out of the mean iteration time");
    app.add_option("--bucket", o.bucket_text, "WFBP bucket size (K, M suffixes; 0: one bucket per layer)");
    app.add_option("--unit", o.unit_text, "Largest sync unit; bigger layers are cut (0: whole layers; auto: model size / H for dreamddp, whole layers for plsgd)");
    app.add_option("--profile-iters", o.profile_iterations, "DreamDDP: profiling iterations before planning");
    app.add_option("--replan-threshold", o.replan_threshold,
                   "DreamDDP: relative change of the link bandwidth (with --link-trace) that re-plans");
    app.add_option("--threads", o.threads, "Compute threads per rank (0: automatic)");
    app.add_flag("--sweep", o.sweep,
                 "Afterwards, the simulator's prediction of every scheme for 4..1024 workers and 10 Mbit/s..10 Gbit/s "
                 "from the measured profile (sweep.csv)");
    if (!cli::parse(app, argc, argv)) return 0;
    geoddp::finish_parsing(o);
    RuntimeOptions runtime_options;
    runtime_options.threads = o.threads;
    Runtime runtime(argc, argv, runtime_options);
    return geoddp::run(o, runtime, command_line);
  });
}
