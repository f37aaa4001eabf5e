#include "node_collector.h"

#include <re2/re2.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <set>
#include <span>

#include <charconv>
#include <map>

#include "small_file.h"

namespace vigil::agent {
namespace {

using expo::Family;
using expo::MetricType;

// The fields of a line, split at blanks, held inline: no allocation per line. Only the first
// kMax count; the lines read here have at most 20 that matter (/proc/stat's intr line has
// hundreds, of which only the first is used).
class Fields {
 public:
  explicit Fields(std::string_view line) {
    size_t i = 0;
    while (i < line.size() && n_ < kMax) {
      while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
      const size_t start = i;
      while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
      if (i > start) f_[n_++] = line.substr(start, i - start);
    }
  }
  size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  std::string_view operator[](size_t i) const { return f_[i]; }
  const std::string_view* begin() const { return f_.data(); }
  const std::string_view* end() const { return f_.data() + n_; }

 private:
  static constexpr size_t kMax = 24;
  std::array<std::string_view, kMax> f_;
  size_t n_ = 0;
};

std::optional<double> Num(std::string_view s) {
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

size_t NodeCollector::Begin(std::string_view name, MetricType type, std::string_view help) {
  std::vector<Family>& out = *out_;
  if (out_n_ == out.size()) out.emplace_back();
  Family& f = out[out_n_];
  if (f.name != name) {
    f.name.assign(name);
    f.help.assign(help);
    f.unit.clear();
  }
  f.type = type;
  f.samples.clear();  // keeps its room
  return out_n_++;
}

void NodeCollector::Add(
    Family& f, double v,
    std::initializer_list<std::pair<std::string_view, std::string_view>> labels) {
  // A pass adds the same series in the same order as the last one: the label set of the n-th
  // Add is reused when its name and label pairs are those of the last pass' n-th.
  key_.assign(f.name);
  for (auto [n, val] : labels) {
    key_ += '\xff';
    key_ += n;
    key_ += '\xfe';
    key_ += val;
  }
  if (next_slot_ == label_slots_.size()) label_slots_.emplace_back();
  LabelSlot& slot = label_slots_[next_slot_++];
  if (slot.key(arena_) != key_) {
    LabelsBuilder b;
    b.Set(kMetricNameLabel, f.name);
    for (auto [n, val] : labels) b.Set(n, val);
    slot.labels = b.Build();
    slot.key_at = arena_.size();
    slot.key_size = key_.size();
    arena_ += key_;
    slot.text_at = arena_.size();
    expo::AppendSeries(arena_, slot.labels);
    arena_ += ' ';
    slot.text_size = arena_.size() - slot.text_at;
    slots_changed_ = true;
  }
  // One allocation for most families (the first pass), instead of a vector growing sample by
  // sample.
  if (f.samples.capacity() == 0) f.samples.reserve(8);
  f.samples.push_back({slot.labels, v, {}});
}

void NodeCollector::AppendText(std::string& out, const std::vector<Family>& families) {
  out.reserve(out.size() + text_bytes_ + 1024);
  const size_t start = out.size();
  if (family_headers_.size() < families.size()) family_headers_.resize(families.size());
  for (size_t i = 0; i < families.size(); ++i) {
    const Family& f = families[i];
    auto& [name, header] = family_headers_[i];
    if (name != f.name) {
      name = f.name;
      header.clear();
      expo::AppendFamilyHeader(header, f.name, f.type, f.help, f.unit, expo::Format::kText);
    }
    out += header;
    for (const expo::Sample& s : f.samples) {
      const std::pair<const void*, size_t> key(s.labels.identity(), 0);
      auto slot = std::lower_bound(by_identity_.begin(), by_identity_.end(), key);
      if (slot != by_identity_.end() && slot->first == key.first) {
        out += label_slots_[slot->second].text(arena_);
      } else {  // not added by this collector: written in full
        expo::AppendSeries(out, s.labels);
        out += ' ';
      }
      expo::AppendValue(out, s.value);
      out += '\n';
    }
  }
  text_bytes_ = out.size() - start;
}

NodeCollector::NodeCollector(std::shared_ptr<FileSystem> fs, Options options)
    : fs_(fs),
      files_(std::move(fs), 256),
      proc_root_(std::move(options.proc_root)),
      sys_root_(std::move(options.sys_root)),
      rootfs_(std::move(options.rootfs)),
      clock_(std::move(options.clock)) {
  while (rootfs_.size() > 1 && rootfs_.back() == '/') rootfs_.pop_back();
  const long ticks = ::sysconf(_SC_CLK_TCK);
  if (ticks > 0) clock_ticks_ = static_cast<double>(ticks);
}

bool NodeCollector::ReadNodeFile(const std::string& path, size_t max_bytes) {
  // The node's handful of files, each in a slot of its own, kept open between passes.
  auto it = std::find(slots_.begin(), slots_.end(), path);
  if (it == slots_.end()) it = slots_.insert(slots_.end(), path);
  return files_.Read(files_.GroupFor("node"), static_cast<size_t>(it - slots_.begin()), path, buf_,
                     max_bytes);
}

bool NodeCollector::Load(std::string_view file, size_t max_bytes) {
  path_.assign(proc_root_).append("/").append(file);
  if (!ReadNodeFile(path_, max_bytes)) {
    ++missing_files_;
    return false;
  }
  return true;
}

std::vector<Family> NodeCollector::Collect() {
  std::vector<Family> out;
  Collect(out);
  return out;
}

void NodeCollector::Collect(std::vector<Family>& out) {
  out.reserve(families_ + 8);
  out_ = &out;
  out_n_ = 0;
  Stat();
  Meminfo();
  Loadavg();
  Filefd();
  NetDev();
  DiskStats();
  Pressure();
  Filesystems();
  Time();
  out.resize(out_n_);
  std::erase_if(out, [](const Family& f) { return f.samples.empty(); });
  out_ = nullptr;
  files_.EndPass();
  slots_changed_ |= next_slot_ != label_slots_.size();
  label_slots_.resize(next_slot_);
  if (slots_changed_) {
    // Slots made again leave their old text in the arena: written anew when half is garbage.
    size_t live = 0;
    for (const LabelSlot& slot : label_slots_) live += slot.key_size + slot.text_size;
    if (arena_.size() > 2 * live + 4096) {
      std::string arena;
      arena.reserve(live);
      for (LabelSlot& slot : label_slots_) {
        const std::string_view key = slot.key(arena_), text = slot.text(arena_);
        slot.key_at = arena.size();
        arena += key;
        slot.text_at = arena.size();
        arena += text;
      }
      arena_ = std::move(arena);
    }
    by_identity_.clear();
    for (size_t i = 0; i < label_slots_.size(); ++i) {
      by_identity_.emplace_back(label_slots_[i].labels.identity(), i);
    }
    std::sort(by_identity_.begin(), by_identity_.end());
    slots_changed_ = false;
  }
  next_slot_ = 0;
  families_ = out.size();
  ++pass_;
}

namespace {

// /proc/mounts escapes space, tab, newline and backslash as \ooo.
std::string UnescapeMount(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    auto octal = [&](size_t k) { return k < s.size() && s[k] >= '0' && s[k] <= '7'; };
    if (s[i] == '\\' && octal(i + 1) && octal(i + 2) && octal(i + 3)) {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

bool NodeCollector::ReadMounts() {
  // The mount table changes rarely, and the kernel's rendering of it was a tenth of a pass: it
  // is parsed again only when procfs says it changed (or cannot say), and every 100 passes.
  if (mounts_file_ && pass_ - mounts_pass_ < 100) {
    if (auto changed = mounts_file_->MountTableChanged(); changed && !*changed) return true;
  }
  if (!mounts_file_ || pass_ - mounts_pass_ >= 100) {
    mounts_file_.reset();
    for (const char* name : {"/1/mounts", "/mounts"}) {
      if (auto f = fs_->OpenForRead(proc_root_ + name); f.ok()) {
        mounts_file_ = std::move(*f);
        break;
      }
    }
  }
  if (!mounts_file_ || !ReadAll(*mounts_file_, buf_, 8 << 20) || buf_.empty()) {
    mounts_file_.reset();
    ++missing_files_;
    return false;
  }
  mounts_pass_ = pass_;
  // node_exporter 1.5's defaults.
  static const re2::RE2 kMountExclude(
      "^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)");
  static const re2::RE2 kTypeExclude(
      "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|"
      "iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|"
      "sysfs|tracefs)$");
  mounts_.clear();
  std::set<std::string> seen;
  ForEachLine(buf_, [&](std::string_view line) {
    const Fields f(line);
    if (f.size() < 4) return;
    Mount m;
    m.device = UnescapeMount(f[0]);
    m.mountpoint = UnescapeMount(f[1]);
    m.fstype = std::string(f[2]);
    if (re2::RE2::PartialMatch(m.mountpoint, kMountExclude) ||
        re2::RE2::FullMatch(m.fstype, kTypeExclude)) {
      return;
    }
    // The same mount point twice (mounted over): one set of series, as node_exporter keeps.
    if (!seen.insert(m.device + '\0' + m.mountpoint + '\0' + m.fstype).second) return;
    std::string_view opts = f[3];
    while (!opts.empty()) {
      const size_t comma = opts.find(',');
      if (opts.substr(0, comma) == "ro") m.readonly = true;
      if (comma == std::string_view::npos) break;
      opts.remove_prefix(comma + 1);
    }
    m.path = rootfs_ == "/" ? m.mountpoint : rootfs_ + m.mountpoint;
    mounts_.push_back(std::move(m));
  });
  return true;
}

void NodeCollector::Filesystems() {
  if (!ReadMounts()) return;
  struct Def {
    const char* name;
    const char* help;
  };
  static const Def kDefs[] = {
      {"node_filesystem_size_bytes", "Filesystem size in bytes."},
      {"node_filesystem_free_bytes", "Filesystem free space in bytes."},
      {"node_filesystem_avail_bytes", "Filesystem space available to non-root users in bytes."},
      {"node_filesystem_files", "Filesystem total file nodes."},
      {"node_filesystem_files_free", "Filesystem total free file nodes."},
      {"node_filesystem_readonly", "Filesystem read-only status."},
      {"node_filesystem_device_error",
       "Whether an error occurred while getting statistics for "
       "the given device."},
  };
  const size_t first = out_n_;  // Begin gives consecutive positions
  for (const auto& d : kDefs) Begin(d.name, MetricType::kGauge, d.help);
  for (const Mount& m : mounts_) {
    auto add = [&](size_t i, double v) {
      Add(first + i, v, {{"device", m.device}, {"fstype", m.fstype}, {"mountpoint", m.mountpoint}});
    };
    auto usage = fs_->StatFs(m.path);
    if (!usage.ok()) {
      add(6, 1);
      continue;
    }
    const double bs = static_cast<double>(usage->block_size);
    add(0, static_cast<double>(usage->blocks) * bs);
    add(1, static_cast<double>(usage->blocks_free) * bs);
    add(2, static_cast<double>(usage->blocks_available) * bs);
    add(3, static_cast<double>(usage->files));
    add(4, static_cast<double>(usage->files_free));
    add(5, m.readonly ? 1 : 0);
    add(6, 0);
  }
}

void NodeCollector::Time() {
  const auto now = clock_->Now();
  Add(Begin("node_time_seconds", MetricType::kGauge, "System time in seconds since epoch (1970)."),
      std::chrono::duration<double>(now.time_since_epoch()).count());
  // The local zone's name and offset, as node_exporter's time collector reports them.
  const time_t t = std::chrono::system_clock::to_time_t(now);
  struct tm local;
  if (::localtime_r(&t, &local) != nullptr) {
    Add(Begin("node_time_zone_offset_seconds", MetricType::kGauge,
              "System time zone offset in seconds."),
        static_cast<double>(local.tm_gmtoff),
        {{"time_zone", local.tm_zone != nullptr ? local.tm_zone : ""}});
  }
  // Clock sources: /sys/devices/system/clocksource/clocksource<N>/{available,current}_clocksource.
  // Listed once and then every 100 passes: clock sources come with the hardware.
  if (clocksources_.empty() || pass_ % 100 == 0) {
    auto dirs = fs_->ListDir(sys_root_ + "/devices/system/clocksource");
    clocksources_ = dirs.ok() ? *dirs : std::vector<std::string>{};
  }
  const size_t available = Begin("node_time_clocksource_available_info", MetricType::kGauge,
                                 "Available clocksources read from "
                                 "'/sys/devices/system/clocksource'.");
  const size_t current = Begin("node_time_clocksource_current_info", MetricType::kGauge,
                               "Current clocksource read from '/sys/devices/system/clocksource'.");
  for (const std::string& d : clocksources_) {
    if (!d.starts_with("clocksource")) continue;
    const std::string_view device = std::string_view(d).substr(11);
    auto line = [&] {
      std::string_view v(buf_);
      while (!v.empty() && v.back() == '\n') v.remove_suffix(1);
      return v;
    };
    for (const auto& [file, family] : {std::pair{"/available_clocksource", available},
                                       std::pair{"/current_clocksource", current}}) {
      path_.assign(sys_root_).append("/devices/system/clocksource/").append(d).append(file);
      if (!ReadNodeFile(path_, 4096)) continue;
      for (auto name : Fields(line())) Add(family, 1, {{"clocksource", name}, {"device", device}});
    }
  }
}

void NodeCollector::Stat() {
  if (!Load("stat")) return;
  const size_t boot =
      Begin("node_boot_time_seconds", MetricType::kGauge, "Node boot time, in unixtime.");
  const size_t ctxt = Begin("node_context_switches_total", MetricType::kCounter,
                            "Total number of context switches.");
  const size_t cpu =
      Begin("node_cpu_seconds_total", MetricType::kCounter, "Seconds the CPUs spent in each mode.");
  const size_t guest = Begin("node_cpu_guest_seconds_total", MetricType::kCounter,
                             "Seconds the CPUs spent in guests (VMs) for each mode.");
  const size_t forks = Begin("node_forks_total", MetricType::kCounter, "Total number of forks.");
  const size_t intr =
      Begin("node_intr_total", MetricType::kCounter, "Total number of interrupts serviced.");
  const size_t blocked = Begin("node_procs_blocked", MetricType::kGauge,
                               "Number of processes blocked waiting for I/O to complete.");
  const size_t running =
      Begin("node_procs_running", MetricType::kGauge, "Number of processes in runnable state.");
  static constexpr std::string_view kModes[] = {"user",   "nice", "system",  "idle",
                                                "iowait", "irq",  "softirq", "steal"};
  ForEachLine(buf_, [&](std::string_view line) {
    const Fields f(line);
    if (f.size() < 2) return;
    if (f[0].starts_with("cpu") && f[0].size() > 3) {
      const std::string_view n = f[0].substr(3);
      for (size_t m = 0; m < std::size(kModes) && m + 1 < f.size(); ++m) {
        if (auto v = Num(f[m + 1])) Add(cpu, *v / clock_ticks_, {{"cpu", n}, {"mode", kModes[m]}});
      }
      if (f.size() > 10) {
        if (auto v = Num(f[9])) Add(guest, *v / clock_ticks_, {{"cpu", n}, {"mode", "user"}});
        if (auto v = Num(f[10])) Add(guest, *v / clock_ticks_, {{"cpu", n}, {"mode", "nice"}});
      }
      return;
    }
    auto v = Num(f[1]);
    if (!v) return;
    if (f[0] == "btime") Add(boot, *v);
    if (f[0] == "ctxt") Add(ctxt, *v);
    if (f[0] == "processes") Add(forks, *v);
    if (f[0] == "intr") Add(intr, *v);
    if (f[0] == "procs_running") Add(running, *v);
    if (f[0] == "procs_blocked") Add(blocked, *v);
  });
}

void NodeCollector::Meminfo() {
  if (!Load("meminfo")) return;
  ForEachLine(buf_, [&](std::string_view line) {
    const Fields f(line);
    if (f.size() < 2 || !f[0].ends_with(':')) return;
    auto v = Num(f[1]);
    if (!v) return;
    // "Active(anon):" → node_memory_Active_anon_bytes; fields without kB have no unit.
    std::string& name = name_;
    name.assign("node_memory_");
    for (char c : f[0].substr(0, f[0].size() - 1)) {
      if (c == '(') {
        name += '_';
      } else if (c != ')') {
        name += c;
      }
    }
    const bool kb = f.size() > 2 && f[2] == "kB";
    if (kb) name += "_bytes";
    help_.assign("Memory information field ").append(name, 12).append(".");
    Add(Begin(name, MetricType::kGauge, help_), kb ? *v * 1024 : *v);
  });
}

void NodeCollector::Loadavg() {
  if (!Load("loadavg")) return;
  const Fields f(buf_);
  static constexpr const char* kNames[] = {"node_load1", "node_load5", "node_load15"};
  static constexpr const char* kHelps[] = {"1m load average.", "5m load average.",
                                           "15m load average."};
  for (size_t i = 0; i < 3 && i < f.size(); ++i) {
    if (auto v = Num(f[i])) Add(Begin(kNames[i], MetricType::kGauge, kHelps[i]), *v);
  }
}

void NodeCollector::Filefd() {
  // Small: the kernel allocates (and zeroes) a buffer of the size asked for sysctl files.
  if (!Load("sys/fs/file-nr", 256)) return;
  const Fields f(std::string_view(buf_).substr(0, buf_.find('\n')));
  if (f.size() < 3) return;
  if (auto v = Num(f[0])) {
    Add(Begin("node_filefd_allocated", MetricType::kGauge,
              "File descriptor statistics: allocated."),
        *v);
  }
  if (auto v = Num(f[2])) {
    Add(Begin("node_filefd_maximum", MetricType::kGauge, "File descriptor statistics: maximum."),
        *v);
  }
}

void ParseNetDev(std::string_view text, std::vector<NetDevice>& out) {
  out.clear();
  ForEachLine(text, [&](std::string_view line) {
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) return;  // the two header lines
    std::string_view dev = line.substr(0, colon);
    while (!dev.empty() && dev.front() == ' ') dev.remove_prefix(1);
    if (dev == "lo") return;
    const Fields f(line.substr(colon + 1));
    if (f.size() < 16) return;
    NetDevice& d = out.emplace_back();
    d.name.assign(dev);
    for (size_t i = 0; i < 16; ++i) d.values[i] = Num(f[i]).value_or(0);
  });
}

void NodeCollector::NetDev() {
  if (!Load("net/dev")) return;
  // The 16 columns of /proc/net/dev: their families' names and helps, made once.
  static const auto kFamilies = [] {
    static constexpr std::string_view kRx[] = {"bytes", "packets", "errs",       "drop",
                                               "fifo",  "frame",   "compressed", "multicast"};
    static constexpr std::string_view kTx[] = {"bytes", "packets", "errs",    "drop",
                                               "fifo",  "colls",   "carrier", "compressed"};
    std::vector<std::pair<std::string, std::string>> f;
    for (const auto& [dir, names] :
         {std::pair{"receive_", std::span(kRx)}, std::pair{"transmit_", std::span(kTx)}}) {
      for (auto n : names) {
        f.emplace_back("node_network_" + std::string(dir) + std::string(n) + "_total",
                       "Network device statistic " + std::string(dir) + std::string(n) + ".");
      }
    }
    return f;
  }();
  const size_t first = out_n_;  // Begin gives consecutive positions
  for (const auto& [name, help] : kFamilies) Begin(name, MetricType::kCounter, help);
  ParseNetDev(buf_, devices_);
  for (const NetDevice& dev : devices_) {
    for (size_t i = 0; i < kFamilies.size(); ++i) {
      Add(first + i, dev.values[i], {{"device", dev.name}});
    }
  }
}

void NodeCollector::DiskStats() {
  if (!Load("diskstats")) return;
  // node_exporter 1.5's default --collector.diskstats.device-exclude: partitions and virtual
  // devices.
  static const re2::RE2 kExclude("^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\\d+n\\d+p)\\d+$");
  struct Stat {
    const char* name;
    const char* help;
    size_t field;  // index among the values after the device name
    double scale;  // to node_exporter's unit
  };
  static const Stat kStats[] = {
      {"node_disk_reads_completed_total", "The total number of reads completed successfully.", 0,
       1},
      {"node_disk_reads_merged_total", "The total number of reads merged.", 1, 1},
      {"node_disk_read_bytes_total", "The total number of bytes read successfully.", 2, 512},
      {"node_disk_read_time_seconds_total", "The total number of seconds spent by all reads.", 3,
       0.001},
      {"node_disk_writes_completed_total", "The total number of writes completed successfully.", 4,
       1},
      {"node_disk_writes_merged_total", "The number of writes merged.", 5, 1},
      {"node_disk_written_bytes_total", "The total number of bytes written successfully.", 6, 512},
      {"node_disk_write_time_seconds_total",
       "This is the total number of seconds spent by all "
       "writes.",
       7, 0.001},
      {"node_disk_io_now", "The number of I/Os currently in progress.", 8, 1},
      {"node_disk_io_time_seconds_total", "Total seconds spent doing I/Os.", 9, 0.001},
      {"node_disk_io_time_weighted_seconds_total", "The weighted # of seconds spent doing I/Os.",
       10, 0.001},
      {"node_disk_discards_completed_total",
       "The total number of discards completed "
       "successfully.",
       11, 1},
      {"node_disk_discards_merged_total", "The total number of discards merged.", 12, 1},
      {"node_disk_discarded_sectors_total",
       "The total number of sectors discarded "
       "successfully.",
       13, 1},
      {"node_disk_discard_time_seconds_total",
       "This is the total number of seconds spent by all "
       "discards.",
       14, 0.001},
      {"node_disk_flush_requests_total",
       "The total number of flush requests completed "
       "successfully",
       15, 1},
      {"node_disk_flush_requests_time_seconds_total",
       "This is the total number of seconds spent "
       "by all flush requests.",
       16, 0.001},
  };
  const size_t first = out_n_;  // Begin gives consecutive positions
  for (const Stat& s : kStats) {
    Begin(s.name,
          std::string_view(s.name).ends_with("_total") ? MetricType::kCounter : MetricType::kGauge,
          s.help);
  }
  const size_t info =
      Begin("node_disk_info", MetricType::kGauge, "Info of /sys/block/<block_device>.");
  ForEachLine(buf_, [&](std::string_view line) {
    const Fields f(line);
    if (f.size() < 14) return;
    const std::string_view dev = f[2];
    // The devices are the same pass after pass: each is matched once.
    auto known = std::find_if(disk_excluded_.begin(), disk_excluded_.end(),
                              [&](const auto& d) { return d.first == dev; });
    if (known == disk_excluded_.end()) {
      if (disk_excluded_.size() >= 4096) disk_excluded_.clear();  // churn: bounded
      known = disk_excluded_.emplace(
          disk_excluded_.end(), std::string(dev),
          re2::RE2::FullMatch(re2::StringPiece(dev.data(), dev.size()), kExclude));
    }
    if (known->second) return;
    Add(info, 1, {{"device", dev}, {"major", f[0]}, {"minor", f[1]}});
    for (size_t i = 0; i < std::size(kStats); ++i) {
      const size_t at = 3 + kStats[i].field;
      if (at >= f.size()) continue;  // older kernels have fewer fields
      if (auto v = Num(f[at])) Add(first + i, *v * kStats[i].scale, {{"device", dev}});
    }
  });
}

void NodeCollector::Pressure() {
  struct Resource {
    const char* file;
    const char* some;
    const char* full;
  };
  static const Resource kResources[] = {
      {"pressure/cpu", "node_pressure_cpu_waiting_seconds_total", nullptr},
      {"pressure/memory", "node_pressure_memory_waiting_seconds_total",
       "node_pressure_memory_stalled_seconds_total"},
      {"pressure/io", "node_pressure_io_waiting_seconds_total",
       "node_pressure_io_stalled_seconds_total"},
  };
  for (const Resource& r : kResources) {
    // Not counted as missing: kernels without PSI have no such file.
    path_.assign(proc_root_).append("/").append(r.file);
    if (!ReadNodeFile(path_, 1 << 20)) continue;
    ForEachLine(buf_, [&](std::string_view line) {
      const Fields f(line);
      if (f.empty()) return;
      const char* name = f[0] == "some" ? r.some : f[0] == "full" ? r.full : nullptr;
      if (name == nullptr) return;
      for (std::string_view kv : f) {
        if (!kv.starts_with("total=")) continue;
        if (auto v = Num(kv.substr(6))) {
          Add(Begin(name, MetricType::kCounter, "Total time in seconds of PSI stalls."), *v / 1e6);
        }
      }
    });
  }
}

}  // namespace vigil::agent
