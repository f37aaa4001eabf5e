#pragma once

// A bounded queue with its own sender thread, for what alertd sends out (notifications to each
// receiver, rule output by remote_write): Push never blocks (past the capacity the oldest items
// are dropped and the count returned), the thread hands batches to `send`, Flush waits until
// everything pushed was handed over, and Wait lets `send` back off unless the queue is stopping.

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace vigil::alertd {

template <typename T>
class SendQueue {
 public:
  using SendFn = std::function<void(std::vector<T>& batch)>;
  using SizeFn = std::function<void(size_t queued)>;

  SendQueue(size_t capacity, size_t batch, SendFn send, SizeFn on_size = nullptr)
      : capacity_(capacity), batch_(batch), send_(std::move(send)), on_size_(std::move(on_size)) {}
  ~SendQueue() { Stop(); }
  SendQueue(const SendQueue&) = delete;
  SendQueue& operator=(const SendQueue&) = delete;

  void Start() {
    thread_ = std::thread([this] { Loop(); });
  }
  // Stops the thread after the batch in hand; what is still queued is dropped.
  void Stop() {
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  // Queues the items; returns how many of the oldest were dropped to make room.
  size_t Push(std::vector<T> items) {
    size_t dropped = 0;
    {
      std::lock_guard lock(mu_);
      for (auto& x : items) {
        if (queue_.size() >= capacity_) {
          queue_.pop_front();
          ++dropped;
        }
        queue_.push_back(std::move(x));
      }
      if (on_size_) on_size_(queue_.size());
    }
    cv_.notify_all();
    return dropped;
  }

  // Waits until the queue is empty and no batch is being sent, or `timeout` passes.
  bool Flush(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return idle_cv_.wait_for(lock, timeout, [&] { return queue_.empty() && !busy_; });
  }

  // For `send`: sleeps `d`; returns true (at once) if the queue is stopping.
  bool Wait(std::chrono::milliseconds d) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, d, [&] { return stop_; });
  }

 private:
  void Loop() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      std::vector<T> batch;
      while (!queue_.empty() && batch.size() < batch_) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      if (on_size_) on_size_(queue_.size());
      busy_ = true;
      lock.unlock();
      send_(batch);
      lock.lock();
      busy_ = false;
      if (queue_.empty()) idle_cv_.notify_all();
    }
  }

  const size_t capacity_, batch_;
  SendFn send_;
  SizeFn on_size_;
  std::mutex mu_;
  std::condition_variable cv_, idle_cv_;
  std::deque<T> queue_;
  bool stop_ = false;
  bool busy_ = false;
  std::thread thread_;
};

}  // namespace vigil::alertd
