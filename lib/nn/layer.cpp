// Layer's shared pieces: zero_grad, the backward-without-forward error, and seeded initialisation.
#include "nn/layer.hpp"

#include "core/ops.hpp"
#include "core/rng.hpp"

namespace meridian::nn {

std::uint64_t InitKey::stream(std::uint64_t tensor) const { return stream_id(StreamPurpose::init, layer, tensor); }

void init_uniform(Tensor& t, const InitKey& key, std::uint64_t tensor, float bound) {
  ops::uniform(t, key.seed, key.stream(tensor), -bound, bound);
}

void Layer::zero_grad() {
  const std::vector<Parameter*> params = parameters();
  zero_grads(params);
}

void Layer::require_cache(bool has_cache) const {
  MERIDIAN_CHECK(has_cache, describe(), ": backward called without a preceding forward(x, training = true)");
}

}  // namespace meridian::nn
