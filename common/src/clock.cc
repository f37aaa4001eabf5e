#include "vigil/common/clock.h"

namespace vigil {

Clock::TimerId TimerQueue::Add(Clock::SteadyTime deadline, std::function<void()> fn) {
  const Clock::TimerId id = next_id_++;
  timers_.emplace(std::make_pair(deadline, id), std::move(fn));
  return id;
}

bool TimerQueue::Cancel(Clock::TimerId id) {
  for (auto it = timers_.begin(); it != timers_.end(); ++it) {
    if (it->first.second == id) {
      timers_.erase(it);
      return true;
    }
  }
  return false;
}

std::function<void()> TimerQueue::PopFirst() {
  auto first = timers_.begin();
  auto fn = std::move(first->second);
  timers_.erase(first);
  return fn;
}

namespace {

class RealClockImpl final : public Clock {
 public:
  ~RealClockImpl() override {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  SystemTime Now() const override { return std::chrono::system_clock::now(); }
  SteadyTime SteadyNow() const override { return std::chrono::steady_clock::now(); }

  TimerId ScheduleAfter(Duration delay, std::function<void()> fn) override {
    std::lock_guard lock(mu_);
    if (!thread_.joinable()) thread_ = std::thread([this] { Loop(); });
    TimerId id = timers_.Add(SteadyNow() + delay, std::move(fn));
    cv_.notify_all();
    return id;
  }

  bool Cancel(TimerId id) override {
    std::lock_guard lock(mu_);
    return timers_.Cancel(id);
  }

  void SleepFor(Duration d) override { std::this_thread::sleep_for(d); }

 private:
  void Loop() {
    std::unique_lock lock(mu_);
    while (!stop_) {
      if (timers_.empty()) {
        cv_.wait(lock);
        continue;
      }
      if (timers_.next_deadline() > SteadyNow()) {
        cv_.wait_until(lock, timers_.next_deadline());
        continue;
      }
      auto fn = timers_.PopFirst();
      lock.unlock();
      fn();
      lock.lock();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  TimerQueue timers_;
  std::thread thread_;
};

}  // namespace

std::shared_ptr<Clock> RealClock() {
  static const std::shared_ptr<Clock> clock = std::make_shared<RealClockImpl>();
  return clock;
}

ManualClock::ManualClock(SystemTime start) : wall_(start), steady_(std::chrono::hours(1)) {}

Clock::SystemTime ManualClock::Now() const {
  std::lock_guard lock(mu_);
  return wall_;
}

Clock::SteadyTime ManualClock::SteadyNow() const {
  std::lock_guard lock(mu_);
  return steady_;
}

Clock::TimerId ManualClock::ScheduleAfter(Duration delay, std::function<void()> fn) {
  std::lock_guard lock(mu_);
  return timers_.Add(steady_ + delay, std::move(fn));
}

bool ManualClock::Cancel(TimerId id) {
  std::lock_guard lock(mu_);
  return timers_.Cancel(id);
}

void ManualClock::SleepFor(Duration d) {
  std::unique_lock lock(mu_);
  const SteadyTime until = steady_ + d;
  moved_.wait(lock, [&] { return steady_ >= until; });
}

void ManualClock::Advance(Duration d) {
  std::unique_lock lock(mu_);
  const SteadyTime target = steady_ + d;
  while (!timers_.empty() && timers_.next_deadline() <= target) {
    const Duration step = timers_.next_deadline() - steady_;
    if (step > Duration::zero()) {
      steady_ += step;
      wall_ += std::chrono::duration_cast<SystemTime::duration>(step);
    }
    auto fn = timers_.PopFirst();
    lock.unlock();
    moved_.notify_all();
    fn();
    lock.lock();
  }
  const Duration rest = target - steady_;
  steady_ = target;
  wall_ += std::chrono::duration_cast<SystemTime::duration>(rest);
  lock.unlock();
  moved_.notify_all();
}

void ManualClock::SetWallTime(SystemTime t) {
  std::lock_guard lock(mu_);
  wall_ = t;
}

size_t ManualClock::PendingTimers() const {
  std::lock_guard lock(mu_);
  return timers_.size();
}

}  // namespace vigil
