// The query API of `vigil tsdb` as its clients use it: the requests Grafana's Prometheus data
// source makes, the engine's limits as flags, and the `vigil query` command.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "testing.h"
#include "vigil/common/clock.h"
#include "vigil/common/http_client.h"
#include "vigil/common/http_util.h"
#include "vigil/common/remote_write.h"

namespace vigil {
namespace {

using nlohmann::json;

const char* const kVigil = VIGIL_BINARY;

// An hour of node_cpu_seconds_total and a histogram for two instances, ending now.
std::string Hour(int64_t end) {
  prometheus::WriteRequest req;
  auto series = [&](std::vector<std::pair<std::string, std::string>> labels, auto value) {
    auto* ts = req.add_timeseries();
    for (const auto& [n, v] : labels) {
      auto* l = ts->add_labels();
      l->set_name(n);
      l->set_value(v);
    }
    for (int i = 0; i < 240; ++i) {
      auto* s = ts->add_samples();
      s->set_timestamp(end - (239 - i) * 15'000);
      s->set_value(value(i));
    }
  };
  for (const char* inst : {"node-a:9100", "node-b:9100"}) {
    for (const char* mode : {"idle", "user"}) {
      series({{"__name__", "node_cpu_seconds_total"},
              {"cpu", "0"},
              {"instance", inst},
              {"job", "node"},
              {"mode", mode}},
             [&](int i) { return i * (mode[0] == 'i' ? 12.5 : 2.25); });
    }
    for (const char* le : {"0.1", "1", "+Inf"}) {
      series({{"__name__", "http_request_duration_seconds_bucket"},
              {"instance", inst},
              {"job", "api"},
              {"le", le}},
             [&](int i) {
               return i * (le[0] == '0' ? 1.0 : le[0] == '1' ? 3.0 : 4.0);
             });
    }
  }
  return remote::Encode(req);
}

class QueryApiTest : public ::testing::Test {
 protected:
  void Start(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"tsdb", "--data-dir", dir_.Join("data"), "--wal-sync",
                                     "false"};
    args.insert(args.end(), extra.begin(), extra.end());
    vigil_ = std::make_unique<testing::VigilProcess>(kVigil, args, dir_.path());
    ASSERT_FALSE(vigil_->address().empty()) << vigil_->proc().Stderr();
    now_ = RealClock()->NowMillis() / 1000 * 1000;
    auto r = client_.Do(testing::RemoteWritePost(vigil_->Url("/api/v1/write"), Hour(now_)));
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->status, 204) << r->body;
  }
  json GetJson(const std::string& path, int want_status = 200) {
    auto r = client_.Get(vigil_->Url(path));
    EXPECT_TRUE(r.ok()) << path;
    if (!r.ok()) return json();
    EXPECT_EQ(r->status, want_status) << path << ": " << r->body;
    return json::parse(r->body, nullptr, false);
  }
  json PostForm(const std::string& path, const std::string& form, int want_status = 200) {
    auto r = client_.Post(vigil_->Url(path), "application/x-www-form-urlencoded", form);
    EXPECT_TRUE(r.ok()) << path;
    if (!r.ok()) return json();
    EXPECT_EQ(r->status, want_status) << path << ": " << r->body;
    return json::parse(r->body, nullptr, false);
  }
  std::string Secs(int64_t ms) { return std::to_string(ms / 1000); }

  testing::TempDir dir_;
  std::unique_ptr<testing::VigilProcess> vigil_;
  http::HttpClient client_;
  int64_t now_ = 0;
};

// The requests Grafana 9/10's Prometheus data source sends, as its source builds them.
TEST_F(QueryApiTest, GrafanaDataSourceRequests) {
  Start();
  const std::string range = "start=" + Secs(now_ - 3'600'000) + "&end=" + Secs(now_);
  // "Save & test": an instant 1+1, and buildinfo to learn the flavour and version.
  auto health = GetJson("/api/v1/query?query=1%2B1&time=" + Secs(now_));
  EXPECT_EQ(health["data"]["resultType"], "scalar");
  EXPECT_EQ(health["data"]["result"][1], "2");
  auto build = GetJson("/api/v1/status/buildinfo");
  EXPECT_EQ(build["status"], "success");
  EXPECT_TRUE(build["data"]["version"].is_string());
  // The metric browser: metric names, label names, label values, metadata.
  auto names = GetJson("/api/v1/label/__name__/values?" + range);
  EXPECT_EQ(names["data"],
            json::array({"http_request_duration_seconds_bucket", "node_cpu_seconds_total"}));
  auto labels = GetJson("/api/v1/labels?" + range);
  EXPECT_EQ(labels["data"], json::array({"__name__", "cpu", "instance", "job", "le", "mode"}));
  auto meta = GetJson("/api/v1/metadata");
  EXPECT_TRUE(meta["data"].is_object());
  // label_values(node_cpu_seconds_total, instance): the series API (older Grafana) and the
  // label values API with match[] (newer).
  auto series = GetJson("/api/v1/series?match%5B%5D=node_cpu_seconds_total&" + range);
  EXPECT_EQ(series["data"].size(), 4u);
  auto values = GetJson("/api/v1/label/instance/values?match%5B%5D=" +
                        http::PercentEncode("node_cpu_seconds_total{mode=\"idle\"}") + "&" + range);
  EXPECT_EQ(values["data"], json::array({"node-a:9100", "node-b:9100"}));
  // Panels: range queries POSTed form-encoded, with Grafana's step.
  auto rate =
      PostForm("/api/v1/query_range",
               "query=" + http::PercentEncode("sum by (mode) (rate(node_cpu_seconds_total[5m]))") +
                   "&start=" + Secs(now_ - 1'800'000) + "&end=" + Secs(now_) + "&step=30");
  ASSERT_EQ(rate["data"]["resultType"], "matrix");
  ASSERT_EQ(rate["data"]["result"].size(), 2u);
  for (const auto& s : rate["data"]["result"]) {
    EXPECT_EQ(s["values"].size(), 61u);  // (end - start) / step + 1
    const double want = s["metric"]["mode"] == "idle" ? 2 * 12.5 / 15 : 2 * 2.25 / 15;
    EXPECT_NEAR(std::stod(s["values"][30][1].get<std::string>()), want, 1e-9);
  }
  auto hq = PostForm("/api/v1/query_range",
                     "query=" +
                         http::PercentEncode("histogram_quantile(0.5, sum by (le) "
                                             "(rate(http_request_duration_seconds_bucket[5m])))") +
                         "&start=" + Secs(now_ - 600'000) + "&end=" + Secs(now_) + "&step=60");
  ASSERT_EQ(hq["data"]["result"].size(), 1u);
  // Rank 0.5 * 4 = 2 of 4 per scrape: 1/3 into the (0.1, 1] bucket... as Prometheus computes it.
  EXPECT_NEAR(std::stod(hq["data"]["result"][0]["values"][0][1].get<std::string>()),
              0.1 + 0.9 * (2.0 - 1.0) / (3.0 - 1.0), 1e-9);
  // Exemplars, asked for beside range queries: none kept, an empty list.
  auto ex = GetJson("/api/v1/query_exemplars?query=" +
                    http::PercentEncode("rate(node_cpu_seconds_total[5m])") + "&" + range);
  EXPECT_EQ(ex["data"], json::array());
  // Instant queries for tables and stats, with a time.
  auto top =
      PostForm("/api/v1/query", "query=" + http::PercentEncode("topk(1, node_cpu_seconds_total)") +
                                    "&time=" + Secs(now_));
  ASSERT_EQ(top["data"]["result"].size(), 1u);
  EXPECT_EQ(top["data"]["result"][0]["metric"]["mode"], "idle");
}

TEST_F(QueryApiTest, LimitsAreFlagsWithPrometheusErrors) {
  Start({"--query-max-samples", "100", "--query-timeout", "2m"});
  auto too_many = GetJson(
      "/api/v1/query?query=" + http::PercentEncode("count_over_time(node_cpu_seconds_total[1h])") +
          "&time=" + Secs(now_),
      422);
  EXPECT_EQ(too_many["errorType"], "execution");
  EXPECT_EQ(too_many["error"],
            "query processing would load too many samples into memory in query execution");
  // A request's own timeout: a subquery at a 1ms step cannot finish in a microsecond.
  auto slow =
      GetJson("/api/v1/query?timeout=0.000001&query=" +
                  http::PercentEncode("max_over_time(vector(1)[1h:1s])") + "&time=" + Secs(now_),
              503);
  EXPECT_EQ(slow["errorType"], "timeout");
  EXPECT_EQ(slow["error"], "query timed out in query execution");
  // The server keeps answering.
  EXPECT_EQ(GetJson("/api/v1/query?query=1")["status"], "success");
}

TEST_F(QueryApiTest, FormatQueryFederateAndStatus) {
  Start();
  auto f = GetJson("/api/v1/format_query?query=" + http::PercentEncode("sum(rate(x[5m]))by(job)"));
  EXPECT_EQ(f["data"], "sum by (job) (rate(x[5m]))");
  auto flags = GetJson("/api/v1/status/flags");
  EXPECT_EQ(flags["data"]["query-lookback-delta"], "5m");
  auto rt = GetJson("/api/v1/status/runtimeinfo");
  EXPECT_EQ(rt["data"]["storageRetention"], "15d");
  auto fed = client_.Get(
      vigil_->Url("/federate?match%5B%5D=" +
                  http::PercentEncode("{__name__=\"node_cpu_seconds_total\",mode=\"user\"}")));
  ASSERT_TRUE(fed.ok());
  EXPECT_EQ(fed->status, 200);
  EXPECT_NE(fed->body.find("# TYPE node_cpu_seconds_total untyped\n"), std::string::npos);
  EXPECT_NE(fed->body.find("node_cpu_seconds_total{cpu=\"0\",instance=\"node-a:9100\",job=\"node\","
                           "mode=\"user\"} 537.75 " +
                           std::to_string(now_)),
            std::string::npos)
      << fed->body;
}

TEST_F(QueryApiTest, QueryCommandPrintsTablesSparklinesAndJson) {
  Start();
  auto table = testing::Run({kVigil, "query", "--server", vigil_->address(), "--time", Secs(now_),
                             "sum by (instance) (node_cpu_seconds_total)"});
  EXPECT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("SERIES"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("{instance=\"node-a:9100\"}  3525.25"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("(2 series)"), std::string::npos);
  auto range = testing::Run({kVigil, "query", "--server", vigil_->address(), "--start",
                             Secs(now_ - 1'800'000), "--end", Secs(now_), "--step", "60",
                             "rate(node_cpu_seconds_total{mode=\"idle\"}[5m])"});
  EXPECT_EQ(range.exit_code, 0) << range.err;
  EXPECT_NE(range.out.find("TREND"), std::string::npos) << range.out;
  EXPECT_NE(range.out.find("▄"), std::string::npos) << range.out;  // a flat rate: mid level
  auto js = testing::Run({kVigil, "query", "--server", vigil_->address(), "--json", "vector(2)"});
  EXPECT_EQ(js.exit_code, 0);
  EXPECT_EQ(json::parse(js.out)["data"]["result"][0]["value"][1], "2");
  auto bad = testing::Run({kVigil, "query", "--server", vigil_->address(), "sum("});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("bad_data: invalid parameter \"query\": 1:5: parse error"),
            std::string::npos)
      << bad.err;
  auto down = testing::Run({kVigil, "query", "--server", "http://127.0.0.1:1", "up"});
  EXPECT_EQ(down.exit_code, 1);
  EXPECT_NE(down.err.find("cannot reach"), std::string::npos) << down.err;
}

}  // namespace
}  // namespace vigil
