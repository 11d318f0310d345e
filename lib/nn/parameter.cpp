// Parameter construction and the flat-buffer copies (f32, parameters in list order, each row-major).
#include "nn/parameter.hpp"

#include <cstring>

#include "core/ops.hpp"

namespace meridian::nn {
namespace {

Tensor& field_of(Parameter& p, ParamField field) { return field == ParamField::value ? p.value : p.grad; }

// The field as a contiguous host f32 tensor, or Error naming the parameter.
Tensor& checked_field(Parameter* p, ParamField field, const char* op) {
  MERIDIAN_CHECK(p != nullptr, op, ": null parameter in the list");
  Tensor& t = field_of(*p, field);
  MERIDIAN_CHECK(t.defined() && t.device().is_cpu() && t.dtype() == DType::f32 && t.is_contiguous(), op,
                 ": parameter '", p->name, "' ", field == ParamField::value ? "value" : "grad",
                 " must be a defined, contiguous host f32 tensor");
  return t;
}

}  // namespace

Parameter make_parameter(std::string name, Shape shape) {
  Parameter p{std::move(name), Tensor::empty(shape), Tensor::zeros(shape)};
  return p;
}

std::int64_t parameter_count(std::span<Parameter* const> params) {
  std::int64_t n = 0;
  for (const Parameter* p : params) {
    MERIDIAN_CHECK(p != nullptr, "parameter_count: null parameter in the list");
    n += p->value.numel();
  }
  return n;
}

void copy_to_flat(std::span<Parameter* const> params, ParamField field, std::span<float> flat) {
  const std::int64_t total = parameter_count(params);
  MERIDIAN_CHECK(static_cast<std::int64_t>(flat.size()) == total, "copy_to_flat: the buffer holds ", flat.size(),
                 " floats but the parameters have ", total);
  std::size_t at = 0;
  for (Parameter* p : params) {
    const Tensor& t = checked_field(p, field, "copy_to_flat");
    std::memcpy(flat.data() + at, t.data<float>(), t.nbytes());
    at += static_cast<std::size_t>(t.numel());
  }
}

void copy_from_flat(std::span<Parameter* const> params, ParamField field, std::span<const float> flat) {
  const std::int64_t total = parameter_count(params);
  MERIDIAN_CHECK(static_cast<std::int64_t>(flat.size()) == total, "copy_from_flat: the buffer holds ", flat.size(),
                 " floats but the parameters have ", total);
  std::size_t at = 0;
  for (Parameter* p : params) {
    Tensor& t = checked_field(p, field, "copy_from_flat");
    std::memcpy(t.data<float>(), flat.data() + at, t.nbytes());
    at += static_cast<std::size_t>(t.numel());
  }
}

void zero_grads(std::span<Parameter* const> params) {
  for (Parameter* p : params) ops::fill(checked_field(p, ParamField::grad, "zero_grads"), 0.0);
}

}  // namespace meridian::nn
