#include "vigil/common/clock.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <vector>

namespace vigil {
namespace {

using namespace std::chrono_literals;

TEST(ManualClockTest, AdvanceMovesBothClocks) {
  ManualClock clock(Clock::SystemTime(std::chrono::seconds(1000)));
  auto steady = clock.SteadyNow();
  EXPECT_EQ(clock.NowMillis(), 1'000'000);
  clock.Advance(1500ms);
  EXPECT_EQ(clock.NowMillis(), 1'001'500);
  EXPECT_EQ(clock.SteadyNow() - steady, 1500ms);
}

TEST(ManualClockTest, FiresTimersInDeadlineOrderAtTheirTime) {
  ManualClock clock;
  std::vector<std::pair<int, int64_t>> fired;
  const int64_t start = clock.NowMillis();
  clock.ScheduleAfter(30s, [&] { fired.emplace_back(3, clock.NowMillis() - start); });
  clock.ScheduleAfter(10s, [&] { fired.emplace_back(1, clock.NowMillis() - start); });
  auto cancelled = clock.ScheduleAfter(20s, [&] { fired.emplace_back(2, 0); });
  EXPECT_TRUE(clock.Cancel(cancelled));
  EXPECT_FALSE(clock.Cancel(cancelled));
  clock.Advance(9s);
  EXPECT_TRUE(fired.empty());
  clock.Advance(60s);
  ASSERT_EQ(fired.size(), 2u);
  EXPECT_EQ(fired[0], std::make_pair(1, int64_t{10'000}));
  EXPECT_EQ(fired[1], std::make_pair(3, int64_t{30'000}));
  EXPECT_EQ(clock.NowMillis() - start, 69'000);
}

TEST(ManualClockTest, PeriodicTimerReschedulingItselfFiresEachPeriod) {
  ManualClock clock;
  int ticks = 0;
  std::function<void()> tick = [&] {
    ++ticks;
    clock.ScheduleAfter(15s, tick);
  };
  clock.ScheduleAfter(15s, tick);
  clock.Advance(60s);
  EXPECT_EQ(ticks, 4);
  EXPECT_EQ(clock.PendingTimers(), 1u);
}

TEST(ManualClockTest, SleepForReturnsWhenAnotherThreadAdvances) {
  ManualClock clock;
  auto sleeper = std::async(std::launch::async, [&] { clock.SleepFor(5s); });
  EXPECT_EQ(sleeper.wait_for(50ms), std::future_status::timeout);
  clock.Advance(5s);
  EXPECT_EQ(sleeper.wait_for(5s), std::future_status::ready);
}

TEST(RealClockTest, TimerFires) {
  auto clock = RealClock();
  std::promise<void> done;
  clock->ScheduleAfter(10ms, [&] { done.set_value(); });
  EXPECT_EQ(done.get_future().wait_for(5s), std::future_status::ready);
  auto id = clock->ScheduleAfter(1h, [] { FAIL() << "cancelled timer fired"; });
  EXPECT_TRUE(clock->Cancel(id));
}

}  // namespace
}  // namespace vigil
