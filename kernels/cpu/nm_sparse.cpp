// N:M pruning, compression and decompression on the CPU (the forward SpMM is in nm_spmm.cpp, its backward
// products in nm_spmm_grad.cpp), parallel with Kokkos over windows; semantics of kernels/reference/nm_sparse.hpp.
// Shapes (row-major): B (k x cols), values (kept_rows x cols), index (kept_rows x col_vectors).
#include <Kokkos_Core.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/common/error.hpp"
#include "kernels/cpu/nm_sparse.hpp"
#include "kernels/cpu/nm_sparse_detail.hpp"

namespace meridian::kernels::cpu {
namespace {

using HostSpace = Kokkos::DefaultHostExecutionSpace;
using Range = Kokkos::RangePolicy<HostSpace, Kokkos::IndexType<std::int64_t>>;

void require_kokkos(const char* what) {
  MERIDIAN_CHECK(Kokkos::is_initialized(), what, ": Kokkos is not initialized");
}

void check_dense(const char* what, const NMLayout& l, std::int64_t ld, std::int64_t min_ld, const void* p,
                 bool needed) {
  MERIDIAN_INPUT_CHECK(ld >= min_ld, what, ": leading dimension ", ld, " is smaller than ", min_ld);
  if (needed) MERIDIAN_INPUT_CHECK(p != nullptr, what, ": a required pointer is null");
  (void)l;
}

// The argument checks shared by compress and decompress: a valid layout, a dense B of k x cols
// with row stride ldb, index and values buffers present when they hold anything, Kokkos running.
void check_format_arguments(const char* what, const NMLayout& l, const float* b, std::int64_t ldb,
                            const std::uint8_t* index, const float* values) {
  check_nm_layout(l);
  check_dense(what, l, ldb, l.cols, b, l.k > 0 && l.cols > 0);
  check_dense(what, l, 0, 0, index, l.index_count() > 0);
  check_dense(what, l, 0, 0, values, l.value_count() > 0);
  require_kokkos(what);
}

}  // namespace

void nm_select(const float* b, std::int64_t ldb, const NMLayout& l, std::uint8_t* index) {
  check_nm_layout(l);
  check_dense("cpu::nm_select", l, ldb, l.cols, b, l.k > 0 && l.cols > 0);
  check_dense("cpu::nm_select", l, 0, 0, index, l.index_count() > 0);
  require_kokkos("cpu::nm_select");
  const std::int64_t cvs = l.col_vectors(), cols = l.cols, k = l.k;
  const int n = l.n, m = l.m, v = l.v;
  Kokkos::parallel_for("meridian::cpu::nm_select", Range(0, l.windows()), [=](const std::int64_t w) {
    // score[cv·m + o]: sum of |B| over the vector's columns of window row o, in column order as the
    // reference sums it (ties must resolve identically); rows past k score -inf (chosen last).
    thread_local std::vector<double> score;
    score.assign(static_cast<std::size_t>(cvs * m), 0.0);
    for (int o = 0; o < m; ++o) {
      const std::int64_t row = w * m + o;
      if (row >= k) {
        for (std::int64_t cv = 0; cv < cvs; ++cv)
          score[static_cast<std::size_t>(cv * m + o)] = -std::numeric_limits<double>::infinity();
        continue;
      }
      const float* brow = b + row * ldb;
      for (std::int64_t c = 0; c < cols; ++c)
        score[static_cast<std::size_t>((c / v) * m + o)] += std::abs(static_cast<double>(brow[c]));
    }
    for (std::int64_t cv = 0; cv < cvs; ++cv) {
      const double* s = score.data() + cv * m;
      int j = 0;
      for (int o = 0; o < m && j < n; ++o) {
        // Rank of o in a descending order that breaks ties by the lower row.
        int rank = 0;
        for (int q = 0; q < m; ++q) rank += (s[q] > s[o] || (s[q] == s[o] && q < o)) ? 1 : 0;
        if (rank < n) index[(w * n + j++) * cvs + cv] = static_cast<std::uint8_t>(o);
      }
    }
  });
}

void nm_compress(const float* b, std::int64_t ldb, const NMLayout& l, const std::uint8_t* index, float* values) {
  check_format_arguments("cpu::nm_compress", l, b, ldb, index, values);
  const NMLayout lay = l;
  Kokkos::parallel_for("meridian::cpu::nm_compress", Range(0, l.windows()), [=](const std::int64_t w) {
    for (std::int64_t r = w * lay.n; r < (w + 1) * lay.n; ++r)
      for (std::int64_t c = 0; c < lay.cols; ++c) {
        const std::int64_t row = lay.dense_row(r, c / lay.v, index);
        values[r * lay.cols + c] = row < lay.k ? b[row * ldb + c] : 0.f;
      }
  });
}

void nm_decompress(const NMLayout& l, const float* values, const std::uint8_t* index, float* b, std::int64_t ldb) {
  check_format_arguments("cpu::nm_decompress", l, b, ldb, index, values);
  const NMLayout lay = l;
  // Each window owns its m rows of B, so windows are independent.
  Kokkos::parallel_for("meridian::cpu::nm_decompress", Range(0, l.windows()), [=](const std::int64_t w) {
    const std::int64_t row_end = std::min(lay.k, (w + 1) * lay.m);
    for (std::int64_t row = w * lay.m; row < row_end; ++row)
      std::fill(b + row * ldb, b + row * ldb + lay.cols, 0.f);
    for (std::int64_t r = w * lay.n; r < (w + 1) * lay.n; ++r)
      for (std::int64_t c = 0; c < lay.cols; ++c) {
        const std::int64_t row = lay.dense_row(r, c / lay.v, index);
        if (row < lay.k) b[row * ldb + c] = values[r * lay.cols + c];
      }
  });
}

namespace {
detail::NmIsa cached_isa() {
  static const detail::NmIsa isa = detail::nm_choose_isa();
  return isa;
}
}  // namespace

void nm_spmm(std::int64_t rows, const NMLayout& layout, float alpha, const float* a, std::int64_t lda,
             const float* values, const std::uint8_t* index, float beta, float* c, std::int64_t ldc) {
  detail::nm_spmm_with_isa(cached_isa(), rows, layout, alpha, a, lda, values, index, beta, c, ldc);
}

const char* nm_spmm_isa() { return detail::nm_isa_name(cached_isa()); }

}  // namespace meridian::kernels::cpu
