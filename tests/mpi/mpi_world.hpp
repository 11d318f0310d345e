// What the MPI tests ask of MPI_COMM_WORLD again and again: this rank and the number of ranks.
#pragma once

#include <mpi.h>

namespace meridian::testing {

inline int world_rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

inline int world_size() {
  int n = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
}

}  // namespace meridian::testing
