// Kernel of the tensor-core path of the CUDA N:M SpMM (bf16 A and values, fp32 C; launched by
// nm_spmm_bf16.cu). C (rows x cols) = alpha·A (rows x k)·B + beta·C; B as values (kept_rows x cols,
// row stride ldv) + u8 index (kept_rows x col_vectors). Device code; include once per translation unit.
#pragma once

#include <cstdint>

#include "kernels/cuda/nm_sparse_device.cuh"
#include "kernels/cuda/nm_sparse_tiles.hpp"

namespace meridian::kernels::cuda::nm_detail {
namespace {

struct MmaParams {
  const std::uint16_t* a;  // bf16 bits
  std::int64_t lda;
  const std::uint16_t* values;  // bf16 bits; ldv % 8 == 0, 16-byte aligned
  std::int64_t ldv;
  const std::uint8_t* index;
  float* c;
  std::int64_t ldc;
  float* partial;  // split > 1: [split][rows][cols]
  int rows, cols;
  std::int64_t k;
  int n, m, v;
  std::int64_t kept_rows, col_vectors, chunks;
  int split;
  float alpha, beta;
};

// Block (row block, column block, split z) computes C[row0 : row0+BM, col0 : col0+BN], whose
// columns all lie in column vector col0 / v and so share one index list. It walks the compressed k
// in chunks of 32 kept rows (chunks [chunks·z/split, chunks·(z+1)/split)); per chunk:
//   As[BM][32 + 8]: A gathered at the chunk's kept rows' dense columns (zeros past rows, past
//                   kept_rows and at padding rows >= k): the dense BM x 32 operand over compressed k;
//   Bs[32][BN + 8]: the values of those kept rows (cp.async, zeros past kept_rows and cols).
// Thread t gathers the kept-row pair (2·(t % 16), +1) for rows t / 16 + j·(threads / 16) with plain
// loads into registers, stored as one 32-bit word per row after the current chunk's math. Two
// buffers: the next chunk's copies and loads are in flight while the current one is multiplied.
// Warps tile the block (bm / warps_m) x (bn / warps_n) with 16x8 mma tiles; A fragments come from
// ldmatrix, B fragments from ldmatrix.trans of the row-major Bs. The +8 padding makes the 8 rows
// an ldmatrix reads fall in distinct banks (row strides of 80 and 144 bytes).
template <int BM, int BN, int WARPS_M, int WARPS_N>
__global__ void __launch_bounds__(WARPS_M* WARPS_N * 32) nm_spmm_bf16_mma_kernel(MmaParams p) {
  constexpr int kThreads = WARPS_M * WARPS_N * 32;
  constexpr int KC = kBf16ChunkRows;
  constexpr int kALd = KC + 8;
  constexpr int kBLd = BN + 8;
  constexpr int kWarpRows = BM / WARPS_M;
  constexpr int kWarpCols = BN / WARPS_N;
  constexpr int MF = kWarpRows / 16;
  constexpr int NF = kWarpCols / 8;
  constexpr int kPairs = KC / 2;
  constexpr int kRowsPerPass = kThreads / kPairs;
  constexpr int kPasses = BM / kRowsPerPass;
  static_assert(KC == 32 && kWarpRows % 16 == 0 && kWarpCols % 16 == 0 && NF % 2 == 0);
  static_assert(kThreads % kPairs == 0 && BM % kRowsPerPass == 0 && BN % 8 == 0);
  static_assert((kALd * 2) % 16 == 0 && (kBLd * 2) % 16 == 0);

  __shared__ __align__(16) std::uint16_t as[2][BM][kALd];
  __shared__ __align__(16) std::uint16_t bs[2][KC][kBLd];

  const int tid = static_cast<int>(threadIdx.x);
  const int lane = tid % 32;
  const int warp = tid / 32;
  const int warp_m = warp / WARPS_N;
  const int warp_n = warp % WARPS_N;
  const int row0 = static_cast<int>(blockIdx.x) * BM;
  const int col0 = static_cast<int>(blockIdx.y) * BN;
  const int z = static_cast<int>(blockIdx.z);
  const std::int64_t cv = col0 / p.v;  // the block's column vector
  const std::int64_t chunk_begin = p.chunks * z / p.split;
  const int nchunks = static_cast<int>(p.chunks * (z + 1) / p.split - chunk_begin);

  // Dense column of A for kept row r in this block's vector; -1 past kept_rows or at padding.
  const auto dense_column = [&](std::int64_t r) -> std::int64_t {
    if (r >= p.kept_rows) return -1;
    const int idx = min(static_cast<int>(p.index[r * p.col_vectors + cv]), p.m - 1);
    const std::int64_t d = (r / p.n) * p.m + idx;
    return d < p.k ? d : -1;
  };

  const int pair = tid % kPairs;
  const int row_in_pass = tid / kPairs;
  std::uint32_t staged[kPasses];
  const auto gather_load = [&](std::int64_t chunk) {
    const std::int64_t r = chunk * KC + 2 * pair;
    const std::int64_t d0 = dense_column(r);
    const std::int64_t d1 = dense_column(r + 1);
#pragma unroll
    for (int t = 0; t < kPasses; ++t) {
      const int row = row0 + row_in_pass + t * kRowsPerPass;
      std::uint32_t lo = 0, hi = 0;
      if (row < p.rows) {
        const std::uint16_t* a_row = p.a + static_cast<std::int64_t>(row) * p.lda;
        if (d0 >= 0) lo = __ldg(a_row + d0);
        if (d1 >= 0) hi = __ldg(a_row + d1);
      }
      staged[t] = lo | (hi << 16);
    }
  };
  const auto gather_store = [&](int buf) {
#pragma unroll
    for (int t = 0; t < kPasses; ++t)
      *reinterpret_cast<std::uint32_t*>(&as[buf][row_in_pass + t * kRowsPerPass][2 * pair]) = staged[t];
  };
  const auto values_load = [&](int buf, std::int64_t chunk) {
    constexpr int kPerRow = BN / 8;
    for (int e = tid; e < KC * kPerRow; e += kThreads) {
      const int kr = e / kPerRow;
      const int c8 = (e % kPerRow) * 8;
      const std::int64_t gr = chunk * KC + kr;
      const bool ok = gr < p.kept_rows && col0 + c8 < p.cols;  // 8 columns inside the (padded) row
      const std::uint16_t* src = ok ? p.values + gr * p.ldv + col0 + c8 : p.values;
      cp_async_16(&bs[buf][kr][c8], src, ok);
    }
  };

  float acc[MF][NF][4];
#pragma unroll
  for (int i = 0; i < MF; ++i)
#pragma unroll
    for (int j = 0; j < NF; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.f;

  const auto compute = [&](int buf) {
#pragma unroll
    for (int ks = 0; ks < KC; ks += 16) {
      std::uint32_t af[MF][4];
#pragma unroll
      for (int mf = 0; mf < MF; ++mf)
        ldmatrix_x4(af[mf], &as[buf][warp_m * kWarpRows + mf * 16 + lane % 16][ks + (lane / 16) * 8]);
      std::uint32_t bf[NF][2];
#pragma unroll
      for (int np = 0; np < NF / 2; ++np) {
        std::uint32_t r[4];
        ldmatrix_x4_trans(r, &bs[buf][ks + lane % 8 + ((lane / 8) % 2) * 8][warp_n * kWarpCols + np * 16 + (lane / 16) * 8]);
        bf[2 * np][0] = r[0];
        bf[2 * np][1] = r[1];
        bf[2 * np + 1][0] = r[2];
        bf[2 * np + 1][1] = r[3];
      }
#pragma unroll
      for (int mf = 0; mf < MF; ++mf)
#pragma unroll
        for (int nf = 0; nf < NF; ++nf) mma_bf16_16816(acc[mf][nf], af[mf], bf[nf][0], bf[nf][1]);
    }
  };

  if (nchunks > 0) {
    gather_load(chunk_begin);
    values_load(0, chunk_begin);
    cp_async_commit();
    gather_store(0);
    cp_async_wait<0>();
    __syncthreads();
  }
  for (int i = 0; i < nchunks; ++i) {
    const int buf = i & 1;
    const bool has_next = i + 1 < nchunks;
    if (has_next) {  // buffer buf ^ 1 was last read in step i - 1, before its closing barrier
      values_load(buf ^ 1, chunk_begin + i + 1);
      cp_async_commit();
      gather_load(chunk_begin + i + 1);
    }
    compute(buf);
    if (has_next) {
      gather_store(buf ^ 1);
      cp_async_wait<0>();
    }
    __syncthreads();
  }

  // Epilogue: fragment element e of tile (mf, nf) is row g + 8·(e / 2), column 2·(lane % 4) + e % 2.
#pragma unroll
  for (int mf = 0; mf < MF; ++mf)
#pragma unroll
    for (int nf = 0; nf < NF; ++nf)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int row = row0 + warp_m * kWarpRows + mf * 16 + lane / 4 + 8 * (e / 2);
        const int col = col0 + warp_n * kWarpCols + nf * 8 + 2 * (lane % 4) + e % 2;
        if (row >= p.rows || col >= p.cols) continue;
        const float value = acc[mf][nf][e];
        if (p.split == 1) {
          float* out = p.c + static_cast<std::int64_t>(row) * p.ldc + col;
          float r = p.alpha * value;
          if (p.beta != 0.f) r = fmaf(p.beta, *out, r);
          *out = r;
        } else {
          p.partial[(static_cast<std::int64_t>(z) * p.rows + row) * p.cols + col] = value;
        }
      }
}

}  // namespace
}  // namespace meridian::kernels::cuda::nm_detail
