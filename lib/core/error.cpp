// Messages for failed MPI and HDF5 calls.
#include "core/error.hpp"

#include <hdf5.h>
#include <mpi.h>

#include <cstdio>
#include <cstdlib>

namespace meridian {

void throw_mpi_failure(const char* file, int line, const char* call, int code) {
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) std::snprintf(text, sizeof(text), "code %d", code);
  throw Error(cat(error_location(file, line), ": ", call, " failed: ", text));
}

namespace {

herr_t collect_h5_error(unsigned depth, const H5E_error2_t* e, void* out) {
  auto* text = static_cast<std::string*>(out);
  if (depth < 4 && e->desc) *text += cat(depth ? "; " : "", e->func_name ? e->func_name : "?", ": ", e->desc);
  return 0;
}

}  // namespace

void throw_h5_failure(const char* file, int line, const char* call) {
  std::string stack;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect_h5_error, &stack);
  H5Eclear2(H5E_DEFAULT);
  throw Error(cat(error_location(file, line), ": ", call, " failed", stack.empty() ? "" : ": ", stack));
}

}  // namespace meridian
