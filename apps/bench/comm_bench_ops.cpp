// The operations comm_bench measures, each in two forms: through Meridian's Communicator and as
// the direct MPI call on the same buffers. Buffer conventions as in comm/communicator.hpp (blocks
// in rank order; broadcast in place; sendrecv is a ring shift to rank + 1 from rank - 1).
#include <climits>

#include "comm_bench.hpp"
#include "comm/mpi_communicator.hpp"
#include "core/error.hpp"

namespace meridian::bench {

std::string_view collective_name(Collective c) {
  switch (c) {
    case Collective::all_reduce: return "all_reduce";
    case Collective::all_gather: return "all_gather";
    case Collective::reduce_scatter: return "reduce_scatter";
    case Collective::broadcast: return "broadcast";
    case Collective::sendrecv: return "sendrecv";
  }
  return "?";
}

std::string_view raw_mpi_name(Collective c) {
  switch (c) {
    case Collective::all_reduce: return "MPI_Allreduce";
    case Collective::all_gather: return "MPI_Allgather";
    case Collective::reduce_scatter: return "MPI_Reduce_scatter_block";
    case Collective::broadcast: return "MPI_Bcast";
    case Collective::sendrecv: return "MPI_Sendrecv";
  }
  return "?";
}

double busbw_factor(Collective c, int ranks) {
  const double n = ranks;
  switch (c) {
    case Collective::all_reduce: return 2.0 * (n - 1) / n;
    case Collective::all_gather:
    case Collective::reduce_scatter: return (n - 1) / n;
    case Collective::broadcast:
    case Collective::sendrecv: return 1.0;
  }
  return 1.0;
}

Case make_case(Collective collective, std::int64_t bytes, DType dtype, ReduceOp op, int ranks, int root) {
  Case c;
  c.collective = collective;
  c.dtype = dtype;
  c.op = op;
  c.root = root;
  const auto element = static_cast<std::int64_t>(dtype_size(dtype));
  switch (collective) {
    case Collective::all_gather:
      c.count = bytes / (element * ranks);
      c.send_count = c.count;
      c.recv_count = c.count * ranks;
      break;
    case Collective::reduce_scatter:
      c.count = bytes / (element * ranks);
      c.send_count = c.count * ranks;
      c.recv_count = c.count;
      break;
    default:
      c.count = bytes / element;
      c.send_count = c.count;
      c.recv_count = c.count;
      break;
  }
  c.bytes = c.elements() * element;
  return c;
}

void run_ours(Communicator& comm, const Case& c, const void* send, void* recv, bool nonblocking) {
  const int next = (comm.rank() + 1) % comm.size();
  const int prev = (comm.rank() + comm.size() - 1) % comm.size();
  switch (c.collective) {
    case Collective::all_reduce:
      if (nonblocking) comm.iall_reduce(send, recv, c.count, c.dtype, c.op).wait();
      else comm.all_reduce(send, recv, c.count, c.dtype, c.op);
      return;
    case Collective::all_gather:
      if (nonblocking) comm.iall_gather(send, recv, c.count, c.dtype).wait();
      else comm.all_gather(send, recv, c.count, c.dtype);
      return;
    case Collective::reduce_scatter:
      if (nonblocking) comm.ireduce_scatter(send, recv, c.count, c.dtype, c.op).wait();
      else comm.reduce_scatter(send, recv, c.count, c.dtype, c.op);
      return;
    case Collective::broadcast:
      if (nonblocking) comm.ibroadcast(recv, c.count, c.dtype, c.root).wait();
      else comm.broadcast(recv, c.count, c.dtype, c.root);
      return;
    case Collective::sendrecv:
      if (nonblocking) comm.isend_recv(send, c.count, next, recv, c.count, prev, c.dtype).wait();
      else comm.send_recv(send, c.count, next, recv, c.count, prev, c.dtype);
      return;
  }
}

bool raw_possible(const Case& c) { return c.elements() <= INT_MAX; }

void run_raw(MPI_Comm comm, const Case& c, const void* send, void* recv, bool nonblocking) {
  int rank = 0, size = 1;
  MPI_CHECK(MPI_Comm_rank(comm, &rank));
  MPI_CHECK(MPI_Comm_size(comm, &size));
  const MPI_Datatype type = mpi_datatype(c.dtype);
  const int n = static_cast<int>(c.count);
  MPI_Request request = MPI_REQUEST_NULL;
  switch (c.collective) {
    case Collective::all_reduce: {
      const MPI_Op op = mpi_reduce_op(c.op, c.dtype);  // avg: the sum only, MPI has no average
      if (nonblocking) MPI_CHECK(MPI_Iallreduce(send, recv, n, type, op, comm, &request));
      else MPI_CHECK(MPI_Allreduce(send, recv, n, type, op, comm));
      break;
    }
    case Collective::all_gather:
      if (nonblocking) MPI_CHECK(MPI_Iallgather(send, n, type, recv, n, type, comm, &request));
      else MPI_CHECK(MPI_Allgather(send, n, type, recv, n, type, comm));
      break;
    case Collective::reduce_scatter: {
      const MPI_Op op = mpi_reduce_op(c.op, c.dtype);
      if (nonblocking) MPI_CHECK(MPI_Ireduce_scatter_block(send, recv, n, type, op, comm, &request));
      else MPI_CHECK(MPI_Reduce_scatter_block(send, recv, n, type, op, comm));
      break;
    }
    case Collective::broadcast:
      if (nonblocking) MPI_CHECK(MPI_Ibcast(recv, n, type, c.root, comm, &request));
      else MPI_CHECK(MPI_Bcast(recv, n, type, c.root, comm));
      break;
    case Collective::sendrecv: {
      const int next = (rank + 1) % size, prev = (rank + size - 1) % size;
      if (nonblocking) {
        MPI_Request pair[2];
        MPI_CHECK(MPI_Irecv(recv, n, type, prev, 0, comm, &pair[0]));
        MPI_CHECK(MPI_Isend(send, n, type, next, 0, comm, &pair[1]));
        MPI_CHECK(MPI_Waitall(2, pair, MPI_STATUSES_IGNORE));
      } else {
        MPI_CHECK(MPI_Sendrecv(send, n, type, next, 0, recv, n, type, prev, 0, comm, MPI_STATUS_IGNORE));
      }
      break;
    }
  }
  if (request != MPI_REQUEST_NULL) MPI_CHECK(MPI_Wait(&request, MPI_STATUS_IGNORE));
}

}  // namespace meridian::bench
