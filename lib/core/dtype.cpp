// Parsing of dtype names given by users.
#include "core/dtype.hpp"

#include "kernels/common/error.hpp"

namespace meridian {

DType parse_dtype(std::string_view name) {
  if (name == "f32" || name == "float" || name == "float32") return DType::f32;
  if (name == "f64" || name == "double" || name == "float64") return DType::f64;
  if (name == "bf16" || name == "bfloat16") return DType::bf16;
  if (name == "f16" || name == "half" || name == "float16") return DType::f16;
  if (name == "i32" || name == "int32") return DType::i32;
  if (name == "i64" || name == "int64") return DType::i64;
  if (name == "u8" || name == "uint8") return DType::u8;
  throw InputError(cat("dtype '", name, "' is not one of f32, f64, bf16, f16, i32, i64, u8"));
}

MatmulPrecision parse_matmul_precision(std::string_view name, std::string_view what) {
  if (name == "fp32" || name == "f32") return MatmulPrecision::fp32;
  if (name == "bf16") return MatmulPrecision::bf16;
  throw InputError(cat(what, " '", name, "': use fp32 (matmuls in fp32) or bf16 (bf16 inputs, fp32 accumulation)"));
}

const char* matmul_precision_name(MatmulPrecision p) { return p == MatmulPrecision::bf16 ? "bf16" : "fp32"; }

}  // namespace meridian
