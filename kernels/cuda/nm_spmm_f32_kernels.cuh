// Kernels of the fp32 "tiled" path of the CUDA N:M SpMM (launched by nm_spmm_f32.cu): the plan
// kernel, the tiled kernel, the split-k reduction shared by every path and the bf16 -> fp32 widening.
// C (rows x cols) = alpha·A (rows x k)·B + beta·C; B as values (kept_rows x cols) + u8 index.
// Device code; include once per translation unit.
#pragma once

#include <cstdint>

#include "kernels/cuda/nm_sparse_device.cuh"
#include "kernels/cuda/nm_sparse_tiles.hpp"

namespace meridian::kernels::cuda::nm_detail {
namespace {

// ---- plan: the index rewritten per (column block, chunk) -------------------------------------

struct PlanParams {
  const std::uint8_t* index;  // kept_rows x col_vectors
  int n, m, v;
  std::int64_t windows, col_vectors;
  int wpc, kc_pad, vpb, bn;
  std::int64_t chunks;
  std::uint8_t* offsets;  // [col_block][chunk][vpb][kc_pad]
  std::uint64_t* masks;   // [col_block][chunk], or nullptr
};

constexpr int kPlanThreads = 128;

// Block (chunk, column block cb): offsets[cb][chunk][j][kr] = the dense column, counted from the
// chunk's first column, of kept row kr for the block's j-th column vector (vectors past the last
// one use the last one's index; kept rows past the chunk's end get 0), and masks[cb][chunk] = the
// union of those columns as bits. Every offset is < wpc·m = kd <= 64.
__global__ void __launch_bounds__(kPlanThreads) nm_spmm_f32_plan_kernel(PlanParams p) {
  const std::int64_t chunk = blockIdx.x;
  const std::int64_t cb = blockIdx.y;
  const std::int64_t w0 = chunk * p.wpc;
  const int kc_valid = static_cast<int>(min64(p.windows - w0, p.wpc)) * p.n;
  const std::int64_t kept0 = w0 * p.n;
  const std::int64_t first_cv = cb * p.bn / p.v;
  const int entries = p.vpb * p.kc_pad;
  std::uint8_t* out = p.offsets + (cb * p.chunks + chunk) * entries;
  std::uint64_t mask = 0;
  for (int e = static_cast<int>(threadIdx.x); e < entries; e += kPlanThreads) {
    const int j = e / p.kc_pad;
    const int kr = e % p.kc_pad;
    int off = 0;
    if (kr < kc_valid) {
      const std::int64_t cv = min64(first_cv + j, p.col_vectors - 1);
      const int idx = min(static_cast<int>(p.index[(kept0 + kr) * p.col_vectors + cv]), p.m - 1);
      off = (kr / p.n) * p.m + idx;
      mask |= 1ull << off;
    }
    out[e] = static_cast<std::uint8_t>(off);
  }
  if (p.masks == nullptr) return;  // uniform across the block
  for (int step = 16; step > 0; step /= 2) mask |= __shfl_xor_sync(0xffffffffu, mask, step);
  __shared__ std::uint64_t warp_masks[kPlanThreads / 32];
  if (threadIdx.x % 32 == 0) warp_masks[threadIdx.x / 32] = mask;
  __syncthreads();
  if (threadIdx.x == 0) {
    std::uint64_t all = 0;
    for (int w = 0; w < kPlanThreads / 32; ++w) all |= warp_masks[w];
    p.masks[cb * p.chunks + chunk] = all;
  }
}

// ---- the tiled kernel ------------------------------------------------------------------------

struct TiledParams {
  const float* a;
  std::int64_t lda;
  const float* values;
  std::int64_t ldv;
  float* c;
  std::int64_t ldc;
  float* partial;  // split > 1: [split][rows][cols]
  const std::uint8_t* offsets;
  const std::uint64_t* masks;  // nullptr: copy whole A tiles
  int rows, cols;
  std::int64_t k;
  int n, m, v;
  std::int64_t windows;
  int wpc, kc_max, kc_pad, vpb;
  std::int64_t chunks;
  int split;
  float alpha, beta;
  bool values_vec4;  // values rows can be copied 16 bytes at a time
};

// Block (row block, column block cb, split z) computes C[row0 : row0+BM, col0 : col0+BN] over the
// chunks [chunks·z/split, chunks·(z+1)/split). Shared memory: kF32Stages stages of
//   A tile  As[KD][BM + 4]   (transposed: the column of the chunk's dense column d is As[d]),
//   values  Vs[kc_max][BN],
//   offsets Os[vpb][kc_pad]  (u8, from the plan).
// Thread (warp_m, warp_n, ly, lx) owns rows warp_m·8TM + q·32 + ly·4 + e and columns
// warp_n·4TN + q·16 + lx·4 + e; per kept row kr it reads, for each of its index groups, the offset
// Os[vec][kr], TM values As[offset][its rows] and TN values Vs[kr][its columns].
template <int BM, int BN, int TM, int TN, int KD, int MODE>
__global__ void __launch_bounds__((BM / TM) * (BN / TN)) nm_spmm_f32_tiled_kernel(TiledParams p) {
  constexpr int kThreads = (BM / TM) * (BN / TN);
  constexpr int kWarps = kThreads / 32;
  constexpr int kWarpRows = 8 * TM;
  constexpr int kWarpCols = 4 * TN;
  constexpr int kWarpsN = BN / kWarpCols;
  constexpr int kALd = BM + kF32APad;
  constexpr IndexMode kMode = static_cast<IndexMode>(MODE);
  constexpr int kGroups = kMode == IndexMode::one ? 1 : kMode == IndexMode::quad ? TN / 4 : TN;
  constexpr int kGroupCols = TN / kGroups;
  constexpr int kSubCols = KD / 8;  // the A copy walks 4 x 8 sub-tiles, one per warp instruction
  constexpr int kSubTiles = (BM / 4) * kSubCols;
  static_assert(TM % 4 == 0 && TN % 4 == 0 && BM % 32 == 0 && KD % 8 == 0 && KD <= 64);
  static_assert(BM % kWarpRows == 0 && BN % kWarpCols == 0 && (BM / kWarpRows) * kWarpsN == kWarps);
  static_assert(kGroups * kGroupCols == TN && (kGroupCols % 4 == 0 || kGroupCols == 1));

  unsigned char* const nm_f32_smem = dynamic_shared_memory();
  const int tid = static_cast<int>(threadIdx.x);
  const int lane = tid % 32;
  const int warp = tid / 32;
  const int warp_m = warp / kWarpsN;
  const int warp_n = warp % kWarpsN;
  const int ly = lane / 4;
  const int lx = lane % 4;
  const int row0 = static_cast<int>(blockIdx.x) * BM;
  const std::int64_t cb = blockIdx.y;
  const int col0 = static_cast<int>(cb) * BN;
  const int z = static_cast<int>(blockIdx.z);

  const int a_floats = KD * kALd;
  const int v_floats = p.kc_max * BN;
  const int offsets_bytes = p.vpb * p.kc_pad;
  const int stage_bytes = (a_floats + v_floats) * 4 + offsets_bytes;
  const auto a_tile = [&](int s) { return reinterpret_cast<float*>(nm_f32_smem + s * stage_bytes); };
  const auto v_tile = [&](int s) { return a_tile(s) + a_floats; };
  const auto o_tile = [&](int s) { return reinterpret_cast<std::uint8_t*>(v_tile(s) + v_floats); };

  // Where each index group's offsets start in Os: the block-local vector of its first column.
  int group_base[kGroups];
#pragma unroll
  for (int g = 0; g < kGroups; ++g) {
    const int j = g * kGroupCols;
    const int first_col = warp_n * kWarpCols + (j / 4) * 16 + lx * 4 + j % 4;
    group_base[g] = ((col0 + first_col) / p.v - col0 / p.v) * p.kc_pad;
  }

  const std::int64_t chunk_begin = p.chunks * z / p.split;
  const int nchunks = static_cast<int>(p.chunks * (z + 1) / p.split - chunk_begin);
  const auto kept_in = [&](std::int64_t chunk) {
    return static_cast<int>(min64(p.windows - chunk * p.wpc, p.wpc)) * p.n;
  };
  const auto mask_of = [&](int i) -> std::uint64_t {
    if (p.masks == nullptr || i >= nchunks) return ~0ull;
    return __ldg(p.masks + cb * p.chunks + chunk_begin + i);
  };

  // Issues the copies of chunk `chunk` into stage s (no commit).
  const auto load_stage = [&](int s, std::int64_t chunk, std::uint64_t mask) {
    float* as = a_tile(s);
    float* vs = v_tile(s);
    std::uint8_t* os = o_tile(s);
    const std::int64_t w0 = chunk * p.wpc;
    const std::int64_t dense0 = w0 * p.m;
    const std::int64_t kept0 = w0 * p.n;
    const int kc = kept_in(chunk);
    // A: the needed columns of rows [row0, row0 + BM) x dense [dense0, dense0 + KD); zeros past rows
    // and past k (padding rows of the last window). Lane = (row lane / 8, column lane % 8) of a
    // 4 x 8 sub-tile: 32-byte segments of 4 rows in global memory, distinct banks in shared memory.
    for (int t = warp; t < kSubTiles; t += kWarps) {
      const int col = (t % kSubCols) * 8 + lane % 8;
      const int row = (t / kSubCols) * 4 + lane / 8;
      if ((mask >> col) & 1ull) {
        const int grow = row0 + row;
        const std::int64_t gcol = dense0 + col;
        const bool ok = grow < p.rows && gcol < p.k;
        const float* src = ok ? p.a + grow * p.lda + gcol : p.a;
        cp_async_4(as + col * kALd + row, src, ok);
      }
    }
    // Values: kept rows [kept0, kept0 + kc) x columns [col0, col0 + BN); zeros past cols.
    if (p.values_vec4) {
      constexpr int kPerRow = BN / 4;
      for (int e = tid; e < kc * kPerRow; e += kThreads) {
        const int r = e / kPerRow;
        const int c4 = (e % kPerRow) * 4;
        const bool ok = col0 + c4 < p.cols;  // cols % 4 == 0: all four columns are in range
        const float* src = ok ? p.values + (kept0 + r) * p.ldv + col0 + c4 : p.values;
        cp_async_16(vs + r * BN + c4, src, ok);
      }
    } else {
      for (int e = tid; e < kc * BN; e += kThreads) {
        const int r = e / BN;
        const int c1 = e % BN;
        const bool ok = col0 + c1 < p.cols;
        const float* src = ok ? p.values + (kept0 + r) * p.ldv + col0 + c1 : p.values;
        cp_async_4(vs + r * BN + c1, src, ok);
      }
    }
    // Offsets: the plan's table for (cb, chunk), offsets_bytes (a multiple of 16).
    const std::uint8_t* osrc = p.offsets + (cb * p.chunks + chunk) * offsets_bytes;
    for (int e = tid; e < offsets_bytes / 16; e += kThreads) cp_async_16(os + e * 16, osrc + e * 16, true);
  };

  float acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = 0.f;

  // Multiply-accumulates the kc kept rows of stage s.
  const auto compute_stage = [&](int s, int kc) {
    const float* as = a_tile(s) + warp_m * kWarpRows + ly * 4;
    const float* vs = v_tile(s) + warp_n * kWarpCols + lx * 4;
    const std::uint8_t* os = o_tile(s);
#pragma unroll 2
    for (int kr = 0; kr < kc; ++kr) {
      float b[TN];
#pragma unroll
      for (int q = 0; q < TN / 4; ++q) {
        const float4 t = *reinterpret_cast<const float4*>(vs + kr * BN + q * 16);
        b[q * 4 + 0] = t.x;
        b[q * 4 + 1] = t.y;
        b[q * 4 + 2] = t.z;
        b[q * 4 + 3] = t.w;
      }
#pragma unroll
      for (int g = 0; g < kGroups; ++g) {
        const int off = os[group_base[g] + kr];
        float a[TM];
#pragma unroll
        for (int q = 0; q < TM / 4; ++q) {
          const float4 t = *reinterpret_cast<const float4*>(as + off * kALd + q * 32);
          a[q * 4 + 0] = t.x;
          a[q * 4 + 1] = t.y;
          a[q * 4 + 2] = t.z;
          a[q * 4 + 3] = t.w;
        }
#pragma unroll
        for (int jj = 0; jj < kGroupCols; ++jj)
#pragma unroll
          for (int i = 0; i < TM; ++i) acc[i][g * kGroupCols + jj] = fmaf(a[i], b[g * kGroupCols + jj], acc[i][g * kGroupCols + jj]);
      }
    }
  };

  // Pipeline: stages hold chunks i, i+1, ..., i+kF32Stages-2 in flight while chunk i is used. One
  // group is committed per step (empty past the end) so that wait_group counts stay uniform.
#pragma unroll
  for (int s = 0; s < kF32Stages - 1; ++s) {
    if (s < nchunks) load_stage(s, chunk_begin + s, mask_of(s));
    cp_async_commit();
  }
  std::uint64_t next_mask = mask_of(kF32Stages - 1);
  for (int i = 0; i < nchunks; ++i) {
    cp_async_wait<kF32Stages - 2>();  // chunk i has landed (this thread's copies) ...
    __syncthreads();                  // ... everyone's, and everyone is done with chunk i - 1
    const int ahead = i + kF32Stages - 1;
    if (ahead < nchunks) load_stage(ahead % kF32Stages, chunk_begin + ahead, next_mask);  // reuses i-1's stage
    cp_async_commit();
    next_mask = mask_of(ahead + 1);
    compute_stage(i % kF32Stages, kept_in(chunk_begin + i));
  }
  cp_async_wait<0>();

  // Epilogue: C = alpha·acc + beta·C, or the split's partial.
#pragma unroll
  for (int qi = 0; qi < TM / 4; ++qi)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int row = row0 + warp_m * kWarpRows + qi * 32 + ly * 4 + e;
      if (row >= p.rows) continue;
#pragma unroll
      for (int qj = 0; qj < TN / 4; ++qj)
#pragma unroll
        for (int f = 0; f < 4; ++f) {
          const int col = col0 + warp_n * kWarpCols + qj * 16 + lx * 4 + f;
          if (col >= p.cols) continue;
          const float value = acc[qi * 4 + e][qj * 4 + f];
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
}

// ---- split-k reduction and widening --------------------------------------------------------

constexpr int kElementwiseThreads = 256;

// C[i][j] = alpha · (partial[0][i][j] + ... + partial[split-1][i][j]) + beta · C[i][j], summed in
// split order (deterministic); beta == 0: C is not read.
__global__ void __launch_bounds__(kElementwiseThreads)
    nm_spmm_splitk_reduce_kernel(int split, std::int64_t rows, std::int64_t cols, const float* partial,
                                 float alpha, float beta, float* c, std::int64_t ldc) {
  const std::int64_t total = rows * cols;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * kElementwiseThreads;
  for (std::int64_t e = static_cast<std::int64_t>(blockIdx.x) * kElementwiseThreads + threadIdx.x; e < total;
       e += stride) {
    float sum = 0.f;
    for (int z = 0; z < split; ++z) sum += partial[z * total + e];
    float* out = c + (e / cols) * ldc + e % cols;
    float r = alpha * sum;
    if (beta != 0.f) r = fmaf(beta, *out, r);
    *out = r;
  }
}

__global__ void __launch_bounds__(kElementwiseThreads)
    nm_widen_bf16_kernel(const std::uint16_t* src, std::int64_t rows, std::int64_t cols, std::int64_t ld_src,
                         float* dst) {
  const std::int64_t total = rows * cols;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * kElementwiseThreads;
  for (std::int64_t e = static_cast<std::int64_t>(blockIdx.x) * kElementwiseThreads + threadIdx.x; e < total;
       e += stride)
    dst[e] = bf16_bits_to_float(src[(e / cols) * ld_src + e % cols]);
}

}  // namespace
}  // namespace meridian::kernels::cuda::nm_detail
