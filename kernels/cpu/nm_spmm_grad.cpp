// The backward products of the N:M SpMM on the CPU: dA (rows x k) = alpha·dC (rows x cols)·Bᵀ + beta·dA and
// dvalues (kept_rows x cols) = alpha·(Aᵀ·dC at the kept positions) + beta·dvalues, B as values + u8 index
// (kernels/common/nm_layout.hpp); AVX-512 / AVX2 micro-kernels chosen at run time, scalar fallback.
#include <Kokkos_Core.hpp>
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <vector>

#include "kernels/common/error.hpp"
#include "kernels/cpu/nm_sparse.hpp"
#include "kernels/cpu/nm_sparse_detail.hpp"

// Determinism: every output element is computed by exactly one task, and the order of its sum (fixed blocks of
// columns and then spans or list order for dA, fixed blocks of kRowsB rows for dvalues) does not depend on the
// tiling the thread count chooses, so results are identical for any number of threads (for a given instruction set).
namespace meridian::kernels::cpu::detail {
namespace {

using HostSpace = Kokkos::DefaultHostExecutionSpace;
using Range = Kokkos::RangePolicy<HostSpace, Kokkos::IndexType<std::int64_t>>;

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

// Windows per block so that a block has about `kept_want` kept rows and at most `dense_cap` dense rows.
std::int64_t windows_per_block(const NMLayout& l, std::int64_t kept_want, std::int64_t dense_cap) {
  const std::int64_t kw = std::clamp<std::int64_t>(kept_want / l.n, 1, std::max<std::int64_t>(1, dense_cap / l.m));
  return std::min(kw, l.windows());
}

float blend(float alpha, float acc, float beta, float old) {
  const float t = alpha * acc;
  return beta == 0.f ? t : t + beta * old;
}

// Output of a partial sum over a block of the reduction: the first block writes alpha·acc + beta·out
// (beta == 0: out is not read), later blocks add alpha·acc.
struct Epilogue {
  float alpha;
  float beta;
  bool first;
  float apply(float acc, float out) const { return first ? blend(alpha, acc, beta, out) : out + alpha * acc; }
};

std::int64_t threads() { return static_cast<std::int64_t>(HostSpace().concurrency()); }

// ================================================================================================
// Scalar fallback (MERIDIAN_NM_ISA=scalar or a CPU without AVX2): blocks of kRowBlock rows of dA or
// kept rows of dvalues per task, dot products and axpys the compiler may vectorise with SSE.

constexpr std::int64_t kRowBlock = 4;

// Sum of x[i]·y[i] over [0, len) with four independent partial sums.
float dot(const float* x, const float* y, std::int64_t len) {
  float s0 = 0.f, s1 = 0.f, s2 = 0.f, s3 = 0.f;
  std::int64_t i = 0;
  for (; i + 4 <= len; i += 4) {
    s0 += x[i] * y[i];
    s1 += x[i + 1] * y[i + 1];
    s2 += x[i + 2] * y[i + 2];
    s3 += x[i + 3] * y[i + 3];
  }
  for (; i < len; ++i) s0 += x[i] * y[i];
  return (s0 + s1) + (s2 + s3);
}

void grad_a_scalar(std::int64_t rows, const NMLayout& lay, float alpha, const float* dc, std::int64_t lddc,
                   const float* values, const std::uint8_t* index, float beta, float* da, std::int64_t ldda) {
  const std::int64_t cvs = lay.col_vectors(), k_pad = lay.windows() * lay.m;
  const std::int64_t blocks = ceil_div(rows, kRowBlock);
  Kokkos::parallel_for("meridian::cpu::nm_spmm_grad_a", Range(0, blocks), [=](const std::int64_t blk) {
    // acc[ii·k_pad + row]: dA of row i0 + ii before alpha/beta.
    thread_local std::vector<float> acc;
    const std::int64_t i0 = blk * kRowBlock, nb = std::min(kRowBlock, rows - i0);
    acc.assign(static_cast<std::size_t>(nb * k_pad), 0.f);
    for (std::int64_t r = 0; r < lay.kept_rows(); ++r) {
      const std::int64_t base = (r / lay.n) * lay.m;
      const float* vrow = values + r * lay.cols;
      for (std::int64_t cv = 0; cv < cvs; ++cv) {
        const std::int64_t row = base + index[r * cvs + cv];
        if (row >= lay.k) continue;  // padding: no dA row
        const std::int64_t cb = cv * lay.v, len = std::min<std::int64_t>(lay.v, lay.cols - cb);
        for (std::int64_t ii = 0; ii < nb; ++ii)
          acc[static_cast<std::size_t>(ii * k_pad + row)] += dot(dc + (i0 + ii) * lddc + cb, vrow + cb, len);
      }
    }
    for (std::int64_t ii = 0; ii < nb; ++ii) {
      float* out = da + (i0 + ii) * ldda;
      for (std::int64_t row = 0; row < lay.k; ++row)
        out[row] = blend(alpha, acc[static_cast<std::size_t>(ii * k_pad + row)], beta, out[row]);
    }
  });
}

void grad_b_scalar(std::int64_t rows, const NMLayout& lay, float alpha, const float* a, std::int64_t lda,
                   const float* dc, std::int64_t lddc, const std::uint8_t* index, float beta, float* dvalues) {
  const std::int64_t cvs = lay.col_vectors(), cols = lay.cols, kept_rows = lay.kept_rows();
  const std::int64_t blocks = ceil_div(kept_rows, kRowBlock);
  Kokkos::parallel_for("meridian::cpu::nm_spmm_grad_b", Range(0, blocks), [=](const std::int64_t blk) {
    // acc[rr·cols + c]: dvalues of kept row r0 + rr before alpha/beta; dense[rr·cvs + cv]: its dense row
    // for vector cv, -1 at padding.
    thread_local std::vector<float> acc;
    thread_local std::vector<std::int64_t> dense;
    const std::int64_t r0 = blk * kRowBlock, nb = std::min(kRowBlock, kept_rows - r0);
    acc.assign(static_cast<std::size_t>(nb * cols), 0.f);
    dense.resize(static_cast<std::size_t>(nb * cvs));
    for (std::int64_t rr = 0; rr < nb; ++rr)
      for (std::int64_t cv = 0; cv < cvs; ++cv) {
        const std::int64_t row = lay.dense_row(r0 + rr, cv, index);
        dense[static_cast<std::size_t>(rr * cvs + cv)] = row < lay.k ? row : -1;
      }
    for (std::int64_t i = 0; i < rows; ++i) {
      const float* arow = a + i * lda;
      const float* drow = dc + i * lddc;
      for (std::int64_t rr = 0; rr < nb; ++rr) {
        float* out = acc.data() + rr * cols;
        for (std::int64_t cv = 0; cv < cvs; ++cv) {
          const std::int64_t row = dense[static_cast<std::size_t>(rr * cvs + cv)];
          if (row < 0) continue;
          const float av = arow[row];
          const std::int64_t cb = cv * lay.v, ce = std::min(cols, cb + lay.v);
          for (std::int64_t c = cb; c < ce; ++c) out[c] += av * drow[c];
        }
      }
    }
    for (std::int64_t rr = 0; rr < nb; ++rr) {
      float* out = dvalues + (r0 + rr) * cols;
      for (std::int64_t c = 0; c < cols; ++c)
        out[c] = blend(alpha, acc[static_cast<std::size_t>(rr * cols + c)], beta, out[c]);
    }
  });
}

// ================================================================================================
// dA = dC · Bᵀ, vectorised over rows of dC (register-blocked path for v >= 8; the list path below for v < 8).
// A task owns a tile of dA: a block of rows (panels of PW rows)
// by a block of windows (KC dense columns of dA). It keeps dAᵀ of the tile in acc (KC x tile rows, plus
// one scratch row) and walks the columns of dC in blocks of kColsA: dC's block is packed transposed per
// panel (dcp: kColsA x PW), then for MR kept rows at a time the micro-kernel runs, per span (the columns
// of one column vector inside the block), acc[dense row of kept row r] += Σ_c values[r, c] · dCᵀ[c, :]
// with the MR x PW accumulators in registers: broadcast values, FMA packed dC rows; load/store acc once
// per span (so v = 1 costs a read-modify-write per column). No horizontal sums anywhere.

constexpr std::int64_t kColsA = 256;        // columns of dC per block (a multiple of every v)
constexpr std::int64_t kKeptA = 256;        // kept rows per block of windows, wanted
constexpr std::int64_t kRowsTileA = 128;    // rows of dA per tile, wanted

struct GradAArgs {
  const float* dcp;           // this panel's packed dCᵀ: width x PW, row c = dC[panel rows, c0 + c]
  const float* const* vrow;   // MR value rows at column c0 (tail rows repeat a valid row)
  const std::int32_t* tgt;    // span s, row q: tgt[s·MR + q] = offset in acc of its dense row (scratch: tail)
  std::int64_t spans;
  std::int64_t span_len;
  std::int64_t width;         // columns in the block
  float* acc;                 // dAᵀ of the tile at this panel's first row
};
using GradAFn = void (*)(const GradAArgs&);

template <int MR>
__attribute__((target("avx512f,avx512bw,avx512vl"))) void grad_a_avx512(const GradAArgs& g) {
  constexpr int NR = 4;  // PW = 64 rows of dC
  const float* v[MR];
#pragma GCC unroll 16
  for (int q = 0; q < MR; ++q) v[q] = g.vrow[q];
  for (std::int64_t s = 0; s < g.spans; ++s) {
    const std::int64_t cb = s * g.span_len, ce = std::min(cb + g.span_len, g.width);
    float* t[MR];
    __m512 acc[MR][NR];
#pragma GCC unroll 16
    for (int q = 0; q < MR; ++q) {
      t[q] = g.acc + g.tgt[s * MR + q];
#pragma GCC unroll 4
      for (int j = 0; j < NR; ++j) acc[q][j] = _mm512_loadu_ps(t[q] + 16 * j);
    }
    for (std::int64_t c = cb; c < ce; ++c) {
      const float* d = g.dcp + c * (16 * NR);
      __m512 dv[NR];
#pragma GCC unroll 4
      for (int j = 0; j < NR; ++j) dv[j] = _mm512_loadu_ps(d + 16 * j);
#pragma GCC unroll 16
      for (int q = 0; q < MR; ++q) {
        const __m512 b = _mm512_set1_ps(v[q][c]);
#pragma GCC unroll 4
        for (int j = 0; j < NR; ++j) acc[q][j] = _mm512_fmadd_ps(b, dv[j], acc[q][j]);
      }
    }
#pragma GCC unroll 16
    for (int q = 0; q < MR; ++q)
#pragma GCC unroll 4
      for (int j = 0; j < NR; ++j) _mm512_storeu_ps(t[q] + 16 * j, acc[q][j]);
  }
}

template <int MR>
__attribute__((target("avx2,fma"))) void grad_a_avx2(const GradAArgs& g) {
  constexpr int NR = 2;  // PW = 16 rows of dC
  const float* v[MR];
#pragma GCC unroll 16
  for (int q = 0; q < MR; ++q) v[q] = g.vrow[q];
  for (std::int64_t s = 0; s < g.spans; ++s) {
    const std::int64_t cb = s * g.span_len, ce = std::min(cb + g.span_len, g.width);
    float* t[MR];
    __m256 acc[MR][NR];
#pragma GCC unroll 16
    for (int q = 0; q < MR; ++q) {
      t[q] = g.acc + g.tgt[s * MR + q];
#pragma GCC unroll 4
      for (int j = 0; j < NR; ++j) acc[q][j] = _mm256_loadu_ps(t[q] + 8 * j);
    }
    for (std::int64_t c = cb; c < ce; ++c) {
      const float* d = g.dcp + c * (8 * NR);
      __m256 dv[NR];
#pragma GCC unroll 4
      for (int j = 0; j < NR; ++j) dv[j] = _mm256_loadu_ps(d + 8 * j);
#pragma GCC unroll 16
      for (int q = 0; q < MR; ++q) {
        const __m256 b = _mm256_broadcast_ss(v[q] + c);
#pragma GCC unroll 4
        for (int j = 0; j < NR; ++j) acc[q][j] = _mm256_fmadd_ps(b, dv[j], acc[q][j]);
      }
    }
#pragma GCC unroll 16
    for (int q = 0; q < MR; ++q)
#pragma GCC unroll 4
      for (int j = 0; j < NR; ++j) _mm256_storeu_ps(t[q] + 8 * j, acc[q][j]);
  }
}

// Transposes of square blocks (16 x 16 floats with AVX-512, 8 x 8 with AVX2), for packing dC transposed and
// for writing dA from its transposed accumulators.
struct TileOps {
  int block;
  // dst[c·ldd + x] = src[x·lds + c] for x, c < block.
  void (*transpose)(const float* src, std::int64_t lds, float* dst, std::int64_t ldd);
  // out[x·ldo + c] = alpha·acc[c·lda + x] + beta·out[x·ldo + c] (beta == 0: out not read) for x, c < block.
  void (*store_transposed)(const float* acc, std::int64_t lda, float* out, std::int64_t ldo, float alpha, float beta);
};

// GCC 12 warns (-Wuninitialized, a false positive fixed in GCC 13) about the undefined pass-through operand of
// several unmasked AVX-512 intrinsics; these helpers use the masked forms with every lane set instead.
#define MERIDIAN_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl"))) inline
MERIDIAN_AVX512 __m512 unpacklo16(__m512 a, __m512 b) {
  return _mm512_mask_unpacklo_ps(_mm512_setzero_ps(), 0xFFFF, a, b);
}
MERIDIAN_AVX512 __m512 unpackhi16(__m512 a, __m512 b) {
  return _mm512_mask_unpackhi_ps(_mm512_setzero_ps(), 0xFFFF, a, b);
}
MERIDIAN_AVX512 __m512 unpacklo8d(__m512 a, __m512 b) {
  return _mm512_castpd_ps(
      _mm512_mask_unpacklo_pd(_mm512_setzero_pd(), 0xFF, _mm512_castps_pd(a), _mm512_castps_pd(b)));
}
MERIDIAN_AVX512 __m512 unpackhi8d(__m512 a, __m512 b) {
  return _mm512_castpd_ps(
      _mm512_mask_unpackhi_pd(_mm512_setzero_pd(), 0xFF, _mm512_castps_pd(a), _mm512_castps_pd(b)));
}
template <int Imm>
MERIDIAN_AVX512 __m512 shuffle128(__m512 a, __m512 b) {
  return _mm512_mask_shuffle_f32x4(_mm512_setzero_ps(), 0xFFFF, a, b, Imm);
}
#undef MERIDIAN_AVX512

__attribute__((target("avx512f,avx512bw,avx512vl"))) inline void transpose16(__m512* r) {
  __m512 t[16];
#pragma GCC unroll 8
  for (int x = 0; x < 8; ++x) {
    t[2 * x] = unpacklo16(r[2 * x], r[2 * x + 1]);
    t[2 * x + 1] = unpackhi16(r[2 * x], r[2 * x + 1]);
  }
#pragma GCC unroll 4
  for (int x = 0; x < 4; ++x) {  // pairs of floats as doubles
    r[4 * x] = unpacklo8d(t[4 * x], t[4 * x + 2]);
    r[4 * x + 1] = unpackhi8d(t[4 * x], t[4 * x + 2]);
    r[4 * x + 2] = unpacklo8d(t[4 * x + 1], t[4 * x + 3]);
    r[4 * x + 3] = unpackhi8d(t[4 * x + 1], t[4 * x + 3]);
  }
  // r[4q + j] now holds, in 128-bit block b, column 4b + j of source rows 4q..4q+3 (per block b).
#pragma GCC unroll 4
  for (int j = 0; j < 4; ++j) {
    t[j] = shuffle128<0x88>(r[j], r[4 + j]);
    t[4 + j] = shuffle128<0xDD>(r[j], r[4 + j]);
    t[8 + j] = shuffle128<0x88>(r[8 + j], r[12 + j]);
    t[12 + j] = shuffle128<0xDD>(r[8 + j], r[12 + j]);
  }
#pragma GCC unroll 4
  for (int j = 0; j < 4; ++j) {
    r[j] = shuffle128<0x88>(t[j], t[8 + j]);
    r[4 + j] = shuffle128<0x88>(t[4 + j], t[12 + j]);
    r[8 + j] = shuffle128<0xDD>(t[j], t[8 + j]);
    r[12 + j] = shuffle128<0xDD>(t[4 + j], t[12 + j]);
  }
}

__attribute__((target("avx512f,avx512bw,avx512vl"))) void transpose_avx512(const float* src, std::int64_t lds,
                                                                            float* dst, std::int64_t ldd) {
  __m512 r[16];
#pragma GCC unroll 16
  for (int x = 0; x < 16; ++x) r[x] = _mm512_loadu_ps(src + x * lds);
  transpose16(r);
#pragma GCC unroll 16
  for (int c = 0; c < 16; ++c) _mm512_storeu_ps(dst + c * ldd, r[c]);
}

__attribute__((target("avx512f,avx512bw,avx512vl"))) void store_transposed_avx512(const float* acc, std::int64_t lda,
                                                                                   float* out, std::int64_t ldo,
                                                                                   float alpha, float beta) {
  __m512 r[16];
#pragma GCC unroll 16
  for (int c = 0; c < 16; ++c) r[c] = _mm512_loadu_ps(acc + c * lda);
  transpose16(r);
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 16
  for (int x = 0; x < 16; ++x) {
    __m512 t = _mm512_mul_ps(va, r[x]);
    if (beta != 0.f) t = _mm512_add_ps(t, _mm512_mul_ps(vb, _mm512_loadu_ps(out + x * ldo)));
    _mm512_storeu_ps(out + x * ldo, t);
  }
}

__attribute__((target("avx2,fma"))) inline void transpose8(__m256* r) {
  __m256 t[8], u[8];
#pragma GCC unroll 4
  for (int x = 0; x < 4; ++x) {
    t[2 * x] = _mm256_unpacklo_ps(r[2 * x], r[2 * x + 1]);
    t[2 * x + 1] = _mm256_unpackhi_ps(r[2 * x], r[2 * x + 1]);
  }
#pragma GCC unroll 2
  for (int x = 0; x < 2; ++x) {
    u[4 * x] = _mm256_shuffle_ps(t[4 * x], t[4 * x + 2], 0x44);
    u[4 * x + 1] = _mm256_shuffle_ps(t[4 * x], t[4 * x + 2], 0xEE);
    u[4 * x + 2] = _mm256_shuffle_ps(t[4 * x + 1], t[4 * x + 3], 0x44);
    u[4 * x + 3] = _mm256_shuffle_ps(t[4 * x + 1], t[4 * x + 3], 0xEE);
  }
#pragma GCC unroll 4
  for (int j = 0; j < 4; ++j) {
    r[j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x20);
    r[4 + j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x31);
  }
}

__attribute__((target("avx2,fma"))) void transpose_avx2(const float* src, std::int64_t lds, float* dst,
                                                        std::int64_t ldd) {
  __m256 r[8];
#pragma GCC unroll 8
  for (int x = 0; x < 8; ++x) r[x] = _mm256_loadu_ps(src + x * lds);
  transpose8(r);
#pragma GCC unroll 8
  for (int c = 0; c < 8; ++c) _mm256_storeu_ps(dst + c * ldd, r[c]);
}

__attribute__((target("avx2,fma"))) void store_transposed_avx2(const float* acc, std::int64_t lda, float* out,
                                                               std::int64_t ldo, float alpha, float beta) {
  __m256 r[8];
#pragma GCC unroll 8
  for (int c = 0; c < 8; ++c) r[c] = _mm256_loadu_ps(acc + c * lda);
  transpose8(r);
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
#pragma GCC unroll 8
  for (int x = 0; x < 8; ++x) {
    __m256 t = _mm256_mul_ps(va, r[x]);
    if (beta != 0.f) t = _mm256_add_ps(t, _mm256_mul_ps(vb, _mm256_loadu_ps(out + x * ldo)));
    _mm256_storeu_ps(out + x * ldo, t);
  }
}

// Packs the tile's rows [i0, i0 + tile_w) (panels of pw rows, pw a multiple of the block) of dC's columns
// [c0, c0 + width) transposed: row i0 + p·pw + x, column c0 + c goes to dst[p·panel_stride + c·row_stride + x];
// zeros for rows past `rows`.
void pack_dc_transposed(const TileOps& ops, const float* dc, std::int64_t lddc, std::int64_t rows, std::int64_t i0,
                        std::int64_t tile_w, std::int64_t pw, std::int64_t c0, std::int64_t width,
                        std::int64_t panel_stride, std::int64_t row_stride, float* dst) {
  const std::int64_t bs = ops.block;
  for (std::int64_t ib = 0; ib < tile_w; ib += bs) {
    float* db = dst + (ib / pw) * panel_stride + ib % pw;
    const std::int64_t valid = std::clamp<std::int64_t>(rows - (i0 + ib), 0, bs);
    const float* src = dc + (i0 + ib) * lddc + c0;
    std::int64_t c = 0;
    if (valid == bs)
      for (; c + bs <= width; c += bs) ops.transpose(src + c, lddc, db + c * row_stride, row_stride);
    for (; c < width; ++c)
      for (std::int64_t x = 0; x < bs; ++x) db[c * row_stride + x] = x < valid ? src[x * lddc + c] : 0.f;
  }
}

// dst[c·ldd + x] = src[x·lds + c] for x < nx, c < nc: full blocks with `ops`, the edges one by one.
void transpose_block(const TileOps& ops, const float* src, std::int64_t lds, std::int64_t nx, std::int64_t nc,
                     float* dst, std::int64_t ldd) {
  const std::int64_t bs = ops.block;
  std::int64_t x = 0;
  for (; x + bs <= nx; x += bs) {
    std::int64_t c = 0;
    for (; c + bs <= nc; c += bs) ops.transpose(src + x * lds + c, lds, dst + c * ldd + x, ldd);
    for (; c < nc; ++c)
      for (std::int64_t xx = x; xx < x + bs; ++xx) dst[c * ldd + xx] = src[xx * lds + c];
  }
  for (; x < nx; ++x)
    for (std::int64_t c = 0; c < nc; ++c) dst[c * ldd + x] = src[x * lds + c];
}

// dA[i0 + x, k0 + d] = alpha·acc[d·tile_w + x] + beta·dA for x < tile_rows, d < k_real (`out` at dA[i0, k0]).
void store_da(const TileOps& ops, const float* acc, std::int64_t tile_w, std::int64_t tile_rows, std::int64_t k_real,
              float alpha, float beta, float* out, std::int64_t ldda) {
  const std::int64_t bs = ops.block;
  for (std::int64_t ib = 0; ib < tile_rows; ib += bs)
    for (std::int64_t db = 0; db < k_real; db += bs) {
      if (ib + bs <= tile_rows && db + bs <= k_real) {
        ops.store_transposed(acc + db * tile_w + ib, tile_w, out + ib * ldda + db, ldda, alpha, beta);
        continue;
      }
      for (std::int64_t x = ib; x < std::min(ib + bs, tile_rows); ++x)
        for (std::int64_t d = db; d < std::min(db + bs, k_real); ++d)
          out[x * ldda + d] = blend(alpha, acc[d * tile_w + x], beta, out[x * ldda + d]);
    }
}

struct GradAKernel {
  int mr;  // kept rows per micro-kernel call
  int pw;  // rows of dC per panel
  GradAFn fn;
  TileOps ops;
};

void grad_a_simd(const GradAKernel& ks, std::int64_t rows, const NMLayout& l, float alpha, const float* dc,
                 std::int64_t lddc, const float* values, const std::uint8_t* index, float beta, float* da,
                 std::int64_t ldda) {
  const std::int64_t mr = ks.mr, pw = ks.pw;
  const std::int64_t n = l.n, m = l.m, k = l.k, v = l.v, cols = l.cols;
  const std::int64_t windows = l.windows(), cvs = l.col_vectors();
  const std::int64_t span_len = std::min(v, kColsA);
  const GradAFn fn = ks.fn;
  const TileOps ops = ks.ops;
  // Windows per block: about kKeptA kept rows; acc (KC x tile rows) bounded by 2048 dense rows, 512 where
  // small v makes every column a read-modify-write of acc.
  const std::int64_t dense_cap = v >= 16 ? 2048 : 512;
  // A dense row's spans are added in the order of the panels of mr kept rows that hold them, so panels must
  // start at the same kept rows whatever block size the thread count picks: blocks are a multiple of
  // mr / gcd(n, mr) windows (mr kept rows), which keeps every panel start a multiple of mr in the whole of B.
  const std::int64_t unit = mr / std::gcd(n, mr);
  const auto round_kw = [&](std::int64_t x) { return std::min(windows, std::max(unit, x / unit * unit)); };
  std::int64_t kw = round_kw(std::clamp<std::int64_t>(kKeptA / n, 1, std::max<std::int64_t>(1, dense_cap / m)));
  const std::int64_t row_panels = ceil_div(rows, pw);
  std::int64_t row_tiles = ceil_div(row_panels, std::max<std::int64_t>(1, kRowsTileA / pw));
  const std::int64_t nthreads = threads(), want = 4 * nthreads;
  const auto win_blocks = [&] { return ceil_div(windows, kw); };
  while (row_tiles * win_blocks() < want && row_tiles < row_panels) ++row_tiles;
  while (row_tiles * win_blocks() < want && kw > unit) kw = round_kw(ceil_div(kw, 2));
  // Raise the row tiles (they share the panels evenly) until the tasks split evenly over the threads.
  while ((row_tiles * win_blocks()) % nthreads != 0 && row_tiles < row_panels) ++row_tiles;
  const std::int64_t wblocks = win_blocks();

  Kokkos::parallel_for("meridian::cpu::nm_spmm_grad_a", Range(0, row_tiles * wblocks), [=](const std::int64_t t) {
    thread_local std::vector<float> acc_buf, dcp_buf;
    thread_local std::vector<std::int32_t> tgt_buf;
    thread_local std::vector<const float*> vrow_buf;
    const std::int64_t rt = t % row_tiles, wb = t / row_tiles;
    const std::int64_t p0 = rt * row_panels / row_tiles, p1 = (rt + 1) * row_panels / row_tiles;
    const std::int64_t panels = p1 - p0, i0 = p0 * pw, tile_w = panels * pw;
    const std::int64_t w0 = wb * kw, nw = std::min(kw, windows - w0);
    const std::int64_t kc = nw * m, kept = nw * n, r0 = w0 * n, k0 = w0 * m;
    // acc row d (0 <= d < kc): dAᵀ of dense row k0 + d over the tile's rows; row kc: scratch.
    acc_buf.assign(static_cast<std::size_t>((kc + 1) * tile_w), 0.f);
    dcp_buf.resize(static_cast<std::size_t>(panels * kColsA * pw));
    tgt_buf.resize(static_cast<std::size_t>(ceil_div(kColsA, span_len) * mr));
    vrow_buf.resize(static_cast<std::size_t>(mr));
    float* acc = acc_buf.data();
    float* dcp = dcp_buf.data();
    std::int32_t* tgt = tgt_buf.data();
    const float** vrow = vrow_buf.data();

    for (std::int64_t c0 = 0; c0 < cols; c0 += kColsA) {
      const std::int64_t width = std::min(kColsA, cols - c0), spans = ceil_div(width, span_len);
      pack_dc_transposed(ops, dc, lddc, rows, i0, tile_w, pw, c0, width, kColsA * pw, pw, dcp);
      for (std::int64_t rp = 0; rp < kept; rp += mr) {
        const std::int64_t valid = std::min(mr, kept - rp);
        for (std::int64_t q = 0; q < mr; ++q) vrow[q] = values + (r0 + rp + std::min(q, valid - 1)) * cols + c0;
        for (std::int64_t s = 0; s < spans; ++s) {
          const std::int64_t cv = (c0 + s * span_len) / v;
          for (std::int64_t q = 0; q < mr; ++q) {
            const std::int64_t r = rp + q;  // local kept row; its window is r / n of the block
            const std::int64_t d = q < valid ? (r / n) * m + index[(r0 + r) * cvs + cv] : kc;
            tgt[s * mr + q] = static_cast<std::int32_t>(d * tile_w);
          }
        }
        for (std::int64_t p = 0; p < panels; ++p)
          fn(GradAArgs{dcp + p * kColsA * pw, vrow, tgt, spans, span_len, width, acc + p * pw});
      }
    }
    // dA = alpha·acc + beta·dA over the tile's real rows and the block's dense rows inside k.
    store_da(ops, acc, tile_w, std::min(tile_w, rows - i0), std::min(kc, k - k0), alpha, beta, da + i0 * ldda + k0,
             ldda);
  });
}

// List path (small v, where a span is a column or four): per block of kColsList columns, the kept entries of the
// block's dense rows are sorted into one list per dense row (column, value), and the micro-kernel keeps dAᵀ of one
// dense row over P panels in registers while it walks the row's list: broadcast the value, FMA the packed dCᵀ row
// of its column. acc is read and written once per dense row and column block instead of once per column.

constexpr std::int64_t kColsList = 128;   // columns of dC per block
constexpr std::int64_t kDenseList = 256;  // dense rows per block of windows, at most
constexpr std::int64_t kRowsTileList = 256;

struct GradAListArgs {
  const float* dcp;           // packed dCᵀ at the first of P panels: column c at dcp + c·row_stride, panels PW apart
  std::int64_t row_stride;
  const std::int32_t* col;    // the dense row's entries: block-local column and value
  const float* val;
  std::int64_t count;
  float* acc;                 // dAᵀ of the dense row at the first panel's first row
};
using GradAListFn = void (*)(const GradAListArgs&);

template <int P>
__attribute__((target("avx512f,avx512bw,avx512vl"))) void grad_a_list_avx512(const GradAListArgs& g) {
  constexpr int NR = 4;  // PW = 64
  __m512 acc[P][NR];
#pragma GCC unroll 4
  for (int p = 0; p < P; ++p)
#pragma GCC unroll 4
    for (int j = 0; j < NR; ++j) acc[p][j] = _mm512_setzero_ps();
  for (std::int64_t e = 0; e < g.count; ++e) {
    const float* d = g.dcp + std::int64_t{g.col[e]} * g.row_stride;
    const __m512 b = _mm512_set1_ps(g.val[e]);
#pragma GCC unroll 4
    for (int p = 0; p < P; ++p)
#pragma GCC unroll 4
      for (int j = 0; j < NR; ++j) acc[p][j] = _mm512_fmadd_ps(b, _mm512_loadu_ps(d + p * 64 + 16 * j), acc[p][j]);
  }
#pragma GCC unroll 4
  for (int p = 0; p < P; ++p)
#pragma GCC unroll 4
    for (int j = 0; j < NR; ++j) {
      float* t = g.acc + p * 64 + 16 * j;
      _mm512_storeu_ps(t, _mm512_add_ps(_mm512_loadu_ps(t), acc[p][j]));
    }
}

template <int P>
__attribute__((target("avx2,fma"))) void grad_a_list_avx2(const GradAListArgs& g) {
  constexpr int NR = 2;  // PW = 16
  __m256 acc[P][NR];
#pragma GCC unroll 8
  for (int p = 0; p < P; ++p)
#pragma GCC unroll 2
    for (int j = 0; j < NR; ++j) acc[p][j] = _mm256_setzero_ps();
  for (std::int64_t e = 0; e < g.count; ++e) {
    const float* d = g.dcp + std::int64_t{g.col[e]} * g.row_stride;
    const __m256 b = _mm256_broadcast_ss(g.val + e);
#pragma GCC unroll 8
    for (int p = 0; p < P; ++p)
#pragma GCC unroll 2
      for (int j = 0; j < NR; ++j) acc[p][j] = _mm256_fmadd_ps(b, _mm256_loadu_ps(d + p * 16 + 8 * j), acc[p][j]);
  }
#pragma GCC unroll 8
  for (int p = 0; p < P; ++p)
#pragma GCC unroll 2
    for (int j = 0; j < NR; ++j) {
      float* t = g.acc + p * 16 + 8 * j;
      _mm256_storeu_ps(t, _mm256_add_ps(_mm256_loadu_ps(t), acc[p][j]));
    }
}

// Fills, for the dense rows [0, k_real) of a block of windows (block-local kept rows from r0 on), the list of each
// dense row (start[d] .. start[d + 1]) with its block-local columns in [c0, c0 + width) and values.
struct ListBuild {
  const NMLayout* l;
  const float* values;
  const std::uint8_t* index;
  std::int64_t r0, kept, k_real, c0, width;
  std::int32_t* start;  // k_real + 1 entries
  std::int32_t* col;
  float* val;
};
using ListBuildFn = void (*)(const ListBuild&);

// Any v: count the entries of every dense row, then place them kept row by kept row.
void build_lists(const ListBuild& b) {
  const NMLayout& l = *b.l;
  const std::int64_t n = l.n, m = l.m, v = l.v, cols = l.cols, cvs = l.col_vectors();
  const std::int64_t c0 = b.c0, c1 = b.c0 + b.width, cv0 = c0 / v, cv1 = ceil_div(c1, v);
  std::int32_t* start = b.start;
  std::fill(start, start + b.k_real + 1, 0);
  for (std::int64_t r = 0; r < b.kept; ++r) {
    const std::int64_t base = (r / n) * m;
    const std::uint8_t* irow = b.index + (b.r0 + r) * cvs;
    for (std::int64_t cv = cv0; cv < cv1; ++cv) {
      const std::int64_t d = base + irow[cv];
      if (d < b.k_real) start[d + 1] += static_cast<std::int32_t>(std::min(c1, (cv + 1) * v) - std::max(c0, cv * v));
    }
  }
  for (std::int64_t d = 0; d < b.k_real; ++d) start[d + 1] += start[d];
  for (std::int64_t r = 0; r < b.kept; ++r) {
    const std::int64_t base = (r / n) * m;
    const std::uint8_t* irow = b.index + (b.r0 + r) * cvs;
    const float* vrow = b.values + (b.r0 + r) * cols;
    for (std::int64_t cv = cv0; cv < cv1; ++cv) {
      const std::int64_t d = base + irow[cv];
      if (d >= b.k_real) continue;  // padding
      std::int32_t pos = start[d];
      for (std::int64_t c = std::max(c0, cv * v); c < std::min(c1, (cv + 1) * v); ++c, ++pos) {
        b.col[pos] = static_cast<std::int32_t>(c - c0);
        b.val[pos] = vrow[c];
      }
      start[d] = pos;
    }
  }
  // start[d] is now the end of row d's list: shift back to starts.
  for (std::int64_t d = b.k_real; d > 0; --d) start[d] = start[d - 1];
  start[0] = 0;
}

// v = 1 with AVX-512: dense row by dense row, the columns of each of the window's kept rows whose offset is the
// dense row's are compressed out of 16 columns at a time (the lists need 16 floats of slack at their end).
__attribute__((target("avx512f,avx512bw,avx512vl"))) void build_lists_v1_avx512(const ListBuild& b) {
  const NMLayout& l = *b.l;
  const std::int64_t n = l.n, m = l.m, cols = l.cols;
  const std::int64_t c1 = b.c0 + b.width;
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  std::int32_t pos = 0;
  for (std::int64_t d = 0; d < b.k_real; ++d) {
    b.start[d] = pos;
    const std::int64_t w = d / m;
    const __m512i o = _mm512_set1_epi32(static_cast<int>(d % m));
    for (std::int64_t j = 0; j < n; ++j) {
      const std::int64_t r = b.r0 + w * n + j;
      const std::uint8_t* irow = b.index + r * cols;  // v = 1: one offset per column
      const float* vrow = b.values + r * cols;
      for (std::int64_t c = b.c0; c < c1; c += 16) {
        const __mmask16 in = c + 16 <= c1 ? __mmask16(0xFFFF) : __mmask16((1u << (c1 - c)) - 1u);
        const __m512i offs =
            _mm512_maskz_cvtepu8_epi32(__mmask16(0xFFFF), _mm_maskz_loadu_epi8(in, irow + c));  // see unpacklo16
        const __mmask16 hit = _mm512_mask_cmpeq_epi32_mask(in, offs, o);
        const __m512 vals = _mm512_maskz_loadu_ps(in, vrow + c);
        const __m512i cidx = _mm512_add_epi32(lane, _mm512_set1_epi32(static_cast<int>(c - b.c0)));
        _mm512_storeu_ps(b.val + pos, _mm512_maskz_compress_ps(hit, vals));
        _mm512_storeu_si512(b.col + pos, _mm512_maskz_compress_epi32(hit, cidx));
        pos += _mm_popcnt_u32(hit);
      }
    }
  }
  b.start[b.k_real] = pos;
}

struct GradAListKernel {
  int pw;             // rows per panel
  int p;              // panels per call of `wide`
  GradAListFn wide;   // p panels
  GradAListFn one;    // one panel (the tile's last panels)
  ListBuildFn build_v1;  // lists for v = 1
  TileOps ops;
};

void grad_a_list(const GradAListKernel& ks, std::int64_t rows, const NMLayout& l, float alpha, const float* dc,
                 std::int64_t lddc, const float* values, const std::uint8_t* index, float beta, float* da,
                 std::int64_t ldda) {
  const std::int64_t pw = ks.pw, pp = ks.p;
  const std::int64_t n = l.n, m = l.m, k = l.k, v = l.v, cols = l.cols;
  const std::int64_t windows = l.windows();
  const GradAListFn wide = ks.wide, one = ks.one;
  const ListBuildFn build_v1 = ks.build_v1 != nullptr ? ks.build_v1 : &build_lists;
  const TileOps ops = ks.ops;
  const NMLayout l_copy = l;
  std::int64_t kw = std::min(windows, std::max<std::int64_t>(1, kDenseList / m));
  const std::int64_t row_panels = ceil_div(rows, pw);
  std::int64_t row_tiles = ceil_div(row_panels, std::max<std::int64_t>(1, kRowsTileList / pw));
  const std::int64_t nthreads = threads(), want = 4 * nthreads;
  const auto win_blocks = [&] { return ceil_div(windows, kw); };
  while (row_tiles * win_blocks() < want && row_tiles < row_panels) ++row_tiles;
  while (row_tiles * win_blocks() < want && kw > 1) kw = ceil_div(kw, 2);
  while ((row_tiles * win_blocks()) % nthreads != 0 && row_tiles < row_panels) ++row_tiles;
  const std::int64_t wblocks = win_blocks();

  Kokkos::parallel_for("meridian::cpu::nm_spmm_grad_a", Range(0, row_tiles * wblocks), [=](const std::int64_t t) {
    thread_local std::vector<float> acc_buf, dcp_buf, val_buf;
    thread_local std::vector<std::int32_t> col_buf, start_buf;
    const std::int64_t rt = t % row_tiles, wb = t / row_tiles;
    const std::int64_t p0 = rt * row_panels / row_tiles, p1 = (rt + 1) * row_panels / row_tiles;
    const std::int64_t panels = p1 - p0, i0 = p0 * pw, tile_w = panels * pw;
    const std::int64_t w0 = wb * kw, nw = std::min(kw, windows - w0);
    const std::int64_t kept = nw * n, r0 = w0 * n, k0 = w0 * m;
    const std::int64_t k_real = std::min(nw * m, k - k0);  // dense rows of the block inside k
    acc_buf.assign(static_cast<std::size_t>(k_real * tile_w), 0.f);
    dcp_buf.resize(static_cast<std::size_t>(kColsList * tile_w));
    col_buf.resize(static_cast<std::size_t>(kept * kColsList + 16));  // + slack for the compressing build
    val_buf.resize(static_cast<std::size_t>(kept * kColsList + 16));
    start_buf.resize(static_cast<std::size_t>(k_real + 1));
    float* acc = acc_buf.data();
    float* dcp = dcp_buf.data();
    std::int32_t* col = col_buf.data();
    float* val = val_buf.data();
    std::int32_t* start = start_buf.data();

    for (std::int64_t c0 = 0; c0 < cols; c0 += kColsList) {
      const std::int64_t width = std::min(kColsList, cols - c0);
      // dCᵀ with the tile's rows contiguous per column: column c at dcp + c·tile_w.
      pack_dc_transposed(ops, dc, lddc, rows, i0, tile_w, pw, c0, width, pw, tile_w, dcp);
      const ListBuild lb{&l_copy, values, index, r0, kept, k_real, c0, width, start, col, val};
      (v == 1 ? build_v1 : &build_lists)(lb);
      for (std::int64_t d = 0; d < k_real; ++d) {
        const std::int64_t e0 = start[d], count = start[d + 1] - e0;
        if (count == 0) continue;
        std::int64_t p = 0;
        for (; p + pp <= panels; p += pp)
          wide(GradAListArgs{dcp + p * pw, tile_w, col + e0, val + e0, count, acc + d * tile_w + p * pw});
        for (; p < panels; ++p)
          one(GradAListArgs{dcp + p * pw, tile_w, col + e0, val + e0, count, acc + d * tile_w + p * pw});
      }
    }
    store_da(ops, acc, tile_w, std::min(tile_w, rows - i0), k_real, alpha, beta, da + i0 * ldda + k0, ldda);
  });
}

// ================================================================================================
// dvalues = Aᵀ · dC at the kept positions. A task owns a block of windows (KC dense rows, their kept rows)
// by a block of columns and runs over the rows of A and dC in blocks of kRowsB (A is never read past k):
// - broadcast path (v >= the vector width; v = 8 on AVX-512 takes the AVX2 kernels): A's block is packed
//   transposed (ap: KC x kRowsB, zeros at padding rows); per tile of PW columns, dC's block is packed
//   (kRowsB x PW) and a micro-kernel keeps MR kept rows x PW columns in registers, broadcasting
//   ap[dense row of (r, vector)][i] and FMA-ing packed dC rows (one offset list for v >= PW, one per register
//   for v == vector width);
// - permute path (AVX-512, v = 1 or 4, m <= 32): see grad_b_permute;
// - dot path (the rest: AVX2 with v = 1 or 4, AVX-512 with m = 64): dC's block is packed transposed too and
//   the micro-kernel takes MR kept rows x NC columns (of one vector) as dot products over the rows,
//   vectorised over i, with one horizontal sum per block of kRowsB rows.

constexpr std::int64_t kRowsB = 256;      // rows of A / dC per block of the reduction
constexpr std::int64_t kKeptB = 256;      // kept rows per block of windows (broadcast path), wanted
constexpr std::int64_t kDenseB = 512;     // dense rows per block of windows (broadcast path), at most
constexpr std::int64_t kDenseDotB = 64;   // dense rows per block of windows (dot path): ap stays in L1/L2
constexpr std::int64_t kColsDotB = 128;   // columns per packed dCᵀ block (dot path)

struct GradBArgs {
  std::int64_t ni;            // rows of the block
  const float* ap;            // packed Aᵀ block, row stride ni_stride
  const std::int32_t* off;    // register group g, kept row q: off[g·MR + q] = offset in ap of its dense row
  const float* dcp;           // packed dC: ni x PW
  float* out;                 // dvalues at the first kept row and column
  std::int64_t ldo;
  int rows_valid;
  int cols_valid;
  Epilogue ep;
};
using GradBFn = void (*)(const GradBArgs&);

// Applies a finished MR x pw tile (row length pw) to the valid part of out.
void apply_tile(const float* tile, int pw, const GradBArgs& g) {
  for (int q = 0; q < g.rows_valid; ++q) {
    float* o = g.out + q * g.ldo;
    for (int j = 0; j < g.cols_valid; ++j) o[j] = g.ep.apply(tile[q * pw + j], o[j]);
  }
}

// AVX-512: PW = 32 columns as two registers; kSplit: each register is its own column vector (v = 16).
template <int MR, bool kSplit>
__attribute__((target("avx512f,avx512bw,avx512vl"))) void grad_b_avx512(const GradBArgs& g) {
  __m512 acc0[MR], acc1[MR];
#pragma GCC unroll 16
  for (int q = 0; q < MR; ++q) acc0[q] = acc1[q] = _mm512_setzero_ps();
  const float* a0[MR];
  const float* a1[MR];
#pragma GCC unroll 16
  for (int q = 0; q < MR; ++q) {
    a0[q] = g.ap + g.off[q];
    a1[q] = kSplit ? g.ap + g.off[MR + q] : a0[q];
  }
  for (std::int64_t i = 0; i < g.ni; ++i) {
    const __m512 d0 = _mm512_loadu_ps(g.dcp + i * 32);
    const __m512 d1 = _mm512_loadu_ps(g.dcp + i * 32 + 16);
#pragma GCC unroll 16
    for (int q = 0; q < MR; ++q) {
      const __m512 b0 = _mm512_set1_ps(a0[q][i]);
      const __m512 b1 = kSplit ? _mm512_set1_ps(a1[q][i]) : b0;
      acc0[q] = _mm512_fmadd_ps(b0, d0, acc0[q]);
      acc1[q] = _mm512_fmadd_ps(b1, d1, acc1[q]);
    }
  }
  if (g.rows_valid == MR && g.cols_valid == 32) {
    const __m512 alpha = _mm512_set1_ps(g.ep.alpha), beta = _mm512_set1_ps(g.ep.beta);
#pragma GCC unroll 16
    for (int q = 0; q < MR; ++q) {
      float* o = g.out + q * g.ldo;
      __m512 t0 = _mm512_mul_ps(alpha, acc0[q]);
      __m512 t1 = _mm512_mul_ps(alpha, acc1[q]);
      if (!g.ep.first) {
        t0 = _mm512_add_ps(_mm512_loadu_ps(o), t0);
        t1 = _mm512_add_ps(_mm512_loadu_ps(o + 16), t1);
      } else if (g.ep.beta != 0.f) {
        t0 = _mm512_add_ps(t0, _mm512_mul_ps(beta, _mm512_loadu_ps(o)));
        t1 = _mm512_add_ps(t1, _mm512_mul_ps(beta, _mm512_loadu_ps(o + 16)));
      }
      _mm512_storeu_ps(o, t0);
      _mm512_storeu_ps(o + 16, t1);
    }
    return;
  }
  alignas(64) float tile[MR * 32];
#pragma GCC unroll 16
  for (int q = 0; q < MR; ++q) {
    _mm512_store_ps(tile + q * 32, acc0[q]);
    _mm512_store_ps(tile + q * 32 + 16, acc1[q]);
  }
  apply_tile(tile, 32, g);
}

// AVX2 + FMA: PW = 16 columns as two registers; kSplit as above with v = 8.
template <int MR, bool kSplit>
__attribute__((target("avx2,fma"))) void grad_b_avx2(const GradBArgs& g) {
  __m256 acc0[MR], acc1[MR];
#pragma GCC unroll 16
  for (int q = 0; q < MR; ++q) acc0[q] = acc1[q] = _mm256_setzero_ps();
  const float* a0[MR];
  const float* a1[MR];
#pragma GCC unroll 16
  for (int q = 0; q < MR; ++q) {
    a0[q] = g.ap + g.off[q];
    a1[q] = kSplit ? g.ap + g.off[MR + q] : a0[q];
  }
  for (std::int64_t i = 0; i < g.ni; ++i) {
    const __m256 d0 = _mm256_loadu_ps(g.dcp + i * 16);
    const __m256 d1 = _mm256_loadu_ps(g.dcp + i * 16 + 8);
#pragma GCC unroll 16
    for (int q = 0; q < MR; ++q) {
      const __m256 b0 = _mm256_broadcast_ss(a0[q] + i);
      const __m256 b1 = kSplit ? _mm256_broadcast_ss(a1[q] + i) : b0;
      acc0[q] = _mm256_fmadd_ps(b0, d0, acc0[q]);
      acc1[q] = _mm256_fmadd_ps(b1, d1, acc1[q]);
    }
  }
  if (g.rows_valid == MR && g.cols_valid == 16) {
    const __m256 alpha = _mm256_set1_ps(g.ep.alpha), beta = _mm256_set1_ps(g.ep.beta);
#pragma GCC unroll 16
    for (int q = 0; q < MR; ++q) {
      float* o = g.out + q * g.ldo;
      __m256 t0 = _mm256_mul_ps(alpha, acc0[q]);
      __m256 t1 = _mm256_mul_ps(alpha, acc1[q]);
      if (!g.ep.first) {
        t0 = _mm256_add_ps(_mm256_loadu_ps(o), t0);
        t1 = _mm256_add_ps(_mm256_loadu_ps(o + 8), t1);
      } else if (g.ep.beta != 0.f) {
        t0 = _mm256_add_ps(t0, _mm256_mul_ps(beta, _mm256_loadu_ps(o)));
        t1 = _mm256_add_ps(t1, _mm256_mul_ps(beta, _mm256_loadu_ps(o + 8)));
      }
      _mm256_storeu_ps(o, t0);
      _mm256_storeu_ps(o + 8, t1);
    }
    return;
  }
  alignas(32) float tile[MR * 16];
#pragma GCC unroll 16
  for (int q = 0; q < MR; ++q) {
    _mm256_store_ps(tile + q * 16, acc0[q]);
    _mm256_store_ps(tile + q * 16 + 8, acc1[q]);
  }
  apply_tile(tile, 16, g);
}

// Permute path (AVX-512, v < 8, m <= 32): vectorised over 16 columns like the broadcast path, but the lanes of one
// register belong to different column vectors, so the A value of each lane is picked from the 32 dense rows of a
// window group (32 / m windows) with one vpermt2ps per register and row of A: no transposes, no horizontal sums.
struct GradBPermArgs {
  std::int64_t ni;            // rows of the block
  const float* ap;            // A's rows of the block at the group's first dense row, row stride ldap (zero past k)
  std::int64_t ldap;
  const std::int32_t* lanes;  // kept row q, register j: lanes[(q·2 + j)·16 + x] = group-local dense row of lane x
  const float* dcp;           // packed dC: ni x 32
  float* out;                 // dvalues at the first kept row and column
  std::int64_t ldo;
  int rows_valid;
  int cols_valid;
  Epilogue ep;
};
using GradBPermFn = void (*)(const GradBPermArgs&);

void apply_tile_perm(const float* tile, const GradBPermArgs& g) {
  for (int q = 0; q < g.rows_valid; ++q) {
    float* o = g.out + q * g.ldo;
    for (int j = 0; j < g.cols_valid; ++j) o[j] = g.ep.apply(tile[q * 32 + j], o[j]);
  }
}

template <int MR>
__attribute__((target("avx512f,avx512bw,avx512vl"))) void grad_b_perm_avx512(const GradBPermArgs& g) {
  __m512i sel[MR][2];
  __m512 acc[MR][2];
#pragma GCC unroll 16
  for (int q = 0; q < MR; ++q)
#pragma GCC unroll 2
    for (int j = 0; j < 2; ++j) {
      sel[q][j] = _mm512_loadu_si512(g.lanes + (q * 2 + j) * 16);
      acc[q][j] = _mm512_setzero_ps();
    }
  for (std::int64_t i = 0; i < g.ni; ++i) {
    const float* arow = g.ap + i * g.ldap;
    const __m512 lo = _mm512_loadu_ps(arow), hi = _mm512_loadu_ps(arow + 16);
    const __m512 d0 = _mm512_loadu_ps(g.dcp + i * 32), d1 = _mm512_loadu_ps(g.dcp + i * 32 + 16);
#pragma GCC unroll 16
    for (int q = 0; q < MR; ++q) {
      acc[q][0] = _mm512_fmadd_ps(_mm512_permutex2var_ps(lo, sel[q][0], hi), d0, acc[q][0]);
      acc[q][1] = _mm512_fmadd_ps(_mm512_permutex2var_ps(lo, sel[q][1], hi), d1, acc[q][1]);
    }
  }
  alignas(64) float tile[MR * 32];
#pragma GCC unroll 16
  for (int q = 0; q < MR; ++q) {
    _mm512_store_ps(tile + q * 32, acc[q][0]);
    _mm512_store_ps(tile + q * 32 + 16, acc[q][1]);
  }
  apply_tile_perm(tile, g);
}

void grad_b_permute(GradBPermFn fn, int mr_in, std::int64_t rows, const NMLayout& l, float alpha, const float* a,
                    std::int64_t lda, const float* dc, std::int64_t lddc, const std::uint8_t* index, float beta,
                    float* dvalues) {
  constexpr std::int64_t pw = 32, group = 32;  // columns per tile; dense rows per window group
  const std::int64_t mr = mr_in;
  const std::int64_t n = l.n, m = l.m, k = l.k, v = l.v, cols = l.cols;
  const std::int64_t windows = l.windows(), cvs = l.col_vectors(), gw = group / m;  // windows per group
  // Windows per block: whole groups, about kKeptB kept rows and at most kDenseB dense rows.
  std::int64_t kw = std::max<std::int64_t>(gw, windows_per_block(l, kKeptB, kDenseB) / gw * gw);
  const std::int64_t col_tiles = ceil_div(cols, pw), nthreads = threads(), want = 2 * nthreads;
  std::int64_t col_blocks = 1;
  const auto win_blocks = [&] { return ceil_div(windows, kw); };
  while (win_blocks() * col_blocks < want && col_blocks < col_tiles) ++col_blocks;
  while (win_blocks() * col_blocks < want && kw > gw) kw = std::max(gw, kw / 2 / gw * gw);
  while ((win_blocks() * col_blocks) % nthreads != 0 && col_blocks < col_tiles) ++col_blocks;
  const std::int64_t wblocks = win_blocks();

  Kokkos::parallel_for("meridian::cpu::nm_spmm_grad_b", Range(0, wblocks * col_blocks), [=](const std::int64_t t) {
    thread_local std::vector<float> ap_buf, dcp_buf;
    thread_local std::vector<std::int32_t> lane_buf;
    const std::int64_t wb = t % wblocks, cb = t / wblocks;
    const std::int64_t tile0 = cb * col_tiles / col_blocks, tile1 = (cb + 1) * col_tiles / col_blocks;
    const std::int64_t w0 = wb * kw, nw = std::min(kw, windows - w0);
    const std::int64_t groups = ceil_div(nw, gw), ldap = groups * group;
    const std::int64_t kept = nw * n, r0 = w0 * n, k0 = w0 * m;
    const std::int64_t k_real = std::clamp<std::int64_t>(k - k0, 0, ldap);
    ap_buf.resize(static_cast<std::size_t>(kRowsB * ldap));
    dcp_buf.resize(static_cast<std::size_t>(kRowsB * pw));
    lane_buf.resize(static_cast<std::size_t>(mr * 2 * 16));
    float* ap = ap_buf.data();
    float* dcp = dcp_buf.data();
    std::int32_t* lanes = lane_buf.data();
    for (std::int64_t i0 = 0; i0 < rows; i0 += kRowsB) {
      const std::int64_t ni = std::min(kRowsB, rows - i0);
      // A's rows of the block, dense rows [k0, k0 + ldap), zeros past k (A is not read there).
      for (std::int64_t ii = 0; ii < ni; ++ii) {
        float* dst = ap + ii * ldap;
        std::memcpy(dst, a + (i0 + ii) * lda + k0, static_cast<std::size_t>(k_real) * sizeof(float));
        std::fill(dst + k_real, dst + ldap, 0.f);
      }
      for (std::int64_t tile = tile0; tile < tile1; ++tile) {
        const std::int64_t cs = tile * pw, width = std::min(pw, cols - cs);
        for (std::int64_t ii = 0; ii < ni; ++ii) {
          const float* src = dc + (i0 + ii) * lddc + cs;
          float* dst = dcp + ii * pw;
          std::memcpy(dst, src, static_cast<std::size_t>(width) * sizeof(float));
          for (std::int64_t j = width; j < pw; ++j) dst[j] = 0.f;
        }
        for (std::int64_t gi = 0; gi < groups; ++gi) {
          const std::int64_t gr0 = gi * gw * n, gkept = std::min(gw * n, kept - gr0);  // the group's kept rows
          for (std::int64_t rp = 0; rp < gkept; rp += mr) {
            const std::int64_t valid = std::min(mr, gkept - rp);
            for (std::int64_t q = 0; q < mr; ++q) {
              const std::int64_t r = gr0 + rp + std::min(q, valid - 1);  // block-local kept row
              const std::uint8_t* irow = index + (r0 + r) * cvs;
              const std::int64_t wbase = (r / n - gi * gw) * m;         // its window inside the group
              for (std::int64_t x = 0; x < pw; ++x) {
                // A lane past the last column reads the last vector's offset (its dC column is zero).
                const std::int64_t cv = std::min(cs + x, cols - 1) / v;
                lanes[q * pw + x] = static_cast<std::int32_t>(wbase + irow[cv]);
              }
            }
            fn(GradBPermArgs{ni, ap + gi * group, ldap, lanes, dcp, dvalues + (r0 + gr0 + rp) * cols + cs, cols,
                             static_cast<int>(valid), static_cast<int>(width), Epilogue{alpha, beta, i0 == 0}});
          }
        }
      }
    }
  });
}

struct GradBDotArgs {
  std::int64_t ni;            // rows of the block, a multiple of the vector width (zero padded)
  const float* const* arow;   // MR rows of the packed Aᵀ block (tail rows repeat a valid row)
  const float* const* drow;   // NC rows of the packed dCᵀ block (tail columns repeat a valid column)
  float* out;                 // dvalues at the first kept row and column
  std::int64_t ldo;
  int rows_valid;
  int cols_valid;
  Epilogue ep;
};
using GradBDotFn = void (*)(const GradBDotArgs&);

void apply_sums(const float* sums, int nc, const GradBDotArgs& g) {
  for (int q = 0; q < g.rows_valid; ++q)
    for (int j = 0; j < g.cols_valid; ++j) {
      float& o = g.out[q * g.ldo + j];
      o = g.ep.apply(sums[q * nc + j], o);
    }
}

// Sums of 8 registers: lane j of the result is the sum of the lanes of x[j].
__attribute__((target("avx2,fma"))) inline __m256 reduce8_avx2(const __m256* x) {
  const __m256 t0 = _mm256_hadd_ps(x[0], x[1]), t1 = _mm256_hadd_ps(x[2], x[3]);
  const __m256 t2 = _mm256_hadd_ps(x[4], x[5]), t3 = _mm256_hadd_ps(x[6], x[7]);
  const __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);  // halves of x0..3 | x4..7
  return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

// Half `h` of x. The masked extract with every lane set: GCC 12 warns (-Wuninitialized) about the undefined
// source operand of _mm512_extractf64x4_pd and _mm512_castps512_ps256.
template <int H>
__attribute__((target("avx512f,avx512bw,avx512vl"))) inline __m256 half_avx512(__m512 x) {
  return _mm256_castpd_ps(_mm512_mask_extractf64x4_pd(_mm256_setzero_pd(), 0xF, _mm512_castps_pd(x), H));
}

__attribute__((target("avx512f,avx512bw,avx512vl"))) inline __m256 reduce8_avx512(const __m512* x) {
  __m256 h[8];
#pragma GCC unroll 8
  for (int j = 0; j < 8; ++j)
    h[j] = _mm256_add_ps(half_avx512<0>(x[j]), half_avx512<1>(x[j]));
  const __m256 t0 = _mm256_hadd_ps(h[0], h[1]), t1 = _mm256_hadd_ps(h[2], h[3]);
  const __m256 t2 = _mm256_hadd_ps(h[4], h[5]), t3 = _mm256_hadd_ps(h[6], h[7]);
  const __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
  return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

// MR kept rows x NC columns (MR·NC a multiple of 8) of dot products over ni rows.
template <int MR, int NC>
__attribute__((target("avx512f,avx512bw,avx512vl"))) void grad_b_dot_avx512(const GradBDotArgs& g) {
  static_assert((MR * NC) % 8 == 0);
  __m512 acc[MR * NC];
#pragma GCC unroll 16
  for (int x = 0; x < MR * NC; ++x) acc[x] = _mm512_setzero_ps();
  const float* a[MR];
  const float* d[NC];
#pragma GCC unroll 16
  for (int q = 0; q < MR; ++q) a[q] = g.arow[q];
#pragma GCC unroll 4
  for (int j = 0; j < NC; ++j) d[j] = g.drow[j];
  for (std::int64_t i = 0; i < g.ni; i += 16) {
    __m512 dv[NC];
#pragma GCC unroll 4
    for (int j = 0; j < NC; ++j) dv[j] = _mm512_loadu_ps(d[j] + i);
#pragma GCC unroll 16
    for (int q = 0; q < MR; ++q) {
      const __m512 av = _mm512_loadu_ps(a[q] + i);
#pragma GCC unroll 4
      for (int j = 0; j < NC; ++j) acc[q * NC + j] = _mm512_fmadd_ps(av, dv[j], acc[q * NC + j]);
    }
  }
  alignas(32) float sums[MR * NC];
#pragma GCC unroll 2
  for (int x = 0; x < MR * NC; x += 8) _mm256_store_ps(sums + x, reduce8_avx512(acc + x));
  apply_sums(sums, NC, g);
}

template <int MR, int NC>
__attribute__((target("avx2,fma"))) void grad_b_dot_avx2(const GradBDotArgs& g) {
  static_assert((MR * NC) % 8 == 0);
  __m256 acc[MR * NC];
#pragma GCC unroll 16
  for (int x = 0; x < MR * NC; ++x) acc[x] = _mm256_setzero_ps();
  const float* a[MR];
  const float* d[NC];
#pragma GCC unroll 16
  for (int q = 0; q < MR; ++q) a[q] = g.arow[q];
#pragma GCC unroll 4
  for (int j = 0; j < NC; ++j) d[j] = g.drow[j];
  for (std::int64_t i = 0; i < g.ni; i += 8) {
    __m256 dv[NC];
#pragma GCC unroll 4
    for (int j = 0; j < NC; ++j) dv[j] = _mm256_loadu_ps(d[j] + i);
#pragma GCC unroll 16
    for (int q = 0; q < MR; ++q) {
      const __m256 av = _mm256_loadu_ps(a[q] + i);
#pragma GCC unroll 4
      for (int j = 0; j < NC; ++j) acc[q * NC + j] = _mm256_fmadd_ps(av, dv[j], acc[q * NC + j]);
    }
  }
  alignas(32) float sums[MR * NC];
#pragma GCC unroll 2
  for (int x = 0; x < MR * NC; x += 8) _mm256_store_ps(sums + x, reduce8_avx2(acc + x));
  apply_sums(sums, NC, g);
}

// Packs rows [i0, i0 + ni) of A's dense columns [k0, k0 + kc) transposed: ap[d·stride + ii] = A[i0 + ii, k0 + d],
// 0 for dense rows past k (padding: A is not read there) and for ii in [ni, stride).
void pack_a_transposed(const TileOps& ops, const float* a, std::int64_t lda, std::int64_t k, std::int64_t i0,
                       std::int64_t ni, std::int64_t k0, std::int64_t kc, std::int64_t stride, float* ap) {
  const std::int64_t k_real = std::clamp<std::int64_t>(k - k0, 0, kc);
  for (std::int64_t d = k_real; d < kc; ++d) std::fill(ap + d * stride, ap + (d + 1) * stride, 0.f);
  transpose_block(ops, a + i0 * lda + k0, lda, ni, k_real, ap, stride);
  for (std::int64_t d = 0; d < k_real; ++d) std::fill(ap + d * stride + ni, ap + (d + 1) * stride, 0.f);
}

struct GradBKernel {
  int mr;
  int pw;          // columns per tile (two registers)
  bool split;      // one offset list per register
  GradBFn fn;
  TileOps ops;
};

void grad_b_broadcast(const GradBKernel& ks, std::int64_t rows, const NMLayout& l, float alpha, const float* a,
                      std::int64_t lda, const float* dc, std::int64_t lddc, const std::uint8_t* index, float beta,
                      float* dvalues) {
  const std::int64_t mr = ks.mr, pw = ks.pw, groups = ks.split ? 2 : 1, group_cols = pw / groups;
  const std::int64_t n = l.n, m = l.m, k = l.k, v = l.v, cols = l.cols;
  const std::int64_t windows = l.windows(), cvs = l.col_vectors();
  const GradBFn fn = ks.fn;
  const TileOps ops = ks.ops;
  std::int64_t kw = windows_per_block(l, kKeptB, kDenseB);
  const std::int64_t col_tiles = ceil_div(cols, pw), nthreads = threads(), want = 2 * nthreads;
  std::int64_t col_blocks = 1;
  const auto win_blocks = [&] { return ceil_div(windows, kw); };
  while (win_blocks() * col_blocks < want && col_blocks < col_tiles) ++col_blocks;
  while (win_blocks() * col_blocks < want && kw > 1) kw = ceil_div(kw, 2);
  while ((win_blocks() * col_blocks) % nthreads != 0 && col_blocks < col_tiles) ++col_blocks;
  const std::int64_t wblocks = win_blocks();

  Kokkos::parallel_for("meridian::cpu::nm_spmm_grad_b", Range(0, wblocks * col_blocks), [=](const std::int64_t t) {
    thread_local std::vector<float> ap_buf, dcp_buf;
    thread_local std::vector<std::int32_t> off_buf;
    const std::int64_t wb = t % wblocks, cb = t / wblocks;
    const std::int64_t tile0 = cb * col_tiles / col_blocks, tile1 = (cb + 1) * col_tiles / col_blocks;
    const std::int64_t w0 = wb * kw, nw = std::min(kw, windows - w0);
    const std::int64_t kc = nw * m, kept = nw * n, r0 = w0 * n, k0 = w0 * m;
    ap_buf.resize(static_cast<std::size_t>(kc * kRowsB));
    dcp_buf.resize(static_cast<std::size_t>(kRowsB * pw));
    off_buf.resize(static_cast<std::size_t>(groups * mr));
    float* ap = ap_buf.data();
    float* dcp = dcp_buf.data();
    std::int32_t* off = off_buf.data();
    for (std::int64_t i0 = 0; i0 < rows; i0 += kRowsB) {
      const std::int64_t ni = std::min(kRowsB, rows - i0);
      pack_a_transposed(ops, a, lda, k, i0, ni, k0, kc, ni, ap);
      for (std::int64_t tile = tile0; tile < tile1; ++tile) {
        const std::int64_t cs = tile * pw, width = std::min(pw, cols - cs);
        for (std::int64_t ii = 0; ii < ni; ++ii) {
          const float* src = dc + (i0 + ii) * lddc + cs;
          float* dst = dcp + ii * pw;
          std::memcpy(dst, src, static_cast<std::size_t>(width) * sizeof(float));
          for (std::int64_t j = width; j < pw; ++j) dst[j] = 0.f;
        }
        for (std::int64_t rp = 0; rp < kept; rp += mr) {
          const std::int64_t valid = std::min(mr, kept - rp);
          for (std::int64_t g = 0; g < groups; ++g) {
            // A group past the last column reads the last vector's offsets (its dC columns are zero).
            const std::int64_t cv = std::min(cs + g * group_cols, cols - 1) / v;
            for (std::int64_t q = 0; q < mr; ++q) {
              const std::int64_t r = rp + std::min(q, valid - 1);
              off[g * mr + q] = static_cast<std::int32_t>(((r / n) * m + index[(r0 + r) * cvs + cv]) * ni);
            }
          }
          fn(GradBArgs{ni, ap, off, dcp, dvalues + (r0 + rp) * cols + cs, cols, static_cast<int>(valid),
                       static_cast<int>(width), Epilogue{alpha, beta, i0 == 0}});
        }
      }
    }
  });
}

struct GradBDotKernel {
  TileOps ops;
  int width;   // floats per register
  GradBDotFn v1;   // MR x 1 (v = 1)
  int v1_mr;
  GradBDotFn v4;   // MR x 4 (v a multiple of 4)
  int v4_mr;
};

void grad_b_dot(const GradBDotKernel& ks, std::int64_t rows, const NMLayout& l, float alpha, const float* a,
                std::int64_t lda, const float* dc, std::int64_t lddc, const std::uint8_t* index, float beta,
                float* dvalues) {
  const std::int64_t nc = l.v == 1 ? 1 : 4;
  const std::int64_t mr = l.v == 1 ? ks.v1_mr : ks.v4_mr, vw = ks.width;
  const GradBDotFn fn = l.v == 1 ? ks.v1 : ks.v4;
  const TileOps ops = ks.ops;
  const std::int64_t n = l.n, m = l.m, k = l.k, v = l.v, cols = l.cols;
  const std::int64_t windows = l.windows(), cvs = l.col_vectors();
  const std::int64_t kw = windows_per_block(l, kDenseDotB, kDenseDotB);  // kept rows: at most kDenseDotB
  const std::int64_t wblocks = ceil_div(windows, kw);
  const std::int64_t col_blocks = ceil_div(cols, kColsDotB), nthreads = threads();
  // Tasks: column blocks x groups of window blocks, enough for every thread and splitting evenly.
  std::int64_t win_groups = 1;
  while (col_blocks * win_groups < 2 * nthreads && win_groups < wblocks) ++win_groups;
  while ((col_blocks * win_groups) % nthreads != 0 && win_groups < wblocks) ++win_groups;
  const std::int64_t stride_max = ceil_div(kRowsB, vw) * vw;

  Kokkos::parallel_for("meridian::cpu::nm_spmm_grad_b", Range(0, col_blocks * win_groups), [=](const std::int64_t t) {
    thread_local std::vector<float> ap_buf, dct_buf;
    thread_local std::vector<const float*> ptr_buf;
    const std::int64_t cb = t % col_blocks, wg = t / col_blocks;
    const std::int64_t c0 = cb * kColsDotB, ncols = std::min(kColsDotB, cols - c0);
    const std::int64_t wb0 = wg * wblocks / win_groups, wb1 = (wg + 1) * wblocks / win_groups;
    ap_buf.resize(static_cast<std::size_t>(kw * m * stride_max));
    dct_buf.resize(static_cast<std::size_t>(kColsDotB * stride_max));
    ptr_buf.resize(static_cast<std::size_t>(mr + nc));
    float* ap = ap_buf.data();
    float* dct = dct_buf.data();
    const float** arow = ptr_buf.data();
    const float** drow = ptr_buf.data() + mr;
    for (std::int64_t i0 = 0; i0 < rows; i0 += kRowsB) {
      const std::int64_t ni = std::min(kRowsB, rows - i0), stride = ceil_div(ni, vw) * vw;
      // dCᵀ of the block: dct[c·stride + ii] = dC[i0 + ii, c0 + c], zero padded to stride.
      for (std::int64_t c = 0; c < ncols; ++c) std::fill(dct + c * stride + ni, dct + (c + 1) * stride, 0.f);
      transpose_block(ops, dc + i0 * lddc + c0, lddc, ni, ncols, dct, stride);
      for (std::int64_t wb = wb0; wb < wb1; ++wb) {
        const std::int64_t w0 = wb * kw, nw = std::min(kw, windows - w0);
        const std::int64_t kc = nw * m, kept = nw * n, r0 = w0 * n, k0 = w0 * m;
        pack_a_transposed(ops, a, lda, k, i0, ni, k0, kc, stride, ap);
        for (std::int64_t cg = 0; cg < ncols; cg += nc) {
          const std::int64_t cvalid = std::min(nc, ncols - cg), cv = (c0 + cg) / v;  // nc <= v: one vector
          for (std::int64_t j = 0; j < nc; ++j) drow[j] = dct + (cg + std::min(j, cvalid - 1)) * stride;
          for (std::int64_t rp = 0; rp < kept; rp += mr) {
            const std::int64_t valid = std::min(mr, kept - rp);
            for (std::int64_t q = 0; q < mr; ++q) {
              const std::int64_t r = rp + std::min(q, valid - 1);
              arow[q] = ap + ((r / n) * m + index[(r0 + r) * cvs + cv]) * stride;
            }
            fn(GradBDotArgs{stride, arow, drow, dvalues + (r0 + rp) * cols + c0 + cg, cols, static_cast<int>(valid),
                            static_cast<int>(cvalid), Epilogue{alpha, beta, i0 == 0}});
          }
        }
      }
    }
  });
}

// ================================================================================================
// Argument checks and dispatch.

void check_dense(const char* what, std::int64_t ld, std::int64_t min_ld, const void* p, bool needed) {
  MERIDIAN_INPUT_CHECK(ld >= min_ld, what, ": leading dimension ", ld, " is smaller than ", min_ld);
  if (needed) MERIDIAN_INPUT_CHECK(p != nullptr, what, ": a required pointer is null");
}

constexpr TileOps kTileAvx512{16, &transpose_avx512, &store_transposed_avx512};
constexpr TileOps kTileAvx2{8, &transpose_avx2, &store_transposed_avx2};

// dA takes the list path for v below this (a span of the register-blocked path is then too short).
constexpr std::int64_t kListBelowV = 8;

void check_isa(const char* what, NmIsa isa) {
  MERIDIAN_INPUT_CHECK(nm_isa_supported(isa), what, ": this CPU cannot run the ", nm_isa_name(isa), " kernels");
  MERIDIAN_CHECK(Kokkos::is_initialized(), what, ": Kokkos is not initialized");
}

}  // namespace

void nm_spmm_grad_a_with_isa(NmIsa isa, std::int64_t rows, const NMLayout& l, float alpha, const float* dc,
                             std::int64_t lddc, const float* values, const std::uint8_t* index, float beta, float* da,
                             std::int64_t ldda) {
  constexpr const char* what = "cpu::nm_spmm_grad_a";
  check_nm_layout(l);
  MERIDIAN_INPUT_CHECK(rows >= 0, what, ": rows = ", rows, " is negative");
  const bool work = rows > 0 && l.k > 0;
  check_dense(what, lddc, l.cols, dc, work && l.cols > 0);
  check_dense(what, ldda, l.k, da, work);
  check_dense(what, 0, 0, values, work && l.cols > 0);
  check_dense(what, 0, 0, index, work && l.cols > 0);
  check_isa(what, isa);
  if (!work) return;
  switch (isa) {
    case NmIsa::avx512:
      if (l.v < kListBelowV) {
        grad_a_list(GradAListKernel{64, 4, &grad_a_list_avx512<4>, &grad_a_list_avx512<1>, &build_lists_v1_avx512,
                                    kTileAvx512},
                    rows, l, alpha, dc, lddc, values, index, beta, da, ldda);
      } else {
        grad_a_simd(GradAKernel{6, 64, &grad_a_avx512<6>, kTileAvx512}, rows, l, alpha, dc, lddc, values, index, beta,
                    da, ldda);
      }
      return;
    case NmIsa::avx2:
      if (l.v < kListBelowV) {
        grad_a_list(GradAListKernel{16, 4, &grad_a_list_avx2<4>, &grad_a_list_avx2<1>, nullptr, kTileAvx2}, rows, l,
                    alpha, dc, lddc, values, index, beta, da, ldda);
      } else {
        grad_a_simd(GradAKernel{6, 16, &grad_a_avx2<6>, kTileAvx2}, rows, l, alpha, dc, lddc, values, index, beta, da,
                    ldda);
      }
      return;
    case NmIsa::scalar:
      break;
  }
  grad_a_scalar(rows, l, alpha, dc, lddc, values, index, beta, da, ldda);
}

void nm_spmm_grad_b_with_isa(NmIsa isa, std::int64_t rows, const NMLayout& l, float alpha, const float* a,
                             std::int64_t lda, const float* dc, std::int64_t lddc, const std::uint8_t* index,
                             float beta, float* dvalues) {
  constexpr const char* what = "cpu::nm_spmm_grad_b";
  check_nm_layout(l);
  MERIDIAN_INPUT_CHECK(rows >= 0, what, ": rows = ", rows, " is negative");
  const bool work = l.value_count() > 0;
  check_dense(what, lda, l.k, a, work && rows > 0);
  check_dense(what, lddc, l.cols, dc, work && rows > 0);
  check_dense(what, 0, 0, index, work);
  check_dense(what, 0, 0, dvalues, work);
  check_isa(what, isa);
  if (!work) return;
  if (rows == 0 || isa == NmIsa::scalar) {  // rows == 0: dvalues = beta·dvalues
    grad_b_scalar(rows, l, alpha, a, lda, dc, lddc, index, beta, dvalues);
    return;
  }
  const std::int64_t v = l.v;
  // v = 8 on an AVX-512 CPU: the AVX2 kernels give each column vector a register of its own (measured faster
  // than the permute path).
  const bool narrow = isa == NmIsa::avx512 && v == 8 && nm_isa_supported(NmIsa::avx2);
  if (isa == NmIsa::avx512 && !narrow) {
    if (v >= 32) {
      grad_b_broadcast(GradBKernel{8, 32, false, &grad_b_avx512<8, false>, kTileAvx512}, rows, l, alpha, a, lda, dc,
                       lddc, index, beta, dvalues);
    } else if (v == 16) {
      grad_b_broadcast(GradBKernel{6, 32, true, &grad_b_avx512<6, true>, kTileAvx512}, rows, l, alpha, a, lda, dc,
                       lddc, index, beta, dvalues);
    } else if (l.m <= 32) {
      grad_b_permute(&grad_b_perm_avx512<4>, 4, rows, l, alpha, a, lda, dc, lddc, index, beta, dvalues);
    } else {
      grad_b_dot(GradBDotKernel{kTileAvx512, 16, &grad_b_dot_avx512<8, 1>, 8, &grad_b_dot_avx512<4, 4>, 4}, rows, l,
                 alpha, a, lda, dc, lddc, index, beta, dvalues);
    }
    return;
  }
  if (v >= 16) {
    grad_b_broadcast(GradBKernel{6, 16, false, &grad_b_avx2<6, false>, kTileAvx2}, rows, l, alpha, a, lda, dc, lddc,
                     index, beta, dvalues);
  } else if (v == 8) {
    grad_b_broadcast(GradBKernel{4, 16, true, &grad_b_avx2<4, true>, kTileAvx2}, rows, l, alpha, a, lda, dc, lddc,
                     index, beta, dvalues);
  } else {
    grad_b_dot(GradBDotKernel{kTileAvx2, 8, &grad_b_dot_avx2<8, 1>, 8, &grad_b_dot_avx2<2, 4>, 2}, rows, l, alpha, a,
               lda, dc, lddc, index, beta, dvalues);
  }
}

}  // namespace meridian::kernels::cpu::detail

namespace meridian::kernels::cpu {
namespace {
detail::NmIsa grad_isa() {
  static const detail::NmIsa isa = detail::nm_choose_isa();
  return isa;
}
}  // namespace

void nm_spmm_grad_a(std::int64_t rows, const NMLayout& layout, float alpha, const float* dc, std::int64_t lddc,
                    const float* values, const std::uint8_t* index, float beta, float* da, std::int64_t ldda) {
  detail::nm_spmm_grad_a_with_isa(grad_isa(), rows, layout, alpha, dc, lddc, values, index, beta, da, ldda);
}

void nm_spmm_grad_b(std::int64_t rows, const NMLayout& layout, float alpha, const float* a, std::int64_t lda,
                    const float* dc, std::int64_t lddc, const std::uint8_t* index, float beta, float* dvalues) {
  detail::nm_spmm_grad_b_with_isa(grad_isa(), rows, layout, alpha, a, lda, dc, lddc, index, beta, dvalues);
}

}  // namespace meridian::kernels::cpu
