// Untimed verification of comm_bench: each case runs once on inputs whose every result is exact
// (small integers of mixed sign, periodic in the element index), and each element of this rank's
// result is compared with the closed-form answer. Element i of rank r is pattern.value(r, i).
#include <algorithm>
#include <cmath>
#include <vector>

#include "comm_bench.hpp"
#include "core/error.hpp"
#include "core/ops.hpp"

namespace meridian::bench {
namespace {

// value(r, i) = ((131 r + 2 i) mod period) - offset: odd period, so consecutive elements and
// neighbouring ranks differ, and results depend on i only through i mod period.
struct Pattern {
  std::int64_t period = 9;
  std::int64_t offset = 4;
  double value(int rank, std::int64_t i) const {
    return static_cast<double>((std::int64_t{rank} * 131 + 2 * i) % period - offset);
  }
};

// Largest magnitude m with every sum of `ranks` values in [-m, m] exact in the dtype: bf16 holds
// integers up to 256 exactly, f16 up to 2048. Unreduced data (gathers, broadcast, sendrecv)
// uses a wider range so that misplaced blocks show.
Pattern pattern_for(DType dtype, int ranks, bool reduced) {
  std::int64_t m = 4;
  if (reduced) {
    if (dtype == DType::bf16) m = std::clamp<std::int64_t>(256 / ranks, 1, 4);
    if (dtype == DType::f16) m = std::clamp<std::int64_t>(2048 / ranks, 1, 4);
  } else {
    switch (dtype) {
      case DType::bf16:
      case DType::u8: m = 127; break;
      case DType::f16: m = 1023; break;
      default: m = std::int64_t{1} << 20; break;
    }
  }
  Pattern p{2 * m + 1, m};
  if (dtype == DType::u8) p.offset = 0;  // 0 .. 2m
  return p;
}

// x as the dtype stores it (u8 wraps modulo 256, as unsigned arithmetic does).
double stored(DType dtype, double x) {
  switch (dtype) {
    case DType::f32: return static_cast<float>(x);
    case DType::bf16: return bf16_to_float(float_to_bf16(static_cast<float>(x)));
    case DType::f16: return f16_to_float(float_to_f16(static_cast<float>(x)));
    case DType::u8: {
      const auto v = static_cast<std::int64_t>(x);
      return static_cast<double>(((v % 256) + 256) % 256);
    }
    default: return x;
  }
}

// op over ranks of pattern.value(r, i), computed as the dtype does (avg divides in the dtype).
double reduce_over_ranks(const Pattern& p, DType dtype, ReduceOp op, int ranks, std::int64_t i) {
  double acc = p.value(0, i);
  for (int r = 1; r < ranks; ++r) {
    const double v = p.value(r, i);
    if (op == ReduceOp::max) acc = std::max(acc, v);
    else if (op == ReduceOp::min) acc = std::min(acc, v);
    else acc += v;
  }
  const double s = stored(dtype, acc);
  if (op != ReduceOp::avg) return s;
  switch (dtype) {
    case DType::f32: return static_cast<float>(s) / static_cast<float>(ranks);
    case DType::f64: return s / ranks;
    default: return stored(dtype, static_cast<float>(s) / static_cast<float>(ranks));
  }
}

double epsilon(DType dtype) {
  switch (dtype) {
    case DType::f64: return 0x1p-52;
    case DType::f32: return 0x1p-23;
    case DType::bf16: return 0x1p-7;
    case DType::f16: return 0x1p-10;
    default: return 0;
  }
}

constexpr std::int64_t chunk_elements = std::int64_t{1} << 20;

// Writes f(i) into t[i] for every element, one host chunk at a time.
template <class F>
void fill_with(Tensor& t, F&& f) {
  for (std::int64_t begin = 0; begin < t.numel(); begin += chunk_elements) {
    const std::int64_t end = std::min(t.numel(), begin + chunk_elements);
    std::vector<double> values(static_cast<std::size_t>(end - begin));
    for (std::int64_t i = begin; i < end; ++i) values[static_cast<std::size_t>(i - begin)] = f(i);
    Tensor host = Tensor::from_values({end - begin}, values, t.dtype());
    Tensor part = t.slice(0, begin, end);
    ops::copy(part, host);
  }
}

}  // namespace

double check_value(DType dtype, int rank, std::int64_t i, int ranks) {
  return pattern_for(dtype, ranks, true).value(rank, i);
}

void fill_check_values(Tensor& t, int rank, int ranks) {
  const Pattern p = pattern_for(t.dtype(), ranks, true);
  fill_with(t, [&](std::int64_t i) { return p.value(rank, i); });
}

std::int64_t check_case(Communicator& comm, const Case& c, Tensor& send, Tensor& recv, bool nonblocking,
                        bool tolerant_avg) {
  const int rank = comm.rank(), ranks = comm.size();
  const bool reduced = c.collective == Collective::all_reduce || c.collective == Collective::reduce_scatter;
  const Pattern p = pattern_for(c.dtype, ranks, reduced);
  Tensor s = send.slice(0, 0, c.send_count);
  Tensor r = recv.slice(0, 0, c.recv_count);
  // A value no correct result can have in the compared range, so untouched output shows.
  const double sentinel = c.dtype == DType::u8 ? 255 : -static_cast<double>(p.period + 3) * ranks;
  fill_with(s, [&](std::int64_t i) { return p.value(rank, i); });
  if (c.collective == Collective::broadcast && rank == c.root) {
    fill_with(r, [&](std::int64_t i) { return p.value(rank, i); });
  } else {
    fill_with(r, [&](std::int64_t) { return sentinel; });
  }
  run_ours(comm, c, s.raw_data(), r.raw_data(), nonblocking);

  // Closed-form answers; reductions depend on i only through i mod period.
  std::vector<double> reduced_by_residue;
  if (reduced) {
    for (std::int64_t k = 0; k < p.period; ++k)
      reduced_by_residue.push_back(reduce_over_ranks(p, c.dtype, c.op, ranks, k));
  }
  const int prev = (rank + ranks - 1) % ranks;
  auto expected = [&](std::int64_t i) -> double {
    switch (c.collective) {
      case Collective::all_reduce: return reduced_by_residue[static_cast<std::size_t>(i % p.period)];
      case Collective::reduce_scatter:
        return reduced_by_residue[static_cast<std::size_t>((rank * c.count + i) % p.period)];
      case Collective::all_gather: return p.value(static_cast<int>(i / c.count), i % c.count);
      case Collective::broadcast: return p.value(c.root, i);
      case Collective::sendrecv: return p.value(prev, i);
    }
    return 0;
  };
  const bool tolerant = tolerant_avg && c.op == ReduceOp::avg && reduced;
  std::int64_t wrong = 0;
  for (std::int64_t begin = 0; begin < r.numel(); begin += chunk_elements) {
    const std::int64_t end = std::min(r.numel(), begin + chunk_elements);
    const std::vector<double> got = r.slice(0, begin, end).to_vector();
    for (std::int64_t i = begin; i < end; ++i) {
      const double g = got[static_cast<std::size_t>(i - begin)], w = expected(i);
      const bool ok = tolerant ? std::abs(g - w) <= 4 * epsilon(c.dtype) * std::max(1.0, std::abs(w)) : g == w;
      wrong += ok ? 0 : 1;
    }
  }
  return wrong;
}

}  // namespace meridian::bench
