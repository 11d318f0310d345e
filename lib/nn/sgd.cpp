// SGD on the CPU: one fused Kokkos loop per parameter ("meridian::nn::sgd_step") reads w and its
// gradient once and writes w and the momentum buffer.
#include "nn/sgd.hpp"

#include <cmath>

#include "nn/host_parallel.hpp"

namespace meridian::nn {
namespace {

void check_options(const SgdOptions& o) {
  MERIDIAN_INPUT_CHECK(std::isfinite(o.lr) && o.lr >= 0.f, "SGD: the learning rate must be finite and >= 0, got ",
                       o.lr);
  MERIDIAN_INPUT_CHECK(o.momentum >= 0.f && o.momentum < 1.f, "SGD: momentum must be in [0, 1), got ", o.momentum);
  MERIDIAN_INPUT_CHECK(std::isfinite(o.weight_decay) && o.weight_decay >= 0.f,
                       "SGD: weight decay must be finite and >= 0, got ", o.weight_decay);
}

}  // namespace

SGD::SGD(std::vector<Parameter*> params, const SgdOptions& options) : params_(std::move(params)), options_(options) {
  check_options(options_);
  momentum_.reserve(params_.size());
  for (Parameter* p : params_) {
    MERIDIAN_CHECK(p != nullptr, "SGD: null parameter in the list");
    const bool ok = p->value.defined() && p->grad.defined() && p->value.device().is_cpu() &&
                    p->grad.device().is_cpu() && p->value.dtype() == DType::f32 && p->grad.dtype() == DType::f32 &&
                    p->value.is_contiguous() && p->grad.is_contiguous() && p->value.shape() == p->grad.shape();
    MERIDIAN_CHECK(ok, "SGD: parameter '", p->name,
                   "' must have contiguous host f32 value and grad of the same shape (the CPU optimizer)");
    momentum_.push_back(Tensor::zeros(p->value.shape()));
  }
}

void SGD::set_lr(float lr) {
  SgdOptions next = options_;
  next.lr = lr;
  check_options(next);
  options_ = next;
}

void SGD::step() {
  const float lr = options_.lr, mu = options_.momentum, wd = options_.weight_decay;
  for (std::size_t k = 0; k < params_.size(); ++k) {
    float* w = params_[k]->value.data<float>();
    const float* g = params_[k]->grad.data<float>();
    float* buf = momentum_[k].data<float>();
    if (mu == 0.f) {
      host_for("meridian::nn::sgd_step", params_[k]->value.numel(), 1,
               [=](const std::int64_t i) { w[i] -= lr * (g[i] + wd * w[i]); });
      continue;
    }
    host_for("meridian::nn::sgd_momentum_step", params_[k]->value.numel(), 1, [=](const std::int64_t i) {
      const float gi = g[i] + wd * w[i];
      const float b = mu * buf[i] + gi;
      buf[i] = b;
      w[i] -= lr * b;
    });
  }
  ++steps_;
}

}  // namespace meridian::nn
