#include "vigil/common/selector.h"

#include <gtest/gtest.h>

namespace vigil {
namespace {

std::string Show(const std::vector<Matcher>& ms) {
  std::string out;
  for (const auto& m : ms) out += (out.empty() ? "" : ",") + m.ToString();
  return out;
}

TEST(SelectorTest, ParsesPrometheusSelectors) {
  EXPECT_EQ(Show(*ParseSeriesSelector("up")), R"(__name__="up")");
  EXPECT_EQ(Show(*ParseSeriesSelector(" node:cpu:rate5m { mode != 'idle' , } ")),
            R"(__name__="node:cpu:rate5m",mode!="idle")");
  EXPECT_EQ(Show(*ParseSeriesSelector(R"({__name__=~"node_.*",job="a\"b\n"})")),
            R"(__name__=~"node_.*",job="a\"b\n")");
  EXPECT_EQ(Show(*ParseSeriesSelector("{path=~`C:\\dir\\.*`}")), R"(path=~"C:\\dir\\.*")");
  EXPECT_EQ(Show(*ParseSeriesSelector(R"(x{a="\u00e9\x41\101"})")), "__name__=\"x\",a=\"éAA\"");
}

TEST(SelectorTest, ErrorsSayWhere) {
  struct Case {
    const char* in;
    const char* error;
  };
  for (const auto& c : std::vector<Case>{
           {"up{job=}", "parse error at char 8: expected a quoted string"},
           {"up{job~\"x\"}", "parse error at char 7: expected a match operator"},
           {"up{job=\"x\"", "parse error at char 11: expected \",\" or \"}\""},
           {"up{job=\"x}", "parse error at char 8: unterminated quoted string"},
           {"up{=\"x\"}", "parse error at char 4: expected a label name"},
           {"up extra", "parse error at char 4: unexpected characters"},
           {"", "expected a series selector"},
           {"{job=\"\"}", "at least one non-empty matcher"},
           {"{job=~\".*\"}", "at least one non-empty matcher"},
           {"{job=~\"(\"}", "invalid regular expression"},
           {"{job=\"\\q\"}", "unknown escape sequence \\q"},
           {"{job=\"\\x4\"}", "invalid \\x escape"},
           {"{job='\\\"'}", "unknown escape sequence"},
       }) {
    auto r = ParseSeriesSelector(c.in);
    ASSERT_FALSE(r.ok()) << c.in;
    EXPECT_NE(r.status().message().find(c.error), std::string::npos)
        << c.in << " -> " << r.status().message();
  }
}

}  // namespace
}  // namespace vigil
