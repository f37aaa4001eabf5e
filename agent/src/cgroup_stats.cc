#include "cgroup_stats.h"

#include <unistd.h>

#include <charconv>
#include <cmath>
#include <utility>
#include <vector>

#include "small_file.h"

namespace vigil::agent {
namespace {

// cAdvisor reports limits above 2^62 (unlimited: v1's page-rounded INT64_MAX, v2's "max") as 0.
constexpr double kUnlimited = static_cast<double>(uint64_t{1} << 62);

std::optional<double> ParseNumber(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.remove_suffix(1);
  if (s == "max") return kUnlimited * 2;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec == std::errc() && p == s.data() + s.size()) return static_cast<double>(v);
  uint64_t u = 0;
  auto [p2, ec2] = std::from_chars(s.data(), s.data() + s.size(), u);
  if (ec2 == std::errc() && p2 == s.data() + s.size()) return static_cast<double>(u);
  return std::nullopt;
}

double SpecLimit(double v) { return v > kUnlimited ? 0 : v; }

// The files read at every pass, each with its slot in the cgroup's open files. The spec files
// (limits, read every kSpecEveryPasses) and cgroup.procs are read by path: keeping them open
// would cost a descriptor each for a read in ten.
constexpr std::string_view kFiles[] = {"cpuacct.usage",
                                       "cpuacct.stat",
                                       "cpu.stat",
                                       "memory.usage_in_bytes",
                                       "memory.max_usage_in_bytes",
                                       "memory.failcnt",
                                       "memory.memsw.usage_in_bytes",
                                       "memory.stat",
                                       "memory.oom_control",
                                       "pids.current",
                                       "blkio.throttle.io_service_bytes_recursive",
                                       "blkio.throttle.io_serviced_recursive",
                                       "io.stat",
                                       "memory.current",
                                       "memory.peak",
                                       "memory.swap.current",
                                       "memory.events",
                                       "cpu.pressure",
                                       "memory.pressure",
                                       "io.pressure"};

constexpr size_t Slot(std::string_view file) {
  for (size_t i = 0; i < std::size(kFiles); ++i) {
    if (kFiles[i] == file) return i;
  }
  return std::size(kFiles);  // not kept open
}
static_assert(std::size(kFiles) <= kCgroupFileSlots);

}  // namespace

// A file of a cgroup: its name, and its slot among the cgroup's open files, found when the
// code is compiled (a pass reads some 16,000 files: comparing names at each read showed).
struct CgroupFile {
  // NOLINTNEXTLINE(google-explicit-constructor): made from the string literals it names.
  consteval CgroupFile(const char* file) : name(file), slot(Slot(file)) {}
  std::string_view name;
  size_t slot;
};

std::optional<double> KeyedValue(std::string_view text, std::string_view key) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    if (line.size() > key.size() && line.starts_with(key) && line[key.size()] == ' ') {
      return ParseNumber(line.substr(key.size() + 1));
    }
    pos = end + 1;
  }
  return std::nullopt;
}

std::optional<double> PressureTotal(std::string_view text, std::string_view kind) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    if (line.starts_with(kind) && line.size() > kind.size() && line[kind.size()] == ' ') {
      const size_t t = line.find("total=");
      if (t != std::string_view::npos) return ParseNumber(line.substr(t + 6));
    }
    pos = end + 1;
  }
  return std::nullopt;
}

CgroupReader::CgroupReader(std::shared_ptr<FileSystem> fs, CgroupMounts mounts)
    : fs_(fs), mounts_(std::move(mounts)), files_(std::move(fs), FileCache::Budget()) {
  if (auto w = fs_->WatchDirectories(); w.ok()) watcher_ = std::move(*w);
  const long ticks = ::sysconf(_SC_CLK_TCK);
  if (ticks > 0) clock_ticks_ = static_cast<double>(ticks);
}

bool CgroupReader::Load(const std::string& dir, const std::string& path, const CgroupFile& file,
                        bool count_missing) {
  buf_.clear();
  if (dir.empty()) return false;
  path_buf_.assign(dir);
  if (path != "/") path_buf_ += path;
  path_buf_ += '/';
  path_buf_ += file.name;
  const size_t slot = file.slot;
  const bool read = group_ != nullptr && slot < std::size(kFiles)
                        ? files_.Read(*group_, slot, path_buf_, buf_, 1 << 20)
                        : ReadSmallFile(*fs_, path_buf_, buf_, 1 << 20);
  if (!read) {
    if (count_missing) ++missing_files_;
    return false;
  }
  return true;
}

std::optional<double> CgroupReader::Number(const std::string& dir, const std::string& path,
                                           const CgroupFile& file) {
  if (!Load(dir, path, file)) return std::nullopt;
  return ParseNumber(buf_);
}

CgroupStats CgroupReader::Read(const std::string& path) {
  CgroupStats s;
  ReadInto(path, files_.GroupFor(path), nullptr, s);
  return s;
}

void CgroupReader::Read(Cgroup& cgroup, CgroupStats& s) {
  ReadInto(cgroup.path_, cgroup.files_, &cgroup.spec_, s);
}

void CgroupReader::ReadInto(const std::string& path, FileCache::Group& files, Spec* cached,
                            CgroupStats& s) {
  std::vector<CgroupStats::Blkio> blkio = std::move(s.blkio);  // its room is kept
  blkio.clear();
  s = CgroupStats{};
  s.blkio = std::move(blkio);
  group_ = &files;
  // Within walks, the spec files are read when a cgroup is first seen and then every
  // kSpecEveryPasses passes, as cAdvisor reads a container's spec once: limits change seldom,
  // and they are a third of the files.
  if (cached != nullptr && cached->read_pass != 0 && pass_ - cached->read_pass < kSpecEveryPasses) {
    s.cpu_quota_us = cached->cpu_quota_us;
    s.cpu_period_us = cached->cpu_period_us;
    s.cpu_shares = cached->cpu_shares;
    s.memory_limit = cached->memory_limit;
    s.memory_swap_limit = cached->memory_swap_limit;
  } else {
    if (V1()) {
      ReadV1Spec(path, s);
    } else {
      ReadV2Spec(path, s);
    }
    if (cached != nullptr) {
      *cached = {s.cpu_quota_us, s.cpu_period_us,     s.cpu_shares,
                 s.memory_limit, s.memory_swap_limit, pass_};
    }
  }
  inactive_file_.reset();
  if (V1()) {
    ReadV1(path, s);
  } else {
    ReadV2(path, s);
  }
  // cAdvisor's working set: usage minus inactive file pages, floored at 0.
  if (s.memory_usage && inactive_file_) {
    s.memory_working_set =
        *s.memory_usage > *inactive_file_ ? *s.memory_usage - *inactive_file_ : 0;
  }
}

void CgroupReader::ReadV1(const std::string& path, CgroupStats& s) {
  const std::string& cpuacct = mounts_.Controller("cpuacct");
  const std::string& cpu = mounts_.Controller("cpu");
  const std::string& memory = mounts_.Controller("memory");
  if (auto ns = Number(cpuacct, path, "cpuacct.usage")) s.cpu_usage = *ns / 1e9;
  if (Load(cpuacct, path, "cpuacct.stat")) {
    if (auto v = KeyedValue(buf_, "user")) s.cpu_user = *v / clock_ticks_;
    if (auto v = KeyedValue(buf_, "system")) s.cpu_system = *v / clock_ticks_;
  }
  if (Load(cpu, path, "cpu.stat")) {
    s.cfs_periods = KeyedValue(buf_, "nr_periods");
    s.cfs_throttled_periods = KeyedValue(buf_, "nr_throttled");
    if (auto ns = KeyedValue(buf_, "throttled_time")) s.cfs_throttled_seconds = *ns / 1e9;
  }

  s.memory_usage = Number(memory, path, "memory.usage_in_bytes");
  s.memory_max_usage = Number(memory, path, "memory.max_usage_in_bytes");
  s.memory_failcnt = Number(memory, path, "memory.failcnt");
  if (!swap_) {
    s.memory_swap = 0;  // a node without swap: no cgroup has any
  } else if (auto memsw = Number(memory, path, "memory.memsw.usage_in_bytes");
             memsw && s.memory_usage) {
    s.memory_swap = *memsw > *s.memory_usage ? *memsw - *s.memory_usage : 0;
  }
  if (Load(memory, path, "memory.stat")) {
    // The hierarchical totals (a pod's cgroup holds its containers), as cAdvisor reads them.
    auto stat = [&](std::string_view total, std::string_view local) {
      auto v = KeyedValue(buf_, total);
      return v ? v : KeyedValue(buf_, local);
    };
    s.memory_rss = stat("total_rss", "rss");
    s.memory_cache = stat("total_cache", "cache");
    s.memory_mapped_file = stat("total_mapped_file", "mapped_file");
    inactive_file_ = stat("total_inactive_file", "inactive_file").value_or(0);
  }
  if (Load(memory, path, "memory.oom_control")) s.oom_events = KeyedValue(buf_, "oom_kill");
  s.pids = Number(mounts_.Controller("pids"), path, "pids.current");
  ReadV1Blkio(path, s);
}

namespace {

// "8:0" at the start of `line`: major and minor; false if it is not a device.
bool ParseDevice(std::string_view& line, uint32_t& major, uint32_t& minor) {
  const size_t colon = line.find(':');
  const size_t space = line.find(' ');
  if (colon == std::string_view::npos || space == std::string_view::npos || colon > space) {
    return false;
  }
  auto a = std::from_chars(line.data(), line.data() + colon, major);
  auto b = std::from_chars(line.data() + colon + 1, line.data() + space, minor);
  if (a.ec != std::errc() || b.ec != std::errc()) return false;
  line.remove_prefix(space + 1);
  return true;
}

CgroupStats::Blkio& DeviceEntry(std::vector<CgroupStats::Blkio>& v, uint32_t major,
                                uint32_t minor) {
  for (auto& d : v) {
    if (d.major == major && d.minor == minor) return d;
  }
  v.push_back({major, minor});
  return v.back();
}

}  // namespace

void CgroupReader::ReadV1Blkio(const std::string& path, CgroupStats& s) {
  const std::string& blkio = mounts_.Controller("blkio");
  if (blkio.empty()) return;
  // "8:0 Read 4096" lines; the _recursive files count a pod's containers, as cAdvisor reads.
  auto read = [&](const CgroupFile& file, double CgroupStats::Blkio::*rd,
                  double CgroupStats::Blkio::*wr) {
    if (!Load(blkio, path, file, false)) return;
    ForEachLine(buf_, [&](std::string_view line) {
      uint32_t major = 0, minor = 0;
      if (!ParseDevice(line, major, minor)) return;
      const size_t sp = line.find(' ');
      if (sp == std::string_view::npos) return;
      const std::string_view op = line.substr(0, sp);
      auto v = ParseNumber(line.substr(sp + 1));
      if (!v || (op != "Read" && op != "Write")) return;
      auto& d = DeviceEntry(s.blkio, major, minor);
      (op == "Read" ? d.*rd : d.*wr) = *v;
    });
  };
  read("blkio.throttle.io_service_bytes_recursive", &CgroupStats::Blkio::read_bytes,
       &CgroupStats::Blkio::write_bytes);
  read("blkio.throttle.io_serviced_recursive", &CgroupStats::Blkio::reads,
       &CgroupStats::Blkio::writes);
}

void CgroupReader::ReadV2Io(const std::string& path, CgroupStats& s) {
  // "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0"
  if (!Load(mounts_.unified, path, "io.stat", false)) return;
  ForEachLine(buf_, [&](std::string_view line) {
    uint32_t major = 0, minor = 0;
    if (!ParseDevice(line, major, minor)) return;
    auto& d = DeviceEntry(s.blkio, major, minor);
    while (!line.empty()) {
      const size_t sp = line.find(' ');
      std::string_view kv = line.substr(0, sp);
      line = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
      const size_t eq = kv.find('=');
      if (eq == std::string_view::npos) continue;
      auto v = ParseNumber(kv.substr(eq + 1));
      if (!v) continue;
      const std::string_view k = kv.substr(0, eq);
      if (k == "rbytes") d.read_bytes = *v;
      if (k == "wbytes") d.write_bytes = *v;
      if (k == "rios") d.reads = *v;
      if (k == "wios") d.writes = *v;
    }
  });
}

std::string CgroupReader::WalkRoot() const {
  if (!V1()) return mounts_.unified;
  std::string root = mounts_.Controller("cpuacct");
  return root.empty() ? mounts_.Controller("memory") : root;
}

std::optional<int> CgroupReader::FirstPid(const std::string& path) {
  group_ = &files_.GroupFor(path);
  if (!Load(WalkRoot(), path, "cgroup.procs", false)) return std::nullopt;
  int pid = 0;
  auto [p, ec] = std::from_chars(buf_.data(), buf_.data() + buf_.size(), pid);
  if (ec != std::errc() || pid <= 0) return std::nullopt;
  return pid;
}

void CgroupReader::ReadV1Spec(const std::string& path, CgroupStats& s) {
  const std::string& cpu = mounts_.Controller("cpu");
  const std::string& memory = mounts_.Controller("memory");
  if (auto q = Number(cpu, path, "cpu.cfs_quota_us"); q && *q > 0) s.cpu_quota_us = q;
  s.cpu_period_us = Number(cpu, path, "cpu.cfs_period_us");
  s.cpu_shares = Number(cpu, path, "cpu.shares");
  if (auto l = Number(memory, path, "memory.limit_in_bytes")) s.memory_limit = SpecLimit(*l);
  if (auto l = Number(memory, path, "memory.memsw.limit_in_bytes")) {
    s.memory_swap_limit = SpecLimit(*l);
  }
}

void CgroupReader::ReadV2Spec(const std::string& path, CgroupStats& s) {
  const std::string& dir = mounts_.unified;
  if (Load(dir, path, "cpu.max")) {
    // "max 100000" or "<quota> <period>".
    const size_t sp = buf_.find(' ');
    if (sp != std::string::npos) {
      auto quota = ParseNumber(std::string_view(buf_).substr(0, sp));
      if (quota && *quota > 0 && *quota < kUnlimited) s.cpu_quota_us = quota;
      s.cpu_period_us = ParseNumber(std::string_view(buf_).substr(sp + 1));
    }
  }
  if (auto w = Number(dir, path, "cpu.weight")) {
    // The kubelet's mapping back from weight to shares (and cAdvisor's).
    s.cpu_shares = 2 + std::floor((*w - 1) * 262142 / 9999);
  }
  if (auto l = Number(dir, path, "memory.max")) s.memory_limit = SpecLimit(*l);
  if (auto l = Number(dir, path, "memory.swap.max")) s.memory_swap_limit = SpecLimit(*l);
}

void CgroupReader::ReadV2(const std::string& path, CgroupStats& s) {
  const std::string& dir = mounts_.unified;
  if (Load(dir, path, "cpu.stat")) {
    if (auto us = KeyedValue(buf_, "usage_usec")) s.cpu_usage = *us / 1e6;
    if (auto us = KeyedValue(buf_, "user_usec")) s.cpu_user = *us / 1e6;
    if (auto us = KeyedValue(buf_, "system_usec")) s.cpu_system = *us / 1e6;
    s.cfs_periods = KeyedValue(buf_, "nr_periods");
    s.cfs_throttled_periods = KeyedValue(buf_, "nr_throttled");
    if (auto us = KeyedValue(buf_, "throttled_usec")) s.cfs_throttled_seconds = *us / 1e6;
  }
  s.memory_usage = Number(dir, path, "memory.current");
  s.memory_max_usage = Number(dir, path, "memory.peak");
  // A node without swap: no cgroup has any, and there is a file less to read per cgroup.
  s.memory_swap = swap_ ? Number(dir, path, "memory.swap.current") : std::optional<double>(0);
  if (Load(dir, path, "memory.stat")) {
    s.memory_rss = KeyedValue(buf_, "anon");
    s.memory_cache = KeyedValue(buf_, "file");
    s.memory_mapped_file = KeyedValue(buf_, "file_mapped");
    inactive_file_ = KeyedValue(buf_, "inactive_file").value_or(0);
  }
  if (Load(dir, path, "memory.events")) {
    s.memory_failcnt = KeyedValue(buf_, "max");
    s.oom_events = KeyedValue(buf_, "oom_kill");
  }
  s.pids = Number(dir, path, "pids.current");
  ReadV2Io(path, s);
  // PSI, where the kernel has it (CONFIG_PSI; not on the root cgroup).
  auto pressure = [&](const CgroupFile& file, std::optional<double>& some,
                      std::optional<double>& full) {
    if (path == "/" || !Load(dir, path, file, false)) return;
    if (auto us = PressureTotal(buf_, "some")) some = *us / 1e6;
    if (auto us = PressureTotal(buf_, "full")) full = *us / 1e6;
  };
  pressure("cpu.pressure", s.cpu_some, s.cpu_full);
  pressure("memory.pressure", s.memory_some, s.memory_full);
  pressure("io.pressure", s.io_some, s.io_full);
}

Status CgroupReader::Walk(const std::function<bool(Cgroup&)>& fn) {
  const std::string root = WalkRoot();
  if (root.empty()) return NotFound("no cgroup hierarchy with CPU or memory statistics");
  ++pass_;
  if (watcher_) {
    bool all = false;
    auto changed = watcher_->Changed(all);
    if (!changed.ok() || all) {
      for (auto& [dir, cgroup] : watched_) cgroup->listed_ = false;
    } else {
      for (const auto& dir : *changed) {
        if (auto it = watched_.find(dir); it != watched_.end()) it->second->listed_ = false;
      }
    }
  }
  if (!root_) {
    root_ = std::make_unique<Cgroup>();
    root_->path_ = "/";
  }
  Status st = Status::Ok();
  if (fn(*root_)) {
    st = WalkDir(root, *root_, fn, 0);
  } else {
    for (auto& child : std::exchange(root_->children_, {})) Drop(std::move(child));
    root_->listed_ = false;
  }
  files_.EndPass();
  return st;
}

CgroupReader::~CgroupReader() {
  if (root_) Drop(std::move(root_));
}

void CgroupReader::Drop(std::unique_ptr<Cgroup> cgroup) {
  if (cgroup->watched_) {
    auto it = watched_.find(WalkRoot() + (cgroup->path_ == "/" ? "" : cgroup->path_));
    if (it != watched_.end() && it->second == cgroup.get()) watched_.erase(it);
  }
  for (auto& child : cgroup->children_) Drop(std::move(child));
}

bool CgroupReader::List(const std::string& dir, Cgroup& cgroup) {
  // Watch first, then list: a cgroup made in between is reported at the next walk.
  const bool was_watched = cgroup.watched_;
  cgroup.watched_ = watcher_ && watcher_->Watch(dir).ok();
  if (cgroup.watched_) {
    watched_[dir] = &cgroup;
  } else if (was_watched) {
    watched_.erase(dir);
  }
  auto names = fs_->ListSubdirs(dir);
  if (!names.ok()) return false;
  // The nodes of the names still there are kept (their open files, spec and the caller's
  // state with them), in the listing's order.
  std::unordered_map<std::string_view, std::unique_ptr<Cgroup>*> old;
  for (auto& child : cgroup.children_) {
    const std::string& p = child->path_;
    old.emplace(std::string_view(p).substr(p.rfind('/') + 1), &child);
  }
  std::vector<std::unique_ptr<Cgroup>> children;
  children.reserve(names->size());
  for (const std::string& name : *names) {
    if (auto it = old.find(name); it != old.end() && *it->second) {
      children.push_back(std::move(*it->second));
      continue;
    }
    auto child = std::make_unique<Cgroup>();
    child->path_ = (cgroup.path_ == "/" ? "" : cgroup.path_) + "/" + name;
    children.push_back(std::move(child));
  }
  for (auto& child : cgroup.children_) {
    if (child) Drop(std::move(child));
  }
  cgroup.children_ = std::move(children);
  cgroup.listed_ = true;
  return true;
}

Status CgroupReader::WalkDir(const std::string& root, Cgroup& cgroup,
                             const std::function<bool(Cgroup&)>& fn, int depth) {
  if (depth > 32) return Status::Ok();  // deeper than any real layout; a loop guard
  // A cgroup directory's mtime does not move when a child is made (kernfs), so the watcher is
  // what tells a listing is stale.
  if (!cgroup.listed_ || !cgroup.watched_) {
    const std::string dir = root + (cgroup.path_ == "/" ? "" : cgroup.path_);
    if (!List(dir, cgroup)) {  // vanished while walking
      for (auto& child : std::exchange(cgroup.children_, {})) Drop(std::move(child));
      cgroup.listed_ = false;
      return Status::Ok();
    }
  }
  for (auto& child : cgroup.children_) {
    if (fn(*child)) {
      VIGIL_RETURN_IF_ERROR(WalkDir(root, *child, fn, depth + 1));
    } else if (!child->children_.empty()) {
      // Not walked into: its listing would go stale unseen.
      for (auto& grandchild : std::exchange(child->children_, {})) Drop(std::move(grandchild));
      child->listed_ = false;
    }
  }
  return Status::Ok();
}

}  // namespace vigil::agent
