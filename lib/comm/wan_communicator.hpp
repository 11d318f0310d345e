// WanCommunicator: a Communicator over host memory whose ranks sit in data centers joined by
// emulated WAN links. Traffic inside a data center goes at machine speed; every byte that crosses
// between data centers takes real wall-clock time: each link has a clock that serialises the sends
// over it at the link's bandwidth, a send is delivered one latency after its last bit, and neither
// end of a transfer goes on before that time (the bytes themselves move at machine speed, with the
// time of their arrival), so overlap of communication with computation is real. Collectives are
// hierarchical: reduce inside each data center, ring all-reduce among the data-center leaders over
// the paced links, broadcast inside. Operations (collectives and point-to-point alike) run in issue
// order on one worker thread.
#pragma once

#include <mpi.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "comm/communicator.hpp"
#include "comm/link_model.hpp"
#include "comm/mpi_communicator.hpp"
#include "comm/ordered_executor.hpp"

namespace meridian {

// What crossed the WAN from this rank so far.
struct WanStats {
  std::vector<std::int64_t> bytes_to_dc;  // bytes this rank sent to each data center (0 for its own)
  double busy_s = 0;                      // time operations ran (queued time excluded): the channel's busy time
};

class WanCommunicator final : public Communicator {
 public:
  // Collective over `comm` (duplicated; the caller keeps it). dc_of_rank[r] is the data center of
  // rank r of `comm`, ids 0..links.dcs()-1 each used at least once. Time zero of the link model
  // (for bandwidth series and for the arrival times ranks send each other) is rank 0's clock after
  // a barrier; each rank measures its clock's offset to rank 0's by ping-pong first, so all agree
  // to microseconds even when the barrier's exit is skewed. InputError when the map and the model
  // disagree.
  WanCommunicator(MPI_Comm comm, std::vector<int> dc_of_rank, LinkModel links);
  ~WanCommunicator() override;

  int rank() const override { return world_->rank(); }
  int size() const override { return world_->size(); }
  CommBackend backend() const override { return CommBackend::mpi; }
  Device device() const override { return Device::cpu(); }

  int dc_id() const { return dc_of_rank_[static_cast<std::size_t>(rank())]; }
  int num_dcs() const { return links_.dcs(); }
  bool is_dc_leader() const { return leaders_ != nullptr; }
  const LinkModel& links() const { return links_; }
  // Seconds since time zero of the link model.
  double clock_s() const;
  WanStats stats() const;

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
  // Not supported (throws): split the MPI communicator first and wrap each part.
  std::unique_ptr<Communicator> do_split(int color, int key) override;

 private:
  struct Transfer {
    int peer;       // rank in `comm`
    int peer_dc;
    char* data;
    std::int64_t bytes;
  };
  // Sends and receives at once over `comm` (each peer at most once per direction); returns at the
  // latest of the sends' delivery and the receives' arrival times (see the .cpp).
  void paced_exchange(MPI_Comm comm, int tag, const std::vector<Transfer>& sends, const std::vector<Transfer>& recvs);
  void all_reduce_body(void* buffer, std::int64_t count, DType dtype, ReduceOp op);
  void broadcast_body(void* buffer, std::int64_t bytes, int root);
  // Broadcast inside this rank's data center (root: rank there); unpaced.
  void dc_broadcast(void* buffer, std::int64_t bytes, int root);
  // Runs `body` in issue order (executor) and adds its duration to stats_.busy_s.
  template <class Body>
  void run_op(Body body, Request* request) {
    executor_->run(
        [this, body]() mutable {
          const double start = clock_s();
          body();
          const double took = clock_s() - start;
          std::lock_guard lock(stats_mutex_);
          stats_.busy_s += took;
        },
        request);
  }
  std::chrono::steady_clock::time_point at(double clock_s) const;

  std::vector<int> dc_of_rank_;
  LinkModel links_;
  std::unique_ptr<MpiCommunicator> world_;    // every rank
  std::unique_ptr<MpiCommunicator> dc_;       // this rank's data center, ranked by world rank
  std::unique_ptr<MpiCommunicator> leaders_;  // data-center leaders by dc id; null on other ranks
  std::vector<int> leader_of_dc_;             // world rank of each data center's leader
  std::chrono::steady_clock::time_point zero_;
  std::vector<double> link_free_at_;          // per destination dc: when its link is next free
  std::vector<char> ring_scratch_;            // the block a ring step receives (kept between calls)
  mutable std::mutex stats_mutex_;
  WanStats stats_;
  std::unique_ptr<OrderedExecutor> executor_ = std::make_unique<OrderedExecutor>("meridian-wan");
};

}  // namespace meridian
