// Tests of nn::SGD (PyTorch's SGD: g += wd·w; buf = μ·buf + g; w −= lr·buf): three steps against
// values computed by hand, plain SGD, set_lr, and option checks.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <vector>

#include "core/error.hpp"
#include "core/ops.hpp"
#include "nn/sgd.hpp"

namespace {

using meridian::Tensor;
namespace nn = meridian::nn;

constexpr double kEps = std::numeric_limits<float>::epsilon();

nn::SgdOptions sgd_options(float lr, float momentum = 0.f, float weight_decay = 0.f) {
  nn::SgdOptions o;
  o.lr = lr;
  o.momentum = momentum;
  o.weight_decay = weight_decay;
  return o;
}

TEST(NnSgd, MomentumAndWeightDecayOverThreeSteps) {
  // lr 0.1, μ 0.9, wd 0.01; w0 = 1, gradients 0.5, −0.25, 1.0. By hand:
  //   step 1: g = 0.5 + 0.01·1 = 0.51;               buf = 0.51;                      w = 1 − 0.051 = 0.949
  //   step 2: g = −0.25 + 0.01·0.949 = −0.24051;     buf = 0.9·0.51 − 0.24051 = 0.21849;  w = 0.927151
  //   step 3: g = 1 + 0.01·0.927151 = 1.00927151;    buf = 0.9·0.21849 + g = 1.20591251; w = 0.806559749
  // The second element (w0 = −2; gradients 0.1, 0.2, −0.3) is checked against the same recurrence in double.
  nn::Parameter p = nn::make_parameter("p", {2});
  p.value.set({0}, 1.0);
  p.value.set({1}, -2.0);
  nn::SGD sgd({&p}, sgd_options(0.1f, 0.9f, 0.01f));
  const double grads[3][2] = {{0.5, 0.1}, {-0.25, 0.2}, {1.0, -0.3}};
  const double hand_w[3] = {0.949, 0.927151, 0.806559749};
  const double hand_buf[3] = {0.51, 0.21849, 1.20591251};
  double w1 = -2.0, buf1 = 0.0;
  for (int step = 0; step < 3; ++step) {
    p.grad.set({0}, grads[step][0]);
    p.grad.set({1}, grads[step][1]);
    sgd.step();
    const double g1 = static_cast<double>(static_cast<float>(grads[step][1])) + 0.01 * w1;
    buf1 = 0.9 * buf1 + g1;
    w1 -= 0.1 * buf1;
    // Each step rounds a handful of f32 operations on values of magnitude <= 2.
    const double tol = 16 * kEps * (step + 1) * 2;
    EXPECT_NEAR(p.value.item({0}), hand_w[step], tol) << "step " << step + 1;
    EXPECT_NEAR(sgd.momentum_buffers()[0].item({0}), hand_buf[step], tol) << "step " << step + 1;
    EXPECT_NEAR(p.value.item({1}), w1, tol) << "step " << step + 1;
    EXPECT_NEAR(sgd.momentum_buffers()[0].item({1}), buf1, tol) << "step " << step + 1;
  }
  EXPECT_EQ(sgd.steps(), 3);
  // step() reads gradients and leaves them for the caller to zero.
  EXPECT_EQ(p.grad.item({0}), 1.0);
  sgd.zero_grad();
  EXPECT_EQ(p.grad.item({0}), 0.0);
}

TEST(NnSgd, PlainSgdAndSetLr) {
  nn::Parameter a = nn::make_parameter("a", {3}), b = nn::make_parameter("b", {2, 2});
  meridian::ops::fill(a.value, 1.0);
  meridian::ops::fill(b.value, -1.0);
  meridian::ops::fill(a.grad, 0.5);
  meridian::ops::fill(b.grad, 2.0);
  nn::SGD sgd({&a, &b}, sgd_options(0.1f));
  sgd.step();
  EXPECT_NEAR(a.value.item({2}), 0.95, 2 * kEps);
  EXPECT_NEAR(b.value.item({1, 1}), -1.2, 2 * kEps);
  sgd.set_lr(0.5f);
  EXPECT_EQ(sgd.lr(), 0.5f);
  sgd.step();
  EXPECT_NEAR(a.value.item({0}), 0.7, 4 * kEps);
  EXPECT_NEAR(b.value.item({0, 0}), -2.2, 4 * kEps);
}

TEST(NnSgd, RejectsBadOptionsAndParameters) {
  nn::Parameter p = nn::make_parameter("p", {2});
  EXPECT_THROW(nn::SGD({&p}, sgd_options(-1.f)), meridian::InputError);
  EXPECT_THROW(nn::SGD({&p}, sgd_options(0.1f, 1.f)), meridian::InputError);
  EXPECT_THROW(nn::SGD({&p}, sgd_options(0.1f, 0.f, -0.1f)), meridian::InputError);
  nn::SGD sgd({&p}, nn::SgdOptions{});
  EXPECT_THROW(sgd.set_lr(std::numeric_limits<float>::quiet_NaN()), meridian::InputError);
  nn::Parameter q{"q", Tensor::zeros({2}, meridian::DType::f64), Tensor::zeros({2}, meridian::DType::f64)};
  EXPECT_THROW(nn::SGD({&q}, nn::SgdOptions{}), meridian::Error);
}

}  // namespace
