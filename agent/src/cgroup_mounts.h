#pragma once

// Where the cgroup hierarchies are mounted, from /proc/self/mountinfo: cgroup v1 (one mount per
// controller, or several joined, as "cpu,cpuacct"), v2 (one unified mount) or the hybrid layout
// (v1 controllers plus an empty cgroup2 mount, as systemd sets up). Controller paths are never
// assumed: on this machine `cpu` and `cpuacct` are separate mounts, elsewhere they are one.
//
// Mount points are mapped under the agent's --cgroup-root: the mounts' common directory (usually
// /sys/fs/cgroup) is replaced by it, so a pod with the host's /sys mounted at /host/sys reads
// the host's cgroups.

#include <map>
#include <string>
#include <string_view>

#include "vigil/common/status.h"

namespace vigil::agent {

struct CgroupMounts {
  enum class Mode { kV1, kV2, kHybrid };
  Mode mode = Mode::kV1;
  // v1: each controller ("cpu", "cpuacct", "memory", "blkio", "pids", ...) to its directory.
  std::map<std::string, std::string, std::less<>> controllers;
  // The cgroup2 mount's directory; empty without one.
  std::string unified;

  // The directory of a v1 controller, or empty (a reference into the map, or to a static empty
  // string).
  const std::string& Controller(std::string_view name) const;
};

std::string_view ModeName(CgroupMounts::Mode mode);

// Parses mountinfo text (proc(5)). Errors name the line; no cgroup mount at all is an error.
Result<CgroupMounts> ParseCgroupMounts(std::string_view mountinfo, const std::string& cgroup_root);

}  // namespace vigil::agent
