// Tests of the CPU N:M kernels (kernels/cpu/nm_sparse.hpp) against kernels/reference/nm_sparse.hpp, for
// every (n, m, v) and every instruction set this CPU has. Row-major: A (rows x k), B (k x cols),
// C (rows x cols), values (kept_rows x cols); mixed-sign fixed-seed data, error bounds scaled by k·eps.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "common/kernel_test_data.hpp"
#include "kernels/common/error.hpp"
#include "kernels/common/nm_layout.hpp"
#include "kernels/cpu/nm_sparse.hpp"
#include "kernels/cpu/nm_sparse_detail.hpp"
#include "kernels/reference/nm_sparse.hpp"

namespace {

using meridian::NMLayout;
namespace ref = meridian::kernels::reference;
namespace cpu = meridian::kernels::cpu;
using cpu::detail::NmIsa;
using namespace meridian::test;

const int kMs[] = {4, 8, 16, 32, 64};
const int kVs[] = {1, 4, 8, 16, 32, 64, 128};
constexpr float kEps = std::numeric_limits<float>::epsilon();

std::string name(const NMLayout& l) {
  return meridian::cat(l.n, ":", l.m, " v=", l.v, " k=", l.k, " cols=", l.cols);
}

std::vector<NmIsa> available_isas() {
  std::vector<NmIsa> out;
  for (NmIsa isa : {NmIsa::scalar, NmIsa::avx2, NmIsa::avx512})
    if (cpu::detail::nm_isa_supported(isa)) out.push_back(isa);
  return out;
}

// A pruned weight: B random, index from the reference selection, values compressed.
struct Sparse {
  NMLayout l;
  std::vector<float> b;
  std::vector<std::uint8_t> index;
  std::vector<float> values;
};

Sparse make_sparse(const NMLayout& l, std::uint64_t stream) {
  Sparse s{l, random_floats(l.k * l.cols, stream), {}, {}};
  s.index.resize(static_cast<std::size_t>(l.index_count()));
  s.values.resize(static_cast<std::size_t>(l.value_count()));
  ref::nm_select(s.b.data(), l.cols, l, s.index.data());
  ref::nm_compress(s.b.data(), l.cols, l, s.index.data(), s.values.data());
  return s;
}

// Σ over kept terms of |a||b| for output (i, col) of C = A·B, in double.
double magnitude(const Sparse& s, const std::vector<float>& a, std::int64_t lda, std::int64_t i, std::int64_t col) {
  double sum = 0;
  for (std::int64_t r = 0; r < s.l.kept_rows(); ++r) {
    const std::int64_t row = s.l.dense_row(r, col / s.l.v, s.index.data());
    if (row < s.l.k) sum += std::abs(static_cast<double>(a[static_cast<std::size_t>(i * lda + row)])) *
                            std::abs(static_cast<double>(s.values[static_cast<std::size_t>(r * s.l.cols + col)]));
  }
  return sum;
}

// |got - want| <= 4 (terms + 2) eps (|alpha| mag + |beta| |old|) + eps |want|.
bool within(double got, double want, double terms, double alpha, double mag, double beta, double old) {
  const double bound = 4.0 * (terms + 2.0) * kEps * (std::abs(alpha) * mag + std::abs(beta) * std::abs(old)) +
                       kEps * std::abs(want);
  return std::abs(got - want) <= bound;  // false for NaN
}

// Runs C = alpha A B + beta C with `isa` and counts elements outside the bound (NaN in C0 when beta == 0).
std::int64_t spmm_violations(NmIsa isa, const Sparse& s, std::int64_t rows, float alpha, float beta) {
  const NMLayout& l = s.l;
  // A's row padding (columns k..lda, past every padding row of the last window) is NaN: a kernel that
  // reads A at a padding row poisons its output.
  const std::int64_t lda = l.windows() * l.m + 3, ldc = l.cols + 2;
  std::vector<float> a = random_floats(rows * lda, 11);
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = l.k; j < lda; ++j) a[static_cast<std::size_t>(i * lda + j)] = std::nanf("");
  std::vector<float> c0 = random_floats(rows * ldc, 12);
  if (beta == 0.f)
    for (std::int64_t i = 0; i < rows; ++i)
      for (std::int64_t j = 0; j < l.cols; ++j) c0[static_cast<std::size_t>(i * ldc + j)] = std::nanf("");
  std::vector<float> want = c0, got = c0;
  ref::nm_spmm(rows, l, alpha, a.data(), lda, s.values.data(), s.index.data(), beta, want.data(), ldc);
  cpu::detail::nm_spmm_with_isa(isa, rows, l, alpha, a.data(), lda, s.values.data(), s.index.data(), beta,
                                got.data(), ldc);
  std::int64_t bad = 0;
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < ldc; ++j) {
      const std::size_t at = static_cast<std::size_t>(i * ldc + j);
      if (j >= l.cols) {  // row padding must be untouched
        if (std::memcmp(&got[at], &c0[at], sizeof(float)) != 0) ++bad;
        continue;
      }
      const double old = beta == 0.f ? 0.0 : c0[at];
      if (!within(got[at], want[at], static_cast<double>(l.k), alpha, magnitude(s, a, lda, i, j), beta, old)) ++bad;
    }
  return bad;
}

// ---- layout ------------------------------------------------------------------------------------

TEST(NmLayout, RejectsBadShapes) {
  const NMLayout bad[] = {{8, 8, 2, 3, 1},   {8, 8, 2, 4, 2},  {8, 8, 0, 4, 1},  {8, 8, 4, 4, 1},
                          {8, 8, 5, 4, 1},   {8, 8, 1, 128, 1}, {8, 8, 1, 2, 1}, {8, 8, 2, 4, 0},
                          {8, 8, 2, 4, 256}, {8, 8, 2, 4, 3},  {-1, 8, 2, 4, 1}, {8, -1, 2, 4, 1},
                          {8, 8, 64, 64, 1}, {8, 8, -1, 4, 1}};
  for (const NMLayout& l : bad) {
    EXPECT_THROW(meridian::check_nm_layout(l), meridian::InputError) << name(l);
    std::vector<float> b(64, 1.f), c(64);
    std::vector<std::uint8_t> idx(64);
    EXPECT_THROW(cpu::nm_select(b.data(), 8, l, idx.data()), meridian::InputError) << name(l);
    EXPECT_THROW(cpu::nm_spmm(1, l, 1.f, b.data(), 8, b.data(), idx.data(), 0.f, c.data(), 8), meridian::InputError)
        << name(l);
  }
}

TEST(NmLayout, AcceptsEveryValidCombination) {
  for (int m : kMs)
    for (int n = 1; n < m; ++n)
      for (int v : kVs) EXPECT_NO_THROW(meridian::check_nm_layout(NMLayout{10, 7, n, m, v}));
}

// ---- select / compress / decompress ---------------------------------------------------------------

TEST(NmSparse, SelectCompressDecompressMatchReferenceExactly) {
  for (int m : kMs)
    for (int n = 1; n < m; n = n * 2 + 1)
      for (int v : kVs) {
        const NMLayout l{m * 3 + m / 2 + 1, 2 * v + 3, n, m, v};  // k and cols with tails
        SCOPED_TRACE(name(l));
        std::vector<float> b = random_floats(l.k * l.cols, 3);
        // Ties: duplicate a row and zero another so equal scores occur.
        std::copy(b.begin(), b.begin() + l.cols, b.begin() + l.cols);
        std::fill(b.begin() + 2 * l.cols, b.begin() + 3 * l.cols, 0.f);
        std::vector<std::uint8_t> want_idx(static_cast<std::size_t>(l.index_count())), got_idx(want_idx.size(), 0xEE);
        ref::nm_select(b.data(), l.cols, l, want_idx.data());
        cpu::nm_select(b.data(), l.cols, l, got_idx.data());
        ASSERT_EQ(got_idx, want_idx);

        std::vector<float> want_v(static_cast<std::size_t>(l.value_count())), got_v(want_v.size(), -7.f);
        ref::nm_compress(b.data(), l.cols, l, want_idx.data(), want_v.data());
        cpu::nm_compress(b.data(), l.cols, l, want_idx.data(), got_v.data());
        ASSERT_TRUE(same_bits(got_v, want_v));

        std::vector<float> want_b(b.size()), got_b(b.size(), 5.f);
        ref::nm_decompress(l, want_v.data(), want_idx.data(), want_b.data(), l.cols);
        cpu::nm_decompress(l, want_v.data(), want_idx.data(), got_b.data(), l.cols);
        ASSERT_TRUE(same_bits(got_b, want_b));
      }
}

TEST(NmSparse, PruningInvariantsAndRoundTrips) {
  for (int m : kMs)
    for (int n : {1, m / 2, m - 1})
      for (int v : {1, 8, 32}) {
        const NMLayout l{2 * m + m / 4 + 1, 3 * v + 1, n, m, v};
        SCOPED_TRACE(name(l));
        const std::vector<float> b = random_floats(l.k * l.cols, 4);
        std::vector<std::uint8_t> idx(static_cast<std::size_t>(l.index_count()));
        cpu::nm_select(b.data(), l.cols, l, idx.data());
        const std::int64_t cvs = l.col_vectors();
        for (std::int64_t w = 0; w < l.windows(); ++w)
          for (std::int64_t cv = 0; cv < cvs; ++cv) {
            std::vector<bool> kept(static_cast<std::size_t>(m), false);
            for (int j = 0; j < n; ++j) {
              const int o = idx[static_cast<std::size_t>((w * n + j) * cvs + cv)];
              ASSERT_LT(o, m);
              if (j > 0) {
                ASSERT_GT(o, idx[static_cast<std::size_t>((w * n + j - 1) * cvs + cv)]);
              }
              kept[static_cast<std::size_t>(o)] = true;
            }
            const auto score = [&](int o) {
              const std::int64_t row = w * m + o;
              if (row >= l.k) return -1.0;  // padding
              double s = 0;
              for (std::int64_t c = cv * v; c < std::min(l.cols, (cv + 1) * v); ++c)
                s += std::abs(static_cast<double>(b[static_cast<std::size_t>(row * l.cols + c)]));
              return s;
            };
            double min_kept = 1e300, max_dropped = -1e300;
            int real_rows = 0, kept_padding = 0;
            for (int o = 0; o < m; ++o) {
              const bool real = w * m + o < l.k;
              real_rows += real ? 1 : 0;
              if (kept[static_cast<std::size_t>(o)]) {
                min_kept = std::min(min_kept, score(o));
                kept_padding += real ? 0 : 1;
              } else {
                max_dropped = std::max(max_dropped, score(o));
              }
            }
            EXPECT_GE(min_kept, max_dropped);
            EXPECT_EQ(kept_padding, std::max(0, n - real_rows));
          }
        std::vector<float> values(static_cast<std::size_t>(l.value_count()));
        cpu::nm_compress(b.data(), l.cols, l, idx.data(), values.data());
        std::vector<float> dense(b.size(), 9.f);
        cpu::nm_decompress(l, values.data(), idx.data(), dense.data(), l.cols);
        std::vector<float> masked(b.size(), 0.f);
        for (std::int64_t r = 0; r < l.kept_rows(); ++r)
          for (std::int64_t c = 0; c < l.cols; ++c) {
            const std::int64_t row = l.dense_row(r, c / v, idx.data());
            if (row < l.k) {
              masked[static_cast<std::size_t>(row * l.cols + c)] = b[static_cast<std::size_t>(row * l.cols + c)];
            }
          }
        EXPECT_TRUE(same_bits(dense, masked));
        std::vector<float> again(values.size(), 3.f);
        cpu::nm_compress(dense.data(), l.cols, l, idx.data(), again.data());
        EXPECT_TRUE(same_bits(again, values));
      }
}

// ---- products ------------------------------------------------------------------------------------

TEST(NmSpmm, EveryNmvAndIsaMatchesReference) {
  for (NmIsa isa : available_isas())
    for (int m : kMs)
      for (int n = 1; n < m; ++n) {
        if (m >= 32 && n % 5 != 1 && n != m - 1 && n != m / 2) continue;  // keep the run short at large m
        for (int v : kVs) {
          const NMLayout l{2 * m + 3, v + 37, n, m, v};  // k and cols not multiples of m and v
          const Sparse s = make_sparse(l, 5);
          SCOPED_TRACE(meridian::cat(cpu::detail::nm_isa_name(isa), " ", name(l)));
          EXPECT_EQ(spmm_violations(isa, s, 13, 0.75f, -1.5f), 0);
          EXPECT_EQ(spmm_violations(isa, s, 9, -1.25f, 0.f), 0);
        }
      }
}

TEST(NmSpmm, LargerShapes) {
  for (NmIsa isa : available_isas())
    for (const NMLayout& l : {NMLayout{1000, 300, 2, 4, 1}, NMLayout{1000, 300, 8, 32, 32},
                              NMLayout{1000, 300, 16, 32, 16}}) {
      SCOPED_TRACE(meridian::cat(cpu::detail::nm_isa_name(isa), " ", name(l)));
      const Sparse s = make_sparse(l, 6);
      EXPECT_EQ(spmm_violations(isa, s, 67, 1.f, 0.5f), 0);
      EXPECT_EQ(spmm_violations(isa, s, 67, 2.f, 0.f), 0);
    }
}

// The kernels vectorised over rows of C (every v on AVX-512 and AVX2): k over several blocks of
// windows and ending mid-window, rows not a multiple of a panel (2 registers of rows) and fewer than
// one, columns not a multiple of a strip or of a vector and fewer than one, vectors wider than a strip.
TEST(NmSpmm, RowKernelsTailsAndBlocks) {
  for (NmIsa isa : available_isas()) {
    if (isa == NmIsa::scalar) continue;
    for (int v : {1, 4, 8, 16, 32, 64, 128})
      EXPECT_TRUE(cpu::detail::nm_spmm_rows_supported(isa, v)) << cpu::detail::nm_isa_name(isa) << " v " << v;
    for (const NMLayout& l : {NMLayout{4133, 89, 2, 4, 1}, NMLayout{2101, 5, 3, 4, 1}, NMLayout{4133, 70, 8, 32, 1},
                              NMLayout{4133, 91, 4, 32, 4}, NMLayout{2101, 45, 16, 32, 8},
                              NMLayout{1500, 38, 5, 64, 4}, NMLayout{2101, 75, 8, 32, 32},
                              NMLayout{1500, 300, 16, 32, 128}, NMLayout{700, 43, 3, 16, 16}}) {
      SCOPED_TRACE(meridian::cat(cpu::detail::nm_isa_name(isa), " ", name(l)));
      const Sparse s = make_sparse(l, 7);
      EXPECT_EQ(spmm_violations(isa, s, 67, 1.5f, -0.5f), 0);
      EXPECT_EQ(spmm_violations(isa, s, 5, -2.f, 0.f), 0);
      EXPECT_EQ(spmm_violations(isa, s, 40, 1.f, 0.f), 0);
    }
  }
}

TEST(NmSpmm, DefaultIsaAndEmptyShapes) {
  const std::string isa = cpu::nm_spmm_isa();
  EXPECT_TRUE(isa == "avx512" || isa == "avx2" || isa == "scalar") << isa;
  // k == 0: C = beta C; rows == 0 / cols == 0: nothing happens.
  NMLayout l{0, 5, 2, 4, 1};
  std::vector<float> c(10, 2.f);
  cpu::nm_spmm(2, l, 1.f, nullptr, 0, nullptr, nullptr, 0.5f, c.data(), 5);
  for (float x : c) EXPECT_EQ(x, 1.f);
  cpu::nm_spmm(2, l, 1.f, nullptr, 0, nullptr, nullptr, 0.f, c.data(), 5);
  for (float x : c) EXPECT_EQ(x, 0.f);
  cpu::nm_spmm(0, NMLayout{8, 5, 2, 4, 1}, 1.f, nullptr, 8, nullptr, nullptr, 0.f, nullptr, 5);
}

TEST(NmSpmm, IsaChoiceHonoursTheEnvironment) {
  const NmIsa best = available_isas().back();
  const char* saved = std::getenv("MERIDIAN_NM_ISA");
  const std::string saved_value = saved == nullptr ? "" : saved;
  ::unsetenv("MERIDIAN_NM_ISA");
  EXPECT_EQ(cpu::detail::nm_choose_isa(), best);
  ::setenv("MERIDIAN_NM_ISA", "scalar", 1);
  EXPECT_EQ(cpu::detail::nm_choose_isa(), NmIsa::scalar);
  ::setenv("MERIDIAN_NM_ISA", "avx2", 1);  // never wider than the CPU
  EXPECT_EQ(cpu::detail::nm_choose_isa(), best == NmIsa::scalar ? NmIsa::scalar : NmIsa::avx2);
  ::setenv("MERIDIAN_NM_ISA", "sse9", 1);
  EXPECT_THROW(cpu::detail::nm_choose_isa(), meridian::InputError);
  if (saved == nullptr) {
    ::unsetenv("MERIDIAN_NM_ISA");
  } else {
    ::setenv("MERIDIAN_NM_ISA", saved_value.c_str(), 1);
  }
}

// dA = alpha dC Bᵀ + beta dA and dvalues = alpha Aᵀ dC (kept) + beta dvalues with `isa` vs the reference.
// Every operand has a row padding the kernels must neither read (NaN: A past k, dC past cols) nor write
// (dA past k: compared bit for bit); beta == 0: the outputs start as NaN (they must not be read).
// Bounds: the reduction length is cols for dA and rows for dvalues, the magnitudes Σ|dC||B| and Σ|A||dC|.
struct GradViolations {
  std::int64_t da = 0, dvalues = 0;
};

GradViolations grad_violations(NmIsa isa, const Sparse& s, std::int64_t rows, float alpha, float beta) {
  const NMLayout& l = s.l;
  const std::int64_t lda = l.windows() * l.m + 1, lddc = l.cols + 3, ldda = l.k + 2;
  std::vector<float> dc = random_floats(rows * lddc, 8);
  std::vector<float> a = random_floats(rows * lda, 9);
  for (std::int64_t i = 0; i < rows; ++i) {
    for (std::int64_t j = l.k; j < lda; ++j) a[static_cast<std::size_t>(i * lda + j)] = std::nanf("");
    for (std::int64_t j = l.cols; j < lddc; ++j) dc[static_cast<std::size_t>(i * lddc + j)] = std::nanf("");
  }
  std::vector<float> da0 = random_floats(rows * ldda, 10), dv0 = random_floats(l.value_count(), 13);
  if (beta == 0.f) {
    for (std::int64_t i = 0; i < rows; ++i)
      for (std::int64_t j = 0; j < l.k; ++j) da0[static_cast<std::size_t>(i * ldda + j)] = std::nanf("");
    std::fill(dv0.begin(), dv0.end(), std::nanf(""));
  }
  std::vector<float> da_want = da0, da_got = da0, dv_want = dv0, dv_got = dv0;
  ref::nm_spmm_grad_a(rows, l, alpha, dc.data(), lddc, s.values.data(), s.index.data(), beta, da_want.data(), ldda);
  cpu::detail::nm_spmm_grad_a_with_isa(isa, rows, l, alpha, dc.data(), lddc, s.values.data(), s.index.data(), beta,
                                       da_got.data(), ldda);
  ref::nm_spmm_grad_b(rows, l, alpha, a.data(), lda, dc.data(), lddc, s.index.data(), beta, dv_want.data());
  cpu::detail::nm_spmm_grad_b_with_isa(isa, rows, l, alpha, a.data(), lda, dc.data(), lddc, s.index.data(), beta,
                                       dv_got.data());
  GradViolations bad;
  for (std::int64_t i = 0; i < rows; ++i) {
    // mag[row]: Σ over the kept entries of dense row `row` of |dC[i, c]·B[row, c]|.
    std::vector<double> mag(static_cast<std::size_t>(l.k), 0.0);
    for (std::int64_t r = 0; r < l.kept_rows(); ++r)
      for (std::int64_t c = 0; c < l.cols; ++c) {
        const std::int64_t row = l.dense_row(r, c / l.v, s.index.data());
        if (row < l.k)
          mag[static_cast<std::size_t>(row)] +=
              std::abs(static_cast<double>(dc[static_cast<std::size_t>(i * lddc + c)]) *
                       s.values[static_cast<std::size_t>(r * l.cols + c)]);
      }
    for (std::int64_t row = 0; row < ldda; ++row) {
      const std::size_t at = static_cast<std::size_t>(i * ldda + row);
      if (row >= l.k) {  // row padding: untouched
        if (std::memcmp(&da_got[at], &da0[at], sizeof(float)) != 0) ++bad.da;
        continue;
      }
      const double old = beta == 0.f ? 0.0 : da0[at];
      if (!within(da_got[at], da_want[at], static_cast<double>(l.cols), alpha, mag[static_cast<std::size_t>(row)], beta,
                  old))
        ++bad.da;
    }
  }
  for (std::int64_t r = 0; r < l.kept_rows(); ++r)
    for (std::int64_t c = 0; c < l.cols; ++c) {
      const std::size_t at = static_cast<std::size_t>(r * l.cols + c);
      const std::int64_t row = l.dense_row(r, c / l.v, s.index.data());
      double mag = 0;
      if (row < l.k)
        for (std::int64_t i = 0; i < rows; ++i)
          mag += std::abs(static_cast<double>(a[static_cast<std::size_t>(i * lda + row)]) *
                          dc[static_cast<std::size_t>(i * lddc + c)]);
      const double old = beta == 0.f ? 0.0 : dv0[at];
      if (!within(dv_got[at], dv_want[at], static_cast<double>(rows), alpha, mag, beta, old)) ++bad.dvalues;
    }
  return bad;
}

void check_grads(const NMLayout& l, std::int64_t rows, float alpha, float beta) {
  const Sparse s = make_sparse(l, 7);
  for (NmIsa isa : available_isas()) {
    SCOPED_TRACE(meridian::cat(cpu::detail::nm_isa_name(isa), " rows=", rows, " alpha=", alpha, " beta=", beta));
    const GradViolations bad = grad_violations(isa, s, rows, alpha, beta);
    EXPECT_EQ(bad.da, 0);
    EXPECT_EQ(bad.dvalues, 0);
  }
}

TEST(NmSpmmGrad, EveryNmvAndIsaMatchesReference) {
  for (int m : kMs)
    for (int n = 1; n < m; ++n) {
      if (m >= 32 && n % 5 != 1 && n != m - 1 && n != m / 2) continue;  // keep the run short at large m
      for (int v : kVs) {
        const NMLayout l{2 * m + 3, v + 37, n, m, v};  // k and cols not multiples of m and v
        SCOPED_TRACE(name(l));
        check_grads(l, 11, 0.75f, -1.5f);
        check_grads(l, 6, 1.25f, 0.f);
      }
    }
}

// The n that EveryNmvAndIsaMatchesReference skips at m = 32 and 64, with the widest instruction set only.
TEST(NmSpmmGrad, EveryNAtLargeMWithTheWidestIsa) {
  const NmIsa isa = available_isas().back();
  for (int m : {32, 64})
    for (int n = 1; n < m; ++n)
      for (int v : kVs) {
        const NMLayout l{2 * m + 3, v + 37, n, m, v};
        SCOPED_TRACE(meridian::cat(cpu::detail::nm_isa_name(isa), " ", name(l)));
        const Sparse s = make_sparse(l, 17);
        const GradViolations bad = grad_violations(isa, s, 7, -1.25f, 0.5f);
        EXPECT_EQ(bad.da, 0);
        EXPECT_EQ(bad.dvalues, 0);
      }
}

// Shapes that cross the kernels' blocks: more than one block of columns (dA: 256; dvalues dot path: 128),
// of rows (dvalues: 256, so later blocks accumulate), of windows, and row tiles with tails.
TEST(NmSpmmGrad, LargerShapes) {
  check_grads(NMLayout{1000, 300, 2, 4, 1}, 67, 1.f, 0.5f);
  check_grads(NMLayout{1000, 300, 8, 32, 32}, 67, 1.f, 0.f);
  for (const NMLayout& l : {NMLayout{301, 290, 2, 4, 1}, NMLayout{301, 290, 3, 8, 4}, NMLayout{301, 290, 4, 16, 8},
                            NMLayout{301, 290, 8, 32, 16}, NMLayout{301, 290, 16, 32, 32},
                            NMLayout{301, 290, 4, 32, 64}, NMLayout{301, 290, 1, 64, 128}}) {
    SCOPED_TRACE(name(l));
    check_grads(l, 261, -0.5f, 0.f);
    check_grads(l, 517, 1.5f, 2.f);
  }
}

TEST(NmSpmmGrad, EmptyShapes) {
  for (NmIsa isa : available_isas()) {
    SCOPED_TRACE(cpu::detail::nm_isa_name(isa));
    // rows == 0: dvalues = beta·dvalues (0 over NaN when beta == 0); dA has no rows.
    const NMLayout l{8, 5, 2, 4, 1};
    const std::vector<std::uint8_t> idx(static_cast<std::size_t>(l.index_count()), 0);
    std::vector<float> dv(static_cast<std::size_t>(l.value_count()), 2.f);
    cpu::detail::nm_spmm_grad_b_with_isa(isa, 0, l, 1.f, nullptr, l.k, nullptr, l.cols, idx.data(), 0.5f, dv.data());
    for (float x : dv) EXPECT_EQ(x, 1.f);
    std::fill(dv.begin(), dv.end(), std::nanf(""));
    cpu::detail::nm_spmm_grad_b_with_isa(isa, 0, l, 1.f, nullptr, l.k, nullptr, l.cols, idx.data(), 0.f, dv.data());
    for (float x : dv) EXPECT_EQ(x, 0.f);
    cpu::detail::nm_spmm_grad_a_with_isa(isa, 0, l, 1.f, nullptr, l.cols, nullptr, nullptr, 0.f, nullptr, l.k);
    // cols == 0: dA = beta·dA.
    const NMLayout no_cols{8, 0, 2, 4, 1};
    std::vector<float> da(16, 2.f);
    cpu::detail::nm_spmm_grad_a_with_isa(isa, 2, no_cols, 1.f, nullptr, 0, nullptr, nullptr, 0.5f, da.data(), 8);
    for (float x : da) EXPECT_EQ(x, 1.f);
  }
}

// The public entry points run the default instruction set.
TEST(NmSpmmGrad, PublicEntryPointsMatchReference) {
  const NMLayout l{77, 70, 8, 32, 32};
  const Sparse s = make_sparse(l, 14);
  const std::int64_t rows = 19;
  const std::vector<float> dc = random_floats(rows * l.cols, 15), a = random_floats(rows * l.k, 16);
  std::vector<float> da_want(static_cast<std::size_t>(rows * l.k)), da_got(da_want.size(), std::nanf(""));
  std::vector<float> dv_want(static_cast<std::size_t>(l.value_count())), dv_got(dv_want.size(), std::nanf(""));
  ref::nm_spmm_grad_a(rows, l, 1.f, dc.data(), l.cols, s.values.data(), s.index.data(), 0.f, da_want.data(), l.k);
  cpu::nm_spmm_grad_a(rows, l, 1.f, dc.data(), l.cols, s.values.data(), s.index.data(), 0.f, da_got.data(), l.k);
  ref::nm_spmm_grad_b(rows, l, 1.f, a.data(), l.k, dc.data(), l.cols, s.index.data(), 0.f, dv_want.data());
  cpu::nm_spmm_grad_b(rows, l, 1.f, a.data(), l.k, dc.data(), l.cols, s.index.data(), 0.f, dv_got.data());
  // |err| <= 4 (len + 2) eps Σ|terms| <= 4 (len + 2) eps · len (every factor is in [-1, 1]).
  for (std::size_t x = 0; x < da_got.size(); ++x)
    EXPECT_NEAR(da_got[x], da_want[x], 4.0 * (l.cols + 2) * kEps * l.cols) << x;
  for (std::size_t x = 0; x < dv_got.size(); ++x)
    EXPECT_NEAR(dv_got[x], dv_want[x], 4.0 * (rows + 2) * kEps * rows) << x;
}

}  // namespace
