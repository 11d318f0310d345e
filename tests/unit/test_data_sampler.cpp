// lib/data samplers and batches: IID shards disjoint and covering each epoch, Dirichlet non-IID
// assignment (complete, deterministic, skew growing as alpha falls), Gamma draws against their
// moments, and resume from a saved position equal to an uninterrupted run. Indices are int64
// dataset positions; batches are (B, 1, H, W) f32 images and (B) i32 labels.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <vector>

#include "core/rng.hpp"
#include "data/dataset.hpp"
#include "data/dirichlet.hpp"
#include "data/sampler.hpp"
#include "kernels/common/error.hpp"

using meridian::InputError;
using meridian::Rng;
using meridian::StreamPurpose;
using namespace meridian::data;
using Indices = std::vector<std::int64_t>;

namespace {

// n labels, 10 balanced classes in a scrambled order.
std::vector<std::int32_t> balanced_labels(std::int64_t n, int classes = 10) {
  std::vector<std::int32_t> labels(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i)
    labels[static_cast<std::size_t>(i)] = static_cast<std::int32_t>((i * 7) % classes);
  return labels;
}

// Entropy (nats) of the labels of `samples`.
double label_entropy(const Indices& samples, const std::vector<std::int32_t>& labels, int classes) {
  std::vector<double> counts(static_cast<std::size_t>(classes), 0.0);
  for (const auto i : samples) counts[static_cast<std::size_t>(labels[static_cast<std::size_t>(i)])] += 1.0;
  double h = 0.0;
  for (const double c : counts)
    if (c > 0) h -= c / static_cast<double>(samples.size()) * std::log(c / static_cast<double>(samples.size()));
  return h;
}

SamplerOptions options_for(SamplerMode mode, int world, int rank, std::uint64_t seed, double alpha = 1.0) {
  SamplerOptions o;
  o.mode = mode;
  o.world_size = world;
  o.rank = rank;
  o.seed = seed;
  o.alpha = alpha;
  return o;
}

}  // namespace

TEST(IidSampler, ShardsAreDisjointEqualAndCoverTheEpoch) {
  for (const std::int64_t n : {std::int64_t{100}, std::int64_t{103}}) {
    const int world = 4;
    std::set<std::int64_t> seen;
    for (int r = 0; r < world; ++r) {
      const Indices shard = iid_shard(n, world, r, 7, 3);
      EXPECT_EQ(static_cast<std::int64_t>(shard.size()), n / world);
      for (const auto i : shard) {
        EXPECT_TRUE(i >= 0 && i < n);
        EXPECT_TRUE(seen.insert(i).second) << "index " << i << " in two shards";
      }
    }
    EXPECT_EQ(static_cast<std::int64_t>(seen.size()), n - n % world);  // the remainder is dropped
  }
  // Over epochs the dropped few change: every sample is seen eventually.
  std::set<std::int64_t> ever;
  for (std::uint64_t e = 0; e < 20; ++e)
    for (int r = 0; r < 4; ++r)
      for (const auto i : iid_shard(103, 4, r, 7, e)) ever.insert(i);
  EXPECT_EQ(ever.size(), 103u);
}

TEST(IidSampler, SeededEpochsDifferAndRepeat) {
  EXPECT_EQ(iid_shard(1000, 2, 1, 5, 0), iid_shard(1000, 2, 1, 5, 0));
  EXPECT_NE(iid_shard(1000, 2, 1, 5, 0), iid_shard(1000, 2, 1, 5, 1));
  EXPECT_NE(iid_shard(1000, 2, 1, 5, 0), iid_shard(1000, 2, 1, 6, 0));
  Indices sorted = iid_shard(1000, 1, 0, 5, 0);
  EXPECT_FALSE(std::is_sorted(sorted.begin(), sorted.end()));
  std::sort(sorted.begin(), sorted.end());
  Indices all(1000);
  std::iota(all.begin(), all.end(), 0);
  EXPECT_EQ(sorted, all);  // one rank: a permutation of everything
  // The sampler hands out exactly epoch_order, batch by batch, then moves to the next epoch.
  DistributedSampler s(1000, options_for(SamplerMode::iid, 3, 2, 5));
  EXPECT_EQ(s.samples_per_epoch(), 333);
  EXPECT_EQ(s.batches_per_epoch(32), 11);
  Indices got;
  for (int b = 0; b < 11; ++b) {
    const Indices batch = s.next_batch(32);
    EXPECT_EQ(batch.size(), b < 10 ? 32u : 13u);
    got.insert(got.end(), batch.begin(), batch.end());
  }
  EXPECT_EQ(got, s.epoch_order(0));
  EXPECT_EQ(s.epoch_order(0), iid_shard(1000, 3, 2, 5, 0));
  EXPECT_EQ(s.position(), (SamplerPosition{1, 0}));
  const Indices e1 = s.epoch_order(1);
  EXPECT_EQ(s.next_batch(5), Indices(e1.begin(), e1.begin() + 5));
}

TEST(IidSampler, DropLastSkipsTheShortBatch) {
  SamplerOptions o = options_for(SamplerMode::iid, 2, 0, 1);
  o.drop_last = true;
  DistributedSampler s(50, o);  // 25 per rank: batches of 10 -> 2 per epoch
  EXPECT_EQ(s.batches_per_epoch(10), 2);
  const Indices e0 = s.epoch_order(0), e1 = s.epoch_order(1);
  EXPECT_EQ(s.next_batch(10), Indices(e0.begin(), e0.begin() + 10));
  EXPECT_EQ(s.next_batch(10), Indices(e0.begin() + 10, e0.begin() + 20));
  EXPECT_EQ(s.next_batch(10), Indices(e1.begin(), e1.begin() + 10));
  EXPECT_THROW((void)s.next_batch(26), InputError);
}

TEST(Sampler, BadArgumentsAreInputErrors) {
  EXPECT_THROW(DistributedSampler(3, options_for(SamplerMode::iid, 4, 0, 1)), InputError);  // fewer samples than ranks
  EXPECT_THROW(DistributedSampler(10, options_for(SamplerMode::iid, 2, 2, 1)), InputError);  // rank out of range
  EXPECT_THROW(DistributedSampler(10, options_for(SamplerMode::dirichlet, 2, 0, 1)), InputError);  // needs labels
  const auto labels = balanced_labels(100);
  EXPECT_THROW(DistributedSampler(labels, 10, options_for(SamplerMode::dirichlet, 2, 0, 1, 0.0)), InputError);
  // A label >= classes.
  EXPECT_THROW(DistributedSampler(labels, 5, options_for(SamplerMode::dirichlet, 2, 0, 1, 1.0)), InputError);
  DistributedSampler s(labels, 10, options_for(SamplerMode::iid, 2, 0, 1));
  EXPECT_THROW((void)s.next_batch(0), InputError);
  EXPECT_THROW(s.restore({0, 50}), InputError);  // offset beyond the 50 per epoch
  EXPECT_THROW(s.restore({0, -1}), InputError);
}

TEST(DirichletPartition, EverySampleInExactlyOneWorkerAndDeterministic) {
  const auto labels = balanced_labels(6000);
  for (const double alpha : {0.01, 0.1, 1.0, 100.0}) {
    for (const int world : {1, 3, 8}) {
      const auto parts = dirichlet_partition(labels, 10, world, alpha, 42);
      ASSERT_EQ(parts.size(), static_cast<std::size_t>(world));
      std::vector<int> owner(labels.size(), 0);
      for (const auto& part : parts) {
        EXPECT_FALSE(part.empty()) << "alpha " << alpha << " world " << world;
        EXPECT_TRUE(std::is_sorted(part.begin(), part.end()));
        for (const auto i : part) ++owner[static_cast<std::size_t>(i)];
      }
      EXPECT_TRUE(std::all_of(owner.begin(), owner.end(), [](int c) { return c == 1; }))
          << "alpha " << alpha << " world " << world;
      EXPECT_EQ(parts, dirichlet_partition(labels, 10, world, alpha, 42));
    }
  }
  EXPECT_NE(dirichlet_partition(labels, 10, 4, 0.5, 1), dirichlet_partition(labels, 10, 4, 0.5, 2));
  // The sampler's assignment is its rank's part.
  const auto parts = dirichlet_partition(labels, 10, 4, 0.5, 9);
  for (int r = 0; r < 4; ++r)
    EXPECT_EQ(DistributedSampler(labels, 10, options_for(SamplerMode::dirichlet, 4, r, 9, 0.5)).assigned(),
              parts[static_cast<std::size_t>(r)]);
}

TEST(DirichletPartition, LabelSkewGrowsAsAlphaFalls) {
  const auto labels = balanced_labels(20000);
  auto mean_entropy = [&](double alpha) {
    double sum = 0;
    int count = 0;
    for (std::uint64_t seed = 0; seed < 5; ++seed)
      for (const auto& part : dirichlet_partition(labels, 10, 8, alpha, seed)) {
        sum += label_entropy(part, labels, 10);
        ++count;
      }
    return sum / count;
  };
  const double h01 = mean_entropy(0.1), h1 = mean_entropy(1.0), h100 = mean_entropy(100.0);
  std::printf("[ skew     ] mean per-worker label entropy (nats; log 10 = %.3f): alpha 0.1 %.3f, 1 %.3f, 100 %.3f\n",
              std::log(10.0), h01, h1, h100);
  EXPECT_LT(h01, h1);
  EXPECT_LT(h1, h100);
  EXPECT_GT(h100, 0.98 * std::log(10.0));  // nearly uniform
  EXPECT_LT(h01, 0.5 * std::log(10.0));    // a few classes per worker
}

TEST(DirichletSampler, EveryRankRunsTheSameCountFromItsOwnSamples) {
  const auto labels = balanced_labels(1000);
  const int world = 4;
  for (const double alpha : {0.05, 1.0}) {
    for (int r = 0; r < world; ++r) {
      DistributedSampler s(labels, 10, options_for(SamplerMode::dirichlet, world, r, 3, alpha));
      EXPECT_EQ(s.samples_per_epoch(), 250);
      const std::set<std::int64_t> mine(s.assigned().begin(), s.assigned().end());
      const Indices e0 = s.epoch_order(0), e1 = s.epoch_order(1);
      ASSERT_EQ(e0.size(), 250u);
      EXPECT_NE(e0, e1);  // reshuffled each epoch
      EXPECT_TRUE(std::all_of(e0.begin(), e0.end(), [&](auto i) { return mine.count(i) == 1; }));
      const std::set<std::int64_t> distinct(e0.begin(), e0.end());
      if (mine.size() >= 250) {
        EXPECT_EQ(distinct.size(), 250u);  // a subset, no repeats
      } else {
        EXPECT_EQ(distinct, mine);  // wraps around: all of its samples, some repeated
      }
      EXPECT_EQ(s.batches_per_epoch(64), 4);
    }
  }
}

TEST(Gamma, MeanAndVarianceMatchTheShape) {
  // Gamma(k, 1): mean k, variance k. Standard errors: sqrt(k / n) for the mean and
  // k * sqrt((2 + 6 / k) / n) for the variance; accept 5 of them.
  const int n = 200000;
  for (const double k : {0.05, 0.3, 1.0, 2.5, 10.0}) {
    Rng rng(17, meridian::stream_id(StreamPurpose::test, 5, static_cast<std::uint64_t>(k * 100)));
    double sum = 0, sum2 = 0;
    for (int i = 0; i < n; ++i) {
      const double x = sample_gamma(rng, k);
      ASSERT_GE(x, 0.0);
      sum += x;
      sum2 += x * x;
    }
    const double mean = sum / n, var = sum2 / n - mean * mean;
    EXPECT_NEAR(mean, k, 5 * std::sqrt(k / n)) << "shape " << k;
    EXPECT_NEAR(var, k, 5 * k * std::sqrt((2 + 6 / k) / n)) << "shape " << k;
  }
  // Dirichlet draws are proportions with mean 1/k each; tiny alpha stays finite.
  Rng rng(3, 4);
  std::vector<double> mean(5, 0.0);
  for (int t = 0; t < 20000; ++t) {
    const auto p = sample_dirichlet(rng, 0.5, 5);
    EXPECT_NEAR(std::accumulate(p.begin(), p.end(), 0.0), 1.0, 1e-12);
    for (std::size_t i = 0; i < 5; ++i) mean[i] += p[i] / 20000;
  }
  for (const double m : mean) EXPECT_NEAR(m, 0.2, 0.01);
  for (int t = 0; t < 100; ++t) {
    const auto p = sample_dirichlet(rng, 1e-3, 8);
    EXPECT_TRUE(std::all_of(p.begin(), p.end(), [](double v) { return std::isfinite(v) && v >= 0; }));
    EXPECT_NEAR(std::accumulate(p.begin(), p.end(), 0.0), 1.0, 1e-12);
  }
}

// Save the position mid-epoch, build a fresh sampler, restore: the following batches (across epoch
// boundaries, with changing batch sizes) equal those of the run that was never interrupted.
TEST(Sampler, ResumeEqualsAnUninterruptedRun) {
  const auto labels = balanced_labels(997);
  for (const SamplerMode mode : {SamplerMode::iid, SamplerMode::dirichlet}) {
    for (const bool drop_last : {false, true}) {
      SamplerOptions o = options_for(mode, 3, 1, 11, 0.3);
      o.drop_last = drop_last;
      DistributedSampler full(labels, 10, o);
      std::vector<Indices> reference;
      std::vector<SamplerPosition> positions;
      const std::int64_t sizes[] = {32, 32, 17, 64};
      for (int b = 0; b < 60; ++b) {
        positions.push_back(full.position());
        reference.push_back(full.next_batch(sizes[b % 4]));
      }
      EXPECT_GE(full.position().epoch, 2u);
      for (const int cut : {0, 7, 13, 30, 59}) {
        DistributedSampler resumed(labels, 10, o);
        resumed.restore(positions[static_cast<std::size_t>(cut)]);
        for (int b = cut; b < 60; ++b)
          ASSERT_EQ(resumed.next_batch(sizes[b % 4]), reference[static_cast<std::size_t>(b)])
              << "mode " << static_cast<int>(mode) << " drop_last " << drop_last << " cut " << cut << " batch " << b;
      }
    }
  }
}

TEST(Batch, GatherCopiesSamplesAndLabelsInIndexOrder) {
  Dataset d;
  d.classes = 10;
  d.images = meridian::Tensor::empty({5, 1, 2, 3});
  float* x = d.images.data<float>();
  for (int i = 0; i < 30; ++i) x[i] = static_cast<float>(i) - 10.5f;
  d.labels = {4, 3, 2, 1, 0};
  const Indices idx = {3, 0, 3};
  Batch b = gather(d, idx);
  ASSERT_EQ(b.images.shape(), (meridian::Shape{3, 1, 2, 3}));
  ASSERT_EQ(b.labels.dtype(), meridian::DType::i32);
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ(b.labels.item({k}), d.labels[static_cast<std::size_t>(idx[static_cast<std::size_t>(k)])]);
    for (int j = 0; j < 6; ++j)
      EXPECT_EQ(b.images.data<float>()[k * 6 + j], x[idx[static_cast<std::size_t>(k)] * 6 + j]);
  }
  const float* before = b.images.data<float>();
  gather_into(d, Indices{1, 2, 4}, b);  // same shape: the tensors are reused
  EXPECT_EQ(b.images.data<float>(), before);
  EXPECT_EQ(b.labels.item({2}), 0);
  EXPECT_EQ(b.images.item({0, 0, 1, 2}), x[6 + 5]);
  EXPECT_THROW((void)gather(d, Indices{5}), meridian::Error);
  EXPECT_EQ(label_histogram(d.labels, 10), (std::vector<std::int64_t>{1, 1, 1, 1, 1, 0, 0, 0, 0, 0}));
}
