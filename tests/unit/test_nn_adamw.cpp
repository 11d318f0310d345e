// Tests of nn::AdamW (PyTorch's AdamW), its flat-span kernel, sum_of_squares, clip_scale and
// LrSchedule: the kernel against a double-precision transcription of the formula over several steps,
// slices against the whole span, the closed-form first step, GPT-2 decay flags, checkpoint restore.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <span>
#include <string>
#include <vector>

#include "common/input_error.hpp"
#include "core/error.hpp"
#include "core/ops.hpp"
#include "core/rng.hpp"
#include "nn/adamw.hpp"

namespace {

using meridian::Tensor;
using meridian::testing::input_error;
namespace nn = meridian::nn;

constexpr double kEps = std::numeric_limits<float>::epsilon();

// n mixed-sign values U(lo, hi) from a fixed seed and `stream`.
std::vector<float> random_values(std::size_t n, std::uint64_t stream, float lo = -1.f, float hi = 1.f) {
  meridian::Rng rng(0x6164'616d'7721ULL, meridian::stream_id(meridian::StreamPurpose::test, stream));
  std::vector<float> x(n);
  for (float& e : x) e = lo + (hi - lo) * rng.uniform();
  return x;
}

// The AdamW formula as written in PyTorch's documentation, in double, for one element.
struct RefState {
  double w, m, v;
};
void reference_step(RefState& s, double g, const nn::AdamWHyper& h, std::int64_t t, double lr, double decay) {
  const double b1 = h.beta1, b2 = h.beta2;
  s.w -= lr * h.weight_decay * decay * s.w;
  s.m = b1 * s.m + (1.0 - b1) * g;
  s.v = b2 * s.v + (1.0 - b2) * g * g;
  const double m_hat = s.m / (1.0 - std::pow(b1, static_cast<double>(t)));
  const double v_hat = s.v / (1.0 - std::pow(b2, static_cast<double>(t)));
  s.w -= lr * m_hat / (std::sqrt(v_hat) + h.eps);
}

nn::AdamWHyper hyper(float weight_decay = 0.1f) {
  nn::AdamWHyper h;
  h.weight_decay = weight_decay;
  return h;
}

std::span<float> span_of(Tensor& t) { return {t.data<float>(), static_cast<std::size_t>(t.numel())}; }

TEST(NnAdamW, KernelMatchesDoubleReferenceOverSteps) {
  // 37 elements run the serial loop, 20000 the parallel one. Six steps with a changing learning rate
  // and fresh mixed-sign gradients; some elements get gradients 1000x smaller so that eps matters less
  // uniformly. Each step rounds a handful of f32 operations, so the error grows about linearly in t.
  const nn::AdamWHyper h = hyper(0.1f);
  const float lrs[6] = {1e-2f, 3e-2f, 2e-2f, 1e-2f, 5e-3f, 1e-3f};
  for (const std::size_t n : {std::size_t{37}, std::size_t{20000}}) {
    std::vector<float> w = random_values(n, 1), m(n, 0.f), v(n, 0.f);
    std::vector<RefState> ref(n);
    for (std::size_t i = 0; i < n; ++i) ref[i] = {w[i], 0.0, 0.0};
    double lr_sum = 0.0;
    for (std::int64_t t = 1; t <= 6; ++t) {
      std::vector<float> g = random_values(n, 100 + static_cast<std::uint64_t>(t));
      for (std::size_t i = 0; i < n; i += 7) g[i] *= 1e-3f;
      const float lr = lrs[t - 1];
      lr_sum += lr;
      nn::adamw_update(w, g, m, v, h, t, lr, 1.f);
      double worst_w = 0.0, worst_m = 0.0, worst_v = 0.0;
      for (std::size_t i = 0; i < n; ++i) {
        reference_step(ref[i], g[i], h, t, lr, 1.0);
        const double tol_w = 16 * kEps * static_cast<double>(t) * (std::abs(ref[i].w) + lr_sum);
        worst_w = std::max(worst_w, std::abs(w[i] - ref[i].w) / tol_w);
        worst_m = std::max(worst_m, std::abs(m[i] - ref[i].m) / (8 * kEps * static_cast<double>(t)));
        worst_v = std::max(worst_v, std::abs(v[i] - ref[i].v) / (8 * kEps * static_cast<double>(t)));
      }
      // Ratios of the worst error to its tolerance (|g| <= 1, so m and v are bounded by 1).
      EXPECT_LE(worst_w, 1.0) << "n " << n << ", step " << t;
      EXPECT_LE(worst_m, 1.0) << "n " << n << ", step " << t;
      EXPECT_LE(worst_v, 1.0) << "n " << n << ", step " << t;
    }
  }
}

TEST(NnAdamW, SlicesGiveTheSameBitsAsTheWholeSpan) {
  // What ZeRO-1 relies on: each rank updating its own slice equals one update of the whole buffer.
  const std::size_t n = 1000;
  const nn::AdamWHyper h = hyper();
  std::vector<float> w_whole = random_values(n, 2), m_whole(n, 0.f), v_whole(n, 0.f);
  std::vector<float> w_parts = w_whole, m_parts = m_whole, v_parts = v_whole;
  const std::size_t cuts[] = {0, 1, 300, 301, 777, n};
  for (std::int64_t t = 1; t <= 3; ++t) {
    const std::vector<float> g = random_values(n, 200 + static_cast<std::uint64_t>(t));
    nn::adamw_update(w_whole, g, m_whole, v_whole, h, t, 1e-2f, 1.f);
    for (std::size_t c = 0; c + 1 < std::size(cuts); ++c) {
      const std::size_t at = cuts[c], len = cuts[c + 1] - cuts[c];
      nn::adamw_update(std::span(w_parts).subspan(at, len), std::span(g).subspan(at, len),
                       std::span(m_parts).subspan(at, len), std::span(v_parts).subspan(at, len), h, t, 1e-2f, 1.f);
    }
  }
  EXPECT_EQ(w_parts, w_whole);
  EXPECT_EQ(m_parts, m_whole);
  EXPECT_EQ(v_parts, v_whole);
}

TEST(NnAdamW, FirstStepMovesEachWeightByTheLearningRate) {
  // At t = 1, m̂ = g and v̂ = g², so the step is lr·g/(|g| + ε) ≈ lr·sign(g) whatever |g| is, plus the
  // decoupled decay lr·wd·w applied first.
  const std::size_t n = 64;
  const float lr = 1e-3f;
  std::vector<float> g = random_values(n, 3, 0.1f, 2.f);
  for (std::size_t i = 0; i < n; i += 2) g[i] = -g[i];
  for (const float wd : {0.f, 0.1f}) {
    const std::vector<float> w0 = random_values(n, 4);
    std::vector<float> w = w0, m(n, 0.f), v(n, 0.f);
    nn::adamw_update(w, g, m, v, hyper(wd), 1, lr, 1.f);
    for (std::size_t i = 0; i < n; ++i) {
      const double expected = -static_cast<double>(lr) * wd * w0[i] - lr * (g[i] > 0 ? 1.0 : -1.0);
      const double tol = 4 * kEps * (std::abs(w0[i]) + lr) + lr * 1e-8 / std::abs(g[i]);
      EXPECT_NEAR(w[i] - static_cast<double>(w0[i]), expected, tol) << "wd " << wd << ", i " << i;
      // (1 − β) in f32: 1 − 0.9f and 1 − 0.95f are exact differences of the f32 betas.
      EXPECT_NEAR(m[i], (1.0 - 0.9f) * g[i], 2 * kEps * std::abs(g[i]));
      EXPECT_NEAR(v[i], (1.0 - 0.95f) * g[i] * g[i], 4 * kEps * g[i] * g[i]);
    }
  }
}

TEST(NnAdamW, OneDimensionalParametersAreNotDecayed) {
  // With zero gradients m = v = 0 and the Adam step is 0/(0 + ε) = 0, so only the decay moves weights:
  // matrices shrink by (1 − lr·wd), biases and LayerNorm parameters stay exactly as they were.
  nn::Parameter wte = nn::make_parameter("wte", {5, 4}), fc = nn::make_parameter("fc.weight", {4, 8});
  nn::Parameter fc_b = nn::make_parameter("fc.bias", {8}), ln_w = nn::make_parameter("ln.weight", {4});
  nn::Parameter ln_b = nn::make_parameter("ln.bias", {4});
  std::vector<nn::Parameter*> params = {&wte, &fc, &fc_b, &ln_w, &ln_b};
  for (std::size_t k = 0; k < params.size(); ++k) {
    const std::vector<float> init = random_values(static_cast<std::size_t>(params[k]->value.numel()), 10 + k);
    std::copy(init.begin(), init.end(), params[k]->value.data<float>());
  }
  std::vector<std::vector<double>> before;
  for (nn::Parameter* p : params) before.push_back(p->value.to_vector());

  const float lr = 0.5f;
  nn::AdamW opt(params, hyper(0.1f));
  const bool expect_decay[] = {true, true, false, false, false};
  for (std::size_t k = 0; k < params.size(); ++k) EXPECT_EQ(opt.decays(k), expect_decay[k]) << params[k]->name;
  opt.step(lr);
  EXPECT_EQ(opt.steps(), 1);
  for (std::size_t k = 0; k < params.size(); ++k) {
    const std::vector<double> after = params[k]->value.to_vector();
    const double factor = expect_decay[k] ? 1.0 - 0.5 * 0.1 : 1.0;
    for (std::size_t i = 0; i < after.size(); ++i) {
      if (expect_decay[k])
        EXPECT_NEAR(after[i], before[k][i] * factor, 2 * kEps * std::abs(before[k][i])) << params[k]->name;
      else
        EXPECT_EQ(after[i], before[k][i]) << params[k]->name;
    }
  }

  // Explicit flags override the rule: here nothing decays.
  const std::vector<double> wte_before = wte.value.to_vector();
  nn::AdamW none(params, std::vector<bool>(params.size(), false), hyper(0.1f));
  none.step(lr);
  EXPECT_EQ(wte.value.to_vector(), wte_before);
  EXPECT_FALSE(none.decays(0));
  EXPECT_THROW(nn::AdamW(params, std::vector<bool>(2, true), hyper()), meridian::Error);
}

TEST(NnAdamW, OptimizerMatchesKernelAndResumesFromItsState) {
  // Four steps in one go against two steps, a checkpoint (values, exp_avg, exp_avg_sq, steps) copied into a
  // fresh optimizer, and two more: the same bits. The optimizer also equals the kernel on flat copies.
  auto make = [](nn::Parameter& a, nn::Parameter& b) {
    a = nn::make_parameter("a.weight", {6, 5});
    b = nn::make_parameter("a.bias", {5});
    std::vector<float> va = random_values(30, 20), vb = random_values(5, 21);
    std::copy(va.begin(), va.end(), a.value.data<float>());
    std::copy(vb.begin(), vb.end(), b.value.data<float>());
  };
  auto set_grads = [](nn::Parameter& a, nn::Parameter& b, std::int64_t t) {
    std::vector<float> ga = random_values(30, 300 + static_cast<std::uint64_t>(t));
    std::vector<float> gb = random_values(5, 400 + static_cast<std::uint64_t>(t));
    std::copy(ga.begin(), ga.end(), a.grad.data<float>());
    std::copy(gb.begin(), gb.end(), b.grad.data<float>());
  };
  const nn::LrSchedule schedule{.max_lr = 1e-2f, .warmup_steps = 2, .total_steps = 4, .min_lr_fraction = 0.1f};
  const nn::AdamWHyper h = hyper();

  nn::Parameter a1, b1;
  make(a1, b1);
  std::vector<float> flat_a(a1.value.data<float>(), a1.value.data<float>() + 30), ma(30, 0.f), va(30, 0.f);
  std::vector<float> flat_b(b1.value.data<float>(), b1.value.data<float>() + 5), mb(5, 0.f), vb(5, 0.f);
  nn::AdamW straight({&a1, &b1}, h);
  for (std::int64_t t = 1; t <= 4; ++t) {
    set_grads(a1, b1, t);
    straight.step(schedule.at(t - 1));
    nn::adamw_update(flat_a, span_of(a1.grad), ma, va, h, t, schedule.at(t - 1), 1.f);
    nn::adamw_update(flat_b, span_of(b1.grad), mb, vb, h, t, schedule.at(t - 1), 0.f);
  }
  EXPECT_EQ(a1.value.to_vector(), std::vector<double>(flat_a.begin(), flat_a.end()));
  EXPECT_EQ(b1.value.to_vector(), std::vector<double>(flat_b.begin(), flat_b.end()));
  EXPECT_EQ(straight.exp_avg()[0].to_vector(), std::vector<double>(ma.begin(), ma.end()));
  EXPECT_EQ(straight.exp_avg_sq()[1].to_vector(), std::vector<double>(vb.begin(), vb.end()));

  nn::Parameter a2, b2;
  make(a2, b2);
  nn::AdamW first({&a2, &b2}, h);
  for (std::int64_t t = 1; t <= 2; ++t) {
    set_grads(a2, b2, t);
    first.step(schedule.at(t - 1));
  }
  nn::Parameter a3 = nn::make_parameter("a.weight", {6, 5}), b3 = nn::make_parameter("a.bias", {5});
  meridian::ops::copy(a3.value, a2.value);
  meridian::ops::copy(b3.value, b2.value);
  nn::AdamW resumed({&a3, &b3}, h);
  for (std::size_t k = 0; k < 2; ++k) {
    meridian::ops::copy(resumed.exp_avg()[k], first.exp_avg()[k]);
    meridian::ops::copy(resumed.exp_avg_sq()[k], first.exp_avg_sq()[k]);
  }
  resumed.set_steps(first.steps());
  for (std::int64_t t = 3; t <= 4; ++t) {
    set_grads(a3, b3, t);
    resumed.step(schedule.at(t - 1));
  }
  EXPECT_EQ(resumed.steps(), 4);
  EXPECT_EQ(a3.value.to_vector(), a1.value.to_vector());
  EXPECT_EQ(b3.value.to_vector(), b1.value.to_vector());
  EXPECT_EQ(resumed.exp_avg_sq()[0].to_vector(), straight.exp_avg_sq()[0].to_vector());
}

TEST(NnAdamW, RejectsBadHyperParametersAndSpans) {
  auto with = [](auto change) {
    nn::AdamWHyper h;
    change(h);
    return h;
  };
  EXPECT_NE(input_error([&] { with([](nn::AdamWHyper& h) { h.beta1 = 1.f; }).validate(); }).find("beta1"),
            std::string::npos);
  EXPECT_NE(input_error([&] { with([](nn::AdamWHyper& h) { h.beta2 = -0.5f; }).validate(); }).find("-0.5"),
            std::string::npos);
  EXPECT_NE(input_error([&] { with([](nn::AdamWHyper& h) { h.eps = 0.f; }).validate(); }).find("eps"),
            std::string::npos);
  EXPECT_NE(input_error([&] { with([](nn::AdamWHyper& h) { h.weight_decay = -1.f; }).validate(); })
                .find("weight_decay"),
            std::string::npos);

  std::vector<float> w(4, 1.f), g(4, 1.f), m(4, 0.f), v(4, 0.f), short_m(3, 0.f);
  EXPECT_THROW(nn::adamw_update(w, g, short_m, v, nn::AdamWHyper{}, 1, 1e-3f, 1.f), meridian::Error);
  EXPECT_THROW(nn::adamw_update(w, g, m, v, nn::AdamWHyper{}, 0, 1e-3f, 1.f), meridian::Error);
  EXPECT_THROW(nn::adamw_update(w, g, m, v, nn::AdamWHyper{}, 1, -1e-3f, 1.f), meridian::InputError);
  EXPECT_THROW(nn::adamw_update(w, g, m, v, nn::AdamWHyper{}, 1, 1e-3f, 2.f), meridian::InputError);

  nn::Parameter p = nn::make_parameter("p", {2});
  nn::AdamW opt({&p}, nn::AdamWHyper{});
  EXPECT_THROW(opt.step(std::numeric_limits<float>::quiet_NaN()), meridian::InputError);
  EXPECT_THROW(opt.set_steps(-1), meridian::InputError);
  nn::Parameter q{"q", Tensor::zeros({2}, meridian::DType::f64), Tensor::zeros({2}, meridian::DType::f64)};
  EXPECT_THROW(nn::AdamW({&q}, nn::AdamWHyper{}), meridian::Error);
}

TEST(NnAdamW, ClipScaleAsPyTorch) {
  EXPECT_EQ(nn::clip_scale(0.0, 1.0), 1.0);
  EXPECT_EQ(nn::clip_scale(0.5, 1.0), 1.0);
  EXPECT_DOUBLE_EQ(nn::clip_scale(1.0, 1.0), 1.0 / (1.0 + 1e-6));  // just below 1, as PyTorch
  EXPECT_DOUBLE_EQ(nn::clip_scale(4.0, 1.0), 1.0 / (4.0 + 1e-6));
  EXPECT_DOUBLE_EQ(nn::clip_scale(10.0, 2.5), 2.5 / (10.0 + 1e-6));
  EXPECT_EQ(nn::clip_scale(std::numeric_limits<double>::infinity(), 1.0), 0.0);
  EXPECT_TRUE(std::isnan(nn::clip_scale(std::numeric_limits<double>::quiet_NaN(), 1.0)));
  EXPECT_THROW((void)nn::clip_scale(1.0, 0.0), meridian::InputError);
  EXPECT_THROW((void)nn::clip_scale(-1.0, 1.0), meridian::InputError);
}

TEST(NnAdamW, SumOfSquaresInDouble) {
  EXPECT_EQ(nn::sum_of_squares({}), 0.0);
  const std::vector<float> small = {1.f, -2.f, 3.f, 0.5f};
  EXPECT_EQ(nn::sum_of_squares(small), 14.25);
  // Many blocks (parallel), with a length that is not a multiple of the block or of 8.
  const std::vector<float> x = random_values(100003, 5);
  double expected = 0.0;
  for (const float e : x) expected += static_cast<double>(e) * e;
  const double got = nn::sum_of_squares(x);
  EXPECT_NEAR(got, expected, 1e-12 * expected);
  EXPECT_EQ(nn::sum_of_squares(x), got);  // the same bits on every call
  // The slices of a split add up to the whole (to double rounding), as ranks' shares do.
  const std::span<const float> all(x);
  EXPECT_NEAR(nn::sum_of_squares(all.first(50000)) + nn::sum_of_squares(all.subspan(50000)), expected,
              1e-12 * expected);
}

nn::LrSchedule gpt2_schedule() {
  nn::LrSchedule s;
  s.max_lr = 6e-4f;
  s.warmup_steps = 10;
  s.total_steps = 110;
  s.min_lr_fraction = 0.1f;
  return s;
}

TEST(NnLrSchedule, WarmupThenCosineThenFloor) {
  const nn::LrSchedule s = gpt2_schedule();
  s.validate();
  const double max_lr = 6e-4f, min_lr = 0.1f * max_lr;
  EXPECT_FLOAT_EQ(s.at(0), static_cast<float>(max_lr / 10));
  EXPECT_FLOAT_EQ(s.at(4), static_cast<float>(max_lr * 5 / 10));
  EXPECT_FLOAT_EQ(s.at(9), static_cast<float>(max_lr));   // the last warm-up step reaches max_lr
  EXPECT_FLOAT_EQ(s.at(10), static_cast<float>(max_lr));  // the cosine starts at its top
  EXPECT_FLOAT_EQ(s.at(60), static_cast<float>((max_lr + min_lr) / 2));  // half-way: cos(π/2) = 0
  const double quarter = min_lr + (max_lr - min_lr) * 0.5 * (1 + std::cos(std::numbers::pi / 4));
  EXPECT_FLOAT_EQ(s.at(35), static_cast<float>(quarter));
  EXPECT_FLOAT_EQ(s.at(110), static_cast<float>(min_lr));
  EXPECT_FLOAT_EQ(s.at(111), static_cast<float>(min_lr));
  EXPECT_FLOAT_EQ(s.at(1'000'000), static_cast<float>(min_lr));
  for (std::int64_t t = 1; t < 10; ++t) EXPECT_GT(s.at(t), s.at(t - 1)) << t;
  for (std::int64_t t = 11; t <= 110; ++t) EXPECT_LE(s.at(t), s.at(t - 1)) << t;
  EXPECT_THROW((void)s.at(-1), meridian::Error);

  nn::LrSchedule no_warmup = s;
  no_warmup.warmup_steps = 0;
  no_warmup.validate();
  EXPECT_FLOAT_EQ(no_warmup.at(0), static_cast<float>(max_lr));
  nn::LrSchedule all_warmup = s;
  all_warmup.warmup_steps = all_warmup.total_steps;
  all_warmup.validate();
  EXPECT_FLOAT_EQ(all_warmup.at(109), static_cast<float>(max_lr));
  EXPECT_FLOAT_EQ(all_warmup.at(110), static_cast<float>(min_lr));
}

TEST(NnLrSchedule, ValidateNamesTheBadValues) {
  auto message = [](auto change) {
    nn::LrSchedule s = gpt2_schedule();
    change(s);
    return input_error([&] { s.validate(); });
  };
  const std::string lr = message([](nn::LrSchedule& s) { s.max_lr = 0.f; });
  EXPECT_NE(lr.find("max_lr"), std::string::npos) << lr;
  const std::string warm = message([](nn::LrSchedule& s) { s.warmup_steps = -3; });
  EXPECT_NE(warm.find("-3"), std::string::npos) << warm;
  const std::string total = message([](nn::LrSchedule& s) { s.total_steps = 0; });
  EXPECT_NE(total.find("total_steps"), std::string::npos) << total;
  const std::string order = message([](nn::LrSchedule& s) { s.warmup_steps = 200; });
  EXPECT_NE(order.find("warmup_steps (200)"), std::string::npos) << order;
  EXPECT_NE(order.find("total_steps (110)"), std::string::npos) << order;
  const std::string fraction = message([](nn::LrSchedule& s) { s.min_lr_fraction = 1.5f; });
  EXPECT_NE(fraction.find("1.5"), std::string::npos) << fraction;
  const std::string nan_fraction =
      message([](nn::LrSchedule& s) { s.min_lr_fraction = std::numeric_limits<float>::quiet_NaN(); });
  EXPECT_NE(nan_fraction.find("min_lr_fraction"), std::string::npos) << nan_fraction;
}

}  // namespace
