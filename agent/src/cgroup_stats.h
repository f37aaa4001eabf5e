#pragma once

// CgroupReader: the CPU and memory statistics of one cgroup, from the v1 controllers or the v2
// unified hierarchy as CgroupMounts found them, named as cAdvisor names them. Every file goes
// through the FileSystem seam into one reused buffer; a collection pass never forks.
//
// A cgroup can vanish between listing and reading (a container exits): its fields stay unset
// and the read is counted in missing_files(), never an error for the whole pass.
//
// Not thread-safe: one reader per collecting thread.

#include <any>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cgroup_mounts.h"
#include "small_file.h"
#include "vigil/common/file_system.h"

namespace vigil::agent {

struct CgroupStats {
  // CPU, seconds (usage, user, system, throttled) and counts.
  std::optional<double> cpu_usage, cpu_user, cpu_system;
  std::optional<double> cfs_periods, cfs_throttled_periods, cfs_throttled_seconds;
  // CPU spec: quota and period in microseconds (quota unset when unlimited), shares.
  std::optional<double> cpu_quota_us, cpu_period_us, cpu_shares;
  // Memory, bytes (failcnt and oom_events are counts).
  std::optional<double> memory_usage, memory_max_usage, memory_working_set, memory_rss,
      memory_cache, memory_swap, memory_mapped_file, memory_failcnt, oom_events;
  // Memory spec: 0 when unlimited, as cAdvisor reports it.
  std::optional<double> memory_limit, memory_swap_limit;
  std::optional<double> pids;
  // Block IO by device (v1 blkio.throttle.io_service{d,_bytes}, v2 io.stat).
  struct Blkio {
    uint32_t major = 0, minor = 0;
    double read_bytes = 0, write_bytes = 0, reads = 0, writes = 0;
  };
  std::vector<Blkio> blkio;
  // Pressure stall totals in seconds (v2 cpu/memory/io.pressure): "some" is time some tasks
  // waited, "full" time all were stalled. cAdvisor's waiting and stalled.
  std::optional<double> cpu_some, cpu_full, memory_some, memory_full, io_some, io_full;
};

struct CgroupFile;  // a file's name and slot (cgroup_stats.cc)

// The slots of a cgroup's open files the reader uses (0 to kCgroupFileSlots - 1); a caller may
// keep its own files of the cgroup in the slots after.
inline constexpr size_t kCgroupFileSlots = 20;

class CgroupReader {
 private:
  // A cgroup's spec as last read, and in which walk (1-based; 0: never).
  struct Spec {
    std::optional<double> cpu_quota_us, cpu_period_us, cpu_shares, memory_limit, memory_swap_limit;
    uint64_t read_pass = 0;
  };

 public:
  // One cgroup of the walked hierarchy, kept from walk to walk while it is there: its open
  // files, its spec as last read, its subdirectories as last listed, and what the caller keeps
  // with it, so that a walk looks nothing up by path.
  class Cgroup {
   public:
    // Relative to the hierarchy root: "/" for the root, "/kubepods.slice/..." below.
    const std::string& path() const { return path_; }
    // The cgroup's open files; a caller keeps its own from slot kCgroupFileSlots on.
    FileCache::Group& files() { return files_; }
    std::any user;  // the caller's, for as long as the cgroup is there

   private:
    friend class CgroupReader;
    std::string path_;
    FileCache::Group files_;
    Spec spec_;
    std::vector<std::unique_ptr<Cgroup>> children_;  // as last listed
    bool listed_ = false;                            // children_ are the current listing
    bool watched_ = false;                           // the watcher reports its changes
  };

  CgroupReader(std::shared_ptr<FileSystem> fs, CgroupMounts mounts);
  ~CgroupReader();

  // The statistics of the cgroup at `path` (relative to the hierarchy root, "/" for the root),
  // its spec (quota, period, shares, limits) included.
  CgroupStats Read(const std::string& path);
  // A walked cgroup's, into `s` (reset first; the room of its vectors is kept). The spec comes
  // from the last walks' reads and is read again every kSpecEveryPasses walks.
  void Read(Cgroup& cgroup, CgroupStats& s);
  // Calls fn(cgroup) for every cgroup of the hierarchy the statistics come from (the unified
  // one on v2, cpuacct's or memory's on v1), parents before children; fn returns whether to walk
  // into the cgroup's children (a container's own cgroup has none worth listing).
  Status Walk(const std::function<bool(Cgroup&)>& fn);

  // The first process of the cgroup (cgroup.procs in the walked hierarchy), for its network
  // namespace; nullopt when it has none.
  std::optional<int> FirstPid(const std::string& path);

  const CgroupMounts& mounts() const { return mounts_; }
  // Whether the node has swap (SwapTotal > 0). Without it, swap usage is 0 and not read.
  void set_swap(bool swap) { swap_ = swap; }
  // The files the reader keeps open between walks; the collector reads its /proc files through
  // it too, so a walk's end closes what went away.
  FileCache& files() { return files_; }
  uint64_t missing_files() const { return missing_files_; }

 private:
  bool V1() const { return !mounts_.controllers.empty(); }
  // The hierarchy walked, and whose cgroup.procs tell a cgroup's processes: the unified one on
  // v2, cpuacct's (else memory's) on v1.
  std::string WalkRoot() const;
  // Reads a file into buf_; false (counted) when it is gone or unreadable.
  // Optional files (io.stat, PSI: absent where the controller or the kernel option is off) are
  // loaded with count_missing false.
  bool Load(const std::string& dir, const std::string& path, const CgroupFile& file,
            bool count_missing = true);
  std::optional<double> Number(const std::string& dir, const std::string& path,
                               const CgroupFile& file);
  void ReadInto(const std::string& path, FileCache::Group& files, Spec* spec, CgroupStats& s);
  void ReadV1(const std::string& path, CgroupStats& s);
  void ReadV2(const std::string& path, CgroupStats& s);
  void ReadV1Blkio(const std::string& path, CgroupStats& s);
  void ReadV2Io(const std::string& path, CgroupStats& s);
  void ReadV1Spec(const std::string& path, CgroupStats& s);
  void ReadV2Spec(const std::string& path, CgroupStats& s);

  static constexpr uint64_t kSpecEveryPasses = 10;
  Status WalkDir(const std::string& root, Cgroup& cgroup, const std::function<bool(Cgroup&)>& fn,
                 int depth);
  // Makes `cgroup`'s children the directory's listing: kept nodes for the names still there,
  // new ones for new names; the others go (Drop).
  bool List(const std::string& dir, Cgroup& cgroup);
  // Lets go of a cgroup and everything below it.
  void Drop(std::unique_ptr<Cgroup> cgroup);

  std::shared_ptr<FileSystem> fs_;
  CgroupMounts mounts_;
  FileCache files_;
  FileCache::Group* group_ = nullptr;  // the open files of the cgroup being read
  std::string buf_;
  std::string path_buf_;
  uint64_t missing_files_ = 0;
  double clock_ticks_ = 100;
  uint64_t pass_ = 0;  // walks so far
  bool swap_ = true;
  std::optional<double> inactive_file_;  // from memory.stat, for the working set
  // The hierarchy as walked (after files_: its groups give their files back to it). A
  // directory is listed again only when the watcher says it changed (runtimes make cgroups
  // with mkdir(2), which inotify reports on cgroupfs); without a watcher (MemFileSystem, or out
  // of inotify watches) it is listed at every walk.
  std::unique_ptr<DirWatcher> watcher_;
  std::unique_ptr<Cgroup> root_;
  std::unordered_map<std::string, Cgroup*> watched_;  // directory → its cgroup, while watched
};

// "key value" lines (cpu.stat, memory.stat, memory.events): the value of `key`.
std::optional<double> KeyedValue(std::string_view text, std::string_view key);

// A PSI file ("some avg10=0.00 avg60=0.00 avg300=0.00 total=123\nfull ..."): the total of the
// `kind` line ("some" or "full"), in microseconds.
std::optional<double> PressureTotal(std::string_view text, std::string_view kind);

}  // namespace vigil::agent
