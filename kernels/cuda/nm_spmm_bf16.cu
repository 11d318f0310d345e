// Launcher of the tensor-core path of the CUDA N:M SpMM (bf16 A and values, mma.sync, fp32 C;
// kernel in nm_spmm_bf16_kernels.cuh). C (rows x cols) = alpha·A (rows x k)·B + beta·C; B as values
// (kept_rows x cols, row stride ldv) + u8 index (kept_rows x col_vectors). Needs v >= the tile's bn.
#include <algorithm>

#include "kernels/cuda/check.hpp"
#include "kernels/cuda/nm_spmm_bf16_kernels.cuh"
#include "kernels/cuda/nm_sparse_launch.hpp"
#include "kernels/cuda/nm_sparse_tiles.hpp"

namespace meridian::kernels::cuda::nm_detail {
namespace {

template <int T>
void launch_mma_tile(const MmaParams& params, dim3 grid, cudaStream_t stream) {
  constexpr Bf16Tile t = kBf16Tiles[T];
  nm_spmm_bf16_mma_kernel<t.bm, t.bn, t.warps_m, t.warps_n><<<grid, bf16_threads(t), 0, stream>>>(params);
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace

void launch_bf16_mma(int tile, int split, const Problem& p, float* partial, cudaStream_t stream) {
  MERIDIAN_CHECK(tile >= 0 && tile < kBf16TileCount && split >= 1 && (split == 1 || partial != nullptr),
                 "cuda::nm_spmm_bf16: bad tensor-core configuration");
  const Bf16Tile& t = kBf16Tiles[tile];
  const NMLayout& l = p.layout;
  MERIDIAN_CHECK(l.v >= t.bn, "cuda::nm_spmm_bf16: tile ", tile, " needs v >= ", t.bn);
  MERIDIAN_CHECK(p.ldv % 8 == 0 && reinterpret_cast<std::uintptr_t>(p.values) % 16 == 0,
                 "cuda::nm_spmm_bf16: the tensor-core path needs 16-byte aligned value rows");
  MmaParams params{};
  params.a = static_cast<const std::uint16_t*>(p.a);
  params.lda = p.lda;
  params.values = static_cast<const std::uint16_t*>(p.values);
  params.ldv = p.ldv;
  params.index = p.index;
  params.c = p.c;
  params.ldc = p.ldc;
  params.partial = partial;
  params.rows = static_cast<int>(p.rows);
  params.cols = static_cast<int>(l.cols);
  params.k = l.k;
  params.n = l.n;
  params.m = l.m;
  params.v = l.v;
  params.kept_rows = l.kept_rows();
  params.col_vectors = l.col_vectors();
  params.chunks = bf16_chunks(l);
  params.split = split;
  params.alpha = p.alpha;
  params.beta = p.beta;
  const dim3 grid(static_cast<unsigned>((p.rows + t.bm - 1) / t.bm), static_cast<unsigned>((l.cols + t.bn - 1) / t.bn),
                  static_cast<unsigned>(split));
  switch (tile) {
    case 0: launch_mma_tile<0>(params, grid, stream); break;
    case 1: launch_mma_tile<1>(params, grid, stream); break;
    default: launch_mma_tile<2>(params, grid, stream); break;
  }
  static_assert(kBf16TileCount == 3, "launch_bf16_mma lists every tile");
  if (split > 1) launch_splitk_reduce(split, p, partial, stream);
}

}  // namespace meridian::kernels::cuda::nm_detail
