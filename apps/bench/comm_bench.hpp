// Shared pieces of comm_bench: the benchmarked operations (a Case = one collective at one size),
// how to run each through Meridian's Communicator and through raw MPI, the untimed check
// (comm_bench_check.cpp) and the timed loops (comm_bench_timing.cpp). Sizes are in bytes of the
// larger buffer, as in nccl-tests; "per rank" counts are one rank's block.
#pragma once

#include <mpi.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "comm/communicator.hpp"
#include "core/tensor.hpp"

namespace meridian::bench {

enum class Collective { all_reduce, all_gather, reduce_scatter, broadcast, sendrecv };
inline constexpr Collective all_collectives[] = {Collective::all_reduce, Collective::all_gather,
                                                 Collective::reduce_scatter, Collective::broadcast,
                                                 Collective::sendrecv};
std::string_view collective_name(Collective c);
std::string_view raw_mpi_name(Collective c);  // "MPI_Allreduce", ...
// busbw / algbw: all_reduce 2(n-1)/n; all_gather, reduce_scatter (n-1)/n; broadcast, sendrecv 1.
double busbw_factor(Collective c, int ranks);

// One collective at one size on `ranks` ranks.
struct Case {
  Collective collective = Collective::all_reduce;
  DType dtype = DType::f32;
  ReduceOp op = ReduceOp::sum;
  int root = 0;               // broadcast
  std::int64_t count = 0;     // all_reduce, broadcast, sendrecv: elements; gathers: per rank
  std::int64_t send_count = 0;
  std::int64_t recv_count = 0;
  std::int64_t bytes = 0;     // of the larger buffer
  std::int64_t elements() const { return std::max(send_count, recv_count); }
};
// The largest case of `collective` that fits in `bytes` (rounded down to whole elements, and for
// the gathers to whole blocks of `ranks` elements).
Case make_case(Collective collective, std::int64_t bytes, DType dtype, ReduceOp op, int ranks, int root);

// The operation through Meridian (blocking, or issued and waited for when nonblocking) and
// through a direct MPI call. Buffers hold at least send_count / recv_count elements; broadcast
// works in place on `recv`.
void run_ours(Communicator& comm, const Case& c, const void* send, void* recv, bool nonblocking);
void run_raw(MPI_Comm comm, const Case& c, const void* send, void* recv, bool nonblocking);
// False when raw MPI cannot do this case (counts above INT_MAX).
bool raw_possible(const Case& c);

// ---- Untimed checking (comm_bench_check.cpp)
// Element i of rank r's send buffer: mixed signs, small enough that every result is exact.
double check_value(DType dtype, int rank, std::int64_t i, int ranks);
// Writes check_value(dtype, rank, i, ranks) into `t` (any device).
void fill_check_values(Tensor& t, int rank, int ranks);
// Runs the case once on check inputs and counts the wrong elements of this rank's result.
// `tolerant_avg`: compare avg within a few ulps (NCCL's avg may round differently from ours).
std::int64_t check_case(Communicator& comm, const Case& c, Tensor& send, Tensor& recv, bool nonblocking,
                        bool tolerant_avg);

// ---- Timed loops (comm_bench_timing.cpp)
struct TimingOptions {
  int warmup_iters = 5;
  int iters = 20;
  int rounds = 5;
  bool nonblocking = false;
  bool with_raw = true;
};
struct Timing {
  double time_us = 0;      // ours: per-rank mean over iterations, max over ranks, median over rounds
  double raw_time_us = -1;  // the same for raw MPI; < 0 when not measured
  // Median over rounds of raw time / our time of that round (= busbw ours / raw; > 1: ours is
  // faster). Pairing each round with its neighbour in time cancels slow drift. < 0: not measured.
  double ratio = -1;
};
// Rounds alternate the order (ours, raw), (raw, ours), ... so that drift affects both alike.
// `timing_comm` is an MPI communicator for the barriers and the max over ranks.
Timing time_case(Communicator& comm, MPI_Comm raw_comm, MPI_Comm timing_comm, const Case& c, const void* send,
                 void* recv, const TimingOptions& options);

}  // namespace meridian::bench
