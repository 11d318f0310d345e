// NCCL_CHECK: runs an NCCL call and throws meridian::Error on failure with "rank R on HOST,
// file:line: `call` failed: <NCCL error string> (<NCCL's last error text>)". CUDA builds only.
#pragma once

#include <nccl.h>

#include "kernels/common/error.hpp"

namespace meridian::nccl_detail {

[[noreturn]] inline void throw_nccl_error(const char* file, int line, const char* call, ncclResult_t status) {
  const char* detail = ncclGetLastError(nullptr);
  throw Error(cat(error_location(file, line), ": `", call, "` failed: ", ncclGetErrorString(status),
                  (detail && *detail) ? " (" : "", (detail && *detail) ? detail : "",
                  (detail && *detail) ? ")" : ""));
}

}  // namespace meridian::nccl_detail

#define NCCL_CHECK(call)                                                                          \
  do {                                                                                            \
    const ncclResult_t meridian_nccl_status_ = (call);                                            \
    if (meridian_nccl_status_ != ncclSuccess) [[unlikely]]                                        \
      ::meridian::nccl_detail::throw_nccl_error(__FILE__, __LINE__, #call, meridian_nccl_status_); \
  } while (0)
