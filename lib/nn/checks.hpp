// Argument checks shared by lib/nn's layers: every layer computes in f32 on host tensors, and a wrong
// tensor gets one meridian::Error naming the layer, the argument, the expected shape and what was passed.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/tensor.hpp"

namespace meridian::nn {

// Returns t (made contiguous) when it is a defined host f32 tensor whose shape matches `expected`
// (-1 = any size in that dimension); throws Error otherwise. `convention` names the dimensions,
// e.g. "(B, in)". Example message: "Linear 'fc1': x must be a host f32 tensor (B, in) = (*, 784), got
// f32 (64, 100) on cpu".
Tensor require_host_f32(const Tensor& t, std::string_view where, std::string_view what, const Shape& expected,
                        std::string_view convention);

}  // namespace meridian::nn
