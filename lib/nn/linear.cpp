// Linear on the CPU: y = x·W + b with x (B, in), W (in, out), b (out). Forward writes b into every row
// of y and lets sgemm add x·W (beta = 1); backward is two sgemms and a column sum.
#include "nn/linear.hpp"

#include <cmath>

#include "core/ops.hpp"
#include "nn/checks.hpp"
#include "nn/host_parallel.hpp"

namespace meridian::nn {
namespace {

// Adds the column sums of m (rows, cols) to out (cols), accumulating each column in double.
void add_column_sums(const Tensor& m, Tensor& out, const char* kernel_name) {
  const std::int64_t rows = m.size(0), cols = m.size(1);
  const float* mp = m.data<float>();
  float* op = out.data<float>();
  host_for(kernel_name, cols, rows, [=](const std::int64_t j) {
    double s = 0.0;
    for (std::int64_t i = 0; i < rows; ++i) s += mp[i * cols + j];
    op[j] += static_cast<float>(s);
  });
}

}  // namespace

Linear::Linear(std::string name, std::int64_t in, std::int64_t out, const InitKey& init, bool bias)
    : Layer(std::move(name)), in_(in), out_(out) {
  MERIDIAN_CHECK(in > 0 && out > 0, describe(), ": in and out must be positive, got in = ", in, ", out = ", out);
  const float bound = 1.f / std::sqrt(static_cast<float>(in));
  weight_ = make_parameter(this->name() + ".weight", {in, out});
  init_uniform(weight_.value, init, 0, bound);
  if (bias) {
    bias_ = make_parameter(this->name() + ".bias", {out});
    init_uniform(bias_.value, init, 1, bound);
  }
}

std::vector<Parameter*> Linear::parameters() {
  if (has_bias()) return {&weight_, &bias_};
  return {&weight_};
}

Tensor Linear::forward(const Tensor& x_in, bool training) {
  const Tensor x = require_host_f32(x_in, describe(), "x", {-1, in_}, "(B, in)");
  const std::int64_t batch = x.size(0);
  Tensor y = Tensor::empty({batch, out_});
  float beta = 0.f;
  if (has_bias()) {
    const float* b = bias_.value.data<float>();
    float* yp = y.data<float>();
    const std::int64_t out = out_;
    host_for("meridian::nn::linear_bias", batch, out, [=](const std::int64_t i) {
      for (std::int64_t j = 0; j < out; ++j) yp[i * out + j] = b[j];
    });
    beta = 1.f;
  }
  ops::matmul(x, weight_.value, y, false, false, 1.f, beta);
  x_ = training ? x : Tensor();
  return y;
}

Tensor Linear::backward(const Tensor& dy_in) {
  require_cache(x_.defined());
  const Tensor dy = require_host_f32(dy_in, describe(), "dy", {x_.size(0), out_}, "(B, out)");
  ops::matmul(x_, dy, weight_.grad, true, false, 1.f, 1.f);  // dW (in, out) += xᵀ (in, B) · dy (B, out)
  if (has_bias()) add_column_sums(dy, bias_.grad, "meridian::nn::linear_bias_grad");
  if (!input_grad_needed()) return Tensor();
  Tensor dx = Tensor::empty({x_.size(0), in_});
  ops::matmul(dy, weight_.value, dx, false, true);  // dx (B, in) = dy (B, out) · Wᵀ (out, in)
  return dx;
}

}  // namespace meridian::nn
