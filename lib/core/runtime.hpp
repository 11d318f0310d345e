// Process-wide start and stop of what Meridian runs on: MPI (MPI_THREAD_MULTIPLE, which the
// communicator's progress threads need), Kokkos (OpenMP threads) and OpenBLAS's thread count.
// Apps and MPI tests create exactly one Runtime at the top of main.
#pragma once

#include <string>

namespace meridian {

struct RuntimeOptions {
  int threads = 0;          // OpenMP/OpenBLAS threads per rank; 0 = OMP_NUM_THREADS or all cores / ranks on the node
  bool init_mpi = true;     // false for single-process tools and unit tests
};

class Runtime {
 public:
  Runtime(int& argc, char**& argv, const RuntimeOptions& options = {});
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  int world_rank() const { return world_rank_; }
  int world_size() const { return world_size_; }
  int threads() const { return threads_; }
  const std::string& hostname() const { return hostname_; }
  bool mpi() const { return owns_mpi_; }

 private:
  int world_rank_ = 0;
  int world_size_ = 1;
  int threads_ = 1;
  std::string hostname_;
  bool owns_mpi_ = false;
};

// The threading of the OpenBLAS build loaded in this process: "openmp" (the one Meridian links by
// default; it shares the OpenMP pool with Kokkos), "pthread", "sequential" or "unknown".
const char* openblas_threading();

// Ends every rank: used by apps after printing an error (never a bare exit on one rank).
[[noreturn]] void abort_all(int code);

// How an app ends on an exception, so that bad input gives one clear message and no hang:
// - InputError (bad flag, file, config): printed by rank 0 only; if every rank reaches the same
//   verdict within a short grace period they finalize MPI cleanly, else all ranks are aborted;
// - anything else: printed by the rank that failed (with its location), then all ranks abort.
// Returns the exit code for main() when the exit is clean.
int handle_fatal(const std::exception& error, int exit_code);

// Runs an app body: int main(int argc, char** argv) { return meridian::run_main([&] { ... }); }
template <class Body>
int run_main(Body&& body, int exit_code_on_error = 2) {
  try {
    return body();
  } catch (const std::exception& e) {
    return handle_fatal(e, exit_code_on_error);
  }
}

}  // namespace meridian
