// The codecs against the real peers from Debian: a WriteRequest we encode is accepted by
// Prometheus 2.42's remote_write receiver and queryable there, and our exposition parser reads
// a real node_exporter scrape.

#include <signal.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "testing.h"
#include "vigil/common/clock.h"
#include "vigil/common/exposition.h"
#include "vigil/common/http_client.h"
#include "vigil/common/remote_write.h"

namespace vigil {
namespace {

TEST(PrometheusPeerTest, AcceptsOurRemoteWriteAndAnswersQueries) {
  ASSERT_TRUE(testing::HaveProgram("prometheus")) << "prometheus is installed by scripts/setup.sh";
  testing::TempDir dir;
  dir.Write("prometheus.yml", "global:\n  scrape_interval: 15s\n");
  const std::string addr = "127.0.0.1:" + std::to_string(testing::FreePort());
  testing::Subprocess prom({"prometheus", "--config.file=" + dir.Join("prometheus.yml"),
                            "--storage.tsdb.path=" + dir.Join("data"),
                            "--web.listen-address=" + addr, "--web.enable-remote-write-receiver"},
                           dir.path());
  ASSERT_TRUE(testing::WaitForHttpOk("http://" + addr + "/-/ready")) << prom.Stderr();

  const int64_t now = RealClock()->NowMillis();
  prometheus::WriteRequest req;
  for (int i = 0; i < 3; ++i) {
    auto* ts = req.add_timeseries();
    auto* l = ts->add_labels();
    l->set_name("__name__");
    l->set_value("vigil_remote_write_test");
    l = ts->add_labels();
    l->set_name("pod");
    l->set_value("pod-" + std::to_string(i));
    for (int k = 0; k < 5; ++k) {
      auto* s = ts->add_samples();
      s->set_timestamp(now - 60'000 + k * 15'000);
      s->set_value(i * 100 + k + 0.25);
    }
  }
  http::HttpClient client;
  http::ClientRequest post =
      testing::RemoteWritePost("http://" + addr + "/api/v1/write", remote::Encode(req));
  auto res = client.Do(post);
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->status, 204) << res->body;

  auto q = client.Get("http://" + addr + "/api/v1/query?query=vigil_remote_write_test&time=" +
                      std::to_string((now - 60'000 + 4 * 15'000) / 1000.0));
  ASSERT_TRUE(q.ok());
  ASSERT_EQ(q->status, 200) << q->body;
  auto j = nlohmann::json::parse(q->body);
  ASSERT_EQ(j["status"], "success");
  auto result = j["data"]["result"];
  ASSERT_EQ(result.size(), 3u) << q->body;
  std::map<std::string, std::string> by_pod;
  for (const auto& r : result) by_pod[r["metric"]["pod"]] = r["value"][1];
  EXPECT_EQ(by_pod["pod-0"], "4.25");
  EXPECT_EQ(by_pod["pod-2"], "204.25");

  // A body that is not snappy is refused by Prometheus too (same verdict as our decoder).
  post.body = "definitely not snappy";
  EXPECT_EQ(client.Do(post)->status, 400);
  EXPECT_FALSE(remote::Decode(post.body).ok());
  prom.Stop(SIGTERM);
}

TEST(NodeExporterPeerTest, ParserReadsARealScrape) {
  ASSERT_TRUE(testing::HaveProgram("prometheus-node-exporter"))
      << "prometheus-node-exporter is installed by scripts/setup.sh";
  testing::TempDir dir;
  const std::string addr = "127.0.0.1:" + std::to_string(testing::FreePort());
  testing::Subprocess exporter(
      {"prometheus-node-exporter", "--web.listen-address=" + addr, "--no-collector.systemd"},
      dir.path());
  const std::string url = "http://" + addr + "/metrics";
  ASSERT_TRUE(testing::WaitForHttpOk(url)) << exporter.Stderr();

  http::HttpClient client;
  for (const char* accept :
       {"text/plain;version=0.0.4", "application/openmetrics-text;version=1.0.0"}) {
    http::ClientRequest req;
    req.url = url;
    req.headers = {{"Accept", accept}};
    auto res = client.Do(req);
    ASSERT_TRUE(res.ok()) << res.status().ToString();
    ASSERT_EQ(res->status, 200);
    const expo::Format format = expo::FormatFromContentType(res->Header("Content-Type"));
    auto fams = expo::Parse(res->body, format);
    ASSERT_TRUE(fams.ok()) << accept << ": " << fams.status().ToString();
    std::map<std::string, const expo::Family*> by_name;
    size_t samples = 0;
    for (const auto& f : *fams) {
      by_name[f.name] = &f;
      samples += f.samples.size();
    }
    EXPECT_GT(samples, 100u);
    const std::string cpu =
        format == expo::Format::kOpenMetrics ? "node_cpu_seconds" : "node_cpu_seconds_total";
    ASSERT_TRUE(by_name.count(cpu)) << accept;
    EXPECT_EQ(by_name[cpu]->type, expo::MetricType::kCounter);
    EXPECT_FALSE(by_name[cpu]->samples[0].labels.Get("mode").empty());
    ASSERT_TRUE(by_name.count("node_memory_MemTotal_bytes"));
    EXPECT_GT(by_name["node_memory_MemTotal_bytes"]->samples[0].value, 0);
    ASSERT_TRUE(by_name.count("go_gc_duration_seconds"));
    EXPECT_EQ(by_name["go_gc_duration_seconds"]->type, expo::MetricType::kSummary);
  }
  exporter.Stop(SIGTERM);
}

}  // namespace
}  // namespace vigil
