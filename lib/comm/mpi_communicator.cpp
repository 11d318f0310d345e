// MPI backend: collectives run in issue order through an OrderedExecutor, the bf16/f16
// reductions as user-defined MPI ops, and point-to-point on native MPI requests. Buffers are host
// arrays; counts longer than one MPI call allows are cut into consecutive pieces.
#include "comm/mpi_communicator.hpp"

#include <atomic>
#include <algorithm>
#include <climits>
#include <cstring>
#include <exception>
#include <mutex>
#include <utility>
#include <vector>

#include "core/error.hpp"

namespace meridian {

// ---------------------------------------------------------------------------------------------
// Datatypes and reductions

MPI_Datatype mpi_datatype(DType dtype) {
  switch (dtype) {
    case DType::f32: return MPI_FLOAT;
    case DType::f64: return MPI_DOUBLE;
    case DType::i32: return MPI_INT32_T;
    case DType::i64: return MPI_INT64_T;
    case DType::u8: return MPI_UINT8_T;
    case DType::bf16:
    case DType::f16: return MPI_UINT16_T;
  }
  throw Error(cat("mpi_datatype: unknown dtype ", static_cast<int>(dtype)));
}

namespace {

struct Bf16Format {
  using Storage = bf16;
  static float to_float(bf16 h) { return bf16_to_float(h); }
  static bf16 from_float(float f) { return float_to_bf16(f); }
};

struct F16Format {
  using Storage = f16;
  static float to_float(f16 h) { return f16_to_float(h); }
  static f16 from_float(float f) { return float_to_f16(f); }
};

// NaN wins in max and min, as in the rest of Meridian.
struct SumOf {
  float operator()(float a, float b) const { return a + b; }
};
struct MaxOf {
  float operator()(float a, float b) const { return (a != a || a > b) ? a : b; }
};
struct MinOf {
  float operator()(float a, float b) const { return (a != a || a < b) ? a : b; }
};

// inout[i] = combine(in[i], inout[i]), computed in float and rounded back to the 16-bit format.
template <class Format, class Combine>
void reduce_16bit(void* in, void* inout, int* len, MPI_Datatype* /*type*/) {
  using T = typename Format::Storage;
  const T* a = static_cast<const T*>(in);
  T* b = static_cast<T*>(inout);
  const Combine combine;
  for (int i = 0; i < *len; ++i) b[i] = Format::from_float(combine(Format::to_float(a[i]), Format::to_float(b[i])));
}

// [format: 0 bf16, 1 f16][op: 0 sum, 1 max, 2 min]
struct HalfOps {
  MPI_Op op[2][3] = {{MPI_OP_NULL, MPI_OP_NULL, MPI_OP_NULL}, {MPI_OP_NULL, MPI_OP_NULL, MPI_OP_NULL}};
};

HalfOps half_ops_storage;

// Frees the ops when MPI_Finalize deletes MPI_COMM_SELF (the first thing it does).
int free_half_ops(MPI_Comm /*comm*/, int /*keyval*/, void* /*value*/, void* /*extra*/) {
  for (auto& row : half_ops_storage.op)
    for (MPI_Op& op : row)
      if (op != MPI_OP_NULL) MPI_Op_free(&op);
  return MPI_SUCCESS;
}

const HalfOps& half_ops() {
  static std::once_flag once;
  std::call_once(once, [] {
    HalfOps& h = half_ops_storage;
    MPI_CHECK(MPI_Op_create(&reduce_16bit<Bf16Format, SumOf>, 1, &h.op[0][0]));
    MPI_CHECK(MPI_Op_create(&reduce_16bit<Bf16Format, MaxOf>, 1, &h.op[0][1]));
    MPI_CHECK(MPI_Op_create(&reduce_16bit<Bf16Format, MinOf>, 1, &h.op[0][2]));
    MPI_CHECK(MPI_Op_create(&reduce_16bit<F16Format, SumOf>, 1, &h.op[1][0]));
    MPI_CHECK(MPI_Op_create(&reduce_16bit<F16Format, MaxOf>, 1, &h.op[1][1]));
    MPI_CHECK(MPI_Op_create(&reduce_16bit<F16Format, MinOf>, 1, &h.op[1][2]));
    int keyval = MPI_KEYVAL_INVALID;
    MPI_CHECK(MPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, &free_half_ops, &keyval, nullptr));
    MPI_CHECK(MPI_Comm_set_attr(MPI_COMM_SELF, keyval, nullptr));
  });
  return half_ops_storage;
}

int op_index(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum:
    case ReduceOp::avg: return 0;
    case ReduceOp::max: return 1;
    case ReduceOp::min: return 2;
  }
  return 0;
}

// x[i] /= divisor in the element type (the 16-bit types through float). Only floating dtypes.
void divide_in_place(void* data, std::int64_t count, DType dtype, int divisor) {
  switch (dtype) {
    case DType::f32: {
      float* x = static_cast<float*>(data);
      const float d = static_cast<float>(divisor);
      for (std::int64_t i = 0; i < count; ++i) x[i] /= d;
      return;
    }
    case DType::f64: {
      double* x = static_cast<double*>(data);
      const double d = static_cast<double>(divisor);
      for (std::int64_t i = 0; i < count; ++i) x[i] /= d;
      return;
    }
    case DType::bf16: {
      bf16* x = static_cast<bf16*>(data);
      const float d = static_cast<float>(divisor);
      for (std::int64_t i = 0; i < count; ++i) x[i] = float_to_bf16(bf16_to_float(x[i]) / d);
      return;
    }
    case DType::f16: {
      f16* x = static_cast<f16*>(data);
      const float d = static_cast<float>(divisor);
      for (std::int64_t i = 0; i < count; ++i) x[i] = float_to_f16(f16_to_float(x[i]) / d);
      return;
    }
    default: throw Error(cat("avg on non-floating dtype ", dtype_name(dtype)));
  }
}

// Calls piece(offset, n) for consecutive pieces of at most max_piece elements covering
// [0, count); a zero count is one empty piece (point-to-point still needs its message).
template <class Piece>
void for_each_piece(std::int64_t count, std::int64_t max_piece, Piece&& piece) {
  std::int64_t offset = 0;
  do {
    const std::int64_t n = std::min(max_piece, count - offset);
    piece(offset, static_cast<int>(n));
    offset += n;
  } while (offset < count);
}

char* byte_ptr(void* p, std::int64_t elements, DType dtype) {
  return static_cast<char*>(p) + static_cast<std::size_t>(elements) * dtype_size(dtype);
}
const char* byte_ptr(const void* p, std::int64_t elements, DType dtype) {
  return static_cast<const char*>(p) + static_cast<std::size_t>(elements) * dtype_size(dtype);
}

}  // namespace

MPI_Op mpi_reduce_op(ReduceOp op, DType dtype) {
  if (dtype == DType::bf16 || dtype == DType::f16) return half_ops().op[dtype == DType::bf16 ? 0 : 1][op_index(op)];
  switch (op) {
    case ReduceOp::sum:
    case ReduceOp::avg: return MPI_SUM;
    case ReduceOp::max: return MPI_MAX;
    case ReduceOp::min: return MPI_MIN;
  }
  return MPI_SUM;
}

// ---------------------------------------------------------------------------------------------
// Request states

namespace {

// Point-to-point: native MPI requests, progressed by MPI inside test()/wait().
class P2pState final : public RequestState {
 public:
  explicit P2pState(std::vector<MPI_Request> requests) : requests_(std::move(requests)) {}

  bool test() override {
    int flag = 0;
    MPI_CHECK(MPI_Testall(static_cast<int>(requests_.size()), requests_.data(), &flag, MPI_STATUSES_IGNORE));
    return flag != 0;
  }

  void wait() override {
    MPI_CHECK(MPI_Waitall(static_cast<int>(requests_.size()), requests_.data(), MPI_STATUSES_IGNORE));
  }

 private:
  std::vector<MPI_Request> requests_;
};

const char* thread_level_name(int level) {
  switch (level) {
    case MPI_THREAD_SINGLE: return "MPI_THREAD_SINGLE";
    case MPI_THREAD_FUNNELED: return "MPI_THREAD_FUNNELED";
    case MPI_THREAD_SERIALIZED: return "MPI_THREAD_SERIALIZED";
    case MPI_THREAD_MULTIPLE: return "MPI_THREAD_MULTIPLE";
    default: return "an unknown level";
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Construction

MpiCommunicator::MpiCommunicator(MPI_Comm comm) {
  int initialized = 0, finalized = 0;
  MPI_CHECK(MPI_Initialized(&initialized));
  MPI_CHECK(MPI_Finalized(&finalized));
  MERIDIAN_CHECK(initialized && !finalized,
                 "MpiCommunicator needs MPI to be running; create a meridian::Runtime at the top of main");
  int provided = MPI_THREAD_SINGLE;
  MPI_CHECK(MPI_Query_thread(&provided));
  MERIDIAN_CHECK(provided >= MPI_THREAD_MULTIPLE,
                 "MpiCommunicator needs MPI_THREAD_MULTIPLE (its worker thread makes MPI calls while the "
                 "caller may too), but MPI provides ", thread_level_name(provided),
                 "; initialize MPI through meridian::Runtime or MPI_Init_thread(..., MPI_THREAD_MULTIPLE, ...) "
                 "with an MPI library built with thread support");
  MERIDIAN_CHECK(comm != MPI_COMM_NULL, "MpiCommunicator: the MPI communicator is MPI_COMM_NULL");
  MPI_Comm dup = MPI_COMM_NULL;
  MPI_CHECK(MPI_Comm_dup(comm, &dup));
  init_from(dup);
}

MpiCommunicator::MpiCommunicator(MPI_Comm owned, Adopt) { init_from(owned); }

void MpiCommunicator::init_from(MPI_Comm owned) {
  comm_ = owned;
  // Errors come back as codes, so MPI_CHECK can turn them into exceptions with a location.
  MPI_CHECK(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
  MPI_CHECK(MPI_Comm_rank(comm_, &rank_));
  MPI_CHECK(MPI_Comm_size(comm_, &size_));
  max_count_per_call_ = INT_MAX;
}

MpiCommunicator::~MpiCommunicator() {
  executor_.reset();  // runs what is queued, then stops the worker
  int finalized = 1;
  MPI_Finalized(&finalized);
  if (!finalized && comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
}

void MpiCommunicator::set_max_count_per_call(std::int64_t count) {
  MERIDIAN_CHECK(count >= 1 && count <= INT_MAX, "set_max_count_per_call: ", count, " is not in [1, INT_MAX]");
  max_count_per_call_ = count;
}

int MpiCommunicator::worker_threads_started() const { return executor_->threads_started(); }

// ---------------------------------------------------------------------------------------------
// The ordered execution of collectives

// ---------------------------------------------------------------------------------------------
// Collectives

void MpiCommunicator::do_all_reduce(const void* send, void* recv, std::int64_t count, DType dtype,
                                    ReduceOp op, Request* request) {
  const MPI_Datatype type = mpi_datatype(dtype);
  const MPI_Op mpi_op = mpi_reduce_op(op, dtype);
  const MPI_Comm comm = comm_;
  const std::int64_t max_piece = max_count_per_call_;
  const int size = size_;
  executor_->run(
      [=] {
        const bool in_place = send == recv;
        for_each_piece(count, max_piece, [&](std::int64_t offset, int n) {
          const void* s = in_place ? MPI_IN_PLACE : byte_ptr(send, offset, dtype);
          MPI_CHECK(MPI_Allreduce(s, byte_ptr(recv, offset, dtype), n, type, mpi_op, comm));
        });
        if (op == ReduceOp::avg) divide_in_place(recv, count, dtype, size);
      },
      request);
}

void MpiCommunicator::do_all_gather(const void* send, void* recv, std::int64_t count_per_rank,
                                    DType dtype, Request* request) {
  MERIDIAN_CHECK(count_per_rank <= max_count_per_call_, "all_gather: ", count_per_rank,
                 " elements per rank exceed the ", max_count_per_call_,
                 " one MPI call can carry; gather in several calls");
  const MPI_Datatype type = mpi_datatype(dtype);
  const MPI_Comm comm = comm_;
  const int n = static_cast<int>(count_per_rank);
  const bool in_place = send == byte_ptr(static_cast<const void*>(recv), count_per_rank * rank_, dtype);
  executor_->run(
      [=] { MPI_CHECK(MPI_Allgather(in_place ? MPI_IN_PLACE : send, n, type, recv, n, type, comm)); },
      request);
}

void MpiCommunicator::do_reduce_scatter(const void* send, void* recv, std::int64_t count_per_rank,
                                        DType dtype, ReduceOp op, Request* request) {
  MERIDIAN_CHECK(count_per_rank <= max_count_per_call_, "reduce_scatter: ", count_per_rank,
                 " elements per rank exceed the ", max_count_per_call_,
                 " one MPI call can carry; reduce-scatter in several calls");
  const MPI_Datatype type = mpi_datatype(dtype);
  const MPI_Op mpi_op = mpi_reduce_op(op, dtype);
  const MPI_Comm comm = comm_;
  const int n = static_cast<int>(count_per_rank);
  const int size = size_;
  const std::int64_t rank_offset = count_per_rank * rank_;
  const bool in_place = static_cast<const void*>(recv) == byte_ptr(send, rank_offset, dtype);
  executor_->run(
      [=] {
        if (in_place) {
          // MPI's in-place form leaves the result at the start of the full buffer; ours (as NCCL's)
          // keeps it at this rank's block, so move it there.
          void* full = const_cast<void*>(send);
          MPI_CHECK(MPI_Reduce_scatter_block(MPI_IN_PLACE, full, n, type, mpi_op, comm));
          if (rank_offset != 0) std::memmove(recv, full, static_cast<std::size_t>(n) * dtype_size(dtype));
        } else {
          MPI_CHECK(MPI_Reduce_scatter_block(send, recv, n, type, mpi_op, comm));
        }
        if (op == ReduceOp::avg) divide_in_place(recv, n, dtype, size);
      },
      request);
}

void MpiCommunicator::do_broadcast(void* buffer, std::int64_t count, DType dtype, int root, Request* request) {
  const MPI_Datatype type = mpi_datatype(dtype);
  const MPI_Comm comm = comm_;
  const std::int64_t max_piece = max_count_per_call_;
  executor_->run(
      [=] {
        for_each_piece(count, max_piece, [&](std::int64_t offset, int n) {
          MPI_CHECK(MPI_Bcast(byte_ptr(buffer, offset, dtype), n, type, root, comm));
        });
      },
      request);
}

void MpiCommunicator::do_barrier(Request* request) {
  const MPI_Comm comm = comm_;
  executor_->run([=] { MPI_CHECK(MPI_Barrier(comm)); }, request);
}

std::unique_ptr<Communicator> MpiCommunicator::do_split(int color, int key) {
  MPI_Comm sub = MPI_COMM_NULL;
  const MPI_Comm comm = comm_;
  // Splitting is collective over this communicator, so it takes its place in the queue too.
  executor_->run([&] { MPI_CHECK(MPI_Comm_split(comm, color == no_color ? MPI_UNDEFINED : color, key, &sub)); },
              nullptr);
  if (sub == MPI_COMM_NULL) return nullptr;
  return std::unique_ptr<Communicator>(new MpiCommunicator(sub, Adopt{}));
}

// ---------------------------------------------------------------------------------------------
// Point-to-point

void MpiCommunicator::do_send_recv(const void* send_buffer, std::int64_t send_count, int dest,
                                   void* recv_buffer, std::int64_t recv_count, int source, DType dtype,
                                   int tag, Request* request) {
  const MPI_Datatype type = mpi_datatype(dtype);
  // Blocking calls that fit in one MPI call go straight to it (no request list to allocate).
  const bool send_fits = dest == no_peer || send_count <= max_count_per_call_;
  const bool recv_fits = source == no_peer || recv_count <= max_count_per_call_;
  if (request == nullptr && send_fits && recv_fits) {
    if (dest != no_peer && source != no_peer) {
      MPI_CHECK(MPI_Sendrecv(send_buffer, static_cast<int>(send_count), type, dest, tag, recv_buffer,
                             static_cast<int>(recv_count), type, source, tag, comm_, MPI_STATUS_IGNORE));
    } else if (dest != no_peer) {
      MPI_CHECK(MPI_Send(send_buffer, static_cast<int>(send_count), type, dest, tag, comm_));
    } else if (source != no_peer) {
      MPI_CHECK(MPI_Recv(recv_buffer, static_cast<int>(recv_count), type, source, tag, comm_, MPI_STATUS_IGNORE));
    }
    return;
  }
  std::vector<MPI_Request> requests;
  // Receives first, so that a matching send finds its receive already posted.
  if (source != no_peer) {
    for_each_piece(recv_count, max_count_per_call_, [&](std::int64_t offset, int n) {
      MPI_Request r = MPI_REQUEST_NULL;
      MPI_CHECK(MPI_Irecv(byte_ptr(recv_buffer, offset, dtype), n, type, source, tag, comm_, &r));
      requests.push_back(r);
    });
  }
  if (dest != no_peer) {
    for_each_piece(send_count, max_count_per_call_, [&](std::int64_t offset, int n) {
      MPI_Request r = MPI_REQUEST_NULL;
      MPI_CHECK(MPI_Isend(byte_ptr(send_buffer, offset, dtype), n, type, dest, tag, comm_, &r));
      requests.push_back(r);
    });
  }
  if (request != nullptr) {
    *request = Request(std::make_shared<P2pState>(std::move(requests)));
  } else {
    MPI_CHECK(MPI_Waitall(static_cast<int>(requests.size()), requests.data(), MPI_STATUSES_IGNORE));
  }
}

}  // namespace meridian
