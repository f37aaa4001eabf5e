#pragma once

// Scraping other exporters as Prometheus 2.42 does, for the subset in scrape_config.h: targets
// from static_configs and file_sd_configs go through relabel_configs (PopulateLabels: job,
// __address__, __scheme__, __metrics_path__, __param_*, then instance = __address__ and the
// __ labels removed); each target is scraped every interval at an offset of its own, its samples
// get the target labels (honor_labels decides conflicts, exported_ otherwise), then
// metric_relabel_configs and sample_limit. Every scrape adds up, scrape_duration_seconds,
// scrape_samples_scraped, scrape_samples_post_metric_relabeling and scrape_series_added; a series
// that disappears, a failed scrape and a target that goes away get stale markers.
//
// Each scrape's samples go to the sink as one WriteRequest (the agent's remote_write queue).
// One thread per target: a node agent scrapes a handful of exporters, not thousands.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/histogram.h>

#include "remote.pb.h"
#include "remote_write_queue.h"
#include "scrape_config.h"
#include "vigil/common/file_system.h"
#include "vigil/common/http_client.h"

namespace vigil::agent {

struct ScrapeTarget {
  std::shared_ptr<const ScrapeJob> job;
  Labels labels;    // job, instance and the rest, without __ labels
  std::string url;  // scheme://address/path?params
  uint64_t id = 0;  // job, labels and URL: the target's identity across refreshes
};

// The targets a group yields for a job (dropped ones left out). A target left without an
// address, or with labels that are not valid, is an error for that target only: it is logged
// and skipped.
std::vector<ScrapeTarget> PopulateTargets(const std::shared_ptr<const ScrapeJob>& job,
                                          const TargetGroup& group);

using ScrapeSink = std::function<void(prometheus::WriteRequest&&)>;

// One target's scrapes and what they remember between each other (the last scrape's series).
class ScrapeLoop {
 public:
  ScrapeLoop(ScrapeTarget target, Labels external, ScrapeSink sink);
  // Scrapes once at `t_ms` and hands the batch to the sink. Returns whether the target was up.
  bool ScrapeOnce(int64_t t_ms);
  // Stale markers for everything the target had (it went away).
  void Retire(int64_t t_ms);
  const ScrapeTarget& target() const { return target_; }
  // The error of the last scrape, empty when it was up.
  const std::string& last_error() const { return last_error_; }

 private:
  ScrapeTarget target_;
  SeriesWriter writer_;
  ScrapeSink sink_;
  http::HttpClient client_;
  StalenessTracker stale_;
  std::vector<uint64_t> previous_;  // sorted hashes of the last scrape's series
  std::string last_error_;
  // Self-metric handles, taken once (never Add() per scrape).
  std::map<std::string, prometheus::Counter*, std::less<>> scrapes_by_result_;
  prometheus::Histogram* seconds_ = nullptr;
  prometheus::Counter* samples_ = nullptr;
  bool was_up_ = true;
  uint64_t scrapes_ = 0;
};

class Scraper {
 public:
  Scraper(std::shared_ptr<FileSystem> fs, ScrapeConfigFile config, Labels external,
          ScrapeSink sink);
  ~Scraper();  // Stop()
  void Start();
  void Stop();
  // Reads the file_sd files and starts and stops target loops to match (Start calls it, then
  // a thread at the shortest refresh_interval).
  void Refresh();
  size_t targets() const;

 private:
  struct Running;
  void RunTarget(Running& r);
  std::vector<ScrapeTarget> CurrentTargets();

  std::shared_ptr<FileSystem> fs_;
  std::vector<std::shared_ptr<const ScrapeJob>> jobs_;
  Labels external_;
  ScrapeSink sink_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::map<uint64_t, std::unique_ptr<Running>> running_;
  std::map<std::string, std::vector<TargetGroup>> file_groups_;  // last good read of each file
  std::thread refresher_;
};

}  // namespace vigil::agent
