// Argument checks of lib/nn: shape patterns with -1 as "any", and one message for every way a tensor
// can be wrong (undefined, wrong device, wrong dtype, wrong shape).
#include "nn/checks.hpp"

#include <string>

namespace meridian::nn {
namespace {

std::string pattern_string(const Shape& s) {
  std::string out = "(";
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += s[i] < 0 ? std::string("*") : std::to_string(s[i]);
  }
  return out + ")";
}

bool shape_matches(const Shape& actual, const Shape& expected) {
  if (actual.size() != expected.size()) return false;
  for (std::size_t i = 0; i < actual.size(); ++i)
    if (expected[i] >= 0 && actual[i] != expected[i]) return false;
  return true;
}

}  // namespace

Tensor require_host_f32(const Tensor& t, std::string_view where, std::string_view what, const Shape& expected,
                        std::string_view convention) {
  const bool ok = t.defined() && t.device().is_cpu() && t.dtype() == DType::f32 && shape_matches(t.shape(), expected);
  if (!ok) {
    const std::string got =
        t.defined() ? cat(dtype_name(t.dtype()), " ", shape_string(t.shape()), " on ", device_name(t.device()))
                    : std::string("an undefined tensor");
    throw Error(cat(
        where, ": ", what, " must be a host f32 tensor ", convention, " = ", pattern_string(expected), ", got ", got,
        t.defined() && !t.device().is_cpu() ? " (lib/nn layers run on the CPU backend; move it with to(Device::cpu()))"
                                            : ""));
  }
  return t.contiguous();
}

}  // namespace meridian::nn
