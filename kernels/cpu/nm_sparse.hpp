// N:M sparse kernels on the CPU (format: kernels/common/nm_layout.hpp; semantics: exactly those of
// kernels/reference/nm_sparse.hpp, which the tests compare against). The SpMM family is
// multi-threaded with Kokkos OpenMP and vectorised with the widest instruction set the running CPU
// has (AVX-512, else AVX2+FMA, else scalar), chosen once at run time.
// Shapes (row-major, leading dimensions in elements): A (rows x k), B (k x cols), C (rows x cols),
// compressed values (kept_rows x cols), index (kept_rows x col_vectors).
#pragma once

#include <cstdint>

#include "kernels/common/nm_layout.hpp"

namespace meridian::kernels::cpu {

// Magnitude pruning: for every (window, column vector), the n rows with the largest sum of |B|
// over the vector (ties: the lower row; padding rows last).
void nm_select(const float* b, std::int64_t ldb, const NMLayout& layout, std::uint8_t* index);
void nm_compress(const float* b, std::int64_t ldb, const NMLayout& layout, const std::uint8_t* index, float* values);
void nm_decompress(const NMLayout& layout, const float* values, const std::uint8_t* index, float* b, std::int64_t ldb);

// C = alpha · A · B + beta · C (beta == 0: C is write-only).
void nm_spmm(std::int64_t rows, const NMLayout& layout, float alpha, const float* a, std::int64_t lda,
             const float* values, const std::uint8_t* index, float beta, float* c, std::int64_t ldc);
// dA = alpha · dC · Bᵀ + beta · dA.
void nm_spmm_grad_a(std::int64_t rows, const NMLayout& layout, float alpha, const float* dc, std::int64_t lddc,
                    const float* values, const std::uint8_t* index, float beta, float* da, std::int64_t ldda);
// dvalues = alpha · (Aᵀ · dC) at the kept positions + beta · dvalues.
void nm_spmm_grad_b(std::int64_t rows, const NMLayout& layout, float alpha, const float* a, std::int64_t lda,
                    const float* dc, std::int64_t lddc, const std::uint8_t* index, float beta, float* dvalues);

// The instruction set the SpMM kernels use on this CPU: "avx512", "avx2" or "scalar".
// MERIDIAN_NM_ISA=avx2|scalar in the environment forces a narrower one (for tests and comparisons).
const char* nm_spmm_isa();

}  // namespace meridian::kernels::cpu
