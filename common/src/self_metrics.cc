#include "vigil/common/self_metrics.h"

#include <unistd.h>

#include <dirent.h>
#include <fstream>
#include <sstream>

#include <prometheus/collectable.h>
#include <prometheus/text_serializer.h>

#include "vigil/common/version.h"

namespace vigil {
namespace {

// process_* metrics from /proc/self, read at scrape time.
class ProcessCollector final : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> out;
    long ticks = ::sysconf(_SC_CLK_TCK);
    long page = ::sysconf(_SC_PAGESIZE);
    std::ifstream stat_file("/proc/self/stat");
    std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
    // Fields after the command name, which is in parentheses and may contain spaces.
    auto close = stat.rfind(')');
    if (close != std::string::npos && ticks > 0) {
      std::istringstream in(stat.substr(close + 2));
      std::vector<std::string> f;
      for (std::string s; in >> s;) f.push_back(s);
      // f[0] is field 3 (state): utime=14, stime=15, starttime=22, vsize=23, rss=24.
      if (f.size() > 21) {
        double cpu = (std::stod(f[11]) + std::stod(f[12])) / static_cast<double>(ticks);
        out.push_back(Gauge("process_cpu_seconds_total",
                            "Total user and system CPU time spent "
                            "in seconds.",
                            prometheus::MetricType::Counter, cpu));
        out.push_back(Gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                            prometheus::MetricType::Gauge, std::stod(f[20])));
        out.push_back(Gauge("process_resident_memory_bytes", "Resident memory size in bytes.",
                            prometheus::MetricType::Gauge, std::stod(f[21]) * page));
        out.push_back(Gauge("process_start_time_seconds",
                            "Start time of the process since unix epoch in seconds.",
                            prometheus::MetricType::Gauge, BootTime() + std::stod(f[19]) / ticks));
      }
    }
    double fds = 0;
    if (DIR* d = ::opendir("/proc/self/fd")) {
      while (::readdir(d) != nullptr) ++fds;
      ::closedir(d);
      fds -= 2;  // "." and ".."
    }
    out.push_back(Gauge("process_open_fds", "Number of open file descriptors.",
                        prometheus::MetricType::Gauge, fds));
    return out;
  }

 private:
  // Read once: the kernel generates /proc/stat anew at each read (every interrupt counter),
  // which at every scrape was the largest part of serving /metrics.
  static double BootTime() {
    static const double boot = ReadBootTime();
    return boot;
  }
  static double ReadBootTime() {
    std::ifstream in("/proc/stat");
    for (std::string key; in >> key;) {
      if (key == "btime") {
        double v = 0;
        in >> v;
        return v;
      }
    }
    return 0;
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

std::string SerializeSelfMetrics() {
  auto families = Self().registry->Collect();
  auto process = Self().process->Collect();
  families.insert(families.end(), process.begin(), process.end());
  prometheus::TextSerializer serializer;
  return serializer.Serialize(families);
}

const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const prometheus::Histogram::BucketBoundaries buckets = {
      0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  return buckets;
}

}  // namespace vigil
