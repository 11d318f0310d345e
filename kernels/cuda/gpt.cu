// CUDA kernels of the GPT model (fp32). Row-wise operations give one warp a row (LayerNorm, the
// softmaxes, the cross-entropy's row sums); reductions over rows go through per-chunk partial sums
// added in a fixed order; matmuls and the attention's batched products go to cuBLAS.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cuda/check.hpp"
#include "kernels/cuda/gpt.hpp"
#include "kernels/cuda/ops.hpp"
#include "kernels/cuda/stream_scratch.hpp"

namespace meridian::kernels::cuda::gpt {
namespace {

constexpr int kThreads = 256;
constexpr int kWarpsPerBlock = kThreads / 32;
constexpr std::int64_t kMaxBlocks = 65535;
constexpr std::int64_t kRowChunk = 32;  // rows per partial sum of LayerNorm's weight gradients
constexpr float kLayerNormEps = 1e-5f;

unsigned blocks_for(std::int64_t n) {
  return static_cast<unsigned>(std::max<std::int64_t>(1, std::min((n + kThreads - 1) / kThreads, kMaxBlocks)));
}
unsigned blocks_for_rows(std::int64_t rows) {
  return static_cast<unsigned>(
      std::max<std::int64_t>(1, std::min((rows + kWarpsPerBlock - 1) / kWarpsPerBlock, kMaxBlocks)));
}

__device__ __forceinline__ std::int64_t first_index() {
  return static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ std::int64_t grid_stride() { return static_cast<std::int64_t>(gridDim.x) * blockDim.x; }
// Rows handed to warps: warp w of the grid takes rows w, w + warps, ...
__device__ __forceinline__ std::int64_t first_row() {
  return static_cast<std::int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
}
__device__ __forceinline__ std::int64_t row_stride() { return static_cast<std::int64_t>(gridDim.x) * kWarpsPerBlock; }
__device__ __forceinline__ int lane() { return static_cast<int>(threadIdx.x % 32); }

// Row-broadcast kernels (a bias or position row added to every row) give a block a row at a time and
// its threads the columns: no 64-bit division per element (the GPU computes one in software, in
// dozens of instructions).
unsigned blocks_for_row_loop(std::int64_t rows) {
  return static_cast<unsigned>(std::max<std::int64_t>(1, std::min(rows, kMaxBlocks)));
}

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

void check_launch() { CUDA_CHECK(cudaGetLastError()); }

// ---- embeddings ----

__global__ void embedding_forward_kernel(float* out, const std::int32_t* tokens, const float* wte, std::int64_t begin,
                                         std::int64_t rows, std::int64_t n, std::int64_t c) {
  for (std::int64_t i = blockIdx.x; i < n; i += gridDim.x) {
    const std::int64_t row = static_cast<std::int64_t>(tokens[i]) - begin;
    const bool mine = row >= 0 && row < rows;
    for (std::int64_t j = threadIdx.x; j < c; j += blockDim.x) out[i * c + j] = mine ? wte[row * c + j] : 0.f;
  }
}

__global__ void embedding_backward_kernel(float* dwte, const std::int32_t* tokens, const float* dout, std::int64_t begin,
                                          std::int64_t rows, std::int64_t n, std::int64_t c) {
  for (std::int64_t idx = first_index(); idx < rows * c; idx += grid_stride()) {
    const std::int64_t r = idx / c, j = idx % c;
    float s = 0.f;
    for (std::int64_t i = 0; i < n; ++i)
      if (static_cast<std::int64_t>(tokens[i]) - begin == r) s += dout[i * c + j];
    dwte[idx] += s;
  }
}

__global__ void add_positions_kernel(float* x, const float* wpe, std::int64_t bt, std::int64_t t, std::int64_t c) {
  for (std::int64_t i = blockIdx.x; i < bt; i += gridDim.x) {
    const float* p = wpe + (i % t) * c;
    for (std::int64_t j = threadIdx.x; j < c; j += blockDim.x) x[i * c + j] += p[j];
  }
}

__global__ void positions_backward_kernel(float* dwpe, const float* dout, std::int64_t b, std::int64_t t,
                                          std::int64_t c) {
  for (std::int64_t idx = first_index(); idx < t * c; idx += grid_stride()) {
    const std::int64_t ti = idx / c, j = idx % c;
    float s = 0.f;
    for (std::int64_t bi = 0; bi < b; ++bi) s += dout[(bi * t + ti) * c + j];
    dwpe[idx] += s;
  }
}

// ---- LayerNorm ----

__global__ void layernorm_forward_kernel(float* out, float* mean, float* rstd, const float* x, const float* w,
                                         const float* b, std::int64_t n, std::int64_t c) {
  for (std::int64_t i = first_row(); i < n; i += row_stride()) {
    const float* xi = x + i * c;
    float s = 0.f;
    for (std::int64_t j = lane(); j < c; j += 32) s += xi[j];
    const float m = warp_sum(s) / static_cast<float>(c);
    float v = 0.f;
    for (std::int64_t j = lane(); j < c; j += 32) v += (xi[j] - m) * (xi[j] - m);
    const float r = rsqrtf(warp_sum(v) / static_cast<float>(c) + kLayerNormEps);
    float* o = out + i * c;
    for (std::int64_t j = lane(); j < c; j += 32) o[j] = (xi[j] - m) * r * w[j] + b[j];
    if (lane() == 0) {
      mean[i] = m;
      rstd[i] = r;
    }
  }
}

__global__ void layernorm_backward_dx_kernel(float* dx, const float* dout, const float* x, const float* w,
                                             const float* mean, const float* rstd, std::int64_t n, std::int64_t c) {
  for (std::int64_t i = first_row(); i < n; i += row_stride()) {
    const float* xi = x + i * c;
    const float* di = dout + i * c;
    const float m = mean[i], r = rstd[i];
    float g = 0.f, gx = 0.f;
    for (std::int64_t j = lane(); j < c; j += 32) {
      const float wd = w[j] * di[j];
      g += wd;
      gx += wd * (xi[j] - m) * r;
    }
    const float mean_g = warp_sum(g) / static_cast<float>(c), mean_gx = warp_sum(gx) / static_cast<float>(c);
    float* dxi = dx + i * c;
    for (std::int64_t j = lane(); j < c; j += 32) {
      const float xhat = (xi[j] - m) * r;
      dxi[j] += (w[j] * di[j] - mean_g - xhat * mean_gx) * r;
    }
  }
}

// scratch (chunks, 2C): per chunk of kRowChunk rows, Σ x̂·dout then Σ dout for every channel.
__global__ void layernorm_backward_partial_kernel(float* scratch, const float* dout, const float* x, const float* mean,
                                                  const float* rstd, std::int64_t n, std::int64_t c) {
  const std::int64_t chunks = (n + kRowChunk - 1) / kRowChunk;
  for (std::int64_t idx = first_index(); idx < chunks * c; idx += grid_stride()) {
    const std::int64_t k = idx / c, j = idx % c;
    float pw = 0.f, pb = 0.f;
    const std::int64_t end = min(n, (k + 1) * kRowChunk);
    for (std::int64_t i = k * kRowChunk; i < end; ++i) {
      const float d = dout[i * c + j];
      pw += (x[i * c + j] - mean[i]) * rstd[i] * d;
      pb += d;
    }
    scratch[k * 2 * c + j] = pw;
    scratch[k * 2 * c + c + j] = pb;
  }
}

// ---- linear helpers ----

__global__ void fill_rows_kernel(float* out, const float* bias, std::int64_t n, std::int64_t cols) {
  for (std::int64_t i = blockIdx.x; i < n; i += gridDim.x)
    for (std::int64_t j = threadIdx.x; j < cols; j += blockDim.x) out[i * cols + j] = bias[j];
}

// out[j] += Σ_i m[i·ld + j] (bias gradients: rows = B·T; LayerNorm's per-chunk partial sums). A
// block takes 32 columns, one per lane, and its kColumnSumWarps warps take every kColumnSumWarps-th
// row: each load is one coalesced row segment, and 32 warps per 32 columns keep enough loads in
// flight even when cols is only 768. The warps' partial sums are added in warp order: the result is
// the same on every run.
constexpr int kColumnSumWarps = 32;

__global__ void column_sums_kernel(float* out, const float* m, std::int64_t rows, std::int64_t cols, std::int64_t ld) {
  __shared__ float partial[kColumnSumWarps][33];
  const std::int64_t j = static_cast<std::int64_t>(blockIdx.x) * 32 + threadIdx.x;
  float s = 0.f;
  if (j < cols)
    for (std::int64_t i = threadIdx.y; i < rows; i += kColumnSumWarps) s += m[i * ld + j];
  partial[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && j < cols) {
    float total = 0.f;
    for (int w = 0; w < kColumnSumWarps; ++w) total += partial[w][threadIdx.x];
    out[j] += total;
  }
}

void launch_column_sums(float* out, const float* m, std::int64_t rows, std::int64_t cols, std::int64_t ld,
                        cudaStream_t stream) {
  if (cols == 0) return;
  const dim3 block(32, kColumnSumWarps);
  column_sums_kernel<<<static_cast<unsigned>((cols + 31) / 32), block, 0, stream>>>(out, m, rows, cols, ld);
  check_launch();
}

// ---- attention ----

// Row (b, h, i) of scores (T, T): causal softmax over columns 0..i, zeros above the diagonal.
__global__ void causal_softmax_kernel(float* att, std::int64_t rows, std::int64_t t) {
  for (std::int64_t r = first_row(); r < rows; r += row_stride()) {
    const std::int64_t i = r % t;
    float* row = att + r * t;
    float mx = -INFINITY;
    for (std::int64_t j = lane(); j <= i; j += 32) mx = fmaxf(mx, row[j]);
    mx = warp_max(mx);
    float s = 0.f;
    for (std::int64_t j = lane(); j <= i; j += 32) {
      const float e = expf(row[j] - mx);
      row[j] = e;
      s += e;
    }
    const float inv = 1.f / warp_sum(s);
    for (std::int64_t j = lane(); j < t; j += 32) row[j] = j <= i ? row[j] * inv : 0.f;
  }
}

// dS = P ∘ (dP − Σ_j P·dP), row by row, in place over dP.
__global__ void softmax_backward_kernel(float* ds, const float* att, std::int64_t rows, std::int64_t t) {
  for (std::int64_t r = first_row(); r < rows; r += row_stride()) {
    const std::int64_t i = r % t;
    const float* p = att + r * t;
    float* row = ds + r * t;
    float dot = 0.f;
    for (std::int64_t j = lane(); j <= i; j += 32) dot += p[j] * row[j];
    dot = warp_sum(dot);
    for (std::int64_t j = lane(); j < t; j += 32) row[j] = j <= i ? p[j] * (row[j] - dot) : 0.f;
  }
}

// ---- elementwise ----

constexpr float kGeluS = 0.7978845608028654f;

__global__ void gelu_forward_kernel(float* out, const float* x, std::int64_t n) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) {
    const float xi = x[i];
    out[i] = 0.5f * xi * (1.f + tanhf(kGeluS * (xi + 0.044715f * xi * xi * xi)));
  }
}

__global__ void gelu_backward_kernel(float* dx, const float* x, const float* dout, std::int64_t n) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) {
    const float xi = x[i];
    const float th = tanhf(kGeluS * (xi + 0.044715f * xi * xi * xi));
    const float grad = 0.5f * (1.f + th) + 0.5f * xi * (1.f - th * th) * kGeluS * (1.f + 3.f * 0.044715f * xi * xi);
    dx[i] = grad * dout[i];
  }
}

__global__ void residual_kernel(float* out, const float* a, const float* b, std::int64_t n) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) out[i] = a[i] + b[i];
}

__global__ void bias_residual_kernel(float* out, const float* x, const float* y, const float* bias, std::int64_t n,
                                     std::int64_t c) {
  for (std::int64_t i = blockIdx.x; i < n; i += gridDim.x)
    for (std::int64_t j = threadIdx.x; j < c; j += blockDim.x) out[i * c + j] = x[i * c + j] + y[i * c + j] + bias[j];
}

// ---- cross-entropy ----

__global__ void ce_row_max_kernel(float* row_max, const float* logits, std::int64_t n, std::int64_t vl,
                                  std::int64_t valid) {
  for (std::int64_t i = first_row(); i < n; i += row_stride()) {
    float mx = -INFINITY;
    for (std::int64_t j = lane(); j < valid; j += 32) mx = fmaxf(mx, logits[i * vl + j]);
    mx = warp_max(mx);
    if (lane() == 0) row_max[i] = mx;
  }
}

__global__ void ce_sums_kernel(float* sums, const float* logits, const float* row_max, const std::int32_t* targets,
                               std::int64_t begin, std::int64_t n, std::int64_t vl, std::int64_t valid) {
  for (std::int64_t i = first_row(); i < n; i += row_stride()) {
    const float mx = row_max[i];
    float s = 0.f;
    for (std::int64_t j = lane(); j < valid; j += 32) s += expf(logits[i * vl + j] - mx);
    s = warp_sum(s);
    if (lane() == 0) {
      sums[i] = s;
      const std::int64_t local = static_cast<std::int64_t>(targets[i]) - begin;
      sums[n + i] = (local >= 0 && local < vl) ? logits[i * vl + local] : 0.f;
    }
  }
}

__global__ void ce_backward_kernel(float* dlogits, const float* logits, const float* lse, const std::int32_t* targets,
                                   std::int64_t begin, std::int64_t n, std::int64_t vl, std::int64_t valid,
                                   float scale) {
  for (std::int64_t idx = first_index(); idx < n * vl; idx += grid_stride()) {
    const std::int64_t i = idx / vl, j = idx % vl;
    float d = 0.f;
    if (j < valid) {
      d = scale * expf(logits[idx] - lse[i]);
      if (static_cast<std::int64_t>(targets[i]) - begin == j) d -= scale;
    }
    dlogits[idx] = d;
  }
}

// ---- AdamW ----

__global__ void adamw_kernel(float* w, const float* g, float* m, float* v, std::int64_t n, float lr, float beta1,
                             float beta2, float eps, float weight_decay, float step_size, float inv_sqrt_bc2) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) {
    float wi = w[i] * (1.f - lr * weight_decay);
    const float gi = g[i];
    const float mi = beta1 * m[i] + (1.f - beta1) * gi;
    const float vi = beta2 * v[i] + (1.f - beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    wi -= step_size * mi / (sqrtf(vi) * inv_sqrt_bc2 + eps);
    w[i] = wi;
  }
}

constexpr unsigned kSquareBlocks = 1024;

__global__ void sum_of_squares_kernel(double* partial, const float* x, std::int64_t n) {
  __shared__ double shared[kThreads];
  double s = 0.0;
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) s += static_cast<double>(x[i]) * x[i];
  shared[threadIdx.x] = s;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (static_cast<int>(threadIdx.x) < half) shared[threadIdx.x] += shared[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = shared[0];
}

}  // namespace

std::vector<double> sums_of_squares(const float* x, const std::vector<std::pair<std::int64_t, std::int64_t>>& ranges,
                                    cudaStream_t stream) {
  // Every range's blocks write their partial sums into one buffer (range r from first[r]); one copy
  // brings them all back.
  std::vector<std::size_t> first(ranges.size() + 1, 0);
  std::vector<unsigned> blocks(ranges.size(), 0);
  for (std::size_t r = 0; r < ranges.size(); ++r) {
    const std::int64_t n = ranges[r].second - ranges[r].first;
    MERIDIAN_CHECK(n >= 0, "cuda::gpt::sums_of_squares: range ", r, " ends before it begins");
    blocks[r] = n > 0 ? std::min<unsigned>(kSquareBlocks, blocks_for(n)) : 0;
    first[r + 1] = first[r] + blocks[r];
  }
  std::vector<double> host(first.back());
  if (!host.empty()) {
    const StreamScratch partial(host.size() * sizeof(double), stream);
    double* p = static_cast<double*>(partial.data());
    for (std::size_t r = 0; r < ranges.size(); ++r) {
      if (blocks[r] == 0) continue;
      sum_of_squares_kernel<<<blocks[r], kThreads, 0, stream>>>(p + first[r], x + ranges[r].first,
                                                                ranges[r].second - ranges[r].first);
      check_launch();
    }
    memcpy_d2h(host.data(), p, host.size() * sizeof(double), stream);
  }
  std::vector<double> sums(ranges.size(), 0.0);
  for (std::size_t r = 0; r < ranges.size(); ++r)
    for (std::size_t b = first[r]; b < first[r + 1]; ++b) sums[r] += host[b];
  return sums;
}

double sum_of_squares(const float* x, std::int64_t n, cudaStream_t stream) {
  return sums_of_squares(x, {{0, std::max<std::int64_t>(n, 0)}}, stream)[0];
}

void embedding_forward(float* out, const std::int32_t* tokens, const float* wte, std::int64_t vocab_begin,
                       std::int64_t vocab_rows, std::int64_t n, std::int64_t c, cudaStream_t stream) {
  embedding_forward_kernel<<<blocks_for_row_loop(n), kThreads, 0, stream>>>(out, tokens, wte, vocab_begin, vocab_rows,
                                                                           n, c);
  check_launch();
}

void embedding_backward(float* dwte, const std::int32_t* tokens, const float* dout, std::int64_t vocab_begin,
                        std::int64_t vocab_rows, std::int64_t n, std::int64_t c, cudaStream_t stream) {
  embedding_backward_kernel<<<blocks_for(vocab_rows * c), kThreads, 0, stream>>>(dwte, tokens, dout, vocab_begin,
                                                                                 vocab_rows, n, c);
  check_launch();
}

void add_positions(float* x, const float* wpe, std::int64_t b, std::int64_t t, std::int64_t c, cudaStream_t stream) {
  add_positions_kernel<<<blocks_for_row_loop(b * t), kThreads, 0, stream>>>(x, wpe, b * t, t, c);
  check_launch();
}

void positions_backward(float* dwpe, const float* dout, std::int64_t b, std::int64_t t, std::int64_t c,
                        cudaStream_t stream) {
  positions_backward_kernel<<<blocks_for(t * c), kThreads, 0, stream>>>(dwpe, dout, b, t, c);
  check_launch();
}

void layernorm_forward(float* out, float* mean, float* rstd, const float* x, const float* w, const float* b,
                       std::int64_t n, std::int64_t c, cudaStream_t stream) {
  layernorm_forward_kernel<<<blocks_for_rows(n), kThreads, 0, stream>>>(out, mean, rstd, x, w, b, n, c);
  check_launch();
}

std::int64_t layernorm_backward_scratch_floats(std::int64_t n, std::int64_t c) {
  return 2 * c * ((n + kRowChunk - 1) / kRowChunk);
}

void layernorm_backward(float* dx, float* dw, float* db, const float* dout, const float* x, const float* w,
                        const float* mean, const float* rstd, std::int64_t n, std::int64_t c, float* scratch,
                        cudaStream_t stream) {
  layernorm_backward_dx_kernel<<<blocks_for_rows(n), kThreads, 0, stream>>>(dx, dout, x, w, mean, rstd, n, c);
  check_launch();
  const std::int64_t chunks = (n + kRowChunk - 1) / kRowChunk;
  layernorm_backward_partial_kernel<<<blocks_for(chunks * c), kThreads, 0, stream>>>(scratch, dout, x, mean, rstd, n, c);
  check_launch();
  // scratch is (chunks, 2C): dw and db are the column sums of its two halves.
  launch_column_sums(dw, scratch, chunks, c, 2 * c, stream);
  launch_column_sums(db, scratch + c, chunks, c, 2 * c, stream);
}

void linear_forward(float* out, const float* x, const float* w, const float* bias, std::int64_t n, std::int64_t in,
                    std::int64_t out_features, MatmulPrecision precision, cudaStream_t stream) {
  float beta = 0.f;
  if (bias != nullptr) {
    fill_rows_kernel<<<blocks_for_row_loop(n), kThreads, 0, stream>>>(out, bias, n, out_features);
    check_launch();
    beta = 1.f;
  }
  gemm(precision, Trans::no, Trans::no, n, out_features, in, 1.f, x, in, w, out_features, beta, out, out_features,
       stream);
}

void add_column_sums(float* out, const float* m, std::int64_t rows, std::int64_t cols, cudaStream_t stream) {
  launch_column_sums(out, m, rows, cols, cols, stream);
}

void linear_backward(float* dx, float* dw, float* dbias, const float* dout, const float* x, const float* w,
                     std::int64_t n, std::int64_t in, std::int64_t out_features, bool accumulate_dx,
                     MatmulPrecision precision, cudaStream_t stream) {
  gemm(precision, Trans::yes, Trans::no, in, out_features, n, 1.f, x, in, dout, out_features, 1.f, dw, out_features,
       stream);
  if (dbias != nullptr) add_column_sums(dbias, dout, n, out_features, stream);
  if (dx != nullptr)
    gemm(precision, Trans::no, Trans::yes, n, in, out_features, 1.f, dout, out_features, w, out_features,
         accumulate_dx ? 1.f : 0.f, dx, in, stream);
}

void attention_forward(float* out, float* att, const float* qkv, std::int64_t b, std::int64_t t, std::int64_t c,
                       std::int64_t nh, MatmulPrecision precision, cudaStream_t stream) {
  const std::int64_t hs = c / nh;
  const float scale = 1.f / std::sqrt(static_cast<float>(hs));
  for (std::int64_t bi = 0; bi < b; ++bi) {
    const float* q = qkv + bi * t * 3 * c;
    float* a = att + bi * nh * t * t;
    // scores of every head of this sequence: (T, hs)·(T, hs)ᵀ, heads hs channels apart
    gemm_strided_batched(precision, Trans::no, Trans::yes, t, t, hs, scale, q, 3 * c, q + c, 3 * c, 0.f, a, t, nh, hs,
                         hs, t * t, stream);
  }
  causal_softmax_kernel<<<blocks_for_rows(b * nh * t), kThreads, 0, stream>>>(att, b * nh * t, t);
  check_launch();
  for (std::int64_t bi = 0; bi < b; ++bi) {
    const float* v = qkv + bi * t * 3 * c + 2 * c;
    gemm_strided_batched(precision, Trans::no, Trans::no, t, hs, t, 1.f, att + bi * nh * t * t, t, v, 3 * c, 0.f,
                         out + bi * t * c, c, nh, t * t, hs, hs, stream);
  }
}

void attention_backward(float* dqkv, float* scratch, const float* dout, const float* qkv, const float* att,
                        std::int64_t b, std::int64_t t, std::int64_t c, std::int64_t nh, MatmulPrecision precision,
                        cudaStream_t stream) {
  const std::int64_t hs = c / nh;
  const float scale = 1.f / std::sqrt(static_cast<float>(hs));
  for (std::int64_t bi = 0; bi < b; ++bi) {
    const float* d = dout + bi * t * c;
    const float* v = qkv + bi * t * 3 * c + 2 * c;
    const float* a = att + bi * nh * t * t;
    float* ds = scratch + bi * nh * t * t;
    float* dv = dqkv + bi * t * 3 * c + 2 * c;
    gemm_strided_batched(precision, Trans::no, Trans::yes, t, t, hs, 1.f, d, c, v, 3 * c, 0.f, ds, t, nh, hs, hs,
                         t * t, stream);
    gemm_strided_batched(precision, Trans::yes, Trans::no, t, hs, t, 1.f, a, t, d, c, 0.f, dv, 3 * c, nh, t * t, hs,
                         hs, stream);
  }
  softmax_backward_kernel<<<blocks_for_rows(b * nh * t), kThreads, 0, stream>>>(scratch, att, b * nh * t, t);
  check_launch();
  for (std::int64_t bi = 0; bi < b; ++bi) {
    const float* q = qkv + bi * t * 3 * c;
    const float* ds = scratch + bi * nh * t * t;
    float* dq = dqkv + bi * t * 3 * c;
    gemm_strided_batched(precision, Trans::no, Trans::no, t, hs, t, scale, ds, t, q + c, 3 * c, 0.f, dq, 3 * c, nh,
                         t * t, hs, hs, stream);
    gemm_strided_batched(precision, Trans::yes, Trans::no, t, hs, t, scale, ds, t, q, 3 * c, 0.f, dq + c, 3 * c, nh,
                         t * t, hs, hs, stream);
  }
}

void gelu_forward(float* out, const float* x, std::int64_t n, cudaStream_t stream) {
  gelu_forward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(out, x, n);
  check_launch();
}

void gelu_backward(float* dx, const float* x, const float* dout, std::int64_t n, cudaStream_t stream) {
  gelu_backward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(dx, x, dout, n);
  check_launch();
}

void residual_forward(float* out, const float* a, const float* b, std::int64_t n, cudaStream_t stream) {
  residual_kernel<<<blocks_for(n), kThreads, 0, stream>>>(out, a, b, n);
  check_launch();
}

void bias_residual_forward(float* out, const float* x, const float* y, const float* bias, std::int64_t n,
                           std::int64_t c, cudaStream_t stream) {
  bias_residual_kernel<<<blocks_for_row_loop(n), kThreads, 0, stream>>>(out, x, y, bias, n, c);
  check_launch();
}

void cross_entropy_row_max(float* row_max, const float* logits, std::int64_t n, std::int64_t v_local,
                           std::int64_t valid, cudaStream_t stream) {
  ce_row_max_kernel<<<blocks_for_rows(n), kThreads, 0, stream>>>(row_max, logits, n, v_local, valid);
  check_launch();
}

void cross_entropy_sums(float* sums, const float* logits, const float* row_max, const std::int32_t* targets,
                        std::int64_t vocab_begin, std::int64_t n, std::int64_t v_local, std::int64_t valid,
                        cudaStream_t stream) {
  ce_sums_kernel<<<blocks_for_rows(n), kThreads, 0, stream>>>(sums, logits, row_max, targets, vocab_begin, n, v_local,
                                                              valid);
  check_launch();
}

void cross_entropy_backward(float* dlogits, const float* logits, const float* lse, const std::int32_t* targets,
                            std::int64_t vocab_begin, std::int64_t n, std::int64_t v_local, std::int64_t valid,
                            float scale, cudaStream_t stream) {
  ce_backward_kernel<<<blocks_for(n * v_local), kThreads, 0, stream>>>(dlogits, logits, lse, targets, vocab_begin, n,
                                                                       v_local, valid, scale);
  check_launch();
}

void adamw_update(float* w, const float* g, float* m, float* v, std::int64_t n, float lr, float beta1, float beta2,
                  float eps, float weight_decay, std::int64_t step, cudaStream_t stream) {
  MERIDIAN_CHECK(step >= 1, "cuda::gpt::adamw_update: step ", step, " must be >= 1");
  const double bc1 = 1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(step));
  const double bc2 = 1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(step));
  adamw_kernel<<<blocks_for(n), kThreads, 0, stream>>>(w, g, m, v, n, lr, beta1, beta2, eps, weight_decay,
                                                       static_cast<float>(lr / bc1),
                                                       static_cast<float>(1.0 / std::sqrt(bc2)));
  check_launch();
}

}  // namespace meridian::kernels::cuda::gpt
