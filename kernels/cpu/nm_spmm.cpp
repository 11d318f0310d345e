// N:M SpMM on the CPU, C (rows x cols) = alpha·A (rows x k)·B + beta·C with B as values (kept_rows x cols)
// + u8 index: the ISA choice, the entry point, and the scalar ISA's column-broadcast kernel: per tile of C
// and block of windows, A is packed transposed (k x MR per micro panel), value strips (kept x NR) are
// packed, and a micro-kernel broadcasts A through the strip's offsets. AVX-512 and AVX2 run the
// row-vectorised kernels of nm_spmm_rows.cpp (measured faster at every v and sparsity).
#include <Kokkos_Core.hpp>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/common/error.hpp"
#include "kernels/cpu/nm_sparse_detail.hpp"

namespace meridian::kernels::cpu::detail {
namespace {

using HostSpace = Kokkos::DefaultHostExecutionSpace;
using Range = Kokkos::RangePolicy<HostSpace, Kokkos::IndexType<std::int64_t>>;

// Blocking: per block of windows, the packed A micro panel (dense rows x MR) is read at random through
// the offsets and stays in L1, while the packed value strips of the column tile (kept x NC) stream past
// it; kKeptPerBlock kept rows amortise a micro tile's epilogue, NC columns amortise packing A.
constexpr std::int64_t kKeptPerBlock = 128;
constexpr std::int64_t kDensePerBlock = 512;
constexpr std::int64_t kMinKeptPerBlock = 32;
constexpr std::int64_t kStripsPerTile = 64;

// What a micro tile does with C: first block of windows: C = alpha·acc + beta·C (beta == 0: C is not
// read); later blocks: C += alpha·acc.
struct Epilogue {
  float alpha;
  float beta;
  bool first;
};

// One micro tile: MR rows of C by NR columns, over `kept` kept rows of one block of windows.
struct MicroArgs {
  std::int64_t kept;         // kept rows in the block
  const float* ap;           // packed A: (dense rows of the block) x MR, row kk = A[i0.., k0 + kk]
  const float* bp;           // values strip: kept rows of NR floats, bstride apart (columns past cols are 0)
  std::int64_t bstride;
  const std::int32_t* off;   // group g, kept row r: off[g * off_stride + r] = local dense row · MR
  std::int64_t off_stride;
  float* c;                  // C at the tile's first element
  std::int64_t ldc;
  int rows_valid;
  int cols_valid;
  Epilogue ep;
};
using MicroFn = void (*)(const MicroArgs&);

// Applies a finished MR x nr tile (row-major, row length nr) to the valid part of C.
void apply_tile(const float* tile, int nr, const MicroArgs& m) {
  for (int i = 0; i < m.rows_valid; ++i) {
    float* crow = m.c + i * m.ldc;
    for (int j = 0; j < m.cols_valid; ++j) {
      const float t = m.ep.alpha * tile[i * nr + j];
      if (!m.ep.first) {
        crow[j] = crow[j] + t;
      } else {
        crow[j] = m.ep.beta == 0.f ? t : t + m.ep.beta * crow[j];
      }
    }
  }
}

// Any v: every column j has its own offsets (group j). The scalar path, and v = 1 or 4 on AVX-512/AVX2,
// where the columns of one register use different index lists.
template <int MR, int NR>
void micro_generic(const MicroArgs& m) {
  float acc[MR * NR] = {};
  for (std::int64_t r = 0; r < m.kept; ++r) {
    const float* b = m.bp + r * m.bstride;
    for (int j = 0; j < NR; ++j) {
      const float* a = m.ap + m.off[j * m.off_stride + r];
      const float bj = b[j];
      for (int i = 0; i < MR; ++i) acc[i * NR + j] += a[i] * bj;
    }
  }
  apply_tile(acc, NR, m);
}

void check_spmm_args(std::int64_t rows, const NMLayout& l, const float* a, std::int64_t lda, const float* values,
                     const std::uint8_t* index, const float* c, std::int64_t ldc) {
  check_nm_layout(l);
  MERIDIAN_INPUT_CHECK(rows >= 0, "cpu::nm_spmm: rows = ", rows, " is negative");
  MERIDIAN_INPUT_CHECK(lda >= l.k, "cpu::nm_spmm: lda = ", lda, " is smaller than k = ", l.k);
  MERIDIAN_INPUT_CHECK(ldc >= l.cols, "cpu::nm_spmm: ldc = ", ldc, " is smaller than cols = ", l.cols);
  if (rows > 0 && l.cols > 0) MERIDIAN_INPUT_CHECK(c != nullptr, "cpu::nm_spmm: C is null");
  if (rows > 0 && l.cols > 0 && l.k > 0)
    MERIDIAN_INPUT_CHECK(a != nullptr && values != nullptr && index != nullptr,
                         "cpu::nm_spmm: A, values or index is null");
  MERIDIAN_CHECK(Kokkos::is_initialized(), "cpu::nm_spmm: Kokkos is not initialized");
}

}  // namespace

const char* nm_isa_name(NmIsa isa) {
  switch (isa) {
    case NmIsa::avx512: return "avx512";
    case NmIsa::avx2: return "avx2";
    case NmIsa::scalar: break;
  }
  return "scalar";
}

bool nm_isa_supported(NmIsa isa) {
  switch (isa) {
    case NmIsa::avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl");
    case NmIsa::avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case NmIsa::scalar: break;
  }
  return true;
}

NmIsa nm_choose_isa() {
  NmIsa best = NmIsa::scalar;
  if (nm_isa_supported(NmIsa::avx512)) {
    best = NmIsa::avx512;
  } else if (nm_isa_supported(NmIsa::avx2)) {
    best = NmIsa::avx2;
  }
  const char* env = std::getenv("MERIDIAN_NM_ISA");
  if (env == nullptr || *env == '\0') return best;
  const std::string want(env);
  NmIsa asked = best;
  if (want == "scalar") {
    asked = NmIsa::scalar;
  } else if (want == "avx2") {
    asked = NmIsa::avx2;
  } else if (want == "avx512") {
    asked = NmIsa::avx512;
  } else {
    MERIDIAN_INPUT_CHECK(false, "MERIDIAN_NM_ISA=", want, " is not one of avx512, avx2, scalar");
  }
  // Never wider than the CPU supports.
  return static_cast<int>(asked) < static_cast<int>(best) ? asked : best;
}

void nm_spmm_with_isa(NmIsa isa, std::int64_t rows, const NMLayout& l, float alpha, const float* a,
                      std::int64_t lda, const float* values, const std::uint8_t* index, float beta, float* c,
                      std::int64_t ldc) {
  check_spmm_args(rows, l, a, lda, values, index, c, ldc);
  MERIDIAN_INPUT_CHECK(nm_isa_supported(isa), "cpu::nm_spmm: this CPU cannot run the ", nm_isa_name(isa),
                       " kernels");
  if (rows == 0 || l.cols == 0) return;
  const std::int64_t cols = l.cols;
  if (l.windows() == 0) {  // k == 0: C = beta · C
    Kokkos::parallel_for("meridian::cpu::nm_spmm_scale", Range(0, rows), [=](const std::int64_t i) {
      for (std::int64_t j = 0; j < cols; ++j) c[i * ldc + j] = beta == 0.f ? 0.f : beta * c[i * ldc + j];
    });
    return;
  }
  // The kernels vectorised over rows of C (nm_spmm_rows.cpp) take every v on AVX-512 and AVX2; the
  // column-broadcast kernel here is the scalar ISA's.
  if (nm_spmm_rows_supported(isa, l.v)) {
    nm_spmm_rows(isa, rows, l, alpha, a, lda, values, index, beta, c, ldc);
    return;
  }

  constexpr int mr = 4, nr = 16;
  const MicroFn fn = &micro_generic<mr, nr>;
  constexpr int groups = nr;  // offset lists per strip: one per column

  const std::int64_t n = l.n, m = l.m, k = l.k, v = l.v;
  const std::int64_t windows = l.windows(), cvs = l.col_vectors();
  // Windows per block: at most kKeptPerBlock kept rows and kDensePerBlock dense rows (the packed A
  // panel read through the offsets stays in L1), but at least kMinKeptPerBlock kept rows.
  const std::int64_t kw = std::max<std::int64_t>(
      {1, std::min(kKeptPerBlock / n, kDensePerBlock / m), kMinKeptPerBlock / n});
  const std::int64_t kc_cap = kw * m, kept_cap = kw * n;

  // Tile sizes: MC rows (multiple of mr) x NC columns (multiple of nr), shrunk until every thread has
  // a few tiles.
  std::int64_t mc = std::int64_t{mr} * 8, nc = std::int64_t{nr} * kStripsPerTile;
  const std::int64_t want_tiles = 4 * static_cast<std::int64_t>(HostSpace().concurrency());
  const auto tiles = [&] { return ((rows + mc - 1) / mc) * ((cols + nc - 1) / nc); };
  while (tiles() < want_tiles && nc > nr) nc /= 2;
  while (tiles() < want_tiles && mc > mr) mc /= 2;
  const std::int64_t threads = static_cast<std::int64_t>(HostSpace().concurrency());
  const std::int64_t col_tiles = (cols + nc - 1) / nc, row_panels = (rows + mr - 1) / mr;
  // Row tiles share the micro panels evenly (at most mc / mr each), and their count is raised so that
  // the tiles split evenly over the threads: with a short last tile (1024 rows = 10 x 96 + 64) the
  // static split gave one thread 576 rows and the other 448.
  std::int64_t row_tiles = (rows + mc - 1) / mc;
  while ((row_tiles * col_tiles) % threads != 0 && row_tiles < row_panels) ++row_tiles;

  Kokkos::parallel_for("meridian::cpu::nm_spmm", Range(0, row_tiles * col_tiles), [=](const std::int64_t t) {
    thread_local std::vector<float> ap_buf, bp_buf;
    thread_local std::vector<std::int32_t> off_buf;
    const std::int64_t rt = t % row_tiles, c0 = (t / row_tiles) * nc;
    const std::int64_t p0 = rt * row_panels / row_tiles, p1 = (rt + 1) * row_panels / row_tiles;
    const std::int64_t i0 = p0 * mr, tile_cols = std::min(nc, cols - c0);
    const std::int64_t panels = p1 - p0, strips = (tile_cols + nr - 1) / nr;
    ap_buf.resize(static_cast<std::size_t>(panels * kc_cap * mr));
    bp_buf.resize(static_cast<std::size_t>(strips * kept_cap * nr));
    off_buf.resize(static_cast<std::size_t>(strips * groups * kept_cap));
    float* ap = ap_buf.data();
    float* bp = bp_buf.data();
    std::int32_t* off = off_buf.data();

    for (std::int64_t w0 = 0; w0 < windows; w0 += kw) {
      const std::int64_t nw = std::min(kw, windows - w0);
      const std::int64_t kc = nw * m, kept = nw * n, r0 = w0 * n, k0 = w0 * m;
      const std::int64_t k_real = std::min(kc, k - k0);  // dense rows of the block inside k
      // Pack A transposed: panel p, row kk -> A[i0 + p·mr + 0..mr-1, k0 + kk]; zeros past k and rows.
      for (std::int64_t p = 0; p < panels; ++p) {
        float* dst = ap + p * kc_cap * mr;
        for (int ii = 0; ii < mr; ++ii) {
          const std::int64_t i = i0 + p * mr + ii;
          std::int64_t kk = 0;
          if (i < rows) {
            const float* src = a + i * lda + k0;
            for (; kk < k_real; ++kk) dst[kk * mr + ii] = src[kk];
          }
          for (; kk < kc; ++kk) dst[kk * mr + ii] = 0.f;
        }
      }
      // Pack every value strip of the tile (kept x nr, zeros past cols) and its offset lists.
      for (std::int64_t s = 0; s < strips; ++s) {
        const std::int64_t cs = c0 + s * nr;
        const std::int64_t width = std::min<std::int64_t>(nr, cols - cs);
        float* strip = bp + s * kept_cap * nr;
        for (std::int64_t r = 0; r < kept; ++r) {
          const float* src = values + (r0 + r) * cols + cs;
          float* dst = strip + r * nr;
          std::memcpy(dst, src, static_cast<std::size_t>(width) * sizeof(float));
          for (std::int64_t j = width; j < nr; ++j) dst[j] = 0.f;
        }
        const std::int64_t group_cols = nr / groups;
        for (int g = 0; g < groups; ++g) {
          // A group past the last column reads the last vector's offsets (its values are zero).
          const std::int64_t cv = std::min(cs + g * group_cols, cols - 1) / v;
          std::int32_t* o = off + (s * groups + g) * kept_cap;
          for (std::int64_t r = 0; r < kept; ++r)
            o[r] = static_cast<std::int32_t>(((r / n) * m + index[(r0 + r) * cvs + cv]) * mr);
        }
      }
      // One A micro panel (in L1) against every strip (streamed).
      for (std::int64_t p = 0; p < panels; ++p) {
        const std::int64_t i = i0 + p * mr;
        const int rows_valid = static_cast<int>(std::min<std::int64_t>(mr, rows - i));
        for (std::int64_t s = 0; s < strips; ++s) {
          const std::int64_t cs = c0 + s * nr;
          const MicroArgs args{kept,
                               ap + p * kc_cap * mr,
                               bp + s * kept_cap * nr,
                               std::int64_t{nr},
                               off + s * groups * kept_cap,
                               kept_cap,
                               c + i * ldc + cs,
                               ldc,
                               rows_valid,
                               static_cast<int>(std::min<std::int64_t>(nr, cols - cs)),
                               Epilogue{alpha, beta, w0 == 0}};
          fn(args);
        }
      }
    }
  });
}

}  // namespace meridian::kernels::cpu::detail
