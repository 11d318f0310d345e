// Double-precision reference forwards of lib/nn's layers and the finite-difference gradient check the
// nn tests share. Shapes as in lib/nn: x (B, in) for linear, NCHW for images, row-major flat vectors.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <ostream>
#include <string>
#include <vector>

#include "core/ops.hpp"
#include "core/rng.hpp"
#include "core/tensor.hpp"

namespace meridian::test {

using Vec = std::vector<double>;

// A host f32 tensor of mixed-sign values U(lo, hi) from a fixed seed and `stream`.
inline Tensor random_f32(Shape shape, std::uint64_t stream, float lo = -1.f, float hi = 1.f) {
  Tensor t = Tensor::empty(std::move(shape));
  ops::uniform(t, 0x6e6e'7465'7374ULL, stream_id(StreamPurpose::test, stream), lo, hi);
  return t;
}

inline Tensor tensor_of(Shape shape, const Vec& values) { return Tensor::from_values(std::move(shape), values); }

// y (B, out) = x (B, in) · W (in, out) + b (out); b may be empty.
inline Vec linear_ref(const Vec& x, const Vec& w, const Vec& b, std::int64_t batch, std::int64_t in, std::int64_t out) {
  Vec y(static_cast<std::size_t>(batch * out));
  for (std::int64_t i = 0; i < batch; ++i)
    for (std::int64_t j = 0; j < out; ++j) {
      double s = b.empty() ? 0.0 : b[static_cast<std::size_t>(j)];
      for (std::int64_t k = 0; k < in; ++k)
        s += x[static_cast<std::size_t>(i * in + k)] * w[static_cast<std::size_t>(k * out + j)];
      y[static_cast<std::size_t>(i * out + j)] = s;
    }
  return y;
}

struct ConvRefShape {
  std::int64_t batch, channels, height, width, out_channels, kernel, stride, padding;
  std::int64_t oh() const { return (height + 2 * padding - kernel) / stride + 1; }
  std::int64_t ow() const { return (width + 2 * padding - kernel) / stride + 1; }
};

// "x (2, 3, 7, 6), 4 filters 3x3, stride 1, padding 1" in test names.
inline void PrintTo(const ConvRefShape& s, std::ostream* os) {
  *os << "x (" << s.batch << ", " << s.channels << ", " << s.height << ", " << s.width << "), " << s.out_channels
      << " filters " << s.kernel << "x" << s.kernel << ", stride " << s.stride << ", padding " << s.padding;
}

// Direct convolution: y[b][o][i][j] = b[o] + Σ_{c,kh,kw} W[o][c][kh][kw] · x[b][c][i·S−P+kh][j·S−P+kw].
inline Vec conv2d_ref(const Vec& x, const Vec& w, const Vec& bias, const ConvRefShape& s) {
  const std::int64_t oh = s.oh(), ow = s.ow(), k = s.kernel;
  Vec y(static_cast<std::size_t>(s.batch * s.out_channels * oh * ow));
  for (std::int64_t b = 0; b < s.batch; ++b)
    for (std::int64_t o = 0; o < s.out_channels; ++o)
      for (std::int64_t i = 0; i < oh; ++i)
        for (std::int64_t j = 0; j < ow; ++j) {
          double acc = bias[static_cast<std::size_t>(o)];
          for (std::int64_t c = 0; c < s.channels; ++c)
            for (std::int64_t kh = 0; kh < k; ++kh)
              for (std::int64_t kw = 0; kw < k; ++kw) {
                const std::int64_t ih = i * s.stride - s.padding + kh, iw = j * s.stride - s.padding + kw;
                if (ih < 0 || ih >= s.height || iw < 0 || iw >= s.width) continue;
                acc += w[static_cast<std::size_t>(((o * s.channels + c) * k + kh) * k + kw)] *
                       x[static_cast<std::size_t>(((b * s.channels + c) * s.height + ih) * s.width + iw)];
              }
          y[static_cast<std::size_t>(((b * s.out_channels + o) * oh + i) * ow + j)] = acc;
        }
  return y;
}

// Non-overlapping k×k max pooling of (B·C) planes of h×w.
inline Vec max_pool_ref(const Vec& x, std::int64_t planes, std::int64_t h, std::int64_t w, std::int64_t k) {
  const std::int64_t oh = h / k, ow = w / k;
  Vec y(static_cast<std::size_t>(planes * oh * ow), -std::numeric_limits<double>::infinity());
  for (std::int64_t p = 0; p < planes; ++p)
    for (std::int64_t i = 0; i < oh * k; ++i)
      for (std::int64_t j = 0; j < ow * k; ++j) {
        double& out = y[static_cast<std::size_t>((p * oh + i / k) * ow + j / k)];
        out = std::max(out, x[static_cast<std::size_t>((p * h + i) * w + j)]);
      }
  return y;
}

inline Vec relu_ref(Vec x) {
  for (double& v : x) v = std::max(v, 0.0);
  return x;
}

// Mean over rows of −log softmax(z)[label], straight from the definition (stable only for moderate z).
inline double cross_entropy_ref(const Vec& z, const std::vector<std::int64_t>& labels, std::int64_t classes) {
  double total = 0.0;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    double denom = 0.0;
    for (std::int64_t c = 0; c < classes; ++c)
      denom += std::exp(z[i * static_cast<std::size_t>(classes) + static_cast<std::size_t>(c)]);
    total +=
        -std::log(std::exp(z[i * static_cast<std::size_t>(classes) + static_cast<std::size_t>(labels[i])]) / denom);
  }
  return total / static_cast<double>(labels.size());
}

inline double dot(const Vec& a, const Vec& b) {
  double s = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Central differences (f(v + h·e_i) − f(v − h·e_i)) / 2h of a double function of a vector. The
// references are piecewise polynomial of low degree in each variable, so with h = 1e-6 the error is
// rounding only: about 1e-16·|f|/h ≈ 1e-10 here.
template <class F>
Vec central_differences(F&& f, Vec v, double h = 1e-6) {
  Vec g(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    const double keep = v[i];
    v[i] = keep + h;
    const double up = f(v);
    v[i] = keep - h;
    const double down = f(v);
    v[i] = keep;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

// Compares an f32 analytic gradient with a double finite difference. Each f32 gradient element is a
// sum of about `terms` products of O(1) mixed-sign numbers; the rounding error of such a sum is at most
// terms·eps times the sum of the magnitudes, which is of the order of the gradient's typical size
// (rms), so the tolerance is 4·terms·eps·(|fd| + rms(fd)) plus 1e-9 for the difference's own error.
inline void expect_gradient_near(const Tensor& analytic, const Vec& fd, double terms, const std::string& what) {
  const Vec a = analytic.to_vector();
  ASSERT_EQ(a.size(), fd.size()) << what;
  double sq = 0.0;
  for (const double v : fd) sq += v * v;
  const double rms = fd.empty() ? 0.0 : std::sqrt(sq / static_cast<double>(fd.size()));
  const double eps = std::numeric_limits<float>::epsilon();
  int shown = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double tol = 4.0 * terms * eps * (std::abs(fd[i]) + rms) + 1e-9;
    if (std::abs(a[i] - fd[i]) > tol && shown++ < 5)
      ADD_FAILURE() << what << "[" << i << "]: analytic " << a[i] << " vs finite difference " << fd[i] << " (tol "
                    << tol << ")";
  }
}

// Elementwise |a − b| <= rel·(|b| + scale) for two host tensors or vectors.
inline void expect_all_near(const Vec& a, const Vec& b, double rel, double scale, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  int shown = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::abs(a[i] - b[i]) > rel * (std::abs(b[i]) + scale) && shown++ < 5)
      ADD_FAILURE() << what << "[" << i << "]: " << a[i] << " vs " << b[i];
}

}  // namespace meridian::test
