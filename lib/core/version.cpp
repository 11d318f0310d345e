// Versions of the libraries this build links, read from the libraries themselves at run time
// where they can tell (so a run.json reports what actually ran, not what was compiled against).
#include "core/version.hpp"

#include <cblas.h>
#include <hdf5.h>
#include <mpi.h>
#include <zlib.h>

#include <Kokkos_Core.hpp>

#include "kernels/common/error.hpp"

#if defined(MERIDIAN_HAVE_CUDA)
#include <cuda_runtime_api.h>
#include <nccl.h>
#endif

extern "C" char* openblas_get_config(void);

namespace meridian {

std::map<std::string, std::string> library_versions() {
  std::map<std::string, std::string> v;
  char mpi_text[MPI_MAX_LIBRARY_VERSION_STRING] = {};
  int length = 0;
  if (MPI_Get_library_version(mpi_text, &length) == MPI_SUCCESS) {
    std::string text(mpi_text, static_cast<std::size_t>(length));
    v["mpi"] = text.substr(0, text.find_first_of(",\n"));
  }
  int mpi_major = 0, mpi_minor = 0;
  MPI_Get_version(&mpi_major, &mpi_minor);
  v["mpi_standard"] = cat(mpi_major, '.', mpi_minor);
  v["kokkos"] = cat(KOKKOS_VERSION / 10000, '.', KOKKOS_VERSION / 100 % 100, '.', KOKKOS_VERSION % 100);
  v["openblas"] = openblas_get_config();
  unsigned h5_major = 0, h5_minor = 0, h5_release = 0;
  H5get_libversion(&h5_major, &h5_minor, &h5_release);
  v["hdf5"] = cat(h5_major, '.', h5_minor, '.', h5_release, " (parallel)");
  v["zlib"] = zlibVersion();
#if defined(MERIDIAN_HAVE_CUDA)
  int runtime = 0, driver = 0;
  if (cudaRuntimeGetVersion(&runtime) == cudaSuccess)
    v["cuda_runtime"] = cat(runtime / 1000, '.', runtime % 1000 / 10);
  if (cudaDriverGetVersion(&driver) == cudaSuccess && driver > 0)
    v["cuda_driver"] = cat(driver / 1000, '.', driver % 1000 / 10);
  int nccl = 0;
  if (ncclGetVersion(&nccl) == ncclSuccess)
    v["nccl"] = cat(nccl / 10000, '.', nccl / 100 % 100, '.', nccl % 100);
#endif
  return v;
}

}  // namespace meridian
