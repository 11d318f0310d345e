// im2col / col2im for 2-D convolution on NCHW images: the patches of x (B, C, H, W) laid out as the
// matrix cols (C·K·K, B·OH·OW), row (c, kh, kw), column (b, oh, ow), so that a convolution is one GEMM.
#pragma once

#include <cstdint>

namespace meridian::nn {

// A square K×K convolution with stride S and zero padding P on (B, C, H, W) inputs.
struct ConvGeometry {
  std::int64_t batch = 0, channels = 0, height = 0, width = 0;
  std::int64_t kernel = 1, stride = 1, padding = 0;

  std::int64_t out_height() const { return (height + 2 * padding - kernel) / stride + 1; }
  std::int64_t out_width() const { return (width + 2 * padding - kernel) / stride + 1; }
  std::int64_t col_rows() const { return channels * kernel * kernel; }
  std::int64_t col_cols() const { return batch * out_height() * out_width(); }
};

// cols[(c·K + kh)·K + kw][(b·OH + oh)·OW + ow] = x[b][c][oh·S − P + kh][ow·S − P + kw], or 0 in the padding.
// x is (B, C, H, W) contiguous, cols is (C·K·K, B·OH·OW) contiguous. Kokkos loop over (row, image).
void im2col(const ConvGeometry& g, const float* x, float* cols);

// The adjoint of im2col: dx (B, C, H, W) = the sum, over every cols entry, of that entry into the
// input element it was copied from (padding entries are dropped). Overwrites dx. Kokkos loop over
// (image, channel) planes, so no two threads write the same element.
void col2im(const ConvGeometry& g, const float* cols, float* dx);

}  // namespace meridian::nn
