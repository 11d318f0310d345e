// Element types for the library layer: the DType of kernels/common plus parsing from user text.
#pragma once

#include <string_view>

#include "kernels/common/dtype.hpp"

namespace meridian {

// "f32", "float32", "bf16", ...; throws InputError listing the accepted names.
DType parse_dtype(std::string_view name);

}  // namespace meridian
