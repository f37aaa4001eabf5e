// `vigil agent` as a process: /metrics in both formats, promtool's lint, and a real Prometheus
// 2.42 scraping it.

#include <signal.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <set>
#include <sstream>

#include "testing.h"
#include "vigil/common/exposition.h"
#include "vigil/common/http_client.h"
#include "vigil/common/http_util.h"

namespace vigil {
namespace {

using json = nlohmann::json;

// promtool's naming lint flags names vigil keeps on purpose: node_exporter's meminfo fields
// (node_memory_MemTotal_bytes, ...) and cAdvisor's container_memory_failcnt counter. Dashboards
// and rules use those names; anything else promtool says is a defect.
bool InheritedName(const std::string& line) {
  return (line.starts_with("node_memory_") &&
          line.find("should be written in 'snake_case' not 'camelCase'") != std::string::npos) ||
         line == "container_memory_failcnt counter metrics should have \"_total\" suffix";
}

TEST(AgentTest, MetricsInBothFormatsCleanUnderPromtool) {
  testing::TempDir dir;
  testing::VigilProcess agent(VIGIL_BINARY, {"agent", "--listen", "127.0.0.1:0"}, dir.path());
  ASSERT_FALSE(agent.address().empty()) << agent.proc().Stderr();
  http::HttpClient client;
  for (const char* accept : {"text/plain", "application/openmetrics-text;version=1.0.0"}) {
    http::ClientRequest req;
    req.url = agent.Url("/metrics");
    req.headers = {{"Accept", accept}};
    auto res = client.Do(req);
    ASSERT_TRUE(res.ok() && res->status == 200) << accept;
    const expo::Format f = expo::FormatFromContentType(res->Header("Content-Type"));
    EXPECT_EQ(f == expo::Format::kOpenMetrics,
              std::string(accept).starts_with("application/openmetrics-text"));
    auto fams = expo::Parse(res->body, f);
    ASSERT_TRUE(fams.ok()) << accept << ": " << fams.status().ToString();
    std::set<std::string> names;
    for (const auto& fam : *fams) names.insert(fam.name);
    const bool om = f == expo::Format::kOpenMetrics;
    for (const char* n : {"node_cpu_seconds_total", "container_cpu_usage_seconds_total",
                          "vigil_agent_collection_duration_seconds"}) {
      std::string name = n;
      if (om && name.ends_with("_total")) name.resize(name.size() - 6);
      EXPECT_TRUE(names.count(name)) << accept << ": no " << name;
    }
    EXPECT_TRUE(names.count("node_memory_MemTotal_bytes"));
    if (f == expo::Format::kText) {
      dir.Write("metrics.txt", res->body);
      auto lint = testing::Run({"sh", "-c", "promtool check metrics < " + dir.Join("metrics.txt")});
      std::istringstream lines(lint.out + lint.err);
      for (std::string line; std::getline(lines, line);) {
        if (!line.empty()) {
          EXPECT_TRUE(InheritedName(line)) << "promtool: " << line;
        }
      }
    }
  }
  agent.proc().Stop(SIGTERM);
}

TEST(AgentTest, PrometheusScrapesIt) {
  ASSERT_TRUE(testing::HaveProgram("prometheus")) << "prometheus is installed by scripts/setup.sh";
  testing::TempDir dir;
  testing::VigilProcess agent(VIGIL_BINARY,
                              {"agent", "--listen", "127.0.0.1:0", "--interval", "1s"}, dir.path());
  ASSERT_FALSE(agent.address().empty()) << agent.proc().Stderr();
  const std::string target = agent.address().substr(std::string("http://").size());
  dir.Write("prometheus.yml",
            "global:\n  scrape_interval: 1s\nscrape_configs:\n"
            "  - job_name: vigil-agent\n    static_configs:\n"
            "      - targets: ['" +
                target + "']\n");
  const std::string addr = "127.0.0.1:" + std::to_string(testing::FreePort());
  testing::Subprocess prom(
      {"prometheus", "--config.file=" + dir.Join("prometheus.yml"),
       "--storage.tsdb.path=" + dir.Join("data"), "--web.listen-address=" + addr},
      dir.path());
  ASSERT_TRUE(testing::WaitForHttpOk("http://" + addr + "/-/ready")) << prom.Stderr();
  http::HttpClient client;
  auto query = [&](const std::string& q) {
    auto res = client.Get("http://" + addr + "/api/v1/query?query=" + http::PercentEncode(q));
    if (!res.ok() || res->status != 200) return json();
    return json::parse(res->body, nullptr, false)["data"]["result"];
  };
  ASSERT_TRUE(testing::WaitFor([&] {
    json r = query("up{job=\"vigil-agent\"}");
    return r.is_array() && r.size() == 1 && r[0]["value"][1] == "1";
  })) << prom.Stderr();
  ASSERT_TRUE(testing::WaitFor([&] {
    json r = query("count(node_cpu_seconds_total{job=\"vigil-agent\", mode=\"idle\"})");
    return r.is_array() && r.size() == 1;
  }));
  json mem = query("node_memory_MemTotal_bytes{job=\"vigil-agent\"}");
  ASSERT_EQ(mem.size(), 1u);
  EXPECT_GT(std::stod(mem[0]["value"][1].get<std::string>()), 0);
  json cpu = query("container_cpu_usage_seconds_total{job=\"vigil-agent\", id=\"/\"}");
  EXPECT_EQ(cpu.size(), 1u);
  prom.Stop(SIGTERM);
  agent.proc().Stop(SIGTERM);
}

}  // namespace
}  // namespace vigil
