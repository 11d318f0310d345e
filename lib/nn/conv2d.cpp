// Conv2d on the CPU: forward = im2col, Y (OC, B·OH·OW) = W (OC, C·K·K) · cols, then a permute to
// (B, OC, OH, OW) with the bias added; backward = the permute back, two sgemms and col2im.
#include "nn/conv2d.hpp"

#include <cmath>

#include "core/ops.hpp"
#include "nn/checks.hpp"
#include "nn/host_parallel.hpp"

namespace meridian::nn {
namespace {

// t itself when it already has `shape`, else a new (uninitialised) host f32 tensor of that shape.
Tensor& workspace(Tensor& t, const Shape& shape) {
  if (!t.defined() || t.shape() != shape) t = Tensor::empty(shape);
  return t;
}

}  // namespace

Conv2d::Conv2d(std::string name, const Conv2dShape& shape, const InitKey& init)
    : Layer(std::move(name)), shape_(shape) {
  MERIDIAN_CHECK(
      shape.in_channels > 0 && shape.out_channels > 0 && shape.kernel > 0 && shape.stride > 0 && shape.padding >= 0,
      describe(), ": channels, kernel and stride must be positive and padding non-negative, got in ", shape.in_channels,
      ", out ", shape.out_channels, ", kernel ", shape.kernel, ", stride ", shape.stride, ", padding ", shape.padding);
  const std::int64_t fan_in = shape.in_channels * shape.kernel * shape.kernel;
  const float bound = 1.f / std::sqrt(static_cast<float>(fan_in));
  weight_ =
      make_parameter(this->name() + ".weight", {shape.out_channels, shape.in_channels, shape.kernel, shape.kernel});
  bias_ = make_parameter(this->name() + ".bias", {shape.out_channels});
  init_uniform(weight_.value, init, 0, bound);
  init_uniform(bias_.value, init, 1, bound);
}

Tensor Conv2d::forward(const Tensor& x_in, bool training) {
  const Tensor x = require_host_f32(x_in, describe(), "x", {-1, shape_.in_channels, -1, -1}, "(B, C, H, W)");
  const ConvGeometry g{.batch = x.size(0),
                       .channels = shape_.in_channels,
                       .height = x.size(2),
                       .width = x.size(3),
                       .kernel = shape_.kernel,
                       .stride = shape_.stride,
                       .padding = shape_.padding};
  MERIDIAN_CHECK(x.size(2) + 2 * g.padding >= g.kernel && x.size(3) + 2 * g.padding >= g.kernel, describe(), ": input ",
                 shape_string(x.shape()), " with padding ", g.padding, " is smaller than the kernel ", g.kernel);
  const std::int64_t oc = shape_.out_channels, oh = g.out_height(), ow = g.out_width(), plane = oh * ow;
  Tensor& cols = workspace(cols_, {g.col_rows(), g.col_cols()});
  im2col(g, x.data<float>(), cols.data<float>());
  Tensor& y_mat = workspace(y_mat_, {oc, g.col_cols()});
  ops::matmul(weight_.value.view({oc, g.col_rows()}), cols, y_mat);

  // y[b][o] = Y[o][b·OH·OW ...] + bias[o].
  Tensor y = Tensor::empty({g.batch, oc, oh, ow});
  const float* ym = y_mat.data<float>();
  const float* bp = bias_.value.data<float>();
  float* yp = y.data<float>();
  const std::int64_t batch = g.batch;
  host_for("meridian::nn::conv2d_output", batch * oc, plane, [=](const std::int64_t item) {
    const std::int64_t b = item / oc, o = item % oc;
    const float* from = ym + o * batch * plane + b * plane;
    float* to = yp + item * plane;
    const float bias = bp[o];
    for (std::int64_t i = 0; i < plane; ++i) to[i] = from[i] + bias;
  });
  geometry_ = g;
  has_cache_ = training;
  return y;
}

Tensor Conv2d::backward(const Tensor& dy_in) {
  require_cache(has_cache_);
  const ConvGeometry& g = geometry_;
  const std::int64_t oc = shape_.out_channels, plane = g.out_height() * g.out_width(), batch = g.batch;
  const Tensor dy =
      require_host_f32(dy_in, describe(), "dy", {batch, oc, g.out_height(), g.out_width()}, "(B, OC, OH, OW)");
  // dY (OC, B·OH·OW) from dy (B, OC, OH, OW), and the bias gradient as its row sums.
  Tensor& dy_mat = workspace(dy_mat_, {oc, g.col_cols()});
  const float* dyp = dy.data<float>();
  float* dm = dy_mat.data<float>();
  host_for("meridian::nn::conv2d_grad_output", batch * oc, plane, [=](const std::int64_t item) {
    const std::int64_t b = item / oc, o = item % oc;
    const float* from = dyp + item * plane;
    float* to = dm + o * batch * plane + b * plane;
    for (std::int64_t i = 0; i < plane; ++i) to[i] = from[i];
  });
  float* db = bias_.grad.data<float>();
  const std::int64_t ncols = g.col_cols();
  host_for("meridian::nn::conv2d_bias_grad", oc, ncols, [=](const std::int64_t o) {
    double s = 0.0;
    for (std::int64_t i = 0; i < ncols; ++i) s += dm[o * ncols + i];
    db[o] += static_cast<float>(s);
  });
  Tensor dw = weight_.grad.view({oc, g.col_rows()});
  ops::matmul(dy_mat, cols_, dw, false, true, 1.f, 1.f);  // dW (OC, CKK) += dY (OC, N) · colsᵀ (N, CKK)
  if (!input_grad_needed()) return Tensor();
  Tensor& dcols = workspace(dcols_, {g.col_rows(), ncols});
  ops::matmul(weight_.value.view({oc, g.col_rows()}), dy_mat, dcols, true, false);  // (CKK, OC) · (OC, N)
  Tensor dx = Tensor::empty({batch, g.channels, g.height, g.width});
  col2im(g, dcols.data<float>(), dx.data<float>());
  return dx;
}

}  // namespace meridian::nn
