// `vigil tsdb` as a process: a real Prometheus 2.42 scraping node_exporter remote-writes to it
// and every sample it sent is in vigil with the same value; kill -9 during ingest loses nothing
// acknowledged; malformed requests get their status and message and the server keeps serving.

#include <signal.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <snappy.h>

#include <atomic>
#include <cmath>
#include <mutex>
#include <sstream>
#include <thread>

#include "testing.h"
#include "vigil/common/clock.h"
#include "vigil/common/http_client.h"
#include "vigil/common/http_util.h"
#include "vigil/common/remote_write.h"
#include "vigil/tsdb/promql/parser.h"
#include "vigil/tsdb/rocksdb_store.h"

namespace vigil {
namespace {

const std::string kVigil = VIGIL_BINARY;

// `vigil tsdb` on a port it picks, data in `data_dir`.
class VigilTsdb {
 public:
  VigilTsdb(const std::string& data_dir, const std::string& log_dir,
            std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"tsdb", "--data-dir", data_dir};
    args.insert(args.end(), extra.begin(), extra.end());
    vigil_ = std::make_unique<testing::VigilProcess>(kVigil, args, log_dir);
  }
  bool up() const { return !vigil_->address().empty(); }
  std::string url(const std::string& path) const { return vigil_->Url(path); }
  testing::Subprocess& proc() { return vigil_->proc(); }

 private:
  std::unique_ptr<testing::VigilProcess> vigil_;
};

std::unique_ptr<tsdb::RocksDbStore> OpenStore(const std::string& data_dir) {
  tsdb::StoreOptions opts;
  opts.dir = data_dir + "/tsdb";
  auto store = tsdb::RocksDbStore::Open(opts);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(*store) : nullptr;
}

TEST(TsdbIngestTest, EverySamplePrometheusSentIsStoredWithTheSameValue) {
  for (const char* p : {"prometheus", "prometheus-node-exporter"}) {
    ASSERT_TRUE(testing::HaveProgram(p)) << p << " is installed by scripts/setup.sh";
  }
  testing::TempDir dir;
  VigilTsdb vigil(dir.Join("vigil"), dir.path());
  ASSERT_TRUE(vigil.up()) << vigil.proc().Stderr();

  const std::string exporter_addr = "127.0.0.1:" + std::to_string(testing::FreePort());
  testing::Subprocess exporter({"prometheus-node-exporter", "--web.listen-address=" + exporter_addr,
                                "--no-collector.systemd"},
                               dir.path());
  ASSERT_TRUE(testing::WaitForHttpOk("http://" + exporter_addr + "/metrics"));

  const std::string prom_addr = "127.0.0.1:" + std::to_string(testing::FreePort());
  dir.Write("prometheus.yml",
            "global:\n  scrape_interval: 1s\n"
            "scrape_configs:\n  - job_name: node\n    static_configs:\n"
            "      - targets: ['" +
                exporter_addr +
                "']\n"
                "remote_write:\n  - url: " +
                vigil.url("/api/v1/write") +
                "\n"
                "    queue_config: {max_shards: 1, min_shards: 1, batch_send_deadline: 1s}\n");
  testing::Subprocess prom(
      {"prometheus", "--config.file=" + dir.Join("prometheus.yml"),
       "--storage.tsdb.path=" + dir.Join("prom"), "--web.listen-address=" + prom_addr},
      dir.path());
  ASSERT_TRUE(testing::WaitForHttpOk("http://" + prom_addr + "/-/ready")) << prom.Stderr();

  // Wait until Prometheus has sent a few scrapes' worth; with one shard it sends in time order,
  // so everything up to the highest sent timestamp has arrived.
  http::HttpClient client;
  const std::string sent_metric =
      "prometheus_remote_storage_queue_highest_sent_timestamp_seconds{remote_name=\"";
  double sent = 0;
  double first_sent = 0;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto m = client.Get("http://" + prom_addr + "/metrics");
        if (!m.ok()) return false;
        std::istringstream in(m->body);
        for (std::string line; std::getline(in, line);) {
          if (line.rfind(sent_metric, 0) == 0) sent = std::stod(line.substr(line.rfind(' ') + 1));
        }
        if (sent > 0 && first_sent == 0) first_sent = sent;
        return first_sent > 0 && sent >= first_sent + 4;
      },
      std::chrono::seconds(60)))
      << prom.Stderr();

  // Every raw sample Prometheus holds up to that time, for every series of the job.
  auto q = client.Get("http://" + prom_addr + "/api/v1/query?query=" +
                      http::PercentEncode("{job=\"node\"}[10m]") + "&time=" + std::to_string(sent));
  ASSERT_TRUE(q.ok());
  auto j = nlohmann::json::parse(q->body);
  ASSERT_EQ(j["status"], "success") << q->body.substr(0, 500);
  const auto& result = j["data"]["result"];
  ASSERT_GT(result.size(), 100u);

  prom.Stop(SIGTERM);
  exporter.Stop(SIGTERM);
  ASSERT_EQ(vigil.proc().Stop(SIGTERM), 0) << vigil.proc().Stderr();
  auto store = OpenStore(dir.Join("vigil"));
  ASSERT_TRUE(store);

  size_t series = 0, samples = 0;
  for (const auto& r : result) {
    std::vector<Matcher> ms;
    std::vector<Label> pairs;
    const nlohmann::json& metric = r["metric"];
    for (auto it = metric.begin(); it != metric.end(); ++it) {
      const std::string value = it.value();
      ms.push_back(*Matcher::Make(MatchType::kEqual, it.key(), value));
      pairs.push_back(Label{it.key(), value});
    }
    const Labels want = *Labels::FromPairs(pairs);
    const double first_t = r["values"][0][0];
    const int64_t lo = static_cast<int64_t>(first_t * 1000 + 0.5);
    const int64_t hi = static_cast<int64_t>(sent * 1000 + 0.5);
    auto set = store->NewQuerier()->Select(lo, hi, ms);
    ASSERT_TRUE(set->Next()) << "missing in vigil: " << want.ToString();
    std::vector<tsdb::Sample> got;
    for (const auto& s : set->samples()) {
      if (!tsdb::IsStaleNaN(s.v)) got.push_back(s);
    }
    ASSERT_EQ(got.size(), r["values"].size()) << want.ToString();
    for (size_t i = 0; i < got.size(); ++i) {
      const auto& pv = r["values"][i];
      const double pt = pv[0];
      const std::string pvalue = pv[1];
      const int64_t t = static_cast<int64_t>(pt * 1000 + 0.5);
      const double v = std::stod(pvalue);
      ASSERT_EQ(got[i].t, t) << want.ToString();
      if (std::isnan(v)) {
        ASSERT_TRUE(std::isnan(got[i].v));
      } else {
        ASSERT_EQ(got[i].v, v) << want.ToString() << " at " << t;
      }
      ++samples;
    }
    ++series;
  }
  EXPECT_GT(samples, series * 3);
  std::cout << "compared " << series << " series, " << samples << " samples\n";
}

// Numbered batches: batch n is 5 series x 4 samples at t = base + n*4000 + k*1000, value n.
std::string Batch(int n) {
  prometheus::WriteRequest req;
  for (int s = 0; s < 5; ++s) {
    auto* ts = req.add_timeseries();
    auto* l = ts->add_labels();
    l->set_name("__name__");
    l->set_value("crash_test");
    l = ts->add_labels();
    l->set_name("series");
    l->set_value(std::to_string(s));
    for (int k = 0; k < 4; ++k) {
      auto* x = ts->add_samples();
      x->set_timestamp(1'700'000'000'000 + n * 4000 + k * 1000);
      x->set_value(n * 10 + k);
    }
  }
  return remote::Encode(req);
}

TEST(TsdbCrashTest, KillNineLosesNothingAcknowledged) {
  testing::TempDir dir;
  const std::string data = dir.Join("data");
  std::vector<int> acked;
  int next = 0;
  for (int round = 0; round < 4; ++round) {
    VigilTsdb vigil(data, dir.path());
    ASSERT_TRUE(vigil.up()) << vigil.proc().Stderr();
    std::atomic<bool> stop{false};
    std::mutex mu;
    std::thread writer([&] {
      http::ClientOptions opts;
      opts.request_timeout = std::chrono::seconds(5);
      http::HttpClient client(opts);
      while (!stop) {
        const int n = next++;
        auto res = client.Do(testing::RemoteWritePost(vigil.url("/api/v1/write"), Batch(n)));
        if (res.ok() && res->status == 204) {
          std::lock_guard lock(mu);
          acked.push_back(n);
        } else if (!res.ok()) {
          return;  // the server is gone
        }
      }
    });
    // Kill at a different point each round: after some acknowledged batches.
    const size_t target = acked.size() + 20 + round * 15;
    testing::WaitFor([&] {
      std::lock_guard lock(mu);
      return acked.size() >= target;
    });
    ::kill(vigil.proc().pid(), SIGKILL);
    vigil.proc().Wait();
    stop = true;
    writer.join();
  }
  ASSERT_GT(acked.size(), 100u);
  // A last restart to replay the log, then read the store directly.
  {
    VigilTsdb vigil(data, dir.path());
    ASSERT_TRUE(vigil.up()) << vigil.proc().Stderr();
    ASSERT_EQ(vigil.proc().Stop(SIGTERM), 0);
  }
  auto store = OpenStore(data);
  ASSERT_TRUE(store);
  for (int s = 0; s < 5; ++s) {
    auto set = store->NewQuerier()->Select(
        0, std::numeric_limits<int64_t>::max(),
        {*Matcher::Make(MatchType::kEqual, "series", std::to_string(s))});
    ASSERT_TRUE(set->Next());
    std::map<int64_t, double> have;
    for (const auto& x : set->samples()) have[x.t] = x.v;
    for (int n : acked) {
      for (int k = 0; k < 4; ++k) {
        auto it = have.find(1'700'000'000'000 + n * 4000 + k * 1000);
        ASSERT_NE(it, have.end()) << "batch " << n << " sample " << k << " of series " << s
                                  << " was acknowledged but is gone";
        ASSERT_EQ(it->second, n * 10 + k);
      }
    }
  }
  std::cout << acked.size() << " acknowledged batches survived 4 kill -9s\n";
}

TEST(TsdbBadInputTest, EachMalformedRequestGetsItsStatusAndMessage) {
  testing::TempDir dir;
  VigilTsdb vigil(dir.Join("data"), dir.path(), {"--max-body-bytes", "100000"});
  ASSERT_TRUE(vigil.up()) << vigil.proc().Stderr();
  http::HttpClient client;
  auto send = [&](std::string body) {
    auto r = client.Do(testing::RemoteWritePost(vigil.url("/api/v1/write"), std::move(body)));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : http::ClientResponse{};
  };
  auto series = [](std::vector<std::pair<std::string, std::string>> labels, int samples = 1) {
    prometheus::WriteRequest req;
    auto* ts = req.add_timeseries();
    for (auto& [k, v] : labels) {
      auto* l = ts->add_labels();
      l->set_name(k);
      l->set_value(v);
    }
    for (int i = 0; i < samples; ++i) {
      auto* s = ts->add_samples();
      s->set_timestamp(1'700'000'000'000 + i);
      s->set_value(1);
    }
    return req;
  };
  struct Case {
    std::string name;
    std::string body;
    int status;
    std::string message;
  };
  std::string good = remote::Encode(series({{"__name__", "ok"}}));
  std::string raw;
  series({{"__name__", "x"}}).SerializeToString(&raw);
  std::vector<std::pair<std::string, std::string>> many;
  many.emplace_back("__name__", "many");
  for (int i = 0; i < 200; ++i) many.emplace_back("l" + std::to_string(i), "v");
  std::vector<Case> cases = {
      {"truncated snappy", good.substr(0, good.size() - 4), 400, "snappy: corrupt"},
      {"not snappy", "hello", 400, "snappy"},
      {"bad protobuf",
       [] {
         std::string b;
         std::string junk = "\x0a\x05\x0a\x03\x0a\x09zz";
         snappy::Compress(junk.data(), junk.size(), &b);
         return b;
       }(),
       400, "invalid protobuf"},
      {"empty label name", remote::Encode(series({{"__name__", "x"}, {"", "v"}})), 400,
       "invalid label name \"\""},
      {"duplicate label", remote::Encode(series({{"__name__", "x"}, {"a", "1"}, {"a", "2"}})), 400,
       "duplicate label name \"a\""},
      {"invalid metric name", remote::Encode(series({{"__name__", "1x"}})), 400,
       "invalid metric name"},
      {"too many labels", remote::Encode(series(many)), 400, "201 labels, over the limit of 128"},
      {"oversized label value",
       remote::Encode(series({{"__name__", "x"}, {"v", std::string(20000, 'v')}})), 400,
       "longer than 16384 bytes"},
      {"body over the limit", std::string(200'000, 'x'), 413, "request body too large"},
  };
  for (const auto& c : cases) {
    auto r = send(c.body);
    EXPECT_EQ(r.status, c.status) << c.name << ": " << r.body;
    EXPECT_NE(r.body.find(c.message), std::string::npos) << c.name << ": " << r.body;
    // Still serving, and a good request still lands.
    EXPECT_EQ(send(good).status, 204) << "after " << c.name;
  }
  // A different value at a stored timestamp: refused, naming the series.
  prometheus::WriteRequest conflict = series({{"__name__", "ok"}});
  conflict.mutable_timeseries(0)->mutable_samples(0)->set_value(2);
  auto r = send(remote::Encode(conflict));
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("duplicate sample for timestamp: series 0 {__name__=\"ok\"}"),
            std::string::npos)
      << r.body;
  EXPECT_EQ(client.Get(vigil.url("/-/healthy"))->status, 200);
  auto status = client.Get(vigil.url("/api/v1/status/tsdb"));
  auto j = nlohmann::json::parse(status->body);
  EXPECT_EQ(j["data"]["headStats"]["numSeries"], 1);
}

TEST(TsdbAdminTest, DeleteSeriesOnlyWhenEnabled) {
  testing::TempDir dir;
  http::HttpClient client;
  const std::string del =
      "/api/v1/admin/tsdb/delete_series?match[]=" + http::PercentEncode("crash_test{series=\"1\"}");
  {
    VigilTsdb off(dir.Join("off"), dir.path());
    ASSERT_TRUE(off.up());
    auto r = client.Post(off.url(del), "", "");
    EXPECT_EQ(r->status, 503);
    EXPECT_NE(r->body.find("admin APIs disabled"), std::string::npos);
  }
  VigilTsdb vigil(dir.Join("on"), dir.path(), {"--enable-admin-api", "true"});
  ASSERT_TRUE(vigil.up());
  ASSERT_EQ(client.Do(testing::RemoteWritePost(vigil.url("/api/v1/write"), Batch(0)))->status, 204);
  auto bad = client.Post(vigil.url("/api/v1/admin/tsdb/delete_series?match[]=up{"), "", "");
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("1:4: parse error: unexpected end of input inside braces"),
            std::string::npos)
      << bad->body;
  auto bad_time = client.Post(vigil.url(del + "&start=yesterday"), "", "");
  EXPECT_EQ(bad_time->status, 400);
  EXPECT_NE(
      bad_time->body.find(
          R"(invalid parameter \"start\": Invalid time value for 'start': cannot parse \"yesterday\" to a valid timestamp)"),
      std::string::npos)
      << bad_time->body;
  // A time range: series 2 loses its samples in [1s, 2s] after the batch's first.
  const std::string part = "/api/v1/admin/tsdb/delete_series?match[]=" +
                           http::PercentEncode("crash_test{series=\"2\"}") +
                           "&start=1700000001&end=2023-11-14T22:13:22Z";
  auto ranged = client.Post(vigil.url(part), "", "");
  EXPECT_EQ(ranged->status, 204) << ranged->body;
  auto ok = client.Post(vigil.url(del), "", "");
  EXPECT_EQ(ok->status, 204) << ok->body;
  auto status = nlohmann::json::parse(client.Get(vigil.url("/api/v1/status/tsdb"))->body);
  EXPECT_EQ(status["data"]["headStats"]["numSeries"], 4);
  ASSERT_EQ(vigil.proc().Stop(SIGTERM), 0);
  auto store = OpenStore(dir.Join("on"));
  ASSERT_TRUE(store);
  auto set = store->NewQuerier()->Select(0, std::numeric_limits<int64_t>::max(),
                                         *promql::ParseMetricSelector("crash_test"));
  int n = 0;
  while (set->Next()) {
    EXPECT_NE(set->labels().Get("series"), "1");
    // Batch(0) has samples at +0, +1, +2 and +3 s; the range took +1 and +2.
    const size_t want = set->labels().Get("series") == "2" ? 2 : 4;
    EXPECT_EQ(set->samples().size(), want) << set->labels().ToString();
    ++n;
  }
  EXPECT_EQ(n, 4);
}

}  // namespace
}  // namespace vigil
