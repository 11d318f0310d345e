// Model: an ordered list of Layers run front to back in forward and back to front in backward, with a
// per-layer hook called the moment a layer's parameter gradients are final (what wait-free backprop
// and DreamDDP's per-layer syncs start from). x is the first layer's input, e.g. (B, 784) or (B, 1, 28, 28).
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "nn/layer.hpp"

namespace meridian::nn {

class Model {
 public:
  // Called by backward right after layer `layer_index`'s backward returned (its gradients are final
  // for this backward) and before the layer below it starts; layers are visited last to first.
  using BackwardHook = std::function<void(int layer_index, Layer& layer)>;

  Model() = default;
  Model(Model&&) = default;
  Model& operator=(Model&&) = default;

  // Appends a layer; returns it (owned by the model, address stable).
  Layer& add(std::unique_ptr<Layer> layer);
  template <class L, class... Args>
  L& emplace(Args&&... args) {
    auto layer = std::make_unique<L>(std::forward<Args>(args)...);
    L& ref = *layer;
    add(std::move(layer));
    return ref;
  }

  int size() const { return static_cast<int>(layers_.size()); }
  Layer& layer(int index);

  // Runs every layer in order; training = true keeps what backward needs.
  Tensor forward(const Tensor& x, bool training);
  // dloss: the gradient of the loss with respect to the last forward's output. Runs the layers'
  // backward from last to first, calling the hook after each; returns the gradient with respect to
  // the model's input. Parameter gradients accumulate (see Layer). With input_grad_needed() false,
  // the lowest layer with parameters skips its input gradient, the parameter-free layers below it
  // are not run (their hooks are still called, in order), and an undefined tensor is returned.
  Tensor backward(const Tensor& dloss);
  void set_backward_hook(BackwardHook hook) { hook_ = std::move(hook); }
  void clear_backward_hook() { hook_ = nullptr; }
  // Whether backward computes the gradient of the model's input (default true; make_mlp and make_cnn
  // turn it off: nothing upstream of a classifier's input wants it).
  void set_input_grad_needed(bool needed) { input_grad_needed_ = needed; }
  bool input_grad_needed() const { return input_grad_needed_; }

  // Every parameter in layer order (a parameter shared by two layers, e.g. tied weights, once).
  std::vector<Parameter*> parameters();
  // Indices of the layers that have parameters, ascending.
  std::vector<int> layers_with_parameters();
  void zero_grad();

  // Flat views for averaging, sending and divergence metrics: the parameters() in order, f32.
  std::int64_t parameter_count();
  void copy_parameters_to(std::span<float> flat) { copy_to_flat(parameters(), ParamField::value, flat); }
  void copy_parameters_from(std::span<const float> flat) { copy_from_flat(parameters(), ParamField::value, flat); }
  void copy_grads_to(std::span<float> flat) { copy_to_flat(parameters(), ParamField::grad, flat); }
  void copy_grads_from(std::span<const float> flat) { copy_from_flat(parameters(), ParamField::grad, flat); }

 private:
  std::vector<std::unique_ptr<Layer>> layers_;
  BackwardHook hook_;
  bool input_grad_needed_ = true;
};

}  // namespace meridian::nn
