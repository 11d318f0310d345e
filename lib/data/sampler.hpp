// Distributed samplers: the dataset indices each rank visits, epoch by epoch and batch by batch.
// Every rank builds the sampler from the same inputs (labels or size, world size, seed) and gets its
// own share; every rank gets the same number of samples and batches per epoch, so collectives match.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace meridian::data {

enum class SamplerMode { iid, dirichlet };

struct SamplerOptions {
  SamplerMode mode = SamplerMode::iid;
  int world_size = 1;
  int rank = 0;
  std::uint64_t seed = 0;
  double alpha = 1.0;      // Dirichlet concentration (dirichlet mode): small = each rank few classes
  bool drop_last = false;  // drop each epoch's last batch when it is shorter than the batch size
};

// Where a sampler stands: `offset` samples of epoch `epoch` have been handed out. Save it with a
// checkpoint; restoring it into a sampler built the same way continues with the same batches.
struct SamplerPosition {
  std::uint64_t epoch = 0;
  std::int64_t offset = 0;
  bool operator==(const SamplerPosition&) const = default;
};

// IID mode. Epoch e draws one permutation of [0, N) from Rng(seed, stream_id(sampler, e, 0)) (the
// same on every rank) and rank r takes its contiguous slice r*S .. (r+1)*S - 1 with S = N / W: the
// last N mod W samples of each epoch's permutation are dropped (a different few each epoch).
//
// Dirichlet mode (non-IID). Once per run, for each class c in order, proportions over the W ranks
// are drawn ~ Dir(alpha) (Gamma draws, stream_id(sampler, 2^24 - 1, 0)), the class's samples are
// shuffled and cut into contiguous runs of the largest-remainder rounding of proportion * count.
// A rank left with no sample gets one from the rank with the most (lowest rank on ties). Each epoch
// a rank shuffles its samples (stream_id(sampler, e, 1 + r)); every rank runs S = N / W samples:
// a rank with more takes the first S of its shuffle (a different subset each epoch), a rank with
// fewer wraps around its shuffled order.
//
// Batches never straddle epochs: an epoch ends with one shorter batch of S mod B samples unless
// drop_last. All of it is sequential integer work on the Rng: the same for any thread count.
class DistributedSampler {
 public:
  // labels: every sample's class, the same on all ranks; classes > every label. IID mode uses only
  // labels.size().
  DistributedSampler(std::span<const std::int32_t> labels, int classes, const SamplerOptions& options);
  // IID mode from the dataset size alone.
  DistributedSampler(std::int64_t dataset_size, const SamplerOptions& options);

  const SamplerOptions& options() const { return options_; }
  std::int64_t dataset_size() const { return dataset_size_; }
  std::int64_t samples_per_epoch() const { return per_epoch_; }  // S, the same on every rank
  std::int64_t batches_per_epoch(std::int64_t batch_size) const;

  // The next batch of this rank's indices (batch_size of them, fewer at the end of an epoch unless
  // drop_last); advances the position, moving to the next epoch after its last batch.
  std::vector<std::int64_t> next_batch(std::int64_t batch_size);

  // This rank's S indices of `epoch`, in the order batches hand them out.
  std::vector<std::int64_t> epoch_order(std::uint64_t epoch) const;

  // Dirichlet mode: this rank's fixed samples, ascending. IID mode: empty.
  const std::vector<std::int64_t>& assigned() const { return assigned_; }

  SamplerPosition position() const { return position_; }
  // Throws InputError when offset is not in [0, S) (a position from a differently built sampler).
  void restore(const SamplerPosition& position);

 private:
  SamplerOptions options_;
  std::int64_t dataset_size_ = 0;
  std::int64_t per_epoch_ = 0;
  std::vector<std::int64_t> assigned_;
  SamplerPosition position_;
  std::uint64_t cached_epoch_ = ~std::uint64_t{0};
  std::vector<std::int64_t> order_;
};

// Rank `rank`'s IID shard of epoch `epoch` (what DistributedSampler hands out in IID mode).
std::vector<std::int64_t> iid_shard(std::int64_t dataset_size, int world_size, int rank, std::uint64_t seed,
                                    std::uint64_t epoch);

// The whole Dirichlet(alpha) assignment: entry r holds rank r's samples, ascending; every sample is
// in exactly one entry. InputError for alpha <= 0, fewer samples than ranks, or a label >= classes.
std::vector<std::vector<std::int64_t>> dirichlet_partition(std::span<const std::int32_t> labels, int classes,
                                                           int world_size, double alpha, std::uint64_t seed);

}  // namespace meridian::data
