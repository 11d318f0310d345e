// Host-side generator over Philox-4x32-10 (kernels/common/philox.hpp) with a checkpointable state:
// the state is just (seed, stream, position), so saving and restoring it is exact. Streams are
// keyed by purpose, e.g. stream_id(StreamPurpose::dropout, step, rank).
#pragma once

#include <cstdint>

namespace meridian {

// The purposes random numbers are drawn for; part of every stream id so that no two uses collide.
enum class StreamPurpose : std::uint16_t {
  init = 1, data = 2, dropout = 3, noise = 4, sampler = 5, trace = 6, test = 7, fault = 8
};

// A 64-bit stream id from (purpose, a, b): 16 bits of purpose, 24 bits each of a and b (for
// example step and rank). Throws when a or b do not fit in 24 bits.
std::uint64_t stream_id(StreamPurpose purpose, std::uint64_t a = 0, std::uint64_t b = 0);

struct RngState {
  std::uint64_t seed = 0;
  std::uint64_t stream = 0;
  std::uint64_t position = 0;  // index of the next 32-bit word
  bool operator==(const RngState&) const = default;
};

class Rng {
 public:
  Rng(std::uint64_t seed, std::uint64_t stream) : state_{seed, stream, 0} {}
  explicit Rng(const RngState& state) : state_(state) {}

  std::uint32_t next_u32();
  std::uint64_t next_u64();
  float uniform();                         // [0, 1), 24 bits
  double uniform_double();                 // [0, 1), 53 bits
  float normal();                          // standard normal (Box-Muller, no caching)
  std::uint64_t below(std::uint64_t n);    // uniform integer in [0, n), unbiased; n > 0
  void skip(std::uint64_t words) { state_.position += words; }

  const RngState& state() const { return state_; }
  void restore(const RngState& s) { state_ = s; }

 private:
  RngState state_;
  std::uint64_t cached_block_ = ~std::uint64_t{0};
  std::uint32_t cached_words_[4] = {};
};

}  // namespace meridian
