// SparseLinear: the Layer adapter of NMSparseLinear; it owns the forward input for backward and
// exposes the wrapped layer's values and bias (shared buffers, no copies) as Parameters.
#include "nn/sparse_linear.hpp"

#include <cmath>

namespace meridian::nn {
namespace {

NMSparseLinear make_sparse(std::int64_t in, std::int64_t out, const NMPattern& p, const InitKey& init) {
  MERIDIAN_CHECK(in > 0 && out > 0, "SparseLinear: in and out must be positive, got in = ", in, ", out = ", out);
  const float bound = 1.f / std::sqrt(static_cast<float>(in));
  Tensor w = Tensor::empty({in, out});
  Tensor b = Tensor::empty({out});
  init_uniform(w, init, 0, bound);
  init_uniform(b, init, 1, bound);
  return NMSparseLinear(w, b, p.n, p.m, p.v);
}

}  // namespace

SparseLinear::SparseLinear(std::string name, std::int64_t in, std::int64_t out, const NMPattern& pattern,
                           const InitKey& init)
    : Layer(std::move(name)), layer_(make_sparse(in, out, pattern, init)) {
  weight_ = Parameter{this->name() + ".weight", layer_.values(), layer_.grad_values()};
  bias_ = Parameter{this->name() + ".bias", layer_.bias(), layer_.grad_bias()};
}

Tensor SparseLinear::forward(const Tensor& x, bool training) {
  Tensor y = layer_.forward(x);  // checks x
  x_ = training ? x.contiguous() : Tensor();
  return y;
}

Tensor SparseLinear::backward(const Tensor& dy) {
  require_cache(x_.defined());
  return layer_.backward(x_, dy);
}

}  // namespace meridian::nn
