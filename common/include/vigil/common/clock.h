#pragma once

// Clock: the one seam for time. Production code asks a Clock for the time and for timers, never
// std::chrono::*::now() or sleep directly, so tests can move time with a ManualClock instead of
// sleeping.
//
// Thread safety: every method of every Clock is safe to call from any thread. Timer callbacks
// must not block for long: RealClock runs them on its single timer thread, ManualClock runs them
// inside Advance() on the caller's thread, without holding its lock (a callback may schedule or
// cancel timers).

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

namespace vigil {

class Clock {
 public:
  using TimerId = uint64_t;
  using SystemTime = std::chrono::system_clock::time_point;
  using SteadyTime = std::chrono::steady_clock::time_point;
  using Duration = std::chrono::nanoseconds;

  virtual ~Clock() = default;

  // Wall-clock time, for sample and log timestamps.
  virtual SystemTime Now() const = 0;
  // Monotonic time, for intervals, deadlines and timers.
  virtual SteadyTime SteadyNow() const = 0;
  // Milliseconds since the Unix epoch, the unit of Prometheus timestamps.
  int64_t NowMillis() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Now().time_since_epoch()).count();
  }

  // Runs `fn` once when the monotonic clock reaches now + `delay`. Returns an id for Cancel.
  virtual TimerId ScheduleAfter(Duration delay, std::function<void()> fn) = 0;
  // Cancels a pending timer. Returns false if it already fired or never existed. A callback
  // that is running when Cancel is called is not interrupted.
  virtual bool Cancel(TimerId id) = 0;
  // Blocks the caller for `d` of this clock's time.
  virtual void SleepFor(Duration d) = 0;
};

// The process-wide real clock. Its timer thread starts with the first timer.
std::shared_ptr<Clock> RealClock();

// Pending timers ordered by deadline (then by scheduling order); both clocks keep theirs in one.
// Not synchronized: the owning clock locks around it.
class TimerQueue {
 public:
  Clock::TimerId Add(Clock::SteadyTime deadline, std::function<void()> fn);
  bool Cancel(Clock::TimerId id);
  bool empty() const { return timers_.empty(); }
  size_t size() const { return timers_.size(); }
  Clock::SteadyTime next_deadline() const { return timers_.begin()->first.first; }
  // Removes and returns the earliest timer's callback.
  std::function<void()> PopFirst();

 private:
  Clock::TimerId next_id_ = 1;
  std::map<std::pair<Clock::SteadyTime, Clock::TimerId>, std::function<void()>> timers_;
};

// A clock that moves only when told to. Starts at `start` (wall) and an arbitrary steady origin.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(SystemTime start = SystemTime(std::chrono::seconds(1'700'000'000)));

  SystemTime Now() const override;
  SteadyTime SteadyNow() const override;
  TimerId ScheduleAfter(Duration delay, std::function<void()> fn) override;
  bool Cancel(TimerId id) override;
  // Returns once another thread has advanced the clock by `d`.
  void SleepFor(Duration d) override;

  // Moves both clocks forward by `d`, firing every timer that falls due, in deadline order; the
  // clock reads each timer's deadline while its callback runs. Timers scheduled by callbacks fire
  // too if they fall due within `d`.
  void Advance(Duration d);
  // Sets the wall clock (the steady clock is unaffected), as an NTP step would.
  void SetWallTime(SystemTime t);
  // Number of timers waiting to fire.
  size_t PendingTimers() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable moved_;
  SystemTime wall_;
  SteadyTime steady_;
  TimerQueue timers_;
};

}  // namespace vigil
