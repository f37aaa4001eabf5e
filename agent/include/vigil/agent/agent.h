#pragma once

// vigil agent: the node collector (cgroup containers as cAdvisor names them, the node as
// node_exporter names it) served at /metrics. Scraping other targets, remote_write shipping and
// the log tailer are issue #5's and #6's remaining parts.

#include <memory>
#include <mutex>
#include <string>

#include "vigil/common/clock.h"
#include "vigil/common/config.h"
#include "vigil/common/exposition.h"
#include "vigil/common/file_system.h"
#include "vigil/common/http_server.h"
#include "vigil/common/status.h"

namespace vigil::agent {

class ContainerCollector;
class NodeCollector;

// Collects at the configured interval and keeps the latest pass; /metrics serves it.
// Thread safety: Collect() runs on one thread at a time (the timer's); Exposition() from any.
class Agent {
 public:
  Agent(const Config& config, std::shared_ptr<FileSystem> fs, std::shared_ptr<Clock> clock);
  ~Agent();

  // One collection pass, kept as the current view.
  void Collect();
  // Collects now and then every interval until Stop().
  void Start();
  void Stop();
  // The current view plus the agent's own metrics, in `format`.
  std::string Exposition(expo::Format format);
  // GET /metrics, by the Accept header.
  void AddRoutes(http::Router& router);

 private:
  void Schedule();

  Config config_;
  std::shared_ptr<FileSystem> fs_;
  std::shared_ptr<Clock> clock_;
  std::unique_ptr<ContainerCollector> containers_;  // nullptr without a cgroup mount
  std::unique_ptr<NodeCollector> node_;
  std::mutex mu_;
  std::shared_ptr<const std::vector<expo::Family>> view_;
  std::mutex timer_mu_;
  bool stopped_ = false;
  Clock::TimerId timer_ = 0;
};

// Runs `vigil agent` until SIGINT or SIGTERM.
Status Run(const Config& config);

}  // namespace vigil::agent
