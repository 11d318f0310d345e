// Sampler logic: seeded Fisher-Yates shuffles on per-epoch Rng streams, the one-off Dirichlet
// assignment, and the (epoch, offset) cursor that batches advance.
#include "data/sampler.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/rng.hpp"
#include "data/dirichlet.hpp"
#include "kernels/common/error.hpp"

namespace meridian::data {
namespace {

constexpr std::uint64_t kStreamLimit = (std::uint64_t{1} << 24) - 1;  // stream_id's 24-bit fields
constexpr std::uint64_t kAssignmentStream = kStreamLimit;             // epochs stay below it

void shuffle(std::vector<std::int64_t>& v, Rng& rng) {
  for (std::size_t i = v.size(); i > 1; --i) {
    const std::size_t j = static_cast<std::size_t>(rng.below(i));
    std::swap(v[i - 1], v[j]);
  }
}

void check_world(int world_size, int rank) {
  MERIDIAN_INPUT_CHECK(world_size >= 1 && static_cast<std::uint64_t>(world_size) < kStreamLimit,
                       "sampler: world size ", world_size, " must be between 1 and ", kStreamLimit - 1);
  MERIDIAN_INPUT_CHECK(rank >= 0 && rank < world_size, "sampler: rank ", rank, " is outside [0, ",
                       world_size, ")");
}

// S = N / W, at least 1.
std::int64_t samples_per_rank(std::int64_t dataset_size, int world_size) {
  MERIDIAN_INPUT_CHECK(dataset_size >= world_size, "sampler: a dataset of ", dataset_size,
                       " samples cannot give each of ", world_size, " ranks a sample; use fewer ranks or more data");
  return dataset_size / world_size;
}

void check_epoch(std::uint64_t epoch) {
  MERIDIAN_INPUT_CHECK(epoch < kAssignmentStream, "sampler: epoch ", epoch, " is beyond the last supported epoch ",
                       kAssignmentStream - 1);
}

}  // namespace

std::vector<std::int64_t> iid_shard(std::int64_t dataset_size, int world_size, int rank, std::uint64_t seed,
                                    std::uint64_t epoch) {
  check_world(world_size, rank);
  check_epoch(epoch);
  const std::int64_t per = samples_per_rank(dataset_size, world_size);
  std::vector<std::int64_t> perm(static_cast<std::size_t>(dataset_size));
  std::iota(perm.begin(), perm.end(), std::int64_t{0});
  Rng rng(seed, stream_id(StreamPurpose::sampler, epoch, 0));
  shuffle(perm, rng);
  const auto begin = perm.begin() + static_cast<std::ptrdiff_t>(per * rank);
  return std::vector<std::int64_t>(begin, begin + static_cast<std::ptrdiff_t>(per));
}

std::vector<std::vector<std::int64_t>> dirichlet_partition(std::span<const std::int32_t> labels, int classes,
                                                           int world_size, double alpha, std::uint64_t seed) {
  check_world(world_size, 0);
  MERIDIAN_INPUT_CHECK(alpha > 0.0 && std::isfinite(alpha), "sampler: the Dirichlet concentration alpha = ", alpha,
                       " must be positive and finite (e.g. --noniid-alpha 0.5; small = more skew)");
  MERIDIAN_INPUT_CHECK(classes > 0, "sampler: classes = ", classes, " must be positive");
  const auto n = static_cast<std::int64_t>(labels.size());
  (void)samples_per_rank(n, world_size);
  std::vector<std::vector<std::int64_t>> by_class(static_cast<std::size_t>(classes));
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int32_t c = labels[static_cast<std::size_t>(i)];
    MERIDIAN_INPUT_CHECK(c >= 0 && c < classes, "sampler: label ", c, " of sample ", i, " is outside [0, ",
                         classes, ")");
    by_class[static_cast<std::size_t>(c)].push_back(i);
  }

  const auto w_count = static_cast<std::size_t>(world_size);
  std::vector<std::vector<std::int64_t>> parts(w_count);
  Rng rng(seed, stream_id(StreamPurpose::sampler, kAssignmentStream, 0));
  std::vector<std::int64_t> counts(w_count);
  std::vector<std::size_t> by_fraction(w_count);
  std::vector<double> fraction(w_count);
  for (auto& members : by_class) {
    const std::vector<double> p = sample_dirichlet(rng, alpha, world_size);
    shuffle(members, rng);
    // Largest-remainder rounding of p * count: floors, then one more for the largest fractions.
    const auto count = static_cast<std::int64_t>(members.size());
    std::int64_t given = 0;
    for (std::size_t w = 0; w < w_count; ++w) {
      const double quota = p[w] * static_cast<double>(count);
      counts[w] = std::min(count, static_cast<std::int64_t>(std::floor(quota)));
      fraction[w] = quota - static_cast<double>(counts[w]);
      given += counts[w];
    }
    MERIDIAN_CHECK(given <= count, "dirichlet_partition: rounding gave ", given, " of ", count, " samples");
    std::iota(by_fraction.begin(), by_fraction.end(), std::size_t{0});
    std::stable_sort(by_fraction.begin(), by_fraction.end(),
                     [&](std::size_t a, std::size_t b) { return fraction[a] > fraction[b]; });
    for (std::size_t k = 0; given < count; k = (k + 1) % w_count, ++given) ++counts[by_fraction[k]];
    for (std::size_t w = 0, at = 0; w < w_count; ++w)
      for (std::int64_t k = 0; k < counts[w]; ++k) parts[w].push_back(members[at++]);
  }
  // No rank may be empty: an empty one takes one sample from the largest (lowest rank on ties).
  for (auto& part : parts) {
    if (!part.empty()) continue;
    auto largest = std::max_element(parts.begin(), parts.end(),
                                    [](const auto& a, const auto& b) { return a.size() < b.size(); });
    part.push_back(largest->back());
    largest->pop_back();
  }
  for (auto& part : parts) std::sort(part.begin(), part.end());
  return parts;
}

DistributedSampler::DistributedSampler(std::span<const std::int32_t> labels, int classes,
                                       const SamplerOptions& options)
    : options_(options), dataset_size_(static_cast<std::int64_t>(labels.size())) {
  check_world(options.world_size, options.rank);
  per_epoch_ = samples_per_rank(dataset_size_, options.world_size);
  if (options.mode == SamplerMode::dirichlet)
    assigned_ = std::move(dirichlet_partition(labels, classes, options.world_size, options.alpha,
                                              options.seed)[static_cast<std::size_t>(options.rank)]);
}

DistributedSampler::DistributedSampler(std::int64_t dataset_size, const SamplerOptions& options)
    : options_(options), dataset_size_(dataset_size) {
  check_world(options.world_size, options.rank);
  MERIDIAN_INPUT_CHECK(options.mode == SamplerMode::iid,
                       "sampler: the Dirichlet (non-IID) mode needs the labels, not only the dataset size");
  per_epoch_ = samples_per_rank(dataset_size_, options.world_size);
}

std::int64_t DistributedSampler::batches_per_epoch(std::int64_t batch_size) const {
  MERIDIAN_INPUT_CHECK(batch_size > 0, "sampler: batch size ", batch_size, " must be positive");
  return options_.drop_last ? per_epoch_ / batch_size : (per_epoch_ + batch_size - 1) / batch_size;
}

std::vector<std::int64_t> DistributedSampler::epoch_order(std::uint64_t epoch) const {
  check_epoch(epoch);
  if (options_.mode == SamplerMode::iid)
    return iid_shard(dataset_size_, options_.world_size, options_.rank, options_.seed, epoch);
  std::vector<std::int64_t> mine = assigned_;
  Rng rng(options_.seed, stream_id(StreamPurpose::sampler, epoch, 1 + static_cast<std::uint64_t>(options_.rank)));
  shuffle(mine, rng);
  std::vector<std::int64_t> order(static_cast<std::size_t>(per_epoch_));
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = mine[i % mine.size()];
  return order;
}

std::vector<std::int64_t> DistributedSampler::next_batch(std::int64_t batch_size) {
  MERIDIAN_INPUT_CHECK(batch_size > 0, "sampler: batch size ", batch_size, " must be positive");
  if (options_.drop_last) {
    MERIDIAN_INPUT_CHECK(batch_size <= per_epoch_, "sampler: batch size ", batch_size, " is larger than the ",
                         per_epoch_, " samples each rank has per epoch, and drop_last would drop them all; "
                         "use a smaller batch or fewer ranks");
    if (per_epoch_ - position_.offset < batch_size) position_ = {position_.epoch + 1, 0};
  }
  if (cached_epoch_ != position_.epoch) {
    order_ = epoch_order(position_.epoch);
    cached_epoch_ = position_.epoch;
  }
  const std::int64_t n = std::min(batch_size, per_epoch_ - position_.offset);
  const auto begin = order_.begin() + static_cast<std::ptrdiff_t>(position_.offset);
  std::vector<std::int64_t> batch(begin, begin + static_cast<std::ptrdiff_t>(n));
  position_.offset += n;
  if (position_.offset == per_epoch_) position_ = {position_.epoch + 1, 0};
  return batch;
}

void DistributedSampler::restore(const SamplerPosition& position) {
  MERIDIAN_INPUT_CHECK(position.offset >= 0 && position.offset < per_epoch_, "sampler: saved position offset ",
                       position.offset, " is outside the ", per_epoch_,
                       " samples per epoch of this sampler; was it saved with another dataset, world size or mode?");
  check_epoch(position.epoch);
  position_ = position;
}

}  // namespace meridian::data
