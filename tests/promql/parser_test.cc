#include "vigil/tsdb/promql/parser.h"

#include <gtest/gtest.h>

#include "vigil/common/go_string.h"

namespace vigil::promql {
namespace {

std::string Show(const std::vector<Matcher>& ms) {
  std::string out;
  for (const auto& m : ms) out += (out.empty() ? "" : ",") + m.ToString();
  return out;
}

TEST(ParserTest, MetricSelectorsAsTheApiTakesThem) {
  EXPECT_EQ(Show(*ParseMetricSelector("up")), R"(__name__="up")");
  EXPECT_EQ(Show(*ParseMetricSelector(" node:cpu:rate5m { mode != 'idle' , } ")),
            R"(__name__="node:cpu:rate5m",mode!="idle")");
  EXPECT_EQ(Show(*ParseMetricSelector(R"({__name__=~"node_.*",job="a\"b\n"})")),
            R"(__name__=~"node_.*",job="a\"b\n")");
  EXPECT_EQ(Show(*ParseMetricSelector("{path=~`C:\\dir\\.*`}")), R"(path=~"C:\\dir\\.*")");
  EXPECT_EQ(Show(*ParseMetricSelector(R"(x{a="\u00e9\x41\101"})")), "__name__=\"x\",a=\"éAA\"");
  EXPECT_FALSE(ParseMetricSelector("rate(x[5m])").ok());
  EXPECT_FALSE(ParseMetricSelector("x offset 5m").ok());
}

TEST(ParserTest, ErrorsNameThePositionAsPrometheus) {
  struct Case {
    const char* in;
    const char* error;
  };
  for (const auto& c : std::vector<Case>{
           {"up{job=}", "1:8: parse error: unexpected \"}\" in label matching, expected string"},
           {"up{job=\"x\"", "1:11: parse error: unexpected end of input inside braces"},
           {"up{job=\"x}", "1:8: parse error: unterminated quoted string"},
           {"sum(", "1:5: parse error: unclosed left parenthesis"},
           {"a)", "1:2: parse error: unexpected right parenthesis ')'"},
           {"", "1:1: parse error: no expression found in input"},
           {"{job=\"\"}",
            "1:1: parse error: vector selector must contain at least one non-empty "
            "matcher"},
           {"{job=~\"(\"}", "invalid regular expression"},
           {"{job=\"\\q\"}", "unknown escape sequence \\q"},
           {"1 > 2", "1:3: parse error: comparisons between scalars must use BOOL modifier"},
           {"foo and 1",
            "1:1: parse error: set operator \"and\" not allowed in binary scalar "
            "expression"},
           {"rate(x)",
            "1:6: parse error: expected type range vector in call to function "
            "\"rate\", got instant vector"},
           {"nosuch(x)", "1:1: parse error: unknown function with name \"nosuch\""},
           {"sum(x[5m])",
            "1:5: parse error: expected type instant vector in aggregation "
            "expression, got range vector"},
           {"(x)[5m]", "1:1: parse error: ranges only allowed for vector selectors"},
           {"x offset 1m offset 2m", "1:13: parse error: offset may not be set multiple times"},
           {"\n  x +", "2:6: parse error: unexpected end of input"},
       }) {
    auto r = ParseExpr(c.in);
    ASSERT_FALSE(r.ok()) << c.in;
    EXPECT_NE(r.status().message().find(c.error), std::string::npos)
        << c.in << " -> " << r.status().message();
  }
}

TEST(ParserTest, DeepNestingIsAnErrorNotAStackOverflow) {
  for (const std::string& q : {std::string(5000, '(') + "1", std::string(5000, '-') + "1",
                               "sum(" + std::string(3000, '(')}) {
    auto r = ParseExpr(q);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("expression nested more than 200 levels deep"),
              std::string::npos)
        << r.status().message();
  }
  EXPECT_TRUE(ParseExpr(std::string(100, '(') + "1" + std::string(100, ')')).ok());
}

TEST(ParserTest, PrintsAsPrometheus) {
  for (const char* q :
       {"sum by (job) (rate(http_requests_total{code=~\"5..\"}[5m] offset 1m))",
        "a / on (x, y) group_left (z) b", "a > bool 1", "-x ^ 2", "topk(3, x)",
        "max_over_time(rate(x[5m])[30m:1m])", "x @ 1700000000.000", "x @ start()",
        "count_values(\"v\", x)", "sum without (a) (x)", "1e+06", "0.5", "x unless ignoring (a) y",
        "histogram_quantile(0.9, sum by (le) (rate(h_bucket[5m])))"}) {
    auto e = ParseExpr(q);
    ASSERT_TRUE(e.ok()) << q << ": " << e.status().ToString();
    EXPECT_EQ((*e)->ToString(), q);
    // And what it prints parses back to the same.
    auto again = ParseExpr((*e)->ToString());
    ASSERT_TRUE(again.ok()) << (*e)->ToString();
    EXPECT_EQ((*again)->ToString(), (*e)->ToString());
  }
  EXPECT_EQ((*ParseExpr("sum(x)by(a)"))->ToString(), "sum by (a) (x)");
  EXPECT_EQ((*ParseExpr("1000000"))->ToString(), "1e+06");
  // Matchers sorted by their text and joined without a space, as 2.42 prints them (the peer
  // test checks format_query against Prometheus itself).
  EXPECT_EQ((*ParseExpr("x{b=\"1\", a!~\"2\"}"))->ToString(), "x{a!~\"2\",b=\"1\"}");
}

TEST(GoStringTest, Unquotes) {
  EXPECT_EQ(*UnquoteGo(R"(a\"b\n\t\\)", '"'), "a\"b\n\t\\");
  EXPECT_EQ(*UnquoteGo(R"(\u00e9\x41\101\U0001F600)", '"'), "éAA\xF0\x9F\x98\x80");
  EXPECT_EQ(*UnquoteGo(R"(it\'s)", '\''), "it's");
  EXPECT_FALSE(UnquoteGo(R"(\q)", '"').ok());
  EXPECT_FALSE(UnquoteGo(R"(\x4)", '"').ok());
  EXPECT_FALSE(UnquoteGo(R"(\')", '"').ok());
}

}  // namespace
}  // namespace vigil::promql
