// Internals of the CPU N:M SpMM that the tests reach into: the instruction-set choice and an entry
// point that runs the product with a given instruction set (the public nm_spmm caches its choice).
// Shapes as in kernels/cpu/nm_sparse.hpp: A (rows x k), compressed values (kept_rows x cols), C (rows x cols).
#pragma once

#include <cstdint>

#include "kernels/common/nm_layout.hpp"

namespace meridian::kernels::cpu::detail {

enum class NmIsa { scalar, avx2, avx512 };

const char* nm_isa_name(NmIsa isa);
// Whether the running CPU can execute the kernels of `isa` (scalar: always).
bool nm_isa_supported(NmIsa isa);
// The widest supported instruction set, narrowed by MERIDIAN_NM_ISA=avx2|scalar when that is set
// (never wider than the CPU supports). Read from the environment on every call.
NmIsa nm_choose_isa();

// C = alpha · A · B + beta · C with the kernels of `isa` (which must be supported; checked).
void nm_spmm_with_isa(NmIsa isa, std::int64_t rows, const NMLayout& layout, float alpha, const float* a,
                      std::int64_t lda, const float* values, const std::uint8_t* index, float beta, float* c,
                      std::int64_t ldc);

// The SpMM kernels vectorised over rows of C (kernels/cpu/nm_spmm_rows.cpp; AVX-512 and AVX2, every v): whether `isa` has one for this v, and the product through it (nm_spmm_with_isa has
// checked the arguments; rows, cols and k may be anything but k = 0).
bool nm_spmm_rows_supported(NmIsa isa, int v);
void nm_spmm_rows(NmIsa isa, std::int64_t rows, const NMLayout& layout, float alpha, const float* a,
                    std::int64_t lda, const float* values, const std::uint8_t* index, float beta, float* c,
                    std::int64_t ldc);

// The backward products (kernels/cpu/nm_spmm_grad.cpp) with the kernels of `isa` (supported; checked):
// dA (rows x k) = alpha · dC (rows x cols) · Bᵀ + beta · dA, and
// dvalues (kept_rows x cols) = alpha · (Aᵀ · dC at the kept positions) + beta · dvalues.
void nm_spmm_grad_a_with_isa(NmIsa isa, std::int64_t rows, const NMLayout& layout, float alpha, const float* dc,
                             std::int64_t lddc, const float* values, const std::uint8_t* index, float beta, float* da,
                             std::int64_t ldda);
void nm_spmm_grad_b_with_isa(NmIsa isa, std::int64_t rows, const NMLayout& layout, float alpha, const float* a,
                             std::int64_t lda, const float* dc, std::int64_t lddc, const std::uint8_t* index,
                             float beta, float* dvalues);

}  // namespace meridian::kernels::cpu::detail
