// Plain, serial reference implementations of the kernels of kernels/cpu and kernels/cuda: the
// ground truth of the tests, written for obviousness rather than speed. Buffers are flat arrays of
// n elements; matrices are ROW-MAJOR with a row stride (ld) of at least their stored row length.
// Also here, because both backends share them: the element conversion rules, the dtype dispatch
// helper and the GEMM argument checks.
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "kernels/common/dtype.hpp"
#include "kernels/common/error.hpp"
#include "kernels/common/hd.hpp"
#include "kernels/common/philox.hpp"

namespace meridian::kernels {

// Transposition of a GEMM operand: op(X) = X or X^T.
enum class Trans { no, yes };

// ---------------------------------------------------------------------------------------------
// Element conversion rules (the same on every backend; host and device).
//   * to f32 / f64: C++ conversion, round to nearest even (integers too: i64 -> f32 is rounded once).
//   * to bf16 / f16: through f32 (an f64 is first rounded to f32, as PyTorch does), then round to
//     nearest even; NaN stays NaN, overflow gives +-inf.
//   * to i32 / i64 / u8: floating values are truncated toward zero; every value outside the
//     target's range saturates to its nearest end (also from integers, e.g. i32 300 -> u8 255);
//     NaN becomes 0.
// ---------------------------------------------------------------------------------------------

// A bf16/f16 widened to float (exact); every other type unchanged.
template <class T>
MERIDIAN_HD auto widen(T v) {
  if constexpr (std::is_same_v<T, bf16>) {
    return bf16_to_float(v);
  } else if constexpr (std::is_same_v<T, f16>) {
    return f16_to_float(v);
  } else {
    return v;
  }
}

// Range of an integer type as plain constants (nvcc cannot call numeric_limits' functions from
// device code without --expt-relaxed-constexpr).
template <class T>
struct IntLimits {
  static constexpr int digits = std::numeric_limits<T>::digits;  // 31, 63 or 8
  static constexpr T max = static_cast<T>((std::uint64_t{1} << digits) - 1);
  static constexpr T lowest = std::is_signed_v<T> ? static_cast<T>(-max - 1) : T{0};
};

template <class To, class From>
MERIDIAN_HD To convert_element(From from) {
  const auto v = widen(from);
  using V = decltype(v);
  if constexpr (std::is_same_v<To, bf16>) {
    return float_to_bf16(static_cast<float>(v));
  } else if constexpr (std::is_same_v<To, f16>) {
    return float_to_f16(static_cast<float>(v));
  } else if constexpr (std::is_floating_point_v<To>) {
    return static_cast<To>(v);
  } else if constexpr (std::is_floating_point_v<V>) {
    // Floating -> integer: compared in double, where the range ends (+-2^digits, 0) are exact.
    const double x = static_cast<double>(v);
    constexpr double hi_excl = static_cast<double>(IntLimits<To>::max) + 1.0;
    constexpr double lo_incl = std::is_signed_v<To> ? -hi_excl : 0.0;
    if (x != x) return To{0};
    if (x >= hi_excl) return IntLimits<To>::max;
    if (x <= lo_incl) return IntLimits<To>::lowest;
    return static_cast<To>(x);  // in range: truncation toward zero
  } else {
    // Integer -> integer: every source fits in int64 except large u64 (not a Meridian dtype).
    const std::int64_t x = static_cast<std::int64_t>(v);
    constexpr std::int64_t lo = IntLimits<To>::lowest;
    constexpr std::int64_t hi = IntLimits<To>::max;
    return static_cast<To>(x < lo ? lo : (x > hi ? hi : x));
  }
}

// ---------------------------------------------------------------------------------------------
// DType dispatch: dispatch_dtype(t, f) calls f(TypeTag<T>{}) for the C++ element type of t.
// ---------------------------------------------------------------------------------------------

template <class T>
struct TypeTag {
  using type = T;
};

template <class F>
decltype(auto) dispatch_dtype(DType t, F&& f) {
  switch (t) {
    case DType::f32: return f(TypeTag<float>{});
    case DType::f64: return f(TypeTag<double>{});
    case DType::bf16: return f(TypeTag<bf16>{});
    case DType::f16: return f(TypeTag<f16>{});
    case DType::i32: return f(TypeTag<std::int32_t>{});
    case DType::i64: return f(TypeTag<std::int64_t>{});
    case DType::u8: return f(TypeTag<std::uint8_t>{});
  }
  throw_check_failure(__FILE__, __LINE__, "dispatch_dtype",
                      cat("unknown DType value ", static_cast<int>(t)));
}

// ---------------------------------------------------------------------------------------------
// Argument checks shared by all backends.
// ---------------------------------------------------------------------------------------------

namespace detail {

inline void check_count(std::int64_t n, const void* p, const char* what) {
  MERIDIAN_CHECK(n >= 0, what, ": negative element count ", n);
  MERIDIAN_CHECK(n == 0 || p != nullptr, what, ": null pointer with ", n, " elements");
}

// One GEMM (row-major): op(A) is m x k, op(B) is k x n, C is m x n.
inline void check_gemm(const char* what, Trans ta, Trans tb, std::int64_t m, std::int64_t n,
                       std::int64_t k, const void* a, std::int64_t lda, const void* b,
                       std::int64_t ldb, const void* c, std::int64_t ldc) {
  MERIDIAN_CHECK(m >= 0 && n >= 0 && k >= 0, what, ": negative dimension (m=", m, ", n=", n,
                 ", k=", k, ")");
  const std::int64_t a_row = ta == Trans::no ? k : m;  // stored row length of A
  const std::int64_t b_row = tb == Trans::no ? n : k;
  MERIDIAN_CHECK(lda >= a_row, what, ": lda=", lda, " is less than the stored row length ", a_row,
                 " of A");
  MERIDIAN_CHECK(ldb >= b_row, what, ": ldb=", ldb, " is less than the stored row length ", b_row,
                 " of B");
  MERIDIAN_CHECK(ldc >= n, what, ": ldc=", ldc, " is less than the row length n=", n, " of C");
  MERIDIAN_CHECK(m == 0 || n == 0 || c != nullptr, what, ": null C");
  MERIDIAN_CHECK(m == 0 || n == 0 || k == 0 || (a != nullptr && b != nullptr), what,
                 ": null A or B");
}

// Strided batch: A and B may be shared between batches (stride 0), C slices must not overlap.
// Two layouts of C are disjoint: one after another (stride_c >= the span of one C), or side by
// side within the rows (attention's heads: each C is n columns of rows ldc apart, the batches
// n or more columns apart, all inside one row of ldc).
inline void check_gemm_batch(const char* what, std::int64_t m, std::int64_t n, std::int64_t ldc,
                             std::int64_t batch, std::int64_t stride_a, std::int64_t stride_b,
                             std::int64_t stride_c) {
  MERIDIAN_CHECK(batch >= 0, what, ": negative batch ", batch);
  MERIDIAN_CHECK(stride_a >= 0 && stride_b >= 0, what, ": negative stride (stride_a=", stride_a,
                 ", stride_b=", stride_b, ")");
  const std::int64_t c_span = m == 0 || n == 0 ? 0 : (m - 1) * ldc + n;
  const bool stacked = stride_c >= c_span;
  const bool side_by_side = stride_c >= n && (batch - 1) * stride_c + n <= ldc;
  MERIDIAN_CHECK(batch <= 1 || stacked || side_by_side, what, ": stride_c=", stride_c,
                 " makes the C matrices of consecutive batches overlap (each spans ", c_span,
                 " elements of rows ldc=", ldc, " apart)");
}

}  // namespace detail

namespace reference {

// ---------------------------------------------------------------------------------------------
// Fill, copy, convert.
// ---------------------------------------------------------------------------------------------

// dst[0, n) = value converted to dtype by the rules above.
inline void fill(void* dst, DType dtype, std::int64_t n, double value) {
  detail::check_count(n, dst, "reference::fill");
  dispatch_dtype(dtype, [&]<class T>(TypeTag<T>) {
    const T v = convert_element<T>(value);
    T* d = static_cast<T*>(dst);
    for (std::int64_t i = 0; i < n; ++i) d[i] = v;
  });
}

inline void copy(void* dst, const void* src, std::int64_t bytes) {
  detail::check_count(bytes, dst, "reference::copy");
  detail::check_count(bytes, src, "reference::copy");
  if (bytes > 0) std::memcpy(dst, src, static_cast<std::size_t>(bytes));
}

// dst[i] = convert_element<dst type>(src[i]) for i in [0, n).
inline void convert(void* dst, DType dst_dtype, const void* src, DType src_dtype, std::int64_t n) {
  detail::check_count(n, dst, "reference::convert");
  detail::check_count(n, src, "reference::convert");
  dispatch_dtype(dst_dtype, [&]<class To>(TypeTag<To>) {
    dispatch_dtype(src_dtype, [&]<class From>(TypeTag<From>) {
      To* d = static_cast<To*>(dst);
      const From* s = static_cast<const From*>(src);
      for (std::int64_t i = 0; i < n; ++i) d[i] = convert_element<To>(s[i]);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Elementwise arithmetic (T = float or double; each result is one rounded operation, no FMA).
// ---------------------------------------------------------------------------------------------

template <class T>
void axpy(std::int64_t n, T alpha, const T* x, T* y) {  // y += alpha * x
  for (std::int64_t i = 0; i < n; ++i) {
    const T ax = alpha * x[i];
    y[i] = y[i] + ax;
  }
}

template <class T>
void scale(std::int64_t n, T alpha, T* x) {  // x *= alpha
  for (std::int64_t i = 0; i < n; ++i) x[i] = alpha * x[i];
}

template <class T>
void add(std::int64_t n, const T* a, const T* b, T* out) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

template <class T>
void mul(std::int64_t n, const T* a, const T* b, T* out) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = a[i] * b[i];
}

// ---------------------------------------------------------------------------------------------
// Reductions.
// ---------------------------------------------------------------------------------------------

// Sequential sum accumulated in double.
template <class T>
double sum(std::int64_t n, const T* x) {
  double s = 0.0;
  for (std::int64_t i = 0; i < n; ++i) s += static_cast<double>(x[i]);
  return s;
}

// Largest element; NaN if any element is NaN. n must be > 0.
template <class T>
T max(std::int64_t n, const T* x) {
  MERIDIAN_CHECK(n > 0, "reference::max of an empty range");
  T m = x[0];
  for (std::int64_t i = 0; i < n; ++i) {
    if (x[i] != x[i]) return x[i];
    if (x[i] > m) m = x[i];
  }
  return m;
}

// ---------------------------------------------------------------------------------------------
// Counter-based random fills: element i uses word / normal number `offset + i` of (seed, stream).
// ---------------------------------------------------------------------------------------------

// lo + (hi - lo) * u in float, u in [0, 1) with 24 bits; the result lies in [lo, hi] (hi only by
// rounding). Both roundings are explicit on the device so that nvcc cannot fuse them into an FMA:
// CPU and CUDA give the same bits.
MERIDIAN_HD float uniform_value(std::uint32_t word, float lo, float hi) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(lo, __fmul_rn(hi - lo, uniform_from_word(word)));
#else
  const float scaled = (hi - lo) * uniform_from_word(word);
  return lo + scaled;
#endif
}

// mean + stddev * z in float, unfused like uniform_value.
MERIDIAN_HD float normal_value(float z, float mean, float stddev) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(mean, __fmul_rn(stddev, z));
#else
  const float scaled = stddev * z;
  return mean + scaled;
#endif
}

inline void fill_uniform(float* x, std::int64_t n, std::uint64_t seed, std::uint64_t stream,
                         std::uint64_t offset, float lo, float hi) {
  for (std::int64_t i = 0; i < n; ++i) {
    x[i] = uniform_value(philox_word(seed, stream, offset + static_cast<std::uint64_t>(i)), lo, hi);
  }
}

inline void fill_normal(float* x, std::int64_t n, std::uint64_t seed, std::uint64_t stream,
                        std::uint64_t offset, float mean, float stddev) {
  for (std::int64_t i = 0; i < n; ++i) {
    x[i] = normal_value(normal_at(seed, stream, offset + static_cast<std::uint64_t>(i)), mean, stddev);
  }
}

// ---------------------------------------------------------------------------------------------
// GEMM, row-major: C = alpha * op(A) * op(B) + beta * C with op(A) m x k, op(B) k x n, C m x n.
// A is stored as m x k (ta == no) or k x m (ta == yes) with row stride lda; likewise B and ldb.
// Products are accumulated in double for any T (float, double, bf16, f16); the final value is
// converted to T by convert_element. beta == 0 means C is not read (NaN in C does not propagate),
// as in BLAS.
// ---------------------------------------------------------------------------------------------

template <class T>
double load_double(const T* p, std::int64_t i) {
  return static_cast<double>(widen(p[i]));
}

template <class T>
void gemm(Trans ta, Trans tb, std::int64_t m, std::int64_t n, std::int64_t k, double alpha,
          const T* a, std::int64_t lda, const T* b, std::int64_t ldb, double beta, T* c,
          std::int64_t ldc) {
  detail::check_gemm("reference::gemm", ta, tb, m, n, k, a, lda, b, ldb, c, ldc);
  for (std::int64_t i = 0; i < m; ++i) {
    for (std::int64_t j = 0; j < n; ++j) {
      double acc = 0.0;
      for (std::int64_t l = 0; l < k; ++l) {
        const double a_il = ta == Trans::no ? load_double(a, i * lda + l) : load_double(a, l * lda + i);
        const double b_lj = tb == Trans::no ? load_double(b, l * ldb + j) : load_double(b, j * ldb + l);
        acc += a_il * b_lj;
      }
      double out = alpha * acc;
      if (beta != 0.0) out += beta * load_double(c, i * ldc + j);
      c[i * ldc + j] = convert_element<T>(out);
    }
  }
}

// `batch` independent GEMMs; matrix p of A starts at a + p * stride_a (likewise B and C).
template <class T>
void gemm_strided_batched(Trans ta, Trans tb, std::int64_t m, std::int64_t n, std::int64_t k,
                          double alpha, const T* a, std::int64_t lda, const T* b, std::int64_t ldb,
                          double beta, T* c, std::int64_t ldc, std::int64_t batch,
                          std::int64_t stride_a, std::int64_t stride_b, std::int64_t stride_c) {
  detail::check_gemm_batch("reference::gemm_strided_batched", m, n, ldc, batch, stride_a, stride_b,
                           stride_c);
  for (std::int64_t p = 0; p < batch; ++p) {
    const T* a_p = a == nullptr ? a : a + p * stride_a;  // A, B may be null when k == 0
    const T* b_p = b == nullptr ? b : b + p * stride_b;
    T* c_p = c == nullptr ? c : c + p * stride_c;  // C may be null when m or n is 0
    gemm(ta, tb, m, n, k, alpha, a_p, lda, b_p, ldb, beta, c_p, ldc);
  }
}

}  // namespace reference
}  // namespace meridian::kernels
