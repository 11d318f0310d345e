// Element types for the library layer: the DType and MatmulPrecision of kernels/common plus parsing
// from user text.
#pragma once

#include <string_view>

#include "kernels/common/dtype.hpp"

namespace meridian {

// "f32", "float32", "bf16", ...; throws InputError listing the accepted names.
DType parse_dtype(std::string_view name);
// "fp32" (or "f32") and "bf16" for `what` (e.g. "--precision"); InputError naming both otherwise.
MatmulPrecision parse_matmul_precision(std::string_view name, std::string_view what);
const char* matmul_precision_name(MatmulPrecision p);

}  // namespace meridian
