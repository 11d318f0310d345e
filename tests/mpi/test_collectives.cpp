// Every collective of the MPI Communicator, blocking and non-blocking, against closed-form answers:
// element i of rank r holds value(dtype, r, i) (mixed signs, exact in every dtype), so each
// expected result is computed here from the formula, never by communicating.
#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "comm/communicator.hpp"
#include "comm/mpi_communicator.hpp"
#include "core/tensor.hpp"

namespace meridian {
namespace {

const std::vector<DType> all_dtypes = {DType::f32, DType::f64, DType::bf16, DType::f16,
                                       DType::i32, DType::i64, DType::u8};
const std::vector<ReduceOp> all_ops = {ReduceOp::sum, ReduceOp::avg, ReduceOp::max, ReduceOp::min};
const std::vector<std::int64_t> sizes = {0, 1, 7, 1000, 65537};

bool applies(DType t, ReduceOp op) { return op != ReduceOp::avg || dtype_is_floating(t); }

// Calls body(t, op) for every dtype and every reduction op that applies to it.
template <class Body>
void for_each_reduction(Body&& body) {
  for (DType t : all_dtypes)
    for (ReduceOp op : all_ops)
      if (applies(t, op)) body(t, op);
}

// A host buffer of `count` elements of `dtype`, read and written as doubles.
class Buffer {
 public:
  Buffer(DType dtype, std::int64_t count)
      : dtype_(dtype), bytes_(static_cast<std::size_t>(count) * dtype_size(dtype) + 1) {}
  DType dtype() const { return dtype_; }
  void* data() { return bytes_.data(); }
  void* at(std::int64_t i) { return bytes_.data() + static_cast<std::size_t>(i) * dtype_size(dtype_); }

  void set(std::int64_t i, double v) {
    void* p = at(i);
    switch (dtype_) {
      case DType::f32: store(p, static_cast<float>(v)); break;
      case DType::f64: store(p, v); break;
      case DType::bf16: store(p, float_to_bf16(static_cast<float>(v))); break;
      case DType::f16: store(p, float_to_f16(static_cast<float>(v))); break;
      case DType::i32: store(p, static_cast<std::int32_t>(v)); break;
      case DType::i64: store(p, static_cast<std::int64_t>(v)); break;
      case DType::u8: store(p, static_cast<std::uint8_t>(static_cast<std::int64_t>(v))); break;
    }
  }

  double get(std::int64_t i) {
    const void* p = at(i);
    switch (dtype_) {
      case DType::f32: return load<float>(p);
      case DType::f64: return load<double>(p);
      case DType::bf16: return bf16_to_float(load<bf16>(p));
      case DType::f16: return f16_to_float(load<f16>(p));
      case DType::i32: return load<std::int32_t>(p);
      case DType::i64: return static_cast<double>(load<std::int64_t>(p));
      case DType::u8: return load<std::uint8_t>(p);
    }
    return 0;
  }

 private:
  template <class T>
  static void store(void* p, T v) { std::memcpy(p, &v, sizeof(T)); }
  template <class T>
  static T load(const void* p) {
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
  }
  DType dtype_;
  std::vector<unsigned char> bytes_;
};

// The value of element i on rank r: mixed signs, small enough that sums over 8 ranks are exact in
// bf16, scaled per dtype so that truncation to a narrower type would show.
double value(DType t, int r, std::int64_t i) {
  const double base = static_cast<double>((r * 5 + i * 3 + 1) % 11) - 5;  // -5..5
  switch (t) {
    case DType::u8: return base + 5;
    case DType::i32: return base * 100003;
    case DType::i64: return base * 1099511627776.0 + r;  // 2^40: needs 64 bits
    case DType::f64: return base * 0.5 + r * 0x1p-30;  // needs double precision, sums stay exact
    default: return base * 0.5;                        // exact halves in f32, bf16, f16
  }
}

// v rounded to what dtype t stores.
double stored(DType t, double v) {
  Buffer b(t, 1);
  b.set(0, v);
  return b.get(0);
}

// op over ranks of value(t, r, i), as the element type computes it (avg divides in that type).
double expected_reduction(DType t, ReduceOp op, int ranks, std::int64_t i) {
  double acc = value(t, 0, i);
  for (int r = 1; r < ranks; ++r) {
    const double v = value(t, r, i);
    if (op == ReduceOp::max) acc = std::max(acc, v);
    else if (op == ReduceOp::min) acc = std::min(acc, v);
    else acc += v;
  }
  const double s = stored(t, acc);
  if (op != ReduceOp::avg) return s;
  switch (t) {
    case DType::f32: return static_cast<float>(s) / static_cast<float>(ranks);
    case DType::f64: return s / ranks;
    case DType::bf16:
    case DType::f16: return stored(t, static_cast<float>(s) / static_cast<float>(ranks));
    default: return s;
  }
}

std::string label(DType t, ReduceOp op, std::int64_t count) {
  return std::string(dtype_name(t)) + " " + std::string(reduce_op_name(op)) + " count=" + std::to_string(count);
}

// Counts mismatches between got(i) and want(i) for i < n; reports the first few.
template <class Got, class Want>
std::int64_t count_wrong(std::int64_t n, Got&& got, Want&& want, const std::string& what) {
  std::int64_t wrong = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const double g = got(i), w = want(i);
    if (g != w) {
      if (wrong < 3) ADD_FAILURE() << what << ": element " << i << " is " << g << ", expected " << w;
      ++wrong;
    }
  }
  return wrong;
}

class Collectives : public ::testing::Test {
 protected:
  void SetUp() override {
    comm_ = make_communicator(CommBackend::mpi, MPI_COMM_WORLD);
    rank_ = comm_->rank();
    size_ = comm_->size();
  }
  std::unique_ptr<Communicator> comm_;
  int rank_ = 0;
  int size_ = 1;
};

// ---------------------------------------------------------------------------------------------
// all_reduce

enum class Mode { blocking, in_place, nonblocking, nonblocking_in_place };

void run_all_reduce(Communicator& comm, Mode mode) {
  const int rank = comm.rank(), size = comm.size();
  for_each_reduction([&](DType t, ReduceOp op) {
    // All sizes of one (dtype, op) are in flight together in the non-blocking modes.
    std::vector<Buffer> send, recv;
    std::vector<Request> requests;
    for (std::int64_t n : sizes) {
      send.emplace_back(t, n);
      recv.emplace_back(t, n);
      for (std::int64_t i = 0; i < n; ++i) {
        send.back().set(i, value(t, rank, i));
        recv.back().set(i, -99);
      }
    }
    for (std::size_t k = 0; k < sizes.size(); ++k) {
      const std::int64_t n = sizes[k];
      const bool in_place = mode == Mode::in_place || mode == Mode::nonblocking_in_place;
      void* out = in_place ? send[k].data() : recv[k].data();
      if (mode == Mode::blocking || mode == Mode::in_place) {
        comm.all_reduce(send[k].data(), out, n, t, op);
      } else {
        requests.push_back(comm.iall_reduce(send[k].data(), out, n, t, op));
      }
    }
    // Complete in reverse order of issue.
    for (auto it = requests.rbegin(); it != requests.rend(); ++it) it->wait();
    for (std::size_t k = 0; k < sizes.size(); ++k) {
      const std::int64_t n = sizes[k];
      const bool in_place = mode == Mode::in_place || mode == Mode::nonblocking_in_place;
      Buffer& out = in_place ? send[k] : recv[k];
      count_wrong(
          n, [&](std::int64_t i) { return out.get(i); },
          [&](std::int64_t i) { return expected_reduction(t, op, size, i); }, "all_reduce " + label(t, op, n));
      if (!in_place)  // the send buffer is untouched
        count_wrong(
            n, [&](std::int64_t i) { return send[k].get(i); },
            [&](std::int64_t i) { return stored(t, value(t, rank, i)); }, "all_reduce send " + label(t, op, n));
    }
  });
}

TEST_F(Collectives, AllReduceBlocking) { run_all_reduce(*comm_, Mode::blocking); }
TEST_F(Collectives, AllReduceInPlace) { run_all_reduce(*comm_, Mode::in_place); }
TEST_F(Collectives, AllReduceNonBlocking) { run_all_reduce(*comm_, Mode::nonblocking); }
TEST_F(Collectives, AllReduceNonBlockingInPlace) { run_all_reduce(*comm_, Mode::nonblocking_in_place); }

// ---------------------------------------------------------------------------------------------
// all_gather

void run_all_gather(Communicator& comm, bool nonblocking, bool in_place) {
  const int rank = comm.rank(), size = comm.size();
  for (DType t : all_dtypes) {
    std::vector<Buffer> send, recv;
    std::vector<Request> requests;
    for (std::int64_t n : sizes) {
      send.emplace_back(t, n);
      recv.emplace_back(t, n * size);
      for (std::int64_t i = 0; i < n * size; ++i) recv.back().set(i, -99);
      for (std::int64_t i = 0; i < n; ++i) {
        send.back().set(i, value(t, rank, i));
        if (in_place) recv.back().set(rank * n + i, value(t, rank, i));
      }
    }
    for (std::size_t k = 0; k < sizes.size(); ++k) {
      const std::int64_t n = sizes[k];
      const void* in = in_place ? recv[k].at(rank * n) : send[k].data();
      if (nonblocking) {
        requests.push_back(comm.iall_gather(in, recv[k].data(), n, t));
      } else {
        comm.all_gather(in, recv[k].data(), n, t);
      }
    }
    for (auto it = requests.rbegin(); it != requests.rend(); ++it) it->wait();
    for (std::size_t k = 0; k < sizes.size(); ++k) {
      const std::int64_t n = sizes[k];
      count_wrong(
          n * size, [&](std::int64_t i) { return recv[k].get(i); },
          [&](std::int64_t i) { return stored(t, value(t, static_cast<int>(i / n), i % n)); },
          "all_gather " + label(t, ReduceOp::sum, n));
    }
  }
}

TEST_F(Collectives, AllGatherBlocking) { run_all_gather(*comm_, false, false); }
TEST_F(Collectives, AllGatherInPlace) { run_all_gather(*comm_, false, true); }
TEST_F(Collectives, AllGatherNonBlocking) { run_all_gather(*comm_, true, false); }
TEST_F(Collectives, AllGatherNonBlockingInPlace) { run_all_gather(*comm_, true, true); }

// ---------------------------------------------------------------------------------------------
// reduce_scatter: block b of rank r's input holds value(t, r, b * n + i).

void run_reduce_scatter(Communicator& comm, bool nonblocking, bool in_place) {
  const int rank = comm.rank(), size = comm.size();
  for_each_reduction([&](DType t, ReduceOp op) {
    std::vector<Buffer> send, recv;
    std::vector<Request> requests;
    for (std::int64_t n : sizes) {
      send.emplace_back(t, n * size);
      recv.emplace_back(t, n);
      for (std::int64_t i = 0; i < n * size; ++i) send.back().set(i, value(t, rank, i));
      for (std::int64_t i = 0; i < n; ++i) recv.back().set(i, -99);
    }
    for (std::size_t k = 0; k < sizes.size(); ++k) {
      const std::int64_t n = sizes[k];
      void* out = in_place ? send[k].at(rank * n) : recv[k].data();
      if (nonblocking) {
        requests.push_back(comm.ireduce_scatter(send[k].data(), out, n, t, op));
      } else {
        comm.reduce_scatter(send[k].data(), out, n, t, op);
      }
    }
    for (auto it = requests.rbegin(); it != requests.rend(); ++it) it->wait();
    for (std::size_t k = 0; k < sizes.size(); ++k) {
      const std::int64_t n = sizes[k];
      count_wrong(
          n, [&](std::int64_t i) { return in_place ? send[k].get(rank * n + i) : recv[k].get(i); },
          [&](std::int64_t i) { return expected_reduction(t, op, size, rank * n + i); },
          "reduce_scatter " + label(t, op, n));
    }
  });
}

TEST_F(Collectives, ReduceScatterBlocking) { run_reduce_scatter(*comm_, false, false); }
TEST_F(Collectives, ReduceScatterInPlace) { run_reduce_scatter(*comm_, false, true); }
TEST_F(Collectives, ReduceScatterNonBlocking) { run_reduce_scatter(*comm_, true, false); }
TEST_F(Collectives, ReduceScatterNonBlockingInPlace) { run_reduce_scatter(*comm_, true, true); }

// ---------------------------------------------------------------------------------------------
// broadcast and barrier

void run_broadcast(Communicator& comm, bool nonblocking) {
  const int rank = comm.rank(), size = comm.size();
  for (DType t : all_dtypes)
    for (int root : {0, size - 1}) {
      std::vector<Buffer> buffers;
      std::vector<Request> requests;
      for (std::int64_t n : sizes) {
        buffers.emplace_back(t, n);
        for (std::int64_t i = 0; i < n; ++i) buffers.back().set(i, rank == root ? value(t, root, i) : -99);
      }
      for (std::size_t k = 0; k < sizes.size(); ++k) {
        if (nonblocking) {
          requests.push_back(comm.ibroadcast(buffers[k].data(), sizes[k], t, root));
        } else {
          comm.broadcast(buffers[k].data(), sizes[k], t, root);
        }
      }
      for (auto it = requests.rbegin(); it != requests.rend(); ++it) it->wait();
      for (std::size_t k = 0; k < sizes.size(); ++k)
        count_wrong(
            sizes[k], [&](std::int64_t i) { return buffers[k].get(i); },
            [&](std::int64_t i) { return stored(t, value(t, root, i)); },
            "broadcast root " + std::to_string(root) + " " + label(t, ReduceOp::sum, sizes[k]));
    }
}

TEST_F(Collectives, BroadcastBlocking) { run_broadcast(*comm_, false); }
TEST_F(Collectives, BroadcastNonBlocking) { run_broadcast(*comm_, true); }

TEST_F(Collectives, BarrierSeparatesPhases) {
  // Blocking and non-blocking barriers complete on every rank and leave the communicator usable.
  comm_->barrier();
  Request r = comm_->ibarrier();
  r.wait();
  EXPECT_TRUE(r.complete());
  int one = 1, total = 0;
  comm_->all_reduce(&one, &total, 1, DType::i32, ReduceOp::sum);
  EXPECT_EQ(total, size_);
}

// ---------------------------------------------------------------------------------------------
// Tensor overloads

TEST_F(Collectives, TensorOverloads) {
  const std::int64_t n = 5;
  std::vector<double> mine(n);
  for (std::int64_t i = 0; i < n; ++i) mine[static_cast<std::size_t>(i)] = value(DType::f32, rank_, i);
  Tensor t = Tensor::from_values({n}, mine, DType::f32);
  comm_->all_reduce(t, ReduceOp::max);
  for (std::int64_t i = 0; i < n; ++i) EXPECT_EQ(t.item({i}), expected_reduction(DType::f32, ReduceOp::max, size_, i));

  std::vector<double> mine64(n);
  for (std::int64_t i = 0; i < n; ++i) mine64[static_cast<std::size_t>(i)] = value(DType::f64, rank_, i);
  Tensor send = Tensor::from_values({n}, mine64, DType::f64);
  Tensor recv = Tensor::zeros({n}, DType::f64);
  comm_->iall_reduce(send, recv, ReduceOp::sum).wait();
  for (std::int64_t i = 0; i < n; ++i) EXPECT_EQ(recv.item({i}), expected_reduction(DType::f64, ReduceOp::sum, size_, i));

  Tensor gathered = Tensor::zeros({size_, n}, DType::f64);
  comm_->all_gather(send, gathered);
  for (int r = 0; r < size_; ++r)
    for (std::int64_t i = 0; i < n; ++i) EXPECT_EQ(gathered.item({r, i}), value(DType::f64, r, i));

  Tensor scattered = Tensor::zeros({n}, DType::f64);
  std::vector<double> full(static_cast<std::size_t>(n * size_));
  for (std::int64_t i = 0; i < n * size_; ++i) full[static_cast<std::size_t>(i)] = value(DType::f64, rank_, i);
  Tensor full_t = Tensor::from_values({size_ * n}, full, DType::f64);
  comm_->ireduce_scatter(full_t, scattered, ReduceOp::sum).wait();
  for (std::int64_t i = 0; i < n; ++i)
    EXPECT_EQ(scattered.item({i}), expected_reduction(DType::f64, ReduceOp::sum, size_, rank_ * n + i));

  Tensor b = Tensor::full({3}, rank_ == 0 ? 7.0 : 0.0, DType::i64);
  comm_->broadcast(b, 0);
  for (std::int64_t i = 0; i < 3; ++i) EXPECT_EQ(b.item({i}), 7.0);

  // Shape mismatches are refused before any communication (same verdict on every rank).
  Tensor wrong = Tensor::zeros({n + 1}, DType::f64);
  EXPECT_THROW(comm_->all_gather(send, wrong), Error);
  EXPECT_THROW(comm_->all_reduce(send, wrong), Error);
  Tensor matrix = Tensor::zeros({2, 3}, DType::f32);
  Tensor transposed = matrix.transpose(0, 1);
  EXPECT_THROW(comm_->all_reduce(transposed), Error);
}

// ---------------------------------------------------------------------------------------------
// Argument errors: caught on every rank before any communication, so nothing hangs.

TEST_F(Collectives, AvgOnIntegersIsAnInputError) {
  std::vector<std::int32_t> x(4, 1);
  try {
    comm_->all_reduce(x.data(), x.data(), 4, DType::i32, ReduceOp::avg);
    ADD_FAILURE() << "avg on i32 was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("avg needs a floating-point dtype"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("i32"), std::string::npos) << e.what();
  }
  std::vector<std::uint8_t> y(8, 1);
  EXPECT_THROW(comm_->ireduce_scatter(y.data(), y.data(), 1, DType::u8, ReduceOp::avg), InputError);
}

TEST_F(Collectives, BadArgumentsThrow) {
  std::vector<float> a(16, 1.f), b(16, 0.f);
  EXPECT_THROW(comm_->all_reduce(a.data(), b.data(), -1, DType::f32, ReduceOp::sum), Error);
  EXPECT_THROW(comm_->all_reduce(a.data(), a.data() + 1, 4, DType::f32, ReduceOp::sum), Error);  // overlap
  EXPECT_THROW(comm_->all_reduce(nullptr, b.data(), 4, DType::f32, ReduceOp::sum), Error);
  EXPECT_THROW(comm_->broadcast(a.data(), 4, DType::f32, size_), Error);
  EXPECT_THROW(comm_->broadcast(a.data(), 4, DType::f32, -1), Error);
  EXPECT_THROW(comm_->isend(a.data(), 4, DType::f32, size_), Error);
  EXPECT_THROW(comm_->recv(a.data(), 4, DType::f32, 0, -3), Error);
  EXPECT_THROW(comm_->split(-7, 0), Error);
  // The communicator still works after refused calls.
  comm_->all_reduce(a.data(), b.data(), 16, DType::f32, ReduceOp::sum);
  EXPECT_EQ(b[15], static_cast<float>(size_));
}

// ---------------------------------------------------------------------------------------------
// Long counts are cut into pieces of at most max_count_per_call elements.

TEST(MpiCommunicatorPieces, LongCallsAreCutIntoPieces) {
  MpiCommunicator comm(MPI_COMM_WORLD);
  comm.set_max_count_per_call(7);
  const int rank = comm.rank(), size = comm.size();
  const std::int64_t n = 100;  // 15 pieces
  Buffer x(DType::f32, n), y(DType::f32, n);
  for (std::int64_t i = 0; i < n; ++i) x.set(i, value(DType::f32, rank, i));
  comm.all_reduce(x.data(), y.data(), n, DType::f32, ReduceOp::avg);
  comm.iall_reduce(x.data(), x.data(), n, DType::f32, ReduceOp::sum).wait();
  count_wrong(
      n, [&](std::int64_t i) { return y.get(i); },
      [&](std::int64_t i) { return expected_reduction(DType::f32, ReduceOp::avg, size, i); }, "pieces avg");
  count_wrong(
      n, [&](std::int64_t i) { return x.get(i); },
      [&](std::int64_t i) { return expected_reduction(DType::f32, ReduceOp::sum, size, i); }, "pieces sum");

  Buffer b(DType::i64, n);
  for (std::int64_t i = 0; i < n; ++i) b.set(i, rank == 1 % size ? value(DType::i64, 1 % size, i) : 0);
  comm.broadcast(b.data(), n, DType::i64, 1 % size);
  count_wrong(
      n, [&](std::int64_t i) { return b.get(i); }, [&](std::int64_t i) { return value(DType::i64, 1 % size, i); },
      "pieces broadcast");

  Buffer s(DType::u8, n), r(DType::u8, n);
  for (std::int64_t i = 0; i < n; ++i) s.set(i, value(DType::u8, rank, i));
  const int next = (rank + 1) % size, prev = (rank + size - 1) % size;
  comm.send_recv(s.data(), n, next, r.data(), n, prev, DType::u8);
  count_wrong(
      n, [&](std::int64_t i) { return r.get(i); }, [&](std::int64_t i) { return value(DType::u8, prev, i); },
      "pieces send_recv");

  // Gathers cannot be cut (their blocks interleave); that is a clear error on every rank.
  EXPECT_THROW(comm.all_gather(s.data(), r.data(), 8, DType::u8), Error);
  EXPECT_THROW(comm.set_max_count_per_call(0), Error);
}

// ---------------------------------------------------------------------------------------------
// split

TEST_F(Collectives, SplitByParityReversedKey) {
  // Color = parity, key = -rank: the new communicators hold the ranks of one parity, highest first.
  std::unique_ptr<Communicator> sub = comm_->split(rank_ % 2, -rank_);
  ASSERT_NE(sub, nullptr);
  std::vector<int> members;
  for (int r = size_ - 1; r >= 0; --r)
    if (r % 2 == rank_ % 2) members.push_back(r);
  EXPECT_EQ(sub->size(), static_cast<int>(members.size()));
  EXPECT_EQ(sub->rank(), static_cast<int>(std::find(members.begin(), members.end(), rank_) - members.begin()));
  std::vector<int> gathered(static_cast<std::size_t>(sub->size()), -1);
  sub->all_gather(&rank_, gathered.data(), 1, DType::i32);
  EXPECT_EQ(gathered, members);
  // Non-blocking collectives on the parent and the child at once.
  int a = rank_, sum_all = 0, b = rank_, sum_sub = 0;
  Request on_parent = comm_->iall_reduce(&a, &sum_all, 1, DType::i32, ReduceOp::sum);
  Request on_child = sub->iall_reduce(&b, &sum_sub, 1, DType::i32, ReduceOp::sum);
  on_child.wait();
  on_parent.wait();
  EXPECT_EQ(sum_all, size_ * (size_ - 1) / 2);
  EXPECT_EQ(sum_sub, std::accumulate(members.begin(), members.end(), 0));
}

TEST_F(Collectives, SplitWithNoColorLeavesRanksOut) {
  std::unique_ptr<Communicator> sub = comm_->split(rank_ == 0 ? 0 : Communicator::no_color, 0);
  if (rank_ == 0) {
    ASSERT_NE(sub, nullptr);
    EXPECT_EQ(sub->size(), 1);
    EXPECT_EQ(sub->backend(), CommBackend::mpi);
  } else {
    EXPECT_EQ(sub, nullptr);
  }
  // A split after queued non-blocking work is ordered after it.
  std::vector<float> x(1000, 1.f);
  Request pending = comm_->iall_reduce(x.data(), x.data(), 1000, DType::f32, ReduceOp::sum);
  std::unique_ptr<Communicator> all = comm_->split(0, 0);
  EXPECT_TRUE(pending.test());
  EXPECT_EQ(x[999], static_cast<float>(size_));
  EXPECT_EQ(all->size(), size_);
}

// ---------------------------------------------------------------------------------------------
// Names and factory

TEST(CommNames, ParseAndPrint) {
  EXPECT_EQ(parse_reduce_op("avg"), ReduceOp::avg);
  EXPECT_EQ(reduce_op_name(ReduceOp::min), "min");
  EXPECT_THROW(parse_reduce_op("mean"), InputError);
  EXPECT_EQ(parse_comm_backend("mpi"), CommBackend::mpi);
  EXPECT_THROW(parse_comm_backend("gloo"), InputError);
#if defined(MERIDIAN_HAVE_CUDA)
  EXPECT_EQ(parse_comm_backend("nccl"), CommBackend::nccl);
#else
  try {
    parse_comm_backend("nccl");
    ADD_FAILURE() << "nccl accepted in a build without CUDA";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("-DMERIDIAN_ENABLE_CUDA=ON"), std::string::npos) << e.what();
  }
  EXPECT_THROW(make_communicator(CommBackend::nccl, MPI_COMM_WORLD), InputError);
#endif
}

}  // namespace
}  // namespace meridian
