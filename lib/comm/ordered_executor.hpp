// OrderedExecutor: runs the operations of one communicator in issue order. A blocking operation
// runs in the caller's thread when nothing is queued or running; everything else goes to a FIFO
// served by one worker thread (started on first use), so non-blocking operations progress while
// the caller computes. Used by the MPI backend and by the WAN emulation.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "comm/communicator.hpp"

namespace meridian {

class OrderedExecutor {
 public:
  // `thread_name`: the worker's name as tools show it (at most 15 characters are kept).
  explicit OrderedExecutor(std::string thread_name);
  // Runs every queued operation to the end (other ranks take part in them), then stops the worker.
  ~OrderedExecutor();
  OrderedExecutor(const OrderedExecutor&) = delete;
  OrderedExecutor& operator=(const OrderedExecutor&) = delete;

  // Runs `body` after everything issued before it. request == nullptr: returns once body is done
  // (rethrowing its error); otherwise stores a handle to the queued operation in *request.
  template <class Body>
  void run(Body&& body, Request* request) {
    if (request == nullptr && in_flight_.load(std::memory_order_acquire) == 0) {
      // Nothing ahead: the caller's thread makes the call (no hand-off, no allocation). Only this
      // thread issues work on the communicator, so nothing can be queued meanwhile.
      body();
      return;
    }
    enqueue(std::function<void()>(std::forward<Body>(body)), request);
  }

  // Worker threads started so far: 0 until the first queued operation, then 1.
  int threads_started() const;

 private:
  class State;
  struct Task {
    std::function<void()> body;
    std::shared_ptr<State> state;
  };
  void enqueue(std::function<void()> body, Request* request);
  void worker_loop();

  std::string thread_name_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;  // the worker sleeps here while the queue is empty
  std::deque<Task> queue_;
  // Operations queued or running on the worker. Written under mutex_, read without it by the
  // direct path; it drops to 0 only after the last one's request is marked complete.
  std::atomic<int> in_flight_{0};
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace meridian
