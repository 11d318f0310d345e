// Parameter: a named trainable tensor and its gradient, and the flat-buffer helpers that sync schemes
// use to average, send or compare whole models. A flat buffer is every parameter's elements in
// list order, each tensor row-major, f32.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/tensor.hpp"

namespace meridian::nn {

// value and grad have the same shape, dtype (f32) and device (cpu). Layers own their Parameters; others
// hold Parameter* (stable for the layer's lifetime). grad accumulates over backward calls until zeroed.
struct Parameter {
  std::string name;  // "<layer name>.<role>", e.g. "fc1.weight"
  Tensor value;
  Tensor grad;
};

// A host f32 parameter of `shape` with a zero gradient (value uninitialised).
Parameter make_parameter(std::string name, Shape shape);

enum class ParamField : std::uint8_t { value, grad };

// Total number of elements of the parameters' values.
std::int64_t parameter_count(std::span<Parameter* const> params);
// Copies the chosen field of every parameter into `flat` (size must equal parameter_count), in order.
void copy_to_flat(std::span<Parameter* const> params, ParamField field, std::span<float> flat);
// Copies `flat` back into the chosen field of every parameter, in order.
void copy_from_flat(std::span<Parameter* const> params, ParamField field, std::span<const float> flat);
// Sets every parameter's gradient to zero.
void zero_grads(std::span<Parameter* const> params);

}  // namespace meridian::nn
