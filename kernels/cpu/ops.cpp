// CPU elementwise kernels, reductions and random fills on the Kokkos host execution space (OpenMP).
// Flat arrays of n elements; every kernel is named "meridian::cpu::<op>" for profiling tools.
// Element semantics are those of kernels/reference/ops.hpp (the tests compare against it).
#include <Kokkos_Core.hpp>

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/cpu/ops.hpp"

namespace meridian::kernels::cpu {
namespace {

using HostSpace = Kokkos::DefaultHostExecutionSpace;
using Range = Kokkos::RangePolicy<HostSpace, Kokkos::IndexType<std::int64_t>>;

// Elements per chunk of a reduction. Sums: partial sums are taken per chunk and added in chunk
// order, so the result is the same for any thread count.
constexpr std::int64_t kReduceChunk = 4096;
// Bytes per task of a parallel copy; smaller copies are one memcpy.
constexpr std::int64_t kCopyChunkBytes = std::int64_t{1} << 20;

void require_kokkos(const char* what) {
  MERIDIAN_CHECK(Kokkos::is_initialized(), what,
                 ": Kokkos is not initialized (lib/core's Runtime or the test main must call "
                 "Kokkos::initialize before any cpu kernel runs)");
}

void check_count(std::int64_t n, const void* p, const char* what) {
  detail::check_count(n, p, what);
  require_kokkos(what);
}

template <class T>
void axpy_impl(std::int64_t n, T alpha, const T* x, T* y) {
  check_count(n, x, "cpu::axpy");
  check_count(n, y, "cpu::axpy");
  Kokkos::parallel_for("meridian::cpu::axpy", Range(0, n), [=](const std::int64_t i) {
    const T ax = alpha * x[i];
    y[i] = y[i] + ax;
  });
}

template <class T>
void scale_impl(std::int64_t n, T alpha, T* x) {
  check_count(n, x, "cpu::scale");
  Kokkos::parallel_for("meridian::cpu::scale", Range(0, n),
                       [=](const std::int64_t i) { x[i] = alpha * x[i]; });
}

template <class T>
void add_impl(std::int64_t n, const T* a, const T* b, T* out) {
  check_count(n, a, "cpu::add");
  check_count(n, b, "cpu::add");
  check_count(n, out, "cpu::add");
  Kokkos::parallel_for("meridian::cpu::add", Range(0, n),
                       [=](const std::int64_t i) { out[i] = a[i] + b[i]; });
}

template <class T>
void mul_impl(std::int64_t n, const T* a, const T* b, T* out) {
  check_count(n, a, "cpu::mul");
  check_count(n, b, "cpu::mul");
  check_count(n, out, "cpu::mul");
  Kokkos::parallel_for("meridian::cpu::mul", Range(0, n),
                       [=](const std::int64_t i) { out[i] = a[i] * b[i]; });
}

// Sum of x[begin, end) in double with four interleaved accumulators (independent add chains).
template <class T>
double chunk_sum(const T* x, std::int64_t begin, std::int64_t end) {
  double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
  std::int64_t i = begin;
  for (; i + 4 <= end; i += 4) {
    s0 += static_cast<double>(x[i]);
    s1 += static_cast<double>(x[i + 1]);
    s2 += static_cast<double>(x[i + 2]);
    s3 += static_cast<double>(x[i + 3]);
  }
  for (; i < end; ++i) s0 += static_cast<double>(x[i]);
  return (s0 + s1) + (s2 + s3);
}

template <class T>
double sum_impl(std::int64_t n, const T* x) {
  check_count(n, x, "cpu::sum");
  const std::int64_t chunks = (n + kReduceChunk - 1) / kReduceChunk;
  if (chunks <= 1) return chunk_sum(x, 0, n);
  std::vector<double> partial(static_cast<std::size_t>(chunks));
  double* p = partial.data();
  Kokkos::parallel_for("meridian::cpu::sum", Range(0, chunks), [=](const std::int64_t c) {
    p[c] = chunk_sum(x, c * kReduceChunk, std::min(n, (c + 1) * kReduceChunk));
  });
  double total = 0.0;
  for (const double s : partial) total += s;
  return total;
}

// max(a, b) that returns NaN if either is NaN.
template <class T>
T nan_max(T a, T b) {
  return (a != a || a >= b) ? a : b;
}

// Kokkos reducer for a NaN-propagating maximum (Kokkos::Max drops NaN).
template <class T>
class NanMax {
 public:
  using reducer = NanMax<T>;
  using value_type = T;
  using result_view_type = Kokkos::View<value_type, Kokkos::HostSpace, Kokkos::MemoryUnmanaged>;

  explicit NanMax(value_type& result) : result_(&result) {}

  void join(value_type& dest, const value_type& src) const { dest = nan_max(dest, src); }
  void join(volatile value_type& dest, const volatile value_type& src) const {
    dest = nan_max(static_cast<T>(dest), static_cast<T>(src));
  }
  void init(value_type& v) const { v = -std::numeric_limits<T>::infinity(); }
  value_type& reference() const { return *result_.data(); }
  result_view_type view() const { return result_; }
  bool references_scalar() const { return true; }

 private:
  result_view_type result_;
};

// NaN-propagating maximum of x[begin, end). Eight independent lanes of `v > m ? v : m` (which
// skips NaN and vectorizes to max instructions) plus a count of NaNs seen.
template <class T>
T chunk_max(const T* x, std::int64_t begin, std::int64_t end) {
  constexpr int kLanes = 8;
  T lane[kLanes];
  std::int32_t nans[kLanes] = {};
  for (T& m : lane) m = -std::numeric_limits<T>::infinity();
  std::int64_t i = begin;
  for (; i + kLanes <= end; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) {
      const T v = x[i + j];
      lane[j] = v > lane[j] ? v : lane[j];
      nans[j] += v != v ? 1 : 0;
    }
  }
  for (; i < end; ++i) {
    lane[0] = x[i] > lane[0] ? x[i] : lane[0];
    nans[0] += x[i] != x[i] ? 1 : 0;
  }
  T m = lane[0];
  for (int j = 0; j < kLanes; ++j) {
    if (nans[j] != 0) return std::numeric_limits<T>::quiet_NaN();
    m = nan_max(m, lane[j]);
  }
  return m;
}

template <class T>
T max_impl(std::int64_t n, const T* x) {
  MERIDIAN_CHECK(n > 0, "cpu::max of an empty range (n=", n, ")");
  check_count(n, x, "cpu::max");
  const std::int64_t chunks = (n + kReduceChunk - 1) / kReduceChunk;
  T result{};  // written by parallel_reduce
  Kokkos::parallel_reduce(
      "meridian::cpu::max", Range(0, chunks),
      [=](const std::int64_t c, T& m) {
        m = nan_max(m, chunk_max(x, c * kReduceChunk, std::min(n, (c + 1) * kReduceChunk)));
      },
      NanMax<T>(result));
  return result;
}

}  // namespace

int num_threads() { return static_cast<int>(HostSpace().concurrency()); }

void fill(void* dst, DType dtype, std::int64_t n, double value) {
  check_count(n, dst, "cpu::fill");
  dispatch_dtype(dtype, [&]<class T>(TypeTag<T>) {
    const T v = convert_element<T>(value);
    T* d = static_cast<T*>(dst);
    Kokkos::parallel_for("meridian::cpu::fill", Range(0, n), [=](const std::int64_t i) { d[i] = v; });
  });
}

void copy(void* dst, const void* src, std::int64_t bytes) {
  check_count(bytes, dst, "cpu::copy");
  check_count(bytes, src, "cpu::copy");
  if (bytes == 0) return;
  const std::int64_t chunks = (bytes + kCopyChunkBytes - 1) / kCopyChunkBytes;
  if (chunks <= 2) {
    std::memcpy(dst, src, static_cast<std::size_t>(bytes));
    return;
  }
  char* d = static_cast<char*>(dst);
  const char* s = static_cast<const char*>(src);
  Kokkos::parallel_for("meridian::cpu::copy", Range(0, chunks), [=](const std::int64_t c) {
    const std::int64_t begin = c * kCopyChunkBytes;
    const std::int64_t len = std::min(bytes - begin, kCopyChunkBytes);
    std::memcpy(d + begin, s + begin, static_cast<std::size_t>(len));
  });
}

void convert(void* dst, DType dst_dtype, const void* src, DType src_dtype, std::int64_t n) {
  check_count(n, dst, "cpu::convert");
  check_count(n, src, "cpu::convert");
  dispatch_dtype(dst_dtype, [&]<class To>(TypeTag<To>) {
    dispatch_dtype(src_dtype, [&]<class From>(TypeTag<From>) {
      To* d = static_cast<To*>(dst);
      const From* s = static_cast<const From*>(src);
      Kokkos::parallel_for("meridian::cpu::convert", Range(0, n),
                           [=](const std::int64_t i) { d[i] = convert_element<To>(s[i]); });
    });
  });
}

void axpy(std::int64_t n, float alpha, const float* x, float* y) { axpy_impl(n, alpha, x, y); }
void axpy(std::int64_t n, double alpha, const double* x, double* y) { axpy_impl(n, alpha, x, y); }
void scale(std::int64_t n, float alpha, float* x) { scale_impl(n, alpha, x); }
void scale(std::int64_t n, double alpha, double* x) { scale_impl(n, alpha, x); }
void add(std::int64_t n, const float* a, const float* b, float* out) { add_impl(n, a, b, out); }
void add(std::int64_t n, const double* a, const double* b, double* out) { add_impl(n, a, b, out); }
void mul(std::int64_t n, const float* a, const float* b, float* out) { mul_impl(n, a, b, out); }
void mul(std::int64_t n, const double* a, const double* b, double* out) { mul_impl(n, a, b, out); }

double sum(std::int64_t n, const float* x) { return sum_impl(n, x); }
double sum(std::int64_t n, const double* x) { return sum_impl(n, x); }
float max(std::int64_t n, const float* x) { return max_impl(n, x); }
double max(std::int64_t n, const double* x) { return max_impl(n, x); }

void fill_uniform(float* x, std::int64_t n, std::uint64_t seed, std::uint64_t stream,
                  std::uint64_t offset, float lo, float hi) {
  check_count(n, x, "cpu::fill_uniform");
  if (n == 0) return;
  // One Philox block gives four consecutive words: run over the blocks that cover
  // [offset, offset + n) and keep the words inside it.
  const std::uint64_t end = offset + static_cast<std::uint64_t>(n);
  const std::uint64_t first_block = offset >> 2;
  const std::uint64_t blocks = ((end - 1) >> 2) - first_block + 1;
  Kokkos::parallel_for(
      "meridian::cpu::fill_uniform", Range(0, static_cast<std::int64_t>(blocks)),
      [=](const std::int64_t b) {
        const std::uint64_t block = first_block + static_cast<std::uint64_t>(b);
        const Philox4 words = philox_block(seed, stream, block);
        const std::uint64_t w0 = block * 4;
        if (w0 >= offset && w0 + 4 <= end) {  // interior block: four unconditional stores
          float* out = x + (w0 - offset);
          for (unsigned j = 0; j < 4; ++j) out[j] = reference::uniform_value(words.v[j], lo, hi);
          return;
        }
        for (unsigned j = 0; j < 4; ++j) {  // first or last block: keep the words inside the range
          const std::uint64_t w = w0 + j;
          if (w >= offset && w < end) x[w - offset] = reference::uniform_value(words.v[j], lo, hi);
        }
      });
}

void fill_normal(float* x, std::int64_t n, std::uint64_t seed, std::uint64_t stream,
                 std::uint64_t offset, float mean, float stddev) {
  check_count(n, x, "cpu::fill_normal");
  Kokkos::parallel_for("meridian::cpu::fill_normal", Range(0, n), [=](const std::int64_t i) {
    const float z = normal_at(seed, stream, offset + static_cast<std::uint64_t>(i));
    x[i] = reference::normal_value(z, mean, stddev);
  });
}

}  // namespace meridian::kernels::cpu
