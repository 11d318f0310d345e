// The backend-independent half of Communicator: argument checks (done once here, so every
// backend sees only valid calls), Tensor overloads, Request handles, names and the factory.
// Buffer conventions as in communicator.hpp: flat arrays, rank-ordered blocks.
#include "comm/communicator.hpp"

#include <cstdint>
#include <exception>

#include "comm/mpi_communicator.hpp"
#include "core/log.hpp"
#if defined(MERIDIAN_HAVE_CUDA)
#include "comm/nccl_communicator.hpp"
#endif

namespace meridian {

// ---------------------------------------------------------------------------------------------
// Names

std::string_view reduce_op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: return "sum";
    case ReduceOp::avg: return "avg";
    case ReduceOp::max: return "max";
    case ReduceOp::min: return "min";
  }
  return "?";
}

ReduceOp parse_reduce_op(std::string_view name) {
  for (ReduceOp op : {ReduceOp::sum, ReduceOp::avg, ReduceOp::max, ReduceOp::min})
    if (name == reduce_op_name(op)) return op;
  throw InputError(cat("unknown reduction '", name, "'; use one of sum, avg, max, min"));
}

std::string_view comm_backend_name(CommBackend backend) {
  switch (backend) {
    case CommBackend::mpi: return "mpi";
    case CommBackend::nccl: return "nccl";
  }
  return "?";
}

bool comm_backend_available(CommBackend backend) {
#if defined(MERIDIAN_HAVE_CUDA)
  (void)backend;
  return true;
#else
  return backend == CommBackend::mpi;
#endif
}

namespace {

std::string no_cuda_message() {
  return "communication backend 'nccl' is not available: this build of Meridian has no CUDA backend "
         "(it was configured with MERIDIAN_ENABLE_CUDA=OFF, or AUTO found no nvcc). Reconfigure with "
         "-DMERIDIAN_ENABLE_CUDA=ON on a machine with the CUDA toolkit and NCCL, or use backend 'mpi'";
}

}  // namespace

CommBackend parse_comm_backend(std::string_view name) {
  CommBackend backend;
  if (name == "mpi") {
    backend = CommBackend::mpi;
  } else if (name == "nccl") {
    backend = CommBackend::nccl;
  } else {
    throw InputError(cat("unknown communication backend '", name, "'; use mpi or nccl"));
  }
  if (!comm_backend_available(backend)) throw InputError(no_cuda_message());
  return backend;
}

std::unique_ptr<Communicator> make_communicator(CommBackend backend, MPI_Comm comm) {
  switch (backend) {
    case CommBackend::mpi: return std::make_unique<MpiCommunicator>(comm);
    case CommBackend::nccl:
#if defined(MERIDIAN_HAVE_CUDA)
      return std::make_unique<NcclCommunicator>(comm);
#else
      throw InputError(no_cuda_message());
#endif
  }
  throw Error("make_communicator: unknown backend");
}

// ---------------------------------------------------------------------------------------------
// Request

namespace {

// Waits for a request that is being dropped; errors can only be logged here.
void finish_dropped(std::shared_ptr<RequestState>& state) noexcept {
  if (!state) return;
  try {
    state->wait();
  } catch (const std::exception& e) {
    try {
      log_error("a communication request destroyed before wait() failed: ", e.what());
    } catch (...) {
    }
  } catch (...) {
  }
  state.reset();
}

}  // namespace

Request& Request::operator=(Request&& other) noexcept {
  if (this != &other) {
    finish_dropped(state_);
    state_ = std::move(other.state_);
  }
  return *this;
}

Request::~Request() { finish_dropped(state_); }

bool Request::test() {
  if (!state_) return true;
  bool done = false;
  try {
    done = state_->test();
  } catch (...) {
    state_.reset();  // the error is reported once, here
    throw;
  }
  if (done) state_.reset();
  return done;
}

void Request::wait() {
  if (!state_) return;
  std::shared_ptr<RequestState> state = std::move(state_);
  state->wait();
}

void wait_all(std::span<Request> requests) {
  std::exception_ptr first;
  for (Request& r : requests) {
    try {
      r.wait();
    } catch (...) {
      if (!first) first = std::current_exception();
    }
  }
  if (first) std::rethrow_exception(first);
}

// ---------------------------------------------------------------------------------------------
// Argument checks

namespace {

std::uintptr_t address(const void* p) { return reinterpret_cast<std::uintptr_t>(p); }

// True when the byte ranges [a, a + a_bytes) and [b, b + b_bytes) share a byte.
bool overlap(const void* a, std::size_t a_bytes, const void* b, std::size_t b_bytes) {
  if (a_bytes == 0 || b_bytes == 0) return false;
  const std::uintptr_t a0 = address(a), b0 = address(b);
  return a0 < b0 + b_bytes && b0 < a0 + a_bytes;
}

std::size_t bytes_of(std::int64_t count, DType dtype) {
  return static_cast<std::size_t>(count) * dtype_size(dtype);
}

void check_count(std::int64_t count, const char* op) {
  MERIDIAN_CHECK(count >= 0, op, ": the element count must be >= 0, got ", count);
}

void check_buffer(const void* p, std::int64_t count, const char* op, const char* which) {
  MERIDIAN_CHECK(p != nullptr || count == 0, op, ": the ", which, " buffer is null but ", count,
                 " elements were asked for");
}

void check_reduction(DType dtype, ReduceOp op, const char* what) {
  MERIDIAN_INPUT_CHECK(op != ReduceOp::avg || dtype_is_floating(dtype), what,
                       ": reduction avg needs a floating-point dtype (f32, f64, bf16, f16), got ",
                       dtype_name(dtype), "; use sum and divide, or convert to a floating dtype first");
}

}  // namespace

void Communicator::check_peer(int peer, const char* what) const {
  MERIDIAN_CHECK(peer >= 0 && peer < size(), what, ": rank ", peer,
                 " is not in this communicator of size ", size());
}

void Communicator::check_tensor(const Tensor& t, const char* what) const {
  MERIDIAN_CHECK(t.defined(), what, ": the tensor is undefined");
  MERIDIAN_CHECK(t.is_contiguous(), what, ": the tensor must be contiguous (call .contiguous())");
  MERIDIAN_CHECK(t.device() == device(), what, ": the tensor is on ", device_name(t.device()), " but the ",
                 backend_name(), " communicator works on ", device_name(device()), " memory");
}

// ---------------------------------------------------------------------------------------------
// Raw-buffer operations: check, then hand to the backend.

namespace {

struct AllReduceArgs {
  const void* send;
  void* recv;
  std::int64_t count;
  DType dtype;
  ReduceOp op;
};

void check_all_reduce(const AllReduceArgs& a) {
  check_count(a.count, "all_reduce");
  check_buffer(a.send, a.count, "all_reduce", "send");
  check_buffer(a.recv, a.count, "all_reduce", "recv");
  check_reduction(a.dtype, a.op, "all_reduce");
  const std::size_t bytes = bytes_of(a.count, a.dtype);
  MERIDIAN_CHECK(a.send == a.recv || !overlap(a.send, bytes, a.recv, bytes),
                 "all_reduce: send and recv overlap without being the same buffer (in place needs send == recv)");
}

}  // namespace

void Communicator::all_reduce(const void* send, void* recv, std::int64_t count, DType dtype, ReduceOp op) {
  check_all_reduce({send, recv, count, dtype, op});
  do_all_reduce(send, recv, count, dtype, op, nullptr);
}

Request Communicator::iall_reduce(const void* send, void* recv, std::int64_t count, DType dtype,
                                  ReduceOp op) {
  check_all_reduce({send, recv, count, dtype, op});
  Request request;
  do_all_reduce(send, recv, count, dtype, op, &request);
  return request;
}

namespace {

void check_all_gather(const void* send, const void* recv, std::int64_t count_per_rank, DType dtype,
                      int rank, int size) {
  check_count(count_per_rank, "all_gather");
  check_buffer(send, count_per_rank, "all_gather", "send");
  check_buffer(recv, count_per_rank, "all_gather", "recv");
  const std::size_t block = bytes_of(count_per_rank, dtype);
  const bool in_place = address(send) == address(recv) + static_cast<std::size_t>(rank) * block;
  MERIDIAN_CHECK(in_place || !overlap(send, block, recv, block * static_cast<std::size_t>(size)),
                 "all_gather: send and recv overlap; in place needs send == recv + rank * count_per_rank");
}

void check_reduce_scatter(const void* send, const void* recv, std::int64_t count_per_rank,
                          DType dtype, ReduceOp op, int rank, int size) {
  check_count(count_per_rank, "reduce_scatter");
  check_buffer(send, count_per_rank, "reduce_scatter", "send");
  check_buffer(recv, count_per_rank, "reduce_scatter", "recv");
  check_reduction(dtype, op, "reduce_scatter");
  const std::size_t block = bytes_of(count_per_rank, dtype);
  const bool in_place = address(recv) == address(send) + static_cast<std::size_t>(rank) * block;
  MERIDIAN_CHECK(in_place || !overlap(send, block * static_cast<std::size_t>(size), recv, block),
                 "reduce_scatter: send and recv overlap; in place needs recv == send + rank * count_per_rank");
}

}  // namespace

void Communicator::all_gather(const void* send, void* recv, std::int64_t count_per_rank, DType dtype) {
  check_all_gather(send, recv, count_per_rank, dtype, rank(), size());
  do_all_gather(send, recv, count_per_rank, dtype, nullptr);
}

Request Communicator::iall_gather(const void* send, void* recv, std::int64_t count_per_rank, DType dtype) {
  check_all_gather(send, recv, count_per_rank, dtype, rank(), size());
  Request request;
  do_all_gather(send, recv, count_per_rank, dtype, &request);
  return request;
}

void Communicator::reduce_scatter(const void* send, void* recv, std::int64_t count_per_rank,
                                  DType dtype, ReduceOp op) {
  check_reduce_scatter(send, recv, count_per_rank, dtype, op, rank(), size());
  do_reduce_scatter(send, recv, count_per_rank, dtype, op, nullptr);
}

Request Communicator::ireduce_scatter(const void* send, void* recv, std::int64_t count_per_rank,
                                      DType dtype, ReduceOp op) {
  check_reduce_scatter(send, recv, count_per_rank, dtype, op, rank(), size());
  Request request;
  do_reduce_scatter(send, recv, count_per_rank, dtype, op, &request);
  return request;
}

void Communicator::broadcast(void* buffer, std::int64_t count, DType dtype, int root) {
  check_count(count, "broadcast");
  check_buffer(buffer, count, "broadcast", "data");
  check_peer(root, "broadcast root");
  do_broadcast(buffer, count, dtype, root, nullptr);
}

Request Communicator::ibroadcast(void* buffer, std::int64_t count, DType dtype, int root) {
  check_count(count, "ibroadcast");
  check_buffer(buffer, count, "ibroadcast", "data");
  check_peer(root, "ibroadcast root");
  Request request;
  do_broadcast(buffer, count, dtype, root, &request);
  return request;
}

void Communicator::barrier() { do_barrier(nullptr); }

Request Communicator::ibarrier() {
  Request request;
  do_barrier(&request);
  return request;
}

namespace {

void check_p2p(const void* p, std::int64_t count, int tag, const char* op) {
  check_count(count, op);
  check_buffer(p, count, op, "message");
  MERIDIAN_CHECK(tag >= 0, op, ": the tag must be >= 0, got ", tag);
}

}  // namespace

void Communicator::send(const void* buffer, std::int64_t count, DType dtype, int peer, int tag) {
  check_p2p(buffer, count, tag, "send");
  check_peer(peer, "send");
  do_send_recv(buffer, count, peer, nullptr, 0, no_peer, dtype, tag, nullptr);
}

void Communicator::recv(void* buffer, std::int64_t count, DType dtype, int peer, int tag) {
  check_p2p(buffer, count, tag, "recv");
  check_peer(peer, "recv");
  do_send_recv(nullptr, 0, no_peer, buffer, count, peer, dtype, tag, nullptr);
}

Request Communicator::isend(const void* buffer, std::int64_t count, DType dtype, int peer, int tag) {
  check_p2p(buffer, count, tag, "isend");
  check_peer(peer, "isend");
  Request request;
  do_send_recv(buffer, count, peer, nullptr, 0, no_peer, dtype, tag, &request);
  return request;
}

Request Communicator::irecv(void* buffer, std::int64_t count, DType dtype, int peer, int tag) {
  check_p2p(buffer, count, tag, "irecv");
  check_peer(peer, "irecv");
  Request request;
  do_send_recv(nullptr, 0, no_peer, buffer, count, peer, dtype, tag, &request);
  return request;
}

namespace {

void check_send_recv(const void* send_buffer, std::int64_t send_count, void* recv_buffer,
                     std::int64_t recv_count, DType dtype, int tag, const char* op) {
  check_p2p(send_buffer, send_count, tag, op);
  check_p2p(recv_buffer, recv_count, tag, op);
  MERIDIAN_CHECK(!overlap(send_buffer, bytes_of(send_count, dtype), recv_buffer, bytes_of(recv_count, dtype)),
                 op, ": the send and recv buffers overlap");
}

}  // namespace

void Communicator::send_recv(const void* send_buffer, std::int64_t send_count, int dest,
                             void* recv_buffer, std::int64_t recv_count, int source, DType dtype, int tag) {
  check_send_recv(send_buffer, send_count, recv_buffer, recv_count, dtype, tag, "send_recv");
  check_peer(dest, "send_recv destination");
  check_peer(source, "send_recv source");
  do_send_recv(send_buffer, send_count, dest, recv_buffer, recv_count, source, dtype, tag, nullptr);
}

Request Communicator::isend_recv(const void* send_buffer, std::int64_t send_count, int dest,
                                 void* recv_buffer, std::int64_t recv_count, int source, DType dtype,
                                 int tag) {
  check_send_recv(send_buffer, send_count, recv_buffer, recv_count, dtype, tag, "isend_recv");
  check_peer(dest, "isend_recv destination");
  check_peer(source, "isend_recv source");
  Request request;
  do_send_recv(send_buffer, send_count, dest, recv_buffer, recv_count, source, dtype, tag, &request);
  return request;
}

std::unique_ptr<Communicator> Communicator::split(int color, int key) {
  MERIDIAN_CHECK(color >= 0 || color == no_color, "split: color must be >= 0 or Communicator::no_color, got ",
                 color);
  return do_split(color, key);
}

// ---------------------------------------------------------------------------------------------
// Tensor overloads

namespace {

// send and recv of an all_reduce: the same dtype and element count.
void check_same_shapes(const Tensor& send, const Tensor& recv, const char* op) {
  MERIDIAN_CHECK(send.dtype() == recv.dtype() && send.numel() == recv.numel(), op,
                 ": send and recv differ (", dtype_name(send.dtype()), " ", shape_string(send.shape()), " vs ",
                 dtype_name(recv.dtype()), " ", shape_string(recv.shape()), ")");
}

void check_gather_shapes(const Tensor& small, const Tensor& large, int size, const char* op) {
  MERIDIAN_CHECK(small.dtype() == large.dtype(), op, ": dtypes differ (", dtype_name(small.dtype()), " vs ",
                 dtype_name(large.dtype()), ")");
  MERIDIAN_CHECK(large.numel() == small.numel() * size, op, ": the large buffer must hold size() = ", size,
                 " blocks of ", small.numel(), " elements, but has ", large.numel());
}

}  // namespace

void Communicator::all_reduce(Tensor& tensor, ReduceOp op) {
  check_tensor(tensor, "all_reduce");
  all_reduce(tensor.raw_data(), tensor.raw_data(), tensor.numel(), tensor.dtype(), op);
}

void Communicator::all_reduce(const Tensor& send, Tensor& recv, ReduceOp op) {
  check_tensor(send, "all_reduce send");
  check_tensor(recv, "all_reduce recv");
  check_same_shapes(send, recv, "all_reduce");
  all_reduce(send.raw_data(), recv.raw_data(), send.numel(), send.dtype(), op);
}

Request Communicator::iall_reduce(Tensor& tensor, ReduceOp op) {
  check_tensor(tensor, "iall_reduce");
  return iall_reduce(tensor.raw_data(), tensor.raw_data(), tensor.numel(), tensor.dtype(), op);
}

Request Communicator::iall_reduce(const Tensor& send, Tensor& recv, ReduceOp op) {
  check_tensor(send, "iall_reduce send");
  check_tensor(recv, "iall_reduce recv");
  check_same_shapes(send, recv, "iall_reduce");
  return iall_reduce(send.raw_data(), recv.raw_data(), send.numel(), send.dtype(), op);
}

void Communicator::all_gather(const Tensor& send, Tensor& recv) {
  check_tensor(send, "all_gather send");
  check_tensor(recv, "all_gather recv");
  check_gather_shapes(send, recv, size(), "all_gather");
  all_gather(send.raw_data(), recv.raw_data(), send.numel(), send.dtype());
}

Request Communicator::iall_gather(const Tensor& send, Tensor& recv) {
  check_tensor(send, "iall_gather send");
  check_tensor(recv, "iall_gather recv");
  check_gather_shapes(send, recv, size(), "iall_gather");
  return iall_gather(send.raw_data(), recv.raw_data(), send.numel(), send.dtype());
}

void Communicator::reduce_scatter(const Tensor& send, Tensor& recv, ReduceOp op) {
  check_tensor(send, "reduce_scatter send");
  check_tensor(recv, "reduce_scatter recv");
  check_gather_shapes(recv, send, size(), "reduce_scatter");
  reduce_scatter(send.raw_data(), recv.raw_data(), recv.numel(), recv.dtype(), op);
}

Request Communicator::ireduce_scatter(const Tensor& send, Tensor& recv, ReduceOp op) {
  check_tensor(send, "ireduce_scatter send");
  check_tensor(recv, "ireduce_scatter recv");
  check_gather_shapes(recv, send, size(), "ireduce_scatter");
  return ireduce_scatter(send.raw_data(), recv.raw_data(), recv.numel(), recv.dtype(), op);
}

void Communicator::broadcast(Tensor& tensor, int root) {
  check_tensor(tensor, "broadcast");
  broadcast(tensor.raw_data(), tensor.numel(), tensor.dtype(), root);
}

Request Communicator::ibroadcast(Tensor& tensor, int root) {
  check_tensor(tensor, "ibroadcast");
  return ibroadcast(tensor.raw_data(), tensor.numel(), tensor.dtype(), root);
}

void Communicator::send(const Tensor& tensor, int peer, int tag) {
  check_tensor(tensor, "send");
  send(tensor.raw_data(), tensor.numel(), tensor.dtype(), peer, tag);
}

void Communicator::recv(Tensor& tensor, int peer, int tag) {
  check_tensor(tensor, "recv");
  recv(tensor.raw_data(), tensor.numel(), tensor.dtype(), peer, tag);
}

Request Communicator::isend(const Tensor& tensor, int peer, int tag) {
  check_tensor(tensor, "isend");
  return isend(tensor.raw_data(), tensor.numel(), tensor.dtype(), peer, tag);
}

Request Communicator::irecv(Tensor& tensor, int peer, int tag) {
  check_tensor(tensor, "irecv");
  return irecv(tensor.raw_data(), tensor.numel(), tensor.dtype(), peer, tag);
}

}  // namespace meridian
