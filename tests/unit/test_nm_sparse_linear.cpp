// Tests of nn::NMSparseLinear (y (B, out) = x (B, in) · W + b, W N:M sparse along in): forward against
// ops::matmul on the decompressed weight, analytic gradients against central finite differences of
// a double-precision loss, the magnitude-pruning choice, and clear errors for bad shapes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/error.hpp"
#include "core/ops.hpp"
#include "core/rng.hpp"
#include "core/tensor.hpp"
#include "nn/nm_sparse_linear.hpp"

namespace {

using meridian::DType;
using meridian::NMLayout;
using meridian::Tensor;
using meridian::nn::NMSparseLinear;

constexpr double kEps = std::numeric_limits<float>::epsilon();

Tensor random_tensor(meridian::Shape shape, std::uint64_t stream, float lo = -1.f, float hi = 1.f) {
  Tensor t = Tensor::empty(std::move(shape));
  meridian::ops::uniform(t, 42, meridian::stream_id(meridian::StreamPurpose::test, stream), lo, hi);
  return t;
}

struct Config {
  std::int64_t batch, in, out;
  int n, m, v;
};
// Padding along in (37 rows in windows of 8), a partial column vector (10 = 4 + 4 + 2), 2:4 element-wise.
const Config kConfigs[] = {{5, 37, 10, 3, 8, 4}, {4, 24, 9, 2, 4, 1}, {3, 64, 33, 8, 32, 32}};

class NMSparseLinearTest : public ::testing::TestWithParam<Config> {};

TEST_P(NMSparseLinearTest, ForwardMatchesDenseMatmulPlusBias) {
  const Config c = GetParam();
  NMSparseLinear layer(random_tensor({c.in, c.out}, 1), random_tensor({c.out}, 2), c.n, c.m, c.v);
  const Tensor x = random_tensor({c.batch, c.in}, 3);
  const Tensor y = layer.forward(x);
  ASSERT_EQ(y.shape(), (meridian::Shape{c.batch, c.out}));

  const Tensor w = layer.dense_weight();
  Tensor expected = Tensor::empty({c.batch, c.out});
  meridian::ops::matmul(x, w, expected);
  for (std::int64_t i = 0; i < c.batch; ++i)
    for (std::int64_t j = 0; j < c.out; ++j) {
      double abs_sum = std::abs(layer.bias().item({j}));
      for (std::int64_t k = 0; k < c.in; ++k) abs_sum += std::abs(x.item({i, k}) * w.item({k, j}));
      // Both sides round at most in + 1 times in f32.
      const double tol = 2.0 * static_cast<double>(c.in + 2) * kEps * abs_sum;
      EXPECT_NEAR(y.item({i, j}), expected.item({i, j}) + layer.bias().item({j}), tol) << i << "," << j;
    }
}

// Loss L = Σ g ⊙ y in double straight from the compressed format, so dL/dy = g.
double loss_double(const NMLayout& l, const std::vector<double>& x, const std::vector<double>& values,
                   const std::vector<std::uint8_t>& index, const std::vector<double>& bias, const std::vector<double>& g,
                   std::int64_t batch) {
  double loss = 0;
  for (std::int64_t i = 0; i < batch; ++i)
    for (std::int64_t c = 0; c < l.cols; ++c) {
      double y = bias[static_cast<std::size_t>(c)];
      for (std::int64_t r = 0; r < l.kept_rows(); ++r) {
        const std::int64_t row = l.dense_row(r, c / l.v, index.data());
        if (row < l.k) y += x[static_cast<std::size_t>(i * l.k + row)] * values[static_cast<std::size_t>(r * l.cols + c)];
      }
      loss += g[static_cast<std::size_t>(i * l.cols + c)] * y;
    }
  return loss;
}

TEST_P(NMSparseLinearTest, GradientsMatchFiniteDifferences) {
  const Config c = GetParam();
  NMSparseLinear layer(random_tensor({c.in, c.out}, 4), random_tensor({c.out}, 5), c.n, c.m, c.v);
  const NMLayout& l = layer.layout();
  const Tensor x = random_tensor({c.batch, c.in}, 6);
  const Tensor g = random_tensor({c.batch, c.out}, 7);
  const Tensor dx = layer.backward(x, g);

  std::vector<double> xd = x.to_vector(), vd = layer.values().to_vector(), bd = layer.bias().to_vector(),
                      gd = g.to_vector();
  std::vector<std::uint8_t> index(static_cast<std::size_t>(l.index_count()));
  for (std::size_t i = 0; i < index.size(); ++i) index[i] = layer.index().data<std::uint8_t>()[i];
  const auto loss = [&] { return loss_double(l, xd, vd, index, bd, gd, c.batch); };
  // Central differences of a double loss that is linear in each parameter: exact up to ~1e-12;
  // the analytic gradients are f32 sums of at most max(batch, out) products, hence the bound.
  const double h = 1e-3;
  const auto fd = [&](double& p) {
    const double saved = p;
    p = saved + h;
    const double up = loss();
    p = saved - h;
    const double down = loss();
    p = saved;
    return (up - down) / (2 * h);
  };
  const auto tolerance = [&](std::int64_t terms, double abs_sum) {
    return 2.0 * static_cast<double>(terms + 2) * kEps * abs_sum + 1e-9;
  };

  const std::vector<double> gv = layer.grad_values().to_vector();
  for (std::int64_t r = 0; r < l.kept_rows(); ++r)
    for (std::int64_t col = 0; col < l.cols; ++col) {
      const std::int64_t row = l.dense_row(r, col / l.v, index.data());
      double abs_sum = 0;
      if (row < l.k)
        for (std::int64_t i = 0; i < c.batch; ++i)
          abs_sum += std::abs(xd[static_cast<std::size_t>(i * l.k + row)] * gd[static_cast<std::size_t>(i * l.cols + col)]);
      const std::size_t at = static_cast<std::size_t>(r * l.cols + col);
      EXPECT_NEAR(gv[at], fd(vd[at]), tolerance(c.batch, abs_sum)) << "values " << r << "," << col;
    }
  const std::vector<double> gb = layer.grad_bias().to_vector();
  for (std::int64_t col = 0; col < l.cols; ++col) {
    double abs_sum = 0;
    for (std::int64_t i = 0; i < c.batch; ++i) abs_sum += std::abs(gd[static_cast<std::size_t>(i * l.cols + col)]);
    EXPECT_NEAR(gb[static_cast<std::size_t>(col)], fd(bd[static_cast<std::size_t>(col)]), tolerance(c.batch, abs_sum))
        << "bias " << col;
  }
  const Tensor w = layer.dense_weight();
  for (std::int64_t i = 0; i < c.batch; ++i)
    for (std::int64_t k = 0; k < c.in; ++k) {
      double abs_sum = 0;
      for (std::int64_t col = 0; col < c.out; ++col)
        abs_sum += std::abs(gd[static_cast<std::size_t>(i * l.cols + col)] * w.item({k, col}));
      EXPECT_NEAR(dx.item({i, k}), fd(xd[static_cast<std::size_t>(i * l.k + k)]), tolerance(c.out, abs_sum))
          << "x " << i << "," << k;
    }

  // backward accumulates; zero_grad clears.
  layer.backward(x, g);
  const std::vector<double> gv2 = layer.grad_values().to_vector();
  for (std::size_t i = 0; i < gv.size(); ++i) EXPECT_NEAR(gv2[i], 2 * gv[i], 4 * kEps * std::abs(gv[i]) + 1e-30);
  layer.zero_grad();
  EXPECT_EQ(meridian::ops::max(layer.grad_values()), 0.0);
  EXPECT_EQ(meridian::ops::max(layer.grad_bias()), 0.0);
}

INSTANTIATE_TEST_SUITE_P(Shapes, NMSparseLinearTest, ::testing::ValuesIn(kConfigs));

TEST(NMSparseLinear, PruningKeepsTheLargestMagnitudes) {
  // 2:4 element-wise on one column: rows 1 (-5) and 2 (3) are the largest of the first window,
  // rows 4 (0.7) and 7 (-0.9) of the second.
  const Tensor w = Tensor::from_values({8, 1}, {0.1, -5, 3, 0.2, 0.7, 0.1, -0.3, -0.9});
  NMSparseLinear layer(w, Tensor(), 2, 4, 1);
  const std::vector<double> wv = w.to_vector();  // the f32 values as doubles
  EXPECT_EQ(layer.dense_weight().to_vector(), (std::vector<double>{0, wv[1], wv[2], 0, wv[4], 0, 0, wv[7]}));
  EXPECT_EQ(layer.values().to_vector(), (std::vector<double>{wv[1], wv[2], wv[4], wv[7]}));
  EXPECT_EQ(layer.index().to_vector(), (std::vector<double>{1, 2, 0, 3}));  // offsets in the window

  // Vector-wise: in every (window, column vector), every kept row's Σ|w| over the vector is at
  // least every dropped row's, and the kept entries are the original ones.
  const std::int64_t in = 64, out = 16;
  const Tensor dense = random_tensor({in, out}, 8);
  NMSparseLinear vec(dense, Tensor(), 4, 16, 8);
  const Tensor pruned = vec.dense_weight();
  for (std::int64_t win = 0; win < in / 16; ++win)
    for (std::int64_t cv = 0; cv < out / 8; ++cv) {
      double min_kept = 1e30, max_dropped = -1;
      int kept = 0;
      for (std::int64_t row = win * 16; row < win * 16 + 16; ++row) {
        double score = 0;
        bool is_kept = false;
        for (std::int64_t col = cv * 8; col < cv * 8 + 8; ++col) {
          score += std::abs(dense.item({row, col}));
          if (pruned.item({row, col}) != 0) is_kept = true;
        }
        if (is_kept) {
          ++kept;
          min_kept = std::min(min_kept, score);
          for (std::int64_t col = cv * 8; col < cv * 8 + 8; ++col)
            EXPECT_EQ(pruned.item({row, col}), dense.item({row, col}));
        } else {
          max_dropped = std::max(max_dropped, score);
        }
      }
      EXPECT_EQ(kept, 4);
      EXPECT_GE(min_kept, max_dropped);
    }
}

TEST(NMSparseLinear, BadShapesThrow) {
  const Tensor w = random_tensor({32, 8}, 9);
  EXPECT_THROW(NMSparseLinear(random_tensor({32}, 9), Tensor(), 2, 4, 1), meridian::Error);        // weight 1-D
  EXPECT_THROW(NMSparseLinear(w, random_tensor({7}, 10), 2, 4, 1), meridian::Error);               // bias size
  EXPECT_THROW(NMSparseLinear(w, Tensor(), 3, 3, 32), meridian::InputError);                       // m = 3
  EXPECT_THROW(NMSparseLinear(w, Tensor(), 4, 4, 1), meridian::InputError);                        // n = m
  EXPECT_THROW(NMSparseLinear(w, Tensor(), 2, 4, 3), meridian::InputError);                        // v = 3
  EXPECT_THROW(NMSparseLinear(w.to(DType::f64), Tensor(), 2, 4, 1), meridian::Error);              // dtype
  NMSparseLinear layer(w, Tensor(), 2, 4, 1);
  EXPECT_THROW(layer.forward(random_tensor({3, 31}, 11)), meridian::Error);                        // in mismatch
  EXPECT_THROW(layer.forward(random_tensor({32}, 11)), meridian::Error);                           // x 1-D
  EXPECT_THROW(layer.forward(random_tensor({3, 32}, 11).to(DType::f64)), meridian::Error);         // x f64
  EXPECT_THROW(layer.backward(random_tensor({3, 32}, 11), random_tensor({4, 8}, 12)), meridian::Error);  // rows
  EXPECT_THROW(layer.backward(random_tensor({3, 32}, 11), random_tensor({3, 9}, 12)), meridian::Error);  // out
  try {
    layer.forward(random_tensor({3, 31}, 11));
  } catch (const meridian::Error& e) {
    EXPECT_NE(std::string(e.what()).find("x must be (B, in = 32), got (3, 31)"), std::string::npos) << e.what();
  }
}

}  // namespace
