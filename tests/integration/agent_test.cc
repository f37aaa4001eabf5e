// `vigil agent` as a process: /metrics in both formats, promtool's lint, and a real Prometheus
// 2.42 scraping it.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>

#include "testing.h"
#include "vigil/common/exposition.h"
#include "vigil/common/http_client.h"
#include "vigil/common/http_server.h"
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

// A receiver the test can stop and start at the same address: a real Prometheus 2.42 with its
// remote_write receiver, or `vigil tsdb`.
class Receiver {
 public:
  Receiver(bool prometheus, const testing::TempDir& dir)
      : prometheus_(prometheus),
        dir_(dir),
        addr_("127.0.0.1:" + std::to_string(testing::FreePort())) {
    if (prometheus_) dir_.Write("prometheus.yml", "global:\n  scrape_interval: 1m\n");
  }
  bool Start() {
    const std::string data = dir_.Join(prometheus_ ? "prom-data" : "tsdb-data");
    if (prometheus_) {
      proc_ = std::make_unique<testing::Subprocess>(
          std::vector<std::string>{"prometheus", "--config.file=" + dir_.Join("prometheus.yml"),
                                   "--storage.tsdb.path=" + data, "--web.listen-address=" + addr_,
                                   "--web.enable-remote-write-receiver"},
          dir_.path());
    } else {
      proc_ = std::make_unique<testing::Subprocess>(
          std::vector<std::string>{VIGIL_BINARY, "tsdb", "--listen", addr_, "--data-dir", data},
          dir_.path());
    }
    return testing::WaitForHttpOk("http://" + addr_ + "/-/ready");
  }
  void Stop() { proc_->Stop(SIGTERM); }
  std::string write_url() const { return "http://" + addr_ + "/api/v1/write"; }
  std::string name() const { return prometheus_ ? "Prometheus" : "vigil tsdb"; }
  // The values of the instant query's matrix result, all series together.
  std::vector<double> Values(const std::string& query) {
    std::vector<double> out;
    auto res = client_.Get("http://" + addr_ + "/api/v1/query?query=" + http::PercentEncode(query));
    if (!res.ok() || res->status != 200) return out;
    const json j = json::parse(res->body, nullptr, false);
    if (!j.is_object() || !j.contains("data")) return out;
    const json& result = j["data"]["result"];
    if (j["data"]["resultType"] == "scalar" || !result.is_array()) {
      ADD_FAILURE() << query << ": " << res->body;
      return out;
    }
    for (const auto& series : result) {
      if (series.contains("values")) {
        for (const auto& v : series["values"]) out.push_back(std::stod(v[1].get<std::string>()));
      }
      if (series.contains("value")) out.push_back(std::stod(series["value"][1].get<std::string>()));
    }
    return out;
  }
  std::string Stderr() const { return proc_ ? proc_->Stderr() : ""; }

 private:
  bool prometheus_;
  const testing::TempDir& dir_;
  std::string addr_;
  std::unique_ptr<testing::Subprocess> proc_;
  http::HttpClient client_;
};

// The agent scrapes a counter the test serves (every value it hands out is a sample collected)
// and ships it, with its own view, to a real Prometheus and to vigil tsdb. Both receivers are
// stopped for a while, the agent is kill -9ed and restarted meanwhile, then they come back:
// afterwards every value served is in both receivers, except at most the one whose scrape the
// kill cut short.
TEST(AgentTest, RemoteWriteSurvivesReceiverOutagesAndKill9) {
  ASSERT_TRUE(testing::HaveProgram("prometheus")) << "prometheus is installed by scripts/setup.sh";
  testing::TempDir dir;
  std::atomic<int> served{0};
  http::Router router;
  router.Get("/metrics", [&](const http::Request&, http::Response& res) {
    res.status = 200;
    res.content_type = "text/plain; version=0.0.4";
    res.body = "# TYPE test_scrapes counter\ntest_scrapes_total " + std::to_string(++served) + "\n";
  });
  http::ServerOptions so;
  so.listen = "127.0.0.1:0";
  auto counter = http::HttpServer::Start(so, std::move(router));
  ASSERT_TRUE(counter.ok()) << counter.status().ToString();
  dir.Write("scrape.yml",
            "scrape_configs:\n  - job_name: counter\n    scrape_interval: 300ms\n"
            "    static_configs: [{targets: ['127.0.0.1:" +
                std::to_string((*counter)->port()) + "']}]\n");

  std::vector<std::unique_ptr<Receiver>> receivers;
  receivers.push_back(std::make_unique<Receiver>(true, dir));
  receivers.push_back(std::make_unique<Receiver>(false, dir));
  for (auto& r : receivers) ASSERT_TRUE(r->Start()) << r->name() << ": " << r->Stderr();
  const std::vector<std::string> args = {"agent",
                                         "--interval",
                                         "1s",
                                         "--data-dir",
                                         dir.Join("agent"),
                                         "--scrape-config",
                                         dir.Join("scrape.yml"),
                                         "--remote-write",
                                         receivers[0]->write_url(),
                                         "--remote-write",
                                         receivers[1]->write_url(),
                                         "--remote-write-max-backoff",
                                         "300ms",
                                         "--external-label",
                                         "cluster=test"};
  auto agent = std::make_unique<testing::VigilProcess>(VIGIL_BINARY, args, dir.path());
  ASSERT_FALSE(agent->address().empty()) << agent->proc().Stderr();
  const std::string all = "test_scrapes_total{job=\"counter\", cluster=\"test\"}[1h]";
  for (auto& r : receivers) {
    ASSERT_TRUE(testing::WaitFor([&] { return r->Values(all).size() >= 3; }))
        << r->name() << ": " << agent->proc().Stderr();
  }

  // The receivers go away while the agent keeps collecting; during the outage the agent is
  // killed without warning and started again on the same queue, so what it collected before the
  // kill can only come from its disk.
  for (auto& r : receivers) r->Stop();
  const int before_outage = served;
  ASSERT_TRUE(testing::WaitFor([&] { return served >= before_outage + 8; }));
  agent->proc().Stop(SIGKILL);
  const int at_kill = served;
  EXPECT_NE(agent->proc().Stderr().find("retrying with backoff"), std::string::npos)
      << "the outage was seen: " << agent->proc().Stderr();
  agent = std::make_unique<testing::VigilProcess>(VIGIL_BINARY, args, dir.path());
  ASSERT_FALSE(agent->address().empty()) << agent->proc().Stderr();
  ASSERT_TRUE(testing::WaitFor([&] { return served >= at_kill + 4; }));
  EXPECT_NE(agent->proc().Stderr().find("batches from before the restart to send"),
            std::string::npos)
      << agent->proc().Stderr();
  for (auto& r : receivers) ASSERT_TRUE(r->Start()) << r->name() << ": " << r->Stderr();
  ASSERT_TRUE(testing::WaitFor([&] { return served >= at_kill + 8; }));
  const int last = served;

  for (auto& r : receivers) {
    SCOPED_TRACE(r->name());
    std::set<int> got;
    ASSERT_TRUE(testing::WaitFor([&] {
      got.clear();
      for (double v : r->Values(all)) got.insert(static_cast<int>(v));
      for (int v = 1; v <= last; ++v) {
        if (!got.contains(v) && v != at_kill) return false;
      }
      return true;
    })) << "missing values; got "
        << got.size() << " of " << last;
    EXPECT_EQ(r->Values(all).size(), got.size()) << "no value stored twice";
    // The agent's own view arrived too, under the jobs kube-prometheus selects.
    EXPECT_FALSE(r->Values("node_load1{job=\"node-exporter\", cluster=\"test\"}").empty());
    EXPECT_FALSE(r->Values("container_cpu_usage_seconds_total{job=\"kubelet\", id=\"/\"}").empty());
    EXPECT_FALSE(r->Values("up{job=\"counter\"} == 1").empty());
  }
  auto metrics = http::HttpClient().Get(agent->Url("/metrics"));
  ASSERT_TRUE(metrics.ok());
  EXPECT_NE(metrics->body.find("vigil_agent_remote_write_sent_samples_total{url=\"" +
                               receivers[1]->write_url() + "\"}"),
            std::string::npos);
  agent->proc().Stop(SIGTERM);
  for (auto& r : receivers) r->Stop();
}

// `vigil top` under tmux: a container (a real cgroup under v1's cpu, cpuacct and memory, named
// as docker names them, with a CPU burner capped at half a CPU) shows up with its CPU and
// throttling; the keys sort, filter and quit.
class TopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0 || !testing::HaveProgram("tmux")) {
      GTEST_SKIP() << "needs root (cgroups) and tmux (installed by scripts/setup.sh)";
    }
    char id[65];
    std::snprintf(id, sizeof(id), "%064x", static_cast<unsigned>(::getpid()));
    id_ = id;
    id_[0] = 'f';
    for (const char* c : {"cpu", "cpuacct", "memory"}) {
      const std::string dir = std::string("/sys/fs/cgroup/") + c + "/docker/" + id_;
      std::error_code ec;
      std::filesystem::create_directories(dir, ec);
      if (ec) GTEST_SKIP() << "no v1 " << c << " controller here: " << ec.message();
      made_.push_back(dir);
    }
    std::ofstream(made_[0] + "/cpu.cfs_period_us") << "100000";
    std::ofstream(made_[0] + "/cpu.cfs_quota_us") << "50000";
    child_ = ::fork();
    if (child_ == 0) {
      for (const auto& d : made_) std::ofstream(d + "/cgroup.procs") << ::getpid();
      volatile double x = 0;
      for (;;) x = x + 1;
    }
    socket_ = "vigil-top-test-" + std::to_string(::getpid());
  }
  void TearDown() override {
    if (!socket_.empty()) testing::Run({"tmux", "-L", socket_, "kill-server"});
    if (child_ > 0) {
      ::kill(child_, SIGKILL);
      ::waitpid(child_, nullptr, 0);
    }
    for (const auto& d : made_) ::rmdir(d.c_str());
  }
  std::string Pane() {
    return testing::Run({"tmux", "-L", socket_, "capture-pane", "-p", "-t", "top"}).out;
  }
  void Keys(std::vector<std::string> keys) {
    std::vector<std::string> argv = {"tmux", "-L", socket_, "send-keys", "-t", "top"};
    argv.insert(argv.end(), keys.begin(), keys.end());
    testing::Run(argv);
  }
  // The container's CPU% and THROTTLE% columns, or -1 when its line is not shown.
  std::pair<double, double> Columns(const std::string& pane) {
    std::istringstream lines(pane);
    for (std::string line; std::getline(lines, line);) {
      if (!line.starts_with(id_.substr(0, 12))) continue;
      std::istringstream fields(line);
      std::string name, cpu, mem, mem_pct, throttle;
      fields >> name >> cpu >> mem >> mem_pct >> throttle;
      return {std::stod(cpu), std::stod(throttle)};
    }
    return {-1, -1};
  }
  std::string id_;
  std::vector<std::string> made_;
  pid_t child_ = 0;
  std::string socket_;
};

TEST_F(TopTest, ShowsTheBusyContainerAndFollowsKeys) {
  auto started = testing::Run({"tmux", "-L", socket_, "new-session", "-d", "-s", "top", "-x", "160",
                               "-y", "40", std::string(VIGIL_BINARY) + " top --interval 500ms"});
  ASSERT_EQ(started.exit_code, 0) << started.err;
  std::string pane;
  ASSERT_TRUE(testing::WaitFor([&] {
    pane = Pane();
    auto [cpu, throttle] = Columns(pane);
    return cpu > 30 && cpu < 70 && throttle > 20;
  })) << "a burner capped at half a CPU: about 50% CPU, mostly throttled\n"
      << pane;
  EXPECT_NE(pane.find("sorted by CPU"), std::string::npos) << pane;
  Keys({"m"});
  ASSERT_TRUE(testing::WaitFor([&] { return Pane().find("sorted by MEM\n") != std::string::npos; }))
      << Pane();
  Keys({"m"});
  ASSERT_TRUE(testing::WaitFor([&] {
    return Pane().find("sorted by MEM (reversed)") != std::string::npos;
  })) << Pane();
  Keys({"/", "nomatch", "Enter"});
  ASSERT_TRUE(testing::WaitFor([&] {
    pane = Pane();
    return pane.find("0 containers") != std::string::npos &&
           pane.find("filter: nomatch") != std::string::npos && Columns(pane).first < 0;
  })) << pane;
  Keys({"/", id_.substr(0, 8), "Enter"});
  ASSERT_TRUE(testing::WaitFor([&] { return Columns(Pane()).first >= 0; })) << Pane();
  Keys({"q"});
  EXPECT_TRUE(testing::WaitFor([&] {
    return testing::Run({"tmux", "-L", socket_, "has-session", "-t", "top"}).exit_code != 0;
  })) << "q quits";
}

}  // namespace
}  // namespace vigil
