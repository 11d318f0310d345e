// Entry points of the CUDA N:M SpMM (nm_sparse.hpp): argument checks, the per-call choice of a
// configuration (forced, autotune cache, heuristic), scratch memory, autotuning, and the calls into
// the launchers of nm_spmm_*.cu. Host code. C (rows x cols) = alpha·A (rows x k)·B + beta·C.
#include <climits>
#include <cstdlib>
#include <map>
#include <mutex>

#include "kernels/common/error.hpp"
#include "kernels/cuda/check.hpp"
#include "kernels/cuda/event_timer.hpp"
#include "kernels/cuda/nm_sparse.hpp"
#include "kernels/cuda/nm_sparse_launch.hpp"
#include "kernels/cuda/nm_sparse_tiles.hpp"

namespace meridian::kernels::cuda {
namespace {

using namespace nm_detail;

// Grid limits: rows go to grid.x in blocks of >= 32; cols to grid.y in blocks of >= 32 (65535 max).
constexpr std::int64_t kMaxRows = INT_MAX - 256;
constexpr std::int64_t kMaxCols = 65535LL * 32;

const char* api_name(NmSpmmType type) { return type == NmSpmmType::f32 ? "cuda::nm_spmm" : "cuda::nm_spmm_bf16"; }

bool aligned(const void* p, std::size_t bytes) { return reinterpret_cast<std::uintptr_t>(p) % bytes == 0; }

// Operands other than C (shared by nm_spmm and nm_spmm_autotune).
void check_operands(NmSpmmType type, std::int64_t rows, const NMLayout& l, const void* a, std::int64_t lda,
                    const void* values, const std::uint8_t* index) {
  const char* what = api_name(type);
  check_nm_layout(l);
  MERIDIAN_INPUT_CHECK(rows >= 0, what, ": rows = ", rows, " is negative");
  MERIDIAN_INPUT_CHECK(rows <= kMaxRows, what, ": rows = ", rows, " exceeds the kernels' limit of ", kMaxRows);
  MERIDIAN_INPUT_CHECK(l.cols <= kMaxCols, what, ": cols = ", l.cols, " exceeds the kernels' limit of ", kMaxCols);
  MERIDIAN_INPUT_CHECK(lda >= l.k, what, ": lda = ", lda, " is smaller than k = ", l.k);
  if (rows > 0 && l.cols > 0 && l.k > 0) {
    const std::size_t element = type == NmSpmmType::f32 ? 4 : 2;
    MERIDIAN_INPUT_CHECK(a != nullptr && values != nullptr && index != nullptr, what,
                         ": A, values and index must not be null (rows = ", rows, ", k = ", l.k, ", cols = ", l.cols, ")");
    MERIDIAN_INPUT_CHECK(aligned(a, element) && aligned(values, element), what,
                         ": A and values must be aligned to their element size (", element, " bytes)");
  }
}

void check_output(NmSpmmType type, std::int64_t rows, const NMLayout& l, const float* c, std::int64_t ldc) {
  const char* what = api_name(type);
  MERIDIAN_INPUT_CHECK(ldc >= l.cols, what, ": ldc = ", ldc, " is smaller than cols = ", l.cols);
  if (rows > 0 && l.cols > 0)
    MERIDIAN_INPUT_CHECK(c != nullptr && aligned(c, 4), what, ": C must be non-null and 4-byte aligned");
}

void check_forced(NmSpmmType type, std::int64_t rows, const NMLayout& l, const NmSpmmConfig* forced) {
  if (forced == nullptr) return;
  const std::string problem = nm_spmm_config_problem(rows, l, type, *forced);
  MERIDIAN_INPUT_CHECK(problem.empty(), api_name(type), ": the forced configuration ", nm_spmm_config_string(*forced),
                       " cannot run this problem: ", problem);
}

// ---- the current device ----

struct DeviceInfo {
  int device = 0;
  int sm_count = 1;
  std::string name;
};

// Checks that the current device can run the kernels (sm_80+, for cp.async and bf16 mma).
DeviceInfo current_device(bool with_name) {
  DeviceInfo info;
  CUDA_CHECK(cudaGetDevice(&info.device));
  int major = 0;
  CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, info.device));
  MERIDIAN_CHECK(major >= 8, "the CUDA N:M kernels need compute capability 8.0 or newer (cp.async, bf16 mma); device ",
                 info.device, " has ", major, ".x");
  CUDA_CHECK(cudaDeviceGetAttribute(&info.sm_count, cudaDevAttrMultiProcessorCount, info.device));
  if (with_name) {
    // cudaGetDeviceProperties is slow (milliseconds on some drivers): names are kept per device.
    static std::mutex mutex;
    static std::map<int, std::string>* names = new std::map<int, std::string>();
    std::lock_guard lock(mutex);
    auto it = names->find(info.device);
    if (it == names->end()) {
      cudaDeviceProp prop{};
      CUDA_CHECK(cudaGetDeviceProperties(&prop, info.device));
      it = names->emplace(info.device, prop.name).first;
    }
    info.name = it->second;
  }
  return info;
}

// ---- autotune cache files, read once per process and path ----

struct CacheMemo {
  std::mutex mutex;
  std::map<std::string, NmAutotuneCache> by_path;
};

CacheMemo& cache_memo() {
  static CacheMemo* const memo = new CacheMemo();  // never destroyed (used until exit)
  return *memo;
}

std::optional<NmAutotuneCache::Entry> cached_entry(const std::string& path, const std::string& key) {
  CacheMemo& memo = cache_memo();
  std::lock_guard lock(memo.mutex);
  auto it = memo.by_path.find(path);
  if (it == memo.by_path.end()) it = memo.by_path.emplace(path, NmAutotuneCache::load(path)).first;
  return it->second.find(key);
}

// Re-reads the file (another process may have added entries), adds this one, rewrites it.
void store_entry(const std::string& path, const std::string& key, const NmAutotuneCache::Entry& entry) {
  CacheMemo& memo = cache_memo();
  std::lock_guard lock(memo.mutex);
  NmAutotuneCache cache = NmAutotuneCache::load(path);
  cache.put(key, entry);
  cache.save(path);
  memo.by_path[path] = std::move(cache);
}

// ---- scratch memory ----

constexpr std::size_t kAlign = 256;
std::size_t round_up(std::size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

// Device scratch for one call: the caller's workspace, or stream-ordered memory freed at scope end.
class Scratch {
 public:
  Scratch(std::size_t bytes, NmSpmmWorkspace* workspace, cudaStream_t stream) : stream_(stream) {
    if (bytes == 0) return;
    if (workspace != nullptr) {
      base_ = static_cast<unsigned char*>(workspace->reserve(bytes));
    } else {
      void* p = nullptr;
      CUDA_CHECK(cudaMallocAsync(&p, bytes, stream_));
      base_ = static_cast<unsigned char*>(p);
      owned_ = true;
    }
  }
  ~Scratch() {
    if (owned_) (void)cudaFreeAsync(base_, stream_);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  // The next `bytes` (256-byte aligned); nullptr for 0 bytes.
  template <class T>
  T* take(std::size_t bytes) {
    if (bytes == 0) return nullptr;
    T* p = reinterpret_cast<T*>(base_ + used_);
    used_ += round_up(bytes);
    return p;
  }

 private:
  cudaStream_t stream_;
  unsigned char* base_ = nullptr;
  std::size_t used_ = 0;
  bool owned_ = false;
};

std::size_t partial_bytes(int split, const Problem& p) {
  return split > 1 ? static_cast<std::size_t>(split) * static_cast<std::size_t>(p.rows * p.layout.cols) * 4 : 0;
}

struct TiledSizes {
  std::size_t offsets = 0, masks = 0, partial = 0;
  std::size_t total() const { return round_up(offsets) + round_up(masks) + round_up(partial); }
};

TiledSizes tiled_sizes(int tile, int split, const Problem& p) {
  const TiledGeometry g = tiled_geometry(kF32Tiles[tile], p.rows, p.layout);
  const auto tables = static_cast<std::size_t>(g.col_blocks * g.chunks);
  TiledSizes s;
  s.offsets = tables * static_cast<std::size_t>(g.offsets_bytes_per_chunk);
  s.masks = g.use_masks ? tables * sizeof(std::uint64_t) : 0;
  s.partial = partial_bytes(split, p);
  return s;
}

TiledScratch take_tiled(Scratch& scratch, const TiledSizes& s) {
  TiledScratch t;
  t.offsets = scratch.take<std::uint8_t>(s.offsets);
  t.masks = scratch.take<std::uint64_t>(s.masks);
  t.partial = scratch.take<float>(s.partial);
  return t;
}

// Runs a checked configuration on a problem with rows, cols > 0.
void run_config(NmSpmmType type, const NmSpmmConfig& config, const Problem& p, cudaStream_t stream,
                NmSpmmWorkspace* workspace) {
  const NMLayout& l = p.layout;
  switch (config.path) {
    case NmSpmmPath::decode: {
      Scratch scratch(partial_bytes(config.split_k, p), workspace, stream);
      launch_decode(type, config.split_k, p, scratch.take<float>(partial_bytes(config.split_k, p)), stream);
      return;
    }
    case NmSpmmPath::tiled: {
      const TiledSizes sizes = tiled_sizes(config.tile, config.split_k, p);
      Scratch scratch(sizes.total(), workspace, stream);
      launch_f32_tiled(config.tile, config.split_k, p, take_tiled(scratch, sizes), stream);
      return;
    }
    case NmSpmmPath::widened: {
      // fp32 copies of A (rows x k) and values (kept_rows x cols), then the tiled kernel on them.
      const std::size_t a_bytes = static_cast<std::size_t>(p.rows * l.k) * 4;
      const std::size_t v_bytes = static_cast<std::size_t>(l.kept_rows() * l.cols) * 4;
      const TiledSizes sizes = tiled_sizes(config.tile, config.split_k, p);
      Scratch scratch(round_up(a_bytes) + round_up(v_bytes) + sizes.total(), workspace, stream);
      float* a32 = scratch.take<float>(a_bytes);
      float* v32 = scratch.take<float>(v_bytes);
      launch_widen_bf16(static_cast<const std::uint16_t*>(p.a), p.rows, l.k, p.lda, a32, stream);
      launch_widen_bf16(static_cast<const std::uint16_t*>(p.values), l.kept_rows(), l.cols, p.ldv, v32, stream);
      Problem wide = p;
      wide.a = a32;
      wide.lda = l.k;
      wide.values = v32;
      wide.ldv = l.cols;
      launch_f32_tiled(config.tile, config.split_k, wide, take_tiled(scratch, sizes), stream);
      return;
    }
    case NmSpmmPath::tensor_core: {
      // The mma kernel copies value rows 16 bytes at a time: rows must start 16-byte aligned, else
      // they are copied first into rows padded to a multiple of 8 elements (zeros in the padding).
      const bool direct = l.cols % 8 == 0 && p.ldv % 8 == 0 && aligned(p.values, 16);
      const std::int64_t ld_pad = (l.cols + 7) / 8 * 8;
      const std::size_t pad_bytes = direct ? 0 : static_cast<std::size_t>(l.kept_rows() * ld_pad) * 2;
      const std::size_t part = partial_bytes(config.split_k, p);
      Scratch scratch(round_up(pad_bytes) + round_up(part), workspace, stream);
      Problem run = p;
      if (!direct && pad_bytes > 0) {
        auto* padded = scratch.take<std::uint16_t>(pad_bytes);
        CUDA_CHECK(cudaMemsetAsync(padded, 0, pad_bytes, stream));
        CUDA_CHECK(cudaMemcpy2DAsync(padded, static_cast<std::size_t>(ld_pad) * 2, p.values,
                                     static_cast<std::size_t>(p.ldv) * 2, static_cast<std::size_t>(l.cols) * 2,
                                     static_cast<std::size_t>(l.kept_rows()), cudaMemcpyDeviceToDevice, stream));
        run.values = padded;
        run.ldv = ld_pad;
      }
      launch_bf16_mma(config.tile, config.split_k, run, scratch.take<float>(part), stream);
      return;
    }
  }
  MERIDIAN_CHECK(false, "unknown N:M path");
}

NmSpmmConfig autotune(NmSpmmType type, const Problem& problem, const DeviceInfo& device, cudaStream_t stream,
                      const std::string& cache_path, NmSpmmWorkspace* workspace) {
  const NMLayout& l = problem.layout;
  const std::vector<NmSpmmConfig> candidates = nm_spmm_candidates(problem.rows, l, type, device.sm_count);
  void* scratch_c = nullptr;
  const std::size_t c_bytes = static_cast<std::size_t>(problem.rows * l.cols) * 4;
  CUDA_CHECK(cudaMallocAsync(&scratch_c, c_bytes, stream));
  Problem p = problem;
  p.alpha = 1.f;
  p.beta = 0.f;
  p.c = static_cast<float*>(scratch_c);
  p.ldc = l.cols;
  NmSpmmConfig best = candidates.front();
  double best_us = -1;
  // Without a caller's workspace, one for the whole tuning: no allocation inside a timed call.
  NmSpmmWorkspace local;
  if (workspace == nullptr) workspace = &local;
  try {
    EventTimer timer;
    for (const NmSpmmConfig& config : candidates) {
      run_config(type, config, p, stream, workspace);  // untimed: scratch allocation, caches
      timer.start(stream);
      run_config(type, config, p, stream, workspace);
      timer.stop(stream);
      const double us = timer.elapsed_us();
      if (best_us < 0 || us < best_us) {
        best_us = us;
        best = config;
      }
    }
  } catch (...) {
    (void)cudaFreeAsync(scratch_c, stream);
    throw;
  }
  CUDA_CHECK(cudaFreeAsync(scratch_c, stream));
  CUDA_CHECK(cudaStreamSynchronize(stream));
  store_entry(cache_path, nm_spmm_shape_key(device.name, problem.rows, l, type), {best, best_us});
  return best;
}

std::string autotune_cache_from_env() {
  const char* path = std::getenv(kNmAutotuneCacheEnv);
  return path != nullptr ? std::string(path) : std::string();
}

// The configuration of a call without a forced one (see nm_spmm in nm_sparse.hpp).
NmSpmmConfig default_config(NmSpmmType type, const Problem& p, cudaStream_t stream, NmSpmmWorkspace* workspace) {
  const std::string path = autotune_cache_from_env();
  const DeviceInfo device = current_device(!path.empty());
  if (path.empty()) return nm_spmm_heuristic(p.rows, p.layout, type, device.sm_count);
  const std::optional<NmAutotuneCache::Entry> entry =
      cached_entry(path, nm_spmm_shape_key(device.name, p.rows, p.layout, type));
  if (entry && nm_spmm_config_problem(p.rows, p.layout, type, entry->config).empty()) return entry->config;
  return autotune(type, p, device, stream, path, workspace);
}

void spmm(NmSpmmType type, std::int64_t rows, const NMLayout& layout, float alpha, const void* a, std::int64_t lda,
          const void* values, const std::uint8_t* index, float beta, float* c, std::int64_t ldc, cudaStream_t stream,
          const NmSpmmConfig* forced, NmSpmmWorkspace* workspace) {
  check_operands(type, rows, layout, a, lda, values, index);
  check_output(type, rows, layout, c, ldc);
  check_forced(type, rows, layout, forced);
  if (rows == 0 || layout.cols == 0) return;
  const Problem p{rows, layout, alpha, a, lda, values, layout.cols, index, beta, c, ldc};
  NmSpmmConfig config;
  if (forced != nullptr) {
    current_device(false);  // refuses devices older than sm_80
    config = *forced;
  } else {
    config = default_config(type, p, stream, workspace);
  }
  run_config(type, config, p, stream, workspace);
}

}  // namespace

NmSpmmWorkspace::~NmSpmmWorkspace() {
  if (ptr_ == nullptr) return;
  int current = 0;
  if (cudaGetDevice(&current) != cudaSuccess) return;
  if (current != device_) (void)cudaSetDevice(device_);
  (void)cudaFree(ptr_);
  if (current != device_) (void)cudaSetDevice(current);
}

void* NmSpmmWorkspace::reserve(std::size_t bytes) {
  int device = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  if (ptr_ != nullptr && device == device_ && bytes <= bytes_) return ptr_;
  if (ptr_ != nullptr) {  // cudaFree waits for the work that may still use the old buffer
    if (device != device_) CUDA_CHECK(cudaSetDevice(device_));
    const cudaError_t status = cudaFree(ptr_);
    if (device != device_) CUDA_CHECK(cudaSetDevice(device));
    CUDA_CHECK(status);
    ptr_ = nullptr;
    bytes_ = 0;
  }
  const std::size_t grown = (bytes + (std::size_t{1} << 20) - 1) >> 20 << 20;  // whole MiB
  CUDA_CHECK(cudaMalloc(&ptr_, grown));
  bytes_ = grown;
  device_ = device;
  return ptr_;
}

NmSpmmConfig nm_spmm_pick(std::int64_t rows, const NMLayout& layout, NmSpmmType type, const std::string& autotune_cache) {
  check_nm_layout(layout);
  const DeviceInfo device = current_device(!autotune_cache.empty());
  if (!autotune_cache.empty()) {
    const std::optional<NmAutotuneCache::Entry> entry =
        cached_entry(autotune_cache, nm_spmm_shape_key(device.name, rows, layout, type));
    if (entry && nm_spmm_config_problem(rows, layout, type, entry->config).empty()) return entry->config;
  }
  return nm_spmm_heuristic(rows, layout, type, device.sm_count);
}

std::string nm_spmm_pick_string(std::int64_t rows, const NMLayout& layout, NmSpmmType type,
                                const std::string& autotune_cache) {
  const NmSpmmConfig config = nm_spmm_pick(rows, layout, type, autotune_cache);
  bool from_cache = false;
  if (!autotune_cache.empty()) {
    const DeviceInfo device = current_device(true);
    const auto entry = cached_entry(autotune_cache, nm_spmm_shape_key(device.name, rows, layout, type));
    from_cache = entry && entry->config == config;
  }
  return nm_spmm_describe(rows, layout, type, config) + (from_cache ? " (autotuned)" : "");
}

NmSpmmConfig nm_spmm_autotune(std::int64_t rows, const NMLayout& layout, NmSpmmType type, const void* a,
                              std::int64_t lda, const void* values, const std::uint8_t* index, cudaStream_t stream,
                              const std::string& cache_path, NmSpmmWorkspace* workspace) {
  check_operands(type, rows, layout, a, lda, values, index);
  MERIDIAN_INPUT_CHECK(!cache_path.empty(), api_name(type), ": autotuning needs a cache file path");
  const DeviceInfo device = current_device(true);
  if (rows == 0 || layout.cols == 0) return nm_spmm_heuristic(rows, layout, type, device.sm_count);
  const Problem p{rows, layout, 1.f, a, lda, values, layout.cols, index, 0.f, nullptr, 0};
  return autotune(type, p, device, stream, cache_path, workspace);
}

void nm_spmm(std::int64_t rows, const NMLayout& layout, float alpha, const float* a, std::int64_t lda,
             const float* values, const std::uint8_t* index, float beta, float* c, std::int64_t ldc, cudaStream_t stream,
             const NmSpmmConfig* forced, NmSpmmWorkspace* workspace) {
  spmm(NmSpmmType::f32, rows, layout, alpha, a, lda, values, index, beta, c, ldc, stream, forced, workspace);
}

void nm_spmm_bf16(std::int64_t rows, const NMLayout& layout, float alpha, const bf16* a, std::int64_t lda,
                  const bf16* values, const std::uint8_t* index, float beta, float* c, std::int64_t ldc,
                  cudaStream_t stream, const NmSpmmConfig* forced, NmSpmmWorkspace* workspace) {
  spmm(NmSpmmType::bf16, rows, layout, alpha, a, lda, values, index, beta, c, ldc, stream, forced, workspace);
}

}  // namespace meridian::kernels::cuda
