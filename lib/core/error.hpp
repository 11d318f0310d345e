// Check macros of the library layer: MPI_CHECK and H5_CHECK on top of the project-wide
// meridian::Error and MERIDIAN_CHECK of kernels/common (CUDA_CHECK etc. are in kernels/cuda/check.hpp).
#pragma once

#include "kernels/common/error.hpp"

namespace meridian {

[[noreturn]] void throw_mpi_failure(const char* file, int line, const char* call, int code);
[[noreturn]] void throw_h5_failure(const char* file, int line, const char* call);

}  // namespace meridian

#define MPI_CHECK(call)                                                   \
  do {                                                                    \
    const int meridian_mpi_rc_ = (call);                                  \
    if (meridian_mpi_rc_ != 0) [[unlikely]]                               \
      ::meridian::throw_mpi_failure(__FILE__, __LINE__, #call, meridian_mpi_rc_); \
  } while (0)

// HDF5 calls return a negative value on failure; the HDF5 error stack is appended to the message.
#define H5_CHECK(call)                                               \
  ([&]() {                                                           \
    const auto meridian_h5_rc_ = (call);                             \
    if (meridian_h5_rc_ < 0) [[unlikely]]                            \
      ::meridian::throw_h5_failure(__FILE__, __LINE__, #call);       \
    return meridian_h5_rc_;                                          \
  }())
