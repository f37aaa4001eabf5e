#include "vigil/common/timestamp.h"

#include <gtest/gtest.h>

namespace vigil {
namespace {

TEST(TimestampTest, ParsesUnixSeconds) {
  EXPECT_EQ(*ParseTimestamp("0"), 0);
  EXPECT_EQ(*ParseTimestamp("1700000000"), 1'700'000'000'000);
  EXPECT_EQ(*ParseTimestamp("1700000000.123"), 1'700'000'000'123);
  EXPECT_EQ(*ParseTimestamp("1.0006"), 1'001);  // rounded to the millisecond
  EXPECT_EQ(*ParseTimestamp("-1.5"), -1'500);
  EXPECT_EQ(*ParseTimestamp("1e3"), 1'000'000);
  EXPECT_EQ(*ParseTimestamp("+2"), 2'000);
}

TEST(TimestampTest, ParsesRfc3339) {
  EXPECT_EQ(*ParseTimestamp("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(*ParseTimestamp("2023-11-14T22:13:20Z"), 1'700'000'000'000);
  EXPECT_EQ(*ParseTimestamp("2023-11-14T22:13:20.25Z"), 1'700'000'000'250);
  EXPECT_EQ(*ParseTimestamp("2023-11-14T22:13:20.9999Z"), 1'700'000'000'999);  // truncated
  EXPECT_EQ(*ParseTimestamp("2023-11-14T23:13:20+01:00"), 1'700'000'000'000);
  EXPECT_EQ(*ParseTimestamp("2023-11-14T21:13:20.000000001-01:00"), 1'700'000'000'000);
  EXPECT_EQ(*ParseTimestamp("2024-02-29T00:00:00Z"), 1'709'164'800'000);
  EXPECT_EQ(*ParseTimestamp("1969-12-31T23:59:59Z"), -1'000);
}

TEST(TimestampTest, RejectsMalformed) {
  for (const char* bad : {"", "abc", "NaN", "Inf", "1x", "2023-11-14", "2023-11-14T22:13:20",
                          "2023-02-29T00:00:00Z", "2023-13-01T00:00:00Z", "2023-11-14T24:00:00Z",
                          "2023-11-14T22:13:20.Z", "2023-11-14T22:13:20Zjunk", "1e300"}) {
    auto r = ParseTimestamp(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().message(),
              "cannot parse \"" + std::string(bad) + "\" to a valid timestamp");
  }
}

TEST(TimestampTest, TimeParamsAsThePrometheusApi) {
  EXPECT_EQ(*ParseTimeParam(std::nullopt, "start", 7), 7);
  EXPECT_EQ(*ParseTimeParam(std::string(""), "start", 7), 7);
  EXPECT_EQ(*ParseTimeParam(std::string("1.5"), "start", 7), 1'500);
  auto bad = ParseTimeParam(std::string("x"), "end", 0);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            R"(invalid parameter "end": Invalid time value for 'end': cannot parse "x" to a valid )"
            "timestamp");
}

}  // namespace
}  // namespace vigil
