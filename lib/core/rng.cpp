// The host-side Philox generator: words come from kernels/common/philox.hpp, one block cached.
#include "core/rng.hpp"

#include <cmath>

#include "kernels/common/error.hpp"
#include "kernels/common/philox.hpp"

namespace meridian {

std::uint64_t stream_id(StreamPurpose purpose, std::uint64_t a, std::uint64_t b) {
  constexpr std::uint64_t kLimit = std::uint64_t{1} << 24;
  MERIDIAN_CHECK(a < kLimit && b < kLimit, "stream_id: components ", a, " and ", b, " must be below 2^24");
  return (static_cast<std::uint64_t>(purpose) << 48) | (a << 24) | b;
}

std::uint32_t Rng::next_u32() {
  const std::uint64_t block = state_.position >> 2;
  if (block != cached_block_) {
    const Philox4 words = philox_block(state_.seed, state_.stream, block);
    for (int i = 0; i < 4; ++i) cached_words_[i] = words.v[i];
    cached_block_ = block;
  }
  return cached_words_[state_.position++ & 3u];
}

std::uint64_t Rng::next_u64() {
  const std::uint64_t lo = next_u32();
  return (static_cast<std::uint64_t>(next_u32()) << 32) | lo;
}

float Rng::uniform() { return uniform_from_word(next_u32()); }

double Rng::uniform_double() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

float Rng::normal() {
  const double u1 = 1.0 - uniform_double();  // (0, 1]
  const double u2 = uniform_double();
  return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
}

std::uint64_t Rng::below(std::uint64_t n) {
  MERIDIAN_CHECK(n > 0, "Rng::below(0)");
  // Rejection of the biased tail: accept x < n * floor(2^64 / n).
  const std::uint64_t limit = ~std::uint64_t{0} - (~std::uint64_t{0} % n + 1) % n;
  std::uint64_t x = next_u64();
  while (x > limit) x = next_u64();
  return x % n;
}

}  // namespace meridian
