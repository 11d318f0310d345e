// Timed loops of comm_bench (nothing here checks, allocates or prints): warm-up, then rounds of
// -n iterations of ours and of raw MPI in alternating order. A round's time is the per-rank mean
// over its iterations, then the max over ranks; the reported time is the median over rounds.
#include <algorithm>
#include <vector>

#include "common/stats.hpp"
#include "comm_bench.hpp"
#include "core/error.hpp"
#include "core/timer.hpp"

namespace meridian::bench {
namespace {

using stats::median;

// One round: a barrier, `iters` back-to-back calls, the slowest rank's mean in microseconds.
template <class Call>
double time_round(MPI_Comm timing_comm, int iters, Call&& call) {
  MPI_CHECK(MPI_Barrier(timing_comm));
  WallTimer timer;
  for (int k = 0; k < iters; ++k) call();
  const double mean_us = timer.elapsed_us() / iters;
  double slowest_us = mean_us;
  MPI_CHECK(MPI_Allreduce(&mean_us, &slowest_us, 1, MPI_DOUBLE, MPI_MAX, timing_comm));
  return slowest_us;
}

}  // namespace

Timing time_case(Communicator& comm, MPI_Comm raw_comm, MPI_Comm timing_comm, const Case& c, const void* send,
                 void* recv, const TimingOptions& options) {
  const bool with_raw = options.with_raw && raw_possible(c);
  auto ours = [&] { run_ours(comm, c, send, recv, options.nonblocking); };
  auto raw = [&] { run_raw(raw_comm, c, send, recv, options.nonblocking); };

  for (int k = 0; k < options.warmup_iters; ++k) {
    ours();
    if (with_raw) raw();
  }
  std::vector<double> ours_us, raw_us;
  for (int round = 0; round < options.rounds; ++round) {
    const bool ours_first = round % 2 == 0;
    if (ours_first) ours_us.push_back(time_round(timing_comm, options.iters, ours));
    if (with_raw) raw_us.push_back(time_round(timing_comm, options.iters, raw));
    if (!ours_first) ours_us.push_back(time_round(timing_comm, options.iters, ours));
  }
  Timing t;
  t.time_us = median(ours_us);
  if (with_raw) {
    t.raw_time_us = median(raw_us);
    std::vector<double> ratios;
    for (std::size_t k = 0; k < ours_us.size(); ++k)
      if (ours_us[k] > 0) ratios.push_back(raw_us[k] / ours_us[k]);
    if (!ratios.empty()) t.ratio = median(ratios);
  }
  return t;
}

}  // namespace meridian::bench
