// NCCL backend (compiled only with CUDA): device buffers, one stream per communicator, requests on
// CUDA events. Waiting polls the event and NCCL's asynchronous error, so a failed peer surfaces as
// an error instead of a hang. Buffer conventions as in communicator.hpp.
#include "comm/nccl_communicator.hpp"

#include <cuda_runtime_api.h>
#include <nccl.h>
#include <unistd.h>

#include <thread>

#include "comm/nccl_check.hpp"
#include "core/error.hpp"
#include "kernels/cuda/check.hpp"

namespace meridian {

struct NcclCommunicator::Handle {
  ncclComm_t comm = nullptr;
  Handle() = default;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() {
    if (comm != nullptr) ncclCommDestroy(comm);
  }
  // Throws when NCCL has recorded an asynchronous failure (for example a peer that went away).
  void check_async() const {
    ncclResult_t async = ncclSuccess;
    NCCL_CHECK(ncclCommGetAsyncError(comm, &async));
    if (async != ncclSuccess)
      throw Error(cat(error_location(__FILE__, __LINE__), ": NCCL communicator failed asynchronously: ",
                      ncclGetErrorString(async), "; abort the job"));
  }
};

namespace {

ncclDataType_t nccl_type(DType dtype) {
  switch (dtype) {
    case DType::f32: return ncclFloat32;
    case DType::f64: return ncclFloat64;
    case DType::bf16: return ncclBfloat16;
    case DType::f16: return ncclFloat16;
    case DType::i32: return ncclInt32;
    case DType::i64: return ncclInt64;
    case DType::u8: return ncclUint8;
  }
  throw Error(cat("nccl_type: unknown dtype ", static_cast<int>(dtype)));
}

ncclRedOp_t nccl_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: return ncclSum;
    case ReduceOp::avg: return ncclAvg;
    case ReduceOp::max: return ncclMax;
    case ReduceOp::min: return ncclMin;
  }
  return ncclSum;
}

// Makes `device` current for the scope and restores the caller's device after.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    CUDA_CHECK(cudaGetDevice(&previous_));
    if (previous_ != device) CUDA_CHECK(cudaSetDevice(device));
  }
  ~DeviceGuard() {
    int current = previous_;
    if (cudaGetDevice(&current) == cudaSuccess && current != previous_) cudaSetDevice(previous_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
};

// True once `event` has completed; throws on a CUDA error or an asynchronous NCCL failure.
bool event_done(cudaEvent_t event, const NcclCommunicator::Handle& handle) {
  const cudaError_t status = cudaEventQuery(event);
  if (status == cudaSuccess) return true;
  if (status != cudaErrorNotReady) CUDA_CHECK(status);
  handle.check_async();
  return false;
}

void wait_event(cudaEvent_t event, const NcclCommunicator::Handle& handle) {
  while (!event_done(event, handle)) std::this_thread::yield();
}

class NcclEventState final : public RequestState {
 public:
  NcclEventState(cudaEvent_t event, std::shared_ptr<NcclCommunicator::Handle> handle)
      : event_(event), handle_(std::move(handle)) {}
  ~NcclEventState() override { cudaEventDestroy(event_); }
  NcclEventState(const NcclEventState&) = delete;
  NcclEventState& operator=(const NcclEventState&) = delete;

  bool test() override { return event_done(event_, *handle_); }
  void wait() override { wait_event(event_, *handle_); }

 private:
  cudaEvent_t event_;
  std::shared_ptr<NcclCommunicator::Handle> handle_;
};

std::string host_name() {
  char name[256] = {};
  gethostname(name, sizeof(name) - 1);
  return name;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Construction

NcclCommunicator::NcclCommunicator(MPI_Comm comm, int device) {
  MERIDIAN_CHECK(comm != MPI_COMM_NULL, "NcclCommunicator: the MPI communicator is MPI_COMM_NULL");
  MPI_Comm dup = MPI_COMM_NULL;
  MPI_CHECK(MPI_Comm_dup(comm, &dup));
  init(dup, device);
}

NcclCommunicator::NcclCommunicator(MPI_Comm owned, int device, Adopt) { init(owned, device); }

void NcclCommunicator::init(MPI_Comm owned, int device) {
  mpi_comm_ = owned;
  try {
    MPI_CHECK(MPI_Comm_set_errhandler(mpi_comm_, MPI_ERRORS_RETURN));
    MPI_CHECK(MPI_Comm_rank(mpi_comm_, &rank_));
    MPI_CHECK(MPI_Comm_size(mpi_comm_, &size_));

    // Every rank must see a device; decided together so that no rank waits for one that gave up.
    int device_count = 0;
    const cudaError_t count_status = cudaGetDeviceCount(&device_count);
    if (count_status != cudaSuccess) device_count = 0;
    int fewest = device_count;
    MPI_CHECK(MPI_Allreduce(&device_count, &fewest, 1, MPI_INT, MPI_MIN, mpi_comm_));
    MERIDIAN_INPUT_CHECK(fewest > 0, "backend nccl needs a CUDA device on every rank, but ",
                         device_count > 0 ? "another rank" : cat("rank ", rank_, " on ", host_name()),
                         " sees none (", cudaGetErrorString(count_status),
                         "); run on GPU nodes (check CUDA_VISIBLE_DEVICES) or use backend mpi");
    if (device < 0) {
      MPI_Comm node = MPI_COMM_NULL;
      MPI_CHECK(MPI_Comm_split_type(mpi_comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node));
      int local_rank = 0;
      MPI_CHECK(MPI_Comm_rank(node, &local_rank));
      MPI_CHECK(MPI_Comm_free(&node));
      device = local_rank % device_count;
    }
    MERIDIAN_INPUT_CHECK(device < device_count, "NcclCommunicator: device ", device, " does not exist on ",
                         host_name(), " (", device_count, " visible)");
    device_ = device;

    DeviceGuard guard(device_);
    CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    CUDA_CHECK(cudaEventCreateWithFlags(&ready_, cudaEventDisableTiming));
    CUDA_CHECK(cudaMalloc(&barrier_word_, sizeof(int)));
    CUDA_CHECK(cudaMemset(barrier_word_, 0, sizeof(int)));

    // Rank 0 makes the id and sends it with its own success flag, so a failure there is an error
    // on every rank rather than a hang in the broadcast.
    struct {
      ncclUniqueId id;
      int ok;
    } message{};
    std::string id_error;
    if (rank_ == 0) {
      const ncclResult_t status = ncclGetUniqueId(&message.id);
      message.ok = status == ncclSuccess ? 1 : 0;
      if (!message.ok) id_error = ncclGetErrorString(status);
    }
    MPI_CHECK(MPI_Bcast(&message, sizeof(message), MPI_BYTE, 0, mpi_comm_));
    MERIDIAN_CHECK(message.ok, "ncclGetUniqueId failed on rank 0",
                   id_error.empty() ? std::string() : cat(": ", id_error));
    handle_ = std::make_shared<Handle>();
    NCCL_CHECK(ncclCommInitRank(&handle_->comm, size_, message.id, rank_));
  } catch (...) {
    release();
    throw;
  }
}

void NcclCommunicator::release() noexcept {
  int current = -1;
  const bool have_device = stream_ != nullptr && cudaGetDevice(&current) == cudaSuccess;
  if (have_device && current != device_) cudaSetDevice(device_);
  if (stream_ != nullptr) cudaStreamSynchronize(stream_);
  handle_.reset();  // ncclCommDestroy, unless a request still holds it
  if (barrier_word_ != nullptr) cudaFree(barrier_word_);
  if (ready_ != nullptr) cudaEventDestroy(ready_);
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
  if (have_device && current != device_) cudaSetDevice(current);
  barrier_word_ = nullptr;
  ready_ = nullptr;
  stream_ = nullptr;
  int finalized = 1;
  MPI_Finalized(&finalized);
  if (!finalized && mpi_comm_ != MPI_COMM_NULL) MPI_Comm_free(&mpi_comm_);
  mpi_comm_ = MPI_COMM_NULL;
}

NcclCommunicator::~NcclCommunicator() { release(); }

// ---------------------------------------------------------------------------------------------
// Operations

void NcclCommunicator::begin() {
  CUDA_CHECK(cudaEventRecord(ready_, compute_stream_));
  CUDA_CHECK(cudaStreamWaitEvent(stream_, ready_, 0));
}

void NcclCommunicator::finish(Request* request) {
  cudaEvent_t done = nullptr;
  CUDA_CHECK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
  const cudaError_t recorded = cudaEventRecord(done, stream_);
  if (recorded != cudaSuccess) {
    cudaEventDestroy(done);
    CUDA_CHECK(recorded);
  }
  auto state = std::make_shared<NcclEventState>(done, handle_);
  if (request != nullptr) {
    *request = Request(std::move(state));
  } else {
    state->wait();
  }
}

void NcclCommunicator::do_all_reduce(const void* send, void* recv, std::int64_t count, DType dtype,
                                     ReduceOp op, Request* request) {
  DeviceGuard guard(device_);
  begin();
  NCCL_CHECK(ncclAllReduce(send, recv, static_cast<std::size_t>(count), nccl_type(dtype), nccl_op(op),
                           handle_->comm, stream_));
  finish(request);
}

void NcclCommunicator::do_all_gather(const void* send, void* recv, std::int64_t count_per_rank,
                                     DType dtype, Request* request) {
  DeviceGuard guard(device_);
  begin();
  NCCL_CHECK(ncclAllGather(send, recv, static_cast<std::size_t>(count_per_rank), nccl_type(dtype),
                           handle_->comm, stream_));
  finish(request);
}

void NcclCommunicator::do_reduce_scatter(const void* send, void* recv, std::int64_t count_per_rank,
                                         DType dtype, ReduceOp op, Request* request) {
  DeviceGuard guard(device_);
  begin();
  NCCL_CHECK(ncclReduceScatter(send, recv, static_cast<std::size_t>(count_per_rank), nccl_type(dtype),
                               nccl_op(op), handle_->comm, stream_));
  finish(request);
}

void NcclCommunicator::do_broadcast(void* buffer, std::int64_t count, DType dtype, int root,
                                    Request* request) {
  DeviceGuard guard(device_);
  begin();
  NCCL_CHECK(ncclBroadcast(buffer, buffer, static_cast<std::size_t>(count), nccl_type(dtype), root,
                           handle_->comm, stream_));
  finish(request);
}

void NcclCommunicator::do_barrier(Request* request) {
  DeviceGuard guard(device_);
  begin();
  NCCL_CHECK(ncclAllReduce(barrier_word_, barrier_word_, 1, ncclInt32, ncclSum, handle_->comm, stream_));
  finish(request);
}

void NcclCommunicator::do_send_recv(const void* send_buffer, std::int64_t send_count, int dest,
                                    void* recv_buffer, std::int64_t recv_count, int source, DType dtype,
                                    int /*tag: NCCL has none*/, Request* request) {
  DeviceGuard guard(device_);
  begin();
  // One group, so that a send and a receive between the same pair (or around a ring) cannot
  // wait on each other.
  NCCL_CHECK(ncclGroupStart());
  ncclResult_t status = ncclSuccess;
  if (dest != no_peer)
    status = ncclSend(send_buffer, static_cast<std::size_t>(send_count), nccl_type(dtype), dest, handle_->comm,
                      stream_);
  if (status == ncclSuccess && source != no_peer)
    status = ncclRecv(recv_buffer, static_cast<std::size_t>(recv_count), nccl_type(dtype), source,
                      handle_->comm, stream_);
  const ncclResult_t group_status = ncclGroupEnd();
  NCCL_CHECK(status);
  NCCL_CHECK(group_status);
  finish(request);
}

std::unique_ptr<Communicator> NcclCommunicator::do_split(int color, int key) {
  // Everything issued so far completes first, so the new communicator starts from a quiet device.
  {
    DeviceGuard guard(device_);
    CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  MPI_Comm sub = MPI_COMM_NULL;
  MPI_CHECK(MPI_Comm_split(mpi_comm_, color == no_color ? MPI_UNDEFINED : color, key, &sub));
  if (sub == MPI_COMM_NULL) return nullptr;
  return std::unique_ptr<Communicator>(new NcclCommunicator(sub, device_, Adopt{}));
}

}  // namespace meridian
