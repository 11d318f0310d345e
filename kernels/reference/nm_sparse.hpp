// Plain reference of the N:M sparse format (kernels/common/nm_layout.hpp): magnitude pruning,
// compress, decompress, and the three products of a sparse Linear layer. Loops in the most
// obvious order with double accumulation; the ground truth of the tests, never fast.
// Shapes (row-major, leading dimensions in elements): A (rows x k), B (k x cols), C (rows x cols).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include "kernels/common/nm_layout.hpp"

namespace meridian::kernels::reference {

// Chooses, for every (window, column vector), the n rows of the window with the largest sum of
// |B| over the vector's columns (ties: the lower row). Rows past k (padding) are chosen last.
inline void nm_select(const float* b, std::int64_t ldb, const NMLayout& l, std::uint8_t* index) {
  const std::int64_t cvs = l.col_vectors();
  std::vector<double> score(static_cast<std::size_t>(l.m));
  std::vector<int> order(static_cast<std::size_t>(l.m));
  for (std::int64_t w = 0; w < l.windows(); ++w) {
    for (std::int64_t cv = 0; cv < cvs; ++cv) {
      const std::int64_t c_end = std::min(l.cols, (cv + 1) * l.v);
      for (int o = 0; o < l.m; ++o) {
        const std::int64_t row = w * l.m + o;
        double s = -std::numeric_limits<double>::infinity();
        if (row < l.k) {
          s = 0;
          for (std::int64_t c = cv * l.v; c < c_end; ++c) s += std::abs(static_cast<double>(b[row * ldb + c]));
        }
        score[static_cast<std::size_t>(o)] = s;
      }
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int x, int y) {
        return score[static_cast<std::size_t>(x)] > score[static_cast<std::size_t>(y)];
      });
      std::sort(order.begin(), order.begin() + l.n);
      for (int j = 0; j < l.n; ++j)
        index[(w * l.n + j) * cvs + cv] = static_cast<std::uint8_t>(order[static_cast<std::size_t>(j)]);
    }
  }
}

// values = the kept entries of B under `index` (0 at padding rows).
inline void nm_compress(const float* b, std::int64_t ldb, const NMLayout& l, const std::uint8_t* index,
                        float* values) {
  for (std::int64_t r = 0; r < l.kept_rows(); ++r)
    for (std::int64_t c = 0; c < l.cols; ++c) {
      const std::int64_t row = l.dense_row(r, c / l.v, index);
      values[r * l.cols + c] = row < l.k ? b[row * ldb + c] : 0.f;
    }
}

// B (k x cols) = the dense matrix with the kept values in place and zeros elsewhere.
inline void nm_decompress(const NMLayout& l, const float* values, const std::uint8_t* index, float* b,
                          std::int64_t ldb) {
  for (std::int64_t row = 0; row < l.k; ++row)
    for (std::int64_t c = 0; c < l.cols; ++c) b[row * ldb + c] = 0.f;
  for (std::int64_t r = 0; r < l.kept_rows(); ++r)
    for (std::int64_t c = 0; c < l.cols; ++c) {
      const std::int64_t row = l.dense_row(r, c / l.v, index);
      if (row < l.k) b[row * ldb + c] = values[r * l.cols + c];
    }
}

// C (rows x cols) = alpha · A · B + beta · C with B in compressed form; beta == 0: C is write-only.
inline void nm_spmm(std::int64_t rows, const NMLayout& l, float alpha, const float* a, std::int64_t lda,
                    const float* values, const std::uint8_t* index, float beta, float* c, std::int64_t ldc) {
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t col = 0; col < l.cols; ++col) {
      double acc = 0;
      for (std::int64_t r = 0; r < l.kept_rows(); ++r) {
        const std::int64_t row = l.dense_row(r, col / l.v, index);
        if (row < l.k) acc += static_cast<double>(a[i * lda + row]) * values[r * l.cols + col];
      }
      const double old = beta == 0.f ? 0.0 : static_cast<double>(beta) * c[i * ldc + col];
      c[i * ldc + col] = static_cast<float>(alpha * acc + old);
    }
}

// dA (rows x k) = alpha · dC · Bᵀ + beta · dA (the input gradient of C = A·B).
inline void nm_spmm_grad_a(std::int64_t rows, const NMLayout& l, float alpha, const float* dc, std::int64_t lddc,
                           const float* values, const std::uint8_t* index, float beta, float* da, std::int64_t ldda) {
  std::vector<double> acc(static_cast<std::size_t>(l.k));
  for (std::int64_t i = 0; i < rows; ++i) {
    std::fill(acc.begin(), acc.end(), 0.0);
    for (std::int64_t r = 0; r < l.kept_rows(); ++r)
      for (std::int64_t col = 0; col < l.cols; ++col) {
        const std::int64_t row = l.dense_row(r, col / l.v, index);
        if (row < l.k) acc[static_cast<std::size_t>(row)] += static_cast<double>(dc[i * lddc + col]) * values[r * l.cols + col];
      }
    for (std::int64_t row = 0; row < l.k; ++row) {
      const double old = beta == 0.f ? 0.0 : static_cast<double>(beta) * da[i * ldda + row];
      da[i * ldda + row] = static_cast<float>(alpha * acc[static_cast<std::size_t>(row)] + old);
    }
  }
}

// dvalues (kept_rows x cols) = alpha · (Aᵀ · dC) at the kept positions + beta · dvalues: the weight
// gradient of C = A·B restricted to the entries B keeps (0 at padding rows).
inline void nm_spmm_grad_b(std::int64_t rows, const NMLayout& l, float alpha, const float* a, std::int64_t lda,
                           const float* dc, std::int64_t lddc, const std::uint8_t* index, float beta, float* dvalues) {
  for (std::int64_t r = 0; r < l.kept_rows(); ++r)
    for (std::int64_t col = 0; col < l.cols; ++col) {
      const std::int64_t row = l.dense_row(r, col / l.v, index);
      double acc = 0;
      if (row < l.k)
        for (std::int64_t i = 0; i < rows; ++i) acc += static_cast<double>(a[i * lda + row]) * dc[i * lddc + col];
      float& out = dvalues[r * l.cols + col];
      const double old = beta == 0.f ? 0.0 : static_cast<double>(beta) * out;
      out = static_cast<float>(alpha * acc + old);
    }
}

}  // namespace meridian::kernels::reference
