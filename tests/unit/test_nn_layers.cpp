// Tests of lib/nn's Linear, ReLU, Flatten, MaxPool2d and SparseLinear: forwards against double
// references, backwards against central differences of those references (loss = Σ r ⊙ y with a fixed
// random r, so dy = r), gradient accumulation, and clear errors for wrong tensors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <ostream>
#include <string>

#include "common/nn_reference.hpp"
#include "core/error.hpp"
#include "nn/flatten.hpp"
#include "nn/linear.hpp"
#include "nn/max_pool2d.hpp"
#include "nn/relu.hpp"
#include "nn/sparse_linear.hpp"

namespace {

using meridian::DType;
using meridian::Shape;
using meridian::Tensor;
using meridian::test::central_differences;
using meridian::test::dot;
using meridian::test::expect_all_near;
using meridian::test::expect_gradient_near;
using meridian::test::random_f32;
using meridian::test::Vec;
namespace nn = meridian::nn;

constexpr double kEps = std::numeric_limits<float>::epsilon();

TEST(NnLinear, ForwardMatchesReferenceAndBackwardMatchesFiniteDifferences) {
  const std::int64_t batch = 3, in = 5, out = 4;
  nn::Linear layer("fc", in, out, nn::InitKey{7, 1});
  const Tensor x = random_f32({batch, in}, 1);
  const Tensor r = random_f32({batch, out}, 2);
  const Vec xv = x.to_vector(), wv = layer.weight().value.to_vector(), bv = layer.bias().value.to_vector(),
            rv = r.to_vector();

  const Tensor y = layer.forward(x, true);
  ASSERT_EQ(y.shape(), (Shape{batch, out}));
  expect_all_near(y.to_vector(), meridian::test::linear_ref(xv, wv, bv, batch, in, out), 4 * in * kEps, 1.0, "y");

  const Tensor dx = layer.backward(r);
  ASSERT_EQ(dx.shape(), (Shape{batch, in}));
  const auto loss = [&](const Vec& x_, const Vec& w_, const Vec& b_) {
    return dot(rv, meridian::test::linear_ref(x_, w_, b_, batch, in, out));
  };
  expect_gradient_near(dx, central_differences([&](const Vec& v) { return loss(v, wv, bv); }, xv), out, "dx");
  expect_gradient_near(layer.weight().grad, central_differences([&](const Vec& v) { return loss(xv, v, bv); }, wv),
                       batch, "dW");
  expect_gradient_near(layer.bias().grad, central_differences([&](const Vec& v) { return loss(xv, wv, v); }, bv), batch,
                       "db");
}

TEST(NnLinear, BackwardAccumulatesAndZeroGradResets) {
  nn::Linear layer("fc", 6, 3, nn::InitKey{1, 0});
  const Tensor x1 = random_f32({4, 6}, 10), x2 = random_f32({2, 6}, 11);
  const Tensor r1 = random_f32({4, 3}, 12), r2 = random_f32({2, 3}, 13);
  layer.forward(x1, true);
  layer.backward(r1);
  const Vec g1 = layer.weight().grad.to_vector(), b1 = layer.bias().grad.to_vector();
  layer.zero_grad();
  layer.forward(x2, true);
  layer.backward(r2);
  const Vec g2 = layer.weight().grad.to_vector(), b2 = layer.bias().grad.to_vector();
  // Now without zeroing in between: the gradients add.
  layer.zero_grad();
  layer.forward(x1, true);
  layer.backward(r1);
  layer.forward(x2, true);
  layer.backward(r2);
  Vec g_sum(g1.size()), b_sum(b1.size());
  for (std::size_t i = 0; i < g1.size(); ++i) g_sum[i] = g1[i] + g2[i];
  for (std::size_t i = 0; i < b1.size(); ++i) b_sum[i] = b1[i] + b2[i];
  expect_all_near(layer.weight().grad.to_vector(), g_sum, 4 * kEps, 1.0, "dW accumulated");
  expect_all_near(layer.bias().grad.to_vector(), b_sum, 4 * kEps, 1.0, "db accumulated");
  layer.zero_grad();
  for (const double v : layer.weight().grad.to_vector()) ASSERT_EQ(v, 0.0);
}

TEST(NnLinear, InputGradientCanBeSkipped) {
  nn::Linear layer("fc", 4, 3, nn::InitKey{2, 0});
  const Tensor x = random_f32({2, 4}, 14), r = random_f32({2, 3}, 15);
  layer.forward(x, true);
  layer.backward(r);
  const Vec with_dx = layer.weight().grad.to_vector();
  layer.zero_grad();
  layer.set_input_grad_needed(false);
  EXPECT_FALSE(layer.backward(r).defined());
  EXPECT_EQ(layer.weight().grad.to_vector(), with_dx);
}

TEST(NnLinear, InitIsSeededAndBounded) {
  nn::Linear a("a", 50, 20, nn::InitKey{3, 2}), b("b", 50, 20, nn::InitKey{3, 2}), c("c", 50, 20, nn::InitKey{3, 5});
  EXPECT_EQ(a.weight().value.to_vector(), b.weight().value.to_vector());
  EXPECT_NE(a.weight().value.to_vector(), c.weight().value.to_vector());
  EXPECT_NE(a.weight().value.to_vector()[0], a.bias().value.to_vector()[0]);
  const double bound = 1.0 / std::sqrt(50.0);
  for (const double v : a.weight().value.to_vector()) ASSERT_LE(std::abs(v), bound);
  EXPECT_EQ(a.weight().name, "a.weight");
  EXPECT_EQ(a.bias().name, "a.bias");
}

TEST(NnLinear, WithoutBias) {
  nn::Linear layer("fc", 3, 2, nn::InitKey{1, 0}, false);
  EXPECT_EQ(layer.parameters().size(), 1u);
  const Tensor x = random_f32({2, 3}, 1);
  const Vec y = layer.forward(x, false).to_vector();
  expect_all_near(y, meridian::test::linear_ref(x.to_vector(), layer.weight().value.to_vector(), {}, 2, 3, 2),
                  16 * kEps, 1.0, "y");
}

TEST(NnLinear, RejectsWrongTensorsAndBackwardWithoutForward) {
  nn::Linear layer("fc1", 4, 2, nn::InitKey{1, 0});
  try {
    layer.forward(Tensor::zeros({3, 4}, DType::f64), true);
    FAIL() << "an f64 input was accepted";
  } catch (const meridian::Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("Linear 'fc1'"), std::string::npos) << what;
    EXPECT_NE(what.find("host f32"), std::string::npos) << what;
  }
  EXPECT_THROW(layer.forward(Tensor::zeros({3, 5}), true), meridian::Error);
  EXPECT_THROW(layer.backward(Tensor::zeros({3, 2})), meridian::Error);  // no forward yet
  layer.forward(Tensor::zeros({3, 4}), false);
  EXPECT_THROW(layer.backward(Tensor::zeros({3, 2})), meridian::Error);  // inference forward keeps nothing
  layer.forward(Tensor::zeros({3, 4}), true);
  EXPECT_THROW(layer.backward(Tensor::zeros({2, 2})), meridian::Error);  // batch differs from forward
}

TEST(NnReLU, ForwardAndBackward) {
  nn::ReLU relu;
  // Keep inputs away from the kink by at least 1e-3 so the finite difference never straddles it.
  Tensor x = random_f32({2, 3, 4}, 21);
  Vec xv = x.to_vector();
  for (double& v : xv) v = v >= 0 ? v + 1e-3 : v - 1e-3;
  x = meridian::test::tensor_of({2, 3, 4}, xv);
  xv = x.to_vector();
  const Tensor r = random_f32({2, 3, 4}, 22);
  const Vec rv = r.to_vector();
  EXPECT_EQ(relu.forward(x, true).to_vector(), meridian::test::relu_ref(xv));
  const Tensor dx = relu.backward(r);
  expect_gradient_near(dx, central_differences([&](const Vec& v) { return dot(rv, meridian::test::relu_ref(v)); }, xv),
                       1, "dx");
}

TEST(NnFlatten, ReshapesBothWays) {
  nn::Flatten flatten;
  const Tensor x = random_f32({2, 3, 2, 2}, 31);
  const Tensor y = flatten.forward(x, true);
  ASSERT_EQ(y.shape(), (Shape{2, 12}));
  EXPECT_EQ(y.to_vector(), x.to_vector());
  const Tensor dy = random_f32({2, 12}, 32);
  const Tensor dx = flatten.backward(dy);
  ASSERT_EQ(dx.shape(), (Shape{2, 3, 2, 2}));
  EXPECT_EQ(dx.to_vector(), dy.to_vector());
  EXPECT_THROW(flatten.backward(random_f32({2, 11}, 33)), meridian::Error);
}

struct PoolCase {
  std::int64_t batch, channels, h, w, k;
};

void PrintTo(const PoolCase& c, std::ostream* os) {
  *os << "x (" << c.batch << ", " << c.channels << ", " << c.h << ", " << c.w << "), k " << c.k;
}

class NnMaxPool : public ::testing::TestWithParam<PoolCase> {};

TEST_P(NnMaxPool, ForwardAndBackwardMatchReference) {
  const PoolCase c = GetParam();
  nn::MaxPool2d pool("pool", c.k);
  const Tensor x = random_f32({c.batch, c.channels, c.h, c.w}, 41);
  const Vec xv = x.to_vector();
  const std::int64_t planes = c.batch * c.channels;
  const Tensor y = pool.forward(x, true);
  ASSERT_EQ(y.shape(), (Shape{c.batch, c.channels, c.h / c.k, c.w / c.k}));
  EXPECT_EQ(y.to_vector(), meridian::test::max_pool_ref(xv, planes, c.h, c.w, c.k));
  const Tensor r = random_f32(y.shape(), 42);
  const Vec rv = r.to_vector();
  const Tensor dx = pool.backward(r);
  ASSERT_EQ(dx.shape(), x.shape());
  // Random f32 values in a window differ by far more than h = 1e-6, so no difference crosses a tie.
  expect_gradient_near(
      dx,
      central_differences([&](const Vec& v) { return dot(rv, meridian::test::max_pool_ref(v, planes, c.h, c.w, c.k)); },
                          xv),
      1, "dx");
}

// Even sizes, sizes with leftover rows/columns (floor mode), and k = 3.
INSTANTIATE_TEST_SUITE_P(Shapes, NnMaxPool,
                         ::testing::Values(PoolCase{2, 3, 4, 6, 2}, PoolCase{1, 2, 5, 7, 2}, PoolCase{2, 1, 9, 6, 3}));

TEST(NnMaxPool2d, RejectsInputsSmallerThanTheWindow) {
  nn::MaxPool2d pool("pool", 3);
  EXPECT_THROW(pool.forward(Tensor::zeros({1, 1, 2, 5}), true), meridian::Error);
  EXPECT_THROW(pool.forward(Tensor::zeros({1, 4, 4}), true), meridian::Error);  // not NCHW
}

TEST(NnSparseLinear, AdapterMatchesTheWrappedLayerAndItsParametersAlias) {
  const std::int64_t batch = 3, in = 8, out = 4;
  nn::SparseLinear layer("sfc", in, out, nn::NMPattern{2, 4, 1}, nn::InitKey{5, 3});
  const Tensor x = random_f32({batch, in}, 51);
  const Tensor r = random_f32({batch, out}, 52);
  const Vec xv = x.to_vector(), rv = r.to_vector();
  const Vec wv = layer.sparse().dense_weight().to_vector(), bv = layer.sparse().bias().to_vector();
  // The dense weight is Linear's initial weight with half of each window of 4 rows zeroed.
  nn::Linear dense("fc", in, out, nn::InitKey{5, 3});
  const Vec dense_w = dense.weight().value.to_vector();
  int kept = 0;
  for (std::size_t i = 0; i < wv.size(); ++i)
    if (wv[i] != 0.0) {
      ++kept;
      EXPECT_EQ(wv[i], dense_w[i]);
    }
  EXPECT_EQ(kept, in * out / 2);

  const Tensor y = layer.forward(x, true);
  expect_all_near(y.to_vector(), meridian::test::linear_ref(xv, wv, bv, batch, in, out), 4 * in * kEps, 1.0, "y");
  const Tensor dx = layer.backward(r);
  expect_gradient_near(
      dx,
      central_differences([&](const Vec& v) { return dot(rv, meridian::test::linear_ref(v, wv, bv, batch, in, out)); },
                          xv),
      out, "dx");
  expect_gradient_near(
      layer.bias().grad,
      central_differences([&](const Vec& v) { return dot(rv, meridian::test::linear_ref(xv, wv, v, batch, in, out)); },
                          bv),
      batch, "db");

  // The Parameters share the wrapped layer's buffers: gradients seen through them, updates land in it.
  const std::vector<nn::Parameter*> params = layer.parameters();
  ASSERT_EQ(params.size(), 2u);
  EXPECT_TRUE(params[0]->grad.shares_storage_with(layer.sparse().grad_values()));
  EXPECT_TRUE(params[0]->value.shares_storage_with(layer.sparse().values()));
  EXPECT_NE(meridian::ops::sum(params[0]->grad), 0.0);
  meridian::ops::fill(params[1]->value, 0.5);
  EXPECT_EQ(layer.sparse().bias().item({0}), 0.5);
  layer.zero_grad();
  EXPECT_EQ(meridian::ops::sum(layer.sparse().grad_values()), 0.0);
}

}  // namespace
