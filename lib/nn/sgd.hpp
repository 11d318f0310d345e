// SGD with momentum and coupled weight decay, as PyTorch's torch.optim.SGD (dampening 0, no Nesterov):
//   g = grad + wd·w;  buf = μ·buf + g (buf = g on the first step);  w −= lr·buf.
// Each parameter's momentum buffer has the parameter's shape and belongs to this optimizer (local state).
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.hpp"
#include "nn/parameter.hpp"

namespace meridian::nn {

struct SgdOptions {
  float lr = 0.01f;
  float momentum = 0.f;      // μ in [0, 1)
  float weight_decay = 0.f;  // wd ≥ 0, added to the gradient (L2), not decoupled
};

class SGD {
 public:
  // The parameters must outlive the optimizer; their gradients are read, never zeroed, by step().
  SGD(std::vector<Parameter*> params, const SgdOptions& options);

  // One update of every parameter from its current gradient.
  void step();
  void zero_grad() { zero_grads(params_); }

  void set_lr(float lr);
  float lr() const { return options_.lr; }
  const SgdOptions& options() const { return options_; }
  std::int64_t steps() const { return steps_; }
  const std::vector<Parameter*>& params() const { return params_; }
  // Momentum buffers, one per parameter in order (zeros before the first step), e.g. for checkpoints.
  std::vector<Tensor>& momentum_buffers() { return momentum_; }

 private:
  std::vector<Parameter*> params_;
  SgdOptions options_;
  std::vector<Tensor> momentum_;
  std::int64_t steps_ = 0;
};

}  // namespace meridian::nn
