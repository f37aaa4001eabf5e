#pragma once

// ContainerCollector: cAdvisor's container families, with the names and labels the kubelet
// exposes them under (container, id, image, name, namespace, pod), for the root cgroup, every
// pod cgroup (container="") and every container cgroup found by walking the hierarchy.
//
// Pod and container names come from the kubelet's log layout:
//   <logs>/pods/<namespace>_<pod>_<uid>/<container>/   (pod uid → namespace, pod)
//   <logs>/containers/<pod>_<namespace>_<container>-<id>.log   (container id → container)
// where <logs> is what --log-root's glob starts with before "/pods/". A piece that cannot be
// found leaves its label empty; it never fails the collection.
//
// Not thread-safe: one collector per collecting thread.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cgroup_stats.h"
#include "vigil/common/exposition.h"
#include "vigil/common/file_system.h"

namespace vigil::agent {

class ContainerCollector {
 public:
  ContainerCollector(std::shared_ptr<FileSystem> fs, CgroupMounts mounts,
                     std::string kubelet_log_dir);

  // One full pass: every family, with the samples of every cgroup that has them.
  Result<std::vector<expo::Family>> Collect();

  uint64_t missing_files() const { return reader_.missing_files(); }

 private:
  struct PodName {
    std::string ns, pod;
  };
  void LoadNames();

  std::shared_ptr<FileSystem> fs_;
  CgroupReader reader_;
  std::string log_dir_;
  std::map<std::string, PodName> pods_;            // uid → names
  std::map<std::string, std::string> containers_;  // container id → container name
};

// "/var/log/pods/*/*/*.log" → "/var/log": the kubelet's log directory a --log-root glob names.
std::string KubeletLogDir(const std::string& log_root_glob);

}  // namespace vigil::agent
