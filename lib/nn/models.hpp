// The image classifiers of the geo-distributed experiments, built from lib/nn layers. Both take
// x (B, 1, 28, 28) (the MLP also (B, 784)) and give logits (B, classes). Initial weights depend only on
// (seed, layer index): every rank that builds a model with the same seed holds the same model.
// Both are built with input_grad_needed() off (backward returns no gradient for the images).
#pragma once

#include <cstdint>
#include <vector>

#include "nn/model.hpp"

namespace meridian::nn {

// flatten → [linear(·→h) → relu] for each h in hidden → linear(·→classes).
Model make_mlp(std::int64_t in = 784, const std::vector<std::int64_t>& hidden = {512, 256}, std::int64_t classes = 10,
               std::uint64_t seed = 0);

struct CnnShape {
  std::int64_t image = 28, in_channels = 1;  // square images of `image` pixels, divisible by 4
  // The default (16, 32, 256: 417k parameters) trains a step of 64 images in tens of ms on 2 cores;
  // (32, 64, 512) is the classic larger variant (1.66M parameters, about 3.5x the FLOPs).
  std::int64_t channels1 = 16, channels2 = 32, hidden = 256, classes = 10;
  std::int64_t kernel = 5;  // odd; padding kernel/2 keeps the image size
};

// conv(in→c1, k, pad k/2) → relu → pool2 → conv(c1→c2, k, pad k/2) → relu → pool2 → flatten →
// linear(c2·(image/4)²→hidden) → relu → linear(hidden→classes).
Model make_cnn(std::uint64_t seed = 0, const CnnShape& shape = {});

}  // namespace meridian::nn
