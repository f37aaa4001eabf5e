#pragma once

// ContainerCollector: cAdvisor's container families, with the names and labels the kubelet
// exposes them under (container, id, image, name, namespace, pod), for the root cgroup, every
// pod cgroup (container="") and every container cgroup found by walking the hierarchy.
//
// Pod and container names come from the kubelet's log layout:
//   <logs>/pods/<namespace>_<pod>_<uid>/<container>/   (pod uid → namespace, pod)
//   <logs>/containers/<pod>_<namespace>_<container>-<id>.log   (container id → container)
// where <logs> is what --log-root's glob starts with before "/pods/"; the image (and the names,
// where the logs do not say) from the runtime's record of the container, read once per
// container: containerd's bundle <dir>/<id>/config.json, CRI-O's <dir>/<id>/userdata/config.json
// (their annotations) or docker's <dir>/<id>/config.v2.json. A piece that cannot be found leaves
// its label empty; it never fails the collection.
//
// Block IO comes by device (named from /proc/diskstats), PSI where the cgroup has it (v2), and
// network counters from /proc/<pid>/net/dev of a process of the container: once per network
// namespace (a pod's containers share one), never for the host's.
//
// Not thread-safe: one collector per collecting thread.

#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "cgroup_stats.h"
#include "container_ref.h"
#include "container_view.h"
#include "node_collector.h"
#include "vigil/common/config.h"
#include "vigil/common/exposition.h"
#include "vigil/common/file_system.h"

namespace vigil::agent {

class ContainerCollector {
 public:
  struct Options {
    std::string kubelet_log_dir = "/var/log";
    std::string proc_root = "/proc";
    std::vector<std::string> runtime_dirs;  // where the runtimes keep each container's record
  };
  ContainerCollector(std::shared_ptr<FileSystem> fs, CgroupMounts mounts, Options options);
  // As the agent's configuration says: the cgroup mounts from <proc_root>/self/mountinfo under
  // cgroup_root, names from the kubelet's logs under the first log_root, the runtimes' records
  // from runtime_dirs (default: the runtimes' own). Fails when there is no cgroup mount.
  static Result<std::unique_ptr<ContainerCollector>> FromConfig(std::shared_ptr<FileSystem> fs,
                                                                const AgentConfig& config);

  const CgroupMounts& mounts() const { return reader_.mounts(); }

  // One full pass: every cgroup's values of every family it has.
  Result<std::shared_ptr<const ContainerView>> Collect();

  uint64_t missing_files() const { return reader_.missing_files(); }

 private:
  struct PodName {
    std::string ns, pod;
  };
  // What the runtime recorded about a container.
  struct RuntimeMeta {
    std::string image, container, pod, ns;
    uint64_t seen_pass = 0;
    uint64_t read_pass = 0;  // 0: not found yet
  };
  // What a directory's stat said at its last listing; `settled`: its mtime was more than a
  // second old then.
  struct DirStamp {
    bool exists = false;
    uint64_t device = 0, inode = 0;
    int64_t mtime_ns = 0;
    bool settled = false;
  };
  // Whether `dir` must be listed again (and `stamp` updated to now).
  bool DirChanged(const std::string& dir, DirStamp& stamp);
  void LoadNames();
  void LoadDevices();
  bool ReadProcFile(const char* name, size_t slot);  // <proc_root>/<name> into buf_
  // The record of container `id`, read into `m` (the cgroup's) when first seen; not found, it
  // is looked for again every ten passes.
  const RuntimeMeta& Meta(const std::string& id, RuntimeMeta& m);

  std::shared_ptr<FileSystem> fs_;
  CgroupReader reader_;
  Options options_;
  uint64_t pass_ = 0;
  std::string buf_;
  std::vector<NetDevice> net_devices_;     // of the last net/dev read, reused
  std::vector<std::string> device_names_;  // of a cgroup's block IO devices, reused
  std::string fingerprint_, proc_path_;    // scratch, reused
  CgroupStats stats_;                      // of the cgroup being read, reused
  // What a cgroup keeps between passes (in the reader's node for it): what its path says, what
  // its runtime recorded, its label sets, and the process whose network namespace it reports.
  struct CgroupCache {
    std::optional<ContainerRef> ref;  // nullopt: the root, a slice or a QoS level
    RuntimeMeta meta;
    std::string fingerprint;  // the names the labels were built with
    Labels base;
    std::shared_ptr<const std::string> text;  // base rendered for the text formats
    uint64_t hash = 0;                        // of base
    int pid = 0;
    uint64_t netns = 0;
  };
  std::shared_ptr<ContainerView> recycled_[2];     // the last two passes' views
  std::map<uint64_t, std::string> devices_;        // major << 32 | minor → /dev/name
  std::map<std::string, PodName> pods_;            // uid → names
  DirStamp pods_stamp_, containers_stamp_;         // of the kubelet's log directories
  std::map<std::string, std::string> containers_;  // container id → container name
};

// "/var/log/pods/*/*/*.log" → "/var/log": the kubelet's log directory a --log-root glob names.
std::string KubeletLogDir(const std::string& log_root_glob);

// The runtimes' default directories of container records (containerd, CRI-O, docker).
std::vector<std::string> DefaultRuntimeDirs();

}  // namespace vigil::agent
