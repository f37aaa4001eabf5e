// ScrapeLoop against real HTTP targets on loopback (vigil's own server serving canned bodies):
// target labels, relabeling, the report series, stale markers and every failure mode.

#include "scraper.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>

#include "testing.h"
#include "vigil/common/http_server.h"
#include "vigil/common/stale.h"

namespace vigil::agent {
namespace {

using std::chrono::milliseconds;

// A target whose answer the test sets.
class Target {
 public:
  Target() {
    http::Router router;
    router.Get("/metrics", [this](const http::Request&, http::Response& res) {
      std::string body;
      int status;
      milliseconds delay;
      {
        std::lock_guard lock(mu_);
        body = body_;
        status = status_;
        delay = delay_;
      }
      if (delay.count() > 0) std::this_thread::sleep_for(delay);
      res.status = status;
      res.content_type = "text/plain; version=0.0.4";
      res.body = std::move(body);
    });
    http::ServerOptions o;
    o.listen = "127.0.0.1:0";
    o.threads = 2;
    auto server = http::HttpServer::Start(o, std::move(router));
    EXPECT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
  }
  void Set(std::string body, int status = 200, milliseconds delay = milliseconds(0)) {
    std::lock_guard lock(mu_);
    body_ = std::move(body);
    status_ = status;
    delay_ = delay;
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(server_->port()); }

 private:
  std::mutex mu_;
  std::string body_;
  int status_ = 200;
  milliseconds delay_{0};
  std::unique_ptr<http::HttpServer> server_;
};

// One batch as "labels" -> value, timestamps checked to be the scrape's unless told.
using Series = std::map<std::string, double>;

class ScrapeLoopTest : public ::testing::Test {
 protected:
  std::unique_ptr<ScrapeLoop> Loop(const std::string& job_yaml) {
    auto c = ParseScrapeConfig("scrape_configs:\n  - job_name: app\n" + job_yaml, "s.yml",
                               milliseconds(10'000));
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    auto job = std::make_shared<const ScrapeJob>(c->jobs[0]);
    auto targets = PopulateTargets(job, {{target_.address()}, Labels{{"zone", "a"}}, ""});
    EXPECT_EQ(targets.size(), 1u);
    return std::make_unique<ScrapeLoop>(
        targets[0], Labels{{"cluster", "c1"}},
        [this](prometheus::WriteRequest&& b) { batches_.push_back(std::move(b)); });
  }
  Series Last(int64_t t_ms, std::map<std::string, int64_t>* odd_timestamps = nullptr) {
    Series out;
    for (const auto& ts : batches_.back().timeseries()) {
      std::vector<Label> pairs;
      for (const auto& l : ts.labels()) pairs.push_back({l.name(), l.value()});
      const std::string key = Labels::FromSorted(pairs).ToString();
      EXPECT_EQ(ts.samples_size(), 1);
      out[key] = ts.samples(0).value();
      if (ts.samples(0).timestamp() != t_ms) {
        if (odd_timestamps) {
          (*odd_timestamps)[key] = ts.samples(0).timestamp();
        } else {
          ADD_FAILURE() << key << " at " << ts.samples(0).timestamp();
        }
      }
    }
    return out;
  }
  std::string Instance() const { return target_.address(); }
  std::string Report(const std::string& name) const {
    return "{__name__=\"" + name + "\", cluster=\"c1\", instance=\"" + Instance() +
           "\", job=\"app\", zone=\"a\"}";
  }

  Target target_;
  std::vector<prometheus::WriteRequest> batches_;
};

TEST_F(ScrapeLoopTest, SamplesGetTargetLabelsAndTheReportSeries) {
  target_.Set(
      "# TYPE requests counter\n"
      "requests_total{job=\"inner\",path=\"/a\"} 7\n"
      "requests_total{path=\"/b\"} 3 1700000000000\n"
      "noise_total 1\n");
  auto loop = Loop(
      "    metric_relabel_configs:\n"
      "      - {source_labels: [__name__], regex: noise_total, action: drop}\n");
  ASSERT_TRUE(loop->ScrapeOnce(1'000'000));
  std::map<std::string, int64_t> odd;
  Series s = Last(1'000'000, &odd);
  const std::string base = "cluster=\"c1\", instance=\"" + Instance() + "\", job=\"app\"";
  EXPECT_EQ(s.at("{__name__=\"requests_total\", " + base + ", path=\"/b\", zone=\"a\"}"), 3);
  // The exposed job label conflicts with the target's: it is kept as exported_job.
  EXPECT_EQ(s.at("{__name__=\"requests_total\", cluster=\"c1\", exported_job=\"inner\", "
                 "instance=\"" +
                 Instance() + "\", job=\"app\", path=\"/a\", zone=\"a\"}"),
            7);
  EXPECT_EQ(odd.size(), 1u) << "only the sample with its own timestamp keeps it";
  EXPECT_EQ(odd.begin()->second, 1'700'000'000'000);
  EXPECT_EQ(s.at(Report("up")), 1);
  EXPECT_EQ(s.at(Report("scrape_samples_scraped")), 3);
  EXPECT_EQ(s.at(Report("scrape_samples_post_metric_relabeling")), 2);
  EXPECT_EQ(s.at(Report("scrape_series_added")), 2);
  EXPECT_GT(s.at(Report("scrape_duration_seconds")), 0);
  EXPECT_EQ(s.size(), 7u);
}

// A series exposed with its own timestamp gets no stale marker when it goes, as in Prometheus.
TEST_F(ScrapeLoopTest, SeriesWithTheirOwnTimestampsGetNoStaleMarker) {
  target_.Set("timed 1 1700000000000\nplain 2\n");
  auto loop = Loop("");
  ASSERT_TRUE(loop->ScrapeOnce(1000));
  target_.Set("other 3\n");
  ASSERT_TRUE(loop->ScrapeOnce(2000));
  Series s = Last(2000);
  const std::string tail =
      ", cluster=\"c1\", instance=\"" + Instance() + "\", job=\"app\", zone=\"a\"}";
  ASSERT_EQ(s.count("{__name__=\"plain\"" + tail), 1u);
  EXPECT_TRUE(IsStaleNaN(s.at("{__name__=\"plain\"" + tail)));
  EXPECT_EQ(s.count("{__name__=\"timed\"" + tail), 0u);
}

TEST_F(ScrapeLoopTest, HonorLabelsKeepsTheExposedOnes) {
  target_.Set("requests_total{job=\"inner\"} 7\n");
  auto loop = Loop("    honor_labels: true\n");
  ASSERT_TRUE(loop->ScrapeOnce(1000));
  Series s = Last(1000);
  EXPECT_EQ(s.count("{__name__=\"requests_total\", cluster=\"c1\", instance=\"" + Instance() +
                    "\", job=\"inner\", zone=\"a\"}"),
            1u);
}

TEST_F(ScrapeLoopTest, ASeriesThatDisappearsGetsAStaleMarker) {
  target_.Set("a 1\nb 2\n");
  auto loop = Loop("");
  ASSERT_TRUE(loop->ScrapeOnce(1000));
  target_.Set("a 1\n");
  ASSERT_TRUE(loop->ScrapeOnce(2000));
  Series s = Last(2000);
  const std::string b =
      "{__name__=\"b\", cluster=\"c1\", instance=\"" + Instance() + "\", job=\"app\", zone=\"a\"}";
  ASSERT_EQ(s.count(b), 1u);
  EXPECT_TRUE(IsStaleNaN(s.at(b)));
  EXPECT_EQ(s.at(Report("scrape_series_added")), 0);
  // A target that goes away: everything it had, report series included, is marked stale.
  loop->Retire(3000);
  Series gone = Last(3000);
  EXPECT_EQ(gone.size(), 6u);
  for (const auto& [k, v] : gone) EXPECT_TRUE(IsStaleNaN(v)) << k;
}

// Every failure: up is 0, the series of the last good scrape are marked stale, nothing of the
// failed scrape is kept, and the loop goes on.
TEST_F(ScrapeLoopTest, FailuresReportUpZeroAndMarkTheLastSeriesStale) {
  struct Case {
    std::string name;
    std::string job_yaml;
    std::string body;
    int status;
    milliseconds delay;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"malformed", "", "ok 1\nbroken{ 2\n", 200, milliseconds(0), "line 2, column 9"},
      {"http 500", "", "ok 1\n", 500, milliseconds(0), "HTTP status 500"},
      {"hanging", "    scrape_timeout: 300ms\n", "ok 1\n", 200, milliseconds(3'000),
       "DeadlineExceeded"},
      {"huge", "    body_size_limit: 64KiB\n", std::string(8 << 20, '#') + "\n", 200,
       milliseconds(0), "OutOfRange"},
      {"sample limit", "    sample_limit: 2\n", "a 1\nb 1\nc 1\n", 200, milliseconds(0),
       "sample limit exceeded: 3 > 2"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    batches_.clear();
    target_.Set("good 1\n");
    auto loop = Loop(c.job_yaml);
    ASSERT_TRUE(loop->ScrapeOnce(1000));
    target_.Set(c.body, c.status, c.delay);
    const auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(loop->ScrapeOnce(2000));
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2))
        << "a hanging target is given up at the scrape timeout";
    EXPECT_NE(loop->last_error().find(c.error), std::string::npos) << loop->last_error();
    Series s = Last(2000);
    EXPECT_EQ(s.at(Report("up")), 0);
    EXPECT_EQ(s.at(Report("scrape_samples_scraped")), 0);
    const std::string good = "{__name__=\"good\", cluster=\"c1\", instance=\"" + Instance() +
                             "\", job=\"app\", zone=\"a\"}";
    ASSERT_EQ(s.count(good), 1u);
    EXPECT_TRUE(IsStaleNaN(s.at(good)));
    EXPECT_EQ(s.size(), 6u) << "the stale marker and the five report series, nothing else";
    // And it recovers (once the hanging handler has let its server thread go).
    target_.Set("good 1\n");
    EXPECT_TRUE(testing::WaitFor([&] { return loop->ScrapeOnce(3000); }));
  }
}

TEST(ScraperTest, FileSdTargetsComeAndGo) {
  testing::TempDir dir;
  Target a;
  Target b;
  a.Set("from_a 1\n");
  b.Set("from_b 1\n");
  dir.Write("targets.json", "[{\"targets\": [\"" + a.address() + "\"]}]");
  auto c = ParseScrapeConfig(
      "scrape_configs:\n  - job_name: sd\n    scrape_interval: 100ms\n"
      "    file_sd_configs: [{files: [\"" +
          dir.Join("*.json") + "\"], refresh_interval: 1h}]\n",
      "s.yml", milliseconds(10'000));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  std::mutex mu;
  std::map<std::string, double> latest;  // metric name -> last value written
  Scraper scraper(RealFileSystem(), *c, {}, [&](prometheus::WriteRequest&& batch) {
    std::lock_guard lock(mu);
    for (const auto& ts : batch.timeseries()) {
      for (const auto& l : ts.labels()) {
        if (l.name() == "__name__") latest[l.value()] = ts.samples(0).value();
      }
    }
  });
  scraper.Start();
  auto value = [&](const std::string& name) {
    std::lock_guard lock(mu);
    auto it = latest.find(name);
    return it == latest.end() ? std::optional<double>() : it->second;
  };
  ASSERT_TRUE(testing::WaitFor([&] { return value("from_a") == 1.0; }));
  EXPECT_EQ(scraper.targets(), 1u);
  dir.Write("targets.json", "[{\"targets\": [\"" + b.address() + "\"]}]");
  scraper.Refresh();
  ASSERT_TRUE(testing::WaitFor([&] { return value("from_b") == 1.0; }));
  auto gone = value("from_a");
  ASSERT_TRUE(gone.has_value());
  EXPECT_TRUE(IsStaleNaN(*gone)) << "the removed target's series are marked stale";
  // A broken file keeps the targets it had.
  dir.Write("targets.json", "[{\"targets\": ");
  scraper.Refresh();
  EXPECT_EQ(scraper.targets(), 1u);
  scraper.Stop();
}

}  // namespace
}  // namespace vigil::agent
