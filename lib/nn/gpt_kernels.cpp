// CPU kernels of the GPT model: row-parallel loops on the Kokkos host space, OpenBLAS for every matmul
// (attention included: one GEMM per (batch, head) pair, run inside the parallel loop, where OpenBLAS
// stays on the calling thread).
#include "nn/gpt_kernels.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/cpu/nm_sparse.hpp"
#include "kernels/cpu/ops.hpp"
#include "nn/host_parallel.hpp"

namespace meridian::nn::gpt {
namespace {

using kernels::cpu::gemm;
using kernels::Trans;

constexpr float kLayerNormEps = 1e-5f;

// Rows are split into this many chunks when a reduction over rows (LayerNorm's weight gradients) runs
// in parallel: enough for any host's threads, few enough that the partial sums stay small.
constexpr std::int64_t kRowChunks = 32;

// GELU is written on 4-float vectors (GCC/Clang vector extensions, SSE on the baseline ISA) with its
// own exponential, because libm's tanhf is a scalar call that costs more than the rest of the layer
// (about 20 ns per element; this path takes about 1).
using F4 = float __attribute__((vector_size(16)));
using I4 = std::int32_t __attribute__((vector_size(16)));
constexpr std::int64_t kGeluBlock = 4096;  // elements per parallel work item
constexpr float kSqrt2OverPi = 0.7978845608028654f;  // √(2/π): u = √(2/π)(x + kGeluCubic·x³)
constexpr float kGeluCubic = 0.044715f;

inline F4 broadcast(float v) { return F4{v, v, v, v}; }

// e^z for z in [-70, 70]: z = n·ln2 + r with |r| <= ln2/2 (n rounded by adding 1.5·2^23), e^r by its
// Taylor series to r^7 (truncation below 1e-8 relative), 2^n built in the exponent bits; within
// 2-3 ulp of the exact value.
inline F4 exp4(F4 z) {
  const F4 magic = broadcast(12582912.f);  // 1.5·2^23: adding it rounds to an integer in the low bits
  const F4 t = z * 1.44269504088896341f + magic;
  const F4 n = t - magic;
  const I4 ni = reinterpret_cast<I4>(t) - reinterpret_cast<I4>(magic);
  const F4 r = (z - n * 0.693359375f) - n * -2.12194440e-4f;  // ln2 split so n·ln2_hi is exact
  F4 p = broadcast(1.f / 5040.f);
  p = p * r + 1.f / 720.f;
  p = p * r + 1.f / 120.f;
  p = p * r + 1.f / 24.f;
  p = p * r + 1.f / 6.f;
  p = p * r + 0.5f;
  p = p * r + 1.f;
  p = p * r + 1.f;
  return p * reinterpret_cast<F4>((ni + 127) << 23);
}

// GELU(tanh) as x·σ(2u), u = √(2/π)(x + 0.044715x³), since ½(1 + tanh u) = σ(2u) = 1 / (1 + e^(−2u)):
// the same function without the cancellation of 1 + tanh u for negative x. x is clamped to ±9 inside
// σ, where σ is 1 in float above and below 2e-29 (e^(∓2u) stays in [1e-29, 1e29], no overflow and
// no subnormal). With s = σ(2u) and e = e^(−2u): s(1 − s) = e·s², so
// gelu'(x) = s + 2x·e·s²·u'(x), u' = √(2/π)(1 + 3·0.044715x²), with x clamped in the second term too.
struct GeluTerms {
  F4 s, e, xc;
};
inline GeluTerms gelu_terms(F4 x) {
  const F4 lo = broadcast(-9.f), hi = broadcast(9.f);
  F4 xc = x < lo ? lo : x;
  xc = xc > hi ? hi : xc;
  const F4 u = kSqrt2OverPi * (xc + kGeluCubic * xc * xc * xc);
  const F4 e = exp4(-2.f * u);
  return {1.f / (1.f + e), e, xc};
}
inline F4 gelu4(F4 x) { return x * gelu_terms(x).s; }
inline F4 gelu_grad4(F4 x) {
  const GeluTerms g = gelu_terms(x);
  const F4 du = kSqrt2OverPi * (1.f + 3.f * kGeluCubic * g.xc * g.xc);
  return g.s + 2.f * g.xc * g.e * g.s * g.s * du;  // past ±9 that term is below 1e-26: xc keeps it finite
}

inline F4 load4(const float* p) {
  F4 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store4(float* p, F4 v) { std::memcpy(p, &v, sizeof v); }

// out[i] = f(in[i]...) over [0, n), 4 elements at a time, in parallel blocks of kGeluBlock; the tail
// goes through zero-padded copies.
template <class F, class... In>
void map4(const char* name, std::int64_t work_per_element, float* out, std::int64_t n, F f, const In*... in) {
  const std::int64_t blocks = (n + kGeluBlock - 1) / kGeluBlock;
  host_for(name, blocks, kGeluBlock * work_per_element, [=](std::int64_t b) {
    const std::int64_t begin = b * kGeluBlock, end = std::min(n, begin + kGeluBlock);
    std::int64_t i = begin;
    for (; i + 4 <= end; i += 4) store4(out + i, f(load4(in + i)...));
    if (i == end) return;
    const auto padded = [&](const float* p) {
      float v[4] = {};
      std::copy_n(p + i, end - i, v);
      return load4(v);
    };
    float result[4];
    store4(result, f(padded(in)...));
    std::copy_n(result, end - i, out + i);
  });
}

}  // namespace

void embedding_forward(float* out, const std::int32_t* tokens, const float* wte, std::int64_t vocab_begin,
                       std::int64_t vocab_rows, std::int64_t n, std::int64_t c) {
  host_for("meridian::nn::gpt::embedding_forward", n, c, [=](std::int64_t i) {
    const std::int64_t row = static_cast<std::int64_t>(tokens[i]) - vocab_begin;
    float* o = out + i * c;
    if (row >= 0 && row < vocab_rows) {
      std::copy_n(wte + row * c, c, o);
    } else {
      std::fill_n(o, c, 0.f);
    }
  });
}

void embedding_backward(float* dwte, const std::int32_t* tokens, const float* dout, std::int64_t vocab_begin,
                        std::int64_t vocab_rows, std::int64_t n, std::int64_t c) {
  // Serial over rows: two positions with the same token add into one gradient row.
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t row = static_cast<std::int64_t>(tokens[i]) - vocab_begin;
    if (row < 0 || row >= vocab_rows) continue;
    float* g = dwte + row * c;
    const float* d = dout + i * c;
    for (std::int64_t j = 0; j < c; ++j) g[j] += d[j];
  }
}

void add_positions(float* x, const float* wpe, std::int64_t b, std::int64_t t, std::int64_t c) {
  host_for("meridian::nn::gpt::add_positions", b * t, c, [=](std::int64_t i) {
    float* o = x + i * c;
    const float* p = wpe + (i % t) * c;
    for (std::int64_t j = 0; j < c; ++j) o[j] += p[j];
  });
}

void positions_backward(float* dwpe, const float* dout, std::int64_t b, std::int64_t t, std::int64_t c) {
  host_for("meridian::nn::gpt::positions_backward", t, b * c, [=](std::int64_t ti) {
    float* g = dwpe + ti * c;
    for (std::int64_t bi = 0; bi < b; ++bi) {
      const float* d = dout + (bi * t + ti) * c;
      for (std::int64_t j = 0; j < c; ++j) g[j] += d[j];
    }
  });
}

void layernorm_forward(float* out, float* mean, float* rstd, const float* x, const float* w, const float* b,
                       std::int64_t n, std::int64_t c) {
  host_for("meridian::nn::gpt::layernorm_forward", n, 4 * c, [=](std::int64_t i) {
    const float* xi = x + i * c;
    float s = 0.f;
    for (std::int64_t j = 0; j < c; ++j) s += xi[j];
    const float m = s / static_cast<float>(c);
    float v = 0.f;
    for (std::int64_t j = 0; j < c; ++j) {
      const float d = xi[j] - m;
      v += d * d;
    }
    const float r = 1.f / std::sqrt(v / static_cast<float>(c) + kLayerNormEps);
    float* o = out + i * c;
    for (std::int64_t j = 0; j < c; ++j) o[j] = (xi[j] - m) * r * w[j] + b[j];
    mean[i] = m;
    rstd[i] = r;
  });
}

void layernorm_backward(float* dx, float* dw, float* db, const float* dout, const float* x, const float* w,
                        const float* mean, const float* rstd, std::int64_t n, std::int64_t c) {
  const std::int64_t chunks = std::min(n, kRowChunks);
  const std::int64_t rows_per_chunk = (n + chunks - 1) / std::max<std::int64_t>(chunks, 1);
  // partial[k] holds chunk k's sums for dw (first c) and db (next c).
  std::vector<float> partial(static_cast<std::size_t>(chunks * 2 * c), 0.f);
  float* part = partial.data();
  host_for("meridian::nn::gpt::layernorm_backward", chunks, rows_per_chunk * 6 * c, [=](std::int64_t k) {
    float* pw = part + k * 2 * c;
    float* pb = pw + c;
    const std::int64_t end = std::min(n, (k + 1) * rows_per_chunk);
    for (std::int64_t i = k * rows_per_chunk; i < end; ++i) {
      const float* xi = x + i * c;
      const float* di = dout + i * c;
      const float m = mean[i], r = rstd[i];
      // mean over channels of w·dout and of w·dout·x̂ (x̂ the normalised input)
      float mean_g = 0.f, mean_gx = 0.f;
      for (std::int64_t j = 0; j < c; ++j) {
        const float xhat = (xi[j] - m) * r;
        const float g = w[j] * di[j];
        mean_g += g;
        mean_gx += g * xhat;
      }
      mean_g /= static_cast<float>(c);
      mean_gx /= static_cast<float>(c);
      float* dxi = dx + i * c;
      for (std::int64_t j = 0; j < c; ++j) {
        const float xhat = (xi[j] - m) * r;
        const float g = w[j] * di[j];
        dxi[j] += (g - mean_g - xhat * mean_gx) * r;
        pw[j] += xhat * di[j];
        pb[j] += di[j];
      }
    }
  });
  for (std::int64_t k = 0; k < chunks; ++k) {
    const float* pw = part + k * 2 * c;
    for (std::int64_t j = 0; j < c; ++j) {
      dw[j] += pw[j];
      db[j] += pw[c + j];
    }
  }
}

void linear_forward(float* out, const float* x, const float* w, const float* bias, std::int64_t n,
                    std::int64_t in, std::int64_t out_features, MatmulPrecision precision) {
  float beta = 0.f;
  if (bias != nullptr) {
    host_for("meridian::nn::gpt::linear_bias", n, out_features, [=](std::int64_t i) {
      std::copy_n(bias, out_features, out + i * out_features);
    });
    beta = 1.f;
  }
  gemm(precision, Trans::no, Trans::no, n, out_features, in, 1.f, x, in, w, out_features, beta, out, out_features);
}

void nm_linear_forward(float* out, const float* x, const float* values, const std::uint8_t* index,
                       const NMLayout& layout, const float* bias, std::int64_t n) {
  const std::int64_t cols = layout.cols;
  float beta = 0.f;
  if (bias != nullptr) {
    host_for("meridian::nn::gpt::nm_linear_bias", n, cols, [=](std::int64_t i) { std::copy_n(bias, cols, out + i * cols); });
    beta = 1.f;
  }
  kernels::cpu::nm_spmm(n, layout, 1.f, x, layout.k, values, index, beta, out, cols);
}

void nm_linear_backward(float* dx, float* dvalues, float* dbias, const float* dout, const float* x,
                        const float* values, const std::uint8_t* index, const NMLayout& layout, std::int64_t n) {
  kernels::cpu::nm_spmm_grad_b(n, layout, 1.f, x, layout.k, dout, layout.cols, index, 1.f, dvalues);
  if (dbias != nullptr) add_column_sums(dbias, dout, n, layout.cols);
  kernels::cpu::nm_spmm_grad_a(n, layout, 1.f, dout, layout.cols, values, index, 0.f, dx, layout.k);
}

void add_column_sums(float* out, const float* m, std::int64_t rows, std::int64_t cols) {
  constexpr std::int64_t kBlock = 64;  // columns per task: rows of 256 contiguous bytes
  const std::int64_t blocks = (cols + kBlock - 1) / kBlock;
  host_for("meridian::nn::gpt::column_sums", blocks, rows * kBlock, [=](std::int64_t blk) {
    const std::int64_t j0 = blk * kBlock, j1 = std::min(cols, j0 + kBlock);
    float acc[kBlock] = {};
    for (std::int64_t i = 0; i < rows; ++i) {
      const float* r = m + i * cols;
      for (std::int64_t j = j0; j < j1; ++j) acc[j - j0] += r[j];
    }
    for (std::int64_t j = j0; j < j1; ++j) out[j] += acc[j - j0];
  });
}

void linear_backward(float* dx, float* dw, float* dbias, const float* dout, const float* x, const float* w,
                     std::int64_t n, std::int64_t in, std::int64_t out_features, bool accumulate_dx,
                     MatmulPrecision precision) {
  gemm(precision, Trans::yes, Trans::no, in, out_features, n, 1.f, x, in, dout, out_features, 1.f, dw, out_features);
  if (dbias != nullptr) add_column_sums(dbias, dout, n, out_features);
  if (dx != nullptr) {
    gemm(precision, Trans::no, Trans::yes, n, in, out_features, 1.f, dout, out_features, w, out_features,
         accumulate_dx ? 1.f : 0.f, dx, in);
  }
}

void attention_forward(float* out, float* att, const float* qkv, std::int64_t b, std::int64_t t, std::int64_t c,
                       std::int64_t nh, MatmulPrecision precision) {
  const std::int64_t hs = c / nh;
  const float scale = 1.f / std::sqrt(static_cast<float>(hs));
  host_for("meridian::nn::gpt::attention_forward", b * nh, 4 * t * t * hs, [=](std::int64_t bh) {
    const std::int64_t bi = bh / nh, h = bh % nh;
    const float* q = qkv + bi * t * 3 * c + h * hs;
    const float* k = q + c;
    const float* v = q + 2 * c;
    float* a = att + bh * t * t;
    // scores (T, T) = q·kᵀ / sqrt(hs); the upper triangle is computed and then discarded
    gemm(precision, Trans::no, Trans::yes, t, t, hs, scale, q, 3 * c, k, 3 * c, 0.f, a, t);
    for (std::int64_t i = 0; i < t; ++i) {
      float* row = a + i * t;
      float mx = row[0];
      for (std::int64_t j = 1; j <= i; ++j) mx = std::max(mx, row[j]);
      float sum = 0.f;
      for (std::int64_t j = 0; j <= i; ++j) {
        row[j] = std::exp(row[j] - mx);
        sum += row[j];
      }
      const float inv = 1.f / sum;
      for (std::int64_t j = 0; j <= i; ++j) row[j] *= inv;
      std::fill(row + i + 1, row + t, 0.f);
    }
    gemm(precision, Trans::no, Trans::no, t, hs, t, 1.f, a, t, v, 3 * c, 0.f, out + bi * t * c + h * hs, c);
  });
}

void attention_backward(float* dqkv, float* scratch, const float* dout, const float* qkv, const float* att,
                        std::int64_t b, std::int64_t t, std::int64_t c, std::int64_t nh,
                        MatmulPrecision precision) {
  const std::int64_t hs = c / nh;
  const float scale = 1.f / std::sqrt(static_cast<float>(hs));
  host_for("meridian::nn::gpt::attention_backward", b * nh, 8 * t * t * hs, [=](std::int64_t bh) {
    const std::int64_t bi = bh / nh, h = bh % nh;
    const std::int64_t base = bi * t * 3 * c + h * hs;
    const float* q = qkv + base;
    const float* k = q + c;
    const float* v = q + 2 * c;
    float* dq = dqkv + base;
    float* dk = dq + c;
    float* dv = dq + 2 * c;
    const float* a = att + bh * t * t;
    const float* d = dout + bi * t * c + h * hs;
    float* ds = scratch + bh * t * t;
    gemm(precision, Trans::no, Trans::yes, t, t, hs, 1.f, d, c, v, 3 * c, 0.f, ds, t);  // dP = dout·vᵀ
    gemm(precision, Trans::yes, Trans::no, t, hs, t, 1.f, a, t, d, c, 0.f, dv, 3 * c);  // dv = Pᵀ·dout
    // softmax backward, row by row: dS = P ∘ (dP − Σ_j P·dP)
    for (std::int64_t i = 0; i < t; ++i) {
      const float* p = a + i * t;
      float* row = ds + i * t;
      float dot = 0.f;
      for (std::int64_t j = 0; j <= i; ++j) dot += p[j] * row[j];
      for (std::int64_t j = 0; j <= i; ++j) row[j] = p[j] * (row[j] - dot);
      std::fill(row + i + 1, row + t, 0.f);
    }
    gemm(precision, Trans::no, Trans::no, t, hs, t, scale, ds, t, k, 3 * c, 0.f, dq, 3 * c);   // dq = dS·k / √hs
    gemm(precision, Trans::yes, Trans::no, t, hs, t, scale, ds, t, q, 3 * c, 0.f, dk, 3 * c);  // dk = dSᵀ·q / √hs
  });
}

void gelu_forward(float* out, const float* x, std::int64_t n) {
  map4("meridian::nn::gpt::gelu_forward", 4, out, n, [](F4 v) { return gelu4(v); }, x);
}

void gelu_backward(float* dx, const float* x, const float* dout, std::int64_t n) {
  map4("meridian::nn::gpt::gelu_backward", 5, dx, n, [](F4 v, F4 d) { return gelu_grad4(v) * d; }, x, dout);
}

void residual_forward(float* out, const float* a, const float* b, std::int64_t n) {
  host_for("meridian::nn::gpt::residual_forward", n, 1, [=](std::int64_t i) { out[i] = a[i] + b[i]; });
}

void bias_residual_forward(float* out, const float* x, const float* y, const float* bias, std::int64_t n,
                           std::int64_t c) {
  host_for("meridian::nn::gpt::bias_residual_forward", n, c, [=](std::int64_t i) {
    const std::int64_t o = i * c;
    for (std::int64_t j = 0; j < c; ++j) out[o + j] = x[o + j] + y[o + j] + bias[j];
  });
}

void cross_entropy_row_max(float* row_max, const float* logits, std::int64_t n, std::int64_t v_local,
                           std::int64_t valid) {
  host_for("meridian::nn::gpt::ce_max", n, valid, [=](std::int64_t i) {
    const float* row = logits + i * v_local;
    float mx = -std::numeric_limits<float>::infinity();
    for (std::int64_t j = 0; j < valid; ++j) mx = std::max(mx, row[j]);
    row_max[i] = mx;
  });
}

void cross_entropy_sums(float* sums, const float* logits, const float* row_max, const std::int32_t* targets,
                        std::int64_t vocab_begin, std::int64_t n, std::int64_t v_local, std::int64_t valid) {
  host_for("meridian::nn::gpt::ce_sum", n, 4 * valid, [=](std::int64_t i) {
    const float* row = logits + i * v_local;
    const float mx = row_max[i];
    float s = 0.f;
    for (std::int64_t j = 0; j < valid; ++j) s += std::exp(row[j] - mx);
    sums[i] = s;
    const std::int64_t local = targets[i] - vocab_begin;
    sums[n + i] = (local >= 0 && local < v_local) ? row[local] : 0.f;
  });
}

void cross_entropy_backward(float* dlogits, const float* logits, const float* lse, const std::int32_t* targets,
                            std::int64_t vocab_begin, std::int64_t n, std::int64_t v_local, std::int64_t valid,
                            float scale) {
  host_for("meridian::nn::gpt::ce_backward", n, 4 * v_local, [=](std::int64_t i) {
    const float* row = logits + i * v_local;
    float* drow = dlogits + i * v_local;
    for (std::int64_t j = 0; j < valid; ++j) drow[j] = scale * std::exp(row[j] - lse[i]);
    for (std::int64_t j = valid; j < v_local; ++j) drow[j] = 0.f;
    const std::int64_t local = targets[i] - vocab_begin;
    if (local >= 0 && local < v_local) drow[local] -= scale;
  });
}

}  // namespace meridian::nn::gpt
