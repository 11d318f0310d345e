// spmm_bench's correctness checks (see spmm_check.hpp): the per-row and per-column magnitudes and
// the dense pass run in parallel on the Kokkos host space, each sum in a fixed order; the counts are
// integer sums, so no result depends on the thread count. The 64 samples are few and run serially.
#include "spmm_check.hpp"

#include <Kokkos_Core.hpp>
#include <cmath>
#include <limits>
#include <vector>

#include "core/rng.hpp"
#include "kernels/common/dtype.hpp"

namespace meridian::bench {
namespace {

using HostRange = Kokkos::RangePolicy<Kokkos::DefaultHostExecutionSpace, Kokkos::IndexType<std::int64_t>>;

constexpr int kSamples = 64;
constexpr std::int64_t kColumnBlock = 256;  // columns per task of the column reductions
const double kTiny = std::numeric_limits<float>::min();

double gamma_of(std::int64_t length) {
  return 2.0 * static_cast<double>(length + 2) * std::numeric_limits<float>::epsilon();
}

bool within(double x, double reference, double bound) {
  return std::isfinite(x) && std::abs(x - reference) <= bound + kTiny;
}

// max_j |x_ij| (max) or Σ_j |x_ij| (!max), in order, for every row i of x (rows × cols).
std::vector<double> row_magnitudes(const float* x, std::int64_t rows, std::int64_t cols, bool max) {
  std::vector<double> out(static_cast<std::size_t>(rows), 0.0);
  double* o = out.data();
  Kokkos::parallel_for("meridian::bench::row_magnitudes", HostRange(0, rows), [=](const std::int64_t i) {
    double r = 0.0;
    for (std::int64_t j = 0; j < cols; ++j) {
      const double v = std::abs(static_cast<double>(x[i * cols + j]));
      r = max ? std::max(r, v) : r + v;
    }
    o[i] = r;
  });
  return out;
}

// max_i |x_ij| or Σ_i |x_ij| for every column j: a task takes kColumnBlock columns and walks the rows
// in order (each load a contiguous row segment).
std::vector<double> column_magnitudes(const float* x, std::int64_t rows, std::int64_t cols, bool max) {
  std::vector<double> out(static_cast<std::size_t>(cols), 0.0);
  double* o = out.data();
  const std::int64_t blocks = (cols + kColumnBlock - 1) / kColumnBlock;
  Kokkos::parallel_for("meridian::bench::column_magnitudes", HostRange(0, blocks), [=](const std::int64_t b) {
    const std::int64_t begin = b * kColumnBlock, end = std::min(cols, begin + kColumnBlock);
    for (std::int64_t i = 0; i < rows; ++i)
      for (std::int64_t j = begin; j < end; ++j) {
        const double v = std::abs(static_cast<double>(x[i * cols + j]));
        o[j] = max ? std::max(o[j], v) : o[j] + v;
      }
  });
  return out;
}

// Σ over rows i of out_of_bound(i): the entries of row i that break the bound.
template <class RowCount>
std::int64_t count_rows(std::int64_t rows, const RowCount& out_of_bound) {
  std::int64_t total = 0;
  Kokkos::parallel_reduce(
      "meridian::bench::count_wrong", HostRange(0, rows),
      [=](const std::int64_t i, std::int64_t& sum) { sum += out_of_bound(i); }, total);
  return total;
}

// The entries (i, j) of x (rows × cols) farther from `reference` than gamma·row_scale[i]·col_scale[j].
std::int64_t count_out_of_bound(const float* x, const float* reference, std::int64_t rows, std::int64_t cols,
                                double gamma, const std::vector<double>& row_scale,
                                const std::vector<double>& col_scale) {
  const double* rs = row_scale.data();
  const double* cs = col_scale.data();
  return count_rows(rows, [=](const std::int64_t i) {
    std::int64_t w = 0;
    for (std::int64_t j = 0; j < cols; ++j)
      w += within(x[i * cols + j], reference[i * cols + j], gamma * rs[i] * cs[j]) ? 0 : 1;
    return w;
  });
}

}  // namespace

SpmmCheckCounts check_spmm_forward(std::int64_t m, const NMLayout& layout, const float* a, const float* b_pruned,
                                   const float* values, const std::uint8_t* index, const float* c_sparse,
                                   const float* c_dense, const float* c_bf16) {
  const std::int64_t n = layout.cols, k = layout.k;
  const std::vector<double> row_max_a = row_magnitudes(a, m, k, true);
  const std::vector<double> col_sum_b = column_magnitudes(b_pruned, k, n, false);
  const double gamma = gamma_of(k);
  SpmmCheckCounts counts;
  counts.wrong = count_out_of_bound(c_sparse, c_dense, m, n, gamma, row_max_a, col_sum_b);
  if (c_bf16 != nullptr)
    counts.bf16_wrong =
        count_out_of_bound(c_bf16, c_sparse, m, n, gamma + 2.0 * std::ldexp(1.0, -8), row_max_a, col_sum_b);

  Rng rng(0x5eed, stream_id(StreamPurpose::test, 1));
  for (int t = 0; t < kSamples; ++t) {
    const auto i = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(m)));
    const auto c = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(n)));
    double exact = 0, exact16 = 0, abs_sum = 0;
    for (std::int64_t r = 0; r < layout.kept_rows(); ++r) {
      const std::int64_t row = layout.dense_row(r, c / layout.v, index);
      if (row >= k) continue;  // padding of the last window
      const float av = a[i * k + row], bv = values[r * n + c];
      exact += static_cast<double>(av) * bv;
      exact16 += static_cast<double>(round_to_bf16(av)) * round_to_bf16(bv);
      abs_sum += std::abs(static_cast<double>(av) * bv);
    }
    counts.wrong += within(c_sparse[i * n + c], exact, gamma * abs_sum) ? 0 : 1;
    if (c_bf16 != nullptr)  // 1.02: |a||b| of the bf16-rounded inputs may exceed the fp32 one by 2·2⁻⁸
      counts.bf16_wrong += within(c_bf16[i * n + c], exact16, gamma * 1.02 * abs_sum) ? 0 : 1;
  }
  return counts;
}

std::int64_t check_spmm_grad_a(std::int64_t m, const NMLayout& layout, const float* dc, const float* b_pruned,
                               const float* values, const std::uint8_t* index, const float* da_sparse,
                               const float* da_dense) {
  const std::int64_t n = layout.cols, k = layout.k;
  const std::vector<double> row_max_dc = row_magnitudes(dc, m, n, true);
  const std::vector<double> row_sum_b = row_magnitudes(b_pruned, k, n, false);
  const double gamma = gamma_of(n);
  std::int64_t wrong = count_out_of_bound(da_sparse, da_dense, m, k, gamma, row_max_dc, row_sum_b);
  // Samples as kernels/reference sums them: over the kept rows of j's window whose index names j.
  Rng rng(0x5eed, stream_id(StreamPurpose::test, 2));
  for (int t = 0; t < kSamples; ++t) {
    const auto i = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(m)));
    const auto j = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(k)));
    double exact = 0, abs_sum = 0;
    for (std::int64_t r = (j / layout.m) * layout.n; r < (j / layout.m + 1) * layout.n; ++r)
      for (std::int64_t c = 0; c < n; ++c) {
        if (layout.dense_row(r, c / layout.v, index) != j) continue;
        const double p = static_cast<double>(dc[i * n + c]) * values[r * n + c];
        exact += p;
        abs_sum += std::abs(p);
      }
    wrong += within(da_sparse[i * k + j], exact, gamma * abs_sum) ? 0 : 1;
  }
  return wrong;
}

std::int64_t check_spmm_grad_b(std::int64_t m, const NMLayout& layout, const float* a, const float* dc,
                               const std::uint8_t* index, const float* dvalues, const float* db_dense) {
  const std::int64_t n = layout.cols, k = layout.k;
  const std::vector<double> col_sum_a = column_magnitudes(a, m, k, false);
  const std::vector<double> col_max_dc = column_magnitudes(dc, m, n, true);
  const double* sa = col_sum_a.data();
  const double* md = col_max_dc.data();
  const double gamma = gamma_of(m);
  const NMLayout l = layout;
  std::int64_t wrong = count_rows(layout.kept_rows(), [=](const std::int64_t r) {
    std::int64_t w = 0;
    for (std::int64_t c = 0; c < n; ++c) {
      const std::int64_t j = l.dense_row(r, c / l.v, index);
      const double x = dvalues[r * n + c];
      if (j >= k)  // padding of the last window
        w += x == 0.0 ? 0 : 1;
      else
        w += within(x, db_dense[j * n + c], gamma * sa[j] * md[c]) ? 0 : 1;
    }
    return w;
  });
  Rng rng(0x5eed, stream_id(StreamPurpose::test, 3));
  for (int t = 0; t < kSamples; ++t) {
    const auto r = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(layout.kept_rows())));
    const auto c = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(n)));
    const std::int64_t j = layout.dense_row(r, c / layout.v, index);
    double exact = 0, abs_sum = 0;
    for (std::int64_t i = 0; j < k && i < m; ++i) {
      const double p = static_cast<double>(a[i * k + j]) * dc[i * n + c];
      exact += p;
      abs_sum += std::abs(p);
    }
    wrong += within(dvalues[r * n + c], exact, gamma * abs_sum) ? 0 : 1;
  }
  return wrong;
}

}  // namespace meridian::bench
