// The CPU fp32 kernels of the GPT model (lib/nn/gpt.hpp), one function per operation, forward and
// backward, on raw host memory. Shapes in llm.c's convention: B batch, T time, C channels, N = B·T
// rows, NH heads of hs = C/NH channels; "x is (N, C)" means row n = b·T + t holds C floats.
// Backward functions ADD into parameter gradients (micro-batches accumulate); what they do to the
// input gradient is stated per function. Matmuls go to OpenBLAS (kernels/cpu gemm), in fp32 or, where
// a function takes MatmulPrecision::bf16, with their inputs rounded to bf16 (kernels/common/dtype.hpp);
// loops run on the Kokkos host space through nn::host_for.
#pragma once

#include <cstdint>

#include "kernels/common/dtype.hpp"
#include "kernels/common/nm_layout.hpp"

namespace meridian::nn::gpt {

// out (N, C) = wte[tokens[n] - vocab_begin] for tokens in [vocab_begin, vocab_begin + vocab_rows),
// zero rows for tokens outside (another tensor-parallel rank owns them). wte is (vocab_rows, C).
void embedding_forward(float* out, const std::int32_t* tokens, const float* wte, std::int64_t vocab_begin,
                       std::int64_t vocab_rows, std::int64_t n, std::int64_t c);
// dwte (vocab_rows, C) += the rows of dout (N, C) of the tokens this rank owns.
void embedding_backward(float* dwte, const std::int32_t* tokens, const float* dout, std::int64_t vocab_begin,
                        std::int64_t vocab_rows, std::int64_t n, std::int64_t c);
// x (B, T, C) += wpe[t] (wpe is (maxT, C), T <= maxT).
void add_positions(float* x, const float* wpe, std::int64_t b, std::int64_t t, std::int64_t c);
// dwpe (maxT, C): rows t < T += Σ_b dout[b, t].
void positions_backward(float* dwpe, const float* dout, std::int64_t b, std::int64_t t, std::int64_t c);

// LayerNorm over the last dimension, eps 1e-5: out (N, C) = (x − mean)·rstd·w + b; mean, rstd (N) are
// kept for backward.
void layernorm_forward(float* out, float* mean, float* rstd, const float* x, const float* w, const float* b,
                       std::int64_t n, std::int64_t c);
// dx (N, C) += ∂/∂x; dw, db (C) += ∂/∂w, ∂/∂b.
void layernorm_backward(float* dx, float* dw, float* db, const float* dout, const float* x, const float* w,
                        const float* mean, const float* rstd, std::int64_t n, std::int64_t c);

// out (N, out) = x (N, in) · w (in, out) + bias (out; may be null).
void linear_forward(float* out, const float* x, const float* w, const float* bias, std::int64_t n,
                    std::int64_t in, std::int64_t out_features,
                    MatmulPrecision precision = MatmulPrecision::fp32);
// dw (in, out) += xᵀ·dout; dbias (out; may be null) += column sums of dout; dx (N, in) = dout·wᵀ, or
// += when accumulate_dx; dx may be null (not wanted).
void linear_backward(float* dx, float* dw, float* dbias, const float* dout, const float* x, const float* w,
                     std::int64_t n, std::int64_t in, std::int64_t out_features, bool accumulate_dx,
                     MatmulPrecision precision = MatmulPrecision::fp32);
// The same with W N:M sparse along `in` (layout.k = in, layout.cols = out): W held as its kept values
// (kept_rows, out) and their u8 index (kernels/common/nm_layout.hpp), through the N:M SpMM kernels.
void nm_linear_forward(float* out, const float* x, const float* values, const std::uint8_t* index,
                       const NMLayout& layout, const float* bias, std::int64_t n);
// dvalues += xᵀ·dout at the kept positions; dbias (may be null) += column sums; dx (N, in) = dout·Wᵀ.
void nm_linear_backward(float* dx, float* dvalues, float* dbias, const float* dout, const float* x,
                        const float* values, const std::uint8_t* index, const NMLayout& layout, std::int64_t n);
// out (cols) += column sums of m (rows, cols).
void add_column_sums(float* out, const float* m, std::int64_t rows, std::int64_t cols);

// Causal multi-head self-attention core. qkv (B, T, 3C) holds [q | k | v], head h in channels
// [h·hs, (h+1)·hs) of each; out (B, T, C); att (B, NH, T, T) keeps the softmax probabilities (zero
// above the diagonal) for backward. Scores are scaled by 1/sqrt(hs).
void attention_forward(float* out, float* att, const float* qkv, std::int64_t b, std::int64_t t, std::int64_t c,
                       std::int64_t nh, MatmulPrecision precision = MatmulPrecision::fp32);
// dqkv (B, T, 3C) = the gradient with respect to qkv (overwritten); scratch is (B, NH, T, T).
void attention_backward(float* dqkv, float* scratch, const float* dout, const float* qkv, const float* att,
                        std::int64_t b, std::int64_t t, std::int64_t c, std::int64_t nh,
                        MatmulPrecision precision = MatmulPrecision::fp32);

// GELU, tanh approximation: out = ½x(1 + tanh(√(2/π)(x + 0.044715x³))).
void gelu_forward(float* out, const float* x, std::int64_t n);
// dx = gelu'(x)·dout (overwritten).
void gelu_backward(float* dx, const float* x, const float* dout, std::int64_t n);

// out = a + b, elementwise.
void residual_forward(float* out, const float* a, const float* b, std::int64_t n);
// out (N, C) = x + y + bias (C) broadcast over rows (a row-parallel linear's bias after its all-reduce,
// plus the residual).
void bias_residual_forward(float* out, const float* x, const float* y, const float* bias, std::int64_t n,
                           std::int64_t c);

// The vocabulary-parallel cross-entropy's local steps on logits (N, V_local) whose first `valid`
// columns are real tokens (the rest padding): row maxima; then, given the group's maxima, the sums of
// exponentials into sums[0, N) and the target's logit (0 when another rank holds the target) into
// sums[N, 2N); and dlogits = scale·(exp(l − lse) − onehot) (zero in padded columns).
void cross_entropy_row_max(float* row_max, const float* logits, std::int64_t n, std::int64_t v_local,
                           std::int64_t valid);
void cross_entropy_sums(float* sums, const float* logits, const float* row_max, const std::int32_t* targets,
                        std::int64_t vocab_begin, std::int64_t n, std::int64_t v_local, std::int64_t valid);
void cross_entropy_backward(float* dlogits, const float* logits, const float* lse, const std::int32_t* targets,
                            std::int64_t vocab_begin, std::int64_t n, std::int64_t v_local, std::int64_t valid,
                            float scale);

}  // namespace meridian::nn::gpt
