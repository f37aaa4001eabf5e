#include "vigil/tsdb/promql/series_notation.h"

#include <gtest/gtest.h>

#include <cmath>

#include "vigil/common/stale.h"

namespace vigil::promql {
namespace {

std::string Show(const SeriesValues& vs) {
  std::string out;
  for (const auto& v : vs) {
    if (!out.empty()) out += ' ';
    if (!v) {
      out += '_';
    } else if (IsStaleNaN(*v)) {
      out += "stale";
    } else {
      out += std::to_string(static_cast<int>(*v));
    }
  }
  return out;
}

TEST(SeriesNotationTest, ExpandsAsPrometheusTests) {
  EXPECT_EQ(Show(*ParseSeriesValues("0 1+1x3 _ stale 5-2x2 _x2 7x1")),
            "0 1 2 3 4 _ stale 5 3 1 _ _ 7 7");
  EXPECT_EQ(Show(*ParseSeriesValues("  ")), "");
  auto e = ParseSeriesValues("1e3+1e-3x1 -1-1x1");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_DOUBLE_EQ(*(*e)[1], 1000.001);
  EXPECT_DOUBLE_EQ(*(*e)[3], -2);
  EXPECT_TRUE(std::isinf(*(*ParseSeriesValues("-Inf"))[0]));
}

TEST(SeriesNotationTest, BadTokensAreNamed) {
  auto r = ParseSeriesValues("1 1+x3");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("\"1+x3\" (token 2)"), std::string::npos)
      << r.status().ToString();
  EXPECT_FALSE(ParseSeriesValues("1x99999999999").ok());
  EXPECT_FALSE(ParseSeriesLabels("up{job=~\"a\"}").ok());
  EXPECT_FALSE(ParseSeriesLabels("up{").ok());
}

TEST(SeriesNotationTest, LoadLines) {
  auto d = ParseSeriesDescription(R"(http{path="/a b}", code="200"} 1 2)");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->labels.ToString(), R"({__name__="http", code="200", path="/a b}"})");
  EXPECT_EQ(Show(d->values), "1 2");
  auto bare = ParseSeriesDescription("up 1x2");
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->labels.ToString(), R"({__name__="up"})");
  EXPECT_EQ(Show(bare->values), "1 1 1");
  EXPECT_TRUE(ParseSeriesDescription("{} 3").ok());
}

}  // namespace
}  // namespace vigil::promql
