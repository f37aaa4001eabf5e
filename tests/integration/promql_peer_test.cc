// PromQL side by side with a real Prometheus 2.42: the same samples sent by remote_write to both,
// then the same queries, covering every function and operator family, as instant and range
// queries through both HTTP APIs. Results must agree within 1e-6 (relative), errors by type.

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "testing.h"
#include "vigil/common/clock.h"
#include "vigil/common/http_client.h"
#include "vigil/common/http_util.h"
#include "vigil/common/remote_write.h"

namespace vigil {
namespace {

using nlohmann::json;

const char* const kVigil = VIGIL_BINARY;
constexpr int64_t kStep = 15'000;

struct SeriesDef {
  std::vector<std::pair<std::string, std::string>> labels;
  std::vector<std::pair<int64_t, double>> samples;
};

// Two hours of samples ending a minute ago: counters (one with a reset), gauges with decimals and
// negatives, a classic histogram, a constant, and a series with a gap.
std::vector<SeriesDef> MakeData(int64_t start, int64_t end) {
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> unit(0, 1);
  std::vector<SeriesDef> out;
  auto add = [&](std::vector<std::pair<std::string, std::string>> labels, int64_t phase,
                 auto next_value) {
    SeriesDef s;
    s.labels = std::move(labels);
    for (int64_t t = start + phase; t <= end; t += kStep) {
      auto v = next_value(t);
      if (v) s.samples.emplace_back(t, *v);
    }
    out.push_back(std::move(s));
  };
  int i = 0;
  for (const char* job : {"api", "db"}) {
    for (const char* inst : {"i1", "i2", "i3"}) {
      for (const char* code : {"200", "500"}) {
        double c = std::floor(unit(rng) * 100);
        const bool reset = i == 3;
        add({{"__name__", "vt_requests_total"}, {"job", job}, {"instance", inst}, {"code", code}},
            (i * 1'000) % kStep, [&, reset, start](int64_t t) -> std::optional<double> {
              if (reset && t >= start + 3'600'000 && t < start + 3'600'000 + kStep) c = 0;
              c += std::floor(unit(rng) * 20);
              return c;
            });
        ++i;
      }
      double g = std::round(unit(rng) * 1000) / 10 - 30;
      add({{"__name__", "vt_temperature"}, {"job", job}, {"instance", inst}}, (i * 700) % kStep,
          [&](int64_t) -> std::optional<double> {
            g += std::round((unit(rng) - 0.5) * 40) / 10;
            return g;
          });
    }
  }
  // A classic histogram: cumulative buckets.
  for (const char* inst : {"i1", "i2"}) {
    std::vector<double> counts(5, 0);
    const char* les[] = {"0.1", "0.5", "1", "5", "+Inf"};
    std::vector<SeriesDef> buckets(5);
    for (int b = 0; b < 5; ++b) {
      buckets[b].labels = {{"__name__", "vt_latency_seconds_bucket"},
                           {"job", "api"},
                           {"instance", inst},
                           {"le", les[b]}};
    }
    SeriesDef sum, count;
    sum.labels = {{"__name__", "vt_latency_seconds_sum"}, {"job", "api"}, {"instance", inst}};
    count.labels = {{"__name__", "vt_latency_seconds_count"}, {"job", "api"}, {"instance", inst}};
    double total_sum = 0;
    for (int64_t t = start; t <= end; t += kStep) {
      for (int n = 0; n < 10; ++n) {
        const double obs = unit(rng) * unit(rng) * 6;
        total_sum += obs;
        const double bounds[] = {0.1, 0.5, 1, 5, INFINITY};
        for (int b = 0; b < 5; ++b) {
          if (obs <= bounds[b]) counts[b] += 1;
        }
      }
      for (int b = 0; b < 5; ++b) buckets[b].samples.emplace_back(t, counts[b]);
      sum.samples.emplace_back(t, total_sum);
      count.samples.emplace_back(t, counts[4]);
    }
    for (auto& b : buckets) out.push_back(std::move(b));
    out.push_back(std::move(sum));
    out.push_back(std::move(count));
  }
  add({{"__name__", "vt_build_info"}, {"version", "1.2.3"}, {"job", "api"}}, 0,
      [](int64_t) -> std::optional<double> { return 1; });
  // Silent for 20 minutes in the middle: lookback and *_over_time see the gap.
  add({{"__name__", "vt_flaky"}, {"job", "db"}}, 3'000,
      [&, start](int64_t t) -> std::optional<double> {
        if (t > start + 2'400'000 && t < start + 3'600'000) return std::nullopt;
        return std::round(unit(rng) * 50);
      });
  return out;
}

// Remote-write bodies in time order: one per ten minutes of samples.
std::vector<std::string> Batches(const std::vector<SeriesDef>& data, int64_t start, int64_t end) {
  std::vector<std::string> out;
  for (int64_t from = start; from <= end; from += 600'000) {
    prometheus::WriteRequest req;
    for (const auto& s : data) {
      prometheus::TimeSeries ts;
      for (const auto& [t, v] : s.samples) {
        if (t < from || t >= from + 600'000) continue;
        auto* x = ts.add_samples();
        x->set_timestamp(t);
        x->set_value(v);
      }
      if (ts.samples_size() == 0) continue;
      for (const auto& [n, v] : s.labels) {
        auto* l = ts.add_labels();
        l->set_name(n);
        l->set_value(v);
      }
      *req.add_timeseries() = std::move(ts);
    }
    if (req.timeseries_size() > 0) out.push_back(remote::Encode(req));
  }
  return out;
}

const std::vector<std::string> kQueries = {
    // Selectors, offset, @, lookback over a gap.
    "vt_temperature",
    "vt_temperature{job=\"api\"}",
    "vt_requests_total{instance=~\"i[12]\",code!=\"500\"}",
    "vt_temperature offset 7m",
    "vt_flaky",
    "vt_temperature @ AT",
    "{__name__=~\"vt_build.*\"}",
    // Range functions.
    "rate(vt_requests_total[5m])",
    "irate(vt_requests_total[5m])",
    "increase(vt_requests_total[10m])",
    "delta(vt_temperature[10m])",
    "idelta(vt_temperature[5m])",
    "deriv(vt_temperature[10m])",
    "predict_linear(vt_temperature[15m], 600)",
    "holt_winters(vt_temperature[10m], 0.3, 0.6)",
    "resets(vt_requests_total[2h])",
    "changes(vt_temperature[10m])",
    "avg_over_time(vt_temperature[10m])",
    "min_over_time(vt_temperature[10m])",
    "max_over_time(vt_temperature[10m])",
    "sum_over_time(vt_flaky[30m])",
    "count_over_time(vt_flaky[30m])",
    "last_over_time(vt_temperature[5m])",
    "present_over_time(vt_flaky[5m])",
    "quantile_over_time(0.9, vt_temperature[30m])",
    "stddev_over_time(vt_temperature[30m])",
    "stdvar_over_time(vt_temperature[30m])",
    "absent_over_time(vt_flaky[5m])",
    "absent_over_time(vt_nonexistent{job=\"x\"}[5m])",
    "rate(vt_requests_total[5m] offset 10m)",
    // Instant functions.
    "abs(vt_temperature)",
    "ceil(vt_temperature)",
    "floor(vt_temperature)",
    "exp(vt_temperature / 100)",
    "sqrt(abs(vt_temperature))",
    "ln(abs(vt_temperature) + 1)",
    "log2(abs(vt_temperature) + 1)",
    "log10(abs(vt_temperature) + 1)",
    "round(vt_temperature, 0.5)",
    "round(vt_temperature)",
    "clamp(vt_temperature, -5, 20)",
    "clamp_min(vt_temperature, 0)",
    "clamp_max(vt_temperature, 10)",
    "sgn(vt_temperature)",
    "timestamp(vt_temperature)",
    "time()",
    "vector(1)",
    "scalar(sum(vt_build_info))",
    "sort(vt_temperature)",
    "sort_desc(vt_temperature)",
    "label_replace(vt_temperature, \"host\", \"$1-x\", \"instance\", \"i(.*)\")",
    "label_join(vt_temperature, \"both\", \"/\", \"job\", \"instance\")",
    "absent(vt_nonexistent{job=\"api\"})",
    "absent(vt_temperature)",
    "histogram_quantile(0.9, rate(vt_latency_seconds_bucket[5m]))",
    "histogram_quantile(0.5, sum by (le) (rate(vt_latency_seconds_bucket[10m])))",
    "day_of_week()",
    "day_of_month()",
    "day_of_year()",
    "days_in_month()",
    "hour()",
    "minute()",
    "month()",
    "year()",
    "hour(vt_build_info * 1e9)",
    "sin(vt_temperature)",
    "cos(vt_temperature)",
    "tan(vt_temperature)",
    "asin(clamp(vt_temperature / 100, -1, 1))",
    "acos(clamp(vt_temperature / 100, -1, 1))",
    "atan(vt_temperature)",
    "sinh(vt_temperature / 10)",
    "cosh(vt_temperature / 10)",
    "tanh(vt_temperature)",
    "asinh(vt_temperature)",
    "acosh(abs(vt_temperature) + 1)",
    "atanh(clamp(vt_temperature / 100, -0.9, 0.9))",
    "deg(vt_temperature)",
    "rad(vt_temperature)",
    "pi()",
    // Aggregations.
    "sum(vt_temperature)",
    "sum by (job) (rate(vt_requests_total[5m]))",
    "avg without (instance) (vt_temperature)",
    "count(vt_requests_total)",
    "min by (job) (vt_temperature)",
    "max by (job) (vt_temperature)",
    "group by (job) (vt_temperature)",
    "stddev(vt_temperature)",
    "stdvar by (job) (vt_temperature)",
    "topk(2, vt_temperature)",
    "bottomk(2, vt_temperature)",
    "topk by (job) (1, rate(vt_requests_total[5m]))",
    "count_values(\"value\", ceil(vt_temperature / 10))",
    "quantile(0.25, vt_temperature)",
    "quantile by (job) (0.75, vt_temperature)",
    // Binary operators and matching.
    "vt_temperature + 1",
    "2 * vt_temperature - 3",
    "vt_temperature / 0",
    "vt_temperature % 7",
    "vt_temperature ^ 2",
    "2 ^ 3 ^ 2",
    "-vt_temperature",
    "vt_temperature atan2 3",
    "vt_temperature > 10",
    "vt_temperature > bool 10",
    "10 < vt_temperature",
    "1 == bool 1",
    "vt_temperature == vt_temperature",
    "vt_temperature != bool vt_temperature offset 1m",
    "rate(vt_requests_total{code=\"500\"}[5m]) / ignoring(code) "
    "rate(vt_requests_total{code=\"200\"}[5m])",
    "sum by (job, instance) (rate(vt_requests_total[5m])) / on(job, instance) group_left "
    "vt_temperature",
    "vt_temperature * on(job) group_left(version) vt_build_info",
    "vt_build_info * on(job) group_right(version) vt_temperature",
    "vt_temperature and vt_temperature > 5",
    "vt_temperature or vt_flaky",
    "vt_temperature unless vt_temperature < 0",
    "vt_temperature and on(job) vt_build_info",
    "vt_requests_total + vt_requests_total",
    "vt_requests_total / on() group_left sum(vt_requests_total)",
    // Errors both must give.
    "vt_requests_total * on(job) vt_temperature",
    "sum(vt_temperature) by (job) + on(job) vt_temperature",
    // Subqueries.
    "max_over_time(rate(vt_requests_total[5m])[30m:1m])",
    "avg_over_time(vt_temperature[20m:])",
    "rate(sum(vt_requests_total)[15m:30s])",
    "min_over_time(vt_temperature[10m:2m] offset 5m)",
};

json Get(http::HttpClient& client, const std::string& url, int& status) {
  auto r = client.Get(url);
  if (!r.ok()) {
    status = -1;
    return json();
  }
  status = r->status;
  return json::parse(r->body, nullptr, false);
}

bool Close(const std::string& a, const std::string& b) {
  double x = std::strtod(a.c_str(), nullptr), y = std::strtod(b.c_str(), nullptr);
  if (a == "NaN" || b == "NaN") return a == b;
  if (a == "+Inf" || a == "-Inf" || b == "+Inf" || b == "-Inf") return a == b;
  if (x == y) return true;
  return std::fabs(x - y) <= 1e-6 * std::max(std::fabs(x), std::fabs(y));
}

// "" when equal; else the first difference.
std::string Compare(const json& want, const json& got) {
  if (want["status"] != got["status"]) {
    return "status " + got["status"].dump() + ", Prometheus " + want["status"].dump() + ": " +
           got.dump().substr(0, 300) + " vs " + want.dump().substr(0, 300);
  }
  if (want["status"] == "error") {
    return want["errorType"] == got["errorType"] ? ""
                                                 : "errorType " + got["errorType"].dump() +
                                                       ", Prometheus " + want["errorType"].dump();
  }
  const json& wd = want["data"];
  const json& gd = got["data"];
  if (wd["resultType"] != gd["resultType"]) return "resultType " + gd["resultType"].dump();
  const std::string type = wd["resultType"];
  if (type == "scalar" || type == "string") {
    if (wd["result"][0] != gd["result"][0]) return "time " + gd["result"].dump();
    return Close(wd["result"][1], gd["result"][1])
               ? ""
               : "value " + gd["result"].dump() + ", Prometheus " + wd["result"].dump();
  }
  std::map<std::string, json> w, g;
  for (const auto& r : wd["result"]) w[r["metric"].dump()] = r;
  for (const auto& r : gd["result"]) g[r["metric"].dump()] = r;
  for (const auto& [k, r] : w) {
    if (!g.count(k)) return "missing series " + k;
  }
  for (const auto& [k, r] : g) {
    if (!w.count(k)) return "extra series " + k;
  }
  for (const auto& [k, r] : w) {
    const json& o = g[k];
    if (type == "vector") {
      if (r["value"][0] != o["value"][0]) return k + ": time " + o["value"].dump();
      if (!Close(r["value"][1], o["value"][1])) {
        return k + ": " + o["value"].dump() + ", Prometheus " + r["value"].dump();
      }
    } else {
      if (r["values"].size() != o["values"].size()) {
        return k + ": " + std::to_string(o["values"].size()) + " points, Prometheus " +
               std::to_string(r["values"].size());
      }
      for (size_t i = 0; i < r["values"].size(); ++i) {
        if (r["values"][i][0] != o["values"][i][0] ||
            !Close(r["values"][i][1], o["values"][i][1])) {
          return k + ": point " + std::to_string(i) + " " + o["values"][i].dump() +
                 ", Prometheus " + r["values"][i].dump();
        }
      }
    }
  }
  return "";
}

// One Prometheus and one vigil tsdb with the same two hours of samples, for every test here.
class PromqlPeerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_TRUE(testing::HaveProgram("prometheus")) << "prometheus is installed by setup.sh";
    dir_ = new testing::TempDir();
    dir_->Write("prometheus.yml", "global:\n  scrape_interval: 15s\n");
    const std::string addr = "127.0.0.1:" + std::to_string(testing::FreePort());
    prom_ = new testing::Subprocess(
        {"prometheus", "--config.file=" + dir_->Join("prometheus.yml"),
         "--storage.tsdb.path=" + dir_->Join("prom"), "--web.listen-address=" + addr,
         "--web.enable-remote-write-receiver"},
        dir_->path());
    vigil_ = new testing::VigilProcess(
        kVigil, {"tsdb", "--data-dir", dir_->Join("vigil"), "--wal-sync", "false"}, dir_->path());
    ASSERT_FALSE(vigil_->address().empty()) << vigil_->proc().Stderr();
    ASSERT_TRUE(testing::WaitForHttpOk("http://" + addr + "/-/ready")) << prom_->Stderr();
    prom_url_ = "http://" + addr;
    end_ = RealClock()->NowMillis() / 1000 * 1000 - 60'000;
    start_ = end_ - 2 * 3'600'000;
    const auto data = MakeData(start_, end_);
    http::HttpClient client;
    for (const std::string& body : Batches(data, start_, end_)) {
      for (const std::string& base : {prom_url_, vigil_->address()}) {
        auto r = client.Do(testing::RemoteWritePost(base + "/api/v1/write", body));
        ASSERT_TRUE(r.ok());
        ASSERT_EQ(r->status, 204) << base << ": " << r->body;
      }
    }
  }
  static void TearDownTestSuite() {
    if (prom_) prom_->Stop(SIGTERM);
    delete prom_;
    delete vigil_;
    delete dir_;
    prom_ = nullptr;
    vigil_ = nullptr;
    dir_ = nullptr;
  }

  static inline testing::TempDir* dir_ = nullptr;
  static inline testing::Subprocess* prom_ = nullptr;
  static inline testing::VigilProcess* vigil_ = nullptr;
  static inline std::string prom_url_;
  static inline int64_t start_ = 0, end_ = 0;
};

std::string Secs(int64_t ms) {
  return std::to_string(ms / 1000) + "." + std::to_string(ms % 1000 + 1000).substr(1);
}

TEST_F(PromqlPeerTest, SameAnswersAsPrometheus) {
  const int64_t start = start_, end = end_;
  const std::string prom_url = prom_url_;
  testing::VigilProcess& vigil = *vigil_;
  http::HttpClient client;
  const int64_t at = start + 5'400'000;   // 90 minutes in
  const int64_t odd = start + 3'661'234;  // not on a sample or step
  auto secs = [](int64_t ms) {
    return std::to_string(ms / 1000) + "." + std::to_string(ms % 1000 + 1000).substr(1);
  };
  int compared = 0, with_data = 0, errors = 0;
  std::vector<std::string> mismatches;
  for (std::string q : kQueries) {
    if (auto p = q.find("AT"); p != std::string::npos) q.replace(p, 2, secs(start + 1'800'000));
    std::vector<std::string> paths;
    for (int64_t t : {at, odd}) {
      paths.push_back("/api/v1/query?query=" + http::PercentEncode(q) + "&time=" + secs(t));
    }
    paths.push_back("/api/v1/query_range?query=" + http::PercentEncode(q) +
                    "&start=" + secs(start + 900'000) + "&end=" + secs(end - 300'000) + "&step=60");
    paths.push_back("/api/v1/query_range?query=" + http::PercentEncode(q) + "&start=" + secs(odd) +
                    "&end=" + secs(odd + 1'800'000) + "&step=37");
    for (const std::string& path : paths) {
      int ps, vs;
      json want = Get(client, prom_url + path, ps);
      json got = Get(client, vigil.Url(path), vs);
      ASSERT_FALSE(want.is_discarded()) << path;
      ASSERT_FALSE(got.is_discarded()) << path;
      std::string diff = ps == vs ? Compare(want, got)
                                  : "HTTP " + std::to_string(vs) + ", Prometheus " +
                                        std::to_string(ps) + ": " + got.dump().substr(0, 300);
      if (!diff.empty()) mismatches.push_back(q + " [" + path.substr(0, 20) + "]: " + diff);
      ++compared;
      if (want["status"] == "error") {
        ++errors;
      } else if (!want["data"]["result"].empty()) {
        ++with_data;
      }
    }
  }
  std::cout << compared << " query results compared with Prometheus (" << with_data
            << " with data, " << errors << " errors), " << mismatches.size() << " differ\n";
  // The comparison means something only if most answers have data.
  EXPECT_GT(with_data, compared * 8 / 10);
  EXPECT_GE(errors, 4);  // the two queries meant to fail, at least as instant queries
  for (const auto& m : mismatches) ADD_FAILURE() << m;
}

// Bad input: the same status, error type and (where noted) message as Prometheus.
TEST_F(PromqlPeerTest, SameErrorsAsPrometheus) {
  http::HttpClient client;
  const std::string t = "&time=" + Secs(end_);
  const std::string range = "&start=" + Secs(start_) + "&end=" + Secs(end_);
  struct Case {
    std::string path;
    bool same_message;
  };
  const std::vector<Case> cases = {
      {"/api/v1/query?query=" + http::PercentEncode("sum(") + t, false},
      {"/api/v1/query?query=" + http::PercentEncode("vt_temperature{") + t, false},
      {"/api/v1/query?query=" + http::PercentEncode("rate(vt_temperature)") + t, true},
      {"/api/v1/query?query=" + http::PercentEncode("sum(vt_temperature[5m])") + t, true},
      {"/api/v1/query?query=" + http::PercentEncode("1 > 2") + t, true},
      {"/api/v1/query?query=" + http::PercentEncode("nosuchfn(vt_temperature)") + t, true},
      {"/api/v1/query?query=" + http::PercentEncode("vt_temperature and 1") + t, true},
      {"/api/v1/query?query=" + http::PercentEncode("{}") + t, true},
      {"/api/v1/query?query=" + http::PercentEncode("x[5m:1m:1m]") + t, false},
      {"/api/v1/query?query=" + http::PercentEncode("vt_temperature") + "&time=yesterday", true},
      {"/api/v1/query?query=" + http::PercentEncode("vt_temperature") + t + "&timeout=bad", false},
      {"/api/v1/query?query=" + http::PercentEncode("vt_requests_total * on(job) vt_temperature") +
           t,
       false},
      {"/api/v1/query?query=" + http::PercentEncode("holt_winters(vt_temperature[5m], 2, 0.5)") + t,
       true},
      {"/api/v1/query_range?query=vt_temperature&start=x&end=1&step=1", true},
      {"/api/v1/query_range?query=vt_temperature&start=10&end=1&step=1", true},
      {"/api/v1/query_range?query=vt_temperature&start=1&end=100000&step=1", true},
      {"/api/v1/query_range?query=vt_temperature&start=1&end=100&step=0", true},
      {"/api/v1/query_range?query=vt_temperature&start=1&end=100&step=x", true},
      {"/api/v1/query_range?query=" + http::PercentEncode("vt_temperature[5m]") + range +
           "&step=60",
       true},
      {"/api/v1/query_range?query=" + http::PercentEncode("\"str\"") + range + "&step=60", true},
      {"/api/v1/series?" + range.substr(1), true},
      {"/api/v1/series?match[]=" + http::PercentEncode("{") + range, false},
      {"/api/v1/labels?start=abc", true},
      {"/api/v1/label/" + http::PercentEncode("bad-name") + "/values", true},
  };
  for (const Case& c : cases) {
    int ps, vs;
    json want = Get(client, prom_url_ + c.path, ps);
    json got = Get(client, vigil_->Url(c.path), vs);
    EXPECT_EQ(vs, ps) << c.path << "\n vigil: " << got.dump() << "\n prometheus: " << want.dump();
    EXPECT_EQ(got["errorType"], want["errorType"]) << c.path;
    if (c.same_message) {
      EXPECT_EQ(got["error"], want["error"]) << c.path;
    }
  }
}

// format_query: the same text as Prometheus, byte for byte, short expressions on one line and
// long ones split as its prettifier splits them.
TEST_F(PromqlPeerTest, SameFormattingAsPrometheus) {
  http::HttpClient client;
  const std::vector<std::string> queries = {
      "sum(rate(x[5m]))by(job)",
      "-vt_temperature offset 5m",
      "a + ignoring() group_left() b",
      "sum by (namespace, pod, container) "
      "(rate(container_cpu_usage_seconds_total{namespace=~\"kube-.*\", "
      "container!=\"\"}[5m]))",
      "topk(5, sum without (instance, job, cpu) (rate(node_cpu_seconds_total{mode!=\"idle\", "
      "mode!=\"iowait\"}[5m] offset 1h)))",
      "histogram_quantile(0.99, sum by (le, job) (rate(http_request_duration_seconds_bucket{job="
      "\"api-server\", verb!=\"WATCH\"}[10m])))",
      "(sum by (job) (rate(http_requests_total{code=~\"5..\"}[5m])) / sum by (job) "
      "(rate(http_requests_total[5m]))) > bool on (job) group_left (team) 0.05 * "
      "vt_team_info{team!=\"\"}",
      "max_over_time(rate(container_network_receive_bytes_total{namespace=\"default\", "
      "pod=~\"web-.*\"}[5m])[1h:30s] @ 1700000000.000)",
      "-(vt_requests_total{job=\"api\", instance=~\"10\\\\.0\\\\.0\\\\..*\", handler!~\"/"
      "health|/ready|/metrics\"} - vt_requests_total offset 1d)",
      "label_replace(sum by (pod) (container_memory_working_set_bytes{namespace=\"monitoring\", "
      "container!=\"POD\"}), \"app\", \"$1\", \"pod\", \"(.*)-[a-z0-9]+\")",
      "count_values(\"version\", build_info{job=\"some-long-job-name-that-goes-on\", "
      "instance=~\".*\"}) or vector(0) unless on () absent(up{job=\"x\"})",
  };
  for (const std::string& q : queries) {
    const std::string path = "/api/v1/format_query?query=" + http::PercentEncode(q);
    int ps, vs;
    json want = Get(client, prom_url_ + path, ps);
    json got = Get(client, vigil_->Url(path), vs);
    EXPECT_EQ(vs, ps) << q;
    EXPECT_EQ(got, want) << q << "\n vigil:\n"
                         << got["data"].dump() << "\n prometheus:\n"
                         << want["data"].dump();
  }
}

// `vigil query` works against any Prometheus: the same table from both servers.
TEST_F(PromqlPeerTest, QueryCommandPrintsTheSameFromBoth) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"--time", Secs(end_), "sum by (job) (vt_temperature)"},
           {"--start", Secs(start_ + 600'000), "--end", Secs(end_), "--step", "300",
            "avg by (job) (rate(vt_requests_total[5m]))"},
       }) {
    std::vector<std::string> from_prom = {kVigil, "query", "--server", prom_url_};
    std::vector<std::string> from_vigil = {kVigil, "query", "--server", vigil_->address()};
    from_prom.insert(from_prom.end(), args.begin(), args.end());
    from_vigil.insert(from_vigil.end(), args.begin(), args.end());
    auto p = testing::Run(from_prom);
    auto v = testing::Run(from_vigil);
    EXPECT_EQ(p.exit_code, 0) << p.err;
    EXPECT_EQ(v.exit_code, 0) << v.err;
    EXPECT_NE(p.out.find("(2 series)"), std::string::npos) << p.out;
    // The same rows and series; values may differ in the last digit, because Prometheus sums a
    // group in the order its series were created and vigil in label order.
    auto columns = [](const std::string& out) {
      std::vector<std::string> rows;
      std::istringstream in(out);
      for (std::string line; std::getline(in, line);) {
        std::istringstream ls(line);
        std::string a, b;
        ls >> a >> b;
        rows.push_back(a + " " + b);
      }
      return rows;
    };
    EXPECT_EQ(columns(v.out), columns(p.out)) << v.out << "\n" << p.out;
  }
}

}  // namespace
}  // namespace vigil
