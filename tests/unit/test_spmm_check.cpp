// spmm_bench's correctness checks (apps/bench/spmm_check.hpp): results of the CPU kernels pass; one
// entry out of bound is counted exactly once; a wrong compressed format is caught by the samples;
// padding that is not zero is caught.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "common/kernel_test_data.hpp"
#include "kernels/common/dtype.hpp"
#include "kernels/common/nm_layout.hpp"
#include "kernels/cpu/nm_sparse.hpp"
#include "spmm_check.hpp"

namespace {

using meridian::NMLayout;
using meridian::round_to_bf16;
namespace cpu = meridian::kernels::cpu;
namespace bench = meridian::bench;
using meridian::test::random_floats;

// One problem C (m×n) = A (m×k) · B (k×n), B pruned to `layout`, with the products the checks take.
struct Problem {
  std::int64_t m;
  NMLayout l;
  std::vector<float> a, b_pruned, values, c_sparse, c_dense, c_bf16;
  std::vector<std::uint8_t> index;
  std::vector<float> dc, da_sparse, da_dense, dvalues, db_dense;

  Problem(std::int64_t rows, NMLayout layout) : m(rows), l(layout) {
    const std::int64_t n = l.cols, k = l.k;
    a = random_floats(m * k, 1);
    const std::vector<float> b = random_floats(k * n, 2);
    dc = random_floats(m * n, 3);
    index.resize(static_cast<std::size_t>(l.index_count()));
    values.resize(static_cast<std::size_t>(l.value_count()));
    b_pruned.resize(static_cast<std::size_t>(k * n));
    cpu::nm_select(b.data(), n, l, index.data());
    cpu::nm_compress(b.data(), n, l, index.data(), values.data());
    cpu::nm_decompress(l, values.data(), index.data(), b_pruned.data(), n);

    c_sparse.resize(static_cast<std::size_t>(m * n));
    cpu::nm_spmm(m, l, 1.f, a.data(), k, values.data(), index.data(), 0.f, c_sparse.data(), n);
    da_sparse.resize(static_cast<std::size_t>(m * k));
    cpu::nm_spmm_grad_a(m, l, 1.f, dc.data(), n, values.data(), index.data(), 0.f, da_sparse.data(), k);
    dvalues.resize(static_cast<std::size_t>(l.value_count()));
    cpu::nm_spmm_grad_b(m, l, 1.f, a.data(), k, dc.data(), n, index.data(), 0.f, dvalues.data());

    // The dense products in fp32, plain loops (the bench uses sgemm/cuBLAS here).
    c_dense.assign(static_cast<std::size_t>(m * n), 0.f);
    c_bf16.assign(static_cast<std::size_t>(m * n), 0.f);
    da_dense.assign(static_cast<std::size_t>(m * k), 0.f);
    db_dense.assign(static_cast<std::size_t>(k * n), 0.f);
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < k; ++j)
        for (std::int64_t c = 0; c < n; ++c) {
          const float av = at(a, i * k + j), bv = at(b_pruned, j * n + c), dv = at(dc, i * n + c);
          at(c_dense, i * n + c) += av * bv;
          at(c_bf16, i * n + c) += round_to_bf16(av) * round_to_bf16(bv);
          at(da_dense, i * k + j) += dv * bv;
          at(db_dense, j * n + c) += av * dv;
        }
  }

  static float& at(std::vector<float>& v, std::int64_t i) { return v[static_cast<std::size_t>(i)]; }

  bench::SpmmCheckCounts forward() const {
    return bench::check_spmm_forward(m, l, a.data(), b_pruned.data(), values.data(), index.data(), c_sparse.data(),
                                     c_dense.data(), c_bf16.data());
  }
  std::int64_t grad_a() const {
    return bench::check_spmm_grad_a(m, l, dc.data(), b_pruned.data(), values.data(), index.data(), da_sparse.data(),
                                    da_dense.data());
  }
  std::int64_t grad_b() const {
    return bench::check_spmm_grad_b(m, l, a.data(), dc.data(), index.data(), dvalues.data(), db_dense.data());
  }
};

// Odd shapes with tails in every dimension (K is not a multiple of m, N not of v).
const NMLayout kLayouts[] = {{.k = 61, .cols = 70, .n = 2, .m = 4, .v = 1},
                             {.k = 75, .cols = 80, .n = 8, .m = 32, .v = 32},
                             {.k = 43, .cols = 37, .n = 3, .m = 8, .v = 4}};

TEST(SpmmCheck, KernelResultsPass) {
  for (const NMLayout& l : kLayouts) {
    const Problem p(29, l);
    const bench::SpmmCheckCounts f = p.forward();
    EXPECT_EQ(f.wrong, 0) << l.n << ":" << l.m << ":" << l.v;
    EXPECT_EQ(f.bf16_wrong, 0) << l.n << ":" << l.m << ":" << l.v;
    EXPECT_EQ(p.grad_a(), 0) << l.n << ":" << l.m << ":" << l.v;
    EXPECT_EQ(p.grad_b(), 0) << l.n << ":" << l.m << ":" << l.v;
    // Without a bf16 result there is nothing to count for it.
    EXPECT_EQ(bench::check_spmm_forward(p.m, l, p.a.data(), p.b_pruned.data(), p.values.data(), p.index.data(),
                                        p.c_sparse.data(), p.c_dense.data())
                  .bf16_wrong,
              0);
  }
}

TEST(SpmmCheck, OneEntryOutOfBoundCountsOnce) {
  for (const NMLayout& l : kLayouts) {
    // The dense references are never sampled, so a wrong one is counted by the dense pass alone.
    Problem p(29, l);
    Problem::at(p.c_dense, 5 * l.cols + 7) += 1e-3f;
    EXPECT_EQ(p.forward().wrong, 1);
    Problem::at(p.da_dense, 3 * l.k + 11) -= 1e-3f;
    EXPECT_EQ(p.grad_a(), 1);
    Problem::at(p.db_dense, l.dense_row(2, 0, p.index.data()) * l.cols) += 1e-3f;
    EXPECT_EQ(p.grad_b(), 1);
    // A bf16 result off by more than the inputs' rounding can explain.
    Problem::at(p.c_bf16, 4 * l.cols + 2) += 1.f;
    EXPECT_EQ(p.forward().bf16_wrong, 1);
  }
}

TEST(SpmmCheck, NonFiniteEntriesAreWrong) {
  Problem p(17, kLayouts[0]);
  Problem::at(p.c_sparse, 3) = std::numeric_limits<float>::quiet_NaN();
  Problem::at(p.da_sparse, 4) = std::numeric_limits<float>::infinity();
  EXPECT_GE(p.forward().wrong, 1);
  EXPECT_GE(p.grad_a(), 1);
}

TEST(SpmmCheck, SamplesCatchAWrongCompressedFormat) {
  // The products agree with the decompressed B, but `values` no longer holds it: only the samples,
  // recomputed from the compressed format, can tell. Every forward sample does; a grad_a sample does
  // unless its row j of B is kept by no column (then both sides are 0, as at 8:32:32 here).
  for (const NMLayout& l : kLayouts) {
    Problem p(29, l);
    for (float& v : p.values) v *= 2.f;
    EXPECT_EQ(p.forward().wrong, 64) << l.n << ":" << l.m << ":" << l.v;
    EXPECT_GT(p.grad_a(), l.v == 1 ? 60 : 0) << l.n << ":" << l.m << ":" << l.v;
  }
}

TEST(SpmmCheck, NonZeroPaddingIsWrong) {
  // K = 61 in windows of 4: the last window's rows 61..63 are padding; their dvalues must stay 0.
  Problem p(17, kLayouts[0]);
  const NMLayout& l = p.l;
  bool found = false;
  for (std::int64_t r = 0; r < l.kept_rows() && !found; ++r)
    for (std::int64_t c = 0; c < l.cols && !found; ++c)
      if (l.dense_row(r, c / l.v, p.index.data()) >= l.k) {
        Problem::at(p.dvalues, r * l.cols + c) = 1e-30f;
        found = true;
      }
  ASSERT_TRUE(found) << "the pruning kept no padding row; the test needs one";
  EXPECT_GE(p.grad_b(), 1);
}

}  // namespace
