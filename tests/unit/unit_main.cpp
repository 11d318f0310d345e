// Main of the one-process test binary: starts Kokkos (and no MPI) around GoogleTest.
#include <gtest/gtest.h>

#include "core/runtime.hpp"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  meridian::RuntimeOptions options;
  options.init_mpi = false;
  meridian::Runtime runtime(argc, argv, options);
  return RUN_ALL_TESTS();
}
