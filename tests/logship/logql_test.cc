// LogQL: the parser's errors and the engine's answers over a real log store on disk.

#include "vigil/logship/logql.h"

#include <gtest/gtest.h>

#include "testing.h"
#include "vigil/logship/logql_engine.h"

namespace vigil::logql {
namespace {

constexpr int64_t kSec = 1'000'000'000;

TEST(LogQLParseTest, TheSubsetParses) {
  for (
      const char* q : {
          R"({app="web"})",
          R"({app="web", namespace=~"prod|stage"} |= "error" != "debug" |~ "5\\d\\d" !~ `health`)",
          R"({app="web"} | json | status >= 500 and method="GET" | line_format "{{.method}} {{ .path }}")",
          R"({app="web"} | logfmt | level="error" or level="warn")",
          R"(count_over_time({app="web"}[5m]))",
          R"(sum by (namespace) (rate({app="web"} |= "error" [1m])))",
          R"(sum(bytes_over_time({app="web"}[1h])) without (pod))",
          R"(topk(3, sum by (pod) (bytes_rate({app=~".+"}[30s]))))",
          R"(avg(count_over_time({app="web"} | json [5m])))",
      }) {
    auto r = Parse(q);
    EXPECT_TRUE(r.ok()) << q << ": " << r.status().ToString();
  }
  auto r = Parse(R"(sum by (namespace) (rate({app="web"} |= "error" [1m])))");
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->metric);
  EXPECT_EQ(r->metric->grouping, std::vector<std::string>{"namespace"});
  EXPECT_EQ(r->metric->inner->range_ns, 60 * kSec);
  EXPECT_EQ(r->metric->inner->selector.stages.size(), 1u);
}

TEST(LogQLParseTest, ErrorsSayWhereAsLokiDoes) {
  auto err = [](std::string_view q) { return Parse(q).status().message(); };
  EXPECT_EQ(err(R"({app="web"} |= )"),
            "parse error at line 1, col 16: syntax error: unexpected end of input");
  EXPECT_EQ(err("{app=\"web\"}\n| foo"),
            "parse error at line 2, col 3: syntax error: unexpected IDENTIFIER foo: this subset "
            "knows json, logfmt, line_format and label filters");
  EXPECT_NE(err(R"({app=~".*"})").find("at least one regexp or equality matcher"),
            std::string::npos);
  EXPECT_NE(err(R"({app=~"("})").find("parse error at line 1, col 7"), std::string::npos)
      << err(R"({app=~"("})");
  EXPECT_NE(err(R"(count_over_time({app="x"}[5x]))").find("invalid range \"5x\""),
            std::string::npos);
  EXPECT_NE(err(R"(topk(0, count_over_time({app="x"}[5m])))").find("not a positive integer"),
            std::string::npos);
  EXPECT_NE(err(R"(quantile_over_time(0.5, {app="x"}[5m]))")
                .find("unexpected IDENTIFIER quantile_over_time"),
            std::string::npos);
  EXPECT_NE(err(R"({app="x" )").find("unexpected end of input"), std::string::npos);
  EXPECT_NE(err(R"({app="x"} | status > "abc")").find("unexpected STRING"), std::string::npos)
      << err(R"({app="x"} | status > "abc")");
}

class LogQLEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    logship::LogStoreOptions o;
    o.dir = dir_.Join("store");
    o.block_bytes = 200;
    auto s = logship::LogStore::Open(o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    auto stream = [](Labels l, std::vector<std::pair<int64_t, std::string>> lines) {
      loki::Stream s;
      s.labels = std::move(l);
      for (auto& [t, line] : lines) s.entries.push_back({t, std::move(line), {}});
      return s;
    };
    ASSERT_TRUE(
        store_
            ->Write({stream(Labels{{"app", "web"}, {"pod", "web-1"}},
                            {{10 * kSec, R"({"level":"info","status":200,"req":{"path":"/a"}})"},
                             {20 * kSec, R"({"level":"error","status":503,"req":{"path":"/b"}})"},
                             {30 * kSec, "not json at all"},
                             {40 * kSec, R"({"level":"error","status":500,"req":{"path":"/c"}})"}}),
                     stream(Labels{{"app", "web"}, {"pod", "web-2"}},
                            {{15 * kSec, "level=info msg=\"hello world\" took=12"},
                             {25 * kSec, "level=error msg=boom took=250"}}),
                     stream(Labels{{"app", "db"}, {"pod", "db-1"}}, {{12 * kSec, "checkpoint"}})})
            .ok());
  }
  std::vector<StreamResult> Logs(std::string_view q, size_t limit = 100, bool forward = false) {
    auto parsed = Parse(q);
    EXPECT_TRUE(parsed.ok()) << parsed.status().ToString();
    auto r = RunLogQuery(*store_, *parsed->log, 0, 100 * kSec, limit, forward);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<StreamResult>{};
  }
  std::vector<Series> Metric(std::string_view q, int64_t start, int64_t end, int64_t step) {
    auto parsed = Parse(q);
    EXPECT_TRUE(parsed.ok()) << parsed.status().ToString();
    auto r = RunMetricQuery(*store_, *parsed->metric, start, end, step);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<Series>{};
  }
  testing::TempDir dir_;
  std::unique_ptr<logship::LogStore> store_;
};

TEST_F(LogQLEngineTest, LineFiltersDirectionAndLimit) {
  auto r = Logs(R"({app="web"} |= "error")");
  ASSERT_EQ(r.size(), 2u);
  size_t n = 0;
  for (const auto& s : r) n += s.entries.size();
  EXPECT_EQ(n, 3u);
  // Backward: the newest first, and the limit keeps the newest overall.
  r = Logs(R"({app="web"})", 2);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].labels.Get("pod"), "web-1");
  ASSERT_EQ(r[0].entries.size(), 2u);
  EXPECT_EQ(r[0].entries[0].first, 40 * kSec);
  EXPECT_EQ(r[0].entries[1].first, 30 * kSec);
  // Forward: the oldest.
  r = Logs(R"({app="web"})", 2, true);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].entries[0].first, 10 * kSec);
  EXPECT_EQ(r[1].entries[0].first, 15 * kSec);
  r = Logs(R"({app=~"web|db"} !~ "level|json")");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].entries[0].second, "checkpoint");
}

TEST_F(LogQLEngineTest, ParsersLabelFiltersAndLineFormat) {
  // (A line that fails to parse keeps going with its error label, as in Loki: drop those first.)
  auto r = Logs(
      R"({pod="web-1"} | json | __error__="" | status >= 500 | line_format "{{.level}} {{.req_path}}")");
  std::vector<std::string> lines;
  for (const auto& s : r) {
    EXPECT_EQ(s.labels.Get("level"), "error");
    for (const auto& e : s.entries) lines.push_back(e.second);
  }
  std::sort(lines.begin(), lines.end());  // two streams (their extracted labels differ)
  EXPECT_EQ(lines, (std::vector<std::string>{"error /b", "error /c"}));
  // A line that is not JSON is kept with Loki's error label; it can be filtered out by it.
  r = Logs(R"({pod="web-1"} | json | __error__="JSONParserErr")");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].entries[0].second, "not json at all");
  r = Logs(R"({pod="web-2"} | logfmt | took > 100 or msg="hello world")");
  lines.clear();
  for (const auto& s : r) {
    for (const auto& e : s.entries) lines.push_back(e.second);
  }
  EXPECT_EQ(lines.size(), 2u);
  r = Logs(R"({pod="web-2"} | logfmt | level="error")");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].labels.Get("took"), "250");
  EXPECT_EQ(r[0].labels.Get("msg"), "boom");
}

TEST_F(LogQLEngineTest, RangeFunctionsAndAggregations) {
  // count_over_time over (t - 20s, t] at 20, 40, 60.
  auto s = Metric(R"(count_over_time({app="web"}[20s]))", 20 * kSec, 60 * kSec, 20 * kSec);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].labels.Get("pod"), "web-1");
  // (40 s, 60 s] holds nothing: the window is open on the left, as Prometheus' and Loki's.
  EXPECT_EQ(s[0].points, (std::vector<std::pair<int64_t, double>>{{20 * kSec, 2}, {40 * kSec, 2}}));
  EXPECT_EQ(s[1].points, (std::vector<std::pair<int64_t, double>>{{20 * kSec, 1}, {40 * kSec, 1}}));
  s = Metric(R"(sum by (app) (rate({app=~".+"}[100s])))", 50 * kSec, 50 * kSec, 0);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].labels, (Labels{{"app", "db"}}));
  EXPECT_DOUBLE_EQ(s[0].points[0].second, 0.01);
  EXPECT_DOUBLE_EQ(s[1].points[0].second, 0.06);
  s = Metric(R"(sum(bytes_over_time({app="db"}[1m])))", 50 * kSec, 50 * kSec, 0);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_TRUE(s[0].labels.empty());
  EXPECT_EQ(s[0].points[0].second, 10);  // "checkpoint"
  s = Metric(R"(topk(1, count_over_time({app=~".+"}[100s])))", 50 * kSec, 50 * kSec, 0);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].labels.Get("pod"), "web-1");
  s = Metric(R"(count(count_over_time({app=~".+"}[100s])) by (app))", 50 * kSec, 50 * kSec, 0);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[1].points[0].second, 2);  // web: two pods
  s = Metric(R"(sum by (level) (count_over_time({app="web"} | json | __error__="" [100s])))",
             50 * kSec, 50 * kSec, 0);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].labels.Get("level"), "error");
  EXPECT_EQ(s[0].points[0].second, 2);
}

TEST_F(LogQLEngineTest, ComparisonsKeepWhatHolds) {
  // Per app over 100 s at 50 s: db 1, web 6.
  auto s =
      Metric(R"(sum by (app) (count_over_time({app=~".+"}[100s])) > 1)", 50 * kSec, 50 * kSec, 0);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].labels, (Labels{{"app", "web"}}));
  EXPECT_EQ(s[0].points[0].second, 6);
  EXPECT_EQ(Metric(R"(sum by (app) (count_over_time({app=~".+"}[100s])) <= 1)", 50 * kSec,
                   50 * kSec, 0)[0]
                .labels,
            (Labels{{"app", "db"}}));
  EXPECT_TRUE(
      Metric(R"(count_over_time({app="web"}[100s]) == 99)", 50 * kSec, 50 * kSec, 0).empty());
  auto bad = Parse(R"(count_over_time({app="web"}[1m]) > count_over_time({app="db"}[1m]))");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("compares a metric query with a number only"),
            std::string::npos);
}

}  // namespace
}  // namespace vigil::logql
