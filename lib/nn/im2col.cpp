// im2col / col2im on the CPU (NCHW, cols (C·K·K, B·OH·OW)); both are Kokkos loops named
// "meridian::nn::im2col" and "meridian::nn::col2im".
#include "nn/im2col.hpp"

#include "nn/host_parallel.hpp"

namespace meridian::nn {

void im2col(const ConvGeometry& g, const float* x, float* cols) {
  const std::int64_t batch = g.batch, h = g.height, w = g.width, k = g.kernel, s = g.stride, pad = g.padding;
  const std::int64_t oh = g.out_height(), ow = g.out_width(), ncols = g.col_cols(), plane = h * w;
  const std::int64_t channels_stride = g.channels * plane;
  host_for("meridian::nn::im2col", g.col_rows() * batch, oh * ow, [=](const std::int64_t item) {
    const std::int64_t row = item / batch, b = item % batch;
    const std::int64_t c = row / (k * k), kh = (row / k) % k, kw = row % k;
    const float* in = x + b * channels_stride + c * plane;
    float* out = cols + row * ncols + b * oh * ow;
    for (std::int64_t i = 0; i < oh; ++i) {
      const std::int64_t ih = i * s - pad + kh;
      float* out_row = out + i * ow;
      if (ih < 0 || ih >= h) {
        for (std::int64_t j = 0; j < ow; ++j) out_row[j] = 0.f;
        continue;
      }
      for (std::int64_t j = 0; j < ow; ++j) {
        const std::int64_t iw = j * s - pad + kw;
        out_row[j] = (iw >= 0 && iw < w) ? in[ih * w + iw] : 0.f;
      }
    }
  });
}

void col2im(const ConvGeometry& g, const float* cols, float* dx) {
  const std::int64_t batch = g.batch, channels = g.channels, h = g.height, w = g.width, k = g.kernel, s = g.stride,
                     pad = g.padding;
  const std::int64_t oh = g.out_height(), ow = g.out_width(), ncols = g.col_cols(), plane = h * w;
  host_for("meridian::nn::col2im", batch * channels, k * k * oh * ow, [=](const std::int64_t item) {
    const std::int64_t b = item / channels, c = item % channels;
    float* out = dx + item * plane;
    for (std::int64_t i = 0; i < plane; ++i) out[i] = 0.f;
    for (std::int64_t kh = 0; kh < k; ++kh)
      for (std::int64_t kw = 0; kw < k; ++kw) {
        const float* in = cols + ((c * k + kh) * k + kw) * ncols + b * oh * ow;
        for (std::int64_t i = 0; i < oh; ++i) {
          const std::int64_t ih = i * s - pad + kh;
          if (ih < 0 || ih >= h) continue;
          for (std::int64_t j = 0; j < ow; ++j) {
            const std::int64_t iw = j * s - pad + kw;
            if (iw >= 0 && iw < w) out[ih * w + iw] += in[i * ow + j];
          }
        }
      }
  });
}

}  // namespace meridian::nn
