#include "scraper.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <unordered_set>

#include "vigil/common/duration.h"
#include "vigil/common/exposition.h"
#include "vigil/common/http_util.h"
#include "vigil/common/self_metrics.h"

namespace vigil::agent {
namespace {

// What Prometheus 2.42 sends: OpenMetrics preferred, the text format accepted.
constexpr std::string_view kAccept =
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
constexpr uint64_t kDefaultBodyLimit = 64ULL << 20;

struct ScrapeMetrics {
  prometheus::Family<prometheus::Counter>* scrapes;
  prometheus::Family<prometheus::Gauge>* targets;
  prometheus::Family<prometheus::Histogram>* seconds;
  prometheus::Family<prometheus::Counter>* samples;
  prometheus::Counter* file_sd_errors;
  static ScrapeMetrics& Get() {
    static ScrapeMetrics m = [] {
      auto& reg = SelfMetrics();
      ScrapeMetrics s;
      s.scrapes = &prometheus::BuildCounter()
                       .Name("vigil_agent_scrapes_total")
                       .Help(
                           "Scrapes of other targets, by scrape_job and result: ok, connection, "
                           "timeout, http_status, body_size, parse, sample_limit.")
                       .Register(reg);
      s.targets = &prometheus::BuildGauge()
                       .Name("vigil_agent_scrape_targets")
                       .Help("Targets being scraped, by scrape_job.")
                       .Register(reg);
      s.seconds = &prometheus::BuildHistogram()
                       .Name("vigil_agent_scrape_duration_seconds")
                       .Help("Time of one scrape, by scrape_job.")
                       .Register(reg);
      s.samples = &prometheus::BuildCounter()
                       .Name("vigil_agent_scrape_samples_total")
                       .Help("Samples kept from scrapes (after metric relabeling), by scrape_job.")
                       .Register(reg);
      s.file_sd_errors = &prometheus::BuildCounter()
                              .Name("vigil_agent_file_sd_read_errors_total")
                              .Help("file_sd files that could not be read or parsed.")
                              .Register(reg)
                              .Add({});
      return s;
    }();
    return m;
  }
};

bool HasPort(std::string_view addr) {
  if (addr.starts_with("[")) {
    const size_t close = addr.find(']');
    return close != std::string_view::npos && close + 1 < addr.size() && addr[close + 1] == ':';
  }
  return addr.find(':') != std::string_view::npos;
}

// The target labels onto a sample's, as Prometheus' mutateSampleLabels.
void ApplyTargetLabels(const Labels& target, bool honor, LabelsBuilder& lb) {
  for (const auto& l : target) {
    const std::string_view existing = lb.Get(l.name);
    if (honor) {
      if (existing.empty()) lb.Set(l.name, l.value);
      continue;
    }
    if (!existing.empty()) {
      std::string name = "exported_" + l.name;
      while (!lb.Get(name).empty()) name = "exported_" + name;
      lb.Set(name, std::string(existing));
    }
    lb.Set(l.name, l.value);
  }
}

http::ClientOptions ClientFor(const ScrapeJob& job) {
  http::ClientOptions o;
  o.request_timeout = job.timeout;
  o.connect_timeout = job.timeout;
  o.max_response_bytes = job.body_size_limit > 0 ? job.body_size_limit : kDefaultBodyLimit;
  o.accept_gzip = true;
  o.user_agent = "vigil-agent";
  o.max_idle_per_host = 1;
  return o;
}

}  // namespace

std::vector<ScrapeTarget> PopulateTargets(const std::shared_ptr<const ScrapeJob>& job,
                                          const TargetGroup& group) {
  std::vector<ScrapeTarget> out;
  for (const auto& address : group.targets) {
    LabelsBuilder lb(group.labels);
    lb.Set("__address__", address);
    if (!group.source.empty()) lb.Set("__meta_filepath", group.source);
    auto set_default = [&](std::string_view name, std::string_view value) {
      if (lb.Get(name).empty()) lb.Set(name, value);
    };
    set_default("job", job->job_name);
    set_default("__scheme__", job->scheme);
    set_default("__metrics_path__", job->metrics_path);
    set_default("__scrape_interval__", FormatDuration(job->interval));
    set_default("__scrape_timeout__", FormatDuration(job->timeout));
    for (const auto& [name, values] : job->params) {
      if (!values.empty()) set_default("__param_" + name, values.front());
    }
    if (!Relabel(job->relabel_configs, lb)) continue;
    std::string addr(lb.Get("__address__"));
    if (addr.empty()) {
      spdlog::warn("agent: scrape job {}: target {} has no __address__ after relabeling; skipped",
                   job->job_name, address);
      continue;
    }
    if (addr.find('/') != std::string::npos || addr.find('@') != std::string::npos) {
      spdlog::warn("agent: scrape job {}: \"{}\" is not a host:port address; skipped",
                   job->job_name, addr);
      continue;
    }
    const std::string scheme(lb.Get("__scheme__"));
    if (!HasPort(addr)) {  // as Prometheus 2.42 does
      addr += scheme == "https" ? ":443" : ":80";
      lb.Set("__address__", addr);
    }
    if (lb.Get("instance").empty()) lb.Set("instance", addr);
    http::Params params;
    std::map<std::string, std::vector<std::string>> all = job->params;
    for (const auto& l : lb.pairs()) {
      if (!l.name.starts_with("__param_")) continue;
      auto& values = all[l.name.substr(8)];
      if (values.empty()) {
        values.push_back(l.value);
      } else {
        values[0] = l.value;
      }
    }
    for (const auto& [name, values] : all) {
      for (const auto& v : values) params.emplace_back(name, v);
    }
    ScrapeTarget t;
    t.job = job;
    t.url = scheme + "://" + addr + std::string(lb.Get("__metrics_path__"));
    if (!params.empty()) t.url += "?" + http::EncodeQuery(params);
    std::vector<std::string> internal;
    for (const auto& l : lb.pairs()) {
      if (l.name.starts_with("__")) internal.push_back(l.name);
    }
    for (const auto& n : internal) lb.Del(n);
    t.labels = lb.Build();
    if (Status st = ValidateLabels(t.labels, false); !st.ok()) {
      spdlog::warn("agent: scrape job {}: target {}: {}; skipped", job->job_name, addr,
                   st.ToString());
      continue;
    }
    t.id = t.labels.Hash() ^ (std::hash<std::string>{}(t.url) * 31) ^
           std::hash<std::string>{}(job->job_name);
    out.push_back(std::move(t));
  }
  return out;
}

ScrapeLoop::ScrapeLoop(ScrapeTarget target, Labels external, ScrapeSink sink)
    : target_(std::move(target)),
      writer_(std::move(external)),
      sink_(std::move(sink)),
      client_(ClientFor(*target_.job)) {
  auto& m = ScrapeMetrics::Get();
  const std::string& job = target_.job->job_name;
  for (const char* r :
       {"ok", "connection", "timeout", "http_status", "body_size", "parse", "sample_limit"}) {
    scrapes_by_result_[r] = &m.scrapes->Add({{"scrape_job", job}, {"result", r}});
  }
  seconds_ = &m.seconds->Add({{"scrape_job", job}}, LatencyBuckets());
  samples_ = &m.samples->Add({{"scrape_job", job}});
}

bool ScrapeLoop::ScrapeOnce(int64_t t_ms) {
  const ScrapeJob& job = *target_.job;
  const auto start = std::chrono::steady_clock::now();
  http::ClientRequest req;
  req.url = target_.url;
  req.headers = {{"Accept", std::string(kAccept)},
                 {"X-Prometheus-Scrape-Timeout-Seconds",
                  std::to_string(std::chrono::duration<double>(job.timeout).count())}};
  auto res = client_.Do(req);
  std::string result = "ok";
  last_error_.clear();
  prometheus::WriteRequest batch;
  std::vector<Labels> series;
  // Series with a timestamp of their own get no stale marker when they go, as in Prometheus:
  // the exposition said when they were true.
  std::vector<bool> own_timestamp;
  uint64_t scraped = 0;
  std::vector<uint64_t> hashes;
  if (!res.ok()) {
    last_error_ = res.status().ToString();
    result = res.status().code() == StatusCode::kDeadlineExceeded ? "timeout"
             : res.status().code() == StatusCode::kOutOfRange     ? "body_size"
                                                                  : "connection";
  } else if (res->status != 200) {
    last_error_ = "server returned HTTP status " + std::to_string(res->status);
    result = "http_status";
  } else {
    const expo::Format format = expo::FormatFromContentType(res->Header("Content-Type"));
    auto families = expo::Parse(res->body, format);
    if (!families.ok()) {
      last_error_ = families.status().ToString();
      result = "parse";
    } else {
      std::unordered_set<uint64_t> seen;
      for (const auto& f : *families) {
        for (const auto& s : f.samples) {
          ++scraped;
          LabelsBuilder lb(s.labels);
          ApplyTargetLabels(target_.labels, job.honor_labels, lb);
          if (!Relabel(job.metric_relabel_configs, lb)) continue;
          Labels labels = lb.Build();
          if (labels.MetricName().empty()) continue;
          if (!seen.insert(labels.Hash()).second) continue;  // a duplicate in one exposition
          const bool timed = job.honor_timestamps && s.timestamp_ms.has_value();
          writer_.Add(labels, timed ? *s.timestamp_ms : t_ms, s.value, batch);
          series.push_back(std::move(labels));
          own_timestamp.push_back(timed);
        }
      }
      if (job.sample_limit > 0 && series.size() > job.sample_limit) {
        last_error_ = "sample limit exceeded: " + std::to_string(series.size()) + " > " +
                      std::to_string(job.sample_limit);
        result = "sample_limit";
      }
    }
  }
  const bool up = result == "ok";
  if (!up) {
    batch.Clear();
    series.clear();
    own_timestamp.clear();
    scraped = 0;
    // Logged when a target goes down, not at every failed scrape; the metric counts each one.
    if (was_up_) {
      spdlog::warn("agent: scrape of {} (job {}) failed: {}", target_.url, job.job_name,
                   last_error_);
    }
  } else if (!was_up_ && scrapes_ > 0) {
    spdlog::info("agent: {} (job {}) is up again", target_.url, job.job_name);
  }
  was_up_ = up;
  ++scrapes_;
  hashes.reserve(series.size());
  for (const auto& l : series) hashes.push_back(l.Hash());
  std::sort(hashes.begin(), hashes.end());
  size_t added = 0;
  for (uint64_t h : hashes) added += !std::binary_search(previous_.begin(), previous_.end(), h);
  const size_t kept = series.size();
  previous_ = std::move(hashes);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  auto report = [&](std::string_view name, double v) {
    Labels labels = LabelsBuilder(target_.labels).Set("__name__", name).Build();
    writer_.Add(labels, t_ms, v, batch);
    series.push_back(std::move(labels));
  };
  report("up", up ? 1 : 0);
  report("scrape_duration_seconds", seconds);
  report("scrape_samples_scraped", static_cast<double>(scraped));
  report("scrape_samples_post_metric_relabeling", static_cast<double>(kept));
  report("scrape_series_added", static_cast<double>(added));
  own_timestamp.resize(series.size(), false);  // the report series
  std::vector<Labels> tracked;
  tracked.reserve(series.size());
  for (size_t i = 0; i < series.size(); ++i) {
    if (!own_timestamp[i]) tracked.push_back(std::move(series[i]));
  }
  stale_.Update(std::move(tracked), t_ms, writer_, batch);
  scrapes_by_result_.find(result)->second->Increment();
  seconds_->Observe(seconds);
  samples_->Increment(static_cast<double>(kept));
  sink_(std::move(batch));
  return up;
}

void ScrapeLoop::Retire(int64_t t_ms) {
  prometheus::WriteRequest batch;
  stale_.MarkAllStale(t_ms, writer_, batch);
  previous_.clear();
  if (batch.timeseries_size() > 0) sink_(std::move(batch));
}

struct Scraper::Running {
  std::unique_ptr<ScrapeLoop> loop;
  std::thread thread;
  bool stop = false;
};

Scraper::Scraper(std::shared_ptr<FileSystem> fs, ScrapeConfigFile config, Labels external,
                 ScrapeSink sink)
    : fs_(std::move(fs)), external_(std::move(external)), sink_(std::move(sink)) {
  for (auto& job : config.jobs) jobs_.push_back(std::make_shared<const ScrapeJob>(std::move(job)));
}

Scraper::~Scraper() { Stop(); }

std::vector<ScrapeTarget> Scraper::CurrentTargets() {
  std::vector<ScrapeTarget> out;
  for (const auto& job : jobs_) {
    for (const auto& g : job->static_configs) {
      for (auto& t : PopulateTargets(job, g)) out.push_back(std::move(t));
    }
    for (const auto& sd : job->file_sd_configs) {
      for (const auto& pattern : sd.files) {
        auto paths = fs_->Glob(pattern);
        if (!paths.ok()) continue;
        for (const auto& path : *paths) {
          auto text = fs_->ReadFile(path, 16 << 20);
          Result<std::vector<TargetGroup>> groups =
              text.ok() ? ParseTargetGroups(*text, path) : text.status();
          std::lock_guard lock(mu_);
          if (groups.ok()) {
            file_groups_[path] = std::move(*groups);
          } else {
            ScrapeMetrics::Get().file_sd_errors->Increment();
            spdlog::warn("agent: file_sd {}: {} (keeping its previous targets)", path,
                         groups.status().ToString());
          }
          for (const auto& g : file_groups_[path]) {
            for (auto& t : PopulateTargets(job, g)) out.push_back(std::move(t));
          }
        }
      }
    }
  }
  return out;
}

void Scraper::Refresh() {
  std::vector<ScrapeTarget> want = CurrentTargets();
  std::vector<std::unique_ptr<Running>> gone;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    std::unordered_set<uint64_t> ids;
    for (const auto& t : want) ids.insert(t.id);
    for (auto it = running_.begin(); it != running_.end();) {
      if (ids.contains(it->first)) {
        ++it;
        continue;
      }
      it->second->stop = true;
      gone.push_back(std::move(it->second));
      it = running_.erase(it);
    }
    for (auto& t : want) {
      if (running_.contains(t.id)) continue;
      const uint64_t id = t.id;
      auto r = std::make_unique<Running>();
      r->loop = std::make_unique<ScrapeLoop>(std::move(t), external_, sink_);
      Running* raw = r.get();
      running_[id] = std::move(r);
      raw->thread = std::thread([this, raw] { RunTarget(*raw); });
    }
    std::map<std::string, size_t> per_job;
    for (const auto& job : jobs_) per_job[job->job_name] = 0;
    for (const auto& [id, r] : running_) ++per_job[r->loop->target().job->job_name];
    for (const auto& [job, n] : per_job) {
      ScrapeMetrics::Get().targets->Add({{"scrape_job", job}}).Set(static_cast<double>(n));
    }
  }
  cv_.notify_all();
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  for (auto& r : gone) {
    r->thread.join();
    spdlog::info("agent: target {} (job {}) is gone; its series are marked stale",
                 r->loop->target().url, r->loop->target().job->job_name);
    r->loop->Retire(now_ms);
  }
}

void Scraper::RunTarget(Running& r) {
  const auto interval = r.loop->target().job->interval;
  // Spread targets over the interval, each at a stable offset of its own, as Prometheus does.
  auto next =
      std::chrono::steady_clock::now() +
      std::chrono::milliseconds(r.loop->target().id % static_cast<uint64_t>(interval.count()));
  while (true) {
    {
      std::unique_lock lock(mu_);
      if (cv_.wait_until(lock, next, [&] { return stopping_ || r.stop; })) return;
    }
    const int64_t t_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
    r.loop->ScrapeOnce(t_ms);
    const auto now = std::chrono::steady_clock::now();
    while (next <= now) next += interval;
  }
}

void Scraper::Start() {
  Refresh();
  std::chrono::milliseconds refresh{0};
  for (const auto& job : jobs_) {
    for (const auto& sd : job->file_sd_configs) {
      if (refresh.count() == 0 || sd.refresh_interval < refresh) refresh = sd.refresh_interval;
    }
  }
  if (refresh.count() == 0) return;
  refresher_ = std::thread([this, refresh] {
    while (true) {
      {
        std::unique_lock lock(mu_);
        if (cv_.wait_for(lock, refresh, [&] { return stopping_; })) return;
      }
      Refresh();
    }
  });
}

void Scraper::Stop() {
  std::map<uint64_t, std::unique_ptr<Running>> running;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    running.swap(running_);
  }
  cv_.notify_all();
  if (refresher_.joinable()) refresher_.join();
  for (auto& [id, r] : running) r->thread.join();
}

size_t Scraper::targets() const {
  std::lock_guard lock(mu_);
  return running_.size();
}

}  // namespace vigil::agent
