// Kernel of the decode path of the CUDA N:M SpMM (rows <= 16; launched by nm_spmm_decode.cu).
// C (rows x cols) = alpha·A (rows x k)·B + beta·C; B as values (kept_rows x cols) + u8 index
// (kept_rows x col_vectors). Device code; include once per translation unit.
#pragma once

#include <cstdint>

#include "kernels/cuda/nm_sparse_device.cuh"
#include "kernels/cuda/nm_sparse_tiles.hpp"

namespace meridian::kernels::cuda::nm_detail {
namespace {

struct DecodeParams {
  const void* a;  // float or bf16 bits
  std::int64_t lda;
  const void* values;  // float or bf16 bits
  std::int64_t ldv;
  const std::uint8_t* index;
  float* c;
  std::int64_t ldc;
  float* partial;  // split > 1: [split][rows][cols]
  int rows, cols;
  std::int64_t k;
  int n, m, v;
  std::int64_t windows, col_vectors;
  int slice_windows;  // windows of A held in shared memory at a time
  int split;
  float alpha, beta;
  bool values_quad;  // a lane's 4 values can be read with one aligned load
};

// Four consecutive values of a row as float; `quad`: one aligned 16-byte (float) / 8-byte (bf16)
// load, else element loads predicated by `count` (the columns of the 4 that exist).
__device__ __forceinline__ void load_values4(const float* p, bool quad, int count, float (&out)[4]) {
  if (quad && count == 4) {
    const float4 t = __ldg(reinterpret_cast<const float4*>(p));
    out[0] = t.x;
    out[1] = t.y;
    out[2] = t.z;
    out[3] = t.w;
    return;
  }
#pragma unroll
  for (int e = 0; e < 4; ++e) out[e] = e < count ? __ldg(p + e) : 0.f;
}

__device__ __forceinline__ void load_values4(const std::uint16_t* p, bool quad, int count, float (&out)[4]) {
  if (quad && count == 4) {
    const uint2 t = __ldg(reinterpret_cast<const uint2*>(p));
    out[0] = __uint_as_float(t.x << 16);
    out[1] = __uint_as_float(t.x & 0xffff0000u);
    out[2] = __uint_as_float(t.y << 16);
    out[3] = __uint_as_float(t.y & 0xffff0000u);
    return;
  }
#pragma unroll
  for (int e = 0; e < 4; ++e) out[e] = e < count ? load_as_float(p + e) : 0.f;
}

// Block (strip x, split z) computes C[:, col0 : col0 + 128) over the windows
// [windows·z/split, windows·(z+1)/split). Lane l of every warp owns columns col0 + 4l .. +3.
// Per slice of slice_windows windows: the block copies A[0:R, slice] (zeros past rows and past k)
// into shared memory as As[dense][R] (R values of one column contiguous), then warp w walks its
// quarter of the slice's kept rows: per kept row one value load per lane (4 columns), one index
// byte per column vector, and R FMAs per column with A read at the kept row's dense column. At the
// end the 4 warps' partial sums are added in warp order through shared memory.
template <typename T, int R, bool kPerColumnIndex>
__global__ void __launch_bounds__(kDecodeThreads) nm_spmm_decode_kernel(DecodeParams p) {
  float* const nm_decode_smem = reinterpret_cast<float*>(dynamic_shared_memory());
  const T* a = static_cast<const T*>(p.a);
  const T* values = static_cast<const T*>(p.values);
  const int tid = static_cast<int>(threadIdx.x);
  const int lane = tid % 32;
  const int warp = tid / 32;
  const int col0 = static_cast<int>(blockIdx.x) * kDecodeStrip;
  const int z = static_cast<int>(blockIdx.y);
  const int col = col0 + kDecodeLaneCols * lane;
  const int count = max(0, min(kDecodeLaneCols, p.cols - col));  // columns of this lane that exist
  // Column vector of each of the lane's columns (clamped to the last column so that lanes past the
  // end read a valid index byte; their results are not stored).
  std::int64_t cv[kDecodeLaneCols];
#pragma unroll
  for (int e = 0; e < kDecodeLaneCols; ++e) cv[e] = min(col + e, p.cols - 1) / p.v;

  float acc[R][kDecodeLaneCols];
#pragma unroll
  for (int i = 0; i < R; ++i)
#pragma unroll
    for (int e = 0; e < kDecodeLaneCols; ++e) acc[i][e] = 0.f;

  float* as = nm_decode_smem;
  const std::int64_t w_begin = p.windows * z / p.split;
  const std::int64_t w_end = p.windows * (z + 1) / p.split;
  for (std::int64_t ws = w_begin; ws < w_end; ws += p.slice_windows) {
    const std::int64_t we = min64(w_end, ws + p.slice_windows);
    const int dense = static_cast<int>(we - ws) * p.m;
    const std::int64_t dense0 = ws * p.m;
    __syncthreads();  // every warp is done with the previous slice
    for (int e = tid; e < R * dense; e += kDecodeThreads) {
      const int i = e / dense;
      const int d = e % dense;
      float x = 0.f;
      if (i < p.rows && dense0 + d < p.k) x = load_as_float(a + i * p.lda + dense0 + d);
      as[d * R + i] = x;
    }
    __syncthreads();
    const int kept = static_cast<int>(we - ws) * p.n;
    const int per_warp = (kept + kDecodeWarps - 1) / kDecodeWarps;
    const int kr_begin = warp * per_warp;
    const int kr_end = min(kept, kr_begin + per_warp);
    const std::int64_t kept0 = ws * p.n;
#pragma unroll 4
    for (int kr = kr_begin; kr < kr_end; ++kr) {
      const std::int64_t r = kept0 + kr;
      const int base = (kr / p.n) * p.m;
      const std::uint8_t* index_row = p.index + r * p.col_vectors;
      float b[kDecodeLaneCols];
      load_values4(values + r * p.ldv + col, p.values_quad, count, b);
      if constexpr (kPerColumnIndex) {
#pragma unroll
        for (int e = 0; e < kDecodeLaneCols; ++e) {
          const float* ae = as + (base + min(static_cast<int>(index_row[cv[e]]), p.m - 1)) * R;
#pragma unroll
          for (int i = 0; i < R; ++i) acc[i][e] = fmaf(ae[i], b[e], acc[i][e]);
        }
      } else {  // v >= 4: the lane's 4 aligned columns share one vector
        const float* a0 = as + (base + min(static_cast<int>(index_row[cv[0]]), p.m - 1)) * R;
#pragma unroll
        for (int i = 0; i < R; ++i) {
          const float x = a0[i];
#pragma unroll
          for (int e = 0; e < kDecodeLaneCols; ++e) acc[i][e] = fmaf(x, b[e], acc[i][e]);
        }
      }
    }
  }

  // Sum the warps' partials in warp order.
  __syncthreads();
  float* red = nm_decode_smem;  // [warp][R][kDecodeStrip]
#pragma unroll
  for (int i = 0; i < R; ++i)
#pragma unroll
    for (int e = 0; e < kDecodeLaneCols; ++e)
      red[(warp * R + i) * kDecodeStrip + kDecodeLaneCols * lane + e] = acc[i][e];
  __syncthreads();
  for (int e = tid; e < R * kDecodeStrip; e += kDecodeThreads) {
    const int i = e / kDecodeStrip;
    const int cc = e % kDecodeStrip;
    float sum = 0.f;
#pragma unroll
    for (int w = 0; w < kDecodeWarps; ++w) sum += red[(w * R + i) * kDecodeStrip + cc];
    const int out_col = col0 + cc;
    if (i >= p.rows || out_col >= p.cols) continue;
    if (p.split == 1) {
      float* out = p.c + i * p.ldc + out_col;
      float r = p.alpha * sum;
      if (p.beta != 0.f) r = fmaf(p.beta, *out, r);
      *out = r;
    } else {
      p.partial[(static_cast<std::int64_t>(z) * p.rows + i) * p.cols + out_col] = sum;
    }
  }
}

}  // namespace
}  // namespace meridian::kernels::cuda::nm_detail
