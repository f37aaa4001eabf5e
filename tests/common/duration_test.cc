#include "vigil/common/duration.h"

#include <gtest/gtest.h>

namespace vigil {
namespace {

using std::chrono::milliseconds;

TEST(DurationTest, ParsesPrometheusDurations) {
  EXPECT_EQ(*ParseDuration("0"), milliseconds(0));
  EXPECT_EQ(*ParseDuration("250ms"), milliseconds(250));
  EXPECT_EQ(*ParseDuration("1m30s"), milliseconds(90'000));
  EXPECT_EQ(*ParseDuration("15d"), milliseconds(15LL * 86'400'000));
  EXPECT_EQ(*ParseDuration("1y"), milliseconds(365LL * 86'400'000));
  EXPECT_EQ(*ParseDuration("2w1d"), milliseconds(15LL * 86'400'000));
  EXPECT_EQ(*ParseDuration("1h5m10s20ms"), milliseconds(3'910'020));
}

TEST(DurationTest, RejectsMalformed) {
  for (const char* bad :
       {"", "5", "1x", "s", "1s1m", "1m1m", "-1s", "1.5s", "99999999999999999999y"}) {
    auto r = ParseDuration(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_NE(r.status().message().find("invalid duration"), std::string::npos);
    }
  }
}

TEST(DurationTest, Formats) {
  EXPECT_EQ(FormatDuration(milliseconds(0)), "0s");
  EXPECT_EQ(FormatDuration(milliseconds(90'000)), "1m30s");
  EXPECT_EQ(FormatDuration(milliseconds(14LL * 86'400'000)), "2w");
  EXPECT_EQ(FormatDuration(milliseconds(15LL * 86'400'000)), "15d");
  EXPECT_EQ(FormatDuration(milliseconds(1'250)), "1s250ms");
}

}  // namespace
}  // namespace vigil
