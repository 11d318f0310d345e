// Internal to the CUDA N:M kernels: the tile tables and the derived geometry (chunks, plan and
// shared-memory sizes) that the host dispatcher (nm_sparse_dispatch.cpp), the launchers and the
// kernels (nm_spmm_*.cu) must agree on. Host-compilable. Shapes as in nm_sparse.hpp:
// C (rows x cols) = A (rows x k) · B (k x cols), B compressed to values (kept_rows x cols) + index.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "kernels/common/nm_layout.hpp"

namespace meridian::kernels::cuda::nm_detail {

// ---- fp32 tiled kernel (CUDA cores) ----
// Block tile bm x bn of C; per-thread register tile tm x tn; k walked in chunks of kd dense rows
// (kd / m whole windows). Warps are 8·tm x 4·tn; a warp's lanes are 8 (rows) x 4 (columns), and
// lane (ly, lx) owns rows q·32 + ly·4 + e (q < tm/4, e < 4) and columns q·16 + lx·4 + e (q < tn/4).
struct F32Tile {
  int bm, bn, tm, tn, kd;
};
inline constexpr F32Tile kF32Tiles[] = {
    {128, 128, 8, 8, 32},  // 0: large shapes, 256 threads
    {128, 64, 8, 8, 32},   // 1: 128 threads
    {64, 64, 8, 4, 32},    // 2: 128 threads
    {32, 64, 4, 4, 32},    // 3: few rows (17..32), 128 threads
    {64, 64, 8, 4, 64},    // 4: 64-row chunks (any m; the only tile for m = 64)
};
inline constexpr int kF32TileCount = static_cast<int>(sizeof(kF32Tiles) / sizeof(kF32Tiles[0]));
inline constexpr int kF32Stages = 3;  // cp.async pipeline depth
inline constexpr int kF32APad = 4;    // floats after each bm-long column of the transposed A tile

constexpr int f32_threads(const F32Tile& t) { return (t.bm / t.tm) * (t.bn / t.tn); }

// How a thread's tn columns map to index lists: one list (all its columns in one vector), one per
// 4-column quad (v >= 4), or one per column (v == 1).
enum class IndexMode : int { one = 0, quad = 1, col = 2 };

constexpr IndexMode f32_index_mode(const F32Tile& t, int v) {
  // A thread's columns lie in one aligned 4-column quad (tn = 4) or spread over its warp's
  // 4·tn-column (= 32 for tn = 8) aligned range.
  if (t.tn == 4 ? v >= 4 : v >= 4 * t.tn) return IndexMode::one;
  if (v >= 4) return IndexMode::quad;
  return IndexMode::col;
}

constexpr const char* index_mode_name(IndexMode mode) {
  return mode == IndexMode::one ? "one" : mode == IndexMode::quad ? "quad" : "col";
}

struct TiledGeometry {
  int wpc = 0;            // windows per chunk (kd / m)
  int kc_max = 0;         // kept rows per full chunk (wpc · n)
  int kc_pad = 0;         // kc_max rounded up to 16 (row length of the offsets table)
  int vpb = 0;            // column vectors per block (max(1, bn / v))
  std::int64_t chunks = 0;      // ceil(windows / wpc)
  std::int64_t row_blocks = 0;  // ceil(rows / bm)
  std::int64_t col_blocks = 0;  // ceil(cols / bn)
  std::int64_t offsets_bytes_per_chunk = 0;  // vpb · kc_pad (16-byte multiple)
  std::int64_t stage_bytes = 0;  // one pipeline stage: A tile, values tile, offsets
  std::int64_t smem_bytes = 0;   // kF32Stages stages
  bool use_masks = false;        // copy only the union of needed A columns
};

inline TiledGeometry tiled_geometry(const F32Tile& t, std::int64_t rows, const NMLayout& l) {
  TiledGeometry g;
  g.wpc = t.kd / l.m;
  g.kc_max = g.wpc * l.n;
  g.kc_pad = (g.kc_max + 15) / 16 * 16;
  g.vpb = std::max(1, t.bn / l.v);
  g.chunks = g.wpc > 0 ? (l.windows() + g.wpc - 1) / g.wpc : 0;
  g.row_blocks = (rows + t.bm - 1) / t.bm;
  g.col_blocks = (l.cols + t.bn - 1) / t.bn;
  g.offsets_bytes_per_chunk = static_cast<std::int64_t>(g.vpb) * g.kc_pad;
  g.stage_bytes = static_cast<std::int64_t>(t.kd) * (t.bm + kF32APad) * 4 + static_cast<std::int64_t>(g.kc_max) * t.bn * 4 +
                  g.offsets_bytes_per_chunk;
  g.smem_bytes = kF32Stages * g.stage_bytes;
  // Expected share of a chunk's dense columns that the block's vpb index lists need (each keeps n of
  // m at random): masks pay off when clearly below all of them.
  const double union_share = 1.0 - std::pow(1.0 - static_cast<double>(l.n) / l.m, g.vpb);
  g.use_masks = union_share < 0.9;
  return g;
}

// ---- bf16 tensor-core kernel ----
// Block tile bm x bn (bn <= v: one index list per block); warps_m x warps_n warps, each
// (bm / warps_m) x (bn / warps_n) made of 16x8 mma tiles; k walked in chunks of 32 kept rows.
struct Bf16Tile {
  int bm, bn, warps_m, warps_n;
};
inline constexpr Bf16Tile kBf16Tiles[] = {
    {128, 64, 4, 2},  // 0: v >= 64, 256 threads
    {128, 32, 4, 1},  // 1: v >= 32, 128 threads
    {64, 32, 2, 2},   // 2: v >= 32, 128 threads, for fewer rows / split-k
};
inline constexpr int kBf16TileCount = static_cast<int>(sizeof(kBf16Tiles) / sizeof(kBf16Tiles[0]));
inline constexpr int kBf16ChunkRows = 32;  // kept rows per chunk (two k16 mma steps)

constexpr int bf16_threads(const Bf16Tile& t) { return t.warps_m * t.warps_n * 32; }

inline std::int64_t bf16_chunks(const NMLayout& l) { return (l.kept_rows() + kBf16ChunkRows - 1) / kBf16ChunkRows; }

// ---- decode kernel (rows <= 16) ----
inline constexpr int kDecodeThreads = 128;
inline constexpr int kDecodeWarps = kDecodeThreads / 32;
inline constexpr int kDecodeLaneCols = 4;                     // consecutive columns per lane
inline constexpr int kDecodeStrip = 32 * kDecodeLaneCols;     // columns per block
inline constexpr int kDecodeMaxRows = 16;

// Rows are padded to a power of two (the kernel's template parameter).
constexpr int decode_rows_bucket(std::int64_t rows) {
  return rows <= 1 ? 1 : rows <= 2 ? 2 : rows <= 4 ? 4 : rows <= 8 ? 8 : 16;
}
// Dense columns of A held in shared memory at a time (whole windows).
constexpr int decode_slice_dense(int m, int bucket) {
  const int cap = std::min(2048, 8192 / bucket);
  return std::max(m, cap / m * m);
}
constexpr std::int64_t decode_smem_bytes(int m, int bucket) {
  return 4 * static_cast<std::int64_t>(
                 std::max(decode_slice_dense(m, bucket) * bucket, kDecodeWarps * bucket * kDecodeStrip));
}

// ---- split-k limits ----
inline constexpr int kMaxSplit = 64;

}  // namespace meridian::kernels::cuda::nm_detail
