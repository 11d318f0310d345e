// OrderedExecutor: the FIFO of operations, its worker thread and the request state of a queued
// operation (complete once the worker has run it, with its error if it threw).
#include "comm/ordered_executor.hpp"

#include <pthread.h>

#include <exception>

namespace meridian {

class OrderedExecutor::State final : public RequestState {
 public:
  bool test() override {
    if (!done_.load(std::memory_order_acquire)) return false;
    if (error_) std::rethrow_exception(error_);
    return true;
  }

  void wait() override {
    if (!done_.load(std::memory_order_acquire)) {
      std::unique_lock lock(mutex_);
      finished_.wait(lock, [this] { return done_.load(std::memory_order_acquire); });
    }
    if (error_) std::rethrow_exception(error_);
  }

  void finish(std::exception_ptr error) {
    {
      std::lock_guard lock(mutex_);
      error_ = std::move(error);
      done_.store(true, std::memory_order_release);
    }
    finished_.notify_all();
  }

 private:
  std::atomic<bool> done_{false};
  std::exception_ptr error_;
  std::mutex mutex_;
  std::condition_variable finished_;
};

OrderedExecutor::OrderedExecutor(std::string thread_name) : thread_name_(std::move(thread_name)) {
  if (thread_name_.size() > 15) thread_name_.resize(15);
}

OrderedExecutor::~OrderedExecutor() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (worker_.joinable()) worker_.join();
}

int OrderedExecutor::threads_started() const {
  std::lock_guard lock(mutex_);
  return worker_.joinable() ? 1 : 0;
}

void OrderedExecutor::enqueue(std::function<void()> body, Request* request) {
  auto state = std::make_shared<State>();
  {
    std::lock_guard lock(mutex_);
    if (!worker_.joinable()) worker_ = std::thread([this] { worker_loop(); });
    queue_.push_back(Task{std::move(body), state});
    in_flight_.fetch_add(1, std::memory_order_relaxed);
  }
  wake_.notify_one();
  if (request != nullptr) {
    *request = Request(state);
  } else {
    state->wait();
  }
}

void OrderedExecutor::worker_loop() {
  pthread_setname_np(pthread_self(), thread_name_.c_str());
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and every queued operation has run
    Task task = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();

    std::exception_ptr error;
    try {
      task.body();
    } catch (...) {
      error = std::current_exception();
    }
    task.body = nullptr;

    // Complete first, then count down: a caller that finds nothing in flight also finds every
    // earlier request complete.
    task.state->finish(std::move(error));
    lock.lock();
    in_flight_.fetch_sub(1, std::memory_order_release);
  }
}

}  // namespace meridian
