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

}  // namespace meridian::kernels::cpu::detail
