// N:M pruning, compression and the backward products on the CPU (the forward SpMM is in nm_spmm.cpp),
// parallel with Kokkos over windows, row blocks or kept-row blocks; semantics of kernels/reference/nm_sparse.hpp.
// Shapes (row-major): B (k x cols), A and dA (rows x k), dC (rows x cols), values/dvalues (kept_rows x cols).
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

constexpr std::int64_t kRowBlock = 4;  // rows of dA / kept rows of dvalues per task of the backward products

void require_kokkos(const char* what) {
  MERIDIAN_CHECK(Kokkos::is_initialized(), what, ": Kokkos is not initialized");
}

void check_dense(const char* what, const NMLayout& l, std::int64_t ld, std::int64_t min_ld, const void* p,
                 bool needed) {
  MERIDIAN_INPUT_CHECK(ld >= min_ld, what, ": leading dimension ", ld, " is smaller than ", min_ld);
  if (needed) MERIDIAN_INPUT_CHECK(p != nullptr, what, ": a required pointer is null");
  (void)l;
}

// Sum of x[i]·y[i] over [0, len) with four independent partial sums.
float dot(const float* x, const float* y, std::int64_t len) {
  float s0 = 0.f, s1 = 0.f, s2 = 0.f, s3 = 0.f;
  std::int64_t i = 0;
  for (; i + 4 <= len; i += 4) {
    s0 += x[i] * y[i];
    s1 += x[i + 1] * y[i + 1];
    s2 += x[i + 2] * y[i + 2];
    s3 += x[i + 3] * y[i + 3];
  }
  for (; i < len; ++i) s0 += x[i] * y[i];
  return (s0 + s1) + (s2 + s3);
}

float blend(float alpha, float acc, float beta, float old) {
  const float t = alpha * acc;
  return beta == 0.f ? t : t + beta * old;
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

void nm_spmm_grad_a(std::int64_t rows, const NMLayout& l, float alpha, const float* dc, std::int64_t lddc,
                    const float* values, const std::uint8_t* index, float beta, float* da, std::int64_t ldda) {
  check_nm_layout(l);
  MERIDIAN_INPUT_CHECK(rows >= 0, "cpu::nm_spmm_grad_a: rows = ", rows, " is negative");
  const bool work = rows > 0 && l.k > 0;
  check_dense("cpu::nm_spmm_grad_a", l, lddc, l.cols, dc, work && l.cols > 0);
  check_dense("cpu::nm_spmm_grad_a", l, ldda, l.k, da, work);
  check_dense("cpu::nm_spmm_grad_a", l, 0, 0, values, work && l.cols > 0);
  check_dense("cpu::nm_spmm_grad_a", l, 0, 0, index, work && l.cols > 0);
  require_kokkos("cpu::nm_spmm_grad_a");
  if (!work) return;
  const NMLayout lay = l;
  const std::int64_t cvs = l.col_vectors(), k_pad = l.windows() * l.m;
  const std::int64_t blocks = (rows + kRowBlock - 1) / kRowBlock;
  Kokkos::parallel_for("meridian::cpu::nm_spmm_grad_a", Range(0, blocks), [=](const std::int64_t blk) {
    // acc[ii·k_pad + row]: dA of row i0 + ii before alpha/beta.
    thread_local std::vector<float> acc;
    const std::int64_t i0 = blk * kRowBlock, nb = std::min(kRowBlock, rows - i0);
    acc.assign(static_cast<std::size_t>(nb * k_pad), 0.f);
    for (std::int64_t r = 0; r < lay.kept_rows(); ++r) {
      const std::int64_t base = (r / lay.n) * lay.m;
      const float* vrow = values + r * lay.cols;
      for (std::int64_t cv = 0; cv < cvs; ++cv) {
        const std::int64_t row = base + index[r * cvs + cv];
        if (row >= lay.k) continue;  // padding: no dA row
        const std::int64_t cb = cv * lay.v, len = std::min<std::int64_t>(lay.v, lay.cols - cb);
        for (std::int64_t ii = 0; ii < nb; ++ii)
          acc[static_cast<std::size_t>(ii * k_pad + row)] += dot(dc + (i0 + ii) * lddc + cb, vrow + cb, len);
      }
    }
    for (std::int64_t ii = 0; ii < nb; ++ii) {
      float* out = da + (i0 + ii) * ldda;
      for (std::int64_t row = 0; row < lay.k; ++row)
        out[row] = blend(alpha, acc[static_cast<std::size_t>(ii * k_pad + row)], beta, out[row]);
    }
  });
}

void nm_spmm_grad_b(std::int64_t rows, const NMLayout& l, float alpha, const float* a, std::int64_t lda,
                    const float* dc, std::int64_t lddc, const std::uint8_t* index, float beta, float* dvalues) {
  check_nm_layout(l);
  MERIDIAN_INPUT_CHECK(rows >= 0, "cpu::nm_spmm_grad_b: rows = ", rows, " is negative");
  const bool work = l.value_count() > 0;
  check_dense("cpu::nm_spmm_grad_b", l, lda, l.k, a, work && rows > 0);
  check_dense("cpu::nm_spmm_grad_b", l, lddc, l.cols, dc, work && rows > 0);
  check_dense("cpu::nm_spmm_grad_b", l, 0, 0, index, work);
  check_dense("cpu::nm_spmm_grad_b", l, 0, 0, dvalues, work);
  require_kokkos("cpu::nm_spmm_grad_b");
  if (!work) return;
  const NMLayout lay = l;
  const std::int64_t cvs = l.col_vectors(), cols = l.cols, kept_rows = l.kept_rows();
  const std::int64_t blocks = (kept_rows + kRowBlock - 1) / kRowBlock;
  Kokkos::parallel_for("meridian::cpu::nm_spmm_grad_b", Range(0, blocks), [=](const std::int64_t blk) {
    // acc[rr·cols + c]: dvalues of kept row r0 + rr before alpha/beta; dense[rr·cvs + cv]: its dense row
    // for vector cv, -1 at padding.
    thread_local std::vector<float> acc;
    thread_local std::vector<std::int64_t> dense;
    const std::int64_t r0 = blk * kRowBlock, nb = std::min(kRowBlock, kept_rows - r0);
    acc.assign(static_cast<std::size_t>(nb * cols), 0.f);
    dense.resize(static_cast<std::size_t>(nb * cvs));
    for (std::int64_t rr = 0; rr < nb; ++rr)
      for (std::int64_t cv = 0; cv < cvs; ++cv) {
        const std::int64_t row = lay.dense_row(r0 + rr, cv, index);
        dense[static_cast<std::size_t>(rr * cvs + cv)] = row < lay.k ? row : -1;
      }
    for (std::int64_t i = 0; i < rows; ++i) {
      const float* arow = a + i * lda;
      const float* drow = dc + i * lddc;
      for (std::int64_t rr = 0; rr < nb; ++rr) {
        float* out = acc.data() + rr * cols;
        for (std::int64_t cv = 0; cv < cvs; ++cv) {
          const std::int64_t row = dense[static_cast<std::size_t>(rr * cvs + cv)];
          if (row < 0) continue;
          const float av = arow[row];
          const std::int64_t cb = cv * lay.v, ce = std::min(cols, cb + lay.v);
          for (std::int64_t c = cb; c < ce; ++c) out[c] += av * drow[c];
        }
      }
    }
    for (std::int64_t rr = 0; rr < nb; ++rr) {
      float* out = dvalues + (r0 + rr) * cols;
      for (std::int64_t c = 0; c < cols; ++c) out[c] = blend(alpha, acc[static_cast<std::size_t>(rr * cols + c)], beta, out[c]);
    }
  });
}

}  // namespace meridian::kernels::cpu
