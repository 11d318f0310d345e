// NcclCommunicator on device buffers (CUDA builds only; skipped on every rank when a rank sees no
// GPU). With at least one GPU per rank the whole world is one NCCL communicator; otherwise each
// rank tests a communicator of its own (NCCL refuses two ranks of one communicator on one GPU).
#include <gtest/gtest.h>
#include <mpi.h>

#if defined(MERIDIAN_HAVE_CUDA)

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "comm/nccl_communicator.hpp"
#include "core/tensor.hpp"

namespace meridian {
namespace {

// The NCCL communicator under test, or nullptr (test skipped) when some rank has no GPU.
std::unique_ptr<NcclCommunicator> make_test_communicator() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) count = 0;
  int fewest = count;
  MPI_Allreduce(&count, &fewest, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (fewest == 0) return nullptr;
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (fewest >= size) return std::make_unique<NcclCommunicator>(MPI_COMM_WORLD);
  MPI_Comm self = MPI_COMM_NULL;
  MPI_Comm_split(MPI_COMM_WORLD, rank, 0, &self);
  auto comm = std::make_unique<NcclCommunicator>(self, rank % count);
  MPI_Comm_free(&self);
  return comm;
}

double value(int r, std::int64_t i) { return static_cast<double>((r * 5 + i * 3 + 1) % 11) - 5; }

Tensor device_values(const Communicator& comm, std::int64_t n, DType dtype, int r, std::int64_t offset = 0) {
  std::vector<double> v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = value(r, offset + i);
  return Tensor::from_values({n}, v, dtype).to(comm.device());
}

class Nccl : public ::testing::Test {
 protected:
  void SetUp() override {
    comm_ = make_test_communicator();
    if (!comm_) GTEST_SKIP() << "no CUDA device on some rank";
  }
  std::unique_ptr<NcclCommunicator> comm_;
};

TEST_F(Nccl, AllReduceSumAvgMaxBlockingAndNonBlocking) {
  const int rank = comm_->rank(), size = comm_->size();
  for (DType t : {DType::f32, DType::bf16}) {
    for (std::int64_t n : {1, 7, 100003}) {
      Tensor sum = device_values(*comm_, n, t, rank);
      comm_->all_reduce(sum, ReduceOp::sum);
      Tensor send = device_values(*comm_, n, t, rank);
      Tensor avg = Tensor::zeros({n}, t, comm_->device());
      Request r = comm_->iall_reduce(send, avg, ReduceOp::avg);
      Tensor mx = device_values(*comm_, n, t, rank);
      Request q = comm_->iall_reduce(mx, ReduceOp::max);
      q.wait();
      r.wait();
      const auto s = sum.to_vector(), a = avg.to_vector(), m = mx.to_vector();
      std::int64_t wrong = 0;
      for (std::int64_t i = 0; i < n; ++i) {
        double total = 0, best = value(0, i);
        for (int k = 0; k < size; ++k) {
          total += value(k, i);
          best = std::max(best, value(k, i));
        }
        const auto u = static_cast<std::size_t>(i);
        wrong += s[u] != total;
        wrong += std::abs(a[u] - total / size) > 0.02 * std::max(1.0, std::abs(total / size));
        wrong += m[u] != best;
      }
      EXPECT_EQ(wrong, 0) << dtype_name(t) << " n=" << n;
    }
  }
}

TEST_F(Nccl, GatherScatterBroadcastAndRing) {
  const int rank = comm_->rank(), size = comm_->size();
  const std::int64_t n = 1001;
  Tensor mine = device_values(*comm_, n, DType::f32, rank);
  Tensor gathered = Tensor::zeros({size * n}, DType::f32, comm_->device());
  comm_->all_gather(mine, gathered);
  const auto g = gathered.to_vector();
  for (std::int64_t i = 0; i < size * n; ++i) ASSERT_EQ(g[static_cast<std::size_t>(i)], value(static_cast<int>(i / n), i % n));

  Tensor full = device_values(*comm_, size * n, DType::f32, rank);
  Tensor block = Tensor::zeros({n}, DType::f32, comm_->device());
  comm_->ireduce_scatter(full, block, ReduceOp::sum).wait();
  const auto b = block.to_vector();
  for (std::int64_t i = 0; i < n; ++i) {
    double total = 0;
    for (int k = 0; k < size; ++k) total += value(k, rank * n + i);
    ASSERT_EQ(b[static_cast<std::size_t>(i)], total);
  }

  Tensor x = rank == size - 1 ? device_values(*comm_, n, DType::f32, rank) : Tensor::zeros({n}, DType::f32, comm_->device());
  comm_->broadcast(x, size - 1);
  const auto xb = x.to_vector();
  for (std::int64_t i = 0; i < n; ++i) ASSERT_EQ(xb[static_cast<std::size_t>(i)], value(size - 1, i));

  const int next = (rank + 1) % size, prev = (rank + size - 1) % size;
  Tensor in = Tensor::zeros({n}, DType::f32, comm_->device());
  comm_->isend_recv(mine.raw_data(), n, next, in.raw_data(), n, prev, DType::f32).wait();
  const auto v = in.to_vector();
  for (std::int64_t i = 0; i < n; ++i) ASSERT_EQ(v[static_cast<std::size_t>(i)], value(prev, i));
  comm_->barrier();
}

TEST_F(Nccl, SplitAndHostTensorsAreRefused) {
  auto sub = comm_->split(0, -comm_->rank());
  ASSERT_NE(sub, nullptr);
  EXPECT_EQ(sub->size(), comm_->size());
  EXPECT_EQ(sub->rank(), comm_->size() - 1 - comm_->rank());
  Tensor host = Tensor::zeros({4}, DType::f32);
  EXPECT_THROW(sub->all_reduce(host), Error);
}

}  // namespace
}  // namespace meridian

#endif  // MERIDIAN_HAVE_CUDA
