// Communicator over MPI on host memory. Collectives of one communicator run in issue order:
// blocking ones in the caller's thread when nothing is queued, everything else on one worker
// thread per communicator that makes the blocking MPI call (so non-blocking collectives progress
// while the caller computes). Point-to-point uses MPI_Isend/MPI_Irecv directly.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <memory>

#include "comm/communicator.hpp"
#include "comm/ordered_executor.hpp"

namespace meridian {

// The MPI datatype that carries `dtype` (bf16 and f16 travel as MPI_UINT16_T).
MPI_Datatype mpi_datatype(DType dtype);
// The MPI reduction for (op, dtype): MPI_SUM/MAX/MIN for the built-in types (avg is MPI_SUM, the
// division comes after), user-defined ops that compute through float for bf16 and f16.
MPI_Op mpi_reduce_op(ReduceOp op, DType dtype);

class MpiCommunicator final : public Communicator {
 public:
  // Duplicates `comm` (collective over it); the caller keeps ownership of `comm`. Throws when MPI
  // is not initialized or does not provide MPI_THREAD_MULTIPLE (the worker thread needs it).
  explicit MpiCommunicator(MPI_Comm comm);
  // Finishes every queued collective (the other ranks take part in them), stops the worker and
  // frees the duplicated communicator (unless MPI is already finalized).
  ~MpiCommunicator() override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  CommBackend backend() const override { return CommBackend::mpi; }
  Device device() const override { return Device::cpu(); }

  // This communicator's own MPI_Comm, for building derived objects (sub-communicators, NCCL
  // communicators, MPI-IO). Do not start collectives on it while requests of this object are in
  // flight: the worker thread may be inside one.
  MPI_Comm mpi_comm() const { return comm_; }

  // Largest element count of one MPI call (MPI counts are int). Longer all-reduces, broadcasts and
  // point-to-point messages are cut into pieces of at most this many elements; all-gather and
  // reduce-scatter blocks must fit in one. Tests lower it to exercise the cutting.
  void set_max_count_per_call(std::int64_t count);
  std::int64_t max_count_per_call() const { return max_count_per_call_; }

  // Number of worker threads started so far (0 until the first non-blocking collective, then 1).
  int worker_threads_started() const;

 protected:
  void do_all_reduce(const void* send, void* recv, std::int64_t count, DType dtype, ReduceOp op,
                     Request* request) override;
  void do_all_gather(const void* send, void* recv, std::int64_t count_per_rank, DType dtype,
                     Request* request) override;
  void do_reduce_scatter(const void* send, void* recv, std::int64_t count_per_rank, DType dtype,
                         ReduceOp op, Request* request) override;
  void do_broadcast(void* buffer, std::int64_t count, DType dtype, int root, Request* request) override;
  void do_barrier(Request* request) override;
  void do_send_recv(const void* send_buffer, std::int64_t send_count, int dest, void* recv_buffer,
                    std::int64_t recv_count, int source, DType dtype, int tag, Request* request) override;
  std::unique_ptr<Communicator> do_split(int color, int key) override;

 private:
  struct Adopt {};
  MpiCommunicator(MPI_Comm owned, Adopt);  // takes ownership of `owned` (from a split)
  void init_from(MPI_Comm owned);

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int size_ = 1;
  std::int64_t max_count_per_call_ = 0;

  std::unique_ptr<OrderedExecutor> executor_ = std::make_unique<OrderedExecutor>("meridian-mpi");
};

}  // namespace meridian
