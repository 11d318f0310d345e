// Tests of nn::Conv2d (NCHW, im2col + GEMM): forward against a direct double convolution with strides
// and padding, backward against central differences of it, im2col/col2im as adjoints, and the
// multi-threaded batch path against per-image results.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

#include "common/nn_reference.hpp"
#include "core/error.hpp"
#include "nn/conv2d.hpp"
#include "nn/im2col.hpp"

namespace {

using meridian::Shape;
using meridian::Tensor;
using meridian::test::central_differences;
using meridian::test::ConvRefShape;
using meridian::test::dot;
using meridian::test::expect_all_near;
using meridian::test::expect_gradient_near;
using meridian::test::random_f32;
using meridian::test::Vec;
namespace nn = meridian::nn;

constexpr double kEps = std::numeric_limits<float>::epsilon();

nn::Conv2d make_conv(const ConvRefShape& s) {
  return nn::Conv2d("conv", nn::Conv2dShape{s.channels, s.out_channels, s.kernel, s.stride, s.padding},
                    nn::InitKey{11, 4});
}

class NnConv2d : public ::testing::TestWithParam<ConvRefShape> {};

TEST_P(NnConv2d, ForwardMatchesDirectConvolution) {
  const ConvRefShape s = GetParam();
  nn::Conv2d conv = make_conv(s);
  const Tensor x = random_f32({s.batch, s.channels, s.height, s.width}, 61);
  const Tensor y = conv.forward(x, false);
  ASSERT_EQ(y.shape(), (Shape{s.batch, s.out_channels, s.oh(), s.ow()}));
  const Vec expected =
      meridian::test::conv2d_ref(x.to_vector(), conv.weight().value.to_vector(), conv.bias().value.to_vector(), s);
  // Each output sums C·K·K + 1 products of magnitude <= 1 in f32.
  const double terms = static_cast<double>(s.channels * s.kernel * s.kernel + 1);
  expect_all_near(y.to_vector(), expected, 2 * terms * kEps, 1.0, "y");
}

TEST_P(NnConv2d, BackwardMatchesFiniteDifferences) {
  const ConvRefShape s = GetParam();
  nn::Conv2d conv = make_conv(s);
  const Tensor x = random_f32({s.batch, s.channels, s.height, s.width}, 62);
  const Tensor r = random_f32({s.batch, s.out_channels, s.oh(), s.ow()}, 63);
  const Vec xv = x.to_vector(), wv = conv.weight().value.to_vector(), bv = conv.bias().value.to_vector(),
            rv = r.to_vector();
  conv.forward(x, true);
  const Tensor dx = conv.backward(r);
  ASSERT_EQ(dx.shape(), x.shape());
  const auto loss = [&](const Vec& x_, const Vec& w_, const Vec& b_) {
    return dot(rv, meridian::test::conv2d_ref(x_, w_, b_, s));
  };
  const double positions = static_cast<double>(s.batch * s.oh() * s.ow());
  expect_gradient_near(dx, central_differences([&](const Vec& v) { return loss(v, wv, bv); }, xv),
                       static_cast<double>(s.out_channels * s.kernel * s.kernel), "dx");
  expect_gradient_near(conv.weight().grad, central_differences([&](const Vec& v) { return loss(xv, v, bv); }, wv),
                       positions, "dW");
  expect_gradient_near(conv.bias().grad, central_differences([&](const Vec& v) { return loss(xv, wv, v); }, bv),
                       positions, "db");
}

// {B, C, H, W, OC, K, S, P}: same-size padding, stride 2 without padding, a 5x5 kernel with padding 2,
// stride 3 with padding 1 on a non-square image, and 1x1.
INSTANTIATE_TEST_SUITE_P(Shapes, NnConv2d,
                         ::testing::Values(ConvRefShape{2, 3, 7, 6, 4, 3, 1, 1}, ConvRefShape{3, 2, 8, 9, 5, 3, 2, 0},
                                           ConvRefShape{2, 1, 6, 6, 3, 5, 1, 2}, ConvRefShape{1, 2, 5, 7, 2, 2, 3, 1},
                                           ConvRefShape{2, 4, 3, 3, 3, 1, 1, 0}));

TEST(NnIm2col, Col2imIsTheAdjointOfIm2col) {
  // <im2col(x), c> = <x, col2im(c)> for every x and c, with stride and padding.
  const nn::ConvGeometry g{.batch = 2, .channels = 3, .height = 6, .width = 5, .kernel = 3, .stride = 2, .padding = 1};
  const Tensor x = random_f32({g.batch, g.channels, g.height, g.width}, 71);
  const Tensor c = random_f32({g.col_rows(), g.col_cols()}, 72);
  Tensor cols = Tensor::empty({g.col_rows(), g.col_cols()});
  Tensor back = Tensor::empty(x.shape());
  nn::im2col(g, x.data<float>(), cols.data<float>());
  nn::col2im(g, c.data<float>(), back.data<float>());
  const double lhs = dot(cols.to_vector(), c.to_vector()), rhs = dot(x.to_vector(), back.to_vector());
  EXPECT_NEAR(lhs, rhs, 1e-5 * static_cast<double>(x.numel()));
}

TEST(NnConv2dBatch, ImagesAreIndependentOfTheirBatch) {
  // A batch of 9 (threads split the work) gives each image the result of a batch of one, up to the
  // rounding of a different GEMM blocking (19 terms of magnitude <= 1).
  nn::Conv2d conv("conv", nn::Conv2dShape{2, 3, 3, 1, 1}, nn::InitKey{1, 0});
  const Tensor x = random_f32({9, 2, 6, 6}, 81);
  const Vec all = conv.forward(x, false).to_vector();
  const std::int64_t per = 3 * 6 * 6;
  for (std::int64_t b = 0; b < 9; ++b) {
    const Vec one = conv.forward(x.slice(0, b, b + 1), false).to_vector();
    for (std::int64_t i = 0; i < per; ++i)
      ASSERT_NEAR(all[static_cast<std::size_t>(b * per + i)], one[static_cast<std::size_t>(i)], 19 * 2 * kEps)
          << b << " " << i;
  }
}

TEST(NnConv2dErrors, WrongChannelsAndTooSmallInputs) {
  nn::Conv2d conv("c1", nn::Conv2dShape{3, 4, 5, 1, 0}, nn::InitKey{1, 0});
  EXPECT_THROW(conv.forward(Tensor::zeros({1, 2, 8, 8}), true), meridian::Error);
  EXPECT_THROW(conv.forward(Tensor::zeros({1, 3, 4, 8}), true), meridian::Error);
  EXPECT_THROW(nn::Conv2d("bad", nn::Conv2dShape{3, 4, 0, 1, 0}, nn::InitKey{}), meridian::Error);
}

}  // namespace
