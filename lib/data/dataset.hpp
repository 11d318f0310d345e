// A labelled image dataset held in host memory, and the batches gathered from it by index.
// Shapes: images (N, C, H, W) f32, labels (N) class ids in [0, classes); a batch is (B, C, H, W)
// f32 images and (B) i32 labels, in the order of the indices given.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/tensor.hpp"

namespace meridian::data {

struct Dataset {
  Tensor images;                     // (N, C, H, W) f32, host, contiguous
  std::vector<std::int32_t> labels;  // N
  int classes = 0;

  std::int64_t size() const { return static_cast<std::int64_t>(labels.size()); }
  std::int64_t sample_numel() const;  // C * H * W
};

struct Batch {
  Tensor images;  // (B, C, H, W) f32, host
  Tensor labels;  // (B) i32, host
};

// Copies the samples at `indices` (each in [0, N); repeats allowed) into a new batch. Throws Error
// for an index out of range.
Batch gather(const Dataset& dataset, std::span<const std::int64_t> indices);

// The same into `batch`, reusing its tensors when their shapes already fit (no allocation in the
// steady state of a training loop) and allocating them otherwise.
void gather_into(const Dataset& dataset, std::span<const std::int64_t> indices, Batch& batch);

// Number of samples of each class (classes entries).
std::vector<std::int64_t> label_histogram(std::span<const std::int32_t> labels, int classes);

}  // namespace meridian::data
