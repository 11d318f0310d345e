// Point-to-point of the MPI Communicator: rings with send/recv, isend/irecv and send_recv, tags that
// separate message streams, and many outstanding messages completed out of order. Payload element
// i from rank r is r * 1000 + i, so every received element names its sender and position.
#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "comm/communicator.hpp"

namespace meridian {
namespace {

std::vector<std::int32_t> payload(int from, std::int64_t n, int salt = 0) {
  std::vector<std::int32_t> v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = from * 1000 + static_cast<std::int32_t>(i) + salt * 100000;
  return v;
}

class PointToPoint : public ::testing::Test {
 protected:
  void SetUp() override {
    comm_ = make_communicator(CommBackend::mpi, MPI_COMM_WORLD);
    rank_ = comm_->rank();
    size_ = comm_->size();
    next_ = (rank_ + 1) % size_;
    prev_ = (rank_ + size_ - 1) % size_;
  }
  std::unique_ptr<Communicator> comm_;
  int rank_ = 0, size_ = 1, next_ = 0, prev_ = 0;
};

TEST_F(PointToPoint, BlockingRingAlternatingOrder) {
  // Even ranks send first, odd ranks receive first; with an odd world the last rank (even, next
  // to rank 0) receives first too, so the ring never waits on itself.
  if (size_ < 2) GTEST_SKIP() << "a blocking ring needs two ranks";
  for (std::int64_t n : {0, 1, 13, 100000}) {
    const std::vector<std::int32_t> out = payload(rank_, n);
    std::vector<std::int32_t> in(static_cast<std::size_t>(n), -1);
    const bool send_first = rank_ % 2 == 0 && !(size_ % 2 == 1 && rank_ == size_ - 1 && size_ > 1);
    if (send_first) {
      comm_->send(out.data(), n, DType::i32, next_);
      comm_->recv(in.data(), n, DType::i32, prev_);
    } else {
      comm_->recv(in.data(), n, DType::i32, prev_);
      comm_->send(out.data(), n, DType::i32, next_);
    }
    EXPECT_EQ(in, payload(prev_, n)) << "n=" << n;
  }
}

TEST_F(PointToPoint, SendRecvRingBothDirections) {
  for (std::int64_t n : {0, 1, 7, 1 << 17}) {
    std::vector<std::int32_t> from_prev(static_cast<std::size_t>(n), -1), from_next(static_cast<std::size_t>(n), -1);
    const std::vector<std::int32_t> out = payload(rank_, n);
    comm_->send_recv(out.data(), n, next_, from_prev.data(), n, prev_, DType::i32);
    Request back = comm_->isend_recv(out.data(), n, prev_, from_next.data(), n, next_, DType::i32, 5);
    back.wait();
    EXPECT_EQ(from_prev, payload(prev_, n)) << "n=" << n;
    EXPECT_EQ(from_next, payload(next_, n)) << "n=" << n;
  }
}

TEST_F(PointToPoint, NonBlockingRing) {
  const std::int64_t n = 50001;
  const std::vector<std::int32_t> out = payload(rank_, n);
  std::vector<std::int32_t> in(static_cast<std::size_t>(n), -1);
  Request r = comm_->irecv(in.data(), n, DType::i32, prev_);
  Request s = comm_->isend(out.data(), n, DType::i32, next_);
  s.wait();
  while (!r.test()) {
  }
  EXPECT_EQ(in, payload(prev_, n));
}

TEST_F(PointToPoint, TagsSeparateStreamsAndManyMessagesFinishOutOfOrder) {
  constexpr int k_messages = 24;
  std::vector<std::vector<std::int32_t>> out(k_messages), in(k_messages);
  std::vector<Request> requests;
  // Receives are posted in reverse tag order, sends in tag order; tags must match them up.
  for (int k = k_messages - 1; k >= 0; --k) {
    const std::int64_t n = 1 + 301 * k;
    in[static_cast<std::size_t>(k)].assign(static_cast<std::size_t>(n), -1);
    requests.push_back(comm_->irecv(in[static_cast<std::size_t>(k)].data(), n, DType::i32, prev_, k));
  }
  for (int k = 0; k < k_messages; ++k) {
    const std::int64_t n = 1 + 301 * k;
    out[static_cast<std::size_t>(k)] = payload(rank_, n, k);
    requests.push_back(comm_->isend(out[static_cast<std::size_t>(k)].data(), n, DType::i32, next_, k));
  }
  std::mt19937 rng(99u + static_cast<unsigned>(rank_));
  std::shuffle(requests.begin(), requests.end(), rng);
  wait_all(requests);
  for (int k = 0; k < k_messages; ++k)
    EXPECT_EQ(in[static_cast<std::size_t>(k)], payload(prev_, 1 + 301 * k, k)) << "tag " << k;
}

TEST_F(PointToPoint, PointToPointAlongsideQueuedCollectives) {
  // A non-blocking all-reduce on the worker while this thread exchanges messages.
  const std::int64_t n = 1 << 20;
  std::vector<float> x(static_cast<std::size_t>(n), 1.f);
  Request collective = comm_->iall_reduce(x.data(), x.data(), n, DType::f32, ReduceOp::sum);
  const std::vector<std::int32_t> out = payload(rank_, 1000);
  std::vector<std::int32_t> in(1000, -1);
  comm_->send_recv(out.data(), 1000, next_, in.data(), 1000, prev_, DType::i32, 3);
  collective.wait();
  EXPECT_EQ(in, payload(prev_, 1000));
  EXPECT_EQ(x[static_cast<std::size_t>(n - 1)], static_cast<float>(size_));
}

}  // namespace
}  // namespace meridian
