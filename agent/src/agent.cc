#include "vigil/agent/agent.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "container_collector.h"
#include "node_collector.h"
#include "vigil/common/daemon.h"
#include "vigil/common/self_metrics.h"

namespace vigil::agent {
namespace {

struct AgentMetrics {
  prometheus::Histogram* pass_seconds;
  prometheus::Counter* missing_files;
  prometheus::Gauge* series;
  static AgentMetrics& Get() {
    static AgentMetrics m = [] {
      auto& reg = SelfMetrics();
      AgentMetrics a;
      a.pass_seconds = &prometheus::BuildHistogram()
                            .Name("vigil_agent_collection_duration_seconds")
                            .Help("Wall time of one collection pass (containers and node).")
                            .Register(reg)
                            .Add({}, LatencyBuckets());
      a.missing_files = &prometheus::BuildCounter()
                             .Name("vigil_agent_missing_files_total")
                             .Help(
                                 "cgroup and proc files that could not be read (a container "
                                 "that exited mid-pass, a kernel without the file).")
                             .Register(reg)
                             .Add({});
      a.series = &prometheus::BuildGauge()
                      .Name("vigil_agent_series")
                      .Help("Series in the agent's current view.")
                      .Register(reg)
                      .Add({});
      return a;
    }();
    return m;
  }
};

}  // namespace

Agent::Agent(const Config& config, std::shared_ptr<FileSystem> fs, std::shared_ptr<Clock> clock)
    : config_(config), fs_(std::move(fs)), clock_(std::move(clock)) {
  const auto& a = config_.agent;
  auto mountinfo = fs_->ReadFile(a.proc_root + "/self/mountinfo");
  Result<CgroupMounts> mounts =
      mountinfo.ok() ? ParseCgroupMounts(*mountinfo, a.cgroup_root) : mountinfo.status();
  if (mounts.ok()) {
    spdlog::info("agent: cgroup {} layout under {}", ModeName(mounts->mode), a.cgroup_root);
    const std::string logs =
        KubeletLogDir(a.log_root.empty() ? "/var/log/pods/*/*/*.log" : a.log_root.front());
    containers_ = std::make_unique<ContainerCollector>(fs_, *mounts, logs);
  } else {
    spdlog::warn("agent: no container statistics: {}", mounts.status().ToString());
  }
  node_ = std::make_unique<NodeCollector>(fs_, a.proc_root);
  AgentMetrics::Get();
}

Agent::~Agent() { Stop(); }

void Agent::Collect() {
  auto& m = AgentMetrics::Get();
  const auto start = std::chrono::steady_clock::now();
  auto view = std::make_shared<std::vector<expo::Family>>();
  uint64_t missing_before = 0, missing_after = 0;
  if (containers_) {
    missing_before += containers_->missing_files();
    auto families = containers_->Collect();
    if (families.ok()) {
      *view = std::move(*families);
    } else {
      spdlog::warn("agent: container statistics: {}", families.status().ToString());
    }
    missing_after += containers_->missing_files();
  }
  missing_before += node_->missing_files();
  for (auto& f : node_->Collect()) view->push_back(std::move(f));
  missing_after += node_->missing_files();
  size_t series = 0;
  for (const auto& f : *view) series += f.samples.size();
  m.series->Set(static_cast<double>(series));
  m.missing_files->Increment(static_cast<double>(missing_after - missing_before));
  m.pass_seconds->Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  std::lock_guard lock(mu_);
  view_ = std::move(view);
}

void Agent::Start() {
  Collect();
  Schedule();
}

void Agent::Schedule() {
  std::lock_guard lock(timer_mu_);
  if (stopped_) return;
  timer_ = clock_->ScheduleAfter(config_.agent.interval, [this] {
    Collect();
    Schedule();
  });
}

void Agent::Stop() {
  std::lock_guard lock(timer_mu_);
  stopped_ = true;
  clock_->Cancel(timer_);
}

std::string Agent::Exposition(expo::Format format) {
  std::shared_ptr<const std::vector<expo::Family>> view;
  {
    std::lock_guard lock(mu_);
    view = view_;
  }
  const std::string self = SerializeSelfMetrics();
  if (format == expo::Format::kText) {
    return (view ? expo::Write(*view, format) : std::string()) + self;
  }
  // OpenMetrics: the self metrics as families too, one document with one # EOF.
  std::vector<expo::Family> all = view ? *view : std::vector<expo::Family>{};
  if (auto own = expo::Parse(self, expo::Format::kText); own.ok()) {
    for (auto& f : *own) all.push_back(std::move(f));
  }
  return expo::Write(all, format);
}

void Agent::AddRoutes(http::Router& router) {
  router.Get("/metrics", [this](const http::Request& req, http::Response& res) {
    const bool om =
        req.Header("Accept").find("application/openmetrics-text") != std::string_view::npos;
    const expo::Format format = om ? expo::Format::kOpenMetrics : expo::Format::kText;
    res.status = 200;
    res.content_type = std::string(expo::ContentType(format));
    res.body = Exposition(format);
  });
}

Status Run(const Config& config) {
  Agent agent(config, RealFileSystem(), RealClock());
  agent.Start();
  http::Router router;
  agent.AddRoutes(router);  // before the standard routes: this /metrics is the agent's view
  Status st = ServeUntilSignal(config, "agent", ServerOptionsFrom(config, "127.0.0.1:9101"),
                               std::move(router));
  agent.Stop();
  return st;
}

}  // namespace vigil::agent
