#pragma once

// The agent's scrape configuration: a file in Prometheus' format, the subset a node agent needs
// (issue #5): `global` (scrape_interval, scrape_timeout) and `scrape_configs` with job_name,
// scrape_interval, scrape_timeout, metrics_path, params, scheme, honor_labels,
// honor_timestamps, sample_limit, body_size_limit, static_configs, file_sd_configs,
// relabel_configs and metric_relabel_configs. A key Prometheus has and vigil does not (a
// service discovery, authentication) is an error naming it, never silently ignored; every error
// is "file:line:column: what".

#include <chrono>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "relabel.h"
#include "vigil/common/labels.h"
#include "vigil/common/status.h"

namespace vigil::agent {

// A static target group, or one read from a file_sd file.
struct TargetGroup {
  std::vector<std::string> targets;  // host:port
  Labels labels;
  std::string source;  // for __meta_filepath: the file it came from
};

struct FileSdConfig {
  std::vector<std::string> files;  // globs; JSON or YAML lists of target groups
  std::chrono::milliseconds refresh_interval{300'000};
};

struct ScrapeJob {
  std::string job_name;
  std::chrono::milliseconds interval{0};  // 0: the global one
  std::chrono::milliseconds timeout{0};
  std::string metrics_path = "/metrics";
  std::string scheme = "http";
  std::map<std::string, std::vector<std::string>> params;
  bool honor_labels = false;
  bool honor_timestamps = true;
  uint64_t sample_limit = 0;     // 0: none
  uint64_t body_size_limit = 0;  // 0: the agent's default bound
  std::vector<TargetGroup> static_configs;
  std::vector<FileSdConfig> file_sd_configs;
  std::vector<RelabelRule> relabel_configs;
  std::vector<RelabelRule> metric_relabel_configs;
};

struct ScrapeConfigFile {
  std::chrono::milliseconds scrape_interval{0};  // 0: the agent's --interval
  std::chrono::milliseconds scrape_timeout{10'000};
  std::vector<ScrapeJob> jobs;
};

// Parses the YAML text; `file` names it in errors. `default_interval` is used where neither the
// job nor `global` sets one. A timeout longer than its interval is an error, as in Prometheus.
Result<ScrapeConfigFile> ParseScrapeConfig(std::string_view yaml, std::string_view file,
                                           std::chrono::milliseconds default_interval);

// Parses a file_sd file (JSON or YAML: a list of {targets: [...], labels: {...}}).
Result<std::vector<TargetGroup>> ParseTargetGroups(std::string_view text, std::string_view file);

}  // namespace vigil::agent
