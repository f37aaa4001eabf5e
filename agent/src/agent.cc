#include "vigil/agent/agent.h"

#include <spdlog/fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <optional>

#include "container_collector.h"
#include "log_tailer.h"
#include "node_collector.h"
#include "remote_write_queue.h"
#include "scraper.h"
#include "vigil/common/daemon.h"
#include "vigil/common/self_metrics.h"
#include "vigil/common/stale.h"

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

std::string HostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "localhost";
  return buf;
}

}  // namespace

// One kind of series the agent ships, with its constant labels and its last batch's series.
struct ShipSource {
  SeriesWriter writer;
  StalenessTracker stale;
};

Agent::Agent(const Config& config, std::shared_ptr<FileSystem> fs, std::shared_ptr<Clock> clock)
    : config_(config), fs_(std::move(fs)), clock_(std::move(clock)) {
  const auto& a = config_.agent;
  auto enabled = [&](std::string_view name) {
    return std::find(a.collectors.begin(), a.collectors.end(), name) != a.collectors.end();
  };
  for (const auto& c : a.collectors) {
    if (c != "containers" && c != "node") {
      spdlog::warn("agent: unknown collector \"{}\" (known: containers, node)", c);
    }
  }
  if (enabled("containers")) {
    auto containers = ContainerCollector::FromConfig(fs_, a);
    if (containers.ok()) {
      containers_ = std::move(*containers);
      spdlog::info("agent: cgroup {} layout under {}", ModeName(containers_->mounts().mode),
                   a.cgroup_root);
    } else {
      spdlog::warn("agent: no container statistics: {}", containers.status().ToString());
    }
  }
  if (enabled("node")) {
    node_ = std::make_unique<NodeCollector>(
        fs_, NodeCollector::Options{a.proc_root, a.sys_root, a.rootfs, clock_});
  }
  AgentMetrics::Get();
}

Agent::~Agent() { Stop(); }

void Agent::Collect() {
  std::lock_guard pass(collect_mu_);
  auto& m = AgentMetrics::Get();
  const auto start = std::chrono::steady_clock::now();
  const int64_t t_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_->Now().time_since_epoch())
          .count();
  // The view before last is filled again when no reader holds it any more: its families, their
  // strings and the text keep their room, so a steady pass allocates little.
  std::shared_ptr<View> view = std::move(spare_view_);
  if (!view || view.use_count() != 1) view = std::make_shared<View>();
  // The last reader let go with a release; this orders its reads before the writes below.
  std::atomic_thread_fence(std::memory_order_acquire);
  view->containers.reset();
  uint64_t missing_before = 0, missing_after = 0;
  if (containers_) {
    missing_before += containers_->missing_files();
    auto containers = containers_->Collect();
    if (containers.ok()) {
      view->containers = std::move(*containers);
    } else {
      spdlog::warn("agent: container statistics: {}", containers.status().ToString());
    }
    missing_after += containers_->missing_files();
  }
  if (node_) {
    missing_before += node_->missing_files();
    node_->Collect(view->node);
    view->node_text.clear();
    node_->AppendText(view->node_text, view->node);
    missing_after += node_->missing_files();
  }
  size_t series = view->containers ? view->containers->series() : 0;
  for (const auto& f : view->node) series += f.samples.size();
  m.series->Set(static_cast<double>(series));
  m.missing_files->Increment(static_cast<double>(missing_after - missing_before));
  m.pass_seconds->Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  if (shipper_) Ship(*view, t_ms);
  std::lock_guard lock(mu_);
  std::swap(view_, view);
  spare_view_ = std::move(view);
}

void Agent::Ship(const View& view, int64_t t_ms) {
  // Written straight into protobuf bytes and queued in records of ~512 KiB, so a pass of 50k
  // series never holds more than that (a WriteRequest object of them would take ~100 MiB).
  constexpr size_t kRecordBytes = 512 << 10;
  remote::WriteRequestEncoder batch;
  size_t series = 0;
  auto flush = [&](bool force) {
    if (batch.samples() == 0 || (!force && batch.bytes().size() < kRecordBytes)) return;
    series += batch.samples();
    if (Status st = shipper_->Enqueue(batch); !st.ok() && st.code() != StatusCode::kCancelled) {
      spdlog::error("agent: queueing {} series for remote_write: {}", batch.samples(),
                    st.ToString());
    }
    batch.Clear();
  };
  // Containers: from the compact view, with stale markers for the series of the last pass that
  // are gone (found by key, without building label sets).
  if (view.containers) {
    const SeriesWriter& writer = sources_[0]->writer;
    std::vector<uint64_t> keys;
    keys.reserve(view.containers->series());
    view.containers->ForEachSeries([&](std::span<const LabelView> labels, double v, uint64_t key) {
      writer.Add(labels, t_ms, v, batch);
      keys.push_back(key);
      flush(false);
    });
    std::sort(keys.begin(), keys.end());
    if (shipped_containers_) {
      shipped_containers_->ForEachSeries(
          [&](std::span<const LabelView> labels, double, uint64_t key) {
            if (!std::binary_search(keys.begin(), keys.end(), key)) {
              writer.Add(labels, t_ms, StaleNaN(), batch);
              flush(false);
            }
          });
    }
    shipped_containers_ = view.containers;
  }
  // The node's and the agent's own series are few: as WriteRequest messages, appended.
  prometheus::WriteRequest small;
  auto add = [&](ShipSource& src, const std::vector<expo::Family>& families) {
    std::vector<Labels> labels;
    for (const auto& f : families) {
      for (const auto& s : f.samples) {
        src.writer.Add(s.labels, s.timestamp_ms.value_or(t_ms), s.value, small);
        labels.push_back(s.labels);
      }
    }
    src.stale.Update(std::move(labels), t_ms, src.writer, small);
  };
  add(*sources_[1], view.node);
  auto own = expo::Parse(SerializeSelfMetrics(), expo::Format::kText);
  if (own.ok()) add(*sources_[2], *own);
  size_t samples = 0;
  for (const auto& ts : small.timeseries()) samples += static_cast<size_t>(ts.samples_size());
  batch.Append(small.SerializeAsString(), samples);
  flush(true);
  spdlog::debug("agent: queued {} series for remote_write", series);
}

Status Agent::Start() {
  const auto& a = config_.agent;
  VIGIL_ASSIGN_OR_RETURN(Labels external, ParseLabelPairs(a.external_labels));
  std::optional<ScrapeConfigFile> scrape;
  if (!a.scrape_config.empty()) {
    VIGIL_ASSIGN_OR_RETURN(std::string text, fs_->ReadFile(a.scrape_config, 16 << 20));
    VIGIL_ASSIGN_OR_RETURN(scrape, ParseScrapeConfig(text, a.scrape_config, a.interval));
  }
  if (!a.remote_write.empty()) {
    const std::string instance = a.instance.empty() ? HostName() : a.instance;
    auto source = [&](std::initializer_list<Label> own) {
      LabelsBuilder b(external);
      for (const auto& l : own) b.Set(l.name, l.value);
      b.Set("instance", instance);
      auto s = std::make_unique<ShipSource>();
      s->writer = SeriesWriter(b.Build());
      return s;
    };
    sources_.push_back(source({{"job", "kubelet"}, {"metrics_path", "/metrics/cadvisor"}}));
    sources_.push_back(source({{"job", "node-exporter"}}));
    sources_.push_back(source({{"job", "vigil-agent"}}));
    RemoteWriteOptions o;
    o.urls = a.remote_write;
    o.kafka_options = a.kafka_options;
    o.dir = config_.data_dir + "/agent-queue";
    o.max_bytes = a.queue_max_bytes;
    o.timeout = a.remote_write_timeout;
    o.max_backoff = a.remote_write_max_backoff;
    VIGIL_ASSIGN_OR_RETURN(shipper_, RemoteWriteQueue::Open(fs_, std::move(o)));
    shipper_->Start();
    spdlog::info("agent: shipping by remote_write to {} URL(s), queue in {}/agent-queue",
                 a.remote_write.size(), config_.data_dir);
  }
  if (scrape) {
    if (!shipper_) {
      spdlog::warn("agent: scraping {} job(s) but no --remote-write is set: the samples go nowhere",
                   scrape->jobs.size());
    }
    RemoteWriteQueue* out = shipper_.get();
    scraper_ = std::make_unique<Scraper>(
        fs_, std::move(*scrape), external, [out](prometheus::WriteRequest&& batch) {
          if (!out) return;
          if (Status st = out->Enqueue(batch); !st.ok() && st.code() != StatusCode::kCancelled) {
            spdlog::error("agent: queueing a scrape: {}", st.ToString());
          }
        });
    scraper_->Start();
    spdlog::info("agent: scraping {} target(s) from {}", scraper_->targets(), a.scrape_config);
  }
  // Logs: one tailer per push URL, each with its own positions (a receiver that is down holds
  // back only its own reading).
  for (size_t i = 0; i < a.log_push.size(); ++i) {
    LogTailerOptions o;
    o.globs = a.log_root;
    o.push_url = a.log_push[i];
    o.positions_file = config_.data_dir + "/log-positions-" + std::to_string(i) + ".json";
    LabelsBuilder b(external);
    b.Set("node", a.instance.empty() ? HostName() : a.instance);
    VIGIL_ASSIGN_OR_RETURN(Labels extra, ParseLabelPairs(a.log_labels));
    for (const Label& l : extra) b.Set(l.name, l.value);
    o.static_labels = b.Build();
    VIGIL_RETURN_IF_ERROR(fs_->CreateDirs(config_.data_dir));
    tailers_.push_back(std::make_unique<LogTailer>(fs_, clock_, std::move(o)));
    tailers_.back()->Start();
    spdlog::info("agent: tailing {} to {}", fmt::join(a.log_root, ", "), a.log_push[i]);
  }
  Collect();
  Schedule();
  return Status::Ok();
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
  {
    std::lock_guard lock(timer_mu_);
    stopped_ = true;
    clock_->Cancel(timer_);
  }
  std::lock_guard pass(collect_mu_);  // a pass under way finishes first
  if (scraper_) scraper_->Stop();
  for (auto& t : tailers_) t->Stop();
  if (shipper_) shipper_->Stop();
}

std::string Agent::Exposition(expo::Format format) {
  std::shared_ptr<const View> view;
  {
    std::lock_guard lock(mu_);
    view = view_;
  }
  std::string out;
  out.reserve(exposition_bytes_.load(std::memory_order_relaxed) + 4096);
  if (view && view->containers) view->containers->AppendTo(out, format);
  if (view && format == expo::Format::kText) {
    out += view->node_text;
  } else if (view) {
    expo::Append(out, view->node, format);
  }
  AppendSelfMetrics(out, format);
  expo::AppendEnd(out, format);
  exposition_bytes_.store(out.size(), std::memory_order_relaxed);
  return out;
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
  VIGIL_RETURN_IF_ERROR(agent.Start());
  http::Router router;
  agent.AddRoutes(router);  // before the standard routes: this /metrics is the agent's view
  Status st = ServeUntilSignal(config, "agent", ServerOptionsFrom(config, "127.0.0.1:9101"),
                               std::move(router));
  agent.Stop();
  return st;
}

}  // namespace vigil::agent
