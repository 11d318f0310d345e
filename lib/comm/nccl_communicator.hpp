// Communicator over NCCL on CUDA device memory (CUDA builds only: compiled when
// MERIDIAN_HAVE_CUDA). One GPU per rank; the NCCL unique id travels over MPI. Every operation is
// enqueued on the communicator's own stream after the work already issued on the compute stream;
// blocking calls then wait for the stream, non-blocking ones return a Request on a CUDA event.
#pragma once

#include <mpi.h>

#include <memory>

#include "comm/communicator.hpp"

struct CUstream_st;  // cudaStream_t is CUstream_st*
struct CUevent_st;   // cudaEvent_t is CUevent_st*
struct ncclComm;     // ncclComm_t is ncclComm*

namespace meridian {

class NcclCommunicator final : public Communicator {
 public:
  // Collective over `comm` (duplicated; the caller keeps it). `device` is this rank's CUDA device;
  // -1 picks the node-local rank modulo the number of visible devices (pass -1 on every rank or
  // on none: finding the node-local rank is collective). Ranks of one communicator must use
  // different GPUs (NCCL refuses duplicates). InputError when a rank sees no device.
  explicit NcclCommunicator(MPI_Comm comm, int device = -1);
  // Waits for the stream, then destroys the NCCL communicator, the stream and the MPI duplicate.
  ~NcclCommunicator() override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  CommBackend backend() const override { return CommBackend::nccl; }
  Device device() const override { return Device::cuda(device_); }

  CUstream_st* stream() const { return stream_; }
  MPI_Comm mpi_comm() const { return mpi_comm_; }
  // The stream whose earlier work every operation waits for (the producer of the buffers).
  // Default nullptr: the legacy default stream.
  void set_compute_stream(CUstream_st* stream) { compute_stream_ = stream; }

  struct Handle;  // the NCCL communicator, shared with the requests that poll its errors

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
  NcclCommunicator(MPI_Comm owned, int device, Adopt);  // takes ownership of `owned`
  void init(MPI_Comm owned, int device);
  // Before an operation: makes this stream wait for the compute stream.
  void begin();
  // After it: blocking (request == nullptr) waits for the stream; otherwise records an event.
  void finish(Request* request);
  void release() noexcept;  // frees whatever init() created (destructor, failed construction)

  MPI_Comm mpi_comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int size_ = 1;
  int device_ = 0;
  std::shared_ptr<Handle> handle_;
  CUstream_st* stream_ = nullptr;
  CUstream_st* compute_stream_ = nullptr;
  CUevent_st* ready_ = nullptr;  // recorded on the compute stream, waited for by stream_
  void* barrier_word_ = nullptr;  // one device int for barrier()
};

}  // namespace meridian
