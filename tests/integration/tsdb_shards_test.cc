// `vigil tsdb --query-shards`: queries through a front over two shards must answer as one store
// holding everything does. The same samples go to a reference store and, split by series, to two
// shards; every query is asked of the reference and of the front, and the answers compared.
// Aggregations are pushed down to the shards where that is exact (each series whole in one
// shard), and evaluated on the raw samples where it is not (a series in both shards, as after a
// partition moved in a rebalance).

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "testing.h"
#include "vigil/common/http_client.h"
#include "vigil/common/http_util.h"
#include "vigil/common/remote_write.h"
#include "vigil/common/stale.h"

namespace vigil {
namespace {

using nlohmann::json;

const std::string kVigil = VIGIL_BINARY;
constexpr int kPods = 12;
constexpr int kSamples = 120;  // 30 minutes at 15 s
constexpr int64_t kInterval = 15'000;

// The samples of one pod's two series from sample `from` to `to` (exclusive).
void AddPod(prometheus::WriteRequest& req, int pod, int from, int to, int64_t base_ms) {
  auto series = [&](const std::string& name) {
    auto* ts = req.add_timeseries();
    auto add = [&](const std::string& n, const std::string& v) {
      auto* l = ts->add_labels();
      l->set_name(n);
      l->set_value(v);
    };
    add("__name__", name);
    add("code", pod % 4 == 0 ? "500" : "200");
    add("ns", "ns" + std::to_string(pod % 3));
    add("pod", "p" + std::to_string(pod));
    return ts;
  };
  auto* counter = series("pd_requests_total");
  auto* gauge = series("pd_mem");
  double total = 0;
  for (int k = 0; k < to; ++k) {
    total += (pod + 1) * (k % 3 + 1);
    if (k == 60 && pod == 5) total = 3;  // a counter reset
    if (k < from) continue;
    const int64_t t = base_ms + k * kInterval;
    auto* c = counter->add_samples();
    c->set_timestamp(t);
    c->set_value(total);
    // Distinct values (no ties for topk), some above and some below 50.
    auto* g = gauge->add_samples();
    g->set_timestamp(t);
    g->set_value(10 + pod * 7.3 + (k % 5) * 0.1);
  }
  // Pod 11's gauge ends with a stale marker (its target went away), as a scraper writes one.
  if (pod == 11 && to == kSamples) {
    auto* g = gauge->add_samples();
    g->set_timestamp(base_ms + to * kInterval);
    g->set_value(StaleNaN());
  }
}

void Write(http::HttpClient& c, const testing::VigilProcess& to,
           const prometheus::WriteRequest& req) {
  auto r = c.Do(testing::RemoteWritePost(to.Url("/api/v1/write"), remote::Encode(req)));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->status, 204) << r->body;
}

class TsdbShardsTest : public ::testing::Test {
 protected:
  std::unique_ptr<testing::VigilProcess> Start(const std::string& name,
                                               std::vector<std::string> extra = {}) {
    return testing::StartVigil(kVigil, "tsdb", dir_, name, extra);
  }

  // Asks `query` of the reference and of the front (instant at a few times, and over the
  // whole range); fails on any difference beyond float rounding (the shards' partial sums add
  // in another order).
  void ExpectSame(const std::string& query) {
    SCOPED_TRACE(query);
    std::vector<std::string> targets;
    for (int k : {30, 40, 119, 130}) {
      targets.push_back(
          "/api/v1/query?" +
          http::EncodeQuery(
              {{"query", query}, {"time", std::to_string((base_ms_ + k * kInterval) / 1000.0)}}));
    }
    targets.push_back(
        "/api/v1/query_range?" +
        http::EncodeQuery({{"query", query},
                           {"start", std::to_string(base_ms_ / 1000.0)},
                           {"end", std::to_string((base_ms_ + 125 * kInterval) / 1000.0)},
                           {"step", "60"}}));
    for (const std::string& target : targets) {
      json want = Get(*ref_, target), got = Get(*front_, target);
      ASSERT_EQ(want["status"], "success") << target << ": " << want.dump();
      ASSERT_EQ(got["status"], "success") << target << ": " << got.dump();
      EXPECT_FALSE(got.contains("warnings")) << target << ": " << got.dump();
      const auto w = testing::PointsOf(want);
      ASSERT_FALSE(w.empty()) << target << ": a query must have an answer to compare";
      ASSERT_NO_FATAL_FAILURE(testing::ExpectSamePoints(w, testing::PointsOf(got), target));
    }
  }

  json Get(const testing::VigilProcess& p, const std::string& target) {
    auto r = client_.Get(p.Url(target));
    EXPECT_TRUE(r.ok()) << target;
    auto j = json::parse(r.ok() ? r->body : "", nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << target << ": " << (r.ok() ? r->body : "");
    return j;
  }

  double Pushdowns(const std::string& result) {
    return testing::MetricValue(front_->Url("/metrics"),
                                "vigil_tsdb_shard_pushdowns_total{result=\"" + result + "\"}");
  }

  testing::TempDir dir_;
  http::HttpClient client_;
  int64_t base_ms_ = (testing::NowNs() / 1'000'000 - 7'200'000) / 60'000 * 60'000;
  std::unique_ptr<testing::VigilProcess> ref_, a_, b_, front_;
};

TEST_F(TsdbShardsTest, QueriesThroughTheFrontAnswerAsOneStore) {
  ref_ = Start("ref");
  a_ = Start("a");
  b_ = Start("b");
  for (auto* p : {ref_.get(), a_.get(), b_.get()}) {
    ASSERT_FALSE(p->address().empty()) << p->proc().Stderr();
  }
  front_ = Start("front", {"--query-shards", a_->address() + "," + b_->address()});
  ASSERT_FALSE(front_->address().empty()) << front_->proc().Stderr();
  // Even pods on a, odd on b; all on the reference.
  prometheus::WriteRequest all, on_a, on_b;
  for (int pod = 0; pod < kPods; ++pod) {
    AddPod(all, pod, 0, kSamples, base_ms_);
    AddPod(pod % 2 == 0 ? on_a : on_b, pod, 0, kSamples, base_ms_);
  }
  ASSERT_NO_FATAL_FAILURE(Write(client_, *ref_, all));
  ASSERT_NO_FATAL_FAILURE(Write(client_, *a_, on_a));
  ASSERT_NO_FATAL_FAILURE(Write(client_, *b_, on_b));

  // Pushed down: each shard sends its groups' partial results.
  const std::vector<std::string> pushed = {
      "sum(pd_requests_total)",
      "sum by (ns) (rate(pd_requests_total[5m]))",
      "avg by (code) (pd_mem)",
      "max without (pod) (pd_mem * 2)",
      "min(pd_mem offset 5m)",
      "count by (ns) (pd_mem > 50)",
      "group by (ns) (pd_mem)",
      "topk(3, pd_mem)",
      "bottomk by (ns) (2, increase(pd_requests_total[10m]))",
      "sum(rate(pd_requests_total[5m])) / sum(pd_mem)",
      "sum by (code) (abs(-pd_mem) + 1)",
      "count(count by (ns) (pd_mem))",
      "sum(resets(pd_requests_total[30m]))",
      "max(max_over_time(pd_mem[10m]))",
      "sum(pd_mem @ " + std::to_string((base_ms_ + 50 * kInterval) / 1000) + ")",
      // Whole expressions of one series each: the shards' results side by side. Pod 11's
      // gauge stops at its stale marker, as on one store (raw samples through the API would
      // not carry the marker).
      "pd_mem",
      "rate(pd_requests_total[5m])",
      "pd_mem > 50",
      "-abs(pd_mem offset 1m) * 2",
  };
  for (const auto& q : pushed) ASSERT_NO_FATAL_FAILURE(ExpectSame(q));
  const double pushdowns = Pushdowns("pushed");
  EXPECT_GE(pushdowns, static_cast<double>(pushed.size()) * 5) << "every query above pushed down";
  EXPECT_EQ(Pushdowns("refused"), 0);
  // Not pushed down as aggregations (the shards' partial results would not combine into them):
  // their inputs are, and the front aggregates the series.
  for (const auto& q :
       {"quantile(0.9, pd_mem)", "stddev by (ns) (pd_mem)",
        "sum(pd_mem * on (pod) group_left pd_requests_total)",
        "sum by (team) (label_replace(pd_mem, \"team\", \"t$1\", \"pod\", \"p(.)\"))"}) {
    ASSERT_NO_FATAL_FAILURE(ExpectSame(q));
  }
  EXPECT_GT(Pushdowns("pushed"), pushdowns);

  // Pod 0's partition moves from a to b: its later samples land on b. Where a query reads
  // pod 0 across the move, the shards' partial results would each hold half of it; the front
  // reads the raw samples instead, and still answers as one store.
  prometheus::WriteRequest later_all, later_b;
  AddPod(later_all, 0, kSamples, kSamples + 20, base_ms_);
  AddPod(later_b, 0, kSamples, kSamples + 20, base_ms_);
  ASSERT_NO_FATAL_FAILURE(Write(client_, *ref_, later_all));
  ASSERT_NO_FATAL_FAILURE(Write(client_, *b_, later_b));
  for (const auto& q :
       {"sum(pd_requests_total)", "sum by (ns) (rate(pd_requests_total[5m]))",
        "topk(3, pd_requests_total)", "avg(pd_requests_total)", "rate(pd_requests_total[5m])"}) {
    ASSERT_NO_FATAL_FAILURE(ExpectSame(q));
  }
  EXPECT_GT(Pushdowns("refused"), 0);
}

}  // namespace
}  // namespace vigil
