#include "container_collector.h"

#include "container_ref.h"

namespace vigil::agent {

std::string KubeletLogDir(const std::string& log_root_glob) {
  const size_t pods = log_root_glob.find("/pods/");
  if (pods != std::string::npos) return log_root_glob.substr(0, pods);
  const size_t slash = log_root_glob.rfind('/');
  return slash == std::string::npos ? "." : log_root_glob.substr(0, slash);
}

ContainerCollector::ContainerCollector(std::shared_ptr<FileSystem> fs, CgroupMounts mounts,
                                       std::string kubelet_log_dir)
    : fs_(fs), reader_(std::move(fs), std::move(mounts)), log_dir_(std::move(kubelet_log_dir)) {}

void ContainerCollector::LoadNames() {
  pods_.clear();
  containers_.clear();
  if (auto dirs = fs_->ListDir(log_dir_ + "/pods"); dirs.ok()) {
    for (const std::string& d : *dirs) {
      // <namespace>_<pod>_<uid>: namespaces and pod names have no "_".
      const size_t a = d.find('_');
      const size_t b = d.rfind('_');
      if (a == std::string::npos || a == b) continue;
      pods_[d.substr(b + 1)] = {d.substr(0, a), d.substr(a + 1, b - a - 1)};
    }
  }
  if (auto files = fs_->ListDir(log_dir_ + "/containers"); files.ok()) {
    for (std::string f : *files) {
      // <pod>_<namespace>_<container>-<id>.log
      if (!f.ends_with(".log")) continue;
      f.resize(f.size() - 4);
      const size_t dash = f.rfind('-');
      const size_t under = f.rfind('_');
      if (dash == std::string::npos || under == std::string::npos || under > dash) continue;
      containers_[f.substr(dash + 1)] = f.substr(under + 1, dash - under - 1);
    }
  }
}

Result<std::vector<expo::Family>> ContainerCollector::Collect() {
  LoadNames();
  using expo::MetricType;
  struct Def {
    const char* name;
    MetricType type;
    const char* help;
    std::optional<double> CgroupStats::*field;
  };
  static const Def kDefs[] = {
      {"container_cpu_user_seconds_total", MetricType::kCounter,
       "Cumulative user cpu time consumed in seconds.", &CgroupStats::cpu_user},
      {"container_cpu_system_seconds_total", MetricType::kCounter,
       "Cumulative system cpu time consumed in seconds.", &CgroupStats::cpu_system},
      {"container_cpu_cfs_periods_total", MetricType::kCounter,
       "Number of elapsed enforcement period intervals.", &CgroupStats::cfs_periods},
      {"container_cpu_cfs_throttled_periods_total", MetricType::kCounter,
       "Number of throttled period intervals.", &CgroupStats::cfs_throttled_periods},
      {"container_cpu_cfs_throttled_seconds_total", MetricType::kCounter,
       "Total time duration the container has been throttled.",
       &CgroupStats::cfs_throttled_seconds},
      {"container_memory_usage_bytes", MetricType::kGauge,
       "Current memory usage in bytes, including all memory regardless of when it was accessed",
       &CgroupStats::memory_usage},
      {"container_memory_max_usage_bytes", MetricType::kGauge,
       "Maximum memory usage recorded in bytes", &CgroupStats::memory_max_usage},
      {"container_memory_working_set_bytes", MetricType::kGauge, "Current working set in bytes.",
       &CgroupStats::memory_working_set},
      {"container_memory_rss", MetricType::kGauge, "Size of RSS in bytes.",
       &CgroupStats::memory_rss},
      {"container_memory_cache", MetricType::kGauge, "Number of bytes of page cache memory.",
       &CgroupStats::memory_cache},
      {"container_memory_swap", MetricType::kGauge, "Container swap usage in bytes.",
       &CgroupStats::memory_swap},
      {"container_memory_mapped_file", MetricType::kGauge, "Size of memory mapped files in bytes.",
       &CgroupStats::memory_mapped_file},
      {"container_memory_failcnt", MetricType::kCounter, "Number of memory usage hits limits",
       &CgroupStats::memory_failcnt},
      {"container_oom_events_total", MetricType::kCounter,
       "Count of out of memory events observed for the container", &CgroupStats::oom_events},
      {"container_spec_cpu_quota", MetricType::kGauge, "CPU quota of the container.",
       &CgroupStats::cpu_quota_us},
      {"container_spec_cpu_period", MetricType::kGauge, "CPU period of the container.",
       &CgroupStats::cpu_period_us},
      {"container_spec_cpu_shares", MetricType::kGauge, "CPU share of the container.",
       &CgroupStats::cpu_shares},
      {"container_spec_memory_limit_bytes", MetricType::kGauge, "Memory limit for the container.",
       &CgroupStats::memory_limit},
      {"container_spec_memory_swap_limit_bytes", MetricType::kGauge,
       "Memory swap limit for the container.", &CgroupStats::memory_swap_limit},
      {"container_processes", MetricType::kGauge,
       "Number of processes running inside the container.", &CgroupStats::pids},
  };
  // container_cpu_usage_seconds_total first: it alone has cAdvisor's cpu="total" label.
  std::vector<expo::Family> families(std::size(kDefs) + 1);
  families[0] = {"container_cpu_usage_seconds_total",
                 MetricType::kCounter,
                 "Cumulative cpu time consumed in seconds.",
                 "",
                 {}};
  for (size_t i = 0; i < std::size(kDefs); ++i) {
    families[i + 1] = {kDefs[i].name, kDefs[i].type, kDefs[i].help, "", {}};
  }
  VIGIL_RETURN_IF_ERROR(reader_.Walk([&](const std::string& path) {
    std::optional<ContainerRef> ref;
    if (path != "/") {
      ref = ParseCgroupPath(path);
      if (!ref) return;
    }
    const CgroupStats s = reader_.Read(path);
    std::string container, ns, pod;
    if (ref) {
      if (auto it = pods_.find(ref->pod_uid); it != pods_.end()) {
        ns = it->second.ns;
        pod = it->second.pod;
      }
      if (auto it = containers_.find(ref->id); it != containers_.end()) container = it->second;
    }
    const std::string name = ref ? ref->id : "";
    auto labels = [&](const char* metric, const char* cpu) {
      LabelsBuilder b;
      b.Set(kMetricNameLabel, metric);
      if (!container.empty()) b.Set("container", container);
      if (cpu != nullptr) b.Set("cpu", cpu);
      b.Set("id", path);
      if (!name.empty()) b.Set("name", name);
      if (!ns.empty()) b.Set("namespace", ns);
      if (!pod.empty()) b.Set("pod", pod);
      return b.Build();
    };
    if (s.cpu_usage) {
      families[0].samples.push_back(
          {labels("container_cpu_usage_seconds_total", "total"), *s.cpu_usage, {}});
    }
    for (size_t i = 0; i < std::size(kDefs); ++i) {
      const auto& v = s.*(kDefs[i].field);
      if (v) families[i + 1].samples.push_back({labels(kDefs[i].name, nullptr), *v, {}});
    }
  }));
  return families;
}

}  // namespace vigil::agent
