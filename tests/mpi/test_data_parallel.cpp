// DataParallelTrainer over an emulated WAN (data centers = contiguous halves of the ranks): FLSGD
// with H = 1 and WFBP compute what S-SGD computes; every scheme with a period synchronises every
// unit at least once per H iterations (counters, and lr = 0 runs from different initial models that
// end bitwise equal); replicas_equal_after against the replicas themselves; WFBP's non-blocking
// syncs overlap backward (exposed wait clearly below channel busy time); DreamDDP's plan is the same
// on every rank and absent while profiling; parameter_divergence against closed forms. Each rank
// trains on its own random batches (a seeded generator per rank and iteration).
#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "mpi_world.hpp"
#include "comm/link_model.hpp"
#include "comm/mesh_layout.hpp"
#include "comm/mpi_communicator.hpp"
#include "comm/wan_communicator.hpp"
#include "dist/dp/data_parallel.hpp"
#include "nn/models.hpp"
#include "nn/sgd.hpp"

namespace meridian::dist {
namespace {

using meridian::testing::world_rank;
using meridian::testing::world_size;

// Two data centers, contiguous halves: {0, 1} at 2 ranks, {0, 0, 1, 1} at 4.
std::vector<int> halves() { return data_centers_from_count(world_size(), 2); }

WanCommunicator fast_wan() { return WanCommunicator(MPI_COMM_WORLD, halves(), LinkModel::uniform(2, 10e9, 0)); }

struct Batch {
  Tensor images, labels;
};

// This rank's batch for iteration `it` of a test: inputs U(-1, 1), labels uniform in [0, classes).
Batch random_batch(std::uint64_t seed, int it, std::int64_t batch, std::int64_t in, std::int64_t classes) {
  std::mt19937_64 g(seed * 1'000'003ULL + static_cast<std::uint64_t>(world_rank()) * 7919ULL +
                    static_cast<std::uint64_t>(it));
  std::uniform_real_distribution<float> x(-1.f, 1.f);
  std::uniform_int_distribution<std::int32_t> y(0, static_cast<std::int32_t>(classes - 1));
  Batch b{Tensor::empty({batch, in}), Tensor::empty({batch}, DType::i32)};
  float* px = b.images.data<float>();
  for (std::int64_t i = 0; i < batch * in; ++i) px[i] = x(g);
  std::int32_t* py = b.labels.data<std::int32_t>();
  for (std::int64_t i = 0; i < batch; ++i) py[i] = y(g);
  return b;
}

constexpr std::int64_t kIn = 16, kClasses = 4, kBatch = 8;
nn::Model small_mlp(std::uint64_t seed) { return nn::make_mlp(kIn, {12, 8}, kClasses, seed); }

nn::SgdOptions plain_sgd(float lr) {
  nn::SgdOptions o;
  o.lr = lr;
  o.momentum = 0.f;
  o.weight_decay = 0.f;
  return o;
}

SchemeOptions scheme_options(Scheme scheme, int period) {
  SchemeOptions o;
  o.scheme = scheme;
  o.period = period;
  return o;
}

std::vector<float> flat_parameters(nn::Model& model) {
  std::vector<float> flat(static_cast<std::size_t>(model.parameter_count()));
  model.copy_parameters_to(flat);
  return flat;
}

// Whether every rank holds bitwise the same parameters as rank 0 (the same answer on every rank).
bool replicas_bitwise_equal(nn::Model& model) {
  const std::vector<float> mine = flat_parameters(model);
  std::vector<float> root = mine;
  MPI_Bcast(root.data(), static_cast<int>(root.size()), MPI_FLOAT, 0, MPI_COMM_WORLD);
  int differs = std::memcmp(root.data(), mine.data(), mine.size() * sizeof(float)) != 0 ? 1 : 0;
  MPI_Allreduce(MPI_IN_PLACE, &differs, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return differs == 0;
}

// Largest |a - b| over every element and rank, relative to the largest |a| (at least 1).
double max_relative_diff(nn::Model& a, nn::Model& b) {
  const std::vector<float> pa = flat_parameters(a), pb = flat_parameters(b);
  double diff = 0, scale = 1;
  for (std::size_t i = 0; i < pa.size(); ++i) {
    diff = std::max(diff, std::abs(static_cast<double>(pa[i]) - pb[i]));
    scale = std::max(scale, std::abs(static_cast<double>(pa[i])));
  }
  double both[2] = {diff, scale};
  MPI_Allreduce(MPI_IN_PLACE, both, 2, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return both[0] / both[1];
}

// a. FLSGD with H = 1 (average the parameters after every local step) and WFBP (gradients averaged in
// buckets from the backward hook) give what S-SGD gives, with plain SGD, from the same model and the
// same per-rank batches.
TEST(DataParallel, FlsgdH1AndWfbpEqualSsgd) {
  WanCommunicator wan = fast_wan();
  MpiCommunicator control(MPI_COMM_WORLD);
  struct Case {
    Scheme scheme;
    std::int64_t bucket_bytes;
    int syncs;  // all-reduces per iteration
  };
  // small_mlp: fc1 816 bytes, fc2 416, fc3 144. 256-byte buckets: {fc3, fc2}, {fc1}; 100 or 0: one per
  // layer; 4096: one bucket.
  for (const Case& c : {Case{Scheme::flsgd, 0, 1}, Case{Scheme::wfbp, 256, 2}, Case{Scheme::wfbp, 100, 3},
                        Case{Scheme::wfbp, 0, 3}, Case{Scheme::wfbp, 4096, 1}}) {
    SCOPED_TRACE(std::string(scheme_name(c.scheme)) + " bucket " + std::to_string(c.bucket_bytes));
    nn::Model reference = small_mlp(11), model = small_mlp(11);
    nn::SGD reference_sgd(reference.parameters(), plain_sgd(0.2f)), sgd(model.parameters(), plain_sgd(0.2f));
    DataParallelTrainer ssgd(reference, reference_sgd, wan, control, scheme_options(Scheme::ssgd, 1));
    SchemeOptions options = scheme_options(c.scheme, 1);
    options.bucket_bytes = c.bucket_bytes;
    DataParallelTrainer trainer(model, sgd, wan, control, options);
    for (int it = 0; it < 5; ++it) {
      const Batch b = random_batch(1, it, kBatch, kIn, kClasses);
      const IterationStats rs = ssgd.step(b.images, b.labels);
      const IterationStats s = trainer.step(b.images, b.labels);
      EXPECT_EQ(rs.syncs, 1);
      EXPECT_EQ(s.syncs, c.syncs) << "iteration " << it;
      EXPECT_NEAR(s.loss, rs.loss, 1e-5 * std::max(1.0, std::abs(rs.loss))) << "iteration " << it;
      EXPECT_LE(max_relative_diff(model, reference), 1e-6) << "iteration " << it;
    }
    // The models moved (lr > 0), and every replica agrees.
    nn::Model initial = small_mlp(11);
    EXPECT_GT(max_relative_diff(model, initial), 1e-4);
    EXPECT_TRUE(replicas_bitwise_equal(model));
    EXPECT_TRUE(replicas_bitwise_equal(reference));
  }
}

struct PeriodicCase {
  Scheme scheme;
  std::int64_t unit_bytes;  // -1: the scheme's default
  std::string label() const { return std::string(scheme_name(scheme)) + " unit_bytes " + std::to_string(unit_bytes); }
};

const std::vector<PeriodicCase> kPeriodic = {{Scheme::flsgd, -1},    {Scheme::plsgd, -1}, {Scheme::plsgd, 200},
                                             {Scheme::dreamddp, -1}, {Scheme::dreamddp, 200}};
constexpr int kH = 3, kProfile = 2;

SchemeOptions periodic_options(const PeriodicCase& c) {
  SchemeOptions o = scheme_options(c.scheme, kH);
  o.unit_bytes = c.unit_bytes;
  o.profile_iterations = kProfile;
  return o;
}

// b. Every unit is synchronised at least once in any H consecutive iterations after profiling.
TEST(DataParallel, EveryUnitSyncsOncePerPeriod) {
  WanCommunicator wan = fast_wan();
  MpiCommunicator control(MPI_COMM_WORLD);
  for (const PeriodicCase& c : kPeriodic) {
    SCOPED_TRACE(c.label());
    nn::Model model = small_mlp(3);
    nn::SGD sgd(model.parameters(), plain_sgd(0.05f));
    DataParallelTrainer trainer(model, sgd, wan, control, periodic_options(c));
    const int start = c.scheme == Scheme::dreamddp ? kProfile : 0;
    if (c.unit_bytes == 200) {
      EXPECT_GT(trainer.units().units.size(), 3u);  // layers cut
    }
    std::vector<std::vector<std::int64_t>> history = {trainer.unit_syncs()};  // before iteration i: history[i]
    for (int it = 0; it < start + 3 * kH; ++it) {
      const Batch b = random_batch(2, it, kBatch, kIn, kClasses);
      trainer.step(b.images, b.labels);
      history.push_back(trainer.unit_syncs());
    }
    if (c.scheme == Scheme::dreamddp) {  // profiling averages every unit every iteration
      for (std::int64_t n : history[static_cast<std::size_t>(kProfile)]) EXPECT_EQ(n, kProfile);
    }
    for (int from = start; from + kH < static_cast<int>(history.size()); ++from)
      for (std::size_t u = 0; u < trainer.units().units.size(); ++u)
        EXPECT_GE(history[static_cast<std::size_t>(from + kH)][u], history[static_cast<std::size_t>(from)][u] + 1)
            << "unit " << trainer.units().units[u].name << " not synchronised in iterations " << from << ".."
            << from + kH - 1;
  }
}

// b. With lr = 0 only the averaging changes the parameters: replicas that start from different
// models (re-initialised per rank after profiling, so DreamDDP's profiling averages do not count)
// are bitwise equal after one period, and not before its last iteration.
TEST(DataParallel, OnePeriodAfterProfilingEqualisesEveryUnit) {
  WanCommunicator wan = fast_wan();
  MpiCommunicator control(MPI_COMM_WORLD);
  const std::uint64_t my_seed = 100 + static_cast<std::uint64_t>(world_rank());
  for (const PeriodicCase& c : kPeriodic) {
    SCOPED_TRACE(c.label());
    nn::Model model = small_mlp(my_seed);
    nn::SGD sgd(model.parameters(), plain_sgd(0.f));
    DataParallelTrainer trainer(model, sgd, wan, control, periodic_options(c));
    int it = 0;
    if (c.scheme == Scheme::dreamddp) {
      for (; it < kProfile; ++it) {
        const Batch b = random_batch(4, it, kBatch, kIn, kClasses);
        trainer.step(b.images, b.labels);
      }
      EXPECT_TRUE(replicas_bitwise_equal(model));  // profiling averaged everything
      nn::Model other = small_mlp(my_seed + 50);
      model.copy_parameters_from(flat_parameters(other));
    }
    ASSERT_FALSE(replicas_bitwise_equal(model));
    for (int t = 0; t < kH; ++t, ++it) {
      const Batch b = random_batch(4, it, kBatch, kIn, kClasses);
      trainer.step(b.images, b.labels);
      if (t < kH - 1 && c.scheme != Scheme::dreamddp) {  // DreamDDP may fill bubbles and finish early
        EXPECT_FALSE(replicas_bitwise_equal(model)) << "equal already after slot " << t;
      }
    }
    EXPECT_TRUE(replicas_bitwise_equal(model)) << "some unit was not averaged within one period";
  }
}

// b. replicas_equal_after(it) true means the replicas ARE bitwise equal after iteration it (the
// same initial model on every rank, different batches, lr > 0); for FLSGD, false means they differ.
TEST(DataParallel, ReplicasEqualAfterTellsTheTruth) {
  WanCommunicator wan = fast_wan();
  MpiCommunicator control(MPI_COMM_WORLD);
  for (Scheme scheme : {Scheme::ssgd, Scheme::wfbp, Scheme::flsgd}) {
    SCOPED_TRACE(scheme_name(scheme));
    nn::Model model = small_mlp(5);
    nn::SGD sgd(model.parameters(), plain_sgd(0.1f));
    SchemeOptions options = scheme_options(scheme, kH);
    options.bucket_bytes = 256;
    DataParallelTrainer trainer(model, sgd, wan, control, options);
    int promised = 0;
    for (int it = 0; it < 2 * kH + 1; ++it) {
      const Batch b = random_batch(5, it, kBatch, kIn, kClasses);
      trainer.step(b.images, b.labels);
      const bool equal = replicas_bitwise_equal(model);
      if (trainer.replicas_equal_after(it)) {
        ++promised;
        EXPECT_TRUE(equal) << "iteration " << it << ": promised equal replicas";
      } else if (scheme == Scheme::flsgd) {
        EXPECT_FALSE(equal) << "iteration " << it << ": local steps on different batches left equal replicas";
      }
    }
    EXPECT_EQ(promised, scheme == Scheme::flsgd ? 2 : 2 * kH + 1);
  }
}

// c. WFBP's bucket all-reduces run on the communicator's thread while backward goes on: summed over
// iterations, the wait the loop sees (exposed) is clearly less than the time the channel was busy.
// The model puts most parameters near the output and most backward work near the input (the CNN:
// fc1 holds 96 % of the parameters, conv2's backward is the heaviest), so the {fc2, fc1} bucket
// (1.6 MB, about 65 ms between the two leaders at 200 Mbit/s) crosses the slow link while the
// convolutions' backward (25-50 ms on a shared core) runs. Measured on 2 cores: exposed / busy
// 0.55-0.6 at 2 and at 4 ranks; an MLP (784-512-512-10) cannot show it, its backward below the
// first bucket takes under 1 ms.
TEST(DataParallel, WfbpOverlapsBackward) {
  WanCommunicator wan(MPI_COMM_WORLD, halves(), LinkModel::uniform(2, 200e6, 0));
  MpiCommunicator control(MPI_COMM_WORLD);
  nn::Model model = nn::make_cnn(9);
  nn::SGD sgd(model.parameters(), plain_sgd(0.01f));
  SchemeOptions options = scheme_options(Scheme::wfbp, 1);
  options.bucket_bytes = 256 << 10;
  DataParallelTrainer trainer(model, sgd, wan, control, options);
  double exposed = 0, busy = 0, backward = 0, wall = 0;
  constexpr int kWarmup = 1, kIterations = 6;
  constexpr std::int64_t kImages = 64;
  for (int it = 0; it < kWarmup + kIterations; ++it) {
    Batch b = random_batch(6, it, kImages, 28 * 28, 10);
    b.images = b.images.view({kImages, 1, 28, 28});
    const IterationStats s = trainer.step(b.images, b.labels);
    EXPECT_EQ(s.syncs, 2);  // {fc2, fc1} and {conv2, conv1}
    if (it < kWarmup) continue;
    exposed += s.exposed_s;
    busy += s.comm_busy_s;
    backward += s.backward_s;
    wall += s.wall_s;
  }
  if (world_rank() == 0)
    std::printf("[ wfbp overlap ] %d iterations: exposed %.1f ms, channel busy %.1f ms, backward %.1f ms, wall %.1f ms\n",
                kIterations, 1e3 * exposed, 1e3 * busy, 1e3 * backward, 1e3 * wall);
  EXPECT_GT(busy, 0);
  EXPECT_LT(exposed, 0.8 * busy) << "exposed " << exposed << " s vs channel busy " << busy << " s";
}

// d. DreamDDP: no plan while profiling; after it, the same plan on every rank (each rank timed its
// own layers; the plan is made from the maximum over ranks).
TEST(DataParallel, DreamddpPlanIsSharedAndAbsentWhileProfiling) {
  WanCommunicator wan = fast_wan();
  MpiCommunicator control(MPI_COMM_WORLD);
  for (std::int64_t unit_bytes : {std::int64_t{-1}, std::int64_t{200}}) {
    SCOPED_TRACE("unit_bytes " + std::to_string(unit_bytes));
    nn::Model model = small_mlp(8);
    nn::SGD sgd(model.parameters(), plain_sgd(0.05f));
    SchemeOptions options = scheme_options(Scheme::dreamddp, kH);
    options.profile_iterations = 3;
    options.unit_bytes = unit_bytes;
    DataParallelTrainer trainer(model, sgd, wan, control, options);
    EXPECT_EQ(trainer.plan(), nullptr);
    for (int it = 0; it < options.profile_iterations + kH; ++it) {
      const Batch b = random_batch(7, it, kBatch, kIn, kClasses);
      trainer.step(b.images, b.labels);
      if (it + 1 < options.profile_iterations) {
        EXPECT_EQ(trainer.plan(), nullptr) << "a plan during profiling iteration " << it;
        continue;
      }
      ASSERT_NE(trainer.plan(), nullptr) << "no plan after iteration " << it;
      EXPECT_EQ(trainer.plan()->period(), kH);
      EXPECT_EQ(trainer.plan()->layers(), static_cast<int>(trainer.units().units.size()));
      const std::uint64_t hash = std::hash<std::string>{}(trainer.plan()->to_json().dump());
      std::uint64_t lo = hash, hi = hash;
      MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
      MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
      EXPECT_EQ(lo, hi) << "ranks hold different plans after iteration " << it << "; this rank's: "
                        << trainer.plan()->describe();
    }
    EXPECT_EQ(trainer.planned_costs().size(), trainer.units().units.size());
  }
}

// e. parameter_divergence: 0 for identical replicas; for rank r holding r + 1 everywhere (n ranks),
// w̄ = (n + 1) / 2 and sqrt(mean_r |w_r − w̄|²) / |w̄| = sqrt((n² − 1) / 12) / ((n + 1) / 2).
TEST(DataParallel, ParameterDivergenceClosedForms) {
  MpiCommunicator control(MPI_COMM_WORLD);
  nn::Model model = small_mlp(12);
  std::vector<float> average;
  const std::vector<float> initial = flat_parameters(model);
  EXPECT_EQ(parameter_divergence(model, control, average), 0.0);
  EXPECT_EQ(average, initial);

  const int n = world_size();
  model.copy_parameters_from(std::vector<float>(initial.size(), static_cast<float>(world_rank() + 1)));
  const double expected = std::sqrt((n * n - 1) / 12.0) / ((n + 1) / 2.0);
  EXPECT_NEAR(parameter_divergence(model, control, average), expected, 1e-6 * expected);
  ASSERT_EQ(average.size(), initial.size());
  for (float v : average) ASSERT_FLOAT_EQ(v, (n + 1) / 2.0f);
}

// The profile handed to the simulator: one entry per sync unit with the unit's bytes, the forward
// total on unit 0, each layer's backward on its last unit, and totals that match what the
// iterations measured (the hooks split the backward; they do not add to it).
TEST(DataParallel, MeasuredProfileMatchesTheIterations) {
  WanCommunicator wan = fast_wan();
  MpiCommunicator control(MPI_COMM_WORLD);
  nn::Model model = small_mlp(5);
  nn::SGD sgd(model.parameters(), plain_sgd(0.05f));
  SchemeOptions options = scheme_options(Scheme::plsgd, 2);
  options.unit_bytes = 200;
  DataParallelTrainer trainer(model, sgd, wan, control, options);
  double forward = 0, backward = 0;
  constexpr int kIterations = 5;
  for (int it = 0; it < kIterations; ++it) {
    const Batch b = random_batch(8, it, kBatch, kIn, kClasses);
    const IterationStats s = trainer.step(b.images, b.labels);
    if (it == 0) continue;  // the profile leaves out the warm-up iteration
    forward += s.forward_s;
    backward += s.backward_s;
  }
  const ModelProfile profile = trainer.measured_profile();
  const UnitLayout& units = trainer.units();
  ASSERT_EQ(profile.layers.size(), units.units.size());
  std::int64_t bytes = 0;
  for (std::size_t u = 0; u < units.units.size(); ++u) {
    EXPECT_EQ(profile.layers[u].param_bytes, units.units[u].bytes());
    EXPECT_EQ(profile.layers[u].name, units.units[u].name);
    if (u > 0) {
      EXPECT_EQ(profile.layers[u].forward_s, 0.0);
    }
    const SyncUnit& unit = units.units[u];
    const bool last_of_layer = u + 1 == units.units.size() || units.units[u + 1].layer != unit.layer;
    if (!last_of_layer) {
      EXPECT_EQ(profile.layers[u].backward_s, 0.0) << unit.name;
    }
    bytes += unit.bytes();
  }
  EXPECT_EQ(bytes, model.parameter_count() * 4);
  const double n = kIterations - 1;
  EXPECT_NEAR(profile.forward_s(), forward / n, 1e-12);
  // Backward of the layers above the lowest parameter layer's hook: at most the whole backward.
  EXPECT_GT(profile.backward_s(), 0.0);
  EXPECT_LE(profile.backward_s(), backward / n + 1e-9);
}

}  // namespace
}  // namespace meridian::dist
