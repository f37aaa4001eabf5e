#pragma once

// NodeCollector: node_exporter's families, with its names, labels and units, from the files of
// --proc-root: CPU (node_cpu_seconds_total by cpu and mode, node_cpu_guest_seconds_total),
// memory (node_memory_*: every /proc/meminfo field), load, boot time, context switches,
// interrupts, forks, processes, file descriptors, network devices (/proc/net/dev), block devices
// (/proc/diskstats, without partitions, as node_exporter's default), PSI (node_pressure_*,
// where the kernel has /proc/pressure), filesystems (node_filesystem_*: statfs of the mounts in
// /proc/1/mounts under --rootfs, without pseudo and container filesystems, node_exporter 1.5's
// default excludes) and time (node_time_seconds, the time zone offset, the clock sources of
// --sys-root).
//
// Each file is read once per pass into one reused buffer, through the FileSystem seam. A file
// that cannot be read leaves its families out and is counted, never failing the pass.
//
// Not thread-safe: one collector per collecting thread.

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "small_file.h"
#include "vigil/common/exposition.h"
#include "vigil/common/file_system.h"

namespace vigil::agent {

// /proc/net/dev (or /proc/<pid>/net/dev): per interface, loopback left out as node_exporter
// and cAdvisor do, the 16 counters in the file's order (8 receive, then 8 transmit).
struct NetDevice {
  std::string name;
  double values[16] = {};
};
std::vector<NetDevice> ParseNetDev(std::string_view text);

class NodeCollector {
 public:
  struct Options {
    std::string proc_root = "/proc";
    std::string sys_root = "/sys";
    std::string rootfs = "/";
    std::shared_ptr<Clock> clock = RealClock();
  };
  NodeCollector(std::shared_ptr<FileSystem> fs, Options options);

  std::vector<expo::Family> Collect();
  uint64_t missing_files() const { return missing_files_; }

 private:
  bool Load(std::string_view file);
  void Add(expo::Family& f, double v,
           std::initializer_list<std::pair<std::string_view, std::string_view>> labels = {});
  bool ReadNodeFile(const std::string& path, size_t max_bytes);
  void Stat(std::vector<expo::Family>& out);
  void Meminfo(std::vector<expo::Family>& out);
  void Loadavg(std::vector<expo::Family>& out);
  void Filefd(std::vector<expo::Family>& out);
  void NetDev(std::vector<expo::Family>& out);
  void DiskStats(std::vector<expo::Family>& out);
  void Pressure(std::vector<expo::Family>& out);
  void Filesystems(std::vector<expo::Family>& out);
  void Time(std::vector<expo::Family>& out);

  std::shared_ptr<FileSystem> fs_;
  FileCache files_;
  std::vector<std::string> slots_;  // the path of each of files_' slots
  struct CachedLabels {
    Labels labels;
    uint64_t pass = 0;
  };
  std::unordered_map<uint64_t, CachedLabels> labels_;  // by a hash of name and label pairs
  uint64_t pass_ = 1;
  std::vector<std::string> clocksources_;  // clocksource<N> directories
  std::string proc_root_;
  std::string sys_root_;
  std::string rootfs_;
  std::shared_ptr<Clock> clock_;
  std::string buf_;
  double clock_ticks_ = 100;
  uint64_t missing_files_ = 0;
};

}  // namespace vigil::agent
