// The Agent as a whole on fixture trees: what it ships by remote_write (the jobs, the external
// labels, stale markers when a container goes away) and what /metrics serves, in both formats,
// from the compact container view.

#include "vigil/agent/agent.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>

#include "testing.h"
#include "vigil/common/http_server.h"
#include "vigil/common/remote_write.h"
#include "vigil/common/stale.h"

namespace vigil::agent {
namespace {

namespace fs = std::filesystem;

void Write(const std::string& path, const std::string& text) { testing::WriteFile(path, text); }

void Cgroup(const std::string& dir) {
  Write(dir + "/cpu.stat", "usage_usec 2000000\nuser_usec 1\nsystem_usec 1\n");
  Write(dir + "/memory.current", "1000\n");
  Write(dir + "/memory.stat", "anon 1\nfile 2\ninactive_file 100\n");
  Write(dir + "/io.stat", "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0\n");
}

// Records every series written to it: labels (as text) -> values in arrival order.
class Receiver {
 public:
  Receiver() {
    http::Router router;
    router.Post("/api/v1/write", [this](const http::Request& req, http::Response& res) {
      auto w = remote::Decode(req.body);
      if (!w.ok()) {
        res.status = 400;
        return;
      }
      std::lock_guard lock(mu_);
      for (const auto& ts : w->timeseries()) {
        std::vector<Label> pairs;
        for (const auto& l : ts.labels()) pairs.push_back({l.name(), l.value()});
        for (const auto& s : ts.samples()) {
          series_[Labels::FromSorted(pairs).ToString()].push_back(s.value());
        }
      }
      res.status = 204;
    });
    http::ServerOptions o;
    o.listen = "127.0.0.1:0";
    server_ = std::move(http::HttpServer::Start(o, std::move(router))).value();
  }
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(server_->port()) + "/api/v1/write";
  }
  std::map<std::string, std::vector<double>> series() {
    std::lock_guard lock(mu_);
    return series_;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::vector<double>> series_;
  std::unique_ptr<http::HttpServer> server_;
};

TEST(AgentShipTest, ContainersAndNodeShipWithJobsAndStaleMarkers) {
  testing::TempDir dir;
  const std::string cg = dir.Join("cg");
  const std::string id = std::string(64, 'a');
  Cgroup(cg);
  Cgroup(cg + "/docker/" + id);
  Write(dir.Join("proc/self/mountinfo"), "1 0 0:1 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
  Write(dir.Join("proc/loadavg"), "0.50 0.25 0.10 2/300 12345\n");
  Receiver receiver;
  Config config;
  config.data_dir = dir.Join("data");
  config.agent.proc_root = dir.Join("proc");
  config.agent.sys_root = dir.Join("sys");
  config.agent.cgroup_root = cg;
  config.agent.log_root = {dir.Join("logs/pods/*/*/*.log")};
  config.agent.runtime_dirs = {dir.Join("none")};
  config.agent.interval = std::chrono::hours(1);  // passes are driven by the test
  config.agent.remote_write = {receiver.url()};
  config.agent.external_labels = {"cluster=c1"};
  config.agent.instance = "node-1";
  Agent agent(config, RealFileSystem(), RealClock());
  ASSERT_TRUE(agent.Start().ok());
  const std::string cpu =
      "{__name__=\"container_cpu_usage_seconds_total\", cluster=\"c1\", "
      "cpu=\"total\", id=\"/docker/" +
      id +
      "\", instance=\"node-1\", job=\"kubelet\", "
      "metrics_path=\"/metrics/cadvisor\", name=\"" +
      id + "\"}";
  const std::string load =
      "{__name__=\"node_load1\", cluster=\"c1\", instance=\"node-1\", job=\"node-exporter\"}";
  ASSERT_TRUE(testing::WaitFor([&] { return receiver.series().count(cpu) == 1; }));
  auto got = receiver.series();
  EXPECT_EQ(got[cpu], std::vector<double>{2});
  EXPECT_EQ(got[load], std::vector<double>{0.5});
  const std::string io =
      "{__name__=\"container_fs_reads_bytes_total\", cluster=\"c1\", "
      "device=\"8:0\", id=\"/docker/" +
      id +
      "\", instance=\"node-1\", job=\"kubelet\", "
      "metrics_path=\"/metrics/cadvisor\", name=\"" +
      id + "\"}";
  EXPECT_EQ(got[io], std::vector<double>{1});

  // The container exits: the next pass ships a stale marker for each of its series.
  fs::remove_all(cg + "/docker/" + id);
  agent.Collect();
  ASSERT_TRUE(testing::WaitFor([&] { return receiver.series()[cpu].size() == 2; }));
  got = receiver.series();
  EXPECT_TRUE(IsStaleNaN(got[cpu][1]));
  ASSERT_EQ(got[io].size(), 2u);
  EXPECT_TRUE(IsStaleNaN(got[io][1]));
  EXPECT_EQ(got[load].size(), 2u);
  EXPECT_FALSE(IsStaleNaN(got[load][1])) << "the node's series go on";

  // /metrics: the compact view in both formats parses to the same series.
  for (auto format : {expo::Format::kText, expo::Format::kOpenMetrics}) {
    auto families = expo::Parse(agent.Exposition(format), format);
    ASSERT_TRUE(families.ok()) << families.status().ToString();
    size_t root_cpu = 0;
    for (const auto& f : *families) {
      for (const auto& s : f.samples) {
        root_cpu += s.labels.MetricName() == "container_cpu_usage_seconds_total" &&
                    s.labels.Get("id") == "/" && s.labels.Get("cpu") == "total";
      }
    }
    EXPECT_EQ(root_cpu, 1u);
  }
  agent.Stop();
}

}  // namespace
}  // namespace vigil::agent
