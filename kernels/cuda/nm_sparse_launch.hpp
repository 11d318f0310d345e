// Internal to the CUDA N:M kernels: the launchers that nm_spmm.cpp (argument checks, workspace,
// dispatch) calls and nm_spmm_*.cu define. Host-compilable. Shapes as in nm_sparse.hpp; every
// pointer is device memory; arguments were checked by the caller.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/common/nm_layout.hpp"
#include "kernels/cuda/nm_sparse.hpp"

namespace meridian::kernels::cuda::nm_detail {

// One product C = alpha·A·B + beta·C. a and values are float (f32) or bf16 bits (bf16); ldv is the
// row stride of values in elements (cols, or more for a padded copy); rows, cols > 0.
struct Problem {
  std::int64_t rows = 0;
  NMLayout layout;
  float alpha = 1.f;
  const void* a = nullptr;
  std::int64_t lda = 0;
  const void* values = nullptr;
  std::int64_t ldv = 0;
  const std::uint8_t* index = nullptr;
  float beta = 0.f;
  float* c = nullptr;
  std::int64_t ldc = 0;
};

// Scratch of the tiled path: offsets (col_blocks · chunks · offsets_bytes_per_chunk bytes, 16-byte
// aligned), masks (col_blocks · chunks words, or nullptr to copy whole A tiles), partial
// (split · rows · cols floats when split > 1).
struct TiledScratch {
  std::uint8_t* offsets = nullptr;
  std::uint64_t* masks = nullptr;
  float* partial = nullptr;
};

// fp32 tiled path: the plan kernel, the tiled kernel and (split > 1) the reduction. a, values fp32.
void launch_f32_tiled(int tile, int split, const Problem& p, const TiledScratch& scratch, cudaStream_t stream);

// bf16 tensor-core path: the mma kernel and (split > 1) the reduction. values must have ldv % 8 == 0
// and be 16-byte aligned; partial as above.
void launch_bf16_mma(int tile, int split, const Problem& p, float* partial, cudaStream_t stream);

// Decode path (rows <= 16) for either type: the decode kernel and (split > 1) the reduction.
void launch_decode(NmSpmmType type, int split, const Problem& p, float* partial, cudaStream_t stream);

// C = alpha · Σ_z partial[z] + beta · C over split partials of rows x cols (row stride cols).
void launch_splitk_reduce(int split, const Problem& p, const float* partial, cudaStream_t stream);

// dst (rows x cols, row stride cols) = src (bf16 bits, row stride ld_src) widened to fp32.
void launch_widen_bf16(const std::uint16_t* src, std::int64_t rows, std::int64_t cols, std::int64_t ld_src,
                       float* dst, cudaStream_t stream);

}  // namespace meridian::kernels::cuda::nm_detail
