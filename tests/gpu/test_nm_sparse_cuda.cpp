// Tests of the CUDA N:M SpMM (kernels/cuda/nm_sparse.hpp) against kernels/reference/nm_sparse.hpp.
// Row-major: A (rows x k, row stride k + 3 with NaN past k), C (rows x cols, row stride cols + 2),
// values (kept_rows x cols), index (kept_rows x col_vectors); mixed-sign fixed-seed data, error
// bounds scaled by the number of terms and their magnitudes. The dispatcher, cache-file and
// argument tests need no device and run everywhere; the others skip with a message without one.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <limits>
#include <string>
#include <vector>

#include "common/kernel_test_data.hpp"
#include "kernels/common/dtype.hpp"
#include "kernels/common/error.hpp"
#include "kernels/common/nm_layout.hpp"
#include "kernels/cuda/nm_sparse.hpp"
#include "kernels/cuda/ops.hpp"
#include "kernels/reference/nm_sparse.hpp"

namespace meridian::kernels::cuda {
// How gtest prints a configuration in failure messages.
void PrintTo(const NmSpmmConfig& c, std::ostream* os) { *os << nm_spmm_config_string(c); }
}  // namespace meridian::kernels::cuda

namespace {

using meridian::NMLayout;
namespace ref = meridian::kernels::reference;
namespace cuda = meridian::kernels::cuda;
using cuda::NmSpmmConfig;
using cuda::NmSpmmPath;
using cuda::NmSpmmType;
using namespace meridian::test;

constexpr int kSms = 132;  // an H100's multiprocessors, for the host-only heuristic tests
constexpr float kEps = std::numeric_limits<float>::epsilon();
constexpr int kMaxTile = 8;  // tiles are tried 0..kMaxTile-1; the invalid ones are skipped

std::string name(const NMLayout& l) { return meridian::cat(l.n, ":", l.m, ":", l.v, " k=", l.k, " cols=", l.cols); }

const char* type_name(NmSpmmType t) { return t == NmSpmmType::f32 ? "f32" : "bf16"; }

bool valid(std::int64_t rows, const NMLayout& l, NmSpmmType type, const NmSpmmConfig& c) {
  return cuda::nm_spmm_config_problem(rows, l, type, c).empty();
}

// ---- host-only: heuristic, candidates, names, cache file, argument errors ----------------------

TEST(NmSpmmDispatch, HeuristicPicksAreValidAndSane) {
  const std::int64_t rows_list[] = {1, 7, 16, 17, 33, 100, 256, 1024, 4096};
  const NMLayout layouts[] = {{4096, 4096, 16, 32, 32}, {4096, 4096, 12, 32, 32}, {4096, 4096, 8, 32, 32},
                              {4096, 4096, 4, 32, 32},  {2048, 5632, 2, 4, 1},     {11008, 4096, 8, 32, 64},
                              {300, 77, 9, 64, 4},      {100, 50, 3, 8, 128},      {0, 64, 1, 4, 1}};
  for (const NmSpmmType type : {NmSpmmType::f32, NmSpmmType::bf16})
    for (const NMLayout& l : layouts)
      for (const std::int64_t rows : rows_list) {
        SCOPED_TRACE(meridian::cat(type_name(type), " rows=", rows, " ", name(l)));
        const NmSpmmConfig pick = cuda::nm_spmm_heuristic(rows, l, type, kSms);
        EXPECT_EQ(cuda::nm_spmm_config_problem(rows, l, type, pick), "");
        const NmSpmmPath want = rows <= 16                ? NmSpmmPath::decode
                                : type == NmSpmmType::f32 ? NmSpmmPath::tiled
                                : l.v >= 32               ? NmSpmmPath::tensor_core
                                                          : NmSpmmPath::widened;
        EXPECT_EQ(pick.path, want);
        const std::vector<NmSpmmConfig> candidates = cuda::nm_spmm_candidates(rows, l, type, kSms);
        ASSERT_FALSE(candidates.empty());
        EXPECT_EQ(candidates.front(), pick);
        for (const NmSpmmConfig& c : candidates) EXPECT_TRUE(valid(rows, l, type, c)) << cuda::nm_spmm_config_string(c);
      }
  // Large shapes: the largest tile and no split; few output tiles over a long k: split-k.
  const NmSpmmConfig big = cuda::nm_spmm_heuristic(4096, NMLayout{4096, 4096, 8, 32, 32}, NmSpmmType::f32, kSms);
  EXPECT_EQ(big, (NmSpmmConfig{NmSpmmPath::tiled, 0, 1}));
  const NmSpmmConfig thin = cuda::nm_spmm_heuristic(64, NMLayout{16384, 512, 8, 32, 32}, NmSpmmType::f32, kSms);
  EXPECT_EQ(thin.path, NmSpmmPath::tiled);
  EXPECT_GT(thin.split_k, 1);
  // m = 64 needs the 64-row chunks of the last fp32 tile.
  const NmSpmmConfig m64 = cuda::nm_spmm_heuristic(512, NMLayout{4096, 4096, 32, 64, 32}, NmSpmmType::f32, kSms);
  EXPECT_TRUE(valid(512, NMLayout{4096, 4096, 32, 64, 32}, NmSpmmType::f32, m64));
  // Decode: splits k when there are few column strips, not when there are many.
  EXPECT_GT(cuda::nm_spmm_heuristic(1, NMLayout{16384, 512, 8, 32, 32}, NmSpmmType::f32, kSms).split_k, 1);
  EXPECT_EQ(cuda::nm_spmm_heuristic(1, NMLayout{4096, 131072, 8, 32, 32}, NmSpmmType::f32, kSms).split_k, 1);
  // bf16 at v >= 64 on a large shape: the 128x64 tensor-core tile.
  EXPECT_EQ(cuda::nm_spmm_heuristic(4096, NMLayout{4096, 4096, 8, 32, 64}, NmSpmmType::bf16, kSms),
            (NmSpmmConfig{NmSpmmPath::tensor_core, 0, 1}));
}

TEST(NmSpmmDispatch, ConfigProblemsAreReported) {
  const NMLayout l{1000, 300, 8, 32, 32};
  EXPECT_NE(cuda::nm_spmm_config_problem(100, l, NmSpmmType::f32, {NmSpmmPath::tensor_core, 0, 1}), "");
  EXPECT_NE(cuda::nm_spmm_config_problem(100, l, NmSpmmType::f32, {NmSpmmPath::widened, 0, 1}), "");
  EXPECT_NE(cuda::nm_spmm_config_problem(100, l, NmSpmmType::bf16, {NmSpmmPath::tiled, 0, 1}), "");
  EXPECT_NE(cuda::nm_spmm_config_problem(100, l, NmSpmmType::f32, {NmSpmmPath::tiled, kMaxTile, 1}), "");
  EXPECT_NE(cuda::nm_spmm_config_problem(100, l, NmSpmmType::f32, {NmSpmmPath::tiled, -1, 1}), "");
  EXPECT_NE(cuda::nm_spmm_config_problem(100, l, NmSpmmType::f32, {NmSpmmPath::tiled, 0, 0}), "");
  EXPECT_NE(cuda::nm_spmm_config_problem(100, l, NmSpmmType::f32, {NmSpmmPath::tiled, 0, 1000}), "");
  EXPECT_NE(cuda::nm_spmm_config_problem(17, l, NmSpmmType::f32, {NmSpmmPath::decode, 0, 1}), "");
  EXPECT_EQ(cuda::nm_spmm_config_problem(16, l, NmSpmmType::f32, {NmSpmmPath::decode, 0, 1}), "");
  EXPECT_NE(cuda::nm_spmm_config_problem(16, l, NmSpmmType::f32, {NmSpmmPath::decode, 1, 1}), "");
  // Tensor-core tiles need v >= their width; chunks of 32 rows cannot hold a window of 64.
  EXPECT_NE(cuda::nm_spmm_config_problem(100, NMLayout{1000, 300, 8, 32, 16}, NmSpmmType::bf16,
                                         {NmSpmmPath::tensor_core, 1, 1}),
            "");
  EXPECT_NE(cuda::nm_spmm_config_problem(100, NMLayout{1000, 300, 8, 64, 32}, NmSpmmType::f32,
                                         {NmSpmmPath::tiled, 0, 1}),
            "");
  // A bad layout is a problem too (and not an exception).
  EXPECT_NE(cuda::nm_spmm_config_problem(100, NMLayout{1000, 300, 32, 32, 32}, NmSpmmType::f32,
                                         {NmSpmmPath::tiled, 0, 1}),
            "");
}

TEST(NmSpmmDispatch, ConfigStringsRoundTrip) {
  const NMLayout l{1000, 300, 8, 32, 32};
  for (const NmSpmmType type : {NmSpmmType::f32, NmSpmmType::bf16})
    for (const std::int64_t rows : {5, 300})
      for (const NmSpmmConfig& c : cuda::nm_spmm_candidates(rows, l, type, kSms)) {
        const std::string text = cuda::nm_spmm_config_string(c);
        const auto back = cuda::nm_spmm_parse_config(text);
        ASSERT_TRUE(back.has_value()) << text;
        EXPECT_EQ(*back, c) << text;
        EXPECT_FALSE(cuda::nm_spmm_describe(rows, l, type, c).empty());
        EXPECT_EQ(cuda::nm_spmm_describe(rows, l, type, c).find("invalid"), std::string::npos);
      }
  for (const char* bad : {"", "tiled", "tiled:0", "tiled:0:1:2", "nope:0:1", "tiled:x:1", "tiled:0:-1", "tiled::1"})
    EXPECT_FALSE(cuda::nm_spmm_parse_config(bad).has_value()) << bad;
}

TEST(NmSpmmDispatch, AutotuneCacheFileRoundTrips) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    meridian::cat("meridian_nm_cache_test_", ::getpid());
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "cache.txt").string();
  EXPECT_EQ(cuda::NmAutotuneCache::load(path).size(), 0u);  // missing file: empty

  const NMLayout l{4096, 4096, 8, 32, 32};
  const std::string key1 = cuda::nm_spmm_shape_key("NVIDIA H100 80GB HBM3", 4096, l, NmSpmmType::f32);
  const std::string key2 = cuda::nm_spmm_shape_key("NVIDIA H100 80GB HBM3", 4096, l, NmSpmmType::bf16);
  const std::string key3 = cuda::nm_spmm_shape_key("NVIDIA H100 80GB HBM3", 1, l, NmSpmmType::f32);
  EXPECT_EQ(key1.find(' '), std::string::npos);
  EXPECT_NE(key1, key2);
  EXPECT_NE(key1, key3);
  EXPECT_NE(key1, cuda::nm_spmm_shape_key("NVIDIA A100", 4096, l, NmSpmmType::f32));

  cuda::NmAutotuneCache cache;
  cache.put(key1, {{NmSpmmPath::tiled, 1, 2}, 123.5});
  cache.put(key2, {{NmSpmmPath::tensor_core, 0, 1}, 45.25});
  cache.put(key3, {{NmSpmmPath::decode, 0, 8}, 7.0});
  cache.save(path);
  const cuda::NmAutotuneCache back = cuda::NmAutotuneCache::load(path);
  EXPECT_EQ(back.size(), 3u);
  EXPECT_EQ(back.skipped_lines(), 0);
  for (const auto& [key, config] : {std::pair{key1, NmSpmmConfig{NmSpmmPath::tiled, 1, 2}},
                                    std::pair{key2, NmSpmmConfig{NmSpmmPath::tensor_core, 0, 1}},
                                    std::pair{key3, NmSpmmConfig{NmSpmmPath::decode, 0, 8}}}) {
    const auto entry = back.find(key);
    ASSERT_TRUE(entry.has_value()) << key;
    EXPECT_EQ(entry->config, config) << key;
  }
  EXPECT_NEAR(back.find(key1)->time_us, 123.5, 1e-3);
  EXPECT_FALSE(back.find("no such key").has_value());

  // Hand-edited lines that do not parse are skipped and counted; comments and blank lines are not.
  {
    std::ofstream out(path, std::ios::app);
    out << "\n# a comment\n"
        << "only_a_key\n"
        << "key tiled:0 1.0\n"
        << "key tiled:0:1 not_a_time\n"
        << "key tiled:0:1 -5\n"
        << "key tiled:0:1 1.0 extra\n"
        << "good_key widened:2:4 9.5\n";
  }
  const cuda::NmAutotuneCache edited = cuda::NmAutotuneCache::load(path);
  EXPECT_EQ(edited.size(), 4u);
  EXPECT_EQ(edited.skipped_lines(), 5);
  ASSERT_TRUE(edited.find("good_key").has_value());
  EXPECT_EQ(edited.find("good_key")->config, (NmSpmmConfig{NmSpmmPath::widened, 2, 4}));
  // Saving again rewrites the file with the good entries only.
  edited.save(path);
  EXPECT_EQ(cuda::NmAutotuneCache::load(path).size(), 4u);
  EXPECT_EQ(cuda::NmAutotuneCache::load(path).skipped_lines(), 0);
  std::filesystem::remove_all(dir);
}

TEST(NmSpmmDispatch, ArgumentErrorsComeBeforeAnyCudaCall) {
  // Pointers are never dereferenced: every call below must throw InputError first.
  float dummy[8] = {};
  const float* a = dummy;
  float* c = dummy;
  const std::uint8_t index[8] = {};
  const NMLayout good{64, 32, 2, 4, 1};
  const auto f32 = [&](std::int64_t rows, const NMLayout& l, std::int64_t lda, std::int64_t ldc,
                       const NmSpmmConfig* forced = nullptr) {
    cuda::nm_spmm(rows, l, 1.f, a, lda, a, index, 0.f, c, ldc, nullptr, forced);
  };
  EXPECT_THROW(f32(4, NMLayout{64, 32, 4, 4, 1}, 64, 32), meridian::InputError);  // n >= m
  EXPECT_THROW(f32(4, NMLayout{64, 32, 2, 4, 3}, 64, 32), meridian::InputError);  // v
  EXPECT_THROW(f32(-1, good, 64, 32), meridian::InputError);
  EXPECT_THROW(f32(4, good, 63, 32), meridian::InputError);  // lda < k
  EXPECT_THROW(f32(4, good, 64, 31), meridian::InputError);  // ldc < cols
  EXPECT_THROW(cuda::nm_spmm(4, good, 1.f, nullptr, 64, a, index, 0.f, c, 32), meridian::InputError);
  EXPECT_THROW(cuda::nm_spmm(4, good, 1.f, a, 64, a, nullptr, 0.f, c, 32), meridian::InputError);
  EXPECT_THROW(cuda::nm_spmm(4, good, 1.f, a, 64, a, index, 0.f, nullptr, 32), meridian::InputError);
  const NmSpmmConfig tensor{NmSpmmPath::tensor_core, 0, 1};
  const NmSpmmConfig decode_too_many_rows{NmSpmmPath::decode, 0, 1};
  EXPECT_THROW(f32(4, good, 64, 32, &tensor), meridian::InputError);
  EXPECT_THROW(f32(40, good, 64, 32, &decode_too_many_rows), meridian::InputError);
  const auto* ab = reinterpret_cast<const meridian::bf16*>(dummy);
  const NmSpmmConfig tensor_v32{NmSpmmPath::tensor_core, 1, 1};
  EXPECT_THROW(cuda::nm_spmm_bf16(40, good, 1.f, ab, 64, ab, index, 0.f, c, 32, nullptr, &tensor_v32),
               meridian::InputError);  // v = 1 < 32
  EXPECT_THROW(cuda::nm_spmm_autotune(4, good, NmSpmmType::f32, a, 64, a, index, nullptr, ""), meridian::InputError);
}

// ---- device tests ------------------------------------------------------------------------------

class CudaNmSpmm : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device: cudaGetDeviceCount found none (or no driver)";
  }
};

// n device elements followed by a guard of kGuard elements that must keep its byte pattern.
template <class T>
class DeviceArray {
 public:
  explicit DeviceArray(const std::vector<T>& values) : n_(static_cast<std::int64_t>(values.size())) {
    p_ = static_cast<T*>(cuda::device_alloc(static_cast<std::size_t>(n_ + kGuard) * sizeof(T)));
    std::vector<unsigned char> pattern(static_cast<std::size_t>(n_ + kGuard) * sizeof(T), 0xA5);
    if (!values.empty()) std::memcpy(pattern.data(), values.data(), values.size() * sizeof(T));
    cuda::memcpy_h2d(p_, pattern.data(), pattern.size());
  }
  ~DeviceArray() {
    try {
      cuda::device_free(p_);
    } catch (const meridian::Error&) {
    }
  }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  T* data() { return p_; }
  std::vector<T> values() const {
    std::vector<T> v(static_cast<std::size_t>(n_));
    cuda::memcpy_d2h(v.data(), p_, v.size() * sizeof(T));
    return v;
  }
  bool guard_intact() const {
    std::vector<unsigned char> g(static_cast<std::size_t>(kGuard) * sizeof(T));
    cuda::memcpy_d2h(g.data(), p_ + n_, g.size());
    for (unsigned char x : g)
      if (x != 0xA5) return false;
    return true;
  }

 private:
  std::int64_t n_;
  T* p_ = nullptr;
};

float round_to_bf16(float x) { return meridian::bf16_to_float(meridian::float_to_bf16(x)); }

// One problem: A with NaN past k (a kernel that reads A at padding rows of B poisons its output),
// B pruned by magnitude and compressed, C0 with NaN where beta == 0 makes C write-only. For bf16 the
// host copies hold the bf16-rounded values, so the reference sees what the kernel sees.
struct Problem {
  NMLayout l;
  std::int64_t rows = 0, lda = 0, ldc = 0;
  std::vector<float> a, values, c0;
  std::vector<std::uint8_t> index;
};

Problem make_problem(std::int64_t rows, const NMLayout& l, NmSpmmType type, bool beta_zero, std::uint64_t seed) {
  Problem p;
  p.l = l;
  p.rows = rows;
  p.lda = l.k + 3;
  p.ldc = l.cols + 2;
  std::vector<float> b = random_floats(l.k * l.cols, seed);
  p.index.resize(static_cast<std::size_t>(l.index_count()));
  p.values.resize(static_cast<std::size_t>(l.value_count()));
  ref::nm_select(b.data(), l.cols, l, p.index.data());
  ref::nm_compress(b.data(), l.cols, l, p.index.data(), p.values.data());
  p.a = random_floats(rows * p.lda, seed + 1);
  if (type == NmSpmmType::bf16) {
    for (float& x : p.a) x = round_to_bf16(x);
    for (float& x : p.values) x = round_to_bf16(x);
  }
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = l.k; j < p.lda; ++j) p.a[static_cast<std::size_t>(i * p.lda + j)] = std::nanf("");
  p.c0 = random_floats(rows * p.ldc, seed + 2);
  if (beta_zero)
    for (std::int64_t i = 0; i < rows; ++i)
      for (std::int64_t j = 0; j < l.cols; ++j) p.c0[static_cast<std::size_t>(i * p.ldc + j)] = std::nanf("");
  return p;
}

std::vector<meridian::bf16> to_bf16(const std::vector<float>& x) {
  std::vector<meridian::bf16> out(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) out[i] = meridian::float_to_bf16(x[i]);
  return out;
}

// Runs the product on the device and returns C; guards of every buffer must survive.
std::vector<float> run_on_device(const Problem& p, NmSpmmType type, float alpha, float beta, const NmSpmmConfig* forced,
                                 cuda::NmSpmmWorkspace* workspace = nullptr) {
  DeviceArray<std::uint8_t> index(p.index);
  DeviceArray<float> c(p.c0);
  if (type == NmSpmmType::f32) {
    DeviceArray<float> a(p.a), values(p.values);
    cuda::nm_spmm(p.rows, p.l, alpha, a.data(), p.lda, values.data(), index.data(), beta, c.data(), p.ldc, nullptr,
                  forced, workspace);
    cuda::synchronize();
    EXPECT_TRUE(a.guard_intact() && values.guard_intact());
  } else {
    DeviceArray<meridian::bf16> a(to_bf16(p.a)), values(to_bf16(p.values));
    cuda::nm_spmm_bf16(p.rows, p.l, alpha, a.data(), p.lda, values.data(), index.data(), beta, c.data(), p.ldc,
                       nullptr, forced, workspace);
    cuda::synchronize();
    EXPECT_TRUE(a.guard_intact() && values.guard_intact());
  }
  EXPECT_TRUE(index.guard_intact() && c.guard_intact()) << "a kernel wrote past C";
  return c.values();
}

// Elements of `got` off the reference by more than 4 (terms + 2) eps (|alpha| Σ|a||b| + |beta||c0|)
// + eps |want|, terms = kept rows + 64 (split-k adds one rounding per split), plus changed padding.
std::int64_t violations(const Problem& p, float alpha, float beta, const std::vector<float>& got) {
  const NMLayout& l = p.l;
  std::vector<float> want = p.c0;
  ref::nm_spmm(p.rows, l, alpha, p.a.data(), p.lda, p.values.data(), p.index.data(), beta, want.data(), p.ldc);
  const double terms = static_cast<double>(l.kept_rows() + 64);
  std::int64_t bad = 0;
  for (std::int64_t i = 0; i < p.rows; ++i)
    for (std::int64_t j = 0; j < p.ldc; ++j) {
      const std::size_t at = static_cast<std::size_t>(i * p.ldc + j);
      if (j >= l.cols) {
        if (std::memcmp(&got[at], &p.c0[at], sizeof(float)) != 0) ++bad;
        continue;
      }
      double magnitude = 0;
      for (std::int64_t r = 0; r < l.kept_rows(); ++r) {
        const std::int64_t row = l.dense_row(r, j / l.v, p.index.data());
        if (row < l.k)
          magnitude += std::abs(static_cast<double>(p.a[static_cast<std::size_t>(i * p.lda + row)]) *
                                p.values[static_cast<std::size_t>(r * l.cols + j)]);
      }
      const double old = beta == 0.f ? 0.0 : std::abs(static_cast<double>(beta) * p.c0[at]);
      const double bound = 4.0 * (terms + 2.0) * kEps * (std::abs(alpha) * magnitude + old) + kEps * std::abs(want[at]);
      if (!(std::abs(static_cast<double>(got[at]) - want[at]) <= bound)) {
        if (bad < 3)
          ADD_FAILURE() << "C[" << i << "][" << j << "] = " << got[at] << ", want " << want[at] << " (bound " << bound
                        << ")";
        ++bad;
      }
    }
  return bad;
}

// Runs `config` (nullptr: the dispatcher's choice) with (alpha, beta) = (1.25, 0) over a NaN-filled C
// and (-0.75, 1.5) and expects no violation.
void expect_correct(NmSpmmType type, std::int64_t rows, const NMLayout& l, const NmSpmmConfig* config,
                    std::uint64_t seed = 7) {
  SCOPED_TRACE(meridian::cat(type_name(type), " rows=", rows, " ", name(l), " ",
                             config ? cuda::nm_spmm_describe(rows, l, type, *config) : std::string("dispatcher")));
  for (const auto& [alpha, beta] : {std::pair{1.25f, 0.f}, std::pair{-0.75f, 1.5f}}) {
    const Problem p = make_problem(rows, l, type, beta == 0.f, seed);
    EXPECT_EQ(violations(p, alpha, beta, run_on_device(p, type, alpha, beta, config)), 0)
        << "alpha=" << alpha << " beta=" << beta;
  }
}

// Every valid configuration of `path` with split 1 and a split that divides the chunks unevenly.
int expect_every_tile(NmSpmmType type, NmSpmmPath path, std::int64_t rows, const NMLayout& l) {
  int ran = 0;
  for (int tile = 0; tile < kMaxTile; ++tile)
    for (const int split : {1, 3}) {
      const NmSpmmConfig c{path, tile, split};
      if (!valid(rows, l, type, c)) continue;
      expect_correct(type, rows, l, &c);
      ++ran;
    }
  return ran;
}

// The four sparsities of the reference (50, 62.5, 75, 87.5% at V = 32) on shapes with tails in
// rows, cols and k, on every fp32 tile with and without split-k.
TEST_F(CudaNmSpmm, Fp32TiledEverySparsityAtV32EveryTile) {
  for (const int n : {16, 12, 8, 4})
    for (const auto& [rows, cols, k] : {std::tuple{77, 70, 100}, std::tuple{130, 129, 257}}) {
      const NMLayout l{k, cols, n, 32, 32};
      EXPECT_GE(expect_every_tile(NmSpmmType::f32, NmSpmmPath::tiled, rows, l), 5);
    }
}

// Other (n, m, v): element-wise 2:4, v below a quad, per-quad and per-thread index lists, windows
// of 4..64, padding rows kept in the last window.
TEST_F(CudaNmSpmm, Fp32TiledOtherNmv) {
  const NMLayout layouts[] = {{37, 45, 2, 4, 1},  {100, 70, 3, 8, 4},   {90, 66, 5, 16, 16}, {75, 130, 1, 4, 8},
                              {150, 96, 7, 64, 128}, {70, 33, 31, 32, 1}, {131, 64, 33, 64, 64}, {40, 40, 6, 8, 32}};
  for (const NMLayout& l : layouts) EXPECT_GE(expect_every_tile(NmSpmmType::f32, NmSpmmPath::tiled, 45, l), 1) << name(l);
}

// Decode path (rows <= 16): every row bucket, split-k on and off, both types.
TEST_F(CudaNmSpmm, DecodeEveryRowCountAndSplit) {
  const NMLayout layouts[] = {{300, 200, 16, 32, 32}, {300, 131, 4, 32, 32}, {97, 130, 2, 4, 1},
                              {250, 70, 5, 16, 16},   {200, 129, 9, 64, 4}};
  for (const NmSpmmType type : {NmSpmmType::f32, NmSpmmType::bf16})
    for (const NMLayout& l : layouts)
      for (const std::int64_t rows : {1, 2, 3, 5, 8, 13, 16})
        for (const int split : {1, 2, 5}) {
          const NmSpmmConfig c{NmSpmmPath::decode, 0, split};
          if (!valid(rows, l, type, c)) continue;
          expect_correct(type, rows, l, &c, 11);
        }
}

// Tensor-core path: every tile that v allows, cols with and without a multiple of 8 (the padded
// copy of the values), split-k on and off.
TEST_F(CudaNmSpmm, Bf16TensorCoreEveryTile) {
  const NMLayout layouts[] = {{100, 70, 16, 32, 32},  {257, 128, 12, 32, 32}, {257, 130, 8, 32, 32},
                              {100, 96, 4, 32, 32},   {200, 136, 8, 32, 64},  {90, 200, 3, 8, 128},
                              {129, 64, 40, 64, 64}};
  for (const NMLayout& l : layouts)
    for (const std::int64_t rows : {77, 130}) EXPECT_GE(expect_every_tile(NmSpmmType::bf16, NmSpmmPath::tensor_core, rows, l), 2) << name(l);
}

// bf16 with v < 32: widened to fp32 and the tiled kernel.
TEST_F(CudaNmSpmm, Bf16WidenedSmallV) {
  for (const NMLayout& l : {NMLayout{37, 45, 2, 4, 1}, NMLayout{100, 70, 3, 8, 4}, NMLayout{90, 66, 5, 16, 16}}) {
    const NmSpmmConfig c{NmSpmmPath::widened, 2, 1};
    expect_correct(NmSpmmType::bf16, 50, l, &c);
  }
}

// The dispatcher's own choice on shapes that reach every path, one workspace reused across calls.
TEST_F(CudaNmSpmm, DispatcherChoiceIsCorrect) {
  cuda::NmSpmmWorkspace workspace;
  const std::tuple<NmSpmmType, std::int64_t, NMLayout> cases[] = {
      {NmSpmmType::f32, 300, {1000, 260, 8, 32, 32}},  {NmSpmmType::f32, 40, {2000, 96, 4, 32, 32}},
      {NmSpmmType::f32, 9, {700, 300, 2, 4, 1}},       {NmSpmmType::bf16, 200, {600, 256, 12, 32, 32}},
      {NmSpmmType::bf16, 100, {333, 100, 2, 4, 1}},    {NmSpmmType::bf16, 3, {500, 64, 16, 32, 32}},
      {NmSpmmType::f32, 100, {640, 128, 32, 64, 64}}};
  for (const auto& [type, rows, l] : cases) {
    SCOPED_TRACE(meridian::cat(type_name(type), " rows=", rows, " ", name(l), " pick ",
                               cuda::nm_spmm_pick_string(rows, l, type)));
    const Problem p = make_problem(rows, l, type, true, 5);
    EXPECT_EQ(violations(p, 1.f, 0.f, run_on_device(p, type, 1.f, 0.f, nullptr, &workspace)), 0);
  }
  EXPECT_GT(workspace.bytes(), 0u);
}

TEST_F(CudaNmSpmm, EmptyShapesAndZeroK) {
  // k == 0: C = beta C (rows x cols), whatever the path.
  for (const std::int64_t rows : {3, 40})
    for (const NmSpmmType type : {NmSpmmType::f32, NmSpmmType::bf16}) {
      const NMLayout l{0, 40, 8, 32, 32};
      std::vector<float> c0 = random_floats(rows * 40, 3);
      DeviceArray<float> c(c0);
      if (type == NmSpmmType::f32)
        cuda::nm_spmm(rows, l, 1.f, nullptr, 0, nullptr, nullptr, 0.5f, c.data(), 40);
      else
        cuda::nm_spmm_bf16(rows, l, 1.f, nullptr, 0, nullptr, nullptr, 0.5f, c.data(), 40);
      cuda::synchronize();
      const std::vector<float> got = c.values();
      for (std::size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], 0.5f * c0[i]) << i;
      EXPECT_TRUE(c.guard_intact());
    }
  // rows == 0 or cols == 0: nothing is touched (null pointers allowed).
  EXPECT_NO_THROW(cuda::nm_spmm(0, NMLayout{10, 8, 2, 4, 1}, 1.f, nullptr, 10, nullptr, nullptr, 0.f, nullptr, 8));
  EXPECT_NO_THROW(cuda::nm_spmm(5, NMLayout{10, 0, 2, 4, 1}, 1.f, nullptr, 10, nullptr, nullptr, 0.f, nullptr, 0));
}

TEST_F(CudaNmSpmm, AutotuneWritesAndReusesTheCache) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    meridian::cat("meridian_nm_autotune_test_", ::getpid());
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "autotune.txt").string();
  const NMLayout l{300, 96, 8, 32, 32};
  const std::int64_t rows = 50;
  const Problem p = make_problem(rows, l, NmSpmmType::f32, true, 9);
  DeviceArray<float> a(p.a), values(p.values);
  DeviceArray<std::uint8_t> index(p.index);
  const NmSpmmConfig tuned =
      cuda::nm_spmm_autotune(rows, l, NmSpmmType::f32, a.data(), p.lda, values.data(), index.data(), nullptr, path);
  EXPECT_TRUE(valid(rows, l, NmSpmmType::f32, tuned));
  const cuda::NmAutotuneCache cache = cuda::NmAutotuneCache::load(path);
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cuda::nm_spmm_pick(rows, l, NmSpmmType::f32, path), tuned);
  EXPECT_NE(cuda::nm_spmm_pick_string(rows, l, NmSpmmType::f32, path).find("(autotuned)"), std::string::npos);
  // The tuned configuration computes the right thing.
  expect_correct(NmSpmmType::f32, rows, l, &tuned, 9);
  // With the environment variable set, a call without a forced configuration tunes a new problem
  // once and records it.
  ASSERT_EQ(::setenv(cuda::kNmAutotuneCacheEnv, path.c_str(), 1), 0);
  const Problem q = make_problem(20, l, NmSpmmType::f32, true, 10);
  const std::int64_t bad = violations(q, 1.f, 0.f, run_on_device(q, NmSpmmType::f32, 1.f, 0.f, nullptr));
  ::unsetenv(cuda::kNmAutotuneCacheEnv);
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(cuda::NmAutotuneCache::load(path).size(), 2u);
  std::filesystem::remove_all(dir);
}

// A larger shape per path through the dispatcher (many blocks, many chunks, the 128x128 tile).
TEST_F(CudaNmSpmm, LargerShapes) {
  for (const auto& [type, rows, l] : {std::tuple{NmSpmmType::f32, std::int64_t{512}, NMLayout{2048, 1024, 8, 32, 32}},
                                      std::tuple{NmSpmmType::bf16, std::int64_t{512}, NMLayout{2048, 1024, 4, 32, 32}},
                                      std::tuple{NmSpmmType::f32, std::int64_t{16}, NMLayout{4096, 2048, 16, 32, 32}}}) {
    const NmSpmmConfig pick = cuda::nm_spmm_pick(rows, l, type);
    SCOPED_TRACE(meridian::cat(type_name(type), " rows=", rows, " ", name(l), " ", cuda::nm_spmm_describe(rows, l, type, pick)));
    const Problem p = make_problem(rows, l, type, true, 13);
    EXPECT_EQ(violations(p, 1.f, 0.f, run_on_device(p, type, 1.f, 0.f, nullptr)), 0);
  }
}

}  // namespace
