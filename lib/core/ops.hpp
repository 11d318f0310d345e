// Backend dispatch: each op is called once on tensors and runs the cpu or cuda kernel of
// kernels/ for the tensors' device. Operands must be contiguous and on one device; f32 (and f64
// where noted) for arithmetic. Shapes: elementwise ops need equal numel; matmul is row-major.
#pragma once

#include <cstdint>

#include "core/tensor.hpp"

namespace meridian::ops {

void fill(Tensor& t, double value);                       // any dtype
void copy(Tensor& dst, const Tensor& src);                 // same dtype and numel, any devices
void convert(Tensor& dst, const Tensor& src);              // same numel, same device, any dtypes
void axpy(float alpha, const Tensor& x, Tensor& y);        // y += alpha * x   (f32, f64)
void scale(Tensor& x, float alpha);                        // x *= alpha       (f32, f64)
void add(const Tensor& a, const Tensor& b, Tensor& out);   // out = a + b      (f32, f64)
void mul(const Tensor& a, const Tensor& b, Tensor& out);   // out = a * b      (f32, f64)
double sum(const Tensor& x);                               // f32, f64; accumulated in double
double max(const Tensor& x);                               // f32, f64; numel > 0; NaN propagates

// Counter-based random fills (f32): element i draws word `offset + i` of stream `stream` under
// `seed`; the same numbers on cpu and cuda and for any thread count.
void uniform(Tensor& t, std::uint64_t seed, std::uint64_t stream, float lo = 0.f, float hi = 1.f,
             std::uint64_t offset = 0);
void normal(Tensor& t, std::uint64_t seed, std::uint64_t stream, float mean = 0.f, float stddev = 1.f,
            std::uint64_t offset = 0);

// c = alpha * op(a) * op(b) + beta * c for 2-D (m,k)x(k,n) or batched 3-D (b,m,k)x(b,k,n) tensors;
// f32 everywhere, f64 on cpu, bf16 on cuda. Transposes refer to the last two dimensions.
void matmul(const Tensor& a, const Tensor& b, Tensor& c, bool transpose_a = false,
            bool transpose_b = false, float alpha = 1.f, float beta = 0.f);

}  // namespace meridian::ops
