// Main of the multi-rank test binary: MPI + Kokkos around GoogleTest. Only rank 0 prints the usual
// report; other ranks print just their failures. The exit code is agreed across ranks (any rank's
// failure fails all), so CTest sees one verdict.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdio>
#include <cstring>

#include "core/runtime.hpp"

namespace {

// On ranks other than 0: prints failed assertions with the rank, nothing else.
class FailureOnlyPrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit FailureOnlyPrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& r) override {
    if (r.failed())
      std::fprintf(stderr, "[rank %d] %s:%d: Failure\n%s\n", rank_, r.file_name() ? r.file_name() : "?",
                   r.line_number(), r.summary());
  }

 private:
  int rank_;
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  meridian::RuntimeOptions options;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--threads") == 0) options.threads = std::atoi(argv[i + 1]);
  meridian::Runtime runtime(argc, argv, options);
  if (runtime.world_rank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new FailureOnlyPrinter(runtime.world_rank()));
  }
  const int local = RUN_ALL_TESTS() != 0 ? 1 : 0;
  int any = 0;
  MPI_Allreduce(&local, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (runtime.world_rank() == 0 && any && !local)
    std::fprintf(stderr, "FAILED on another rank (see its [rank R] lines above)\n");
  return any;
}
