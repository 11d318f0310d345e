// Conv2d: y = W ⋆ x + b on NCHW images. x is (B, C, H, W), W is (OC, C, K, K) (PyTorch's layout),
// b is (OC), y is (B, OC, OH, OW) with OH = (H + 2P − K)/S + 1. Computed as im2col + one sgemm.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nn/im2col.hpp"
#include "nn/layer.hpp"

namespace meridian::nn {

struct Conv2dShape {
  std::int64_t in_channels = 1, out_channels = 1;
  std::int64_t kernel = 3, stride = 1, padding = 0;
};

class Conv2d final : public Layer {
 public:
  // W and b ~ U(-1/sqrt(C·K·K), 1/sqrt(C·K·K)) (PyTorch's default) from the streams of `init`
  // (tensor 0 = W, 1 = b).
  Conv2d(std::string name, const Conv2dShape& shape, const InitKey& init);

  // x (B, C, H, W) -> y (B, OC, OH, OW). Keeps the im2col matrix (C·K·K, B·OH·OW) when training.
  // Memory: the layer holds workspaces of about 2·C·K·K·B·OH·OW floats (cols and its gradient) between
  // calls, reused while the batch size stays the same; evaluate large sets in batches.
  Tensor forward(const Tensor& x, bool training) override;
  // dy (B, OC, OH, OW) -> dx (B, C, H, W) = col2im(Wᵀ·dY) (undefined when !input_grad_needed());
  // W.grad += dY·colsᵀ, b.grad += sums of dY over (B, OH, OW), where dY is dy as an (OC, B·OH·OW) matrix.
  Tensor backward(const Tensor& dy) override;
  std::vector<Parameter*> parameters() override { return {&weight_, &bias_}; }
  std::string kind() const override { return "Conv2d"; }

  const Conv2dShape& shape() const { return shape_; }
  Parameter& weight() { return weight_; }
  Parameter& bias() { return bias_; }

 private:
  Conv2dShape shape_;
  Parameter weight_, bias_;
  ConvGeometry geometry_;   // of the last forward
  bool has_cache_ = false;  // the last forward was a training one: cols_ holds its patches
  // Workspaces, reallocated only when their shape changes (a fresh 40 MB buffer per call costs its
  // page faults every time): the patches (C·K·K, B·OH·OW), the output and its gradient as
  // (OC, B·OH·OW) matrices, and the patches' gradient.
  Tensor cols_, y_mat_, dy_mat_, dcols_;
};

}  // namespace meridian::nn
