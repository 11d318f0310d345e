// Start-up and shut-down of MPI, Kokkos and OpenBLAS threads, and the uniform way apps end on an
// error (see handle_fatal in runtime.hpp).
#include "core/runtime.hpp"

#include <cblas.h>
#include <mpi.h>
#include <unistd.h>

#include <Kokkos_Core.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string_view>
#include <thread>

#include "core/error.hpp"
#include "core/log.hpp"

extern "C" void openblas_set_num_threads(int num_threads);
extern "C" int openblas_get_parallel();

namespace meridian {
namespace {

bool mpi_active() {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  return initialized && !finalized;
}

int default_threads(int ranks_on_node) {
  if (const char* v = std::getenv("OMP_NUM_THREADS")) {
    const int n = std::atoi(v);
    if (n > 0) return n;
  }
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  return std::max(1, cores / std::max(1, ranks_on_node));
}

}  // namespace

Runtime::Runtime(int& argc, char**& argv, const RuntimeOptions& options) {
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  hostname_ = host;
  int ranks_on_node = 1;
  if (options.init_mpi) {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      MPI_CHECK(MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided));
      owns_mpi_ = true;
      if (provided < MPI_THREAD_MULTIPLE) {
        std::fprintf(stderr,
                     "error: the MPI library provides thread level %d, Meridian needs MPI_THREAD_MULTIPLE "
                     "(its communicators progress collectives on a background thread); use an MPI built "
                     "with thread support (Open MPI 4+ is)\n", provided);
        MPI_Abort(MPI_COMM_WORLD, 3);
      }
    }
    MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &world_rank_));
    MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &world_size_));
    MPI_Comm node = MPI_COMM_NULL;
    MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, world_rank_, MPI_INFO_NULL, &node));
    MPI_CHECK(MPI_Comm_size(node, &ranks_on_node));
    MPI_CHECK(MPI_Comm_free(&node));
    set_process_identity(world_rank_, hostname_);
  }
  MERIDIAN_INPUT_CHECK(options.threads >= 0, "--threads must be 0 (automatic) or a positive count, got ",
                       options.threads);
  threads_ = options.threads > 0 ? options.threads : default_threads(ranks_on_node);
  if (!Kokkos::is_initialized()) {
    // Several ranks per node must not pin their threads to the same cores; users who run one rank
    // per socket set OMP_PROC_BIND/OMP_PLACES themselves.
    setenv("OMP_PROC_BIND", "false", 0);
    Kokkos::InitArguments args;
    args.num_threads = threads_;
    args.disable_warnings = true;
    Kokkos::initialize(args);
  }
  openblas_set_num_threads(threads_);
  if (threads_ > 1 && std::string_view(openblas_threading()) == "pthread")
    log_warn("OpenBLAS is its pthread build: its threads busy-wait after each call and slow the Kokkos work "
             "that follows; install libopenblas-openmp-dev and reconfigure (or set OPENBLAS_THREAD_TIMEOUT=4)");
}

const char* openblas_threading() {
  switch (openblas_get_parallel()) {
    case 0: return "sequential";
    case 1: return "pthread";
    case 2: return "openmp";
    default: return "unknown";
  }
}

Runtime::~Runtime() {
  // During unwinding from an error the process is about to be aborted: finalizing MPI there could
  // wait forever for ranks that are still working.
  if (std::uncaught_exceptions() > 0) return;
  if (Kokkos::is_initialized()) Kokkos::finalize();
  if (owns_mpi_ && mpi_active()) MPI_Finalize();
}

void abort_all(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
  if (mpi_active()) MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

int handle_fatal(const std::exception& error, int exit_code) {
  const bool input = dynamic_cast<const InputError*>(&error) != nullptr;
  const int rank = process_identity().rank;
  if (!input) {
    std::fprintf(stderr, "error: %s\n", error.what());
    abort_all(exit_code);
  }
  if (rank <= 0) std::fprintf(stderr, "error: %s\n", error.what());
  std::fflush(stderr);
  if (!mpi_active()) return exit_code;
  // Bad input is usually seen by every rank alike (they parse the same flags and files). If all
  // ranks arrive here within the grace period, end cleanly; otherwise abort, so nothing hangs.
  MPI_Request request = MPI_REQUEST_NULL;
  MPI_Ibarrier(MPI_COMM_WORLD, &request);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  int done = 0;
  while (!done && std::chrono::steady_clock::now() < deadline) {
    MPI_Test(&request, &done, MPI_STATUS_IGNORE);
    if (!done) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (!done) abort_all(exit_code);
  // Every rank is here: end MPI now (a Runtime still alive outside sees it finalized and skips it).
  MPI_Finalize();
  return exit_code;
}

}  // namespace meridian
