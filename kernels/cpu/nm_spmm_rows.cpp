// N:M SpMM on AVX-512 and AVX2, vectorised over rows of C (every v; at v = 1 there is nothing else to
// vectorise over): C (rows x cols) = alpha·A (rows x k)·B + beta·C, B as values (kept_rows x cols) + u8
// index. A is packed transposed per panel of 2W rows; each column FMAs the panel row its index names with
// a broadcast value; columns sharing an index share the A loads.
#include <Kokkos_Core.hpp>
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/common/error.hpp"
#include "kernels/cpu/nm_sparse_detail.hpp"

namespace meridian::kernels::cpu::detail {
namespace {

using HostSpace = Kokkos::DefaultHostExecutionSpace;
using Range = Kokkos::RangePolicy<HostSpace, Kokkos::IndexType<std::int64_t>>;

// Block of windows: about kKeptPerBlock kept rows (to amortise a tile's transpose into C) but at most
// kMaxDenseRows dense rows (a packed panel, kMaxDenseRows x 2W floats, stays in L2).
constexpr std::int64_t kKeptPerBlock = 512;
constexpr std::int64_t kMaxDenseRows = 2048;
// Kept rows per step of the value packing.
constexpr std::int64_t kPackChunk = 16;
// At most this many strips per task: bounds the per-thread copy of the values (kept rows x columns).
constexpr std::int64_t kMaxStripsPerTask = 96;

// One micro tile: a panel of rp rows by one strip of nr columns, over the kept rows of a block.
struct RowsArgs {
  const float* ap;          // packed A: (dense rows of the block) x rp, row kk = A[i0.., k0 + kk]
  const float* vals;        // packed values of the strip: kept x nr
  const std::uint8_t* idx;  // packed index of the strip: kept x (nr / v)
  std::int64_t windows;     // windows in the block
  int n, m;
  float* tile;  // out: the accumulators, column j of the tile at tile + j·rp
};
using RowsFn = void (*)(const RowsArgs&);

// AVX-512: 2 x 16 rows per panel, NR columns; V columns share one index (one pair of A loads).
template <int V, int NR>
__attribute__((target("avx512f,avx512bw,avx512vl"))) void rows_avx512(const RowsArgs& g) {
  constexpr int kRp = 32;
  __m512 acc0[NR], acc1[NR];
#pragma GCC unroll 16
  for (int j = 0; j < NR; ++j) acc0[j] = acc1[j] = _mm512_setzero_ps();
  const float* aw = g.ap;
  const float* vr = g.vals;
  const std::uint8_t* ir = g.idx;
  const std::int64_t window_step = std::int64_t{g.m} * kRp;
  for (std::int64_t w = 0; w < g.windows; ++w, aw += window_step) {
    for (int jn = 0; jn < g.n; ++jn, vr += NR, ir += NR / V) {
#pragma GCC unroll 16
      for (int q = 0; q < NR / V; ++q) {
        const float* a = aw + std::int64_t{ir[q]} * kRp;
        const __m512 a0 = _mm512_load_ps(a);
        const __m512 a1 = _mm512_load_ps(a + 16);
#pragma GCC unroll 16
        for (int t = 0; t < V; ++t) {
          const int j = q * V + t;
          const __m512 b = _mm512_set1_ps(vr[j]);
          acc0[j] = _mm512_fmadd_ps(a0, b, acc0[j]);
          acc1[j] = _mm512_fmadd_ps(a1, b, acc1[j]);
        }
      }
    }
  }
#pragma GCC unroll 16
  for (int j = 0; j < NR; ++j) {
    _mm512_store_ps(g.tile + j * kRp, acc0[j]);
    _mm512_store_ps(g.tile + j * kRp + 16, acc1[j]);
  }
}

// AVX2 + FMA: 2 x 8 rows per panel (16 ymm registers: NR = 6 columns for v = 1, 4 for v = 4).
template <int V, int NR>
__attribute__((target("avx2,fma"))) void rows_avx2(const RowsArgs& g) {
  constexpr int kRp = 16;
  __m256 acc0[NR], acc1[NR];
#pragma GCC unroll 16
  for (int j = 0; j < NR; ++j) acc0[j] = acc1[j] = _mm256_setzero_ps();
  const float* aw = g.ap;
  const float* vr = g.vals;
  const std::uint8_t* ir = g.idx;
  const std::int64_t window_step = std::int64_t{g.m} * kRp;
  for (std::int64_t w = 0; w < g.windows; ++w, aw += window_step) {
    for (int jn = 0; jn < g.n; ++jn, vr += NR, ir += NR / V) {
#pragma GCC unroll 16
      for (int q = 0; q < NR / V; ++q) {
        const float* a = aw + std::int64_t{ir[q]} * kRp;
        const __m256 a0 = _mm256_load_ps(a);
        const __m256 a1 = _mm256_load_ps(a + 8);
#pragma GCC unroll 16
        for (int t = 0; t < V; ++t) {
          const int j = q * V + t;
          const __m256 b = _mm256_broadcast_ss(vr + j);
          acc0[j] = _mm256_fmadd_ps(a0, b, acc0[j]);
          acc1[j] = _mm256_fmadd_ps(a1, b, acc1[j]);
        }
      }
    }
  }
#pragma GCC unroll 16
  for (int j = 0; j < NR; ++j) {
    _mm256_store_ps(g.tile + j * kRp, acc0[j]);
    _mm256_store_ps(g.tile + j * kRp + 8, acc1[j]);
  }
}

// In-register transpose of an 8 x 8 block: r[x] lane y -> r[y] lane x.
__attribute__((target("avx2,fma"))) inline void transpose8(__m256 r[8]) {
  __m256 t[8], u[8];
  for (int x = 0; x < 8; x += 2) {
    t[x] = _mm256_unpacklo_ps(r[x], r[x + 1]);
    t[x + 1] = _mm256_unpackhi_ps(r[x], r[x + 1]);
  }
  for (int x = 0; x < 8; x += 4) {
    u[x] = _mm256_shuffle_ps(t[x], t[x + 2], 0x44);
    u[x + 1] = _mm256_shuffle_ps(t[x], t[x + 2], 0xEE);
    u[x + 2] = _mm256_shuffle_ps(t[x + 1], t[x + 3], 0x44);
    u[x + 3] = _mm256_shuffle_ps(t[x + 1], t[x + 3], 0xEE);
  }
  for (int x = 0; x < 4; ++x) {
    r[x] = _mm256_permute2f128_ps(u[x], u[x + 4], 0x20);
    r[x + 4] = _mm256_permute2f128_ps(u[x], u[x + 4], 0x31);
  }
}

// Lanes 0..count-1 set (count clamped to 0..8), for maskload / maskstore.
__attribute__((target("avx2,fma"))) inline __m256i lanes_below(std::int64_t count) {
  const int c = static_cast<int>(std::clamp<std::int64_t>(count, 0, 8));
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(c), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// Packs one panel transposed: dst[kk·rp + ii] = A[i0 + ii, k0 + kk] for kk < kc, ii < rp (rp a
// multiple of 8), zeros where i0 + ii >= rows or kk >= k_real; A is never read there.
__attribute__((target("avx2,fma"))) void pack_panel(const float* a, std::int64_t lda, std::int64_t rows,
                                                    std::int64_t i0, int rp, std::int64_t k0, std::int64_t k_real,
                                                    std::int64_t kc, float* dst) {
  for (int ii0 = 0; ii0 < rp; ii0 += 8) {
    const float* src[8];
    bool live[8];
    for (int x = 0; x < 8; ++x) {
      live[x] = i0 + ii0 + x < rows;
      src[x] = live[x] ? a + (i0 + ii0 + x) * lda + k0 : nullptr;
    }
    for (std::int64_t kk0 = 0; kk0 < kc; kk0 += 8) {
      __m256 r[8];
      if (kk0 + 8 <= k_real) {
        for (int x = 0; x < 8; ++x) r[x] = live[x] ? _mm256_loadu_ps(src[x] + kk0) : _mm256_setzero_ps();
      } else {
        const __m256i mask = lanes_below(k_real - kk0);
        for (int x = 0; x < 8; ++x) r[x] = live[x] ? _mm256_maskload_ps(src[x] + kk0, mask) : _mm256_setzero_ps();
      }
      transpose8(r);
      const int ys = static_cast<int>(std::min<std::int64_t>(8, kc - kk0));
      for (int y = 0; y < ys; ++y) _mm256_store_ps(dst + (kk0 + y) * rp + ii0, r[y]);
    }
  }
}

// Writes the valid part of a column-major tile (column j at tile + j·rp, rp a multiple of 8, columns
// readable up to a multiple of 8) into row-major C: on the first block of windows
// C = alpha·acc + beta·C (beta == 0: C is not read), on later ones C += alpha·acc.
__attribute__((target("avx2,fma"))) void store_tile(const float* tile, int rp, int rows_valid, int cols_valid,
                                                    float* c, std::int64_t ldc, float alpha, float beta,
                                                    bool first) {
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
  for (int i0 = 0; i0 < rows_valid; i0 += 8) {
    for (int j0 = 0; j0 < cols_valid; j0 += 8) {
      __m256 r[8];
      for (int x = 0; x < 8; ++x) r[x] = _mm256_load_ps(tile + (j0 + x) * rp + i0);
      transpose8(r);  // r[y] = row i0 + y, columns j0..j0+7
      const bool full = j0 + 8 <= cols_valid;
      const __m256i mask = lanes_below(cols_valid - j0);
      const int ys = std::min(8, rows_valid - i0);
      for (int y = 0; y < ys; ++y) {
        float* crow = c + (i0 + y) * ldc + j0;
        __m256 t = _mm256_mul_ps(va, r[y]);
        if (!first || beta != 0.f) {
          const __m256 old = full ? _mm256_loadu_ps(crow) : _mm256_maskload_ps(crow, mask);
          t = first ? _mm256_add_ps(t, _mm256_mul_ps(vb, old)) : _mm256_add_ps(old, t);
        }
        if (full) {
          _mm256_storeu_ps(crow, t);
        } else {
          _mm256_maskstore_ps(crow, mask, t);
        }
      }
    }
  }
}

// Copies `kept` rows of one strip (NR values with row stride ld, G index bytes with row stride ild)
// to rows of NR values and G bytes.
template <int NR, int G>
void pack_strip(const float* vals, const std::uint8_t* idx, std::int64_t ld, std::int64_t ild, std::int64_t kept,
                float* dv, std::uint8_t* di) {
  for (std::int64_t r = 0; r < kept; ++r) {
    std::memcpy(dv + r * NR, vals + r * ld, NR * sizeof(float));
    std::memcpy(di + r * G, idx + r * ild, G);
  }
}
using PackFn = void (*)(const float*, const std::uint8_t*, std::int64_t, std::int64_t, std::int64_t, float*,
                        std::uint8_t*);

// The same for the last strip when it is narrower: `width` values and `vecs` index bytes per row, then
// zeros and offset 0 up to nr and groups.
void pack_tail_strip(const float* vals, const std::uint8_t* idx, std::int64_t ld, std::int64_t ild,
                     std::int64_t kept, int nr, int groups, int width, int vecs, float* dv, std::uint8_t* di) {
  for (std::int64_t r = 0; r < kept; ++r, vals += ld, idx += ild, dv += nr, di += groups) {
    int j = 0, q = 0;
    for (; j < width; ++j) dv[j] = vals[j];
    for (; j < nr; ++j) dv[j] = 0.f;
    for (; q < vecs; ++q) di[q] = idx[q];
    for (; q < groups; ++q) di[q] = 0;
  }
}

struct RowsKernel {
  int rp;  // rows per panel (2 registers)
  int nr;  // columns per strip (a multiple of v, or inside one column vector when v > nr)
  RowsFn fn;
  PackFn pack;
};

RowsKernel rows_kernel(NmIsa isa, int v) {
  if (!nm_isa_supported(NmIsa::avx2)) return {0, 0, nullptr, nullptr};  // packing and the transpose into C use AVX2
  if (isa == NmIsa::avx512) {
    if (v == 1) return {32, 12, &rows_avx512<1, 12>, &pack_strip<12, 12>};
    if (v == 4) return {32, 12, &rows_avx512<4, 12>, &pack_strip<12, 3>};
    // v = 8 and wider: strips of 8 columns inside one column vector, one index byte each. Measured
    // faster than the column-broadcast kernels of nm_spmm.cpp at every sparsity (2 threads, Zen 4).
    if (v % 8 == 0) return {32, 8, &rows_avx512<8, 8>, &pack_strip<8, 1>};
  } else if (isa == NmIsa::avx2) {
    if (v == 1) return {16, 6, &rows_avx2<1, 6>, &pack_strip<6, 6>};
    if (v % 4 == 0) return {16, 4, &rows_avx2<4, 4>, &pack_strip<4, 1>};
  }
  return {0, 0, nullptr, nullptr};
}

// A float buffer of `count` floats whose data starts on a 64-byte boundary.
float* aligned(std::vector<float>& buf, std::int64_t count) {
  buf.resize(static_cast<std::size_t>(count + 16));
  const auto at = reinterpret_cast<std::uintptr_t>(buf.data());
  return buf.data() + ((64 - at % 64) % 64) / sizeof(float);
}

}  // namespace

bool nm_spmm_rows_supported(NmIsa isa, int v) { return rows_kernel(isa, v).fn != nullptr; }

void nm_spmm_rows(NmIsa isa, std::int64_t rows, const NMLayout& l, float alpha, const float* a, std::int64_t lda,
                    const float* values, const std::uint8_t* index, float beta, float* c, std::int64_t ldc) {
  const RowsKernel kern = rows_kernel(isa, l.v);
  MERIDIAN_CHECK(kern.fn != nullptr, "cpu::nm_spmm_rows: no ", nm_isa_name(isa), " kernel for v = ", l.v);
  if (rows == 0 || l.cols == 0) return;
  MERIDIAN_CHECK(l.windows() > 0, "cpu::nm_spmm_rows: k = 0 is the caller's case");
  // Index bytes per strip: nr / v column vectors, or one when a vector spans several strips.
  const int rp = kern.rp, nr = kern.nr, groups = std::max(1, nr / l.v);
  const RowsFn fn = kern.fn;
  const PackFn pack = kern.pack;
  const std::int64_t n = l.n, m = l.m, k = l.k, v = l.v, cols = l.cols;
  const std::int64_t windows = l.windows(), cvs = l.col_vectors();
  const std::int64_t kw = std::max<std::int64_t>(1, std::min(kKeptPerBlock / n, kMaxDenseRows / m));
  const std::int64_t kc_cap = kw * m, kept_cap = kw * n;

  // Tasks: column blocks of whole strips (each packs its values once per block of windows and runs
  // every row of its range over them) x row ranges (more than one only when there are few strips).
  const std::int64_t threads = static_cast<std::int64_t>(HostSpace().concurrency());
  const std::int64_t panels = (rows + rp - 1) / rp, strips = (cols + nr - 1) / nr;
  std::int64_t col_blocks = std::min(strips, std::max(threads, (strips + kMaxStripsPerTask - 1) / kMaxStripsPerTask));
  while (col_blocks % threads != 0 && col_blocks < strips) ++col_blocks;
  std::int64_t row_ranges = std::min(panels, (threads + col_blocks - 1) / col_blocks);
  while ((col_blocks * row_ranges) % threads != 0 && row_ranges < panels) ++row_ranges;

  Kokkos::parallel_for("meridian::cpu::nm_spmm_rows", Range(0, col_blocks * row_ranges), [=](const std::int64_t t) {
    thread_local std::vector<float> ap_buf, bv_buf, tile_buf;
    thread_local std::vector<std::uint8_t> bi_buf;
    const std::int64_t cb = t % col_blocks, rg = t / col_blocks;
    const std::int64_t s0 = cb * strips / col_blocks, s1 = (cb + 1) * strips / col_blocks;
    const std::int64_t q0 = rg * panels / row_ranges, q1 = (rg + 1) * panels / row_ranges;
    const std::int64_t panel_floats = kc_cap * rp, strip_floats = kept_cap * nr, strip_bytes = kept_cap * groups;
    float* ap = aligned(ap_buf, panel_floats);
    float* bv = aligned(bv_buf, (s1 - s0) * strip_floats);
    bi_buf.resize(static_cast<std::size_t>((s1 - s0) * strip_bytes));
    std::uint8_t* bi = bi_buf.data();
    // The tile's columns are read in eights by store_tile: the ones past nr stay zero.
    const std::int64_t tile_floats = (nr + 7) / 8 * 8 * std::int64_t{rp};
    float* tile = aligned(tile_buf, tile_floats);
    std::fill_n(tile, tile_floats, 0.f);

    for (std::int64_t w0 = 0; w0 < windows; w0 += kw) {
      const std::int64_t nw = std::min(kw, windows - w0);
      const std::int64_t kc = nw * m, kept = nw * n, r0 = w0 * n, k0 = w0 * m;
      const std::int64_t k_real = std::min(kc, k - k0);  // dense rows of the block inside k
      // Pack the task's strips (kept x nr values, kept x groups index bytes each) in chunks of kPackChunk
      // rows, so that both the reads (rows of values) and the writes (rows of strips) stay local.
      for (std::int64_t rc = 0; rc < kept; rc += kPackChunk) {
        const std::int64_t nrc = std::min(kPackChunk, kept - rc);
        const float* vrow = values + (r0 + rc) * cols;
        const std::uint8_t* irow = index + (r0 + rc) * cvs;
        for (std::int64_t s = s0; s < s1; ++s) {
          const std::int64_t cs = s * nr, width = std::min<std::int64_t>(nr, cols - cs);
          float* dv = bv + (s - s0) * strip_floats + rc * nr;
          std::uint8_t* di = bi + (s - s0) * strip_bytes + rc * groups;
          if (width == nr) {
            pack(vrow + cs, irow + cs / v, cols, cvs, nrc, dv, di);
          } else {
            pack_tail_strip(vrow + cs, irow + cs / v, cols, cvs, nrc, nr, groups, static_cast<int>(width),
                            static_cast<int>((width + v - 1) / v), dv, di);
          }
        }
      }
      for (std::int64_t p = q0; p < q1; ++p) {
        pack_panel(a, lda, rows, p * rp, rp, k0, k_real, kc, ap);
        const std::int64_t i0 = p * rp;
        const int rows_valid = static_cast<int>(std::min<std::int64_t>(rp, rows - i0));
        for (std::int64_t s = s0; s < s1; ++s) {
          const std::int64_t cs = s * nr, width = std::min<std::int64_t>(nr, cols - cs);
          const float* sv = bv + (s - s0) * strip_floats;
          const std::uint8_t* si = bi + (s - s0) * strip_bytes;
          float* ct = c + i0 * ldc + cs;
          // The tile's rows of C were last touched a block of windows ago: fetch them while the
          // micro-kernel runs.
          for (int i = 0; i < rows_valid; ++i) {
            __builtin_prefetch(ct + i * ldc, 1);
            __builtin_prefetch(ct + i * ldc + width - 1, 1);
          }
          fn(RowsArgs{ap, sv, si, nw, static_cast<int>(n), static_cast<int>(m), tile});
          store_tile(tile, rp, rows_valid, static_cast<int>(width), ct, ldc, alpha, beta, w0 == 0);
        }
      }
    }
  });
}

}  // namespace meridian::kernels::cpu::detail
