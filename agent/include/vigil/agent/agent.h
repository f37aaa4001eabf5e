#pragma once

// vigil agent: the node collector (cgroup containers as cAdvisor names them, the node as
// node_exporter names it) served at /metrics and shipped by remote_write from a durable queue.
// The series it ships carry the jobs that kube-prometheus' rules and dashboards select:
// containers job="kubelet", metrics_path="/metrics/cadvisor"; node job="node-exporter"; the
// agent's own job="vigil-agent"; all with instance=<--instance or host name> and the external
// labels. With --scrape-config it also scrapes other exporters (scraper.h) into the same queue.

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "vigil/common/clock.h"
#include "vigil/common/config.h"
#include "vigil/common/exposition.h"
#include "vigil/common/file_system.h"
#include "vigil/common/http_server.h"
#include "vigil/common/status.h"

namespace vigil::agent {

class ContainerCollector;
struct ContainerView;
class NodeCollector;
class RemoteWriteQueue;
class Scraper;
class LogTailer;
struct ShipSource;

// Collects at the configured interval and keeps the latest pass; /metrics serves it.
// Thread safety: Collect() runs on one thread at a time (the timer's); Exposition() from any.
class Agent {
 public:
  Agent(const Config& config, std::shared_ptr<FileSystem> fs, std::shared_ptr<Clock> clock);
  ~Agent();

  // One collection pass, kept as the current view (and queued for remote_write once started).
  void Collect();
  // Opens the remote_write queue (<data_dir>/agent-queue) when URLs are configured and starts
  // its senders, starts the scrapes of --scrape-config; then collects now and every interval
  // until Stop(). Fails on a bad external label, scrape config or queue.
  Status Start();
  void Stop();
  // The current view plus the agent's own metrics, in `format`.
  std::string Exposition(expo::Format format);
  // GET /metrics, by the Accept header.
  void AddRoutes(http::Router& router);

 private:
  void Schedule();
  // The current view: containers in their compact form, the node's families.
  struct View {
    std::shared_ptr<const ContainerView> containers;
    std::vector<expo::Family> node;
    std::string node_text;  // node in the text format, written with the pass
  };
  void Ship(const View& view, int64_t t_ms);

  Config config_;
  std::shared_ptr<FileSystem> fs_;
  std::shared_ptr<Clock> clock_;
  std::unique_ptr<ContainerCollector> containers_;  // nullptr without a cgroup mount or when off
  std::unique_ptr<NodeCollector> node_;             // nullptr when off
  std::unique_ptr<RemoteWriteQueue> shipper_;
  std::unique_ptr<Scraper> scraper_;                  // with --scrape-config
  std::vector<std::unique_ptr<LogTailer>> tailers_;   // one per --log-push URL
  std::vector<std::unique_ptr<ShipSource>> sources_;  // containers, node, self
  std::mutex collect_mu_;  // one pass at a time; Stop() waits for the one under way
  std::mutex mu_;
  std::shared_ptr<View> view_;               // the readers' view (they take it as const)
  std::shared_ptr<View> spare_view_;         // the one before, to be filled again (see Collect)
  std::atomic<size_t> exposition_bytes_{0};  // the last exposition's size, to reserve
  std::shared_ptr<const ContainerView> shipped_containers_;  // for stale markers
  std::mutex timer_mu_;
  bool stopped_ = false;
  Clock::TimerId timer_ = 0;
};

// Runs `vigil agent` until SIGINT or SIGTERM.
Status Run(const Config& config);

}  // namespace vigil::agent
