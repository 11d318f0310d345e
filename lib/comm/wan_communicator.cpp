// WAN emulation: the paced exchange (per-link clocks, transfers that carry their arrival time and
// are waited for until then), the hierarchical collectives built on it, and the byte counters.
// Buffers are host arrays.
#include "comm/wan_communicator.hpp"

#include <sys/prctl.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>
#include <span>
#include <thread>

#include "core/error.hpp"
#include "core/timer.hpp"

namespace meridian {
namespace {

constexpr int kLeaderTag = 7;  // tag of the leaders' ring and broadcast messages
constexpr double kProgressStep_s = 200e-6;  // longest sleep between two MPI progress calls while waiting
constexpr std::int64_t kMaxPiece = std::int64_t{1} << 30;  // largest message, in elements or bytes

// MPI progress, then a short sleep, until all are complete: a rank waiting for its data center's
// leader (who waits for the WAN) or for bytes to move leaves the core to the computation it overlaps with.
void wait_sleeping(std::span<MPI_Request> requests) {
  if (requests.empty()) return;
  for (;;) {
    int done = 0;
    MPI_CHECK(MPI_Testall(static_cast<int>(requests.size()), requests.data(), &done, MPI_STATUSES_IGNORE));
    if (done != 0) return;
    std::this_thread::sleep_for(std::chrono::duration<double>(kProgressStep_s));
  }
}

// Sleeps until `t` with the timer slack of this thread (50 µs by default on Linux) cut to 1 µs for the
// sleep, so that a latency of a millisecond is kept to within a few percent.
void sleep_precisely_until(std::chrono::steady_clock::time_point t) {
  if (t <= std::chrono::steady_clock::now()) return;
  const int slack_ns = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
  if (slack_ns > 1000) prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  std::this_thread::sleep_until(t);
  if (slack_ns > 1000) prctl(PR_SET_TIMERSLACK, static_cast<unsigned long>(slack_ns), 0, 0, 0);
}

// Starts start(offset, length) -> MPI_Request for every piece of [0, n) small enough for an MPI
// (int) count, then waits for them all with wait_sleeping.
template <class Start>
void run_in_pieces(std::int64_t n, Start start) {
  std::vector<MPI_Request> requests;
  for (std::int64_t off = 0; off < n; off += kMaxPiece) requests.push_back(start(off, std::min(kMaxPiece, n - off)));
  wait_sleeping(requests);
}

// Rank 0's steady clock minus this rank's, in seconds (0 on rank 0). Rank 0 answers ping-pongs
// from every other rank in turn; each rank keeps the estimate of its shortest round trip
// (Cristian's method), good to half of it, so a rank descheduled during some exchanges (a loaded
// machine) still gets an offset good to microseconds. A barrier's exit skew can be milliseconds.
double offset_to_rank0(MPI_Comm comm) {
  constexpr int kRounds = 32, kTag = 6;
  int rank = 0, size = 1;
  MPI_CHECK(MPI_Comm_rank(comm, &rank));
  MPI_CHECK(MPI_Comm_size(comm, &size));
  if (rank == 0) {
    for (int r = 1; r < size; ++r)
      for (int i = 0; i < kRounds; ++i) {
        char ping = 0;
        MPI_CHECK(MPI_Recv(&ping, 1, MPI_CHAR, r, kTag, comm, MPI_STATUS_IGNORE));
        const double t = steady_seconds();
        MPI_CHECK(MPI_Send(&t, 1, MPI_DOUBLE, r, kTag, comm));
      }
    return 0.0;
  }
  double best_round_trip = std::numeric_limits<double>::infinity(), offset = 0.0;
  for (int i = 0; i < kRounds; ++i) {
    char ping = 0;
    double t0 = 0.0;
    const double sent = steady_seconds();
    MPI_CHECK(MPI_Send(&ping, 1, MPI_CHAR, 0, kTag, comm));
    MPI_CHECK(MPI_Recv(&t0, 1, MPI_DOUBLE, 0, kTag, comm, MPI_STATUS_IGNORE));
    const double back = steady_seconds();
    if (back - sent < best_round_trip) {
      best_round_trip = back - sent;
      offset = t0 - 0.5 * (sent + back);
    }
  }
  return offset;
}

template <class T>
void combine_typed(T* acc, const T* in, std::int64_t n, ReduceOp op) {
  switch (op) {
    case ReduceOp::sum:
    case ReduceOp::avg:
      for (std::int64_t i = 0; i < n; ++i) acc[i] += in[i];
      return;
    case ReduceOp::max:
      for (std::int64_t i = 0; i < n; ++i) acc[i] = std::max(acc[i], in[i]);
      return;
    case ReduceOp::min:
      for (std::int64_t i = 0; i < n; ++i) acc[i] = std::min(acc[i], in[i]);
      return;
  }
}

// The dtypes the leaders' ring can reduce; checked before anything is queued, so that a bad dtype
// fails on every rank alike.
void check_reducible(DType dtype) {
  MERIDIAN_INPUT_CHECK(dtype == DType::f32 || dtype == DType::f64 || dtype == DType::i32 || dtype == DType::i64,
                       "WAN emulation: reductions over ", dtype_name(dtype),
                       " are not supported; use f32, f64, i32 or i64");
}

void combine(void* acc, const void* in, std::int64_t n, DType dtype, ReduceOp op) {
  switch (dtype) {
    case DType::f32: return combine_typed(static_cast<float*>(acc), static_cast<const float*>(in), n, op);
    case DType::f64: return combine_typed(static_cast<double*>(acc), static_cast<const double*>(in), n, op);
    case DType::i32:
      return combine_typed(static_cast<std::int32_t*>(acc), static_cast<const std::int32_t*>(in), n, op);
    case DType::i64:
      return combine_typed(static_cast<std::int64_t*>(acc), static_cast<const std::int64_t*>(in), n, op);
    default: break;
  }
  check_reducible(dtype);  // throws for every other dtype
}

void divide(void* buffer, std::int64_t n, DType dtype, int by) {
  if (dtype == DType::f32) {
    auto* p = static_cast<float*>(buffer);
    for (std::int64_t i = 0; i < n; ++i) p[i] /= static_cast<float>(by);
  } else {
    auto* p = static_cast<double*>(buffer);
    for (std::int64_t i = 0; i < n; ++i) p[i] /= static_cast<double>(by);
  }
}

}  // namespace

WanCommunicator::WanCommunicator(MPI_Comm comm, std::vector<int> dc_of_rank, LinkModel links)
    : dc_of_rank_(std::move(dc_of_rank)), links_(std::move(links)) {
  world_ = std::make_unique<MpiCommunicator>(comm);
  const int n = world_->size();
  MERIDIAN_INPUT_CHECK(static_cast<int>(dc_of_rank_.size()) == n, "WAN emulation: the data-center map names ",
                       dc_of_rank_.size(), " ranks but the communicator has ", n);
  const std::set<int> used(dc_of_rank_.begin(), dc_of_rank_.end());
  MERIDIAN_INPUT_CHECK(*used.begin() == 0 && *used.rbegin() == links_.dcs() - 1 &&
                           static_cast<int>(used.size()) == links_.dcs(),
                       "WAN emulation: the ranks use data-center ids ", *used.begin(), "..", *used.rbegin(), " (",
                       used.size(), " distinct) but the link model has ", links_.dcs(),
                       " data centers; every id 0..", links_.dcs() - 1, " needs at least one rank");
  leader_of_dc_.assign(static_cast<std::size_t>(links_.dcs()), n);
  for (int r = n - 1; r >= 0; --r) leader_of_dc_[static_cast<std::size_t>(dc_of_rank_[r])] = r;
  MPI_Comm dc_comm = MPI_COMM_NULL;
  MPI_CHECK(MPI_Comm_split(world_->mpi_comm(), dc_id(), rank(), &dc_comm));
  dc_ = std::make_unique<MpiCommunicator>(dc_comm);
  MPI_CHECK(MPI_Comm_free(&dc_comm));
  const bool leader = leader_of_dc_[static_cast<std::size_t>(dc_id())] == rank();
  MPI_Comm sub = MPI_COMM_NULL;
  MPI_CHECK(MPI_Comm_split(world_->mpi_comm(), leader ? 0 : MPI_UNDEFINED, dc_id(), &sub));
  if (sub != MPI_COMM_NULL) {
    leaders_ = std::make_unique<MpiCommunicator>(sub);
    MPI_CHECK(MPI_Comm_free(&sub));
  }
  link_free_at_.assign(static_cast<std::size_t>(links_.dcs()), 0.0);
  stats_.bytes_to_dc.assign(static_cast<std::size_t>(links_.dcs()), 0);
  // Time zero is rank 0's clock after a barrier, in every rank's own clock.
  const double offset_s = offset_to_rank0(world_->mpi_comm());
  world_->barrier();
  double zero_s = rank() == 0 ? steady_seconds() : 0.0;
  MPI_CHECK(MPI_Bcast(&zero_s, 1, MPI_DOUBLE, 0, world_->mpi_comm()));
  using Ticks = std::chrono::steady_clock::duration;
  zero_ = std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<Ticks>(std::chrono::duration<double>(zero_s - offset_s)));
}

WanCommunicator::~WanCommunicator() {
  executor_.reset();  // runs what is queued (the other ranks take part), then stops the worker
}

double WanCommunicator::clock_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - zero_).count();
}

std::chrono::steady_clock::time_point WanCommunicator::at(double clock_s) const {
  return zero_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(clock_s));
}

WanStats WanCommunicator::stats() const {
  std::lock_guard lock(stats_mutex_);
  return stats_;
}

// ---------------------------------------------------------------------------------------------
// The paced exchange

void WanCommunicator::paced_exchange(MPI_Comm comm, int tag, const std::vector<Transfer>& sends,
                                     const std::vector<Transfer>& recvs) {
  // Every transfer is a header, the clock time at which its last byte reaches the peer by the link
  // model, followed by its data; both go at once at machine speed (in pieces an MPI count can hold).
  // The link's timing is kept by the wait: the exchange ends when this rank's sends are delivered
  // and the data it receives has arrived, each at its computed time. Headers and data of one peer
  // match in order (MPI does not overtake), so each peer appears at most once per direction.
  std::vector<double> arrive_at(recvs.size(), 0.0), deliver_at(sends.size(), 0.0);
  std::vector<MPI_Request> requests;
  const auto post = [&](bool send, const Transfer& t, double* header) {
    MPI_Request q = MPI_REQUEST_NULL;
    MPI_CHECK(send ? MPI_Isend(header, 1, MPI_DOUBLE, t.peer, tag, comm, &q)
                   : MPI_Irecv(header, 1, MPI_DOUBLE, t.peer, tag, comm, &q));
    requests.push_back(q);
    for (std::int64_t off = 0; off < t.bytes; off += kMaxPiece) {
      const int n = static_cast<int>(std::min(kMaxPiece, t.bytes - off));
      MPI_CHECK(send ? MPI_Isend(t.data + off, n, MPI_BYTE, t.peer, tag, comm, &q)
                     : MPI_Irecv(t.data + off, n, MPI_BYTE, t.peer, tag, comm, &q));
      requests.push_back(q);
    }
  };
  for (std::size_t i = 0; i < recvs.size(); ++i) post(false, recvs[i], &arrive_at[i]);
  // A link serialises the sends over it in order from its clock, and each arrives one latency
  // after its last bit; inside the data center a transfer is there when MPI has moved it.
  const double now = clock_s();
  double done_at = now;
  for (std::size_t i = 0; i < sends.size(); ++i) {
    const Transfer& s = sends[i];
    deliver_at[i] = now;
    if (s.peer_dc != dc_id()) {
      const Link& link = links_.link(dc_id(), s.peer_dc);
      double& free_at = link_free_at_[static_cast<std::size_t>(s.peer_dc)];
      free_at = link.finish_time(std::max(now, free_at), 8.0 * static_cast<double>(s.bytes));
      deliver_at[i] = free_at + link.latency_s;
    }
    done_at = std::max(done_at, deliver_at[i]);
    post(true, s, &deliver_at[i]);
  }
  wait_sleeping(requests);  // MPI moves the bytes (and the receiver learns their arrival times)
  for (double t : arrive_at) done_at = std::max(done_at, t);
  sleep_precisely_until(at(done_at));
  std::lock_guard lock(stats_mutex_);
  for (const Transfer& s : sends)
    if (s.peer_dc != dc_id()) stats_.bytes_to_dc[static_cast<std::size_t>(s.peer_dc)] += s.bytes;
}

// ---------------------------------------------------------------------------------------------
// Collectives

void WanCommunicator::all_reduce_body(void* buffer, std::int64_t count, DType dtype, ReduceOp op) {
  const ReduceOp inner = op == ReduceOp::avg ? ReduceOp::sum : op;
  if (dc_->size() > 1) {
    const std::int64_t esize = static_cast<std::int64_t>(dtype_size(dtype));
    run_in_pieces(count, [&](std::int64_t off, std::int64_t n) {
      MPI_Request q = MPI_REQUEST_NULL;
      MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, static_cast<char*>(buffer) + off * esize, static_cast<int>(n),
                               mpi_datatype(dtype), mpi_reduce_op(inner, dtype), dc_->mpi_comm(), &q));
      return q;
    });
  }
  if (leaders_ != nullptr && leaders_->size() > 1) {
    // Ring all-reduce among the leaders: reduce-scatter, then all-gather, block b of the buffer
    // owned by leader b. Every block is summed in the same ring order, so all ranks end with the
    // same bits.
    const int k = leaders_->size(), me = leaders_->rank();
    const int next = (me + 1) % k, prev = (me + k - 1) % k;
    const std::size_t esize = dtype_size(dtype);
    const auto block_begin = [&](int b) { return count * b / k; };
    const auto block_ptr = [&](int b) { return static_cast<char*>(buffer) + block_begin(b) * esize; };
    const auto block_len = [&](int b) { return block_begin(b + 1) - block_begin(b); };
    ring_scratch_.resize(std::max(ring_scratch_.size(), static_cast<std::size_t>(count / k + 1) * esize));
    char* incoming = ring_scratch_.data();
    const MPI_Comm comm = leaders_->mpi_comm();
    for (int s = 0; s < k - 1; ++s) {
      const int out = ((me - s) % k + k) % k, in = ((me - s - 1) % k + k) % k;
      paced_exchange(comm, kLeaderTag,
                     {Transfer{next, next, block_ptr(out), block_len(out) * static_cast<std::int64_t>(esize)}},
                     {Transfer{prev, prev, incoming, block_len(in) * static_cast<std::int64_t>(esize)}});
      combine(block_ptr(in), incoming, block_len(in), dtype, op);
    }
    for (int s = 0; s < k - 1; ++s) {
      const int out = ((me + 1 - s) % k + k) % k, in = ((me - s) % k + k) % k;
      paced_exchange(comm, kLeaderTag,
                     {Transfer{next, next, block_ptr(out), block_len(out) * static_cast<std::int64_t>(esize)}},
                     {Transfer{prev, prev, block_ptr(in), block_len(in) * static_cast<std::int64_t>(esize)}});
    }
  }
  dc_broadcast(buffer, count * static_cast<std::int64_t>(dtype_size(dtype)), 0);  // the leader is the lowest rank of its data center
  if (op == ReduceOp::avg) divide(buffer, count, dtype, size());
}

void WanCommunicator::dc_broadcast(void* buffer, std::int64_t bytes, int root) {
  if (dc_->size() == 1) return;
  run_in_pieces(bytes, [&](std::int64_t off, std::int64_t n) {
    MPI_Request q = MPI_REQUEST_NULL;
    MPI_CHECK(MPI_Ibcast(static_cast<char*>(buffer) + off, static_cast<int>(n), MPI_BYTE, root, dc_->mpi_comm(), &q));
    return q;
  });
}

void WanCommunicator::broadcast_body(void* buffer, std::int64_t bytes, int root) {
  const int root_dc = dc_of_rank_[static_cast<std::size_t>(root)];
  if (dc_id() == root_dc) {  // root's data center, its leader included, first
    int local_root = 0;  // root's rank inside the data center (ranked by world rank)
    for (int r = 0; r < root; ++r) local_root += dc_of_rank_[static_cast<std::size_t>(r)] == root_dc ? 1 : 0;
    dc_broadcast(buffer, bytes, local_root);
  }
  if (leaders_ != nullptr && leaders_->size() > 1) {
    std::vector<Transfer> sends, recvs;
    char* data = static_cast<char*>(buffer);
    if (dc_id() == root_dc) {
      for (int d = 0; d < leaders_->size(); ++d)
        if (d != root_dc) sends.push_back(Transfer{d, d, data, bytes});
    } else {
      recvs.push_back(Transfer{root_dc, root_dc, data, bytes});
    }
    paced_exchange(leaders_->mpi_comm(), kLeaderTag, sends, recvs);
  }
  if (dc_id() != root_dc) dc_broadcast(buffer, bytes, 0);
}

void WanCommunicator::do_all_reduce(const void* send, void* recv, std::int64_t count, DType dtype, ReduceOp op,
                                    Request* request) {
  check_reducible(dtype);
  run_op(
      [=, this] {
        if (send != recv) std::memcpy(recv, send, static_cast<std::size_t>(count) * dtype_size(dtype));
        all_reduce_body(recv, count, dtype, op);
      },
      request);
}

void WanCommunicator::do_broadcast(void* buffer, std::int64_t count, DType dtype, int root, Request* request) {
  const std::int64_t bytes = count * static_cast<std::int64_t>(dtype_size(dtype));
  run_op([=, this] { broadcast_body(buffer, bytes, root); }, request);
}

// One paced broadcast per rank's block: correct for any placement, at the cost of sending every
// block from its own data center (fine for the small gathers of metrics it is used for).
void WanCommunicator::do_all_gather(const void* send, void* recv, std::int64_t count_per_rank, DType dtype,
                                    Request* request) {
  const std::int64_t bytes = count_per_rank * static_cast<std::int64_t>(dtype_size(dtype));
  run_op(
      [=, this] {
        char* out = static_cast<char*>(recv);
        if (send != out + rank() * bytes) std::memcpy(out + rank() * bytes, send, static_cast<std::size_t>(bytes));
        for (int r = 0; r < size(); ++r) broadcast_body(out + r * bytes, bytes, r);
      },
      request);
}

// All-reduce of the whole buffer, then this rank's block: twice the traffic of a ring
// reduce-scatter, but exact and simple.
void WanCommunicator::do_reduce_scatter(const void* send, void* recv, std::int64_t count_per_rank, DType dtype,
                                        ReduceOp op, Request* request) {
  check_reducible(dtype);
  run_op(
      [=, this] {
        const std::size_t esize = dtype_size(dtype);
        std::vector<char> all(static_cast<std::size_t>(count_per_rank * size()) * esize);
        std::memcpy(all.data(), send, all.size());
        all_reduce_body(all.data(), count_per_rank * size(), dtype, op);
        std::memcpy(recv, all.data() + static_cast<std::size_t>(count_per_rank * rank()) * esize,
                    static_cast<std::size_t>(count_per_rank) * esize);
      },
      request);
}

// Unpaced: a barrier carries no payload, and its latency cost is not modelled.
void WanCommunicator::do_barrier(Request* request) {
  run_op([this] { world_->barrier(); }, request);
}

void WanCommunicator::do_send_recv(const void* send_buffer, std::int64_t send_count, int dest, void* recv_buffer,
                                   std::int64_t recv_count, int source, DType dtype, int tag, Request* request) {
  const std::int64_t esize = static_cast<std::int64_t>(dtype_size(dtype));
  run_op(
      [=, this] {
        std::vector<Transfer> sends, recvs;
        if (dest != no_peer)
          sends.push_back(Transfer{dest, dc_of_rank_[static_cast<std::size_t>(dest)],
                                   static_cast<char*>(const_cast<void*>(send_buffer)), send_count * esize});
        if (source != no_peer)
          recvs.push_back(Transfer{source, dc_of_rank_[static_cast<std::size_t>(source)],
                                   static_cast<char*>(recv_buffer), recv_count * esize});
        paced_exchange(world_->mpi_comm(), tag, sends, recvs);
      },
      request);
}

std::unique_ptr<Communicator> WanCommunicator::do_split(int, int) {
  throw Error("WanCommunicator::split: a WAN-emulated communicator cannot be split; split the MPI communicator "
              "first and build a WanCommunicator over each part");
}

}  // namespace meridian
