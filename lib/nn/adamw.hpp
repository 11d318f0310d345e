// AdamW as PyTorch's torch.optim.AdamW (decoupled weight decay, bias-corrected moments), with the
// pieces a GPT-2 training loop needs beside it: the warm-up + cosine learning-rate schedule and the
// global-norm gradient clipping factor. Spans are flat f32 runs of parameter elements: a whole
// parameter, or any slice of a flat buffer (one rank's shard under ZeRO-1).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/tensor.hpp"
#include "nn/parameter.hpp"

namespace meridian::nn {

// GPT-2 / nanoGPT defaults.
struct AdamWHyper {
  float beta1 = 0.9f;          // in [0, 1)
  float beta2 = 0.95f;         // in [0, 1)
  float eps = 1e-8f;           // > 0, added to √v̂
  float weight_decay = 0.1f;   // ≥ 0, decoupled: w −= lr·wd·w

  // InputError naming the field and its value when one is out of range.
  void validate() const;
};

// One AdamW step of the elements of a span, at 1-based step t, in this order per element:
//   w ← w·(1 − lr·wd·decay)
//   m ← β1·m + (1 − β1)·g
//   v ← β2·v + (1 − β2)·g²
//   w ← w − lr/(1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + ε)       (= lr·m̂/(√v̂ + ε))
// w, g, m and v have the same length; decay in [0, 1] scales the weight decay of this span (1 for
// matrices, 0 for biases and LayerNorm parameters under the GPT-2 rule). Elements are independent, so
// updating a span in slices gives the same bits as updating it whole. Parallel for large spans.
// Throws Error for mismatched lengths or t < 1, InputError for a bad lr, decay or hyper-parameter.
void adamw_update(std::span<float> w, std::span<const float> g, std::span<float> m, std::span<float> v,
                  const AdamWHyper& h, std::int64_t step, float lr, float decay);

// The GPT-2 rule for which parameters get weight decay: those of 2 or more dimensions (matrices,
// embeddings); 1-D ones (biases, LayerNorm gains and biases) do not.
bool decays_by_default(const Parameter& p);

// Σ x² accumulated in double, e.g. one rank's share of a global gradient norm: ‖g‖ = √(Σ over ranks).
// The summation order depends only on the length (fixed blocks), so repeated calls give the same bits.
double sum_of_squares(std::span<const float> x);

// The factor clip_grad_norm_ of PyTorch multiplies every gradient by: min(1, max_norm/(norm + 1e-6)).
// A NaN norm gives NaN (the caller should skip the step), an infinite one 0. InputError for
// max_norm ≤ 0 or not finite, or a negative norm.
double clip_scale(double global_norm, double max_norm);

class AdamW {
 public:
  // Decay flags from decays_by_default. The parameters must outlive the optimizer; step() reads their
  // gradients and never zeroes them.
  AdamW(std::vector<Parameter*> params, const AdamWHyper& hyper);
  // Explicit decay flags, one per parameter.
  AdamW(std::vector<Parameter*> params, std::vector<bool> decay, const AdamWHyper& hyper);

  // Counts one more step t and updates every parameter with adamw_update at t and this lr.
  void step(float lr);
  void zero_grad() { zero_grads(params_); }

  const AdamWHyper& hyper() const { return hyper_; }
  const std::vector<Parameter*>& params() const { return params_; }
  bool decays(std::size_t k) const { return decay_.at(k); }

  // Checkpoint state, named as PyTorch's state_dict: exp_avg (m) and exp_avg_sq (v), one tensor per
  // parameter with its shape (zeros before the first step), and the number of steps taken.
  std::vector<Tensor>& exp_avg() { return m_; }
  const std::vector<Tensor>& exp_avg() const { return m_; }
  std::vector<Tensor>& exp_avg_sq() { return v_; }
  const std::vector<Tensor>& exp_avg_sq() const { return v_; }
  std::int64_t steps() const { return steps_; }
  void set_steps(std::int64_t steps);  // when restoring a checkpoint; ≥ 0

 private:
  std::vector<Parameter*> params_;
  std::vector<bool> decay_;
  AdamWHyper hyper_;
  std::vector<Tensor> m_;
  std::vector<Tensor> v_;
  std::int64_t steps_ = 0;
};

// Learning rate at a 0-based step: linear warm-up max_lr·(step+1)/warmup_steps for step < warmup_steps,
// then a cosine from max_lr down to min_lr_fraction·max_lr reached at total_steps, constant after.
struct LrSchedule {
  float max_lr = 0.f;
  std::int64_t warmup_steps = 0;
  std::int64_t total_steps = 0;
  float min_lr_fraction = 0.1f;

  // Assumes validate() passed; Error for a negative step.
  float at(std::int64_t step) const;
  // InputError naming the values unless max_lr > 0, 0 ≤ warmup_steps ≤ total_steps, total_steps ≥ 1
  // and min_lr_fraction in [0, 1].
  void validate() const;
};

}  // namespace meridian::nn
