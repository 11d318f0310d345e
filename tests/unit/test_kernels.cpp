// Tests of kernels/: the CPU backend against kernels/reference, plus the shared pieces both backends
// rely on (Philox known answers, bf16/f16 conversions, element conversion rules). Flat buffers of n
// elements, row-major matrices; inputs are mixed-sign from fixed seeds. Kokkos is started by the main.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "common/kernel_test_data.hpp"
#include "kernels/common/dtype.hpp"
#include "kernels/common/error.hpp"
#include "kernels/common/philox.hpp"
#include "kernels/cpu/ops.hpp"
#include "kernels/reference/ops.hpp"

namespace {

using meridian::bf16;
using meridian::DType;
using meridian::f16;
using meridian::kernels::Trans;
namespace ref = meridian::kernels::reference;
namespace cpu = meridian::kernels::cpu;
using namespace meridian::test;

const std::int64_t kSizes[] = {0, 1, 7, 1023, 100003};

// ---- helpers ---------------------------------------------------------------------------------

// A buffer of n elements followed by kGuard guard elements holding a fixed byte pattern.
template <class T>
class Guarded {
 public:
  explicit Guarded(std::int64_t n) : n_(n), data_(static_cast<std::size_t>(n + kGuard)) {
    std::memset(static_cast<void*>(data_.data()), 0xA5, data_.size() * sizeof(T));
  }
  explicit Guarded(const std::vector<T>& values) : Guarded(static_cast<std::int64_t>(values.size())) {
    std::copy(values.begin(), values.end(), data_.begin());
  }
  T* data() { return data_.data(); }
  const T* data() const { return data_.data(); }
  T& operator[](std::int64_t i) { return data_[static_cast<std::size_t>(i)]; }
  std::vector<T> values() const { return std::vector<T>(data_.begin(), data_.begin() + n_); }
  bool guard_intact() const {
    const auto* g = reinterpret_cast<const unsigned char*>(data_.data() + n_);
    return std::all_of(g, g + kGuard * sizeof(T), [](unsigned char c) { return c == 0xA5; });
  }

 private:
  std::int64_t n_;
  std::vector<T> data_;
};

std::uint32_t bits_of(float f) { return meridian::float_bits(f); }
float float_of(std::uint32_t u) { return meridian::bits_float(u); }

// ---- Philox --------------------------------------------------------------------------------

TEST(Philox, MatchesRandom123KnownAnswers) {
  struct Kat {
    meridian::Philox4 ctr;
    std::uint32_t k0, k1;
    meridian::Philox4 expected;
  };
  const Kat kats[] = {
      {{{0, 0, 0, 0}}, 0, 0, {{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}}},
      {{{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}},
       0xffffffffu,
       0xffffffffu,
       {{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}}},
      {{{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}},
       0xa4093822u,
       0x299f31d0u,
       {{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}}},
  };
  for (const Kat& kat : kats) {
    const meridian::Philox4 got = meridian::philox4x32_10(kat.ctr, kat.k0, kat.k1);
    for (int j = 0; j < 4; ++j) EXPECT_EQ(got.v[j], kat.expected.v[j]) << "word " << j;
  }
}

TEST(Philox, WordsAreTheBlocksInOrder) {
  const std::uint64_t seed = 0x0123456789abcdefULL, stream = 0xfedcba9876543210ULL;
  for (std::uint64_t block : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{0x1'0000'0003ULL}}) {
    const meridian::Philox4 ctr{{static_cast<std::uint32_t>(block), static_cast<std::uint32_t>(block >> 32),
                                 static_cast<std::uint32_t>(stream), static_cast<std::uint32_t>(stream >> 32)}};
    const meridian::Philox4 direct =
        meridian::philox4x32_10(ctr, static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32));
    for (unsigned j = 0; j < 4; ++j) {
      EXPECT_EQ(meridian::philox_word(seed, stream, block * 4 + j), direct.v[j]);
    }
  }
  EXPECT_EQ(meridian::uniform_from_word(0), 0.f);
  EXPECT_EQ(meridian::uniform_from_word(0xffffffffu), 1.f - 0x1p-24f);
}

// ---- bf16 / f16 conversions ------------------------------------------------------------------

TEST(Dtype, Bf16KnownValues) {
  struct Case {
    std::uint32_t f;
    std::uint16_t h;
  };
  const Case cases[] = {
      {0x3f800000u, 0x3f80},  // 1
      {0xc0200000u, 0xc020},  // -2.5
      {0x80000000u, 0x8000},  // -0
      {0x3f808000u, 0x3f80},  // tie, even below
      {0x3f818000u, 0x3f82},  // tie, even above
      {0x3f808001u, 0x3f81},  // just above the tie
      {0x3f807fffu, 0x3f80},  // just below the tie
      {0x7f7f7fffu, 0x7f7f},  // largest value that stays finite
      {0x7f7f8000u, 0x7f80},  // tie at the top rounds to inf
      {0x7f7fffffu, 0x7f80},  // FLT_MAX overflows to inf
      {0x7f800000u, 0x7f80},  // inf
      {0xff800000u, 0xff80},  // -inf
      {0x00010000u, 0x0001},  // float subnormal, exact
      {0x00008000u, 0x0000},  // subnormal tie to even (zero)
      {0x00018000u, 0x0002},  // subnormal tie to even (two)
  };
  for (const Case& c : cases) {
    EXPECT_EQ(meridian::float_to_bf16(float_of(c.f)).bits, c.h) << std::hex << "float bits 0x" << c.f;
  }
  for (std::uint32_t nan : {0x7fc00000u, 0x7f800001u, 0xffc00001u, 0x7fffffffu}) {
    const bf16 h = meridian::float_to_bf16(float_of(nan));
    EXPECT_TRUE(std::isnan(meridian::bf16_to_float(h))) << std::hex << "NaN 0x" << nan;
  }
  EXPECT_EQ(bits_of(meridian::bf16_to_float(bf16{0x0001})), 0x00010000u);
  EXPECT_EQ(meridian::bf16_to_float(bf16{0x3f80}), 1.f);
}

TEST(Dtype, F16KnownValues) {
  struct Case {
    float f;
    std::uint16_t h;
  };
  const Case cases[] = {
      {1.f, 0x3c00},
      {-2.f, 0xc000},
      {0.5f, 0x3800},
      {-0.f, 0x8000},
      {0.1f, 0x2e66},
      {65504.f, 0x7bff},                            // largest finite
      {65519.99f, 0x7bff},                          // below the overflow midpoint
      {65520.f, 0x7c00},                            // midpoint rounds to inf
      {1e6f, 0x7c00},                               // overflow
      {-1e6f, 0xfc00},
      {1.f + 0x1p-11f, 0x3c00},                     // tie, even below
      {1.f + 3 * 0x1p-11f, 0x3c02},                 // tie, even above
      {1.f + 0x1p-11f + 0x1p-20f, 0x3c01},          // just above the tie
      {0x1p-14f, 0x0400},                           // smallest normal
      {0x1p-14f - 0x1p-24f, 0x03ff},                // largest subnormal
      {0x1p-14f - 0x1p-25f, 0x0400},                // tie between them: even is the normal
      {0x1p-24f, 0x0001},                           // smallest subnormal
      {0x1p-25f, 0x0000},                           // tie with zero: even is zero
      {0x1p-25f * (1.f + 0x1p-23f), 0x0001},        // just above that tie
      {3 * 0x1p-25f, 0x0002},                       // tie 1.5 units: even is 2
      {-3 * 0x1p-25f, 0x8002},
      {0x1p-26f, 0x0000},                           // underflow
      {std::numeric_limits<float>::infinity(), 0x7c00},
      {-std::numeric_limits<float>::infinity(), 0xfc00},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(meridian::float_to_f16(c.f).bits, c.h) << "value " << c.f;
  }
  for (std::uint32_t nan : {0x7fc00000u, 0x7f800001u, 0xffc00001u, 0x7f802000u}) {
    const f16 h = meridian::float_to_f16(float_of(nan));
    EXPECT_EQ(h.bits & 0x7c00, 0x7c00);
    EXPECT_NE(h.bits & 0x03ff, 0) << std::hex << "NaN 0x" << nan << " became 0x" << h.bits;
  }
  EXPECT_EQ(meridian::f16_to_float(f16{0x0001}), 0x1p-24f);
  EXPECT_EQ(meridian::f16_to_float(f16{0x03ff}), 0x1p-14f - 0x1p-24f);
  EXPECT_EQ(meridian::f16_to_float(f16{0x7bff}), 65504.f);
  EXPECT_EQ(meridian::f16_to_float(f16{0x3555}), 0.333251953125f);
  EXPECT_EQ(meridian::f16_to_float(f16{0xfc00}), -std::numeric_limits<float>::infinity());
}

TEST(Dtype, EveryF16RoundTripsThroughFloat) {
  int mismatches = 0;
  for (std::uint32_t h = 0; h < 0x10000u; ++h) {
    const std::uint16_t bits = static_cast<std::uint16_t>(h);
    const float f = meridian::f16_to_float(f16{bits});
    const bool is_nan = (bits & 0x7c00) == 0x7c00 && (bits & 0x03ff) != 0;
    if (is_nan) {
      if (!std::isnan(f)) ++mismatches;
      continue;
    }
    if (meridian::float_to_f16(f).bits != bits && ++mismatches <= 5) {
      ADD_FAILURE() << std::hex << "f16 0x" << h << " -> " << f << " -> 0x" << meridian::float_to_f16(f).bits;
    }
  }
  EXPECT_EQ(mismatches, 0);
}

TEST(Dtype, EveryBf16RoundTripsThroughFloat) {
  int mismatches = 0;
  for (std::uint32_t h = 0; h < 0x10000u; ++h) {
    const std::uint16_t bits = static_cast<std::uint16_t>(h);
    const float f = meridian::bf16_to_float(bf16{bits});
    const bool is_nan = (bits & 0x7f80) == 0x7f80 && (bits & 0x007f) != 0;
    if (is_nan) {
      if (!std::isnan(f)) ++mismatches;
      continue;
    }
    if (meridian::float_to_bf16(f).bits != bits && ++mismatches <= 5) {
      ADD_FAILURE() << std::hex << "bf16 0x" << h << " -> " << f << " -> 0x" << meridian::float_to_bf16(f).bits;
    }
  }
  EXPECT_EQ(mismatches, 0);
}

// ---- element conversion rules ----------------------------------------------------------------

TEST(ConvertElement, FloatingToIntegerTruncatesAndSaturates) {
  using meridian::kernels::convert_element;
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  constexpr std::int32_t i32_max = std::numeric_limits<std::int32_t>::max();
  constexpr std::int32_t i32_min = std::numeric_limits<std::int32_t>::min();
  constexpr std::int64_t i64_max = std::numeric_limits<std::int64_t>::max();
  constexpr std::int64_t i64_min = std::numeric_limits<std::int64_t>::min();

  EXPECT_EQ(convert_element<std::int32_t>(3.7), 3);
  EXPECT_EQ(convert_element<std::int32_t>(-3.7), -3);
  EXPECT_EQ(convert_element<std::int32_t>(-0.9), 0);
  EXPECT_EQ(convert_element<std::int32_t>(2147483647.9), i32_max);
  EXPECT_EQ(convert_element<std::int32_t>(2147483648.0), i32_max);
  EXPECT_EQ(convert_element<std::int32_t>(-2147483647.5), -2147483647);
  EXPECT_EQ(convert_element<std::int32_t>(-2147483648.9), i32_min);
  EXPECT_EQ(convert_element<std::int32_t>(1e10), i32_max);
  EXPECT_EQ(convert_element<std::int32_t>(-1e10), i32_min);
  EXPECT_EQ(convert_element<std::int32_t>(inf), i32_max);
  EXPECT_EQ(convert_element<std::int32_t>(-inf), i32_min);
  EXPECT_EQ(convert_element<std::int32_t>(nan), 0);
  EXPECT_EQ(convert_element<std::int32_t>(-2.5f), -2);

  EXPECT_EQ(convert_element<std::int64_t>(9.2e18), std::int64_t{9200000000000000000});
  EXPECT_EQ(convert_element<std::int64_t>(9223372036854775808.0), i64_max);  // 2^63
  EXPECT_EQ(convert_element<std::int64_t>(-9223372036854775808.0), i64_min);
  EXPECT_EQ(convert_element<std::int64_t>(1e19), i64_max);
  EXPECT_EQ(convert_element<std::int64_t>(-1e19), i64_min);
  EXPECT_EQ(convert_element<std::int64_t>(nan), 0);
  EXPECT_EQ(convert_element<std::int64_t>(-7.99f), -7);

  EXPECT_EQ(convert_element<std::uint8_t>(3.99), 3);
  EXPECT_EQ(convert_element<std::uint8_t>(255.9), 255);
  EXPECT_EQ(convert_element<std::uint8_t>(256.0), 255);
  EXPECT_EQ(convert_element<std::uint8_t>(-0.5), 0);
  EXPECT_EQ(convert_element<std::uint8_t>(-1.0), 0);
  EXPECT_EQ(convert_element<std::uint8_t>(nan), 0);
  EXPECT_EQ(convert_element<std::uint8_t>(meridian::float_to_f16(65504.f)), 255);
  EXPECT_EQ(convert_element<std::uint8_t>(meridian::float_to_bf16(-3.f)), 0);
}

TEST(ConvertElement, IntegerToIntegerSaturates) {
  using meridian::kernels::convert_element;
  EXPECT_EQ(convert_element<std::uint8_t>(std::int32_t{300}), 255);
  EXPECT_EQ(convert_element<std::uint8_t>(std::int64_t{-5}), 0);
  EXPECT_EQ(convert_element<std::uint8_t>(std::int32_t{200}), 200);
  EXPECT_EQ(convert_element<std::int32_t>(std::int64_t{1} << 40), std::numeric_limits<std::int32_t>::max());
  EXPECT_EQ(convert_element<std::int32_t>(-(std::int64_t{1} << 40)), std::numeric_limits<std::int32_t>::min());
  EXPECT_EQ(convert_element<std::int32_t>(std::int64_t{-123456}), -123456);
  EXPECT_EQ(convert_element<std::int64_t>(std::uint8_t{255}), 255);
}

TEST(ConvertElement, ToFloatingRoundsToNearestEven) {
  using meridian::kernels::convert_element;
  EXPECT_EQ(convert_element<float>(std::int64_t{16777217}), 16777216.f);  // tie, even below
  EXPECT_EQ(convert_element<float>(std::int64_t{16777219}), 16777220.f);  // tie, even above
  EXPECT_EQ(convert_element<double>(std::int64_t{(std::int64_t{1} << 53) + 1}), 0x1p53);
  EXPECT_EQ(convert_element<double>(1.f / 3.f), static_cast<double>(1.f / 3.f));
  EXPECT_EQ(convert_element<float>(1.0 + 0x1p-24), 1.f);  // tie, even below
  EXPECT_EQ(convert_element<bf16>(std::uint8_t{200}).bits, 0x4348);
  EXPECT_EQ(convert_element<bf16>(1.0 + 0x1p-8).bits, 0x3f80);  // via f32, then tie to even
  EXPECT_EQ(convert_element<f16>(-0.1).bits, 0xae66);
  EXPECT_EQ(convert_element<f16>(std::int32_t{70000}).bits, 0x7c00);
  EXPECT_EQ(convert_element<bf16>(meridian::float_to_f16(0.1f)).bits,
            meridian::float_to_bf16(meridian::f16_to_float(meridian::float_to_f16(0.1f))).bits);
  EXPECT_TRUE(std::isnan(convert_element<float>(convert_element<f16>(std::nan("")))));
}

// ---- fill, copy, convert ---------------------------------------------------------------------

TEST(CpuKernels, FillEveryDtypeMatchesReference) {
  for (const DType dtype : kAllDTypes) {
    const std::size_t size = meridian::dtype_size(dtype);
    for (const std::int64_t n : kSizes) {
      for (const double value : {-2.75, 1e10, 0.1, std::numeric_limits<double>::quiet_NaN()}) {
        SCOPED_TRACE(::testing::Message() << meridian::dtype_name(dtype) << " n=" << n << " value=" << value);
        Guarded<unsigned char> got(n * static_cast<std::int64_t>(size));
        std::vector<unsigned char> want(static_cast<std::size_t>(n) * size);
        cpu::fill(got.data(), dtype, n, value);
        ref::fill(want.data(), dtype, n, value);
        EXPECT_EQ(first_difference(got.values(), want), -1);
        EXPECT_TRUE(got.guard_intact());
      }
    }
  }
}

TEST(CpuKernels, FillKnownValues) {
  std::int32_t i32[3];
  cpu::fill(i32, DType::i32, 3, -2.75);
  EXPECT_EQ(i32[2], -2);
  std::uint8_t u8[3];
  cpu::fill(u8, DType::u8, 3, 1e10);
  EXPECT_EQ(u8[2], 255);
  bf16 b[3];
  cpu::fill(b, DType::bf16, 3, -2.5);
  EXPECT_EQ(b[2].bits, 0xc020);
  f16 h[3];
  cpu::fill(h, DType::f16, 3, 65520.0);
  EXPECT_EQ(h[2].bits, 0x7c00);
  double d[3];
  cpu::fill(d, DType::f64, 3, 0.1);
  EXPECT_EQ(d[2], 0.1);
}

TEST(CpuKernels, CopyMatchesSourceAndStaysInBounds) {
  // Sizes in bytes, including ones over the parallel threshold (several 1 MiB chunks and a tail).
  for (const std::int64_t bytes : {std::int64_t{0}, std::int64_t{1}, std::int64_t{7}, std::int64_t{100003},
                                   (std::int64_t{5} << 20) + 3}) {
    SCOPED_TRACE(::testing::Message() << "bytes=" << bytes);
    std::vector<unsigned char> src(static_cast<std::size_t>(bytes));
    for (std::size_t i = 0; i < src.size(); ++i) src[i] = static_cast<unsigned char>((i * 2654435761u) >> 13);
    Guarded<unsigned char> dst(bytes);
    cpu::copy(dst.data(), src.data(), bytes);
    EXPECT_EQ(first_difference(dst.values(), src), -1);
    EXPECT_TRUE(dst.guard_intact());
  }
}

TEST(CpuKernels, ConvertEveryPairMatchesReference) {
  const std::vector<double> values = conversion_sources(1023);
  const std::int64_t n = static_cast<std::int64_t>(values.size());
  for (const DType from : kAllDTypes) {
    std::vector<unsigned char> src(static_cast<std::size_t>(n) * meridian::dtype_size(from));
    ref::convert(src.data(), from, values.data(), DType::f64, n);
    for (const DType to : kAllDTypes) {
      SCOPED_TRACE(::testing::Message() << meridian::dtype_name(from) << " -> " << meridian::dtype_name(to));
      const std::int64_t out_bytes = n * static_cast<std::int64_t>(meridian::dtype_size(to));
      Guarded<unsigned char> got(out_bytes);
      std::vector<unsigned char> want(static_cast<std::size_t>(out_bytes));
      cpu::convert(got.data(), to, src.data(), from, n);
      ref::convert(want.data(), to, src.data(), from, n);
      EXPECT_EQ(first_difference(got.values(), want), -1);
      EXPECT_TRUE(got.guard_intact());
    }
  }
}

TEST(CpuKernels, ConvertKnownValues) {
  const float src[] = {1.5f, -1.5f, 300.f, std::nanf(""), 1.f + 0x1p-8f};
  std::uint8_t u8[5];
  cpu::convert(u8, DType::u8, src, DType::f32, 5);
  EXPECT_EQ(u8[0], 1);
  EXPECT_EQ(u8[1], 0);
  EXPECT_EQ(u8[2], 255);
  EXPECT_EQ(u8[3], 0);
  bf16 b[5];
  cpu::convert(b, DType::bf16, src, DType::f32, 5);
  EXPECT_EQ(b[0].bits, 0x3fc0);
  EXPECT_EQ(b[4].bits, 0x3f80);  // tie to even
  float back[5];
  cpu::convert(back, DType::f32, b, DType::bf16, 5);
  EXPECT_EQ(back[1], -1.5f);
  EXPECT_TRUE(std::isnan(back[3]));
}

// ---- elementwise arithmetic ------------------------------------------------------------------

template <class T>
void check_elementwise() {
  const T alpha = static_cast<T>(-1.375);
  for (const std::int64_t n : kSizes) {
    SCOPED_TRACE(::testing::Message() << "n=" << n);
    const std::vector<T> x = random_values<T>(n, 1), y = random_values<T>(n, 2);

    Guarded<T> got(y);
    std::vector<T> want = y;
    cpu::axpy(n, alpha, x.data(), got.data());
    ref::axpy(n, alpha, x.data(), want.data());
    EXPECT_EQ(first_difference(got.values(), want), -1) << "axpy";
    EXPECT_TRUE(got.guard_intact()) << "axpy";

    Guarded<T> scaled(x);
    want = x;
    cpu::scale(n, alpha, scaled.data());
    ref::scale(n, alpha, want.data());
    EXPECT_EQ(first_difference(scaled.values(), want), -1) << "scale";
    EXPECT_TRUE(scaled.guard_intact()) << "scale";

    Guarded<T> sum_out(n), prod_out(n);
    std::vector<T> want_sum(static_cast<std::size_t>(n)), want_prod(static_cast<std::size_t>(n));
    cpu::add(n, x.data(), y.data(), sum_out.data());
    cpu::mul(n, x.data(), y.data(), prod_out.data());
    ref::add(n, x.data(), y.data(), want_sum.data());
    ref::mul(n, x.data(), y.data(), want_prod.data());
    EXPECT_EQ(first_difference(sum_out.values(), want_sum), -1) << "add";
    EXPECT_EQ(first_difference(prod_out.values(), want_prod), -1) << "mul";
    EXPECT_TRUE(sum_out.guard_intact() && prod_out.guard_intact());

    // In place: out is a, then out is b.
    std::vector<T> in_place = x;
    cpu::add(n, in_place.data(), y.data(), in_place.data());
    EXPECT_TRUE(same_bits(in_place, want_sum)) << "add into a";
    in_place = y;
    cpu::mul(n, x.data(), in_place.data(), in_place.data());
    EXPECT_TRUE(same_bits(in_place, want_prod)) << "mul into b";
  }
}

TEST(CpuKernels, ElementwiseFloatMatchesReference) { check_elementwise<float>(); }
TEST(CpuKernels, ElementwiseDoubleMatchesReference) { check_elementwise<double>(); }

TEST(CpuKernels, AxpyKnownValues) {
  float y[3] = {1.f, -2.f, 0.5f};
  const float x[3] = {2.f, 4.f, -1.f};
  cpu::axpy(3, 0.5f, x, y);
  EXPECT_EQ(y[0], 2.f);
  EXPECT_EQ(y[1], 0.f);
  EXPECT_EQ(y[2], 0.f);
}

// ---- reductions ------------------------------------------------------------------------------

template <class T>
void check_sum() {
  for (const std::int64_t n : kSizes) {
    SCOPED_TRACE(::testing::Message() << "n=" << n);
    const std::vector<T> x = random_values<T>(n, 3);
    const double want = ref::sum(n, x.data());
    double abs_sum = 0.0;
    for (const T v : x) abs_sum += std::abs(static_cast<double>(v));
    // Both accumulate in double, in different orders: |error| <= n eps_double sum|x|.
    const double bound = static_cast<double>(n) * std::numeric_limits<double>::epsilon() * abs_sum;
    EXPECT_LE(std::abs(cpu::sum(n, x.data()) - want), bound);
    // Integers sum exactly whatever the order.
    std::vector<T> ints(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) ints[static_cast<std::size_t>(i)] = static_cast<T>((i % 201) - 100);
    EXPECT_EQ(cpu::sum(n, ints.data()), ref::sum(n, ints.data()));
  }
}

TEST(CpuKernels, SumFloatMatchesReference) { check_sum<float>(); }
TEST(CpuKernels, SumDoubleMatchesReference) { check_sum<double>(); }

TEST(CpuKernels, SumAccumulatesInDouble) {
  // 2^24 + n ones: a float accumulator would stay at 2^24.
  std::vector<float> x(100003, 1.f);
  x[0] = 0x1p24f;
  EXPECT_EQ(cpu::sum(static_cast<std::int64_t>(x.size()), x.data()), 0x1p24 + 100002.0);
}

template <class T>
void check_max() {
  const T nan = std::numeric_limits<T>::quiet_NaN();
  for (const std::int64_t n : kSizes) {
    if (n == 0) continue;
    SCOPED_TRACE(::testing::Message() << "n=" << n);
    std::vector<T> x = random_values<T>(n, 4);
    EXPECT_EQ(cpu::max(n, x.data()), ref::max(n, x.data()));
    // The largest element in the last position (catches a dropped tail).
    std::vector<T> tail = x;
    tail.back() = static_cast<T>(5);
    EXPECT_EQ(cpu::max(n, tail.data()), static_cast<T>(5));
    // All negative.
    std::vector<T> negative(static_cast<std::size_t>(n));
    for (std::size_t i = 0; i < negative.size(); ++i) negative[i] = -std::abs(x[i]) - static_cast<T>(1);
    EXPECT_EQ(cpu::max(n, negative.data()), ref::max(n, negative.data()));
    // NaN anywhere propagates.
    for (const std::int64_t at : {std::int64_t{0}, n / 2, n - 1}) {
      std::vector<T> with_nan = x;
      with_nan[static_cast<std::size_t>(at)] = nan;
      EXPECT_TRUE(std::isnan(cpu::max(n, with_nan.data()))) << "NaN at " << at;
      EXPECT_TRUE(std::isnan(ref::max(n, with_nan.data())));
    }
  }
  const T all_neg_inf[3] = {-std::numeric_limits<T>::infinity(), -std::numeric_limits<T>::infinity(),
                            -std::numeric_limits<T>::infinity()};
  EXPECT_EQ(cpu::max(3, all_neg_inf), -std::numeric_limits<T>::infinity());
}

TEST(CpuKernels, MaxFloatMatchesReference) { check_max<float>(); }
TEST(CpuKernels, MaxDoubleMatchesReference) { check_max<double>(); }

// ---- random fills ----------------------------------------------------------------------------

TEST(CpuKernels, FillUniformEqualsSerialReference) {
  for (const std::int64_t n : kSizes) {
    for (const std::uint64_t offset : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{2}, std::uint64_t{3},
                                       std::uint64_t{5}, (std::uint64_t{1} << 34) + 3}) {
      SCOPED_TRACE(::testing::Message() << "n=" << n << " offset=" << offset);
      Guarded<float> got(n);
      std::vector<float> want(static_cast<std::size_t>(n));
      cpu::fill_uniform(got.data(), n, kSeed, 9, offset, -2.f, 3.f);
      ref::fill_uniform(want.data(), n, kSeed, 9, offset, -2.f, 3.f);
      EXPECT_EQ(first_difference(got.values(), want), -1);
      EXPECT_TRUE(got.guard_intact());
    }
  }
}

TEST(CpuKernels, FillUniformIsOffsetConsistent) {
  const std::int64_t big_n = 100003;
  std::vector<float> big(static_cast<std::size_t>(big_n));
  cpu::fill_uniform(big.data(), big_n, kSeed, 11, 0, -1.f, 1.f);
  for (const std::int64_t offset : {std::int64_t{0}, std::int64_t{1}, std::int64_t{6}, std::int64_t{4097}}) {
    for (const std::int64_t n : {std::int64_t{1}, std::int64_t{3}, std::int64_t{1023}}) {
      std::vector<float> part(static_cast<std::size_t>(n));
      cpu::fill_uniform(part.data(), n, kSeed, 11, static_cast<std::uint64_t>(offset), -1.f, 1.f);
      const std::vector<float> slice(big.begin() + offset, big.begin() + offset + n);
      EXPECT_TRUE(same_bits(part, slice)) << "offset=" << offset << " n=" << n;
    }
  }
  // A different stream or seed gives different numbers.
  std::vector<float> other(64);
  cpu::fill_uniform(other.data(), 64, kSeed, 12, 0, -1.f, 1.f);
  EXPECT_FALSE(same_bits(other, std::vector<float>(big.begin(), big.begin() + 64)));
  cpu::fill_uniform(other.data(), 64, kSeed + 1, 11, 0, -1.f, 1.f);
  EXPECT_FALSE(same_bits(other, std::vector<float>(big.begin(), big.begin() + 64)));
}

TEST(CpuKernels, FillNormalEqualsSerialReference) {
  for (const std::int64_t n : kSizes) {
    for (const std::uint64_t offset : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{7}}) {
      SCOPED_TRACE(::testing::Message() << "n=" << n << " offset=" << offset);
      Guarded<float> got(n);
      std::vector<float> want(static_cast<std::size_t>(n));
      cpu::fill_normal(got.data(), n, kSeed, 13, offset, 1.5f, 2.f);
      ref::fill_normal(want.data(), n, kSeed, 13, offset, 1.5f, 2.f);
      EXPECT_EQ(first_difference(got.values(), want), -1);
      EXPECT_TRUE(got.guard_intact());
    }
  }
}

// Sample moments with bounds of 5 standard errors (a false alarm about once in 10^6 runs per check;
// the seeds are fixed, so a pass is reproducible).
TEST(CpuKernels, FillUniformMoments) {
  const std::int64_t n = std::int64_t{1} << 20;
  const double lo = -2.0, hi = 3.0, width = hi - lo;
  std::vector<float> x(static_cast<std::size_t>(n));
  cpu::fill_uniform(x.data(), n, kSeed, 21, 0, static_cast<float>(lo), static_cast<float>(hi));
  double mean = 0.0;
  for (const float v : x) {
    ASSERT_GE(v, lo);
    ASSERT_LE(v, hi);
    mean += v;
  }
  mean /= static_cast<double>(n);
  double var = 0.0;
  std::vector<std::int64_t> bins(16, 0);
  for (const float v : x) {
    var += (v - mean) * (v - mean);
    ++bins[std::min<std::size_t>(15, static_cast<std::size_t>((v - lo) / width * 16.0))];
  }
  var /= static_cast<double>(n - 1);
  const double dn = static_cast<double>(n);
  EXPECT_NEAR(mean, (lo + hi) / 2, 5.0 * width / std::sqrt(12.0 * dn));
  EXPECT_NEAR(var, width * width / 12.0, 5.0 * width * width / std::sqrt(180.0 * dn));  // (mu4 - s^4) = w^4/180
  const double p = 1.0 / 16.0;
  for (const std::int64_t count : bins) EXPECT_NEAR(static_cast<double>(count), p * dn, 5.0 * std::sqrt(dn * p * (1 - p)));
}

TEST(CpuKernels, FillNormalMoments) {
  const std::int64_t n = std::int64_t{1} << 20;
  const double mu = 1.5, sigma = 2.0;
  std::vector<float> x(static_cast<std::size_t>(n));
  cpu::fill_normal(x.data(), n, kSeed, 22, 0, static_cast<float>(mu), static_cast<float>(sigma));
  double m1 = 0.0, m2 = 0.0, m4 = 0.0, inside = 0.0;
  for (const float v : x) {
    ASSERT_TRUE(std::isfinite(v));
    const double z = (v - mu) / sigma;
    m1 += z;
    m2 += z * z;
    m4 += z * z * z * z;
    inside += std::abs(z) < 1.0 ? 1.0 : 0.0;
  }
  const double dn = static_cast<double>(n);
  m1 /= dn;
  m2 /= dn;
  m4 /= dn;
  inside /= dn;
  EXPECT_NEAR(m1, 0.0, 5.0 / std::sqrt(dn));              // Var z = 1
  EXPECT_NEAR(m2, 1.0, 5.0 * std::sqrt(2.0 / dn));        // Var z^2 = 2
  EXPECT_NEAR(m4, 3.0, 5.0 * std::sqrt(96.0 / dn));       // Var z^4 = 105 - 9
  const double p = std::erf(1.0 / std::sqrt(2.0));        // P(|z| < 1)
  EXPECT_NEAR(inside, p, 5.0 * std::sqrt(p * (1 - p) / dn));
}

// ---- GEMM ------------------------------------------------------------------------------------

template <class T>
struct GemmOperands {
  std::vector<T> a, b, c;
};

template <class T>
GemmOperands<T> gemm_operands(const GemmShape& s, std::uint64_t stream) {
  return GemmOperands<T>{random_values<T>(s.a_rows() * s.lda, stream), random_values<T>(s.b_rows() * s.ldb, stream + 1),
                         random_values<T>(s.m * s.ldc, stream + 2)};
}

template <class T>
void check_gemm_all_transposes() {
  const Trans both[] = {Trans::no, Trans::yes};
  const std::int64_t dims[][3] = {{37, 29, 53}, {1, 1, 1}, {130, 67, 300}, {5, 64, 1}};
  const T alpha = static_cast<T>(-1.5), beta = static_cast<T>(0.75);
  for (const Trans ta : both) {
    for (const Trans tb : both) {
      for (const auto& d : dims) {
        const GemmShape s = padded_shape(ta, tb, d[0], d[1], d[2]);
        SCOPED_TRACE(shape_name(s));
        GemmOperands<T> op = gemm_operands<T>(s, 30);
        std::vector<T> c = op.c;
        cpu::gemm(ta, tb, s.m, s.n, s.k, alpha, op.a.data(), s.lda, op.b.data(), s.ldb, beta, c.data(), s.ldc);
        EXPECT_EQ(gemm_violations(s, alpha, op.a, op.b, beta, op.c, c), 0);
      }
    }
  }
}

TEST(CpuGemm, FloatAllTransposesMatchReference) { check_gemm_all_transposes<float>(); }
TEST(CpuGemm, DoubleAllTransposesMatchReference) { check_gemm_all_transposes<double>(); }

TEST(CpuGemm, KnownProduct) {
  // [1 2 3; 4 5 6] * [7 8; 9 10; 11 12] = [58 64; 139 154]
  const float a[] = {1, 2, 3, 4, 5, 6};
  const float b[] = {7, 8, 9, 10, 11, 12};
  float c[4] = {1, 1, 1, 1};
  cpu::gemm(Trans::no, Trans::no, 2, 2, 3, 1.f, a, 3, b, 2, 0.f, c, 2);
  EXPECT_EQ(c[0], 58.f);
  EXPECT_EQ(c[1], 64.f);
  EXPECT_EQ(c[2], 139.f);
  EXPECT_EQ(c[3], 154.f);
  // A^T stored: [1 4; 2 5; 3 6]; B^T stored: [7 9 11; 8 10 12]; beta = 1 adds the old C.
  const float at[] = {1, 4, 2, 5, 3, 6};
  const float bt[] = {7, 9, 11, 8, 10, 12};
  cpu::gemm(Trans::yes, Trans::yes, 2, 2, 3, 1.f, at, 2, bt, 3, 1.f, c, 2);
  EXPECT_EQ(c[0], 116.f);
  EXPECT_EQ(c[3], 308.f);
}

TEST(CpuGemm, DegenerateShapes) {
  // beta = 0: C is write-only, NaN in it does not survive.
  const GemmShape s = padded_shape(Trans::no, Trans::yes, 9, 11, 13);
  GemmOperands<float> op = gemm_operands<float>(s, 40);
  std::vector<float> c(op.c.size(), std::numeric_limits<float>::quiet_NaN());
  std::vector<float> c0 = c;
  cpu::gemm(s.ta, s.tb, s.m, s.n, s.k, 2.f, op.a.data(), s.lda, op.b.data(), s.ldb, 0.f, c.data(), s.ldc);
  EXPECT_EQ(gemm_violations(s, 2.0, op.a, op.b, 0.0, c0, c), 0);
  for (std::int64_t i = 0; i < s.m; ++i) {
    for (std::int64_t j = 0; j < s.n; ++j) EXPECT_FALSE(std::isnan(c[static_cast<std::size_t>(i * s.ldc + j)]));
  }
  // k = 0: C = beta C.
  std::vector<float> ck = op.c;
  cpu::gemm(Trans::no, Trans::no, s.m, s.n, 0, 1.f, nullptr, 0, nullptr, s.n, 0.5f, ck.data(), s.ldc);
  for (std::int64_t i = 0; i < s.m; ++i) {
    for (std::int64_t j = 0; j < s.n; ++j) {
      const std::size_t at = static_cast<std::size_t>(i * s.ldc + j);
      EXPECT_EQ(ck[at], 0.5f * op.c[at]);
    }
  }
  // m = 0 or n = 0: nothing happens.
  std::vector<float> untouched = op.c;
  cpu::gemm(Trans::no, Trans::no, 0, s.n, s.k, 1.f, nullptr, s.k, op.b.data(), s.n, 0.f, untouched.data(), s.ldc);
  cpu::gemm(Trans::no, Trans::no, s.m, 0, s.k, 1.f, op.a.data(), s.k, nullptr, 0, 0.f, untouched.data(), 1);
  EXPECT_TRUE(same_bits(untouched, op.c));
}

TEST(CpuGemm, StridedBatchedMatchesReference) {
  const Trans both[] = {Trans::no, Trans::yes};
  const std::int64_t batch = 3;
  for (const Trans ta : both) {
    for (const Trans tb : both) {
      const GemmShape s = padded_shape(ta, tb, 21, 17, 19);
      // Gaps between the matrices of a batch; B is shared by every batch in the second pass.
      const std::int64_t stride_a = s.a_rows() * s.lda + 7;
      const std::int64_t stride_c = s.m * s.ldc + 4;
      for (const std::int64_t stride_b : {s.b_rows() * s.ldb + 9, std::int64_t{0}}) {
        SCOPED_TRACE(shape_name(s) + meridian::cat(" stride_b=", stride_b));
        const std::vector<float> a = random_floats(batch * stride_a, 50);
        const std::vector<float> b = random_floats(stride_b == 0 ? s.b_rows() * s.ldb : batch * stride_b, 51);
        const std::vector<float> c0 = random_floats(batch * stride_c, 52);
        std::vector<float> c = c0;
        cpu::gemm_strided_batched(ta, tb, s.m, s.n, s.k, 0.5f, a.data(), s.lda, b.data(), s.ldb, -2.f, c.data(),
                                  s.ldc, batch, stride_a, stride_b, stride_c);
        for (std::int64_t p = 0; p < batch; ++p) {
          const std::int64_t c_len = s.m * s.ldc;
          EXPECT_EQ(gemm_violations(s, 0.5, subvector(a, p * stride_a, s.a_rows() * s.lda),
                                    subvector(b, p * stride_b, s.b_rows() * s.ldb), -2.0,
                                    subvector(c0, p * stride_c, c_len), subvector(c, p * stride_c, c_len)),
                    0)
              << "batch " << p;
          // The gap after each C matrix is untouched.
          EXPECT_TRUE(same_bits(subvector(c, p * stride_c + c_len, stride_c - c_len),
                                subvector(c0, p * stride_c + c_len, stride_c - c_len)));
        }
        // The batched reference agrees too.
        std::vector<double> want = to_double(c0);
        ref::gemm_strided_batched(ta, tb, s.m, s.n, s.k, 0.5, to_double(a).data(), s.lda, to_double(b).data(), s.ldb,
                                  -2.0, want.data(), s.ldc, batch, stride_a, stride_b, stride_c);
        double worst = 0.0;
        for (std::size_t i = 0; i < c.size(); ++i) worst = std::max(worst, std::abs(c[i] - want[i]));
        EXPECT_LT(worst, 1e-4);
      }
    }
  }
}

// bf16 inputs: the product equals the exact product of the operands rounded to bf16, up to fp32
// accumulation error (padding of C untouched), and is far from the product of the unrounded operands,
// so the rounding really happens. The precision switch picks the two products bit for bit.
TEST(CpuGemm, Bf16InputsAreTheProductOfTheRoundedOperands) {
  const Trans both[] = {Trans::no, Trans::yes};
  const auto rounded = [](std::vector<float> v) {
    for (float& x : v) x = meridian::round_to_bf16(x);
    return v;
  };
  for (const Trans ta : both) {
    for (const Trans tb : both) {
      const GemmShape s = padded_shape(ta, tb, 37, 29, 53);
      SCOPED_TRACE(shape_name(s));
      const GemmOperands<float> op = gemm_operands<float>(s, 60);
      std::vector<float> c = op.c;
      cpu::gemm_bf16_inputs(ta, tb, s.m, s.n, s.k, -1.5f, op.a.data(), s.lda, op.b.data(), s.ldb, 0.75f, c.data(),
                            s.ldc);
      EXPECT_EQ(gemm_violations(s, -1.5, rounded(op.a), rounded(op.b), 0.75, op.c, c), 0);
      EXPECT_GT(gemm_violations(s, -1.5, op.a, op.b, 0.75, op.c, c), s.m * s.n / 2);

      std::vector<float> via_switch = op.c, fp32 = op.c, via_fp32_switch = op.c;
      cpu::gemm(meridian::MatmulPrecision::bf16, ta, tb, s.m, s.n, s.k, -1.5f, op.a.data(), s.lda, op.b.data(),
                s.ldb, 0.75f, via_switch.data(), s.ldc);
      EXPECT_TRUE(same_bits(via_switch, c));
      cpu::gemm(ta, tb, s.m, s.n, s.k, -1.5f, op.a.data(), s.lda, op.b.data(), s.ldb, 0.75f, fp32.data(), s.ldc);
      cpu::gemm(meridian::MatmulPrecision::fp32, ta, tb, s.m, s.n, s.k, -1.5f, op.a.data(), s.lda, op.b.data(),
                s.ldb, 0.75f, via_fp32_switch.data(), s.ldc);
      EXPECT_TRUE(same_bits(via_fp32_switch, fp32));
    }
  }
  // k = 0 (null operands): C = beta C, as the fp32 product.
  const GemmShape s = padded_shape(Trans::no, Trans::no, 9, 11, 13);
  const GemmOperands<float> op = gemm_operands<float>(s, 61);
  std::vector<float> ck = op.c;
  cpu::gemm_bf16_inputs(Trans::no, Trans::no, s.m, s.n, 0, 1.f, nullptr, 0, nullptr, s.n, 0.5f, ck.data(), s.ldc);
  for (std::int64_t i = 0; i < s.m; ++i)
    for (std::int64_t j = 0; j < s.n; ++j)
      EXPECT_EQ(ck[static_cast<std::size_t>(i * s.ldc + j)], 0.5f * op.c[static_cast<std::size_t>(i * s.ldc + j)]);
}

// The GEMM check is tight enough to catch wrong kernels: a transposed operand, a one-ulp-scale
// perturbation of a single element scaled up, and a write into the padding all fail it.
TEST(CpuGemm, ToleranceCatchesWrongResults) {
  const GemmShape s = padded_shape(Trans::no, Trans::no, 24, 24, 24);
  const GemmOperands<float> op = gemm_operands<float>(s, 60);
  std::vector<float> right = op.c;
  cpu::gemm(s.ta, s.tb, s.m, s.n, s.k, 1.f, op.a.data(), s.lda, op.b.data(), s.ldb, 1.f, right.data(), s.ldc);
  ASSERT_EQ(gemm_violations(s, 1.0, op.a, op.b, 1.0, op.c, right), 0);

  // A read as if transposed (square, so the call is valid and only the values are wrong).
  std::vector<float> transposed = op.c;
  GemmShape t = s;
  t.ta = Trans::yes;
  cpu::gemm(t.ta, t.tb, t.m, t.n, t.k, 1.f, op.a.data(), t.lda, op.b.data(), t.ldb, 1.f, transposed.data(), t.ldc);
  EXPECT_GT(gemm_violations(s, 1.0, op.a, op.b, 1.0, op.c, transposed), s.m * s.n / 2);

  // One element off by 1e-4 relative (about 1000 ulp, far above rounding error).
  std::vector<float> perturbed = right;
  perturbed[5 * s.ldc + 7] *= 1.0001f;
  EXPECT_EQ(gemm_violations(s, 1.0, op.a, op.b, 1.0, op.c, perturbed), 1);

  // A write into the padding of C.
  std::vector<float> spilled = right;
  spilled[3 * s.ldc + s.n] = 0.f;
  EXPECT_EQ(gemm_violations(s, 1.0, op.a, op.b, 1.0, op.c, spilled), 1);
}

// ---- argument errors -------------------------------------------------------------------------

TEST(CpuKernels, ArgumentErrorsThrow) {
  float x[4] = {1, 2, 3, 4};
  float y[4] = {0, 0, 0, 0};
  EXPECT_THROW(cpu::axpy(-1, 1.f, x, y), meridian::Error);
  EXPECT_THROW(cpu::axpy(4, 1.f, nullptr, y), meridian::Error);
  EXPECT_THROW(cpu::scale(-3, 1.f, x), meridian::Error);
  EXPECT_THROW(cpu::add(4, x, y, nullptr), meridian::Error);
  EXPECT_THROW(cpu::mul(-1, x, y, y), meridian::Error);
  EXPECT_THROW(cpu::sum(-1, x), meridian::Error);
  EXPECT_THROW(cpu::max(0, x), meridian::Error);
  EXPECT_THROW(cpu::max(std::int64_t{0}, static_cast<const double*>(nullptr)), meridian::Error);
  EXPECT_THROW(cpu::fill(nullptr, DType::f32, 4, 1.0), meridian::Error);
  EXPECT_THROW(cpu::fill(x, static_cast<DType>(99), 4, 1.0), meridian::Error);
  EXPECT_THROW(cpu::convert(y, DType::f32, x, static_cast<DType>(42), 4), meridian::Error);
  EXPECT_THROW(cpu::copy(y, x, -1), meridian::Error);
  EXPECT_THROW(cpu::fill_uniform(x, -1, 1, 2, 3, 0.f, 1.f), meridian::Error);
  EXPECT_THROW(cpu::fill_normal(nullptr, 4, 1, 2, 3, 0.f, 1.f), meridian::Error);
  // Empty ranges are fine, with or without pointers.
  EXPECT_NO_THROW(cpu::axpy(0, 1.f, nullptr, nullptr));
  EXPECT_EQ(cpu::sum(0, static_cast<const float*>(nullptr)), 0.0);

  const float a[6] = {}, b[6] = {};
  float c[6] = {};
  EXPECT_THROW(cpu::gemm(Trans::no, Trans::no, -1, 2, 3, 1.f, a, 3, b, 2, 0.f, c, 2), meridian::Error);
  EXPECT_THROW(cpu::gemm(Trans::no, Trans::no, 2, 2, 3, 1.f, a, 2, b, 2, 0.f, c, 2), meridian::Error);  // lda < k
  EXPECT_THROW(cpu::gemm(Trans::yes, Trans::no, 3, 2, 2, 1.f, a, 2, b, 2, 0.f, c, 2), meridian::Error);  // lda < m
  EXPECT_THROW(cpu::gemm(Trans::no, Trans::no, 2, 3, 2, 1.f, a, 2, b, 2, 0.f, c, 3), meridian::Error);  // ldb < n
  EXPECT_THROW(cpu::gemm(Trans::no, Trans::yes, 2, 2, 3, 1.f, a, 3, b, 2, 0.f, c, 2), meridian::Error);  // ldb < k
  EXPECT_THROW(cpu::gemm(Trans::no, Trans::no, 2, 3, 1, 1.f, a, 1, b, 3, 0.f, c, 2), meridian::Error);  // ldc < n
  EXPECT_THROW(cpu::gemm(Trans::no, Trans::no, 2, 2, 1, 1.f, a, 1, b, 2, 0.f, nullptr, 2), meridian::Error);
  EXPECT_THROW(cpu::gemm_strided_batched(Trans::no, Trans::no, 1, 2, 1, 1.f, a, 1, b, 2, 0.f, c, 2, 2, 1, 2, 1),
               meridian::Error);  // C matrices overlap
  EXPECT_THROW(cpu::gemm_strided_batched(Trans::no, Trans::no, 1, 2, 1, 1.f, a, 1, b, 2, 0.f, c, 2, -1, 1, 2, 2),
               meridian::Error);
  EXPECT_THROW(cpu::gemm_strided_batched(Trans::no, Trans::no, 1, 2, 1, 1.f, a, 1, b, 2, 0.f, c, 2, 2, -1, 2, 2),
               meridian::Error);
  EXPECT_NO_THROW(cpu::gemm_strided_batched(Trans::no, Trans::no, 1, 2, 1, 1.f, a, 1, b, 2, 0.f, c, 2, 2, 0, 0, 2));
  // Side by side within the rows (attention's heads): three 2x2 C with ldc 6 at columns 0, 2, 4.
  float wide[12] = {};
  EXPECT_NO_THROW(cpu::gemm_strided_batched(Trans::no, Trans::no, 2, 2, 1, 1.f, a, 1, b, 2, 0.f, wide, 6, 3, 0, 0, 2));
  EXPECT_THROW(cpu::gemm_strided_batched(Trans::no, Trans::no, 2, 2, 1, 1.f, a, 1, b, 2, 0.f, wide, 6, 3, 0, 0, 1),
               meridian::Error);  // columns overlap
  EXPECT_THROW(cpu::gemm_strided_batched(Trans::no, Trans::no, 2, 2, 1, 1.f, a, 1, b, 2, 0.f, wide, 5, 3, 0, 0, 2),
               meridian::Error);  // the third runs into the next row
}

TEST(CpuKernels, ReportsThreads) { EXPECT_GE(cpu::num_threads(), 1); }

}  // namespace
