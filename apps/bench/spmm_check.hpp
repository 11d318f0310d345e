// The untimed correctness checks of spmm_bench (CPU and CUDA): each counts the entries of an N:M
// product that break a forward-error bound against the dense product on the decompressed B, plus 64
// sampled entries recomputed in double straight from the compressed format (values, index), so that
// a wrong decompress cannot hide a wrong SpMM. Row-major; A is M×K, B (pruned) K×N, C M×N; `layout`
// is B's N:M layout (layout.k = K, layout.cols = N). The loops run on the Kokkos host space; a count
// is the same whatever the thread count.
//
// Bounds (γ = 2(len + 2)·eps_f32, len the reduction length; both sides round len times in f32):
//   forward  |C_ic − D_ic| <= γ_K · max_j|A_ij| · Σ_j|B_jc|
//   grad_a   |dA_ij − D_ij| <= γ_N · max_c|dC_ic| · Σ_c|B_jc|
//   grad_b   |dV_rc − D_jc| <= γ_M · Σ_i|A_ij| · max_i|dC_ic|, padding entries exactly 0
//   bf16     the forward bound plus 2·2⁻⁸·max|A|·Σ|B| (the inputs' rounding) against the fp32 result;
//            samples against double sums of the bf16-rounded products within γ_K·1.02·Σ|ab|.
#pragma once

#include <cstdint>

#include "kernels/common/nm_layout.hpp"

namespace meridian::bench {

struct SpmmCheckCounts {
  std::int64_t wrong = 0;       // fp32 entries out of bound (dense pass plus samples)
  std::int64_t bf16_wrong = 0;  // the same for the bf16 result (0 when none was given)
};

// C = A·B. c_bf16 (may be null): the bf16 path's result for the same A and B, checked against
// c_sparse by the bf16 bound.
SpmmCheckCounts check_spmm_forward(std::int64_t m, const NMLayout& layout, const float* a, const float* b_pruned,
                                   const float* values, const std::uint8_t* index, const float* c_sparse,
                                   const float* c_dense, const float* c_bf16 = nullptr);

// dA = dC·Bᵀ (M×K) from dC (M×N): da_sparse against da_dense.
std::int64_t check_spmm_grad_a(std::int64_t m, const NMLayout& layout, const float* dc, const float* b_pruned,
                               const float* values, const std::uint8_t* index, const float* da_sparse,
                               const float* da_dense);

// dvalues = Aᵀ·dC at the kept positions (kept_rows × N) against the dense dB = Aᵀ·dC (K×N) at each kept
// entry's dense position.
std::int64_t check_spmm_grad_b(std::int64_t m, const NMLayout& layout, const float* a, const float* dc,
                               const std::uint8_t* index, const float* dvalues, const float* db_dense);

}  // namespace meridian::bench
