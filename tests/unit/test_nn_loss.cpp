// Tests of nn::softmax_cross_entropy (logits (B, classes), integer labels (B)): the mean loss and its
// gradient against closed forms and finite differences, stability at extreme logits, the count of
// correct argmaxes, and errors for bad labels.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "common/nn_reference.hpp"
#include "core/error.hpp"
#include "nn/softmax_cross_entropy.hpp"

namespace {

using meridian::DType;
using meridian::Tensor;
using meridian::test::Vec;
namespace nn = meridian::nn;

constexpr double kEps = std::numeric_limits<float>::epsilon();

Tensor labels_i32(const std::vector<std::int64_t>& v) {
  Tensor t = Tensor::empty({static_cast<std::int64_t>(v.size())}, DType::i32);
  for (std::size_t i = 0; i < v.size(); ++i) t.data<std::int32_t>()[i] = static_cast<std::int32_t>(v[i]);
  return t;
}

TEST(NnCrossEntropy, ClosedForm) {
  // Row 0: logits (1, 2, 3), label 2: loss = log(e + e² + e³) − 3 = log(1 + e⁻¹ + e⁻²).
  // Row 1: equal logits, label 0: loss = log 3, gradient (1/3 − 1, 1/3, 1/3) / B.
  const Tensor logits = Tensor::from_values({2, 3}, {1, 2, 3, 0.5, 0.5, 0.5});
  const nn::CrossEntropyResult r = nn::softmax_cross_entropy(logits, labels_i32({2, 0}));
  const double row0 = std::log(1 + std::exp(-1.0) + std::exp(-2.0)), row1 = std::log(3.0);
  EXPECT_NEAR(r.loss, (row0 + row1) / 2, 8 * kEps);
  EXPECT_NEAR(row0, 0.40760596444438, 1e-12);
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  const Vec expected = {std::exp(1.0) / z / 2, std::exp(2.0) / z / 2, (std::exp(3.0) / z - 1) / 2,
                        (1.0 / 3 - 1) / 2,     1.0 / 3 / 2,           1.0 / 3 / 2};
  meridian::test::expect_all_near(r.dlogits.to_vector(), expected, 4 * kEps, 0.0, "dlogits");
  EXPECT_EQ(r.correct, 2);  // row 1: ties go to the first class, which is the label
}

TEST(NnCrossEntropy, GradientMatchesFiniteDifferences) {
  const std::int64_t batch = 4, classes = 5;
  const Tensor logits = meridian::test::random_f32({batch, classes}, 91, -3.f, 3.f);
  const std::vector<std::int64_t> labels = {3, 0, 4, 1};
  const nn::CrossEntropyResult r = nn::softmax_cross_entropy(logits, labels_i32(labels));
  const Vec zv = logits.to_vector();
  EXPECT_NEAR(r.loss, meridian::test::cross_entropy_ref(zv, labels, classes), 1e-12);
  // Smooth in z: central differences have O(h²) truncation error, ~1e-12 with h = 1e-6.
  meridian::test::expect_gradient_near(
      r.dlogits,
      meridian::test::central_differences(
          [&](const Vec& v) { return meridian::test::cross_entropy_ref(v, labels, classes); }, zv),
      2, "dlogits");
  double sum = 0.0;
  for (const double g : r.dlogits.to_vector()) sum += g;
  EXPECT_NEAR(sum, 0.0, 16 * kEps);  // every row of softmax − onehot sums to zero
}

TEST(NnCrossEntropy, StableAtExtremeLogitsAndCountsCorrect) {
  const Tensor logits = Tensor::from_values({3, 3}, {1000, 0, -1000, 1000, 0, -1000, -500, 88, 90});
  Tensor labels = Tensor::empty({3}, DType::u8);
  labels.data<std::uint8_t>()[0] = 0;
  labels.data<std::uint8_t>()[1] = 1;
  labels.data<std::uint8_t>()[2] = 2;
  const nn::CrossEntropyResult r = nn::softmax_cross_entropy(logits, labels);
  // Row 0: ~0; row 1: 1000 + log(1 + e⁻¹⁰⁰⁰ + ...) = 1000; row 2: log(1 + e⁻²) (+ e⁻⁵⁹⁰ ≈ 0).
  EXPECT_NEAR(r.loss, (0 + 1000 + std::log(1 + std::exp(-2.0))) / 3, 1e-9);
  for (const double g : r.dlogits.to_vector()) ASSERT_TRUE(std::isfinite(g));
  EXPECT_NEAR(r.dlogits.item({1, 0}), 1.0 / 3, 4 * kEps);
  EXPECT_NEAR(r.dlogits.item({1, 1}), -1.0 / 3, 4 * kEps);
  EXPECT_EQ(r.correct, 2);
}

TEST(NnCrossEntropy, Int64LabelsAndErrors) {
  const Tensor logits = Tensor::from_values({2, 2}, {0, 1, 1, 0});
  Tensor labels = Tensor::empty({2}, DType::i64);
  labels.data<std::int64_t>()[0] = 1;
  labels.data<std::int64_t>()[1] = 0;
  EXPECT_EQ(nn::softmax_cross_entropy(logits, labels).correct, 2);
  labels.data<std::int64_t>()[1] = 2;
  EXPECT_THROW(nn::softmax_cross_entropy(logits, labels), meridian::Error);              // label out of range
  EXPECT_THROW(nn::softmax_cross_entropy(logits, labels_i32({1})), meridian::Error);     // wrong count
  EXPECT_THROW(nn::softmax_cross_entropy(logits, Tensor::zeros({2})), meridian::Error);  // float labels
  EXPECT_THROW(nn::softmax_cross_entropy(Tensor::zeros({2, 2}, DType::f64), labels_i32({0, 0})), meridian::Error);
}

}  // namespace
