// N:M sparse matrix multiplication on CUDA devices (format: kernels/common/nm_layout.hpp; semantics:
// those of kernels/reference/nm_sparse.hpp). C (rows x cols) = alpha·A·B + beta·C, row-major with
// leading dimensions in elements: A (rows x k) dense, B (k x cols) given as values (kept_rows x cols)
// and index (kept_rows x col_vectors, u8). Host-compilable (g++); the kernels live in nm_spmm_*.cu.
//
// Paths (NmSpmmPath), in the manner of NM-SpMM (IPDPS 2025), docs/ARCHITECTURE.md has the summary:
//  - tiled: fp32 on CUDA cores. A thread block owns a BM x BN tile of C and walks k in chunks of whole
//    windows (32 dense rows of A; 64 for the k64 tile, the only one for m = 64). Per chunk it copies with a 3-stage cp.async
//    pipeline: only the A columns that some kept row of its column vectors needs (the union; a bit
//    mask per (column block, chunk) computed by a small plan kernel from the index), the chunk's
//    compressed values (kept rows x BN), and the chunk's offsets (the plan's rewrite of the index:
//    one byte per kept row and column vector of the block, the dense column inside the chunk). Each
//    thread keeps a TM x TN register tile and, per kept row, reads its offset, then TM values of the
//    A tile at that column and TN compressed values, and does TM·TN FMAs.
//  - tensor_core (bf16 API, v >= 32): A and values in bf16, mma.sync.m16n8k16 with fp32
//    accumulators. All BN columns of a block share one index list (BN <= v), so per chunk of 32
//    kept rows the block gathers A's kept columns into shared memory (a dense BM x 32 tile over the
//    compressed k) and multiplies it with the 32 x BN values tile: a dense GEMM over compressed k.
//    A is gathered with plain loads staged in registers (2-byte elements cannot be copied with
//    cp.async); values use cp.async, double-buffered.
//  - decode (rows <= 16, both APIs): memory-bound. A's rows (<= 16) sit in shared memory one slice
//    of k at a time; each warp streams the compressed values and index of 64 columns once and does
//    rows FMAs per value. Bound: bytes = values (kept_rows·cols·sizeof(T)) + index
//    (kept_rows·col_vectors) + A (rows·k·sizeof(T)) + C (rows·cols·4, twice if beta != 0), plus
//    split·rows·cols·8 for split-k partials; time >= bytes / DRAM bandwidth.
//  - widened (bf16 API, v < 32, where a block cannot share one index list): A and values are
//    widened to fp32 (exactly) into the workspace and the tiled fp32 kernel runs on them.
// Split-k (split > 1) never uses atomics: each split writes its partial tile to the workspace and a
// reduction kernel adds the partials in a fixed order and applies alpha and beta (deterministic).
//
// The bf16 API takes A and values in bf16 and writes C in fp32 (products are exact in fp32, sums are
// fp32); it matches the fp32 API run on the bf16 values widened to fp32 up to summation order.
//
// Ordering and memory: everything is enqueued on `stream` and returns before it finishes. Scratch
// memory (plan, split-k partials, widened operands) comes from `workspace` when given (grown as
// needed with cudaMalloc/cudaFree, which synchronize the device; use one workspace on one stream at
// a time), else from cudaMallocAsync/cudaFreeAsync on `stream`. Argument errors throw
// meridian::InputError before anything is enqueued (before any CUDA call); CUDA errors throw
// meridian::Error. The index entries must be < m as the format requires (larger ones are clamped
// to m - 1: a wrong result, never an out-of-bounds access).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "kernels/common/dtype.hpp"
#include "kernels/common/nm_layout.hpp"

namespace meridian::kernels::cuda {

enum class NmSpmmType : std::uint8_t { f32, bf16 };
enum class NmSpmmPath : std::uint8_t { tiled, tensor_core, decode, widened };

// One kernel configuration: the path, the tile of that path's table (tiled and widened: the fp32
// tiles; tensor_core: the bf16 tiles; decode: 0) and the number of k splits (1: no split-k).
struct NmSpmmConfig {
  NmSpmmPath path = NmSpmmPath::tiled;
  int tile = 0;
  int split_k = 1;
  friend bool operator==(const NmSpmmConfig&, const NmSpmmConfig&) = default;
};

// ---- host-only dispatcher logic (kernels/cuda/nm_sparse_dispatch.cpp; needs no device) ----

// Empty when `config` can run this problem, else why not (one sentence).
std::string nm_spmm_config_problem(std::int64_t rows, const NMLayout& layout, NmSpmmType type,
                                   const NmSpmmConfig& config);

// The heuristic choice for a device with `sm_count` multiprocessors:
//  - rows <= 16: decode, with the k split that gives about 2·sm_count blocks of 64 columns while
//    the split's partials stay under 10% of the values' bytes.
//  - bf16 with v < 32: widened, tile and split as fp32 below.
//  - fp32: the first of the tiles 128x128, 128x64, 64x64 (m = 64: the 64x64 tile with 64-row chunks)
//    that gives at least sm_count blocks while wasting at most a quarter of its rows; when none
//    does, 64x64 (32x64 for rows <= 32) split along k to reach about sm_count blocks with at least
//    4 chunks per split (at most 16 splits).
//  - bf16 with v >= 32: 128x64 (v >= 64) or 128x32 when that gives at least sm_count blocks, else
//    64x32 split along k the same way.
NmSpmmConfig nm_spmm_heuristic(std::int64_t rows, const NMLayout& layout, NmSpmmType type, int sm_count);

// What autotuning tries: every valid path and tile with a few splits (always including the
// heuristic's choice), at most a few dozen configurations.
std::vector<NmSpmmConfig> nm_spmm_candidates(std::int64_t rows, const NMLayout& layout, NmSpmmType type,
                                             int sm_count);

// Readable and parseable form of a configuration: "tiled:0:1" (path:tile:split).
std::string nm_spmm_config_string(const NmSpmmConfig& config);
// Inverse of nm_spmm_config_string; nullopt for text that is not one.
std::optional<NmSpmmConfig> nm_spmm_parse_config(const std::string& text);
// For reports: the configuration with its geometry, e.g. "tiled 128x128 k32 idx=one split=1",
// "tensor_core 128x32 split=2", "decode rows<=16 split=4", "widened->tiled 64x64 k32 idx=col split=1".
std::string nm_spmm_describe(std::int64_t rows, const NMLayout& layout, NmSpmmType type,
                             const NmSpmmConfig& config);

// Key of a problem in the autotune cache: device name (spaces as '_'), type, shape and sparsity,
// e.g. "NVIDIA_H100_80GB_HBM3|f32|4096x4096x4096|8:32:32".
std::string nm_spmm_shape_key(const std::string& device_name, std::int64_t rows, const NMLayout& layout,
                              NmSpmmType type);

// The autotune cache file: text, one entry per line "KEY PATH:TILE:SPLIT TIME_US", '#' comments.
// A missing file is an empty cache; lines that do not parse are skipped (and counted).
class NmAutotuneCache {
 public:
  struct Entry {
    NmSpmmConfig config;
    double time_us = 0;
  };
  static NmAutotuneCache load(const std::string& path);
  // Writes every entry (sorted by key) to a temporary file next to `path` and renames it over
  // `path`, so a reader never sees half a file. Throws meridian::Error when it cannot.
  void save(const std::string& path) const;
  std::optional<Entry> find(const std::string& key) const;
  void put(const std::string& key, const Entry& entry) { entries_[key] = entry; }
  std::size_t size() const { return entries_.size(); }
  int skipped_lines() const { return skipped_lines_; }

 private:
  std::map<std::string, Entry> entries_;
  int skipped_lines_ = 0;
};

// ---- device side ----

// Scratch device memory reused across calls (see "Ordering and memory" above).
class NmSpmmWorkspace {
 public:
  NmSpmmWorkspace() = default;
  ~NmSpmmWorkspace();
  NmSpmmWorkspace(const NmSpmmWorkspace&) = delete;
  NmSpmmWorkspace& operator=(const NmSpmmWorkspace&) = delete;
  // At least `bytes` of device memory on the current device (grows, never shrinks; 256-byte aligned).
  void* reserve(std::size_t bytes);
  std::size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  std::size_t bytes_ = 0;
  int device_ = -1;
};

// The environment variable that turns on autotuning for calls without a forced configuration.
inline constexpr const char* kNmAutotuneCacheEnv = "MERIDIAN_NM_AUTOTUNE_CACHE";

// The configuration a call without a forced one uses on the current device: the entry of the
// autotune cache file `autotune_cache` for this problem when there is a valid one (files are read
// once per process and path), else the heuristic. Empty path: the heuristic.
NmSpmmConfig nm_spmm_pick(std::int64_t rows, const NMLayout& layout, NmSpmmType type,
                          const std::string& autotune_cache = {});
// nm_spmm_describe of nm_spmm_pick, plus " (autotuned)" when it came from the cache.
std::string nm_spmm_pick_string(std::int64_t rows, const NMLayout& layout, NmSpmmType type,
                                const std::string& autotune_cache = {});

// Runs every candidate once untimed and once timed (CUDA events) on these operands, writing to a
// scratch C (the caller's C is not touched), stores the fastest in the cache file `cache_path`
// (read, updated, rewritten) and returns it. `a` and `values` are float* for f32 and bf16* for
// bf16. Synchronizes `stream`.
NmSpmmConfig nm_spmm_autotune(std::int64_t rows, const NMLayout& layout, NmSpmmType type, const void* a,
                              std::int64_t lda, const void* values, const std::uint8_t* index,
                              cudaStream_t stream, const std::string& cache_path,
                              NmSpmmWorkspace* workspace = nullptr);

// C = alpha·A·B + beta·C (beta == 0: C is write-only). `forced`: run this configuration (InputError
// when it cannot run this problem); nullptr: nm_spmm_pick with the cache file named by
// $MERIDIAN_NM_AUTOTUNE_CACHE, and when that variable is set but has no entry for the problem,
// nm_spmm_autotune first (once per problem and file; it synchronizes the stream).
void nm_spmm(std::int64_t rows, const NMLayout& layout, float alpha, const float* a, std::int64_t lda,
             const float* values, const std::uint8_t* index, float beta, float* c, std::int64_t ldc,
             cudaStream_t stream = nullptr, const NmSpmmConfig* forced = nullptr,
             NmSpmmWorkspace* workspace = nullptr);
// The same with A and values in bf16; C stays fp32.
void nm_spmm_bf16(std::int64_t rows, const NMLayout& layout, float alpha, const bf16* a, std::int64_t lda,
                  const bf16* values, const std::uint8_t* index, float beta, float* c, std::int64_t ldc,
                  cudaStream_t stream = nullptr, const NmSpmmConfig* forced = nullptr,
                  NmSpmmWorkspace* workspace = nullptr);

}  // namespace meridian::kernels::cuda
