// Model: layer list, the forward/backward walks with the per-layer backward hook, and parameter lists.
#include "nn/model.hpp"

#include <algorithm>

namespace meridian::nn {

Layer& Model::add(std::unique_ptr<Layer> layer) {
  MERIDIAN_CHECK(layer != nullptr, "Model::add: null layer");
  layers_.push_back(std::move(layer));
  return *layers_.back();
}

Layer& Model::layer(int index) {
  MERIDIAN_CHECK(index >= 0 && index < size(), "Model::layer: index ", index, " is outside [0, ", size(), ")");
  return *layers_[static_cast<std::size_t>(index)];
}

Tensor Model::forward(const Tensor& x, bool training) {
  MERIDIAN_CHECK(!layers_.empty(), "Model::forward: the model has no layers");
  Tensor h = x;
  for (auto& layer : layers_) h = layer->forward(h, training);
  return h;
}

Tensor Model::backward(const Tensor& dloss) {
  MERIDIAN_CHECK(!layers_.empty(), "Model::backward: the model has no layers");
  // Layers below `lowest` take no part in backward when the input gradient is not wanted.
  int lowest = 0;
  if (!input_grad_needed_) {
    const std::vector<int> with_params = layers_with_parameters();
    lowest = with_params.empty() ? size() : with_params.front();
  }
  Tensor g = dloss;
  for (int i = size() - 1; i >= 0; --i) {
    Layer& l = *layers_[static_cast<std::size_t>(i)];
    if (i >= lowest) {
      l.set_input_grad_needed(input_grad_needed_ || i > lowest);
      g = l.backward(g);
    }
    if (hook_) hook_(i, l);
  }
  return input_grad_needed_ ? g : Tensor();
}

std::vector<Parameter*> Model::parameters() {
  std::vector<Parameter*> out;
  for (auto& layer : layers_)
    for (Parameter* p : layer->parameters())
      if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
  return out;
}

std::vector<int> Model::layers_with_parameters() {
  std::vector<int> out;
  for (int i = 0; i < size(); ++i)
    if (!layers_[static_cast<std::size_t>(i)]->parameters().empty()) out.push_back(i);
  return out;
}

void Model::zero_grad() {
  const std::vector<Parameter*> params = parameters();
  zero_grads(params);
}

std::int64_t Model::parameter_count() {
  const std::vector<Parameter*> params = parameters();
  return nn::parameter_count(params);
}

}  // namespace meridian::nn
