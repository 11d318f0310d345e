# Finds every external dependency and stops at configure time with one clear message (what is
# missing, and the two ways to get it: scripts/bootstrap on Debian/Ubuntu, or CMAKE_PREFIX_PATH on a
# cluster) instead of a compile error later.

# The prefix where scripts/bootstrap puts what Debian does not ship in the form we need.
if(DEFINED ENV{MERIDIAN_DEPS_PREFIX})
  set(MERIDIAN_DEPS_PREFIX "$ENV{MERIDIAN_DEPS_PREFIX}")
else()
  set(MERIDIAN_DEPS_PREFIX "$ENV{HOME}/.cache/meridian")
endif()

function(meridian_missing what how)
  message(FATAL_ERROR
    "Meridian: ${what} was not found.\n"
    "  On Debian 12 / Ubuntu run `sudo scripts/bootstrap` (installs every dependency), or ${how}.\n"
    "  On a cluster, load the module and add its prefix to CMAKE_PREFIX_PATH.")
endfunction()

# MPI (Open MPI): host-memory collectives and the process launcher.
find_package(MPI COMPONENTS C CXX)
if(NOT MPI_CXX_FOUND)
  meridian_missing("MPI (Open MPI, C and C++ bindings)" "`apt-get install libopenmpi-dev openmpi-bin`")
endif()

# Threads and OpenMP (the Kokkos host backend).
find_package(Threads REQUIRED)

# Kokkos with the OpenMP backend.
find_package(Kokkos 3.4 CONFIG QUIET HINTS "${MERIDIAN_DEPS_PREFIX}/kokkos-openmp")
if(NOT Kokkos_FOUND)
  meridian_missing("Kokkos (>= 3.4, with the OpenMP backend)"
    "build one with -DKokkos_ENABLE_OPENMP=ON and pass -DKokkos_ROOT=<prefix>")
endif()
if(NOT Kokkos_ENABLE_OPENMP)
  message(FATAL_ERROR
    "Meridian: the Kokkos found at ${Kokkos_DIR} was built without the OpenMP backend "
    "(devices: ${Kokkos_DEVICES}); Debian's libtrilinos-kokkos-dev is such a Serial-only build.\n"
    "  Run `sudo scripts/bootstrap`: it builds an OpenMP Kokkos into ${MERIDIAN_DEPS_PREFIX}/kokkos-openmp,\n"
    "  or point Kokkos_ROOT at a Kokkos configured with -DKokkos_ENABLE_OPENMP=ON.")
endif()

# OpenBLAS through the CBLAS interface, by default its OpenMP build: the pthread build's workers
# busy-wait after every call and compete with the Kokkos OpenMP threads that run next, while the
# OpenMP build shares one thread pool with Kokkos. Debian installs both builds side by side
# (libopenblas-openmp-dev, libopenblas-pthread-dev) in openblas-<threading>/ subfolders; the build
# links the chosen one by full path, and the run path keeps the loader on it whatever the system
# alternative points at. MERIDIAN_OPENBLAS_THREADING=any takes whatever libopenblas is found.
set(MERIDIAN_OPENBLAS_THREADING "openmp" CACHE STRING "OpenBLAS build to link: openmp, pthread or any")
set_property(CACHE MERIDIAN_OPENBLAS_THREADING PROPERTY STRINGS openmp pthread any)
if(NOT MERIDIAN_OPENBLAS_THREADING MATCHES "^(openmp|pthread|any)$")
  message(FATAL_ERROR "Meridian: MERIDIAN_OPENBLAS_THREADING=${MERIDIAN_OPENBLAS_THREADING} is not one of "
                      "openmp, pthread, any")
endif()
set(_meridian_blas_suffix "")
if(NOT MERIDIAN_OPENBLAS_THREADING STREQUAL "any")
  set(_meridian_blas_suffix "openblas-${MERIDIAN_OPENBLAS_THREADING}")
endif()
find_library(MERIDIAN_OPENBLAS_LIBRARY NAMES openblas PATH_SUFFIXES ${_meridian_blas_suffix})
find_path(MERIDIAN_CBLAS_INCLUDE_DIR cblas.h PATH_SUFFIXES ${_meridian_blas_suffix} openblas)
if(NOT MERIDIAN_OPENBLAS_LIBRARY OR NOT MERIDIAN_CBLAS_INCLUDE_DIR)
  meridian_missing("OpenBLAS (library and cblas.h)" "`apt-get install libopenblas-openmp-dev`")
endif()
if(MERIDIAN_OPENBLAS_THREADING STREQUAL "openmp")
  # A plain libopenblas on Debian is the alternatives link to the pthread build: say so rather than
  # link the wrong one. Elsewhere (a cluster module) the run-time check in lib/core reports the build.
  get_filename_component(_meridian_blas_real "${MERIDIAN_OPENBLAS_LIBRARY}" REALPATH)
  if(_meridian_blas_real MATCHES "openblas-(pthread|serial)/")
    message(FATAL_ERROR
      "Meridian: the OpenBLAS found (${_meridian_blas_real}) is the ${CMAKE_MATCH_1} build, not the OpenMP one.\n"
      "  Run `sudo apt-get install libopenblas-openmp-dev` (scripts/bootstrap does), or configure with\n"
      "  -DMERIDIAN_OPENBLAS_THREADING=any to use it anyway (its threads then compete with Kokkos's).")
  endif()
endif()
message(STATUS "Meridian: OpenBLAS ${MERIDIAN_OPENBLAS_LIBRARY} (threading: ${MERIDIAN_OPENBLAS_THREADING})")
add_library(meridian_openblas INTERFACE)
target_link_libraries(meridian_openblas INTERFACE ${MERIDIAN_OPENBLAS_LIBRARY})
target_include_directories(meridian_openblas SYSTEM INTERFACE ${MERIDIAN_CBLAS_INCLUDE_DIR})

# Parallel HDF5 (persistent checkpoints and result files written collectively).
set(HDF5_PREFER_PARALLEL TRUE)
find_package(HDF5 COMPONENTS C QUIET)
if(NOT HDF5_FOUND)
  meridian_missing("parallel HDF5" "`apt-get install libhdf5-openmpi-dev`")
endif()
if(NOT HDF5_IS_PARALLEL)
  message(FATAL_ERROR
    "Meridian: the HDF5 found (${HDF5_C_LIBRARIES}) is serial; Meridian writes checkpoints collectively "
    "and needs parallel HDF5.\n  Run `sudo scripts/bootstrap` (installs libhdf5-openmpi-dev) or load an "
    "MPI-enabled HDF5 module (its h5pcc must be first in PATH).")
endif()
add_library(meridian_hdf5 INTERFACE)
target_link_libraries(meridian_hdf5 INTERFACE ${HDF5_C_LIBRARIES})
target_include_directories(meridian_hdf5 SYSTEM INTERFACE ${HDF5_C_INCLUDE_DIRS})
target_compile_definitions(meridian_hdf5 INTERFACE ${HDF5_C_DEFINITIONS})

# ISA-L (erasure coding of in-memory snapshots).
find_path(MERIDIAN_ISAL_INCLUDE_DIR isa-l/erasure_code.h)
find_library(MERIDIAN_ISAL_LIBRARY isal)
if(NOT MERIDIAN_ISAL_INCLUDE_DIR OR NOT MERIDIAN_ISAL_LIBRARY)
  meridian_missing("ISA-L (isa-l/erasure_code.h and libisal)" "`apt-get install libisal-dev`")
endif()
add_library(meridian_isal INTERFACE)
target_link_libraries(meridian_isal INTERFACE ${MERIDIAN_ISAL_LIBRARY})
target_include_directories(meridian_isal SYSTEM INTERFACE ${MERIDIAN_ISAL_INCLUDE_DIR})

find_package(ZLIB QUIET)
if(NOT ZLIB_FOUND)
  meridian_missing("zlib" "`apt-get install zlib1g-dev`")
endif()
find_package(nlohmann_json 3.9 CONFIG QUIET)
if(NOT nlohmann_json_FOUND)
  meridian_missing("nlohmann-json (>= 3.9)" "`apt-get install nlohmann-json3-dev`")
endif()
find_package(CLI11 2.0 CONFIG QUIET)
if(NOT CLI11_FOUND)
  meridian_missing("CLI11 (>= 2.0)" "`apt-get install libcli11-dev`")
endif()
if(MERIDIAN_BUILD_TESTS)
  find_package(GTest CONFIG QUIET)
  if(NOT GTest_FOUND)
    meridian_missing("GoogleTest" "`apt-get install libgtest-dev libgmock-dev`")
  endif()
endif()
if(MERIDIAN_BUILD_APPS)
  find_package(benchmark CONFIG QUIET)
  if(NOT benchmark_FOUND)
    meridian_missing("Google Benchmark" "`apt-get install libbenchmark-dev`")
  endif()
endif()

# CUDA backend: CUDA toolkit, cuBLAS and NCCL.
string(TOUPPER "${MERIDIAN_ENABLE_CUDA}" _meridian_cuda_request)
set(MERIDIAN_HAVE_CUDA OFF)
if(_meridian_cuda_request STREQUAL "AUTO")
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    set(_meridian_cuda_request ON)
  else()
    message(STATUS "Meridian: nvcc not found, building the CPU backend only")
    set(_meridian_cuda_request OFF)
  endif()
endif()
if(_meridian_cuda_request)
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES 90)
  endif()
  enable_language(CUDA)
  if(NOT DEFINED CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
    # CMake 3.25 knows nvcc's flags only up to C++17 and would refuse CUDA_STANDARD 20 at generate
    # time; nvcc >= 12 takes -std=c++20.
    set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
    set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
  endif()
  set(CMAKE_CUDA_STANDARD 20)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  find_package(CUDAToolkit REQUIRED)
  find_path(MERIDIAN_NCCL_INCLUDE_DIR nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS} $ENV{NCCL_HOME}/include)
  find_library(MERIDIAN_NCCL_LIBRARY nccl HINTS ${CUDAToolkit_LIBRARY_DIR} "${CUDAToolkit_LIBRARY_ROOT}/lib"
               $ENV{NCCL_HOME}/lib)
  if(NOT MERIDIAN_NCCL_INCLUDE_DIR OR NOT MERIDIAN_NCCL_LIBRARY)
    message(FATAL_ERROR "Meridian: the CUDA backend needs NCCL (nccl.h and libnccl) and it was not found.\n"
      "  Set NCCL_HOME to its prefix, install libnccl-dev, or configure with -DMERIDIAN_ENABLE_CUDA=OFF.")
  endif()
  add_library(meridian_nccl INTERFACE)
  target_link_libraries(meridian_nccl INTERFACE ${MERIDIAN_NCCL_LIBRARY})
  target_include_directories(meridian_nccl SYSTEM INTERFACE ${MERIDIAN_NCCL_INCLUDE_DIR})
  set(MERIDIAN_HAVE_CUDA ON)
endif()
