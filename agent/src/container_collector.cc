#include "container_collector.h"

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <unordered_set>

#include "container_ref.h"
#include "node_collector.h"
#include "small_file.h"

namespace vigil::agent {
namespace {
// The slot of /proc/<pid>/net/dev among a cgroup's open files (past the reader's own), and of
// the node's files the collector reads at every pass in its own group.
constexpr size_t kNetDevSlot = kCgroupFileSlots;
constexpr size_t kDiskstatsSlot = 0;
constexpr size_t kMeminfoSlot = 1;
}  // namespace

std::string KubeletLogDir(const std::string& log_root_glob) {
  const size_t pods = log_root_glob.find("/pods/");
  if (pods != std::string::npos) return log_root_glob.substr(0, pods);
  const size_t slash = log_root_glob.rfind('/');
  return slash == std::string::npos ? "." : log_root_glob.substr(0, slash);
}

std::vector<std::string> DefaultRuntimeDirs() {
  return {"/run/containerd/io.containerd.runtime.v2.task/k8s.io",
          "/run/containers/storage/overlay-containers", "/var/lib/docker/containers"};
}

ContainerCollector::ContainerCollector(std::shared_ptr<FileSystem> fs, CgroupMounts mounts,
                                       Options options)
    : fs_(fs), reader_(std::move(fs), std::move(mounts)), options_(std::move(options)) {}

Result<std::unique_ptr<ContainerCollector>> ContainerCollector::FromConfig(
    std::shared_ptr<FileSystem> fs, const AgentConfig& a) {
  VIGIL_ASSIGN_OR_RETURN(std::string mountinfo, fs->ReadFile(a.proc_root + "/self/mountinfo"));
  VIGIL_ASSIGN_OR_RETURN(CgroupMounts mounts, ParseCgroupMounts(mountinfo, a.cgroup_root));
  Options o;
  o.kubelet_log_dir =
      KubeletLogDir(a.log_root.empty() ? "/var/log/pods/*/*/*.log" : a.log_root.front());
  o.proc_root = a.proc_root;
  o.runtime_dirs = a.runtime_dirs.empty() ? DefaultRuntimeDirs() : a.runtime_dirs;
  return std::make_unique<ContainerCollector>(std::move(fs), std::move(mounts), std::move(o));
}

namespace {

// The annotations (containerd, CRI-O) or labels and image (docker) of a runtime's record.
bool ParseRuntimeRecord(std::string_view text, std::string& image, std::string& container,
                        std::string& pod, std::string& ns) {
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return false;
  auto str = [](const nlohmann::json& o, const char* key) {
    auto it = o.find(key);
    return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  if (auto a = j.find("annotations"); a != j.end() && a->is_object()) {
    const std::string type =
        str(*a, "io.kubernetes.cri.container-type") + str(*a, "io.kubernetes.cri-o.ContainerType");
    image = str(*a, "io.kubernetes.cri.image-name");
    if (image.empty()) image = str(*a, "io.kubernetes.cri-o.ImageName");
    if (type != "sandbox") {
      container = str(*a, "io.kubernetes.cri.container-name");
      if (container.empty()) container = str(*a, "io.kubernetes.container.name");
    }
    pod = str(*a, "io.kubernetes.cri.sandbox-name");
    if (pod.empty()) pod = str(*a, "io.kubernetes.pod.name");
    ns = str(*a, "io.kubernetes.cri.sandbox-namespace");
    if (ns.empty()) ns = str(*a, "io.kubernetes.pod.namespace");
    return true;
  }
  if (auto c = j.find("Config"); c != j.end() && c->is_object()) {  // docker's config.v2.json
    image = str(*c, "Image");
    if (auto l = c->find("Labels"); l != c->end() && l->is_object()) {
      container = str(*l, "io.kubernetes.container.name");
      if (container == "POD") container.clear();
      pod = str(*l, "io.kubernetes.pod.name");
      ns = str(*l, "io.kubernetes.pod.namespace");
    }
    return true;
  }
  return false;
}

}  // namespace

const ContainerCollector::RuntimeMeta& ContainerCollector::Meta(const std::string& id,
                                                                RuntimeMeta& m) {
  const bool first = m.seen_pass == 0;
  m.seen_pass = pass_;
  // Found once is enough (a container's image does not change); not found is tried again every
  // ten passes, for a record that appears after the cgroup does.
  if (m.read_pass != 0 || (!first && pass_ % 10 != 0)) return m;
  for (const auto& dir : options_.runtime_dirs) {
    for (const char* file : {"/config.json", "/userdata/config.json", "/config.v2.json"}) {
      if (!ReadSmallFile(*fs_, dir + "/" + id + file, buf_, 4 << 20)) continue;
      if (ParseRuntimeRecord(buf_, m.image, m.container, m.pod, m.ns)) {
        m.read_pass = pass_;
        return m;
      }
    }
  }
  return m;
}

bool ContainerCollector::ReadProcFile(const char* name, size_t slot) {
  // Kept open between passes like the cgroups' files, in a group of its own ("proc:"; cgroup
  // paths start with "/"). The walk's end keeps it: it is used earlier in the same pass.
  return reader_.files().Read(reader_.files().GroupFor("proc:"), slot,
                              options_.proc_root + "/" + name, buf_, 1 << 20);
}

void ContainerCollector::LoadDevices() {
  devices_.clear();
  if (!ReadProcFile("diskstats", kDiskstatsSlot)) return;
  size_t pos = 0;
  while (pos < buf_.size()) {
    size_t end = buf_.find('\n', pos);
    if (end == std::string::npos) end = buf_.size();
    unsigned major = 0, minor = 0;
    char name[64] = {};
    const std::string line = buf_.substr(pos, end - pos);
    if (std::sscanf(line.c_str(), " %u %u %63s", &major, &minor, name) == 3) {
      devices_[(uint64_t{major} << 32) | minor] = std::string("/dev/") + name;
    }
    pos = end + 1;
  }
}

bool ContainerCollector::DirChanged(const std::string& dir, DirStamp& stamp) {
  DirStamp now;
  if (auto st = fs_->Stat(dir); st.ok()) {
    now = {true, st->device, st->inode, st->mtime_ns, false};
    const int64_t wall_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
    now.settled = wall_ns - st->mtime_ns > 1'000'000'000;
  }
  const bool same = stamp.settled && now.exists == stamp.exists && now.device == stamp.device &&
                    now.inode == stamp.inode && now.mtime_ns == stamp.mtime_ns;
  stamp = now;
  return !same;
}

void ContainerCollector::LoadNames() {
  // The kubelet's two directories gain and lose entries as pods and containers come and go,
  // which moves their mtime: each is listed again only then, not at every pass (with 1,000
  // containers, 1,500 names to list and parse). A listing taken within a second of the mtime it
  // saw is taken again at the next pass: a change in the same clock tick would not move it.
  const std::string& log_dir = options_.kubelet_log_dir;
  if (DirChanged(log_dir + "/pods", pods_stamp_)) {
    pods_.clear();
    if (auto dirs = fs_->ListDir(log_dir + "/pods"); dirs.ok()) {
      for (const std::string& d : *dirs) {
        if (auto pod = ParsePodLogDir(d)) pods_[pod->uid] = {pod->ns, pod->pod};
      }
    }
  }
  if (!DirChanged(log_dir + "/containers", containers_stamp_)) return;
  containers_.clear();
  if (auto files = fs_->ListDir(log_dir + "/containers"); files.ok()) {
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

Result<std::shared_ptr<const ContainerView>> ContainerCollector::Collect() {
  ++pass_;
  LoadNames();
  LoadDevices();
  // Whether the node has swap, from meminfo's SwapTotal (unknown: assume it does).
  if (ReadProcFile("meminfo", kMeminfoSlot)) {
    bool swap = true;
    ForEachLine(buf_, [&](std::string_view line) {
      if (line.starts_with("SwapTotal:")) {
        std::string_view v = line.substr(10);
        while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
        swap = !v.starts_with("0 ");
      }
    });
    reader_.set_swap(swap);
  }
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
  // Block IO by device, PSI and network: families with a label of their own.
  struct IoDef {
    const char* name;
    const char* help;
    double CgroupStats::Blkio::*field;
  };
  static const IoDef kIo[] = {
      {"container_fs_reads_bytes_total", "Cumulative count of bytes read",
       &CgroupStats::Blkio::read_bytes},
      {"container_fs_writes_bytes_total", "Cumulative count of bytes written",
       &CgroupStats::Blkio::write_bytes},
      {"container_fs_reads_total", "Cumulative count of reads completed",
       &CgroupStats::Blkio::reads},
      {"container_fs_writes_total", "Cumulative count of writes completed",
       &CgroupStats::Blkio::writes},
  };
  struct PsiDef {
    const char* name;
    const char* help;
    std::optional<double> CgroupStats::*field;
  };
  static const PsiDef kPsi[] = {
      {"container_pressure_cpu_waiting_seconds_total",
       "Total time duration tasks in the container have waited due to CPU congestion.",
       &CgroupStats::cpu_some},
      {"container_pressure_cpu_stalled_seconds_total",
       "Total time duration no tasks in the container could make progress due to CPU "
       "congestion.",
       &CgroupStats::cpu_full},
      {"container_pressure_memory_waiting_seconds_total",
       "Total time duration tasks in the container have waited due to memory congestion.",
       &CgroupStats::memory_some},
      {"container_pressure_memory_stalled_seconds_total",
       "Total time duration no tasks in the container could make progress due to memory "
       "congestion.",
       &CgroupStats::memory_full},
      {"container_pressure_io_waiting_seconds_total",
       "Total time duration tasks in the container have waited due to IO congestion.",
       &CgroupStats::io_some},
      {"container_pressure_io_stalled_seconds_total",
       "Total time duration no tasks in the container could make progress due to IO "
       "congestion.",
       &CgroupStats::io_full},
  };
  // /proc/net/dev's columns cAdvisor exports: receive and transmit bytes, packets, errs, drop.
  struct NetDef {
    const char* name;
    const char* help;
    size_t column;
  };
  static const NetDef kNet[] = {
      {"container_network_receive_bytes_total", "Cumulative count of bytes received", 0},
      {"container_network_receive_packets_total", "Cumulative count of packets received", 1},
      {"container_network_receive_errors_total",
       "Cumulative count of errors encountered while receiving", 2},
      {"container_network_receive_packets_dropped_total",
       "Cumulative count of packets dropped while receiving", 3},
      {"container_network_transmit_bytes_total", "Cumulative count of bytes transmitted", 8},
      {"container_network_transmit_packets_total", "Cumulative count of packets transmitted", 9},
      {"container_network_transmit_errors_total",
       "Cumulative count of errors encountered while transmitting", 10},
      {"container_network_transmit_packets_dropped_total",
       "Cumulative count of packets dropped while transmitting", 11},
  };
  // The families in the order they are written: container_cpu_usage_seconds_total first (it
  // alone has cAdvisor's cpu="total" label), then kDefs, block IO, PSI and network.
  constexpr size_t io_at = std::size(kDefs) + 1;
  constexpr size_t psi_at = io_at + std::size(kIo);
  constexpr size_t net_at = psi_at + std::size(kPsi);
  static const std::vector<ContainerFamily> kFamilies = [&] {
    std::vector<ContainerFamily> f;
    f.push_back({"container_cpu_usage_seconds_total", MetricType::kCounter,
                 "Cumulative cpu time consumed in seconds.", "cpu"});
    for (const auto& d : kDefs) f.push_back({d.name, d.type, d.help, nullptr});
    for (const auto& d : kIo) f.push_back({d.name, MetricType::kCounter, d.help, "device"});
    for (const auto& d : kPsi) f.push_back({d.name, MetricType::kCounter, d.help, nullptr});
    for (const auto& d : kNet) f.push_back({d.name, MetricType::kCounter, d.help, "interface"});
    return f;
  }();
  // The view of the pass before last is filled again when nobody holds it any more (the agent
  // keeps the last one): cgroup by cgroup in walk order, which passes keep, so the cgroups'
  // texts, entries and extras mostly keep their room and a steady pass allocates little.
  std::shared_ptr<ContainerView> view = std::move(recycled_[pass_ % 2]);
  if (!view || view.use_count() != 1) view = std::make_shared<ContainerView>();
  // The last holder let go with a release; this orders its reads before the writes below.
  std::atomic_thread_fence(std::memory_order_acquire);
  view->families = &kFamilies;
  size_t filled = 0;
  // The host's network namespace, whose counters are the node's, not a container's.
  uint64_t host_netns = 0;
  if (auto st = fs_->Stat(options_.proc_root + "/1/ns/net"); st.ok()) host_netns = st->inode;
  std::unordered_set<uint64_t> netns_seen;
  VIGIL_RETURN_IF_ERROR(reader_.Walk([&](CgroupReader::Cgroup& node) {
    // What the collector keeps with a cgroup, made when the cgroup is first seen.
    auto* kept = std::any_cast<CgroupCache>(&node.user);
    if (kept == nullptr) {
      kept = &node.user.emplace<CgroupCache>();
      if (node.path() != "/") kept->ref = ParseCgroupPath(node.path());
    }
    CgroupCache& cache = *kept;
    const std::string& path = node.path();
    const std::optional<ContainerRef>& ref = cache.ref;
    if (path != "/" && !ref) return true;  // a slice or a QoS level: the containers are below
    reader_.Read(node, stats_);
    const CgroupStats& s = stats_;
    // Views into the name maps and the runtime's record, which stay put during the pass.
    std::string_view container, ns, pod, image;
    if (ref) {
      if (auto it = pods_.find(ref->pod_uid); it != pods_.end()) {
        ns = it->second.ns;
        pod = it->second.pod;
      }
      if (auto it = containers_.find(ref->id); it != containers_.end()) container = it->second;
      if (!ref->id.empty() && !options_.runtime_dirs.empty()) {
        const RuntimeMeta& meta = Meta(ref->id, cache.meta);
        image = meta.image;
        if (container.empty()) container = meta.container;
        if (pod.empty()) pod = meta.pod;
        if (ns.empty()) ns = meta.ns;
      }
    }
    // A cgroup's base labels are built once and kept while its names stay the same.
    fingerprint_.assign(container).append(1, '\0').append(ns).append(1, '\0');
    fingerprint_.append(pod).append(1, '\0').append(image);
    if (cache.fingerprint != fingerprint_ || cache.base.empty()) {
      cache.fingerprint = fingerprint_;
      LabelsBuilder b;
      if (!container.empty()) b.Set("container", container);
      b.Set("id", path);
      if (!image.empty()) b.Set("image", image);
      if (ref && !ref->id.empty()) b.Set("name", ref->id);
      if (!ns.empty()) b.Set("namespace", ns);
      if (!pod.empty()) b.Set("pod", pod);
      cache.base = b.Build();
      cache.text = std::make_shared<const std::string>(ContainerView::RenderBase(cache.base));
      cache.hash = cache.base.Hash();
    }
    if (filled == view->cgroups.size()) view->cgroups.emplace_back();
    ContainerView::Cgroup& cg = view->cgroups[filled++];
    cg.base = cache.base;
    cg.text = cache.text;
    cg.hash = cache.hash;
    cg.entries.clear();
    cg.extras.resize(1);  // "" for the families without a label of their own
    auto add = [&](size_t family, double v, std::string_view extra = {}) {
      cg.entries.push_back({static_cast<uint32_t>(family), extra.empty() ? 0 : cg.Extra(extra), v});
    };
    if (s.cpu_usage) add(0, *s.cpu_usage, "total");
    for (size_t i = 0; i < std::size(kDefs); ++i) {
      if (const auto& v = s.*(kDefs[i].field)) add(i + 1, *v);
    }
    // Block IO: family by family, device by device (entries stay in family order).
    device_names_.resize(s.blkio.size());
    for (size_t d = 0; d < s.blkio.size(); ++d) {
      const auto& dev = s.blkio[d];
      auto it = devices_.find((uint64_t{dev.major} << 32) | dev.minor);
      if (it != devices_.end()) {
        device_names_[d].assign(it->second);
      } else {
        device_names_[d]
            .assign(std::to_string(dev.major))
            .append(":")
            .append(std::to_string(dev.minor));
      }
    }
    for (size_t i = 0; i < std::size(kIo); ++i) {
      for (size_t d = 0; d < s.blkio.size(); ++d) {
        add(io_at + i, s.blkio[d].*(kIo[i].field), device_names_[d]);
      }
    }
    for (size_t i = 0; i < std::size(kPsi); ++i) {
      if (const auto& v = s.*(kPsi[i].field)) add(psi_at + i, *v);
    }
    const bool descend = !ref || ref->id.empty();  // a container's cgroup has no more below
    // The root's network is the node's (node_network_*); a pod's cgroup has no process of its
    // own (its sandbox container reports the pod's network namespace).
    if (descend) return descend;
    // The network namespace of a process of the cgroup: found once, checked by reading.
    auto net_dev = [&]() -> bool {
      if (cache.pid <= 0) return false;
      proc_path_.assign(options_.proc_root).append("/").append(std::to_string(cache.pid));
      const size_t base_size = proc_path_.size();
      if (cache.netns == 0) {
        auto netns = fs_->Stat(proc_path_.append("/ns/net"));
        if (!netns.ok()) return false;
        cache.netns = netns->inode;
      }
      if (cache.netns == host_netns || netns_seen.contains(cache.netns)) {
        buf_.clear();
        return true;
      }
      proc_path_.resize(base_size);
      return reader_.files().Read(node.files(), kNetDevSlot, proc_path_.append("/net/dev"), buf_,
                                  1 << 20);
    };
    if (!net_dev()) {
      // The process went away (or was never looked for): ask the cgroup again.
      reader_.files().Forget(node.files(), kNetDevSlot);
      cache.pid = reader_.FirstPid(path).value_or(0);
      cache.netns = 0;
      if (!net_dev()) return descend;
    }
    if (buf_.empty() || !netns_seen.insert(cache.netns).second) return descend;
    ParseNetDev(buf_, net_devices_);
    for (size_t i = 0; i < std::size(kNet); ++i) {
      for (const NetDevice& dev : net_devices_) {
        add(net_at + i, dev.values[kNet[i].column], dev.name);
      }
    }
    return descend;
  }));
  view->cgroups.resize(filled);
  // A cgroup's entries grew by doubling the first time; their count stays from pass to pass, so
  // the room is fitted once, not kept at up to twice what is used in every kept view.
  for (ContainerView::Cgroup& cg : view->cgroups) {
    if (cg.entries.capacity() > cg.entries.size() + cg.entries.size() / 2 + 4) {
      cg.entries.shrink_to_fit();
    }
  }
  recycled_[pass_ % 2] = view;
  return std::shared_ptr<const ContainerView>(std::move(view));
}

}  // namespace vigil::agent
