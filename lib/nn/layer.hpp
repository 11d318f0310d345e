// Layer: the unit of lib/nn's models, with an explicit forward that caches what backward needs and a
// backward that returns the input gradient and ACCUMULATES parameter gradients (so micro-batches sum).
// Shapes are documented per layer in llm.c style: "x is (B, in), y is (B, out)".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.hpp"
#include "nn/parameter.hpp"

namespace meridian::nn {

// Where a layer's initial values come from: tensor `t` (0 = weight, 1 = bias, ...) of layer `layer`
// is filled from Philox stream stream_id(StreamPurpose::init, layer, t) under `seed`, so a model's
// initial state depends only on (seed, layer index), never on thread counts or construction order.
struct InitKey {
  std::uint64_t seed = 0;
  std::uint64_t layer = 0;
  std::uint64_t stream(std::uint64_t tensor) const;
};

// Fills t (host f32) with U(-bound, bound) from the stream of `key` for tensor number `tensor`.
void init_uniform(Tensor& t, const InitKey& key, std::uint64_t tensor, float bound);

// A layer maps x to y. Contract for every implementation:
//  * forward(x, training) returns y; with training = true it keeps what backward needs (often a
//    reference to x itself: the caller must not overwrite x's buffer before backward). With
//    training = false nothing is kept and backward is refused.
//  * backward(dy) takes the gradient of the loss with respect to the last forward's y and returns dx,
//    the gradient with respect to its x; parameter gradients are ADDED to Parameter::grad. Calling
//    backward again (same or another forward) adds again; zero_grad() resets.
//  * parameters() lists the layer's own Parameters in a fixed order; pointers stay valid for the
//    layer's lifetime. A composite layer (e.g. a transformer block) lists its children's parameters.
//  * Host f32 tensors only for now; anything else is an Error naming the layer and the argument.
// Layers are not thread-safe; they use Kokkos's host execution space and OpenBLAS internally.
class Layer {
 public:
  explicit Layer(std::string name) : name_(std::move(name)) {}
  virtual ~Layer() = default;
  Layer(const Layer&) = delete;
  Layer& operator=(const Layer&) = delete;

  virtual Tensor forward(const Tensor& x, bool training) = 0;
  virtual Tensor backward(const Tensor& dy) = 0;
  virtual std::vector<Parameter*> parameters() { return {}; }
  virtual std::string kind() const = 0;  // "Linear", "Conv2d", ...

  const std::string& name() const { return name_; }
  // "Linear 'fc1'": how errors and logs refer to this layer.
  std::string describe() const { return kind() + " '" + name_ + "'"; }
  void zero_grad();

  // Whether backward must return dx (default true). A Model turns it off for its lowest layer with
  // parameters when nothing needs the gradient of the model's input; the layers that honour it
  // (Linear, Conv2d) then skip that work and return an undefined tensor, others compute dx anyway.
  void set_input_grad_needed(bool needed) { input_grad_needed_ = needed; }
  bool input_grad_needed() const { return input_grad_needed_; }

 protected:
  // Throws an Error telling the caller to run forward(x, true) first, unless `has_cache`.
  void require_cache(bool has_cache) const;

 private:
  std::string name_;
  bool input_grad_needed_ = true;
};

}  // namespace meridian::nn
