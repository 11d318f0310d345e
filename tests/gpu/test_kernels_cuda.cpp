// Tests of the CUDA kernels (kernels/cuda) against kernels/reference: the same inputs as the CPU
// tests, flat device buffers of n elements and row-major matrices. Every device test skips with
// "no CUDA device: ..." where there is none; argument checks run everywhere (they precede CUDA calls).
#include <gtest/gtest.h>

#include <cuda_runtime_api.h>

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
#include "kernels/cuda/ops.hpp"
#include "kernels/reference/ops.hpp"

namespace {

using meridian::bf16;
using meridian::DType;
using meridian::kernels::Trans;
namespace ref = meridian::kernels::reference;
namespace cuda = meridian::kernels::cuda;
using namespace meridian::test;

const std::int64_t kSizes[] = {0, 1, 7, 1023, 100003, 3000017};

// Empty when a CUDA device is usable, else why not.
std::string why_no_cuda_device() {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    (void)cudaGetLastError();
    return meridian::cat("cudaGetDeviceCount failed: ", cudaGetErrorName(status), " (",
                         cudaGetErrorString(status), ")");
  }
  if (count == 0) return "cudaGetDeviceCount found 0 devices";
  return "";
}

// Every device test starts here (SetUp): it is skipped, with the reason, without a device.
class CudaKernels : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = why_no_cuda_device();
    if (!why.empty()) GTEST_SKIP() << "no CUDA device: " << why;
  }
};

// ---- helpers ---------------------------------------------------------------------------------

// n device elements plus kGuard guard elements; the guard holds a byte pattern that must survive.
template <class T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(std::int64_t n)
      : n_(n), p_(static_cast<T*>(cuda::device_alloc(static_cast<std::size_t>(n + kGuard) * sizeof(T)))) {
    std::vector<unsigned char> pattern(static_cast<std::size_t>(n + kGuard) * sizeof(T), 0xA5);
    cuda::memcpy_h2d(p_, pattern.data(), pattern.size());
  }
  explicit DeviceBuffer(const std::vector<T>& values) : DeviceBuffer(static_cast<std::int64_t>(values.size())) {
    cuda::memcpy_h2d(p_, values.data(), values.size() * sizeof(T));
  }
  ~DeviceBuffer() {
    try {
      cuda::device_free(p_);
    } catch (const meridian::Error&) {  // a failed test may leave the context broken
    }
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  T* data() { return p_; }
  std::vector<T> values() const {
    std::vector<T> v(static_cast<std::size_t>(n_));
    cuda::memcpy_d2h(v.data(), p_, v.size() * sizeof(T));
    return v;
  }
  bool guard_intact() const {
    std::vector<unsigned char> g(static_cast<std::size_t>(kGuard) * sizeof(T));
    cuda::memcpy_d2h(g.data(), p_ + n_, g.size());
    return std::all_of(g.begin(), g.end(), [](unsigned char c) { return c == 0xA5; });
  }

 private:
  std::int64_t n_;
  T* p_;
};

// ---- devices, memory, fill, copy, convert ----------------------------------------------------

TEST(CudaDevices, DeviceCountNeverThrows) {
  int count = -1;
  EXPECT_NO_THROW(count = cuda::device_count());
  EXPECT_GE(count, 0);
}

TEST_F(CudaKernels, DeviceCountAndMemcpyRoundTrip) {
  EXPECT_GE(cuda::device_count(), 1);
  EXPECT_EQ(cuda::device_alloc(0), nullptr);
  EXPECT_NO_THROW(cuda::device_free(nullptr));
  const std::vector<double> host = random_doubles(1023, 1);
  DeviceBuffer<double> a(host), b(1023);
  cuda::memcpy_d2d(b.data(), a.data(), host.size() * sizeof(double));
  cuda::synchronize();
  EXPECT_EQ(first_difference(b.values(), host), -1);
  EXPECT_TRUE(b.guard_intact());
}

TEST_F(CudaKernels, FillEveryDtypeMatchesReference) {
  for (const DType dtype : kAllDTypes) {
    const std::int64_t size = static_cast<std::int64_t>(meridian::dtype_size(dtype));
    for (const std::int64_t n : kSizes) {
      for (const double value : {-2.75, 1e10, 0.1, std::numeric_limits<double>::quiet_NaN()}) {
        SCOPED_TRACE(::testing::Message() << meridian::dtype_name(dtype) << " n=" << n << " value=" << value);
        DeviceBuffer<unsigned char> got(n * size);
        std::vector<unsigned char> want(static_cast<std::size_t>(n * size));
        cuda::fill(got.data(), dtype, n, value);
        ref::fill(want.data(), dtype, n, value);
        EXPECT_EQ(first_difference(got.values(), want), -1);
        EXPECT_TRUE(got.guard_intact());
      }
    }
  }
}

TEST_F(CudaKernels, CopyMatchesSource) {
  for (const std::int64_t bytes : {std::int64_t{0}, std::int64_t{1}, std::int64_t{7}, std::int64_t{100003}}) {
    std::vector<unsigned char> src(static_cast<std::size_t>(bytes));
    for (std::size_t i = 0; i < src.size(); ++i) src[i] = static_cast<unsigned char>((i * 2654435761u) >> 13);
    DeviceBuffer<unsigned char> d_src(src), d_dst(bytes);
    cuda::copy(d_dst.data(), d_src.data(), bytes);
    EXPECT_EQ(first_difference(d_dst.values(), src), -1) << "bytes=" << bytes;
    EXPECT_TRUE(d_dst.guard_intact());
  }
}

TEST_F(CudaKernels, ConvertEveryPairMatchesReference) {
  const std::vector<double> values = conversion_sources(100003);
  const std::int64_t n = static_cast<std::int64_t>(values.size());
  for (const DType from : kAllDTypes) {
    std::vector<unsigned char> src(static_cast<std::size_t>(n) * meridian::dtype_size(from));
    ref::convert(src.data(), from, values.data(), DType::f64, n);
    DeviceBuffer<unsigned char> d_src(src);
    for (const DType to : kAllDTypes) {
      SCOPED_TRACE(::testing::Message() << meridian::dtype_name(from) << " -> " << meridian::dtype_name(to));
      const std::int64_t out_bytes = n * static_cast<std::int64_t>(meridian::dtype_size(to));
      DeviceBuffer<unsigned char> got(out_bytes);
      std::vector<unsigned char> want(static_cast<std::size_t>(out_bytes));
      cuda::convert(got.data(), to, d_src.data(), from, n);
      ref::convert(want.data(), to, src.data(), from, n);
      EXPECT_EQ(first_difference(got.values(), want), -1);
      EXPECT_TRUE(got.guard_intact());
    }
  }
}

// ---- elementwise -----------------------------------------------------------------------------

template <class T>
void check_elementwise() {
  const T alpha = static_cast<T>(-1.375);
  for (const std::int64_t n : kSizes) {
    SCOPED_TRACE(::testing::Message() << "n=" << n);
    const std::vector<T> x = random_values<T>(n, 1), y = random_values<T>(n, 2);
    DeviceBuffer<T> dx(x), dy(y), sum_out(n), prod_out(n);

    std::vector<T> want = y;
    cuda::axpy(n, alpha, dx.data(), dy.data());
    ref::axpy(n, alpha, x.data(), want.data());
    EXPECT_EQ(first_difference(dy.values(), want), -1) << "axpy (must be unfused, as on the CPU)";
    EXPECT_TRUE(dy.guard_intact());

    DeviceBuffer<T> scaled(x);
    want = x;
    cuda::scale(n, alpha, scaled.data());
    ref::scale(n, alpha, want.data());
    EXPECT_EQ(first_difference(scaled.values(), want), -1) << "scale";
    EXPECT_TRUE(scaled.guard_intact());

    DeviceBuffer<T> dy0(y);
    std::vector<T> want_sum(static_cast<std::size_t>(n)), want_prod(static_cast<std::size_t>(n));
    ref::add(n, x.data(), y.data(), want_sum.data());
    ref::mul(n, x.data(), y.data(), want_prod.data());
    cuda::add(n, dx.data(), dy0.data(), sum_out.data());
    cuda::mul(n, dx.data(), dy0.data(), prod_out.data());
    EXPECT_EQ(first_difference(sum_out.values(), want_sum), -1) << "add";
    EXPECT_EQ(first_difference(prod_out.values(), want_prod), -1) << "mul";
    EXPECT_TRUE(sum_out.guard_intact() && prod_out.guard_intact());

    // In place: out is b.
    cuda::mul(n, dx.data(), dy0.data(), dy0.data());
    EXPECT_EQ(first_difference(dy0.values(), want_prod), -1) << "mul into b";
  }
}

TEST_F(CudaKernels, ElementwiseFloatMatchesReference) { check_elementwise<float>(); }
TEST_F(CudaKernels, ElementwiseDoubleMatchesReference) { check_elementwise<double>(); }

// ---- reductions ------------------------------------------------------------------------------

template <class T>
void check_reductions() {
  const T nan = std::numeric_limits<T>::quiet_NaN();
  for (const std::int64_t n : kSizes) {
    SCOPED_TRACE(::testing::Message() << "n=" << n);
    const std::vector<T> x = random_values<T>(n, 3);
    DeviceBuffer<T> dx(x);
    double abs_sum = 0.0;
    for (const T v : x) abs_sum += std::abs(static_cast<double>(v));
    const double bound = static_cast<double>(n) * std::numeric_limits<double>::epsilon() * abs_sum;
    const double got = cuda::sum(n, dx.data());
    EXPECT_LE(std::abs(got - ref::sum(n, x.data())), bound);
    EXPECT_EQ(cuda::sum(n, dx.data()), got) << "not deterministic";
    if (n == 0) continue;
    EXPECT_EQ(cuda::max(n, dx.data()), ref::max(n, x.data()));
    std::vector<T> tail = x;
    tail.back() = static_cast<T>(5);
    DeviceBuffer<T> d_tail(tail);
    EXPECT_EQ(cuda::max(n, d_tail.data()), static_cast<T>(5));
    for (const std::int64_t at : {std::int64_t{0}, n / 2, n - 1}) {
      std::vector<T> with_nan = x;
      with_nan[static_cast<std::size_t>(at)] = nan;
      DeviceBuffer<T> d_nan(with_nan);
      EXPECT_TRUE(std::isnan(cuda::max(n, d_nan.data()))) << "NaN at " << at;
    }
  }
  // Integers sum exactly.
  std::vector<T> ints(100003);
  for (std::size_t i = 0; i < ints.size(); ++i) ints[i] = static_cast<T>(static_cast<int>(i % 201) - 100);
  DeviceBuffer<T> d_ints(ints);
  EXPECT_EQ(cuda::sum(100003, d_ints.data()), ref::sum(100003, ints.data()));
}

TEST_F(CudaKernels, ReductionsFloatMatchReference) { check_reductions<float>(); }
TEST_F(CudaKernels, ReductionsDoubleMatchReference) { check_reductions<double>(); }

// ---- random fills ----------------------------------------------------------------------------

TEST_F(CudaKernels, FillUniformIsBitIdenticalToCpu) {
  for (const std::int64_t n : kSizes) {
    for (const std::uint64_t offset : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{3}, std::uint64_t{5},
                                       (std::uint64_t{1} << 34) + 3}) {
      SCOPED_TRACE(::testing::Message() << "n=" << n << " offset=" << offset);
      DeviceBuffer<float> got(n);
      std::vector<float> want(static_cast<std::size_t>(n));
      cuda::fill_uniform(got.data(), n, kSeed, 9, offset, -2.f, 3.f);
      ref::fill_uniform(want.data(), n, kSeed, 9, offset, -2.f, 3.f);
      EXPECT_EQ(first_difference(got.values(), want), -1);
      EXPECT_TRUE(got.guard_intact());
    }
  }
}

TEST_F(CudaKernels, FillNormalMatchesCpuWithinUlps) {
  const float mean = 1.5f, stddev = 2.f;
  for (const std::int64_t n : kSizes) {
    SCOPED_TRACE(::testing::Message() << "n=" << n);
    DeviceBuffer<float> got(n);
    std::vector<float> want(static_cast<std::size_t>(n));
    cuda::fill_normal(got.data(), n, kSeed, 13, 7, mean, stddev);
    ref::fill_normal(want.data(), n, kSeed, 13, 7, mean, stddev);
    const std::vector<float> g = got.values();
    std::int64_t far = 0;
    for (std::size_t i = 0; i < g.size(); ++i) {
      const double scale_of_terms = std::abs(mean) + std::abs(stddev * want[i]);
      if (!(std::abs(g[i] - want[i]) <= 4.0 * std::numeric_limits<float>::epsilon() * scale_of_terms)) ++far;
    }
    EXPECT_EQ(far, 0);
    EXPECT_TRUE(got.guard_intact());
  }
}

TEST_F(CudaKernels, KernelsRunOnAStream) {
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  const std::int64_t n = 100003;
  DeviceBuffer<float> x(n);
  cuda::fill_uniform(x.data(), n, kSeed, 5, 0, -1.f, 1.f, stream);
  cuda::scale(n, 2.f, x.data(), stream);
  std::vector<float> want(static_cast<std::size_t>(n));
  ref::fill_uniform(want.data(), n, kSeed, 5, 0, -1.f, 1.f);
  ref::scale(n, 2.f, want.data());
  EXPECT_LE(std::abs(cuda::sum(n, x.data(), stream) - ref::sum(n, want.data())), 1e-9 * n);
  std::vector<float> got(static_cast<std::size_t>(n));
  cuda::memcpy_d2h(got.data(), x.data(), got.size() * sizeof(float), stream);
  EXPECT_EQ(first_difference(got, want), -1);
  EXPECT_EQ(cudaStreamDestroy(stream), cudaSuccess);
}

// ---- GEMM ------------------------------------------------------------------------------------

template <class T>
void check_gemm_all_transposes() {
  const Trans both[] = {Trans::no, Trans::yes};
  const std::int64_t dims[][3] = {{37, 29, 53}, {1, 1, 1}, {130, 67, 300}, {5, 64, 1}, {256, 192, 512}};
  const T alpha = static_cast<T>(-1.5), beta = static_cast<T>(0.75);
  for (const Trans ta : both) {
    for (const Trans tb : both) {
      for (const auto& d : dims) {
        const GemmShape s = padded_shape(ta, tb, d[0], d[1], d[2]);
        SCOPED_TRACE(shape_name(s));
        const std::vector<T> a = random_values<T>(s.a_rows() * s.lda, 30);
        const std::vector<T> b = random_values<T>(s.b_rows() * s.ldb, 31);
        const std::vector<T> c0 = random_values<T>(s.m * s.ldc, 32);
        DeviceBuffer<T> da(a), db(b), dc(c0);
        cuda::gemm(ta, tb, s.m, s.n, s.k, alpha, da.data(), s.lda, db.data(), s.ldb, beta, dc.data(), s.ldc);
        EXPECT_EQ(gemm_violations(s, alpha, a, b, beta, c0, dc.values(), std::numeric_limits<T>::epsilon(), 0.0), 0);
        EXPECT_TRUE(dc.guard_intact());
      }
    }
  }
}

TEST_F(CudaKernels, GemmFloatAllTransposesMatchReference) { check_gemm_all_transposes<float>(); }
TEST_F(CudaKernels, GemmDoubleAllTransposesMatchReference) { check_gemm_all_transposes<double>(); }

TEST_F(CudaKernels, GemmDegenerateShapes) {
  const GemmShape s = padded_shape(Trans::no, Trans::yes, 9, 11, 13);
  const std::vector<float> a = random_floats(s.a_rows() * s.lda, 40), b = random_floats(s.b_rows() * s.ldb, 41);
  const std::vector<float> c0 = random_floats(s.m * s.ldc, 42);
  // beta = 0 overwrites a C full of NaN.
  const std::vector<float> nan_c(c0.size(), std::numeric_limits<float>::quiet_NaN());
  DeviceBuffer<float> da(a), db(b), dc(nan_c);
  cuda::gemm(s.ta, s.tb, s.m, s.n, s.k, 2.f, da.data(), s.lda, db.data(), s.ldb, 0.f, dc.data(), s.ldc);
  EXPECT_EQ(gemm_violations(s, 2.0, a, b, 0.0, nan_c, dc.values(), std::numeric_limits<float>::epsilon(), 0.0), 0);
  // k = 0: C = beta C.
  DeviceBuffer<float> dk(c0);
  cuda::gemm(Trans::no, Trans::no, s.m, s.n, 0, 1.f, nullptr, 0, nullptr, s.n, 0.5f, dk.data(), s.ldc);
  const std::vector<float> ck = dk.values();
  for (std::int64_t i = 0; i < s.m; ++i) {
    for (std::int64_t j = 0; j < s.n; ++j) {
      const std::size_t at = static_cast<std::size_t>(i * s.ldc + j);
      EXPECT_EQ(ck[at], 0.5f * c0[at]);
    }
  }
}

TEST_F(CudaKernels, GemmStridedBatchedMatchesReference) {
  const Trans both[] = {Trans::no, Trans::yes};
  const std::int64_t batch = 3;
  for (const Trans ta : both) {
    for (const Trans tb : both) {
      const GemmShape s = padded_shape(ta, tb, 21, 17, 19);
      const std::int64_t stride_a = s.a_rows() * s.lda + 7;
      const std::int64_t stride_c = s.m * s.ldc + 4;
      for (const std::int64_t stride_b : {s.b_rows() * s.ldb + 9, std::int64_t{0}}) {
        SCOPED_TRACE(shape_name(s) + meridian::cat(" stride_b=", stride_b));
        const std::vector<float> a = random_floats(batch * stride_a, 50);
        const std::vector<float> b = random_floats(stride_b == 0 ? s.b_rows() * s.ldb : batch * stride_b, 51);
        const std::vector<float> c0 = random_floats(batch * stride_c, 52);
        DeviceBuffer<float> da(a), db(b), dc(c0);
        cuda::gemm_strided_batched(ta, tb, s.m, s.n, s.k, 0.5f, da.data(), s.lda, db.data(), s.ldb, -2.f,
                                   dc.data(), s.ldc, batch, stride_a, stride_b, stride_c);
        const std::vector<float> c = dc.values();
        const std::int64_t c_len = s.m * s.ldc;
        for (std::int64_t p = 0; p < batch; ++p) {
          EXPECT_EQ(gemm_violations(s, 0.5, subvector(a, p * stride_a, s.a_rows() * s.lda),
                                    subvector(b, p * stride_b, s.b_rows() * s.ldb), -2.0,
                                    subvector(c0, p * stride_c, c_len), subvector(c, p * stride_c, c_len),
                                    std::numeric_limits<float>::epsilon(), 0.0),
                    0)
              << "batch " << p;
          EXPECT_EQ(first_difference(subvector(c, p * stride_c + c_len, stride_c - c_len),
                                     subvector(c0, p * stride_c + c_len, stride_c - c_len)),
                    -1);
        }
      }
    }
  }
}

std::vector<bf16> random_bf16(std::int64_t n, std::uint64_t stream) {
  const std::vector<float> f = random_floats(n, stream);
  std::vector<bf16> v(f.size());
  for (std::size_t i = 0; i < f.size(); ++i) v[i] = meridian::float_to_bf16(f[i]);
  return v;
}

TEST_F(CudaKernels, GemmBf16MatchesReference) {
  const Trans both[] = {Trans::no, Trans::yes};
  // fp32 accumulation, then one bf16 rounding of the result (half an ulp: 2^-9 relative; 2^-8 allows
  // for the fp32 value sitting next to a tie).
  const double eps32 = std::numeric_limits<float>::epsilon(), out_round = 0x1p-8;
  for (const Trans ta : both) {
    for (const Trans tb : both) {
      const GemmShape s = padded_shape(ta, tb, 67, 45, 129);
      SCOPED_TRACE(shape_name(s));
      const std::vector<bf16> a = random_bf16(s.a_rows() * s.lda, 70), b = random_bf16(s.b_rows() * s.ldb, 71);
      const std::vector<bf16> c0 = random_bf16(s.m * s.ldc, 72);
      DeviceBuffer<bf16> da(a), db(b), dc(c0);
      cuda::gemm_bf16(ta, tb, s.m, s.n, s.k, 1.25f, da.data(), s.lda, db.data(), s.ldb, -0.5f, dc.data(), s.ldc);
      EXPECT_EQ(gemm_violations(s, 1.25, a, b, -0.5, c0, dc.values(), eps32, out_round), 0);

      const std::int64_t batch = 2;
      const std::int64_t stride_a = s.a_rows() * s.lda + 1, stride_b = s.b_rows() * s.ldb + 2;
      const std::int64_t stride_c = s.m * s.ldc + 3;
      const std::vector<bf16> ab = random_bf16(batch * stride_a, 73), bb = random_bf16(batch * stride_b, 74);
      const std::vector<bf16> cb0 = random_bf16(batch * stride_c, 75);
      DeviceBuffer<bf16> dab(ab), dbb(bb), dcb(cb0);
      cuda::gemm_bf16_strided_batched(ta, tb, s.m, s.n, s.k, 1.f, dab.data(), s.lda, dbb.data(), s.ldb, 1.f,
                                      dcb.data(), s.ldc, batch, stride_a, stride_b, stride_c);
      const std::vector<bf16> cb = dcb.values();
      for (std::int64_t p = 0; p < batch; ++p) {
        EXPECT_EQ(gemm_violations(s, 1.0, subvector(ab, p * stride_a, s.a_rows() * s.lda),
                                  subvector(bb, p * stride_b, s.b_rows() * s.ldb), 1.0,
                                  subvector(cb0, p * stride_c, s.m * s.ldc),
                                  subvector(cb, p * stride_c, s.m * s.ldc), eps32, out_round),
                  0)
            << "batch " << p;
      }
    }
  }
}

// fp32 operands rounded to bf16 on the device: the exact product of the rounded operands up to fp32
// accumulation error, like cpu::gemm_bf16_inputs, and far from the unrounded product. The batched
// form with a shared B (stride 0) and strided views with gaps, as attention uses it.
TEST_F(CudaKernels, GemmBf16InputsIsTheProductOfTheRoundedOperands) {
  const Trans both[] = {Trans::no, Trans::yes};
  const auto rounded = [](std::vector<float> v) {
    for (float& x : v) x = meridian::round_to_bf16(x);
    return v;
  };
  const double eps32 = std::numeric_limits<float>::epsilon();
  for (const Trans ta : both) {
    for (const Trans tb : both) {
      const GemmShape s = padded_shape(ta, tb, 67, 45, 129);
      SCOPED_TRACE(shape_name(s));
      const std::vector<float> a = random_floats(s.a_rows() * s.lda, 80), b = random_floats(s.b_rows() * s.ldb, 81);
      const std::vector<float> c0 = random_floats(s.m * s.ldc, 82);
      DeviceBuffer<float> da(a), db(b), dc(c0);
      cuda::gemm_bf16_inputs(ta, tb, s.m, s.n, s.k, 1.25f, da.data(), s.lda, db.data(), s.ldb, -0.5f, dc.data(),
                             s.ldc);
      EXPECT_EQ(gemm_violations(s, 1.25, rounded(a), rounded(b), -0.5, c0, dc.values(), eps32, 0.0), 0);
      EXPECT_GT(gemm_violations(s, 1.25, a, b, -0.5, c0, dc.values(), eps32, 0.0), s.m * s.n / 2);
      EXPECT_TRUE(dc.guard_intact());

      const std::int64_t batch = 3;
      const std::int64_t stride_a = s.a_rows() * s.lda + 5, stride_c = s.m * s.ldc + 3;
      const std::vector<float> ab = random_floats(batch * stride_a, 83), bb = random_floats(s.b_rows() * s.ldb, 84);
      const std::vector<float> cb0 = random_floats(batch * stride_c, 85);
      DeviceBuffer<float> dab(ab), dbb(bb), dcb(cb0);
      cuda::gemm_strided_batched(meridian::MatmulPrecision::bf16, ta, tb, s.m, s.n, s.k, 0.5f, dab.data(), s.lda,
                                 dbb.data(), s.ldb, 1.f, dcb.data(), s.ldc, batch, stride_a, 0, stride_c);
      const std::vector<float> cb = dcb.values();
      for (std::int64_t p = 0; p < batch; ++p) {
        EXPECT_EQ(gemm_violations(s, 0.5, rounded(subvector(ab, p * stride_a, s.a_rows() * s.lda)), rounded(bb), 1.0,
                                  subvector(cb0, p * stride_c, s.m * s.ldc), subvector(cb, p * stride_c, s.m * s.ldc),
                                  eps32, 0.0),
                  0)
            << "batch " << p;
        EXPECT_EQ(first_difference(subvector(cb, p * stride_c + s.m * s.ldc, stride_c - s.m * s.ldc),
                                   subvector(cb0, p * stride_c + s.m * s.ldc, stride_c - s.m * s.ldc)),
                  -1);
      }
    }
  }
  // k = 0 (no operands): C = beta C.
  const GemmShape s = padded_shape(Trans::no, Trans::no, 9, 11, 13);
  const std::vector<float> c0 = random_floats(s.m * s.ldc, 86);
  DeviceBuffer<float> dk(c0);
  cuda::gemm_bf16_inputs(Trans::no, Trans::no, s.m, s.n, 0, 1.f, nullptr, 0, nullptr, s.n, 0.5f, dk.data(), s.ldc);
  const std::vector<float> ck = dk.values();
  for (std::int64_t i = 0; i < s.m; ++i)
    for (std::int64_t j = 0; j < s.n; ++j)
      EXPECT_EQ(ck[static_cast<std::size_t>(i * s.ldc + j)], 0.5f * c0[static_cast<std::size_t>(i * s.ldc + j)]);
}

// ---- argument errors: checked on the host before any CUDA call, so these run without a device --

TEST(CudaArguments, ErrorsThrowBeforeTouchingTheDevice) {
  float* const fake = reinterpret_cast<float*>(std::uintptr_t{0x1000});  // never dereferenced
  EXPECT_THROW(cuda::axpy(-1, 1.f, fake, fake), meridian::Error);
  EXPECT_THROW(cuda::axpy(4, 1.f, nullptr, fake), meridian::Error);
  EXPECT_THROW(cuda::scale(-3, 1.f, fake), meridian::Error);
  EXPECT_THROW(cuda::add(4, fake, fake, nullptr), meridian::Error);
  EXPECT_THROW(cuda::sum(-1, static_cast<const float*>(fake)), meridian::Error);
  EXPECT_THROW(cuda::max(0, static_cast<const float*>(fake)), meridian::Error);
  EXPECT_THROW(cuda::fill(nullptr, DType::f32, 4, 1.0), meridian::Error);
  EXPECT_THROW(cuda::fill(fake, static_cast<DType>(99), 4, 1.0), meridian::Error);
  EXPECT_THROW(cuda::convert(fake, DType::f32, fake, static_cast<DType>(42), 4), meridian::Error);
  EXPECT_THROW(cuda::copy(fake, fake, -1), meridian::Error);
  EXPECT_THROW(cuda::fill_uniform(fake, -1, 1, 2, 3, 0.f, 1.f), meridian::Error);
  EXPECT_THROW(cuda::fill_normal(nullptr, 4, 1, 2, 3, 0.f, 1.f), meridian::Error);
  EXPECT_THROW(cuda::gemm(Trans::no, Trans::no, -1, 2, 3, 1.f, fake, 3, fake, 2, 0.f, fake, 2), meridian::Error);
  EXPECT_THROW(cuda::gemm(Trans::no, Trans::no, 2, 2, 3, 1.f, fake, 2, fake, 2, 0.f, fake, 2), meridian::Error);
  EXPECT_THROW(cuda::gemm(Trans::yes, Trans::no, 3, 2, 2, 1.f, fake, 2, fake, 2, 0.f, fake, 2), meridian::Error);
  EXPECT_THROW(cuda::gemm(Trans::no, Trans::yes, 2, 2, 3, 1.f, fake, 3, fake, 2, 0.f, fake, 2), meridian::Error);
  EXPECT_THROW(cuda::gemm(Trans::no, Trans::no, 2, 3, 1, 1.f, fake, 1, fake, 3, 0.f, fake, 2), meridian::Error);
  EXPECT_THROW(cuda::gemm(Trans::no, Trans::no, std::int64_t{1} << 32, 1, 1, 1.f, fake, 1, fake, 1, 0.f, fake, 1),
               meridian::Error);  // beyond cuBLAS's int
  auto* const fake16 = reinterpret_cast<bf16*>(fake);
  EXPECT_THROW(cuda::gemm_bf16(Trans::no, Trans::no, 2, 2, 3, 1.f, fake16, 2, fake16, 2, 0.f, fake16, 2),
               meridian::Error);
  EXPECT_THROW(cuda::gemm_strided_batched(Trans::no, Trans::no, 1, 2, 1, 1.f, fake, 1, fake, 2, 0.f, fake, 2, 2, 1,
                                          2, 1),
               meridian::Error);  // C matrices overlap
  EXPECT_THROW(cuda::gemm_bf16_strided_batched(Trans::no, Trans::no, 1, 2, 1, 1.f, fake16, 1, fake16, 2, 0.f, fake16,
                                               2, -1, 1, 2, 2),
               meridian::Error);
  // Empty work needs no device either.
  EXPECT_NO_THROW(cuda::axpy(0, 1.f, nullptr, nullptr));
  EXPECT_EQ(cuda::sum(0, static_cast<const float*>(nullptr)), 0.0);
}

}  // namespace
