// The GPT model's kernels on device memory, fp32: the same functions, arguments and semantics as
// lib/nn/gpt_kernels.hpp (the CPU kernels the tests compare against) plus a trailing stream. Shapes in
// llm.c's convention: B batch, T time, C channels, N = B·T rows, NH heads of hs = C/NH channels.
// Every reduction is written without atomics (fixed orders), so results do not vary between runs.
// Matmuls go to cuBLAS through kernels/cuda/ops.hpp: fp32 (CUDA cores), or bf16 inputs on tensor cores
// with fp32 accumulation where a function takes MatmulPrecision::bf16. Host-compilable (g++).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "kernels/common/dtype.hpp"

namespace meridian::kernels::cuda::gpt {

void embedding_forward(float* out, const std::int32_t* tokens, const float* wte, std::int64_t vocab_begin,
                       std::int64_t vocab_rows, std::int64_t n, std::int64_t c, cudaStream_t stream = nullptr);
// One thread per (vocabulary row, channel) walks the N positions in order: deterministic.
void embedding_backward(float* dwte, const std::int32_t* tokens, const float* dout, std::int64_t vocab_begin,
                        std::int64_t vocab_rows, std::int64_t n, std::int64_t c, cudaStream_t stream = nullptr);
void add_positions(float* x, const float* wpe, std::int64_t b, std::int64_t t, std::int64_t c,
                   cudaStream_t stream = nullptr);
void positions_backward(float* dwpe, const float* dout, std::int64_t b, std::int64_t t, std::int64_t c,
                        cudaStream_t stream = nullptr);

void layernorm_forward(float* out, float* mean, float* rstd, const float* x, const float* w, const float* b,
                       std::int64_t n, std::int64_t c, cudaStream_t stream = nullptr);
// dx += ..., dw += ..., db += ...; `scratch` holds 2·C·ceil(N/32) floats (per-chunk partial sums).
void layernorm_backward(float* dx, float* dw, float* db, const float* dout, const float* x, const float* w,
                        const float* mean, const float* rstd, std::int64_t n, std::int64_t c, float* scratch,
                        cudaStream_t stream = nullptr);
std::int64_t layernorm_backward_scratch_floats(std::int64_t n, std::int64_t c);

void linear_forward(float* out, const float* x, const float* w, const float* bias, std::int64_t n, std::int64_t in,
                    std::int64_t out_features, MatmulPrecision precision = MatmulPrecision::fp32,
                    cudaStream_t stream = nullptr);
void linear_backward(float* dx, float* dw, float* dbias, const float* dout, const float* x, const float* w,
                     std::int64_t n, std::int64_t in, std::int64_t out_features, bool accumulate_dx,
                     MatmulPrecision precision = MatmulPrecision::fp32, cudaStream_t stream = nullptr);
void add_column_sums(float* out, const float* m, std::int64_t rows, std::int64_t cols, cudaStream_t stream = nullptr);

void attention_forward(float* out, float* att, const float* qkv, std::int64_t b, std::int64_t t, std::int64_t c,
                       std::int64_t nh, MatmulPrecision precision = MatmulPrecision::fp32,
                       cudaStream_t stream = nullptr);
void attention_backward(float* dqkv, float* scratch, const float* dout, const float* qkv, const float* att,
                        std::int64_t b, std::int64_t t, std::int64_t c, std::int64_t nh,
                        MatmulPrecision precision = MatmulPrecision::fp32, cudaStream_t stream = nullptr);

void gelu_forward(float* out, const float* x, std::int64_t n, cudaStream_t stream = nullptr);
void gelu_backward(float* dx, const float* x, const float* dout, std::int64_t n, cudaStream_t stream = nullptr);
void residual_forward(float* out, const float* a, const float* b, std::int64_t n, cudaStream_t stream = nullptr);
void bias_residual_forward(float* out, const float* x, const float* y, const float* bias, std::int64_t n,
                           std::int64_t c, cudaStream_t stream = nullptr);

// The vocabulary-parallel cross-entropy's local steps on logits (N, V_local) whose first `valid`
// columns are real tokens: row maxima; then, given the group's maxima, the sums of exponentials into
// sums[0, N) and the target's logit (0 when another rank holds it) into sums[N, 2N); and the gradient
// dlogits = scale·(exp(l − lse) − onehot) (zero for padded columns).
void cross_entropy_row_max(float* row_max, const float* logits, std::int64_t n, std::int64_t v_local,
                           std::int64_t valid, cudaStream_t stream = nullptr);
void cross_entropy_sums(float* sums, const float* logits, const float* row_max, const std::int32_t* targets,
                        std::int64_t vocab_begin, std::int64_t n, std::int64_t v_local, std::int64_t valid,
                        cudaStream_t stream = nullptr);
void cross_entropy_backward(float* dlogits, const float* logits, const float* lse, const std::int32_t* targets,
                            std::int64_t vocab_begin, std::int64_t n, std::int64_t v_local, std::int64_t valid,
                            float scale, cudaStream_t stream = nullptr);

// AdamW (PyTorch's semantics, as nn::adamw_update): decoupled decay, bias-corrected moments.
void adamw_update(float* w, const float* g, float* m, float* v, std::int64_t n, float lr, float beta1, float beta2,
                  float eps, float weight_decay, std::int64_t step, cudaStream_t stream = nullptr);

// Σ x[i]² in double: per-block partial sums, added on the host in block order (deterministic).
// Synchronizes `stream`.
double sum_of_squares(const float* x, std::int64_t n, cudaStream_t stream = nullptr);
// The same for each range [begin, end) of x at once (the gradient norm's parameters): every range's
// partial sums come back in one copy, so `stream` is synchronized once however many ranges there
// are; each sum equals sum_of_squares of its range alone.
std::vector<double> sums_of_squares(const float* x, const std::vector<std::pair<std::int64_t, std::int64_t>>& ranges,
                                    cudaStream_t stream = nullptr);

}  // namespace meridian::kernels::cuda::gpt
