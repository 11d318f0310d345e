// The GPT's CUDA kernels (kernels/cuda/gpt.hpp) against its CPU kernels (lib/nn/gpt_kernels.hpp, which
// tests/unit checks against finite differences of a double reference): the same random inputs on both,
// outputs and gradients compared with tolerances of a few float epsilons times the reduction length.
// Skipped with a message where there is no CUDA device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "core/ops.hpp"
#include "core/rng.hpp"
#include "nn/gpt.hpp"
#include "kernels/cuda/gpt.hpp"
#include "kernels/cuda/ops.hpp"
#include "nn/gpt_kernels.hpp"

namespace meridian {
namespace {

namespace cuda = kernels::cuda;

class CudaGpt : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device: cudaGetDeviceCount found none (or no driver)";
  }
};

// A device copy of a host vector, freed at scope exit.
template <class T>
class Dev {
 public:
  explicit Dev(const std::vector<T>& host) : n_(host.size()) {
    p_ = static_cast<T*>(cuda::device_alloc(std::max<std::size_t>(n_, 1) * sizeof(T)));
    if (n_ > 0) cuda::memcpy_h2d(p_, host.data(), n_ * sizeof(T));
  }
  ~Dev() { cuda::device_free(p_); }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  T* get() { return p_; }
  std::vector<T> host() const {
    std::vector<T> out(n_);
    cuda::synchronize();
    if (n_ > 0) cuda::memcpy_d2h(out.data(), p_, n_ * sizeof(T));
    return out;
  }

 private:
  std::size_t n_;
  T* p_ = nullptr;
};

std::vector<float> random(std::size_t n, std::uint64_t stream, float scale = 1.f) {
  Rng rng(11, stream_id(StreamPurpose::test, stream));
  std::vector<float> v(n);
  for (auto& x : v) x = scale * (2.f * rng.uniform() - 1.f);
  return v;
}

// n copies of `value` (a named function, so that Dev<float> x(zeros(n)) is never read as a declaration).
std::vector<float> zeros(std::int64_t n, float value = 0.f) { return std::vector<float>(static_cast<std::size_t>(n), value); }

void expect_close(const std::vector<float>& got, const std::vector<float>& want, double rel, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double scale = 1e-6;
  for (float w : want) scale = std::max(scale, static_cast<double>(std::abs(w)));
  for (std::size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], rel * scale) << what << " [" << i << "]";
}

TEST_F(CudaGpt, LayerNormForwardAndBackwardMatchTheCpu) {
  const std::int64_t n = 77, c = 96;
  const auto x = random(n * c, 1, 2.f), w = random(c, 2), b = random(c, 3), dy = random(n * c, 4);
  std::vector<float> out(n * c), mean(n), rstd(n), dx(n * c, 0.5f), dw(c, 0.25f), db(c, -0.5f);
  nn::gpt::layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), n, c);
  nn::gpt::layernorm_backward(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), mean.data(), rstd.data(),
                              n, c);
  Dev<float> gx(x), gw(w), gb(b), gdy(dy), gout(zeros(n * c)), gmean(zeros(n)),
      grstd(zeros(n)), gdx(zeros(n * c, 0.5f)), gdw(zeros(c, 0.25f)),
      gdb(zeros(c, -0.5f)),
      scratch(std::vector<float>(static_cast<std::size_t>(cuda::gpt::layernorm_backward_scratch_floats(n, c))));
  cuda::gpt::layernorm_forward(gout.get(), gmean.get(), grstd.get(), gx.get(), gw.get(), gb.get(), n, c);
  cuda::gpt::layernorm_backward(gdx.get(), gdw.get(), gdb.get(), gdy.get(), gx.get(), gw.get(), gmean.get(),
                                grstd.get(), n, c, scratch.get());
  expect_close(gout.host(), out, 1e-5, "out");
  expect_close(gdx.host(), dx, 1e-5, "dx (accumulated)");
  expect_close(gdw.host(), dw, 1e-5, "dw");
  expect_close(gdb.host(), db, 1e-5, "db");
}

TEST_F(CudaGpt, LinearMatchesTheCpu) {
  const std::int64_t n = 33, in = 48, out = 40;
  const auto x = random(n * in, 5), w = random(in * out, 6), b = random(out, 7), dy = random(n * out, 8);
  std::vector<float> y(n * out), dx(n * in), dw(in * out, 0.f), db(out, 0.f);
  nn::gpt::linear_forward(y.data(), x.data(), w.data(), b.data(), n, in, out);
  nn::gpt::linear_backward(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), n, in, out, false);
  Dev<float> gx(x), gw(w), gb(b), gdy(dy), gy(zeros(n * out)), gdx(zeros(n * in)),
      gdw(zeros(in * out, 0.f)), gdb(zeros(out, 0.f));
  cuda::gpt::linear_forward(gy.get(), gx.get(), gw.get(), gb.get(), n, in, out);
  cuda::gpt::linear_backward(gdx.get(), gdw.get(), gdb.get(), gdy.get(), gx.get(), gw.get(), n, in, out, false);
  expect_close(gy.host(), y, 1e-5, "y");
  expect_close(gdx.host(), dx, 1e-5, "dx");
  expect_close(gdw.host(), dw, 1e-5, "dw");
  expect_close(gdb.host(), db, 1e-5, "db");
}

TEST_F(CudaGpt, AttentionMatchesTheCpu) {
  const std::int64_t b = 3, t = 37, c = 64, nh = 4;
  const auto qkv = random(b * t * 3 * c, 9), dy = random(b * t * c, 10);
  std::vector<float> out(b * t * c), att(b * nh * t * t), dqkv(b * t * 3 * c), scratch(b * nh * t * t);
  nn::gpt::attention_forward(out.data(), att.data(), qkv.data(), b, t, c, nh);
  nn::gpt::attention_backward(dqkv.data(), scratch.data(), dy.data(), qkv.data(), att.data(), b, t, c, nh);
  Dev<float> gqkv(qkv), gdy(dy), gout(zeros(out.size())), gatt(zeros(att.size())),
      gdqkv(zeros(dqkv.size())), gscratch(zeros(scratch.size()));
  cuda::gpt::attention_forward(gout.get(), gatt.get(), gqkv.get(), b, t, c, nh);
  cuda::gpt::attention_backward(gdqkv.get(), gscratch.get(), gdy.get(), gqkv.get(), gatt.get(), b, t, c, nh);
  expect_close(gatt.host(), att, 1e-5, "att");
  expect_close(gout.host(), out, 1e-5, "out");
  expect_close(gdqkv.host(), dqkv, 1e-4, "dqkv");
}

TEST_F(CudaGpt, ElementwiseEmbeddingAndPositionsMatchTheCpu) {
  const std::int64_t b = 2, t = 9, c = 24, n = b * t, rows = 16, begin = 8, max_seq = 12;
  Rng rng(3, stream_id(StreamPurpose::test, 11));
  std::vector<std::int32_t> tokens(n);
  for (auto& x : tokens) x = static_cast<std::int32_t>(rng.below(32));  // some outside [8, 24)
  const auto wte = random(rows * c, 12), wpe = random(max_seq * c, 13), dout = random(n * c, 14), x = random(n * c, 15, 4.f);
  std::vector<float> emb(n * c), dwte(rows * c, 0.f), dwpe(max_seq * c, 0.f), g(n * c), dg(n * c);
  nn::gpt::embedding_forward(emb.data(), tokens.data(), wte.data(), begin, rows, n, c);
  nn::gpt::add_positions(emb.data(), wpe.data(), b, t, c);
  nn::gpt::embedding_backward(dwte.data(), tokens.data(), dout.data(), begin, rows, n, c);
  nn::gpt::positions_backward(dwpe.data(), dout.data(), b, t, c);
  nn::gpt::gelu_forward(g.data(), x.data(), n * c);
  nn::gpt::gelu_backward(dg.data(), x.data(), dout.data(), n * c);
  Dev<std::int32_t> gtok(tokens);
  Dev<float> gwte(wte), gwpe(wpe), gdout(dout), gx(x), gemb(zeros(n * c)),
      gdwte(zeros(rows * c, 0.f)), gdwpe(zeros(max_seq * c, 0.f)),
      gg(zeros(n * c)), gdg(zeros(n * c));
  cuda::gpt::embedding_forward(gemb.get(), gtok.get(), gwte.get(), begin, rows, n, c);
  cuda::gpt::add_positions(gemb.get(), gwpe.get(), b, t, c);
  cuda::gpt::embedding_backward(gdwte.get(), gtok.get(), gdout.get(), begin, rows, n, c);
  cuda::gpt::positions_backward(gdwpe.get(), gdout.get(), b, t, c);
  cuda::gpt::gelu_forward(gg.get(), gx.get(), n * c);
  cuda::gpt::gelu_backward(gdg.get(), gx.get(), gdout.get(), n * c);
  expect_close(gemb.host(), emb, 1e-6, "embedding + positions");
  expect_close(gdwte.host(), dwte, 1e-6, "dwte");
  expect_close(gdwpe.host(), dwpe, 1e-6, "dwpe");
  expect_close(gg.host(), g, 1e-5, "gelu");
  expect_close(gdg.host(), dg, 1e-5, "gelu backward");
}

TEST_F(CudaGpt, CrossEntropyStepsMatchTheirDefinition) {
  const std::int64_t n = 21, vl = 80, valid = 65, begin = 160;  // a rank holding tokens 160..239 of 225 real
  const auto logits = random(n * vl, 16, 3.f);
  Rng rng(4, stream_id(StreamPurpose::test, 17));
  std::vector<std::int32_t> targets(n);
  for (auto& x : targets) x = static_cast<std::int32_t>(rng.below(225));
  Dev<float> gl(logits), gmax(zeros(n)), gsums(zeros(2 * n)),
      gd(zeros(n * vl));
  Dev<std::int32_t> gt(targets);
  cuda::gpt::cross_entropy_row_max(gmax.get(), gl.get(), n, vl, valid);
  cuda::gpt::cross_entropy_sums(gsums.get(), gl.get(), gmax.get(), gt.get(), begin, n, vl, valid);
  const auto mx = gmax.host(), sums = gsums.host();
  std::vector<float> lse(n);
  for (std::int64_t i = 0; i < n; ++i) {
    double m = -1e30, s = 0;
    for (std::int64_t j = 0; j < valid; ++j) m = std::max(m, static_cast<double>(logits[i * vl + j]));
    for (std::int64_t j = 0; j < valid; ++j) s += std::exp(logits[i * vl + j] - m);
    EXPECT_NEAR(mx[i], m, 0) << "row max " << i;
    EXPECT_NEAR(sums[i], s, 1e-5 * s) << "sum " << i;
    const std::int64_t local = targets[i] - begin;
    EXPECT_EQ(sums[n + i], local >= 0 && local < vl ? logits[i * vl + local] : 0.f) << "target logit " << i;
    lse[i] = static_cast<float>(m + std::log(s));
  }
  Dev<float> glse(lse);
  cuda::gpt::cross_entropy_backward(gd.get(), gl.get(), glse.get(), gt.get(), begin, n, vl, valid, 0.5f);
  const auto d = gd.host();
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < vl; ++j) {
      double want = j < valid ? 0.5 * std::exp(logits[i * vl + j] - lse[i]) : 0.0;
      if (targets[i] - begin == j) want -= 0.5;
      ASSERT_NEAR(d[i * vl + j], want, 1e-6) << i << "," << j;
    }
}

TEST_F(CudaGpt, AdamWMatchesItsFormula) {
  const std::int64_t n = 1000;
  auto w = random(n, 18), g = random(n, 19);
  std::vector<float> m(n, 0.f), v(n, 0.f);
  Dev<float> gw(w), gg(g), gm(m), gv(v);
  for (std::int64_t step = 1; step <= 3; ++step)
    cuda::gpt::adamw_update(gw.get(), gg.get(), gm.get(), gv.get(), n, 1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, step);
  const auto got = gw.host();
  for (std::int64_t i = 0; i < n; ++i) {
    double wi = w[i], mi = 0, vi = 0;
    for (int step = 1; step <= 3; ++step) {
      wi *= 1 - 1e-2 * 0.1;
      mi = 0.9 * mi + 0.1 * g[i];
      vi = 0.95 * vi + 0.05 * g[i] * g[i];
      wi -= 1e-2 * (mi / (1 - std::pow(0.9, step))) / (std::sqrt(vi / (1 - std::pow(0.95, step))) + 1e-8);
    }
    ASSERT_NEAR(got[i], wi, 1e-5) << i;
  }
}

// The whole stage on the GPU against the same stage on the CPU: the first step's loss and every
// gradient, then ten steps of plain SGD with the losses compared at each (the backends' "first 10
// losses agree" target). fp32: at the kernels' float tolerance. bf16: both backends round the same
// matmul inputs, but the fp32 accumulation orders differ, and a difference of an ulp moves some
// roundings to the next bf16 value — at initialisation whole rows of attention probabilities sit
// alike, so they move together. Measured on the CPU by perturbing the weights by 2e-7 and 2e-6
// (relative): losses 7e-6 and 9e-6 apart, gradients up to 3e-3 apart (relative L2 per tensor); the
// bounds below are 10x that. That the rounding itself is right is GemmBf16Inputs*'s job.
void check_stage_against_cpu(MatmulPrecision precision) {
  const bool bf16 = precision == MatmulPrecision::bf16;
  const double loss_rel = bf16 ? 1e-4 : 1e-5;
  nn::GptConfig config;
  config.precision = precision;
  config.vocab = 257;
  config.max_seq = 16;
  config.layers = 2;
  config.d_model = 32;
  config.heads = 4;
  nn::SoloTpGroup solo;
  nn::GptStage cpu(config, 0, 1, solo, 42), gpu(config, 0, 1, solo, 42, Device::cuda(0));
  Rng rng(8, stream_id(StreamPurpose::test, 20));
  const std::int64_t b = 4, t = 16;
  for (int step = 0; step < 10; ++step) {
    Tensor in = Tensor::empty({b, t}, DType::i32), tg = Tensor::empty({b, t}, DType::i32);
    for (std::int64_t i = 0; i < b * t; ++i) {
      in.data<std::int32_t>()[i] = static_cast<std::int32_t>(rng.below(257));
      tg.data<std::int32_t>()[i] = static_cast<std::int32_t>(rng.below(257));
    }
    cpu.zero_grad();
    gpu.zero_grad();
    const double lc = cpu.forward_loss(0, in, tg), lg = gpu.forward_loss(0, in, tg);
    EXPECT_NEAR(lg, lc, loss_rel * lc) << "step " << step;
    cpu.backward_loss(0, 1.f);
    gpu.backward_loss(0, 1.f);
    for (std::size_t k = 0; k < cpu.parameters().size(); ++k) {
      nn::Parameter& pc = *cpu.parameters()[k].param;
      nn::Parameter& pg = *gpu.parameters()[k].param;
      if (step == 0) {
        const auto want = pc.grad.to_vector();
        const auto got = pg.grad.to_vector();
        double scale = 1e-9, err = 0, norm = 1e-30, diff = 0;
        for (std::size_t i = 0; i < want.size(); ++i) {
          scale = std::max(scale, std::abs(want[i]));
          err = std::max(err, std::abs(got[i] - want[i]));
          norm += want[i] * want[i];
          diff += (got[i] - want[i]) * (got[i] - want[i]);
        }
        if (bf16) {
          EXPECT_LE(std::sqrt(diff / norm), 3e-2) << pc.name;
        } else {
          EXPECT_LE(err, 1e-4 * scale) << pc.name;
        }
      }
      ops::axpy(-0.05f, pc.grad, pc.value);
      ops::axpy(-0.05f, pg.grad, pg.value);
    }
  }
}

TEST_F(CudaGpt, SumsOfSquaresOfManyRangesMatchOneAtATimeAndDouble) {
  // Ranges as the gradient norm takes them: of every size (empty, under a block, many blocks), in any
  // order, overlapping; one copy back for all must give each range's own sum bit for bit.
  const std::int64_t n = 3 * 1000 * 1000 + 17;
  const auto x = random(static_cast<std::size_t>(n), 9, 3.f);
  Dev<float> gx(x);
  const std::vector<std::pair<std::int64_t, std::int64_t>> ranges = {
      {0, n}, {5, 5}, {7, 300}, {n - 1, n}, {1000, 2 * 1000 * 1000}, {123, 124}, {0, 256 * 1024 + 3}};
  const std::vector<double> sums = cuda::gpt::sums_of_squares(gx.get(), ranges);
  ASSERT_EQ(sums.size(), ranges.size());
  for (std::size_t r = 0; r < ranges.size(); ++r) {
    const auto [begin, end] = ranges[r];
    double exact = 0.0;
    for (std::int64_t i = begin; i < end; ++i) {
      const double v = x[static_cast<std::size_t>(i)];
      exact += v * v;
    }
    EXPECT_EQ(sums[r], cuda::gpt::sum_of_squares(gx.get() + begin, end - begin)) << "range " << r;
    EXPECT_NEAR(sums[r], exact, 1e-12 * std::max(1.0, exact)) << "range " << r;
  }
  EXPECT_TRUE(cuda::gpt::sums_of_squares(gx.get(), {}).empty());
}

TEST_F(CudaGpt, StageMatchesTheCpuForTenSteps) { check_stage_against_cpu(MatmulPrecision::fp32); }
TEST_F(CudaGpt, Bf16StageMatchesTheEmulatedCpuStageForTenSteps) { check_stage_against_cpu(MatmulPrecision::bf16); }

}  // namespace
}  // namespace meridian
