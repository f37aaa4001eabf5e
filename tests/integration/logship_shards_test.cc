// `vigil logship --query-shards`: Loki queries through a front over two logship stores must
// answer as one store holding every line does. The same lines go to a reference store and to
// two shards: most streams whole in one shard, two split in time between them (their partition
// moved in a rebalance), and later one batch in both (delivered again after the move). Every
// query is asked of the reference and of the front, and the answers compared.

#include <gtest/gtest.h>
#include <signal.h>
#include <nlohmann/json.hpp>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "testing.h"
#include "vigil/common/http_client.h"
#include "vigil/common/http_util.h"
#include "vigil/common/loki_push.h"

namespace vigil {
namespace {

using nlohmann::json;

const std::string kVigil = VIGIL_BINARY;
constexpr int kStreams = 12;
constexpr int kLines = 180;  // 30 minutes at 10 s
constexpr int64_t kSecond = 1'000'000'000;

Labels StreamLabels(int i) {
  static const char* kApps[] = {"api", "web", "db"};
  return LabelsBuilder()
      .Set("app", kApps[i % 3])
      .Set("pod", "p" + std::to_string(i))
      .Set("namespace", i < 6 ? "shop" : "infra")
      .Build();
}

// Stream i's lines from line `from` to `to` (exclusive): JSON for db, plain text otherwise,
// every seventh an error.
loki::Stream Lines(int i, int from, int to, int64_t base_ns) {
  loki::Stream s;
  s.labels = StreamLabels(i);
  for (int k = from; k < to; ++k) {
    const bool error = (k + i) % 7 == 0;
    std::string line;
    if (i % 3 == 2) {
      line = json{{"level", error ? "error" : "info"},
                  {"status", error ? 500 : 200},
                  {"msg", "query " + std::to_string(k)}}
                 .dump();
    } else {
      line = std::string(error ? "error" : "info") + " request " + std::to_string(k) + " of " +
             std::to_string(i) + std::string(static_cast<size_t>(k % 13), '.');
    }
    s.entries.push_back({base_ns + k * 10 * kSecond + i, line, {}});
  }
  return s;
}

class LogshipShardsTest : public ::testing::Test {
 protected:
  std::unique_ptr<testing::VigilProcess> Start(const std::string& name,
                                               std::vector<std::string> extra = {}) {
    return testing::StartVigil(kVigil, "logship", dir_, name, extra);
  }

  void Push(const testing::VigilProcess& to, const std::vector<loki::Stream>& streams) {
    auto r = testing::LokiPush(client_, to.address(), streams);
    ASSERT_EQ(r.status, 204) << r.body;
  }

  // Lines of every stream in [base, base + 1h) the store has (index stats), for waiting.
  uint64_t Entries(const testing::VigilProcess& p) {
    auto r =
        client_.Get(p.Url("/loki/api/v1/index/stats?" +
                          http::EncodeQuery({{"query", "{app=~\".+\"}"},
                                             {"start", std::to_string(base_ns_)},
                                             {"end", std::to_string(base_ns_ + 3600 * kSecond)}})));
    if (!r.ok() || r->status != 200) return 0;
    auto j = json::parse(r->body, nullptr, false);
    return j.is_discarded() ? 0 : j.value("entries", uint64_t{0});
  }

  json Get(const testing::VigilProcess& p, const std::string& target) {
    auto r = client_.Get(p.Url(target));
    EXPECT_TRUE(r.ok()) << target;
    if (!r.ok()) return json();
    auto j = json::parse(r->body, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << target << ": " << r->body;
    return j;
  }

  // The streams of a log answer, by labels: each entry's time and line.
  static std::map<std::string, std::vector<std::string>> StreamsOf(const json& j) {
    std::map<std::string, std::vector<std::string>> out;
    for (const auto& s : j["data"]["result"]) {
      if (!s.contains("stream")) continue;
      auto& v = out[s["stream"].dump()];
      for (const auto& e : s["values"]) v.push_back(e[0].get<std::string>() + " " + e[1].dump());
    }
    return out;
  }

  void ExpectSame(const std::string& target) {
    SCOPED_TRACE(target);
    json want = Get(*ref_, target), got = Get(*front_, target);
    ASSERT_EQ(want["status"], "success") << want.dump();
    ASSERT_EQ(got["status"], "success") << got.dump();
    EXPECT_FALSE(got.contains("warnings")) << got.dump();
    ASSERT_EQ(got["data"]["resultType"], want["data"]["resultType"]);
    ASSERT_FALSE(want["data"]["result"].empty()) << "a query must have an answer to compare";
    if (want["data"]["resultType"] == "streams") {
      EXPECT_EQ(StreamsOf(got), StreamsOf(want));
    } else {
      ASSERT_NO_FATAL_FAILURE(
          testing::ExpectSamePoints(testing::PointsOf(want), testing::PointsOf(got), target));
    }
  }

  void ExpectSameLogs(const std::string& query, int limit, bool forward) {
    ExpectSame("/loki/api/v1/query_range?" +
               http::EncodeQuery({{"query", query},
                                  {"start", std::to_string(base_ns_)},
                                  {"end", std::to_string(base_ns_ + 3600 * kSecond)},
                                  {"limit", std::to_string(limit)},
                                  {"direction", forward ? "forward" : "backward"}}));
  }

  void ExpectSameMetric(const std::string& query) {
    for (int64_t at : {int64_t{600}, int64_t{1200}, int64_t{1790}}) {
      ExpectSame(
          "/loki/api/v1/query?" +
          http::EncodeQuery({{"query", query}, {"time", std::to_string(base_ns_ + at * kSecond)}}));
    }
    ExpectSame("/loki/api/v1/query_range?" +
               http::EncodeQuery({{"query", query},
                                  {"start", std::to_string(base_ns_)},
                                  {"end", std::to_string(base_ns_ + 2400 * kSecond)},
                                  {"step", "60"}}));
  }

  testing::TempDir dir_;
  http::HttpClient client_;
  int64_t base_ns_ = (testing::NowNs() - 7200 * kSecond) / (60 * kSecond) * (60 * kSecond);
  std::unique_ptr<testing::VigilProcess> ref_, a_, b_, front_;
};

TEST_F(LogshipShardsTest, QueriesThroughTheFrontAnswerAsOneStore) {
  ref_ = Start("ref");
  a_ = Start("a");
  b_ = Start("b");
  for (auto* p : {ref_.get(), a_.get(), b_.get()}) {
    ASSERT_FALSE(p->address().empty()) << p->proc().Stderr();
  }
  front_ = Start("front", {"--store=false", "--query-shards", a_->address() + "," + b_->address()});
  ASSERT_FALSE(front_->address().empty()) << front_->proc().Stderr();
  // Even streams on a, odd on b; streams 0 and 1 move to the other shard half-way.
  std::vector<loki::Stream> all, on_a, on_b;
  for (int i = 0; i < kStreams; ++i) {
    all.push_back(Lines(i, 0, kLines, base_ns_));
    if (i < 2) {
      (i == 0 ? on_a : on_b).push_back(Lines(i, 0, kLines / 2, base_ns_));
      (i == 0 ? on_b : on_a).push_back(Lines(i, kLines / 2, kLines, base_ns_));
    } else {
      (i % 2 == 0 ? on_a : on_b).push_back(Lines(i, 0, kLines, base_ns_));
    }
  }
  ASSERT_NO_FATAL_FAILURE(Push(*ref_, all));
  ASSERT_NO_FATAL_FAILURE(Push(*a_, on_a));
  ASSERT_NO_FATAL_FAILURE(Push(*b_, on_b));
  ASSERT_TRUE(testing::WaitFor([&] {
    return Entries(*ref_) == kStreams * kLines && Entries(*a_) + Entries(*b_) == kStreams * kLines;
  })) << Entries(*ref_)
      << " " << Entries(*a_) << " " << Entries(*b_);

  ExpectSameLogs("{app=\"api\"}", 1000, false);
  ExpectSameLogs("{app=\"api\"}", 1000, true);
  ExpectSameLogs("{app=~\"api|web\"} |= \"error\"", 50, false);  // the limit cuts across streams
  ExpectSameLogs("{namespace=\"shop\"}", 25, true);
  ExpectSameLogs("{app=\"db\"} | json | status >= 500", 100, false);
  for (const char* q : {
           "sum by (app) (count_over_time({app=~\".+\"}[5m]))",
           "count_over_time({app=\"api\"}[5m])",  // streams 0 and 1 are summed across shards
           "rate({app=\"web\"} |= \"error\" [1m])",
           "sum(bytes_over_time({app=~\".+\"}[10m]))",
           "bytes_rate({app=\"api\"}[5m])",
           "count by (app) (count_over_time({app=~\".+\"}[5m]))",
           "max by (namespace) (count_over_time({app=~\".+\"}[5m]))",
           "avg(rate({app=~\".+\"}[5m]))",
           "topk(2, sum by (pod) (count_over_time({app=~\".+\"}[5m])))",
           "bottomk(1, count_over_time({app=\"api\"}[10m]))",
           "sum by (level) (count_over_time({app=\"db\"} | json [5m]))",
           "sum by (app) (count_over_time({app=~\".+\"}[5m])) > 20",
       }) {
    ASSERT_NO_FATAL_FAILURE(ExpectSameMetric(q));
  }
  // Labels, values and streams: the union.
  for (const char* t : {"/loki/api/v1/labels", "/loki/api/v1/label/pod/values"}) {
    EXPECT_EQ(Get(*front_, t)["data"], Get(*ref_, t)["data"]) << t;
  }
  const std::string series = "/loki/api/v1/series?match%5B%5D=%7Bapp%3D%22api%22%7D";
  std::set<std::string> want, got;
  for (const auto& l : Get(*ref_, series)["data"]) want.insert(l.dump());
  for (const auto& l : Get(*front_, series)["data"]) got.insert(l.dump());
  EXPECT_EQ(got, want);
  EXPECT_EQ(Entries(*front_), static_cast<uint64_t>(kStreams * kLines));

  // A batch of stream 0 delivered again, to both shards: the log query keeps each line once.
  ASSERT_NO_FATAL_FAILURE(Push(*a_, {Lines(0, kLines - 5, kLines, base_ns_)}));
  ASSERT_NO_FATAL_FAILURE(Push(*b_, {Lines(0, kLines - 5, kLines, base_ns_)}));
  ASSERT_TRUE(testing::WaitFor(
      [&] { return Entries(*a_) + Entries(*b_) >= static_cast<uint64_t>(kStreams * kLines + 5); }));
  ExpectSameLogs("{pod=\"p0\"}", 1000, false);

  // b goes: the answers are a's part, with a warning naming b; with both gone, an error.
  const std::string b_url = b_->address();
  b_->proc().Stop(SIGKILL);
  json partial =
      Get(*front_, "/loki/api/v1/query_range?" +
                       http::EncodeQuery({{"query", "{app=\"api\"}"},
                                          {"start", std::to_string(base_ns_)},
                                          {"end", std::to_string(base_ns_ + 3600 * kSecond)}}));
  ASSERT_EQ(partial["status"], "success") << partial.dump();
  ASSERT_TRUE(partial.contains("warnings")) << partial.dump();
  EXPECT_NE(partial["warnings"][0].get<std::string>().find(b_url), std::string::npos);
  EXPECT_FALSE(partial["data"]["result"].empty());
  a_->proc().Stop(SIGKILL);
  auto none = client_.Get(front_->Url("/loki/api/v1/labels"));
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->status, 503) << none->body;
}

}  // namespace
}  // namespace vigil
