// The one Communicator interface of Meridian: blocking and non-blocking collectives and
// point-to-point over a group of ranks, with an MPI backend (host memory) and an NCCL backend
// (device memory). Buffers are flat arrays of `count` elements of a DType; "per rank" counts are
// the size of one rank's block, blocks laid out in rank order (block r at offset r * count).
#pragma once

#include <mpi.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "core/dtype.hpp"
#include "core/tensor.hpp"

namespace meridian {

// Reductions. avg = sum, then divide by size() (floating dtypes only).
enum class ReduceOp : std::uint8_t { sum, avg, max, min };
std::string_view reduce_op_name(ReduceOp op);  // "sum", "avg", "max", "min"
ReduceOp parse_reduce_op(std::string_view name);  // InputError naming the accepted values

// Which implementation a Communicator is. (Named CommBackend, not Backend, so that it never
// collides with the compute-backend names of lib/core.)
enum class CommBackend : std::uint8_t { mpi, nccl };
std::string_view comm_backend_name(CommBackend backend);  // "mpi", "nccl"
// "mpi" or "nccl"; InputError for anything else, and for "nccl" in a build without CUDA (the
// message says how to build one). Does not check that a GPU is present.
CommBackend parse_comm_backend(std::string_view name);
bool comm_backend_available(CommBackend backend);  // compiled in (nccl: built with CUDA)

// The internal state of one operation in flight; each backend derives its own.
class RequestState {
 public:
  virtual ~RequestState() = default;
  virtual bool test() = 0;  // true once complete; rethrows the operation's error
  virtual void wait() = 0;  // blocks until complete; rethrows the operation's error
};

// Handle on a non-blocking operation. Movable, not copyable. A default-constructed, moved-from,
// tested-complete or waited request is complete: test() returns true and wait() returns at once.
// The buffers of the operation must stay alive and untouched until it is complete.
// The destructor of an unfinished request waits for it (it never abandons a buffer that MPI or
// NCCL may still write); an error found there cannot be thrown and is logged instead, so call
// wait() yourself wherever an error must propagate.
// Progress: MPI collectives progress on the communicator's worker thread whatever the caller
// does; MPI point-to-point requests and NCCL operations progress on their own (NCCL) or inside
// test()/wait() (MPI point-to-point, like any MPI request).
class Request {
 public:
  Request() = default;
  explicit Request(std::shared_ptr<RequestState> state) : state_(std::move(state)) {}
  Request(Request&& other) noexcept = default;
  Request& operator=(Request&& other) noexcept;  // finishes (waits for) the request it replaces
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;
  ~Request();

  bool test();  // non-blocking completion check
  void wait();  // blocks until complete
  bool complete() const { return state_ == nullptr; }  // true once test()/wait() has seen it finish

 private:
  std::shared_ptr<RequestState> state_;
};

// Waits for every request in order; the first error is rethrown after all have been waited for.
void wait_all(std::span<Request> requests);

// Threads: one communicator is driven by one thread at a time (the order of its collectives is
// the order of the calls, which must be the same on every rank); use split() or another
// communicator per thread for concurrent streams of collectives.
class Communicator {
 public:
  // The `color` of split() that leaves the calling rank out of every new communicator.
  static constexpr int no_color = -1;
  // The peer of do_send_recv that stands for "no send" or "no receive".
  static constexpr int no_peer = -1;

  virtual ~Communicator() = default;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual CommBackend backend() const = 0;
  std::string_view backend_name() const { return comm_backend_name(backend()); }
  // Where buffers must live: the host (mpi) or this rank's GPU (nccl).
  virtual Device device() const = 0;
  DeviceKind device_kind() const { return device().kind; }

  // ---- Blocking collectives on raw buffers. Every rank of the communicator calls each one, in
  // the same order, with the same count, dtype, op and root.
  // recv[i] = op over ranks of send[i], i < count. In place when send == recv.
  void all_reduce(const void* send, void* recv, std::int64_t count, DType dtype, ReduceOp op);
  // recv (size * count_per_rank) = concatenation of every rank's send (count_per_rank) in rank
  // order. In place when send == recv + rank * count_per_rank.
  void all_gather(const void* send, void* recv, std::int64_t count_per_rank, DType dtype);
  // recv (count_per_rank) = op over ranks of block `rank` of send (size * count_per_rank).
  // In place when recv == send + rank * count_per_rank.
  void reduce_scatter(const void* send, void* recv, std::int64_t count_per_rank, DType dtype,
                      ReduceOp op);
  // buffer on every rank = buffer of `root`.
  void broadcast(void* buffer, std::int64_t count, DType dtype, int root);
  void barrier();

  // ---- Blocking point-to-point. Messages between a pair of ranks match in issue order; `tag`
  // (>= 0) separates streams of messages under MPI and is ignored by NCCL, which has no tags.
  // Under NCCL each send or recv is its own call on one stream, so a pair that both send first
  // waits forever: exchange with send_recv / isend_recv, which NCCL runs as one group.
  void send(const void* buffer, std::int64_t count, DType dtype, int peer, int tag = 0);
  void recv(void* buffer, std::int64_t count, DType dtype, int peer, int tag = 0);
  // Sends to `dest` and receives from `source` at once (a ring shift never deadlocks).
  void send_recv(const void* send_buffer, std::int64_t send_count, int dest, void* recv_buffer,
                 std::int64_t recv_count, int source, DType dtype, int tag = 0);

  // ---- Non-blocking versions: start the operation and return at once. Collectives of one
  // communicator complete in issue order; a blocking collective issued while non-blocking ones
  // are in flight runs after them.
  Request iall_reduce(const void* send, void* recv, std::int64_t count, DType dtype, ReduceOp op);
  Request iall_gather(const void* send, void* recv, std::int64_t count_per_rank, DType dtype);
  Request ireduce_scatter(const void* send, void* recv, std::int64_t count_per_rank, DType dtype,
                          ReduceOp op);
  Request ibroadcast(void* buffer, std::int64_t count, DType dtype, int root);
  Request ibarrier();
  Request isend(const void* buffer, std::int64_t count, DType dtype, int peer, int tag = 0);
  Request irecv(void* buffer, std::int64_t count, DType dtype, int peer, int tag = 0);
  Request isend_recv(const void* send_buffer, std::int64_t send_count, int dest, void* recv_buffer,
                     std::int64_t recv_count, int source, DType dtype, int tag = 0);

  // ---- Tensor versions: contiguous tensors on this communicator's device(); dtypes must match
  // between send and recv.
  void all_reduce(Tensor& tensor, ReduceOp op = ReduceOp::sum);  // in place
  void all_reduce(const Tensor& send, Tensor& recv, ReduceOp op = ReduceOp::sum);
  void all_gather(const Tensor& send, Tensor& recv);  // recv.numel() == size() * send.numel()
  void reduce_scatter(const Tensor& send, Tensor& recv, ReduceOp op = ReduceOp::sum);  // send.numel() == size() * recv.numel()
  void broadcast(Tensor& tensor, int root);
  void send(const Tensor& tensor, int peer, int tag = 0);
  void recv(Tensor& tensor, int peer, int tag = 0);
  Request iall_reduce(Tensor& tensor, ReduceOp op = ReduceOp::sum);
  Request iall_reduce(const Tensor& send, Tensor& recv, ReduceOp op = ReduceOp::sum);
  Request iall_gather(const Tensor& send, Tensor& recv);
  Request ireduce_scatter(const Tensor& send, Tensor& recv, ReduceOp op = ReduceOp::sum);
  Request ibroadcast(Tensor& tensor, int root);
  Request isend(const Tensor& tensor, int peer, int tag = 0);
  Request irecv(Tensor& tensor, int peer, int tag = 0);

  // New communicator of the ranks that pass the same color (>= 0), ordered by key, then by rank
  // here. Collective over this communicator. Ranks passing no_color get nullptr.
  std::unique_ptr<Communicator> split(int color, int key);

 protected:
  Communicator() = default;

  // What each backend implements; arguments are already checked (counts >= 0, ranks in range,
  // avg only on floating dtypes, buffers either identical/in place as documented or disjoint).
  virtual void do_all_reduce(const void* send, void* recv, std::int64_t count, DType dtype,
                             ReduceOp op, Request* request) = 0;
  virtual void do_all_gather(const void* send, void* recv, std::int64_t count_per_rank, DType dtype,
                             Request* request) = 0;
  virtual void do_reduce_scatter(const void* send, void* recv, std::int64_t count_per_rank,
                                 DType dtype, ReduceOp op, Request* request) = 0;
  virtual void do_broadcast(void* buffer, std::int64_t count, DType dtype, int root,
                            Request* request) = 0;
  virtual void do_barrier(Request* request) = 0;
  // Point-to-point: dest == no_peer means nothing to send, source == no_peer nothing to receive.
  virtual void do_send_recv(const void* send_buffer, std::int64_t send_count, int dest,
                            void* recv_buffer, std::int64_t recv_count, int source, DType dtype,
                            int tag, Request* request) = 0;
  virtual std::unique_ptr<Communicator> do_split(int color, int key) = 0;
  // (request == nullptr: blocking; otherwise the backend stores the started operation in it.)

 private:
  void check_peer(int peer, const char* what) const;
  void check_tensor(const Tensor& t, const char* what) const;
};

// A communicator of `backend` over the ranks of `comm` (which is duplicated; the caller keeps
// ownership of `comm`). Collective over `comm`. nccl: one GPU per rank, chosen as the node-local
// rank modulo the visible devices.
std::unique_ptr<Communicator> make_communicator(CommBackend backend, MPI_Comm comm);

}  // namespace meridian
