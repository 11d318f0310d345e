// Launchers of the fp32 "tiled" path of the CUDA N:M SpMM (kernels in nm_spmm_f32_kernels.cuh),
// of the split-k reduction shared by every path, and of the bf16 -> fp32 widening of the "widened"
// path. C (rows x cols) = alpha·A (rows x k)·B + beta·C; B as values (kept_rows x cols) + u8 index.
#include <algorithm>
#include <climits>

#include "kernels/cuda/check.hpp"
#include "kernels/cuda/nm_spmm_f32_kernels.cuh"
#include "kernels/cuda/nm_sparse_launch.hpp"
#include "kernels/cuda/nm_sparse_tiles.hpp"

namespace meridian::kernels::cuda::nm_detail {
namespace {

unsigned elementwise_blocks(std::int64_t total) {
  return static_cast<unsigned>(std::clamp<std::int64_t>((total + kElementwiseThreads - 1) / kElementwiseThreads, 1, 4096));
}

// ---- launch ----------------------------------------------------------------------------------

template <class Kernel>
void ensure_shared_memory(Kernel* kernel, std::int64_t bytes) {
  if (bytes <= 48 * 1024) return;
  int device = 0, optin = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  MERIDIAN_CHECK(bytes <= optin, "cuda::nm_spmm: the kernel needs ", bytes, " bytes of shared memory per block, the device allows ",
                 optin);
  CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)));
}

template <int T, int MODE>
void launch_tiled_instance(const TiledParams& params, dim3 grid, std::int64_t smem, cudaStream_t stream) {
  constexpr F32Tile t = kF32Tiles[T];
  ensure_shared_memory(nm_spmm_f32_tiled_kernel<t.bm, t.bn, t.tm, t.tn, t.kd, MODE>, smem);
  nm_spmm_f32_tiled_kernel<t.bm, t.bn, t.tm, t.tn, t.kd, MODE>
      <<<grid, f32_threads(t), static_cast<std::size_t>(smem), stream>>>(params);
  CUDA_CHECK(cudaGetLastError());
}

template <int T>
void launch_tiled_tile(IndexMode mode, const TiledParams& params, dim3 grid, std::int64_t smem, cudaStream_t stream) {
  constexpr F32Tile t = kF32Tiles[T];
  if (mode == IndexMode::one) {
    launch_tiled_instance<T, static_cast<int>(IndexMode::one)>(params, grid, smem, stream);
  } else if (mode == IndexMode::col) {
    launch_tiled_instance<T, static_cast<int>(IndexMode::col)>(params, grid, smem, stream);
  } else if constexpr (t.tn == 8) {
    launch_tiled_instance<T, static_cast<int>(IndexMode::quad)>(params, grid, smem, stream);
  } else {
    MERIDIAN_CHECK(false, "cuda::nm_spmm: index mode quad has no kernel for tile ", T);  // f32_index_mode never asks
  }
}

}  // namespace

void launch_f32_tiled(int tile, int split, const Problem& p, const TiledScratch& scratch, cudaStream_t stream) {
  MERIDIAN_CHECK(tile >= 0 && tile < kF32TileCount && split >= 1, "cuda::nm_spmm: bad tiled configuration");
  const F32Tile& t = kF32Tiles[tile];
  const NMLayout& l = p.layout;
  const TiledGeometry g = tiled_geometry(t, p.rows, l);
  MERIDIAN_CHECK(g.wpc >= 1, "cuda::nm_spmm: tile ", tile, " needs m <= ", t.kd);
  MERIDIAN_CHECK(split == 1 || scratch.partial != nullptr, "cuda::nm_spmm: split-k without a partial buffer");
  MERIDIAN_CHECK(scratch.offsets != nullptr || g.chunks == 0, "cuda::nm_spmm: no offsets buffer");
  std::uint64_t* masks = g.use_masks ? scratch.masks : nullptr;
  if (g.chunks > 0) {
    PlanParams plan{p.index, l.n, l.m, l.v, l.windows(), l.col_vectors(), g.wpc, g.kc_pad, g.vpb, t.bn,
                    g.chunks, scratch.offsets, masks};
    nm_spmm_f32_plan_kernel<<<dim3(static_cast<unsigned>(g.chunks), static_cast<unsigned>(g.col_blocks)),
                              kPlanThreads, 0, stream>>>(plan);
    CUDA_CHECK(cudaGetLastError());
  }
  const float* values = static_cast<const float*>(p.values);
  TiledParams params{};
  params.a = static_cast<const float*>(p.a);
  params.lda = p.lda;
  params.values = values;
  params.ldv = p.ldv;
  params.c = p.c;
  params.ldc = p.ldc;
  params.partial = scratch.partial;
  params.offsets = scratch.offsets;
  params.masks = masks;
  params.rows = static_cast<int>(p.rows);
  params.cols = static_cast<int>(l.cols);
  params.k = l.k;
  params.n = l.n;
  params.m = l.m;
  params.v = l.v;
  params.windows = l.windows();
  params.wpc = g.wpc;
  params.kc_max = g.kc_max;
  params.kc_pad = g.kc_pad;
  params.vpb = g.vpb;
  params.chunks = g.chunks;
  params.split = split;
  params.alpha = p.alpha;
  params.beta = p.beta;
  params.values_vec4 = l.cols % 4 == 0 && p.ldv % 4 == 0 && reinterpret_cast<std::uintptr_t>(values) % 16 == 0;
  const dim3 grid(static_cast<unsigned>(g.row_blocks), static_cast<unsigned>(g.col_blocks), static_cast<unsigned>(split));
  const IndexMode mode = f32_index_mode(t, l.v);
  switch (tile) {
    case 0: launch_tiled_tile<0>(mode, params, grid, g.smem_bytes, stream); break;
    case 1: launch_tiled_tile<1>(mode, params, grid, g.smem_bytes, stream); break;
    case 2: launch_tiled_tile<2>(mode, params, grid, g.smem_bytes, stream); break;
    case 3: launch_tiled_tile<3>(mode, params, grid, g.smem_bytes, stream); break;
    default: launch_tiled_tile<4>(mode, params, grid, g.smem_bytes, stream); break;
  }
  static_assert(kF32TileCount == 5, "launch_f32_tiled lists every tile");
  if (split > 1) launch_splitk_reduce(split, p, scratch.partial, stream);
}

void launch_splitk_reduce(int split, const Problem& p, const float* partial, cudaStream_t stream) {
  const std::int64_t total = p.rows * p.layout.cols;
  nm_spmm_splitk_reduce_kernel<<<elementwise_blocks(total), kElementwiseThreads, 0, stream>>>(
      split, p.rows, p.layout.cols, partial, p.alpha, p.beta, p.c, p.ldc);
  CUDA_CHECK(cudaGetLastError());
}

void launch_widen_bf16(const std::uint16_t* src, std::int64_t rows, std::int64_t cols, std::int64_t ld_src, float* dst,
                       cudaStream_t stream) {
  if (rows == 0 || cols == 0) return;
  nm_widen_bf16_kernel<<<elementwise_blocks(rows * cols), kElementwiseThreads, 0, stream>>>(src, rows, cols, ld_src,
                                                                                            dst);
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace meridian::kernels::cuda::nm_detail
