// Batch gathering: one memcpy per sample (a sample is C*H*W contiguous floats), one label copy.
#include "data/dataset.hpp"

#include <cstring>

#include "kernels/common/error.hpp"

namespace meridian::data {

std::int64_t Dataset::sample_numel() const {
  MERIDIAN_CHECK(images.defined() && images.dim() == 4, "Dataset: images must be (N, C, H, W)");
  return images.size(1) * images.size(2) * images.size(3);
}

Batch gather(const Dataset& dataset, std::span<const std::int64_t> indices) {
  Batch batch;
  gather_into(dataset, indices, batch);
  return batch;
}

void gather_into(const Dataset& dataset, std::span<const std::int64_t> indices, Batch& batch) {
  const std::int64_t n = dataset.size();
  MERIDIAN_CHECK(dataset.images.defined() && dataset.images.dim() == 4 && dataset.images.size(0) == n &&
                     dataset.images.dtype() == DType::f32 && dataset.images.device().is_cpu() &&
                     dataset.images.is_contiguous(),
                 "gather: the dataset's images must be a contiguous host f32 (N, C, H, W) tensor with N = ",
                 n, " labels");
  const std::int64_t b = static_cast<std::int64_t>(indices.size());
  const Shape image_shape{b, dataset.images.size(1), dataset.images.size(2), dataset.images.size(3)};
  if (!batch.images.defined() || batch.images.shape() != image_shape || batch.images.dtype() != DType::f32 ||
      !batch.images.device().is_cpu() || !batch.images.is_contiguous())
    batch.images = Tensor::empty(image_shape, DType::f32);
  if (!batch.labels.defined() || batch.labels.shape() != Shape{b} || batch.labels.dtype() != DType::i32 ||
      !batch.labels.device().is_cpu() || !batch.labels.is_contiguous())
    batch.labels = Tensor::empty({b}, DType::i32);

  const std::int64_t per = dataset.sample_numel();
  const float* src = dataset.images.data<float>();
  float* dst = batch.images.data<float>();
  std::int32_t* labels = batch.labels.data<std::int32_t>();
  for (std::int64_t i = 0; i < b; ++i) {
    const std::int64_t idx = indices[static_cast<std::size_t>(i)];
    MERIDIAN_CHECK(idx >= 0 && idx < n, "gather: index ", idx, " (batch position ", i,
                   ") is outside the dataset of ", n, " samples");
    std::memcpy(dst + i * per, src + idx * per, static_cast<std::size_t>(per) * sizeof(float));
    labels[i] = dataset.labels[static_cast<std::size_t>(idx)];
  }
}

std::vector<std::int64_t> label_histogram(std::span<const std::int32_t> labels, int classes) {
  MERIDIAN_CHECK(classes > 0, "label_histogram: classes = ", classes);
  std::vector<std::int64_t> counts(static_cast<std::size_t>(classes), 0);
  for (std::size_t i = 0; i < labels.size(); ++i) {
    MERIDIAN_CHECK(labels[i] >= 0 && labels[i] < classes, "label_histogram: label ", labels[i], " of sample ", i,
                   " is outside [0, ", classes, ")");
    ++counts[static_cast<std::size_t>(labels[i])];
  }
  return counts;
}

}  // namespace meridian::data
