// Softmax cross-entropy of a classifier: logits (B, classes) f32, labels (B) integer class indices.
// loss = mean over rows of −log softmax(logits)[label]; dlogits (B, classes) = (softmax − onehot) / B.
#pragma once

#include <cstdint>

#include "core/tensor.hpp"

namespace meridian::nn {

struct CrossEntropyResult {
  double loss = 0.0;         // mean over the B rows
  Tensor dlogits;            // (B, classes) f32: the gradient of `loss` with respect to the logits
  std::int64_t correct = 0;  // rows whose argmax logit (first on ties) equals the label
};

// labels: a host tensor of B elements, dtype i32, i64 or u8, each in [0, classes); anything else is an
// Error naming the row. Numerically stable (the row maximum is subtracted before exp; sums in double).
// For micro-batches that make up one batch of B_total, scale dlogits by B / B_total (ops::scale).
CrossEntropyResult softmax_cross_entropy(const Tensor& logits, const Tensor& labels);

}  // namespace meridian::nn
