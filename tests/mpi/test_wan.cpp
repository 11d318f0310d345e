// The WAN emulation: every collective against closed-form answers for several data-center maps
// (including leaders that are not rank 0 and three data centers), the achieved inter-DC bandwidth
// against the configured one (within 5 %), the latency of small messages, overlap of a non-blocking all-reduce with
// computation, and the byte counters.
#include <gtest/gtest.h>
#include <mpi.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <thread>
#include <vector>

#include "mpi_world.hpp"
#include "comm/link_model.hpp"
#include "comm/wan_communicator.hpp"
#include "core/timer.hpp"

namespace meridian {
namespace {

using testing::world_size;

// Data-center maps to test at this world size: contiguous halves, and (4 ranks) three data
// centers whose leaders are ranks 1, 0 and 2.
std::vector<std::vector<int>> dc_maps() {
  if (world_size() == 2) return {{0, 1}};
  if (world_size() == 4) return {{0, 0, 1, 1}, {1, 0, 2, 0}};
  return {};
}

int dcs_of(const std::vector<int>& map) { return *std::max_element(map.begin(), map.end()) + 1; }

double value(int rank, std::int64_t i) { return static_cast<double>((rank + 1) * ((i % 7) - 3)); }

TEST(Wan, CollectivesMatchClosedForms) {
  for (const auto& map : dc_maps()) {
    WanCommunicator comm(MPI_COMM_WORLD, map, LinkModel::uniform(dcs_of(map), 10e9, 0));
    const int n = comm.size(), me = comm.rank();
    for (std::int64_t count : {std::int64_t{1}, std::int64_t{5}, std::int64_t{10001}}) {
      std::vector<double> x(static_cast<std::size_t>(count));
      for (std::int64_t i = 0; i < count; ++i) x[static_cast<std::size_t>(i)] = value(me, i);
      std::vector<double> sum = x, mx = x, avg(x.size());
      comm.all_reduce(sum.data(), sum.data(), count, DType::f64, ReduceOp::sum);
      comm.all_reduce(mx.data(), mx.data(), count, DType::f64, ReduceOp::max);
      comm.all_reduce(x.data(), avg.data(), count, DType::f64, ReduceOp::avg);
      std::vector<std::int64_t> ints(static_cast<std::size_t>(count), me + 1);
      comm.all_reduce(ints.data(), ints.data(), count, DType::i64, ReduceOp::min);
      for (std::int64_t i = 0; i < count; ++i) {
        double s = 0, m = -1e300;
        for (int r = 0; r < n; ++r) {
          s += value(r, i);
          m = std::max(m, value(r, i));
        }
        ASSERT_EQ(sum[static_cast<std::size_t>(i)], s) << "count " << count << " i " << i;
        ASSERT_EQ(mx[static_cast<std::size_t>(i)], m);
        ASSERT_DOUBLE_EQ(avg[static_cast<std::size_t>(i)], s / n);
        ASSERT_EQ(ints[static_cast<std::size_t>(i)], 1);
      }
      for (int root = 0; root < n; ++root) {
        std::vector<float> b(static_cast<std::size_t>(count), me == root ? 1.5f * static_cast<float>(root) : -1.f);
        comm.broadcast(b.data(), count, DType::f32, root);
        for (float v : b) ASSERT_EQ(v, 1.5f * static_cast<float>(root)) << "root " << root;
      }
      std::vector<std::int32_t> mine(static_cast<std::size_t>(count), 10 * me), all(mine.size() * n, -1);
      comm.all_gather(mine.data(), all.data(), count, DType::i32);
      for (int r = 0; r < n; ++r)
        for (std::int64_t i = 0; i < count; ++i) ASSERT_EQ(all[static_cast<std::size_t>(r * count + i)], 10 * r);
      std::vector<float> blocks(static_cast<std::size_t>(count * n)), block(static_cast<std::size_t>(count));
      for (std::int64_t i = 0; i < count * n; ++i) blocks[static_cast<std::size_t>(i)] = static_cast<float>(me + i % 5);
      comm.reduce_scatter(blocks.data(), block.data(), count, DType::f32, ReduceOp::sum);
      for (std::int64_t i = 0; i < count; ++i)
        ASSERT_EQ(block[static_cast<std::size_t>(i)], static_cast<float>(n * (n - 1) / 2 + n * ((me * count + i) % 5)));
    }
    // A ring shift across data centers.
    std::vector<double> out(100, me), in(100, -1);
    comm.send_recv(out.data(), 100, (me + 1) % n, in.data(), 100, (me + n - 1) % n, DType::f64);
    for (double v : in) ASSERT_EQ(v, (me + n - 1) % n);
  }
}

TEST(Wan, BadMapsAreInputErrors) {
  const int n = world_size();
  EXPECT_THROW(WanCommunicator(MPI_COMM_WORLD, std::vector<int>(n + 1, 0), LinkModel::uniform(1, 1e9, 0)), InputError);
  std::vector<int> gap(static_cast<std::size_t>(n), 0);
  gap.back() = 2;  // data center 1 has no rank
  EXPECT_THROW(WanCommunicator(MPI_COMM_WORLD, gap, LinkModel::uniform(3, 1e9, 0)), InputError);
}

// Two data centers: ranks [0, n/2) and [n/2, n).
std::vector<int> halves() {
  std::vector<int> map(static_cast<std::size_t>(world_size()));
  for (int r = 0; r < world_size(); ++r) map[static_cast<std::size_t>(r)] = r < world_size() / 2 ? 0 : 1;
  return map;
}

// One message of buf.size() bytes from rank 0 to the first rank of data center 1, on every rank:
// the time from the sender's call to the receiver's return, read from the node-wide monotonic clock
// (CTest runs every rank on one node), so that the skew of a barrier's exit does not enter it.
double one_message_s(WanCommunicator& comm, std::vector<char>& buf) {
  const int receiver = world_size() / 2;
  const auto bytes = static_cast<std::int64_t>(buf.size());
  comm.barrier();
  double times[2] = {0, 0};  // sender's start, receiver's end
  if (comm.rank() == 0) {
    times[0] = steady_seconds();
    comm.send(buf.data(), bytes, DType::u8, receiver);
  }
  if (comm.rank() == receiver) {
    comm.recv(buf.data(), bytes, DType::u8, 0);
    times[1] = steady_seconds();
  }
  MPI_Allreduce(MPI_IN_PLACE, times, 2, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  return times[1] - times[0];
}

// One message of `bytes` from the leader of data center 0 to the leader of data center 1 at a
// configured bandwidth and latency: the achieved bandwidth, 8·bytes / (time − latency), is within
// 5 % of the configured one.
TEST(Wan, AchievedBandwidthMatchesTheLink) {
  const double bw = 100e6, latency = 0.010;
  WanCommunicator comm(MPI_COMM_WORLD, halves(), LinkModel::uniform(2, bw, latency));
  const int me = comm.rank(), receiver = world_size() / 2;
  std::int64_t sent = 0;
  for (std::int64_t bytes : {std::int64_t{1} << 20, std::int64_t{4} << 20, std::int64_t{16} << 20}) {
    std::vector<char> buf(static_cast<std::size_t>(bytes), static_cast<char>(me));
    // The best of a few tries: on a shared machine a descheduled rank only ever adds time, while a
    // pacing error shows in every try.
    double best = 1e300;
    for (int attempt = 0; attempt < (bytes < (std::int64_t{16} << 20) ? 3 : 1); ++attempt) {
      best = std::min(best, one_message_s(comm, buf));
      sent += me == 0 ? bytes : 0;
    }
    const double achieved = 8.0 * static_cast<double>(bytes) / (best - latency);
    EXPECT_NEAR(achieved / bw, 1.0, 0.05) << bytes << " bytes in " << best * 1e3 << " ms";
    if (me == receiver) {
      EXPECT_EQ(buf.front(), 0);
    }
  }
  const WanStats s = comm.stats();
  EXPECT_EQ(s.bytes_to_dc[1], sent);  // only rank 0 sent across
  EXPECT_EQ(s.bytes_to_dc[0], 0);
}

// Small messages are latency-bound: one message takes the latency plus its bits over the link, an
// all-reduce between two data centers (a two-step ring between the leaders) twice that. The bounds
// above allow 5 % and 0.1 ms (1 ms for the ring); waiting in coarse steps, or paying a latency
// twice, fails them.
TEST(Wan, SmallMessagesTakeTheLatency) {
  const double bw = 100e6, latency = 0.005;
  WanCommunicator comm(MPI_COMM_WORLD, halves(), LinkModel::uniform(2, bw, latency));
  std::vector<char> message(1024);
  std::vector<float> x(256, 1.f);  // 1 KiB
  const double one = latency + 8.0 * 1024 / bw;
  double best_message = 1e300, best_all_reduce = 1e300;
  for (int attempt = 0; attempt < 5; ++attempt) {
    best_message = std::min(best_message, one_message_s(comm, message));
    comm.barrier();
    double start = steady_seconds();  // from the first rank's start to the last rank's end
    comm.all_reduce(x.data(), x.data(), 256, DType::f32, ReduceOp::avg);
    double end = steady_seconds();
    MPI_Allreduce(MPI_IN_PLACE, &start, 1, MPI_DOUBLE, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, &end, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    best_all_reduce = std::min(best_all_reduce, end - start);
  }
  EXPECT_GT(best_message, one - 50e-6);  // 50 µs for the alignment of the ranks' emulated clocks
  EXPECT_LT(best_message, 1.05 * one + 100e-6);
  const double ring = 2 * (latency + 8.0 * 512 / bw);
  EXPECT_GT(best_all_reduce, ring);
  // With more than one rank per data center the intra-DC steps add MPI polling, which a loaded
  // machine stretches; the bound is for the leaders' ring alone.
  if (world_size() == 2) {
    EXPECT_LT(best_all_reduce, 1.05 * ring + 1e-3);
  }
}

// A non-blocking all-reduce over a slow link progresses while the caller works: the wall time of
// both together is close to the longer of the two, not their sum.
TEST(Wan, NonBlockingAllReduceOverlapsComputation) {
  const double bw = 200e6;
  WanCommunicator comm(MPI_COMM_WORLD, halves(), LinkModel::uniform(2, bw, 0.002));
  std::vector<float> x(1 << 20, 1.f);  // 4 MiB: about 2 × 2 MiB / 200 Mbit/s = 168 ms between leaders
  const double comm_s = 8.0 * 4 * (1 << 20) / bw + 2 * 0.002;
  comm.barrier();
  const auto t0 = std::chrono::steady_clock::now();
  Request r = comm.iall_reduce(x.data(), x.data(), static_cast<std::int64_t>(x.size()), DType::f32, ReduceOp::sum);
  std::this_thread::sleep_for(std::chrono::duration<double>(comm_s));  // stands for computation
  r.wait();
  const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // Without overlap, 2 × comm_s; with it, comm_s plus the intra-DC steps and thread wake-ups.
  EXPECT_LT(t, 1.6 * comm_s) << "no overlap: " << t << " s for " << comm_s << " s of communication";
  EXPECT_GT(t, 0.95 * comm_s) << "faster than the link allows";
  for (float v : x) ASSERT_EQ(v, static_cast<float>(world_size()));
}

}  // namespace
}  // namespace meridian
