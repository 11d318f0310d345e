// The host generator: same words as the Philox kernel, exact save/restore, independent streams,
// unbiased bounded integers.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "core/rng.hpp"
#include "kernels/common/error.hpp"
#include "kernels/common/philox.hpp"

using meridian::Rng;

TEST(Rng, WordsAreThePhiloxSequence) {
  Rng rng(0x1234abcdULL, 99);
  for (std::uint64_t i = 0; i < 37; ++i) EXPECT_EQ(rng.next_u32(), meridian::philox_word(0x1234abcdULL, 99, i));
}

TEST(Rng, FirstBlockOfSeedZeroIsTheKnownAnswer) {
  Rng rng(0, 0);  // key {0,0}, counter {0,0,0,0}: Random123's first philox4x32 10 vector
  EXPECT_EQ(rng.next_u32(), 0x6627e8d5u);
  EXPECT_EQ(rng.next_u32(), 0xe169c58du);
  EXPECT_EQ(rng.next_u32(), 0xbc57ac4cu);
  EXPECT_EQ(rng.next_u32(), 0x9b00dbd8u);
}

TEST(Rng, SaveAndRestoreContinueExactly) {
  Rng rng(5, 6);
  for (int i = 0; i < 13; ++i) (void)rng.next_u32();  // mid-block
  const meridian::RngState saved = rng.state();
  std::vector<float> expected;
  for (int i = 0; i < 20; ++i) expected.push_back(rng.normal());
  Rng restored(saved);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(restored.normal(), expected[static_cast<std::size_t>(i)]);
  Rng other(1, 1);
  other.restore(saved);
  EXPECT_EQ(other.state(), saved);
  EXPECT_EQ(other.normal(), expected[0]);
}

TEST(Rng, StreamsAreIndependent) {
  // Correlation of 100k uniforms from neighbouring streams: |r| < 5/sqrt(n) (5 standard errors).
  const int n = 100000;
  Rng a(42, 1), b(42, 2);
  double sa = 0, sb = 0, sab = 0, saa = 0, sbb = 0;
  for (int i = 0; i < n; ++i) {
    const double x = a.uniform(), y = b.uniform();
    sa += x; sb += y; sab += x * y; saa += x * x; sbb += y * y;
  }
  const double cov = sab / n - (sa / n) * (sb / n);
  const double r = cov / std::sqrt((saa / n - (sa / n) * (sa / n)) * (sbb / n - (sb / n) * (sb / n)));
  EXPECT_LT(std::abs(r), 5.0 / std::sqrt(n));
  EXPECT_NE(Rng(42, 1).next_u64(), Rng(42, 2).next_u64());
  EXPECT_NE(Rng(42, 1).next_u64(), Rng(43, 1).next_u64());
}

TEST(Rng, StreamIdsPackPurposeAndIndices) {
  using meridian::StreamPurpose;
  const auto id = meridian::stream_id(StreamPurpose::dropout, 5, 7);
  EXPECT_EQ(id >> 48, static_cast<std::uint64_t>(StreamPurpose::dropout));
  EXPECT_EQ((id >> 24) & 0xffffff, 5u);
  EXPECT_EQ(id & 0xffffff, 7u);
  EXPECT_NE(meridian::stream_id(StreamPurpose::init, 5, 7), id);
  EXPECT_THROW((void)meridian::stream_id(StreamPurpose::data, 1u << 24, 0), meridian::Error);
}

TEST(Rng, BelowIsInRangeAndUniform) {
  // Chi-square over 10 bins of 100k draws: 9 degrees of freedom, 99.9% quantile is 27.9.
  Rng rng(3, 4);
  std::vector<int> counts(10, 0);
  const int n = 100000;
  for (int i = 0; i < n; ++i) {
    const auto v = rng.below(10);
    ASSERT_LT(v, 10u);
    ++counts[v];
  }
  double chi2 = 0;
  for (int c : counts) chi2 += (c - n / 10.0) * (c - n / 10.0) / (n / 10.0);
  EXPECT_LT(chi2, 27.9);
  EXPECT_EQ(rng.below(1), 0u);
  EXPECT_THROW((void)rng.below(0), meridian::Error);
  // A bound just above 2^63 would be biased by a plain modulo; values must still be below it.
  const std::uint64_t big = (std::uint64_t{1} << 63) + 12345;
  for (int i = 0; i < 1000; ++i) EXPECT_LT(rng.below(big), big);
}

TEST(Rng, UniformAndNormalMoments) {
  Rng rng(11, 0);
  const int n = 200000;
  double s = 0, s2 = 0, u = 0;
  for (int i = 0; i < n; ++i) {
    const double z = rng.normal();
    s += z;
    s2 += z * z;
    const double x = rng.uniform_double();
    ASSERT_GE(x, 0.0);
    ASSERT_LT(x, 1.0);
    u += x;
  }
  EXPECT_LT(std::abs(s / n), 5.0 / std::sqrt(n));                  // mean 0, se 1/sqrt(n)
  EXPECT_LT(std::abs(s2 / n - 1.0), 5.0 * std::sqrt(2.0 / n));     // var 1, se sqrt(2/n)
  EXPECT_LT(std::abs(u / n - 0.5), 5.0 * std::sqrt(1.0 / 12 / n));
}
