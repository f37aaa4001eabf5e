#include "vigil/common/self_metrics.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>

#include <prometheus/collectable.h>

#include "vigil/common/version.h"

namespace vigil {
namespace {

// Reads a small /proc file whole into `buf` with plain read(2): no streams, no allocation past
// the buffer's first growth.
bool ReadProcFile(const char* path, std::string& buf) {
  buf.clear();
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char chunk[4096];
  for (;;) {
    const ssize_t n = ::read(fd, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    buf.append(chunk, static_cast<size_t>(n));
  }
  ::close(fd);
  return !buf.empty();
}

// process_* metrics, as Prometheus clients export them, at scrape time. Cheap sources only:
// /proc/self/stat makes the kernel walk every thread, so CPU comes from getrusage(2), memory
// from /proc/self/statm, the start time is read once, and open files are the size fstat(2)
// gives /proc/self/fd (Linux 6.2 and later; counted by listing it before). statm and the fd
// directory stay open (two descriptors, counted in process_open_fds).
class ProcessCollector final : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> out;
    rusage ru{};
    if (::getrusage(RUSAGE_SELF, &ru) == 0) {
      auto seconds = [](const timeval& tv) {
        return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
      };
      out.push_back(
          Gauge("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                prometheus::MetricType::Counter, seconds(ru.ru_utime) + seconds(ru.ru_stime)));
    }
    thread_local std::string statm;
    if (ReadStatm(statm)) {
      // Pages: total program size, resident set, ...
      double pages[2] = {};
      const char* p = statm.data();
      const char* end = p + statm.size();
      for (double& v : pages) {
        while (p < end && *p == ' ') ++p;
        p = std::from_chars(p, end, v).ptr;
      }
      const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
      out.push_back(Gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                          prometheus::MetricType::Gauge, pages[0] * page));
      out.push_back(Gauge("process_resident_memory_bytes", "Resident memory size in bytes.",
                          prometheus::MetricType::Gauge, pages[1] * page));
    }
    if (const double start = StartTime(); start > 0) {
      out.push_back(Gauge("process_start_time_seconds",
                          "Start time of the process since unix epoch in seconds.",
                          prometheus::MetricType::Gauge, start));
    }
    out.push_back(Gauge("process_open_fds", "Number of open file descriptors.",
                        prometheus::MetricType::Gauge, OpenFds()));
    return out;
  }

 private:
  // /proc/self/statm, kept open: read again from offset 0, the kernel writes it anew.
  static bool ReadStatm(std::string& buf) {
    static const int fd = ::open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ReadProcFile("/proc/self/statm", buf);
    char chunk[256];
    const ssize_t n = ::pread(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    buf.assign(chunk, static_cast<size_t>(n));
    return true;
  }

  static double OpenFds() {
    // fstat of the directory kept open: the count is taken at each fstat.
    static const int dir = ::open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct stat st;
    if (dir >= 0 && ::fstat(dir, &st) == 0 && st.st_size > 0) {
      return static_cast<double>(st.st_size);
    }
    double fds = 0;
    if (DIR* d = ::opendir("/proc/self/fd")) {
      while (::readdir(d) != nullptr) ++fds;
      ::closedir(d);
      fds -= 3;  // ".", ".." and the directory's own descriptor
    }
    return fds;
  }

  static double StartTime() {
    static const double start = ReadStartTime();
    return start;
  }
  // Boot time (/proc/stat's btime) plus the start in clock ticks after boot (/proc/self/stat's
  // field 22).
  static double ReadStartTime() {
    std::string text;
    const long ticks = ::sysconf(_SC_CLK_TCK);
    if (ticks <= 0 || !ReadProcFile("/proc/stat", text)) return 0;
    const size_t at = text.find("\nbtime ");
    if (at == std::string::npos) return 0;
    double boot = 0;
    std::from_chars(text.data() + at + 7, text.data() + text.size(), boot);
    if (!ReadProcFile("/proc/self/stat", text)) return 0;
    // Fields after the command name, which is in parentheses and may contain spaces: the
    // state is field 3, so the start time is the 20th after it.
    size_t pos = text.rfind(')');
    if (pos == std::string::npos) return 0;
    for (int field = 2; field < 22 && pos != std::string::npos; ++field) {
      pos = text.find(' ', pos + 1);
    }
    if (pos == std::string::npos) return 0;
    double after_boot = 0;
    std::from_chars(text.data() + pos + 1, text.data() + text.size(), after_boot);
    return boot + after_boot / static_cast<double>(ticks);
  }

  static prometheus::MetricFamily Gauge(std::string name, std::string help,
                                        prometheus::MetricType type, double v) {
    prometheus::MetricFamily fam;
    fam.name = std::move(name);
    fam.help = std::move(help);
    fam.type = type;
    prometheus::ClientMetric m;
    if (type == prometheus::MetricType::Counter) {
      m.counter.value = v;
    } else {
      m.gauge.value = v;
    }
    fam.metric.push_back(m);
    return fam;
  }
};

struct SelfRegistry {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::shared_ptr<ProcessCollector> process = std::make_shared<ProcessCollector>();
  SelfRegistry() {
    prometheus::BuildGauge()
        .Name("vigil_build_info")
        .Help("A metric with a constant '1' value labeled by the version of vigil.")
        .Register(*registry)
        .Add({{"version", std::string(kVersion)}})
        .Set(1);
  }
};

SelfRegistry& Self() {
  static SelfRegistry* self = new SelfRegistry();  // never destroyed: handles outlive main()
  return *self;
}

}  // namespace

prometheus::Registry& SelfMetrics() { return *Self().registry; }

namespace {

expo::MetricType TypeOf(prometheus::MetricType t) {
  switch (t) {
    case prometheus::MetricType::Counter:
      return expo::MetricType::kCounter;
    case prometheus::MetricType::Gauge:
      return expo::MetricType::kGauge;
    case prometheus::MetricType::Histogram:
      return expo::MetricType::kHistogram;
    case prometheus::MetricType::Summary:
      return expo::MetricType::kSummary;
    default:
      return expo::MetricType::kUnknown;
  }
}

// One sample line: name, the metric's labels plus an optional last one (le, quantile), value.
void AppendSample(std::string& out, std::string_view name, std::string_view suffix,
                  const prometheus::ClientMetric& m, std::string_view extra_name, double extra,
                  double value) {
  out += name;
  out += suffix;
  bool first = true;
  for (const auto& l : m.label) {
    out += first ? '{' : ',';
    first = false;
    out += l.name;
    out += "=\"";
    expo::AppendEscapedLabelValue(out, l.value);
    out += '"';
  }
  if (!extra_name.empty()) {
    out += first ? '{' : ',';
    first = false;
    out += extra_name;
    out += "=\"";
    expo::AppendValue(out, extra);
    out += '"';
  }
  if (!first) out += '}';
  out += ' ';
  expo::AppendValue(out, value);
  out += '\n';
}

void AppendFamilies(std::string& out, const std::vector<prometheus::MetricFamily>& families,
                    expo::Format format) {
  for (const auto& f : families) {
    const expo::MetricType type = TypeOf(f.type);
    expo::AppendFamilyHeader(out, f.name, type, f.help, "", format);
    for (const auto& m : f.metric) {
      switch (f.type) {
        case prometheus::MetricType::Counter:
          AppendSample(out, f.name, "", m, "", 0, m.counter.value);
          break;
        case prometheus::MetricType::Gauge:
          AppendSample(out, f.name, "", m, "", 0, m.gauge.value);
          break;
        case prometheus::MetricType::Histogram:
          for (const auto& b : m.histogram.bucket) {
            AppendSample(out, f.name, "_bucket", m, "le", b.upper_bound,
                         static_cast<double>(b.cumulative_count));
          }
          AppendSample(out, f.name, "_sum", m, "", 0, m.histogram.sample_sum);
          AppendSample(out, f.name, "_count", m, "", 0,
                       static_cast<double>(m.histogram.sample_count));
          break;
        case prometheus::MetricType::Summary:
          for (const auto& q : m.summary.quantile) {
            AppendSample(out, f.name, "", m, "quantile", q.quantile, q.value);
          }
          AppendSample(out, f.name, "_sum", m, "", 0, m.summary.sample_sum);
          AppendSample(out, f.name, "_count", m, "", 0,
                       static_cast<double>(m.summary.sample_count));
          break;
        default:
          AppendSample(out, f.name, "", m, "", 0, m.untyped.value);
          break;
      }
    }
  }
}

}  // namespace

void AppendSelfMetrics(std::string& out, expo::Format format) {
  AppendFamilies(out, Self().registry->Collect(), format);
  AppendFamilies(out, Self().process->Collect(), format);
}

std::string SerializeSelfMetrics() {
  std::string out;
  AppendSelfMetrics(out, expo::Format::kText);
  return out;
}

const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const prometheus::Histogram::BucketBoundaries buckets = {
      0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  return buckets;
}

}  // namespace vigil
