// AdamW on the CPU: one fused element loop ("meridian::nn::adamw_update") reads w, g, m, v once and
// writes w, m, v; the per-step scalars (bias corrections, decay factor) are formed once in double.
// sum_of_squares reduces fixed blocks in parallel and adds the block sums in order (deterministic).
#include "nn/adamw.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <utility>

#include "nn/host_parallel.hpp"

namespace meridian::nn {
namespace {

// Rough element operations per AdamW element (the square root and division count several).
constexpr std::int64_t kAdamWorkPerElement = 8;
// Elements per block of sum_of_squares; the block sums are added in block order.
constexpr std::int64_t kSumBlock = 4096;

void check_parameter(const Parameter* p) {
  MERIDIAN_CHECK(p != nullptr, "AdamW: null parameter in the list");
  const bool ok = p->value.defined() && p->grad.defined() && p->value.device().is_cpu() &&
                  p->grad.device().is_cpu() && p->value.dtype() == DType::f32 && p->grad.dtype() == DType::f32 &&
                  p->value.is_contiguous() && p->grad.is_contiguous() && p->value.shape() == p->grad.shape();
  MERIDIAN_CHECK(ok, "AdamW: parameter '", p->name,
                 "' must have contiguous host f32 value and grad of the same shape (the CPU optimizer)");
}

// Σ x² of one block with eight independent partial sums, so the loop vectorises without reassociation.
double block_sum_of_squares(const float* x, std::int64_t n) {
  double lane[8] = {};
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) {
      const double xj = x[i + j];
      lane[j] += xj * xj;
    }
  }
  for (; i < n; ++i) {
    const double xi = x[i];
    lane[0] += xi * xi;
  }
  return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

}  // namespace

void AdamWHyper::validate() const {
  MERIDIAN_INPUT_CHECK(beta1 >= 0.f && beta1 < 1.f, "AdamW: beta1 must be in [0, 1), got ", beta1);
  MERIDIAN_INPUT_CHECK(beta2 >= 0.f && beta2 < 1.f, "AdamW: beta2 must be in [0, 1), got ", beta2);
  MERIDIAN_INPUT_CHECK(std::isfinite(eps) && eps > 0.f, "AdamW: eps must be finite and > 0, got ", eps);
  MERIDIAN_INPUT_CHECK(std::isfinite(weight_decay) && weight_decay >= 0.f,
                       "AdamW: weight_decay must be finite and >= 0, got ", weight_decay);
}

void adamw_update(std::span<float> w, std::span<const float> g, std::span<float> m, std::span<float> v,
                  const AdamWHyper& h, const std::int64_t step, const float lr, const float decay) {
  h.validate();
  MERIDIAN_INPUT_CHECK(std::isfinite(lr) && lr >= 0.f, "AdamW: the learning rate must be finite and >= 0, got ", lr);
  MERIDIAN_INPUT_CHECK(decay >= 0.f && decay <= 1.f, "AdamW: the decay multiplier must be in [0, 1], got ", decay);
  MERIDIAN_CHECK(g.size() == w.size() && m.size() == w.size() && v.size() == w.size(),
                 "adamw_update: w, g, m, v must have one length, got ", w.size(), ", ", g.size(), ", ", m.size(),
                 ", ", v.size());
  MERIDIAN_CHECK(step >= 1, "adamw_update: the step is 1-based, got ", step);

  const double t = static_cast<double>(step);
  const double correction1 = 1.0 - std::pow(static_cast<double>(h.beta1), t);
  const double correction2 = 1.0 - std::pow(static_cast<double>(h.beta2), t);
  const float shrink = static_cast<float>(1.0 - static_cast<double>(lr) * h.weight_decay * decay);
  const float step_size = static_cast<float>(lr / correction1);
  const float inv_sqrt_c2 = static_cast<float>(1.0 / std::sqrt(correction2));
  const float b1 = h.beta1, one_minus_b1 = 1.f - h.beta1;
  const float b2 = h.beta2, one_minus_b2 = 1.f - h.beta2;
  const float eps = h.eps;

  float* wp = w.data();
  const float* gp = g.data();
  float* mp = m.data();
  float* vp = v.data();
  host_for("meridian::nn::adamw_update", static_cast<std::int64_t>(w.size()), kAdamWorkPerElement,
           [=](const std::int64_t i) {
             const float gi = gp[i];
             const float mi = b1 * mp[i] + one_minus_b1 * gi;
             const float vi = b2 * vp[i] + one_minus_b2 * (gi * gi);
             mp[i] = mi;
             vp[i] = vi;
             wp[i] = wp[i] * shrink - step_size * mi / (std::sqrt(vi) * inv_sqrt_c2 + eps);
           });
}

bool decays_by_default(const Parameter& p) { return p.value.dim() >= 2; }

double sum_of_squares(std::span<const float> x) {
  const auto n = static_cast<std::int64_t>(x.size());
  if (n <= kSumBlock) return block_sum_of_squares(x.data(), n);
  const std::int64_t blocks = (n + kSumBlock - 1) / kSumBlock;
  std::vector<double> partial(static_cast<std::size_t>(blocks));
  const float* xp = x.data();
  double* pp = partial.data();
  host_for("meridian::nn::sum_of_squares", blocks, kSumBlock, [=](const std::int64_t b) {
    const std::int64_t begin = b * kSumBlock;
    pp[b] = block_sum_of_squares(xp + begin, std::min(kSumBlock, n - begin));
  });
  double total = 0.0;
  for (const double s : partial) total += s;
  return total;
}

double clip_scale(const double global_norm, const double max_norm) {
  MERIDIAN_INPUT_CHECK(std::isfinite(max_norm) && max_norm > 0.0, "clip_scale: max_norm must be finite and > 0, got ",
                       max_norm);
  MERIDIAN_INPUT_CHECK(!(global_norm < 0.0), "clip_scale: a norm cannot be negative, got ", global_norm);
  if (std::isnan(global_norm)) return std::numeric_limits<double>::quiet_NaN();
  return std::min(1.0, max_norm / (global_norm + 1e-6));
}

AdamW::AdamW(std::vector<Parameter*> params, const AdamWHyper& hyper) : params_(std::move(params)), hyper_(hyper) {
  hyper_.validate();
  decay_.reserve(params_.size());
  m_.reserve(params_.size());
  v_.reserve(params_.size());
  for (Parameter* p : params_) {
    check_parameter(p);
    decay_.push_back(decays_by_default(*p));
    m_.push_back(Tensor::zeros(p->value.shape()));
    v_.push_back(Tensor::zeros(p->value.shape()));
  }
}

AdamW::AdamW(std::vector<Parameter*> params, std::vector<bool> decay, const AdamWHyper& hyper)
    : AdamW(std::move(params), hyper) {
  MERIDIAN_CHECK(decay.size() == params_.size(), "AdamW: ", decay.size(), " decay flags for ", params_.size(),
                 " parameters");
  decay_ = std::move(decay);
}

void AdamW::step(const float lr) {
  MERIDIAN_INPUT_CHECK(std::isfinite(lr) && lr >= 0.f, "AdamW: the learning rate must be finite and >= 0, got ", lr);
  const std::int64_t t = steps_ + 1;
  for (std::size_t k = 0; k < params_.size(); ++k) {
    Parameter& p = *params_[k];
    const auto n = static_cast<std::size_t>(p.value.numel());
    adamw_update(std::span<float>(p.value.data<float>(), n), std::span<const float>(p.grad.data<float>(), n),
                 std::span<float>(m_[k].data<float>(), n), std::span<float>(v_[k].data<float>(), n), hyper_, t, lr,
                 decay_[k] ? 1.f : 0.f);
  }
  steps_ = t;
}

void AdamW::set_steps(const std::int64_t steps) {
  MERIDIAN_INPUT_CHECK(steps >= 0, "AdamW: the step count of a checkpoint must be >= 0, got ", steps);
  steps_ = steps;
}

float LrSchedule::at(const std::int64_t step) const {
  MERIDIAN_CHECK(step >= 0, "LrSchedule: steps are 0-based, got ", step);
  const double max_rate = max_lr;
  const double min_rate = static_cast<double>(min_lr_fraction) * max_rate;
  if (step < warmup_steps) return static_cast<float>(max_rate * static_cast<double>(step + 1) / warmup_steps);
  if (step >= total_steps) return static_cast<float>(min_rate);
  const double progress = static_cast<double>(step - warmup_steps) / static_cast<double>(total_steps - warmup_steps);
  const double cosine = 0.5 * (1.0 + std::cos(std::numbers::pi * progress));  // 1 → 0
  return static_cast<float>(min_rate + (max_rate - min_rate) * cosine);
}

void LrSchedule::validate() const {
  MERIDIAN_INPUT_CHECK(std::isfinite(max_lr) && max_lr > 0.f, "LrSchedule: max_lr must be finite and > 0, got ",
                       max_lr);
  MERIDIAN_INPUT_CHECK(warmup_steps >= 0, "LrSchedule: warmup_steps must be >= 0, got ", warmup_steps);
  MERIDIAN_INPUT_CHECK(total_steps >= 1, "LrSchedule: total_steps must be >= 1, got ", total_steps);
  MERIDIAN_INPUT_CHECK(warmup_steps <= total_steps, "LrSchedule: warmup_steps (", warmup_steps,
                       ") must not exceed total_steps (", total_steps, ")");
  MERIDIAN_INPUT_CHECK(min_lr_fraction >= 0.f && min_lr_fraction <= 1.f,
                       "LrSchedule: min_lr_fraction must be in [0, 1], got ", min_lr_fraction);
}

}  // namespace meridian::nn
