// Build identity (generated at build time by cmake/WriteVersionInfo.cmake) and the versions of
// the libraries this build links, as recorded in every run.json.
#pragma once

#include <map>
#include <string>

namespace meridian {

const char* git_sha();
bool git_dirty();
const char* meridian_version();

// "mpi", "kokkos", "openblas", "hdf5", "zlib", "isal", "cuda_runtime", "cuda_driver", "nccl", ...
std::map<std::string, std::string> library_versions();

}  // namespace meridian
