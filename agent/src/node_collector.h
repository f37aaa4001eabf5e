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
// Fills `out` (cleared first; its room reused pass after pass).
void ParseNetDev(std::string_view text, std::vector<NetDevice>& out);

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
  // One pass into `out`. A vector from an earlier pass is reused: a family at the position it
  // had keeps its strings and the room of its samples, so a steady pass allocates next to
  // nothing for its families. Families without samples are left out.
  void Collect(std::vector<expo::Family>& out);
  // `families` (from Collect) in the text format, as expo::Append writes them, from the sample
  // names and label sets rendered once when the collector first made them.
  void AppendText(std::string& out, const std::vector<expo::Family>& families);
  uint64_t missing_files() const { return missing_files_; }

 private:
  bool Load(std::string_view file, size_t max_bytes = 8 << 20);
  // The next family of the pass, at the next position of out_: returns its index (references
  // into out_ do not outlive a later Begin). Its help is set only when the name changes: every
  // help here is a function of the name.
  size_t Begin(std::string_view name, expo::MetricType type, std::string_view help);
  expo::Family& At(size_t i) { return (*out_)[i]; }
  void Add(expo::Family& f, double v,
           std::initializer_list<std::pair<std::string_view, std::string_view>> labels = {});
  void Add(size_t family, double v,
           std::initializer_list<std::pair<std::string_view, std::string_view>> labels = {}) {
    Add(At(family), v, labels);
  }
  bool ReadNodeFile(const std::string& path, size_t max_bytes);
  void Stat();
  void Meminfo();
  void Loadavg();
  void Filefd();
  void NetDev();
  void DiskStats();
  void Pressure();
  void Filesystems();
  bool ReadMounts();
  void Time();

  std::shared_ptr<FileSystem> fs_;
  FileCache files_;
  std::vector<std::string> slots_;  // the path of each of files_' slots
  // The label sets of the last pass, in the order of its Add calls (see Add).
  // Each slot's key (name and label pairs, joined) and text (the labels in the text format:
  // name{a="x"} and a space) are kept together in arena_, read pass after pass in order.
  struct LabelSlot {
    Labels labels;
    size_t key_at = 0, key_size = 0, text_at = 0, text_size = 0;
    std::string_view key(const std::string& arena) const {
      return std::string_view(arena).substr(key_at, key_size);
    }
    std::string_view text(const std::string& arena) const {
      return std::string_view(arena).substr(text_at, text_size);
    }
  };
  std::vector<LabelSlot> label_slots_;
  std::string arena_;
  // (identity of a slot's labels, slot), sorted, rebuilt when slots change.
  std::vector<std::pair<const void*, size_t>> by_identity_;
  bool slots_changed_ = false;
  size_t families_ = 0;    // in the last pass
  size_t text_bytes_ = 0;  // of the last AppendText
  // The HELP and TYPE lines of the last pass' families, in order, by name.
  std::vector<std::pair<std::string, std::string>> family_headers_;
  size_t next_slot_ = 0;
  std::vector<expo::Family>* out_ = nullptr;  // the pass' families, during Collect
  size_t out_n_ = 0;                          // how many of them Begin gave out
  std::string key_, name_, help_, path_;      // scratch, reused
  std::vector<NetDevice> devices_;
  uint64_t pass_ = 1;
  // The filesystems to report, from the mount table, and the table kept open to ask whether it
  // changed.
  struct Mount {
    std::string device, mountpoint, fstype;
    bool readonly = false;
    std::string path;  // the mount point under --rootfs, for statfs
  };
  std::vector<Mount> mounts_;
  std::unique_ptr<ReadableFile> mounts_file_;
  uint64_t mounts_pass_ = 0;
  // Block devices seen in diskstats: whether node_exporter's default excludes them.
  std::vector<std::pair<std::string, bool>> disk_excluded_;
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
