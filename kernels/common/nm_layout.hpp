// Vector-wise N:M sparsity of the weight operand B (k x cols) of C = A·B: along k, every window of
// `m` consecutive rows keeps `n` of them, and the choice is shared by a vector of `v` consecutive
// columns (v = 1: element-wise N:M; 2:4 with v = 1 is the sparse-tensor-core pattern).
// Compressed storage, row-major:
//   values (kept_rows x cols): row r = w·n + j holds, for every column c, B[w·m + index(r, c/v), c];
//   index  (kept_rows x col_vectors), u8: the offset in window w (0..m-1) of the j-th kept row of
//          column vector cv; the n offsets of a (window, vector) are strictly increasing in j.
// k is padded to a whole number of windows internally: a kept position whose row w·m + offset is
// >= k is padding, its value is 0, and kernels never read A there.
#pragma once

#include <cstdint>

#include "kernels/common/hd.hpp"

namespace meridian {

struct NMLayout {
  std::int64_t k = 0;     // rows of the dense B (the reduction dimension)
  std::int64_t cols = 0;  // columns of B (= columns of C)
  int n = 0;              // kept rows per window
  int m = 0;              // window length along k
  int v = 1;              // columns sharing one choice

  MERIDIAN_HD std::int64_t windows() const { return (k + m - 1) / m; }
  MERIDIAN_HD std::int64_t kept_rows() const { return windows() * n; }
  MERIDIAN_HD std::int64_t col_vectors() const { return (cols + v - 1) / v; }
  MERIDIAN_HD std::int64_t value_count() const { return kept_rows() * cols; }
  MERIDIAN_HD std::int64_t index_count() const { return kept_rows() * col_vectors(); }
  // Dense row of B that kept row r holds for column vector cv (may be >= k: padding).
  MERIDIAN_HD std::int64_t dense_row(std::int64_t r, std::int64_t cv, const std::uint8_t* index) const {
    return (r / n) * m + index[r * col_vectors() + cv];
  }
  // Fraction of B's entries that are zero by construction (0.5 for 2:4, 0.875 for 4:32).
  MERIDIAN_HD double sparsity() const { return 1.0 - static_cast<double>(n) / m; }
};

// Throws InputError naming what is wrong unless m ∈ {4, 8, 16, 32, 64}, 1 <= n < m,
// v ∈ {1, 4, 8, 16, 32, 64, 128}, k >= 0 and cols >= 0.
void check_nm_layout(const NMLayout& layout);

}  // namespace meridian
