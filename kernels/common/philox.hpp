// Philox-4x32-10 (Salmon et al., SC'11), the counter-based generator behind every random number in
// Meridian. A number is a pure function of (seed, stream, index): element i of a fill keyed by
// (seed, stream) is the same on CPU and CUDA and for any thread count.
// Layout: key = seed (two words); counter = (block index: two words, stream: two words).
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/common/hd.hpp"

namespace meridian {

struct Philox4 {
  std::uint32_t v[4];
};

MERIDIAN_HD Philox4 philox4x32_10(Philox4 ctr, std::uint32_t k0, std::uint32_t k1) {
  constexpr std::uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr std::uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += kW0;
      k1 += kW1;
    }
    const std::uint64_t p0 = static_cast<std::uint64_t>(kM0) * ctr.v[0];
    const std::uint64_t p1 = static_cast<std::uint64_t>(kM1) * ctr.v[2];
    const std::uint32_t hi0 = static_cast<std::uint32_t>(p0 >> 32), lo0 = static_cast<std::uint32_t>(p0);
    const std::uint32_t hi1 = static_cast<std::uint32_t>(p1 >> 32), lo1 = static_cast<std::uint32_t>(p1);
    ctr = Philox4{{hi1 ^ ctr.v[1] ^ k0, lo1, hi0 ^ ctr.v[3] ^ k1, lo0}};
  }
  return ctr;
}

// The four words of block `block` of stream `stream` under `seed`.
MERIDIAN_HD Philox4 philox_block(std::uint64_t seed, std::uint64_t stream, std::uint64_t block) {
  const Philox4 ctr{{static_cast<std::uint32_t>(block), static_cast<std::uint32_t>(block >> 32),
                     static_cast<std::uint32_t>(stream), static_cast<std::uint32_t>(stream >> 32)}};
  return philox4x32_10(ctr, static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32));
}

// Word `index` of the stream (four words per block).
MERIDIAN_HD std::uint32_t philox_word(std::uint64_t seed, std::uint64_t stream, std::uint64_t index) {
  return philox_block(seed, stream, index >> 2).v[index & 3u];
}

// Uniform in [0, 1) with 24 random bits: exact in float, so identical on every backend.
MERIDIAN_HD float uniform_from_word(std::uint32_t w) {
  return static_cast<float>(w >> 8) * 5.9604644775390625e-8f;
}

// Element `index` of a standard normal sequence: Box-Muller on block index/2, words 0-1 with the
// cosine branch for even indices and words 2-3 with the sine branch for odd ones. Computed in double and
// rounded; CPU and CUDA agree within an ulp or two (libm and CUDA transcendental functions differ
// in their last bits), unlike uniforms, which are identical.
MERIDIAN_HD float normal_at(std::uint64_t seed, std::uint64_t stream, std::uint64_t index) {
  const Philox4 b = philox_block(seed, stream, index >> 1);
  const unsigned pair = static_cast<unsigned>(index & 1u) * 2u;
  const double u1 = (static_cast<double>(b.v[pair]) + 1.0) * 2.3283064365386963e-10;  // (0, 1]
  const double u2 = static_cast<double>(b.v[pair + 1]) * 2.3283064365386963e-10;       // [0, 1)
  const double r = sqrt(-2.0 * log(u1));
  const double theta = 6.283185307179586 * u2;
  return static_cast<float>((index & 1u) ? r * sin(theta) : r * cos(theta));
}

}  // namespace meridian
