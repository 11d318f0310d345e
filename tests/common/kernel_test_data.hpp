// Inputs and checks shared by the kernel tests of every backend (tests/unit/test_kernels.cpp for the
// CPU, tests/gpu/test_kernels_cuda.cpp for CUDA): fixed-seed mixed-sign data, bitwise comparison and
// the GEMM error bound. Flat host vectors of n elements; matrices row-major with leading dimensions.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/common/dtype.hpp"
#include "kernels/common/error.hpp"
#include "kernels/reference/ops.hpp"

namespace meridian::test {

inline constexpr std::uint64_t kSeed = 0x5eed'1234'abcdULL;
inline constexpr std::int64_t kGuard = 16;  // elements after every output, which no kernel may touch
inline constexpr DType kAllDTypes[] = {DType::f32, DType::f64, DType::bf16, DType::f16,
                                       DType::i32, DType::i64, DType::u8};

// n mixed-sign values in [lo, hi) from the reference generator (independent of the backend).
inline std::vector<float> random_floats(std::int64_t n, std::uint64_t stream, float lo = -1.f, float hi = 1.f) {
  std::vector<float> v(static_cast<std::size_t>(n));
  kernels::reference::fill_uniform(v.data(), n, kSeed, stream, 0, lo, hi);
  return v;
}

// Mixed-sign doubles that use the full 53-bit mantissa.
inline std::vector<double> random_doubles(std::int64_t n, std::uint64_t stream) {
  const std::vector<float> hi = random_floats(n, stream);
  const std::vector<float> lo = random_floats(n, stream + 1000);
  std::vector<double> v(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(hi[i]) + 1e-9 * lo[i];
  return v;
}

template <class T>
std::vector<T> random_values(std::int64_t n, std::uint64_t stream) {
  if constexpr (std::is_same_v<T, float>) {
    return random_floats(n, stream);
  } else {
    return random_doubles(n, stream);
  }
}

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

// Index of the first element whose bits differ (or the shorter length), -1 where a and b are identical.
template <class T>
std::int64_t first_difference(const std::vector<T>& a, const std::vector<T>& b) {
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    if (std::memcmp(&a[i], &b[i], sizeof(T)) != 0) return static_cast<std::int64_t>(i);
  }
  return a.size() == b.size() ? -1 : static_cast<std::int64_t>(std::min(a.size(), b.size()));
}

// v[begin, begin + len) as a vector of its own.
template <class T>
std::vector<T> subvector(const std::vector<T>& v, std::int64_t begin, std::int64_t len) {
  return std::vector<T>(v.begin() + begin, v.begin() + begin + len);
}

// Source values for conversions: specials (ties, out-of-range, inf, NaN, -0) and random_count
// mixed-sign randoms spread over several magnitudes, as doubles.
inline std::vector<double> conversion_sources(std::int64_t random_count) {
  std::vector<double> v = {0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.7, -3.7, 255.0, 255.9, 256.0, -129.5,
                           65504.0, 65520.0, 1.0 + 0x1p-8, 1.0 + 0x1p-11, 0x1p-24, 0x1p-25, 1e-40,
                           16777217.0, 2147483647.0, 2147483648.0, -2147483649.0, 9.2e18, 1e19, -1e19,
                           1e300, -1e300, std::numeric_limits<double>::infinity(),
                           -std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN()};
  const std::vector<double> r = random_doubles(random_count, 77);
  for (std::size_t i = 0; i < r.size(); ++i) v.push_back(r[i] * std::ldexp(1.0, static_cast<int>(i % 40) - 8));
  return v;
}

// ---- GEMM ------------------------------------------------------------------------------------

struct GemmShape {
  kernels::Trans ta, tb;
  std::int64_t m, n, k;
  std::int64_t lda, ldb, ldc;
  // Rows and row length of A and B as stored.
  std::int64_t a_rows() const { return ta == kernels::Trans::no ? m : k; }
  std::int64_t b_rows() const { return tb == kernels::Trans::no ? k : n; }
  std::int64_t a_cols() const { return ta == kernels::Trans::no ? k : m; }
  std::int64_t b_cols() const { return tb == kernels::Trans::no ? n : k; }
};

// A shape with row strides larger than the rows (pad elements between rows).
inline GemmShape padded_shape(kernels::Trans ta, kernels::Trans tb, std::int64_t m, std::int64_t n,
                              std::int64_t k) {
  GemmShape s{ta, tb, m, n, k, 0, 0, 0};
  s.lda = s.a_cols() + 3;
  s.ldb = s.b_cols() + 5;
  s.ldc = n + 2;
  return s;
}

inline std::string shape_name(const GemmShape& s) {
  const auto letter = [](kernels::Trans t) { return t == kernels::Trans::yes ? "T" : "N"; };
  return cat("ta=", letter(s.ta), " tb=", letter(s.tb), " m=", s.m, " n=", s.n, " k=", s.k, " lda=", s.lda,
             " ldb=", s.ldb, " ldc=", s.ldc);
}

// Every element as a double (bf16 and f16 widened exactly).
template <class T>
std::vector<double> to_double(const std::vector<T>& v) {
  std::vector<double> d(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) d[i] = static_cast<double>(kernels::widen(v[i]));
  return d;
}

// Checks got = alpha op(A) op(B) + beta C0 element by element against the reference computed in
// double: |got - exact| <= 2 (k + 2) eps (|alpha| sum_l |a_il||b_lj| + |beta| |c0_ij|) + out_round |exact|
// (eps: of the accumulation type; out_round: a final rounding of the output, 0 where the output is
// the accumulation type), and that the padding of C (columns n..ldc) is untouched. Returns the
// number of violations.
template <class T>
std::int64_t gemm_violations(const GemmShape& s, double alpha, const std::vector<T>& a, const std::vector<T>& b,
                             double beta, const std::vector<T>& c0, const std::vector<T>& got,
                             double eps = std::numeric_limits<T>::epsilon(), double out_round = 0.0) {
  namespace ref = kernels::reference;
  std::vector<double> exact = to_double(c0), magnitude(c0.size(), 0.0);
  std::vector<double> abs_a = to_double(a), abs_b = to_double(b);
  for (double& v : abs_a) v = std::abs(v);
  for (double& v : abs_b) v = std::abs(v);
  ref::gemm(s.ta, s.tb, s.m, s.n, s.k, alpha, to_double(a).data(), s.lda, to_double(b).data(), s.ldb, beta,
            exact.data(), s.ldc);
  ref::gemm(s.ta, s.tb, s.m, s.n, s.k, 1.0, abs_a.data(), s.lda, abs_b.data(), s.ldb, 0.0, magnitude.data(), s.ldc);
  const std::vector<double> got_d = to_double(got), c0_d = to_double(c0);
  std::int64_t violations = 0;
  for (std::int64_t i = 0; i < s.m; ++i) {
    for (std::int64_t j = 0; j < s.ldc; ++j) {
      const std::size_t at = static_cast<std::size_t>(i * s.ldc + j);
      if (j >= s.n) {  // padding
        if (std::memcmp(&got[at], &c0[at], sizeof(T)) != 0) ++violations;
        continue;
      }
      const double c_term = beta == 0.0 ? 0.0 : std::abs(beta) * std::abs(c0_d[at]);
      const double bound = 2.0 * static_cast<double>(s.k + 2) * eps * (std::abs(alpha) * magnitude[at] + c_term) +
                           out_round * std::abs(exact[at]);
      if (!(std::abs(got_d[at] - exact[at]) <= bound)) ++violations;
    }
  }
  return violations;
}

}  // namespace meridian::test
