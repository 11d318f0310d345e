// Validation of N:M layouts (the format itself is described in nm_layout.hpp).
#include "kernels/common/nm_layout.hpp"

#include "kernels/common/error.hpp"

namespace meridian {

void check_nm_layout(const NMLayout& l) {
  const bool m_ok = l.m == 4 || l.m == 8 || l.m == 16 || l.m == 32 || l.m == 64;
  MERIDIAN_INPUT_CHECK(m_ok, "N:M sparsity: M = ", l.m, " is not supported; use 4, 8, 16, 32 or 64");
  MERIDIAN_INPUT_CHECK(l.n >= 1 && l.n < l.m, "N:M sparsity: N = ", l.n, " must satisfy 1 <= N < M = ", l.m,
                       " (N is the number of rows kept in every window of M)");
  const bool v_ok = l.v == 1 || l.v == 4 || l.v == 8 || l.v == 16 || l.v == 32 || l.v == 64 || l.v == 128;
  MERIDIAN_INPUT_CHECK(v_ok, "N:M sparsity: vector length V = ", l.v, " is not supported; use 1, 4, 8, 16, 32, 64 or 128");
  MERIDIAN_INPUT_CHECK(l.k >= 0 && l.cols >= 0, "N:M sparsity: the weight matrix shape (", l.k, " x ", l.cols,
                       ") has a negative dimension");
}

}  // namespace meridian
