// The GPT model: every kernel's backward against central finite differences of a double-precision
// reference forward, and the stage as a whole — pipeline split and tensor-parallel split (ranks as
// threads) against the unsplit model, micro-batch accumulation, the loss against finite differences,
// and the errors of impossible shapes.
#include <gtest/gtest.h>

#include <barrier>
#include <cmath>
#include <functional>
#include <map>
#include <thread>
#include <vector>

#include "core/rng.hpp"
#include "nn/gpt.hpp"
#include "nn/gpt_kernels.hpp"
#include "kernels/cpu/nm_sparse.hpp"

namespace meridian::nn {
namespace {

using Vec = std::vector<double>;

Vec random_vec(std::size_t n, std::uint64_t stream, double scale = 1.0) {
  Rng rng(2024, stream_id(StreamPurpose::test, stream));
  Vec v(n);
  for (auto& x : v) x = scale * (2.0 * rng.uniform_double() - 1.0);
  return v;
}
std::vector<float> to_f(const Vec& v) { return {v.begin(), v.end()}; }

double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Numerical gradient of x -> Σ dy·f(x) by central differences (double throughout).
Vec numerical_grad(const std::function<Vec(const Vec&)>& f, Vec x, const Vec& dy, double h = 1e-6) {
  Vec g(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double x0 = x[i];
    x[i] = x0 + h;
    const double up = dot(f(x), dy);
    x[i] = x0 - h;
    const double down = dot(f(x), dy);
    x[i] = x0;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

// |analytic − numerical| within a tolerance scaled by the gradient's size (float kernels against a
// double reference: a few float epsilons times the accumulation length).
void expect_close(const std::vector<float>& got, const Vec& want, double rel, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double scale = 1e-3;
  for (double w : want) scale = std::max(scale, std::abs(w));
  for (std::size_t i = 0; i < want.size(); ++i)
    ASSERT_NEAR(got[i], want[i], rel * scale) << what << " element " << i;
}

// ---- double-precision references ----

Vec ref_layernorm(const Vec& x, const Vec& w, const Vec& b, std::size_t n, std::size_t c) {
  Vec out(n * c);
  for (std::size_t i = 0; i < n; ++i) {
    double m = 0, v = 0;
    for (std::size_t j = 0; j < c; ++j) m += x[i * c + j];
    m /= static_cast<double>(c);
    for (std::size_t j = 0; j < c; ++j) v += (x[i * c + j] - m) * (x[i * c + j] - m);
    const double r = 1.0 / std::sqrt(v / static_cast<double>(c) + 1e-5);
    for (std::size_t j = 0; j < c; ++j) out[i * c + j] = (x[i * c + j] - m) * r * w[j] + b[j];
  }
  return out;
}

Vec ref_linear(const Vec& x, const Vec& w, const Vec& b, std::size_t n, std::size_t in, std::size_t out) {
  Vec y(n * out);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t o = 0; o < out; ++o) {
      double s = b.empty() ? 0.0 : b[o];
      for (std::size_t k = 0; k < in; ++k) s += x[i * in + k] * w[k * out + o];
      y[i * out + o] = s;
    }
  return y;
}

Vec ref_attention(const Vec& qkv, std::size_t b, std::size_t t, std::size_t c, std::size_t nh) {
  const std::size_t hs = c / nh;
  Vec out(b * t * c, 0.0);
  for (std::size_t bi = 0; bi < b; ++bi)
    for (std::size_t h = 0; h < nh; ++h)
      for (std::size_t i = 0; i < t; ++i) {
        Vec p(i + 1);
        double mx = -1e300;
        for (std::size_t j = 0; j <= i; ++j) {
          double s = 0;
          for (std::size_t d = 0; d < hs; ++d)
            s += qkv[(bi * t + i) * 3 * c + h * hs + d] * qkv[(bi * t + j) * 3 * c + c + h * hs + d];
          p[j] = s / std::sqrt(static_cast<double>(hs));
          mx = std::max(mx, p[j]);
        }
        double sum = 0;
        for (auto& v : p) sum += (v = std::exp(v - mx));
        for (std::size_t j = 0; j <= i; ++j)
          for (std::size_t d = 0; d < hs; ++d)
            out[(bi * t + i) * c + h * hs + d] += p[j] / sum * qkv[(bi * t + j) * 3 * c + 2 * c + h * hs + d];
      }
  return out;
}

double ref_gelu(double x) { return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x))); }

// ---- kernels ----

TEST(GptKernels, LayerNormMatchesReferenceAndFiniteDifferences) {
  const std::size_t n = 5, c = 12;
  const Vec x = random_vec(n * c, 1, 2.0), w = random_vec(c, 2), b = random_vec(c, 3), dy = random_vec(n * c, 4);
  auto xf = to_f(x), wf = to_f(w), bf = to_f(b), dyf = to_f(dy);
  std::vector<float> out(n * c), mean(n), rstd(n), dx(n * c, 0.f), dw(c, 0.f), db(c, 0.f);
  gpt::layernorm_forward(out.data(), mean.data(), rstd.data(), xf.data(), wf.data(), bf.data(), n, c);
  expect_close(out, ref_layernorm(x, w, b, n, c), 1e-5, "layernorm out");
  gpt::layernorm_backward(dx.data(), dw.data(), db.data(), dyf.data(), xf.data(), wf.data(), mean.data(), rstd.data(),
                          n, c);
  expect_close(dx, numerical_grad([&](const Vec& v) { return ref_layernorm(v, w, b, n, c); }, x, dy), 1e-4, "dx");
  expect_close(dw, numerical_grad([&](const Vec& v) { return ref_layernorm(x, v, b, n, c); }, w, dy), 1e-4, "dw");
  expect_close(db, numerical_grad([&](const Vec& v) { return ref_layernorm(x, w, v, n, c); }, b, dy), 1e-4, "db");
}

TEST(GptKernels, LayerNormBackwardAccumulatesIntoDx) {
  const std::size_t n = 3, c = 8;
  auto x = to_f(random_vec(n * c, 5)), w = to_f(random_vec(c, 6)), b = to_f(random_vec(c, 7)),
       dy = to_f(random_vec(n * c, 8));
  std::vector<float> out(n * c), mean(n), rstd(n), dx0(n * c, 0.f), dx1(n * c, 1.f), dw(c), db(c);
  gpt::layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), n, c);
  gpt::layernorm_backward(dx0.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), mean.data(), rstd.data(), n, c);
  gpt::layernorm_backward(dx1.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), mean.data(), rstd.data(), n, c);
  for (std::size_t i = 0; i < n * c; ++i) EXPECT_FLOAT_EQ(dx1[i], dx0[i] + 1.f);
}

TEST(GptKernels, LinearMatchesReferenceAndFiniteDifferences) {
  const std::size_t n = 6, in = 7, out = 5;
  const Vec x = random_vec(n * in, 11), w = random_vec(in * out, 12), b = random_vec(out, 13), dy = random_vec(n * out, 14);
  auto xf = to_f(x), wf = to_f(w), bf = to_f(b), dyf = to_f(dy);
  std::vector<float> y(n * out), dx(n * in), dw(in * out, 0.f), db(out, 0.f);
  gpt::linear_forward(y.data(), xf.data(), wf.data(), bf.data(), n, in, out);
  expect_close(y, ref_linear(x, w, b, n, in, out), 1e-5, "linear out");
  gpt::linear_backward(dx.data(), dw.data(), db.data(), dyf.data(), xf.data(), wf.data(), n, in, out, false);
  expect_close(dx, numerical_grad([&](const Vec& v) { return ref_linear(v, w, b, n, in, out); }, x, dy), 1e-4, "dx");
  expect_close(dw, numerical_grad([&](const Vec& v) { return ref_linear(x, v, b, n, in, out); }, w, dy), 1e-4, "dw");
  expect_close(db, numerical_grad([&](const Vec& v) { return ref_linear(x, w, v, n, in, out); }, b, dy), 1e-4, "db");
}

TEST(GptKernels, SparseLinearEqualsDenseLinearWithThePrunedWeight) {
  const std::int64_t n = 5, in = 16, out = 8;
  const NMLayout layout{.k = in, .cols = out, .n = 2, .m = 4, .v = 4};
  auto dense = to_f(random_vec(static_cast<std::size_t>(in * out), 16));
  std::vector<std::uint8_t> index(static_cast<std::size_t>(layout.index_count()));
  std::vector<float> values(static_cast<std::size_t>(layout.value_count()));
  kernels::cpu::nm_select(dense.data(), out, layout, index.data());
  kernels::cpu::nm_compress(dense.data(), out, layout, index.data(), values.data());
  std::vector<float> pruned(dense.size(), 0.f);
  kernels::cpu::nm_decompress(layout, values.data(), index.data(), pruned.data(), out);
  auto x = to_f(random_vec(static_cast<std::size_t>(n * in), 17)), b = to_f(random_vec(out, 18)),
       dy = to_f(random_vec(static_cast<std::size_t>(n * out), 19));
  std::vector<float> y_sparse(n * out), y_dense(n * out);
  gpt::nm_linear_forward(y_sparse.data(), x.data(), values.data(), index.data(), layout, b.data(), n);
  gpt::linear_forward(y_dense.data(), x.data(), pruned.data(), b.data(), n, in, out);
  for (std::size_t i = 0; i < y_dense.size(); ++i) EXPECT_NEAR(y_sparse[i], y_dense[i], 1e-5) << i;
  std::vector<float> dx_s(n * in), dx_d(n * in), dv(values.size(), 0.f), dw(dense.size(), 0.f), db_s(out, 0.f),
      db_d(out, 0.f);
  gpt::nm_linear_backward(dx_s.data(), dv.data(), db_s.data(), dy.data(), x.data(), values.data(), index.data(),
                          layout, n);
  gpt::linear_backward(dx_d.data(), dw.data(), db_d.data(), dy.data(), x.data(), pruned.data(), n, in, out, false);
  for (std::size_t i = 0; i < dx_d.size(); ++i) EXPECT_NEAR(dx_s[i], dx_d[i], 1e-5) << "dx " << i;
  for (std::size_t j = 0; j < db_d.size(); ++j) EXPECT_NEAR(db_s[j], db_d[j], 1e-5) << "db " << j;
  // The kept values' gradient is the dense gradient at the kept positions.
  std::vector<float> dv_dense(values.size());
  kernels::cpu::nm_compress(dw.data(), out, layout, index.data(), dv_dense.data());
  for (std::size_t i = 0; i < dv.size(); ++i) EXPECT_NEAR(dv[i], dv_dense[i], 1e-5) << "dvalues " << i;
}

TEST(GptKernels, ColumnSumsCoverEveryBlockOfColumns) {
  const std::size_t rows = 9, cols = 150;  // 150 = two full blocks of 64 and a partial one
  auto m = to_f(random_vec(rows * cols, 15));
  std::vector<float> out(cols, 1.f);
  gpt::add_column_sums(out.data(), m.data(), rows, cols);
  for (std::size_t j = 0; j < cols; ++j) {
    double s = 1.0;
    for (std::size_t i = 0; i < rows; ++i) s += m[i * cols + j];
    EXPECT_NEAR(out[j], s, 1e-5);
  }
}

TEST(GptKernels, AttentionMatchesReferenceAndFiniteDifferences) {
  const std::size_t b = 2, t = 5, c = 8, nh = 2;
  const Vec qkv = random_vec(b * t * 3 * c, 21), dy = random_vec(b * t * c, 22);
  auto qf = to_f(qkv), dyf = to_f(dy);
  std::vector<float> out(b * t * c), att(b * nh * t * t), dqkv(b * t * 3 * c), scratch(b * nh * t * t);
  gpt::attention_forward(out.data(), att.data(), qf.data(), b, t, c, nh);
  expect_close(out, ref_attention(qkv, b, t, c, nh), 1e-5, "attention out");
  for (std::size_t bh = 0; bh < b * nh; ++bh)
    for (std::size_t i = 0; i < t; ++i) {
      double s = 0;
      for (std::size_t j = 0; j < t; ++j) {
        if (j > i) {
          EXPECT_EQ(att[(bh * t + i) * t + j], 0.f) << "attention to the future";
        }
        s += att[(bh * t + i) * t + j];
      }
      EXPECT_NEAR(s, 1.0, 1e-5);
    }
  gpt::attention_backward(dqkv.data(), scratch.data(), dyf.data(), qf.data(), att.data(), b, t, c, nh);
  expect_close(dqkv, numerical_grad([&](const Vec& v) { return ref_attention(v, b, t, c, nh); }, qkv, dy), 1e-4,
               "dqkv");
}

TEST(GptKernels, GeluMatchesReferenceAndFiniteDifferences) {
  const std::size_t n = 40;
  const Vec x = random_vec(n, 31, 4.0), dy = random_vec(n, 32);
  auto xf = to_f(x), dyf = to_f(dy);
  std::vector<float> y(n), dx(n);
  gpt::gelu_forward(y.data(), xf.data(), n);
  auto ref = [&](const Vec& v) {
    Vec o(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) o[i] = ref_gelu(v[i]);
    return o;
  };
  expect_close(y, ref(x), 1e-6, "gelu out");
  gpt::gelu_backward(dx.data(), xf.data(), dyf.data(), n);
  expect_close(dx, numerical_grad(ref, x, dy), 1e-5, "gelu dx");
}

// The vectorised GELU (its own exponential, the σ form) over a dense grid, across parallel blocks and
// with a tail that is not a multiple of the vector width, against double-precision closed forms.
TEST(GptKernels, GeluIsAccurateOverItsWholeRange) {
  const std::int64_t n = 3 * 4096 + 7;  // several parallel blocks and a 3-element tail
  std::vector<float> x(static_cast<std::size_t>(n)), ones(x.size(), 1.f), y(x.size()), dx(x.size());
  for (std::int64_t i = 0; i < n; ++i) x[static_cast<std::size_t>(i)] = -14.f + 28.f * static_cast<float>(i) / (n - 1);
  x[0] = 0.f;
  x[1] = -0.f;
  x[2] = 1e-30f;
  x[3] = -3.4e38f;
  x[4] = 3.4e38f;
  x.back() = 0.1f;  // in the tail
  gpt::gelu_forward(y.data(), x.data(), n);
  gpt::gelu_backward(dx.data(), x.data(), ones.data(), n);
  const double k = std::sqrt(2 / M_PI);
  constexpr double kEps = 0x1p-24;  // float's unit roundoff
  double worst_y = 0, worst_dx = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double v = x[i];
    const double u = k * (v + 0.044715 * v * v * v);
    const double s = 1 / (1 + std::exp(-2 * u));  // ½(1 + tanh u), exact in double also for v << 0
    const double want_y = v * s;
    const double want_dx = s + 2 * v * s * (1 - s) * k * (1 + 3 * 0.044715 * v * v);
    ASSERT_TRUE(std::isfinite(y[i]) && std::isfinite(dx[i])) << "x = " << v;
    if (std::fabs(v) <= 9) {
      // Within the clamp, in units of the rounding the float input itself forces: e^(-2u) moves by
      // |2u|·ε relative when x moves by one ulp, and the backward is a sum of two terms that cancel
      // near the minimum of GELU (x ≈ -0.75), so its error is measured against their sizes.
      const double cond = 1 + std::fabs(2 * u);
      const double term2 = std::fabs(2 * v * s * (1 - s) * k * (1 + 3 * 0.044715 * v * v));
      worst_y = std::max(worst_y, std::fabs(y[i] - want_y) / (cond * std::max(std::fabs(want_y), 1e-37)));
      worst_dx = std::max(worst_dx, std::fabs(dx[i] - want_dx) / (cond * std::max(s + term2, 1e-37)));
    } else if (std::fabs(v) < 1e30) {  // beyond, σ is clamped: the documented absolute bounds
      EXPECT_LE(std::fabs(y[i] - want_y), std::fabs(v) * 2e-29) << "x = " << v;
      EXPECT_LE(std::fabs(dx[i] - want_dx), 1e-26 + 1e-7 * std::fabs(want_dx)) << "x = " << v;
    }
  }
  EXPECT_LT(worst_y, 8 * kEps) << "forward";
  EXPECT_LT(worst_dx, 8 * kEps) << "backward";
  EXPECT_EQ(y[0], 0.f);
  EXPECT_EQ(y[4], 3.4e38f);  // the identity far right
  EXPECT_NEAR(dx[0], 0.5f, 1e-7);
  EXPECT_EQ(dx[4], 1.f);
  std::printf("gelu over [-14, 14]: worst error %.2f ulp (forward), %.2f ulp (backward), scaled by 1 + |2u|\n",
              worst_y / kEps, worst_dx / kEps);
}

TEST(GptKernels, EmbeddingOwnsOnlyItsVocabularyRows) {
  const std::int64_t c = 3, rows = 4, begin = 4;  // this rank holds tokens 4..7
  const std::vector<std::int32_t> tokens{1, 5, 7, 5, 9};
  auto wte = to_f(random_vec(rows * c, 41));
  std::vector<float> out(tokens.size() * c), dout(tokens.size() * c, 1.f), dwte(rows * c, 0.f);
  gpt::embedding_forward(out.data(), tokens.data(), wte.data(), begin, rows, 5, c);
  for (std::int64_t j = 0; j < c; ++j) {
    EXPECT_EQ(out[j], 0.f);                      // token 1: another rank's
    EXPECT_EQ(out[c + j], wte[1 * c + j]);       // token 5 = local row 1
    EXPECT_EQ(out[4 * c + j], 0.f);              // token 9: beyond this rank
  }
  gpt::embedding_backward(dwte.data(), tokens.data(), dout.data(), begin, rows, 5, c);
  EXPECT_EQ(dwte[1 * c], 2.f);  // token 5 twice
  EXPECT_EQ(dwte[3 * c], 1.f);  // token 7 once
  EXPECT_EQ(dwte[0], 0.f);
}

TEST(GptKernels, PositionsAddAndSumOverTheBatch) {
  const std::int64_t b = 3, t = 4, c = 2;
  auto wpe = to_f(random_vec(6 * c, 42));  // max_seq 6 > t
  std::vector<float> x(b * t * c, 0.f), dwpe(6 * c, 0.f), dout(b * t * c, 0.5f);
  gpt::add_positions(x.data(), wpe.data(), b, t, c);
  EXPECT_EQ(x[(2 * t + 3) * c + 1], wpe[3 * c + 1]);
  gpt::positions_backward(dwpe.data(), dout.data(), b, t, c);
  EXPECT_FLOAT_EQ(dwpe[3 * c], 1.5f);
  EXPECT_EQ(dwpe[5 * c], 0.f);  // rows beyond t untouched
}

// ---- the stage ----

GptConfig tiny_config(bool sparse = false) {
  GptConfig c;
  c.vocab = 257;
  c.max_seq = 8;
  c.layers = 2;
  c.d_model = 16;
  c.heads = 4;
  if (sparse) c.sparse_ffn = NMPattern{.n = 2, .m = 4, .v = 4};
  return c;
}

struct Batch {
  Tensor inputs, targets;
};

Batch random_batch(std::int64_t b, std::int64_t t, std::uint64_t stream) {
  Rng rng(7, stream_id(StreamPurpose::test, stream));
  Batch out{Tensor::empty({b, t}, DType::i32), Tensor::empty({b, t}, DType::i32)};
  for (std::int64_t i = 0; i < b * t; ++i) {
    out.inputs.data<std::int32_t>()[i] = static_cast<std::int32_t>(rng.below(257));
    out.targets.data<std::int32_t>()[i] = static_cast<std::int32_t>(rng.below(257));
  }
  return out;
}

std::vector<float> values(const Tensor& t) {
  const Tensor c = t.contiguous();
  return {c.data<float>(), c.data<float>() + c.numel()};
}

TEST(GptStage, ParameterCountAndFlops) {
  const GptConfig c = tiny_config();
  SoloTpGroup solo;
  GptStage stage(c, 0, 1, solo, 1);
  std::int64_t total = 0;
  for (auto& p : stage.parameters()) total += p.param->value.numel();
  EXPECT_EQ(total, c.parameter_count());
  EXPECT_EQ(c.padded_vocab(), 320);
  EXPECT_DOUBLE_EQ(c.training_flops_per_token(8), 6.0 * static_cast<double>(total) + 12.0 * 2 * 16 * 8);
}

TEST(GptStage, InitialLossIsNearUniform) {
  SoloTpGroup solo;
  GptStage stage(tiny_config(), 0, 1, solo, 3);
  const Batch batch = random_batch(4, 8, 1);
  const double loss = stage.forward_loss(0, batch.inputs, batch.targets);
  EXPECT_NEAR(loss, std::log(257.0), 0.1);  // small initial weights: nearly uniform predictions
  stage.release(0);
}

void check_finite_differences(bool sparse) {
  SoloTpGroup solo;
  GptStage stage(tiny_config(sparse), 0, 1, solo, 5);
  const Batch batch = random_batch(2, 6, 2);
  stage.zero_grad();
  stage.forward_loss(0, batch.inputs, batch.targets);
  stage.backward_loss(0, 1.f);
  // A few entries of every parameter: the loss (accumulated in double) by central differences in
  // float parameters; h large enough that float rounding of the forward stays below 1 %.
  const float h = 1e-2f;
  for (auto& gp : stage.parameters()) {
    Parameter& p = *gp.param;
    const std::int64_t n = p.value.numel();
    for (std::int64_t idx : {std::int64_t{0}, n / 3, n - 1}) {
      // wte: test a row that is used (token of the batch), not a padded one
      const std::int64_t i = p.name == "wte" ? batch.inputs.data<std::int32_t>()[0] * p.value.size(1) + idx % 16 : idx;
      float* v = p.value.data<float>() + i;
      const float v0 = *v;
      *v = v0 + h;
      const double up = stage.forward_loss(1, batch.inputs, batch.targets);
      stage.release(1);
      *v = v0 - h;
      const double down = stage.forward_loss(1, batch.inputs, batch.targets);
      stage.release(1);
      *v = v0;
      const double numeric = (up - down) / (2.0 * h);
      const double analytic = p.grad.data<float>()[i];
      EXPECT_NEAR(analytic, numeric, 2e-3 + 0.03 * std::abs(numeric)) << p.name << "[" << i << "]";
    }
  }
}

TEST(GptStage, LossGradientsMatchFiniteDifferences) { check_finite_differences(false); }
TEST(GptStage, SparseMlpGradientsMatchFiniteDifferences) { check_finite_differences(true); }

// bf16 mixed precision: the same model and batch give a loss and gradients within bf16's rounding
// (8 significant bits) of fp32's, yet not fp32's bits, since every matmul input is rounded; the
// master weights stay fp32 and untouched.
TEST(GptStage, Bf16MatmulsStayWithinBf16RoundingOfFp32) {
  SoloTpGroup solo;
  GptConfig mixed = tiny_config();
  mixed.precision = MatmulPrecision::bf16;
  GptStage fp32(tiny_config(), 0, 1, solo, 11), bf16(mixed, 0, 1, solo, 11);
  const Batch batch = random_batch(4, 8, 4);
  fp32.zero_grad();
  bf16.zero_grad();
  const double l32 = fp32.forward_loss(0, batch.inputs, batch.targets);
  const double l16 = bf16.forward_loss(0, batch.inputs, batch.targets);
  fp32.backward_loss(0, 1.f);
  bf16.backward_loss(0, 1.f);
  EXPECT_NE(l16, l32);
  EXPECT_NEAR(l16, l32, 1e-3);  // measured: 6e-5
  for (std::size_t k = 0; k < fp32.parameters().size(); ++k) {
    const Parameter& p32 = *fp32.parameters()[k].param;
    const Parameter& p16 = *bf16.parameters()[k].param;
    EXPECT_EQ(values(p16.value), values(p32.value)) << p32.name;
    const auto g32 = values(p32.grad), g16 = values(p16.grad);
    double diff = 0, norm = 0;
    for (std::size_t i = 0; i < g32.size(); ++i) {
      diff += (static_cast<double>(g16[i]) - g32[i]) * (static_cast<double>(g16[i]) - g32[i]);
      norm += static_cast<double>(g32[i]) * g32[i];
    }
    if (norm == 0) continue;  // e.g. unused padded rows
    const double rel = std::sqrt(diff / norm);
    EXPECT_LT(rel, 0.02) << p32.name;  // measured: 0.002 - 0.006 (2^-8 = 0.004)
    EXPECT_GT(rel, 5e-4) << p32.name << ": too close to fp32 for bf16 rounding";
  }
}

TEST(GptStage, Bf16WithASparseMlpIsRejected) {
  GptConfig c = tiny_config(true);
  c.precision = MatmulPrecision::bf16;
  try {
    c.validate(1, 1);
    FAIL() << "bf16 with a sparse MLP was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--precision bf16 with --sparse-ffn 2:4:4"), std::string::npos) << e.what();
  }
}

TEST(GptStage, MicroBatchesAccumulateToTheWholeBatch) {
  SoloTpGroup solo;
  GptStage whole(tiny_config(), 0, 1, solo, 9), parts(tiny_config(), 0, 1, solo, 9);
  const Batch batch = random_batch(4, 8, 3);
  whole.zero_grad();
  parts.zero_grad();
  const double l = whole.forward_loss(0, batch.inputs, batch.targets);
  whole.backward_loss(0, 1.f);
  double lsum = 0;
  for (int mb = 0; mb < 2; ++mb) {
    lsum += parts.forward_loss(mb, batch.inputs.slice(0, 2 * mb, 2 * mb + 2), batch.targets.slice(0, 2 * mb, 2 * mb + 2));
  }
  for (int mb = 0; mb < 2; ++mb) parts.backward_loss(mb, 0.5f);
  EXPECT_NEAR(lsum / 2, l, 1e-6);
  for (std::size_t k = 0; k < whole.parameters().size(); ++k) {
    const auto a = values(whole.parameters()[k].param->grad), b = values(parts.parameters()[k].param->grad);
    double scale = 1e-6;
    for (float x : a) scale = std::max(scale, static_cast<double>(std::abs(x)));
    for (std::size_t i = 0; i < a.size(); ++i)
      ASSERT_NEAR(b[i], a[i], 1e-4 * scale) << whole.parameters()[k].param->name;
  }
}

TEST(GptStage, PipelineSplitIsBitwiseTheWholeModel) {
  SoloTpGroup solo;
  GptStage whole(tiny_config(), 0, 1, solo, 11);
  GptStage first(tiny_config(), 0, 2, solo, 11), last(tiny_config(), 1, 2, solo, 11);
  const Batch batch = random_batch(2, 8, 4);
  for (GptStage* s : {&whole, &first, &last}) s->zero_grad();
  const double l = whole.forward_loss(0, batch.inputs, batch.targets);
  whole.backward_loss(0, 1.f);
  const Tensor h = first.forward(0, batch.inputs).clone();
  EXPECT_EQ(last.forward_loss(0, h, batch.targets), l);
  const Tensor dh = last.backward_loss(0, 1.f).clone();
  EXPECT_FALSE(first.backward(0, dh).defined());
  // Every parameter of the whole model equals its owner's; the tied embedding's gradient is the sum
  // of the first stage's (embedding) and the last stage's (head) parts.
  std::map<std::string, std::vector<float>> split;
  for (GptStage* s : {&first, &last})
    for (auto& gp : s->parameters()) {
      auto g = values(gp.param->grad);
      auto& slot = split[gp.param->name];
      if (slot.empty()) {
        slot = g;
      } else {
        for (std::size_t i = 0; i < g.size(); ++i) slot[i] += g[i];
      }
    }
  for (auto& gp : whole.parameters()) {
    const auto want = values(gp.param->grad);
    const auto& got = split.at(gp.param->name);
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
      if (gp.param->name == "wte") {
        ASSERT_NEAR(got[i], want[i], 1e-6 * (1 + std::abs(want[i]))) << "wte[" << i << "]";
      } else {
        ASSERT_EQ(got[i], want[i]) << gp.param->name << "[" << i << "]";
      }
    }
  }
}

// A tensor-parallel group of threads in one process: each all-reduce meets at a barrier.
class ThreadTpGroup final : public TpGroup {
 public:
  struct Shared {
    explicit Shared(int n) : size(n), slots(static_cast<std::size_t>(n)), sync(n) {}
    int size;
    std::vector<float*> slots;
    std::barrier<> sync;
  };
  ThreadTpGroup(Shared& shared, int rank) : shared_(shared), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return shared_.size; }
  void all_reduce_sum(std::span<float> d) override { reduce(d, false); }
  void all_reduce_max(std::span<float> d) override { reduce(d, true); }

 private:
  void reduce(std::span<float> d, bool max) {
    shared_.slots[static_cast<std::size_t>(rank_)] = d.data();
    shared_.sync.arrive_and_wait();
    std::vector<float> r(d.size());
    for (std::size_t i = 0; i < d.size(); ++i) {
      float acc = shared_.slots[0][i];
      for (int k = 1; k < shared_.size; ++k) {
        const float v = shared_.slots[static_cast<std::size_t>(k)][i];
        acc = max ? std::max(acc, v) : acc + v;
      }
      r[i] = acc;
    }
    shared_.sync.arrive_and_wait();
    std::copy(r.begin(), r.end(), d.begin());
  }
  Shared& shared_;
  int rank_;
};

void check_tensor_parallel(bool sparse) {
  const GptConfig config = tiny_config(sparse);
  const Batch batch = random_batch(2, 8, 5);
  SoloTpGroup solo;
  GptStage whole(config, 0, 1, solo, 13);
  whole.zero_grad();
  const double l = whole.forward_loss(0, batch.inputs, batch.targets);
  whole.backward_loss(0, 1.f);

  constexpr int kTp = 2;
  ThreadTpGroup::Shared shared(kTp);
  std::vector<double> losses(kTp);
  std::vector<std::map<std::string, std::vector<float>>> values_of(kTp), grads_of(kTp);
  std::vector<std::thread> threads;
  for (int r = 0; r < kTp; ++r)
    threads.emplace_back([&, r] {
      ThreadTpGroup group(shared, r);
      GptStage stage(config, 0, 1, group, 13);
      stage.zero_grad();
      losses[static_cast<std::size_t>(r)] = stage.forward_loss(0, batch.inputs, batch.targets);
      stage.backward_loss(0, 1.f);
      for (auto& gp : stage.parameters()) {
        values_of[static_cast<std::size_t>(r)][gp.param->name] = values(gp.param->value);
        grads_of[static_cast<std::size_t>(r)][gp.param->name] = values(gp.param->grad);
      }
    });
  for (auto& th : threads) th.join();
  for (int r = 0; r < kTp; ++r) EXPECT_NEAR(losses[static_cast<std::size_t>(r)], l, 1e-5);

  // Rebuild each full tensor from the shards (rows, columns or the three thirds of QKV) and compare.
  const std::int64_t c = config.d_model, cl = c / kTp, f = 4 * c, fl = f / kTp;
  auto full_of = [&](const std::string& name, const std::vector<std::map<std::string, std::vector<float>>>& shards) {
    std::vector<float> out;
    const bool qkv = name.find("qkv.") != std::string::npos;
    const bool fc = name.find(".fc.") != std::string::npos;
    const bool rows = name == "wte" || name.find("attn_proj.weight") != std::string::npos ||
                      name.find("fc_proj.weight") != std::string::npos;
    const bool is_bias = name.find(".bias") != std::string::npos;
    if (!qkv && !fc && !rows) return shards[0].at(name);  // replicated
    if (rows) {
      for (int r = 0; r < kTp; ++r) {
        const auto& s = shards[static_cast<std::size_t>(r)].at(name);
        out.insert(out.end(), s.begin(), s.end());
      }
      return out;
    }
    const std::int64_t local_cols = qkv ? 3 * cl : fl, full_cols = qkv ? 3 * c : f;
    const std::int64_t in_rows = is_bias ? 1 : static_cast<std::int64_t>(shards[0].at(name).size()) / local_cols;
    const std::int64_t width = qkv ? cl : fl, parts = qkv ? 3 : 1;
    out.assign(static_cast<std::size_t>(in_rows * full_cols), 0.f);
    for (int r = 0; r < kTp; ++r) {
      const auto& s = shards[static_cast<std::size_t>(r)].at(name);
      for (std::int64_t i = 0; i < in_rows; ++i)
        for (std::int64_t p = 0; p < parts; ++p)
          for (std::int64_t j = 0; j < width; ++j)
            out[static_cast<std::size_t>(i * full_cols + p * (full_cols / parts) + r * width + j)] =
                s[static_cast<std::size_t>(i * local_cols + p * width + j)];
    }
    return out;
  };
  for (auto& gp : whole.parameters()) {
    const std::string& name = gp.param->name;
    const auto want_v = values(gp.param->value), want_g = values(gp.param->grad);
    const auto got_v = full_of(name, values_of), got_g = full_of(name, grads_of);
    ASSERT_EQ(got_v, want_v) << name << ": the shards must hold exactly the whole model's values";
    double scale = 1e-6;
    for (float x : want_g) scale = std::max(scale, static_cast<double>(std::abs(x)));
    for (std::size_t i = 0; i < want_g.size(); ++i) ASSERT_NEAR(got_g[i], want_g[i], 1e-4 * scale) << name << "[" << i << "]";
  }
}

TEST(GptStage, TensorParallelShardsMatchTheWholeModel) { check_tensor_parallel(false); }
TEST(GptStage, TensorParallelSparseMlpMatchesTheWholeModel) { check_tensor_parallel(true); }

TEST(GptStage, SparseMlpKeepsNOfEveryMAndCountsItsParameters) {
  const GptConfig config = tiny_config(true);
  SoloTpGroup solo;
  GptStage stage(config, 0, 1, solo, 21);
  std::int64_t total = 0;
  for (auto& p : stage.parameters()) total += p.param->value.numel();
  EXPECT_EQ(total, config.parameter_count());
  EXPECT_LT(config.parameter_count(), tiny_config().parameter_count());
  // Every kept value of the up-projection is one of the dense initial values (pruning keeps, never
  // changes), and the kept ones are the larger in magnitude: their mean |w| exceeds the dense mean.
  GptStage dense(tiny_config(), 0, 1, solo, 21);
  auto find = [](GptStage& s, const std::string& name) -> Parameter& {
    for (auto& p : s.parameters())
      if (p.param->name == name) return *p.param;
    throw Error("no " + name);
  };
  const auto kept = values(find(stage, "h0.fc.weight").value), all = values(find(dense, "h0.fc.weight").value);
  EXPECT_EQ(kept.size() * 2, all.size());  // 2:4
  double mk = 0, ma = 0;
  for (float v : kept) mk += std::abs(v);
  for (float v : all) ma += std::abs(v);
  EXPECT_GT(mk / static_cast<double>(kept.size()), 1.2 * ma / static_cast<double>(all.size()));
  GptConfig bad = tiny_config(true);
  bad.sparse_ffn.v = 32;  // 4 x 16 / 2 = 32 per TP rank: fine for tp 2, not for tp 4
  EXPECT_NO_THROW(bad.validate(2, 1));
  EXPECT_THROW(bad.validate(4, 1), InputError);
  bad.sparse_ffn = NMPattern{.n = 3, .m = 3, .v = 1};
  EXPECT_THROW(bad.validate(1, 1), InputError);
}

TEST(GptStage, HookSeesEveryGroupInBackwardOrder) {
  SoloTpGroup solo;
  GptStage stage(tiny_config(), 0, 1, solo, 15);
  std::vector<int> seen;
  stage.set_gradient_hook([&](int g) { seen.push_back(g); });
  const Batch batch = random_batch(1, 4, 6);
  stage.forward_loss(0, batch.inputs, batch.targets);
  stage.backward_loss(0, 1.f);
  EXPECT_EQ(seen, (std::vector<int>{0, 1, 2, 3}));  // head, block 1, block 0, embeddings
  EXPECT_EQ(stage.gradient_groups().size(), 4u);
}

TEST(GptStage, ImpossibleShapesAreRejected) {
  GptConfig c = tiny_config();
  EXPECT_THROW(c.validate(3, 1), InputError);  // 4 heads over tp 3
  EXPECT_THROW(c.validate(1, 3), InputError);  // 2 layers over pp 3
  c.d_model = 18;
  EXPECT_THROW(c.validate(1, 1), InputError);  // 18 channels over 4 heads
  try {
    tiny_config().validate(3, 1);
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--heads 4 is not divisible by --tp 3"), std::string::npos) << e.what();
  }
  SoloTpGroup solo;
  GptStage stage(tiny_config(), 0, 1, solo, 1);
  Batch bad = random_batch(1, 4, 7);
  bad.inputs.data<std::int32_t>()[2] = 300;
  EXPECT_THROW(stage.forward_loss(0, bad.inputs, bad.targets), Error);
  const Batch too_long = random_batch(1, 9, 8);  // T = 9 > max_seq 8
  EXPECT_THROW(stage.forward_loss(0, too_long.inputs, too_long.targets), Error);
}

}  // namespace
}  // namespace meridian::nn
