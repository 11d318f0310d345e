// Element types of tensors and buffers, and the bf16/f16 storage types with their conversions.
// Conversions to the 16-bit types round to nearest, ties to even, on CPU and CUDA alike.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

#include "kernels/common/hd.hpp"

namespace meridian {

enum class DType : std::uint8_t { f32, f64, bf16, f16, i32, i64, u8 };

constexpr std::size_t dtype_size(DType t) {
  switch (t) {
    case DType::f64:
    case DType::i64: return 8;
    case DType::f32:
    case DType::i32: return 4;
    case DType::bf16:
    case DType::f16: return 2;
    case DType::u8: return 1;
  }
  return 0;
}

constexpr std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::bf16: return "bf16";
    case DType::f16: return "f16";
    case DType::i32: return "i32";
    case DType::i64: return "i64";
    case DType::u8: return "u8";
  }
  return "?";
}

constexpr bool dtype_is_floating(DType t) {
  return t == DType::f32 || t == DType::f64 || t == DType::bf16 || t == DType::f16;
}

MERIDIAN_HD std::uint32_t float_bits(float f) {
  std::uint32_t u;
  memcpy(&u, &f, sizeof(u));
  return u;
}

MERIDIAN_HD float bits_float(std::uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof(f));
  return f;
}

// bfloat16: the upper 16 bits of an IEEE float.
struct bf16 {
  std::uint16_t bits;
};

MERIDIAN_HD bf16 float_to_bf16(float f) {
  std::uint32_t u = float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return bf16{static_cast<std::uint16_t>((u >> 16) | 0x0040u)};
  u += 0x7fffu + ((u >> 16) & 1u);
  return bf16{static_cast<std::uint16_t>(u >> 16)};
}

MERIDIAN_HD float bf16_to_float(bf16 h) { return bits_float(static_cast<std::uint32_t>(h.bits) << 16); }

// f rounded to the nearest bf16 (ties to even), as a float.
MERIDIAN_HD float round_to_bf16(float f) { return bf16_to_float(float_to_bf16(f)); }

// How a matrix product computes: in fp32 throughout, or with its two inputs rounded to bf16 and the
// products accumulated and returned in fp32 (the arithmetic of a bf16 tensor-core GEMM with an fp32
// output).
enum class MatmulPrecision : std::uint8_t { fp32, bf16 };

// IEEE binary16.
struct f16 {
  std::uint16_t bits;
};

MERIDIAN_HD f16 float_to_f16(float f) {
  const std::uint32_t x = float_bits(f);
  const std::uint32_t sign = (x >> 16) & 0x8000u;
  const std::uint32_t a = x & 0x7fffffffu;
  if (a >= 0x7f800000u) return f16{static_cast<std::uint16_t>(sign | (a > 0x7f800000u ? 0x7e00u : 0x7c00u))};
  if (a >= 0x477ff000u) return f16{static_cast<std::uint16_t>(sign | 0x7c00u)};  // >= 65520: overflow
  if (a < 0x38800000u) {                                                             // below 2^-14: subnormal
    if (a < 0x33000000u) return f16{static_cast<std::uint16_t>(sign)};              // <= 2^-25: zero
    const std::uint32_t e = a >> 23;
    const std::uint32_t m = (a & 0x7fffffu) | 0x800000u;
    const std::uint32_t shift = 126u - e;  // value = m * 2^(e-150), unit 2^-24
    std::uint32_t r = m >> shift;
    const std::uint32_t rem = m & ((1u << shift) - 1u);
    const std::uint32_t half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (r & 1u))) ++r;
    return f16{static_cast<std::uint16_t>(sign | r)};
  }
  std::uint32_t u = (((a >> 23) - 112u) << 10) | ((a >> 13) & 0x3ffu);
  const std::uint32_t rem = a & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (u & 1u))) ++u;
  return f16{static_cast<std::uint16_t>(sign | u)};
}

MERIDIAN_HD float f16_to_float(f16 h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h.bits & 0x8000u) << 16;
  const std::uint32_t e = (h.bits >> 10) & 0x1fu;
  const std::uint32_t m = h.bits & 0x3ffu;
  if (e == 0) {
    const float v = static_cast<float>(m) * 5.9604644775390625e-8f;  // m * 2^-24, exact
    return sign ? -v : v;
  }
  if (e == 31) return bits_float(sign | 0x7f800000u | (m << 13));
  return bits_float(sign | ((e + 112u) << 23) | (m << 13));
}

}  // namespace meridian
