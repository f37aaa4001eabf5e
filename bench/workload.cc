#include "workload.h"

#include <cmath>

namespace vigil::bench {

Workload::Workload(size_t n, uint64_t seed, bool histograms) : rng_(seed) {
  series_.reserve(n);
  static const char* kModes[] = {"idle", "user",    "system", "iowait",
                                 "irq",  "softirq", "steal",  "nice"};
  size_t i = 0;
  if (histograms) {
    static const char* kLes[] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
                                 "0.5",   "1",    "2.5",   "5",    "+Inf"};
    for (size_t h = 0; h < n / 110; ++h) {
      for (size_t b = 0; b < 11; ++b) {
        LabelsBuilder lb;
        lb.Set("__name__", "http_request_duration_seconds_bucket")
            .Set("instance", "node-" + std::to_string(h) + ":8080")
            .Set("job", "api")
            .Set("le", kLes[b]);
        series_.push_back({lb.Build(), Kind::kBucketCounter, 0, 5.0 * static_cast<double>(b)});
      }
    }
  }
  while (series_.size() < n) {
    const std::string node = "node-" + std::to_string(i / 1000);
    const std::string pod =
        "pod-" + std::to_string(i % 1000 / 10) + "-" + std::to_string(i / 1000) + "-7d9f8c6b5";
    const std::string ns = "ns-" + std::to_string(i % 17);
    const size_t slot = i % 10;
    // The labels the kubelet's cAdvisor puts on every container series.
    auto container = [&](LabelsBuilder& lb) -> LabelsBuilder& {
      return lb.Set("container", "app")
          .Set("pod", pod)
          .Set("namespace", ns)
          .Set("id", "/kubepods.slice/" + pod)
          .Set("image", "registry.example.com/app:1.2." + std::to_string(i % 9));
    };
    LabelsBuilder b;
    Kind kind;
    double v = 0;
    switch (slot) {
      case 0:
      case 1:
        b.Set("__name__", "node_cpu_seconds_total")
            .Set("cpu", std::to_string(i % 16))
            .Set("mode", kModes[i % 8]);
        kind = Kind::kCpuCounter;
        v = std::round(static_cast<double>(rng_() % 10'000'000)) / 100;
        break;
      case 2:
        b.Set("__name__", "node_network_receive_bytes_total")
            .Set("device", "eth" + std::to_string(i % 4));
        kind = Kind::kBytesCounter;
        v = static_cast<double>(rng_() % 1'000'000'000'000ULL);
        break;
      case 3:
        container(b).Set("__name__", "container_cpu_usage_seconds_total");
        kind = Kind::kNanoCounter;                                   // cAdvisor: nanoseconds / 1e9
        v = static_cast<double>(rng_() % 100'000'000'000ULL) / 1e9;  // whole nanoseconds
        break;
      case 4:
      case 5:
        container(b).Set("__name__", "container_memory_working_set_bytes");
        kind = Kind::kMemoryGauge;
        v = static_cast<double>(100'000'000 + rng_() % 900'000'000);
        break;
      case 6:
        b.Set("__name__", "node_load1");
        kind = Kind::kRatioGauge;
        v = 1.5;
        break;
      default:
        b.Set("__name__", slot == 7 ? "container_spec_memory_limit_bytes"
                                    : (slot == 8 ? "kube_pod_info" : "node_filesystem_size_bytes"))
            .Set("pod", pod)
            .Set("namespace", ns)
            .Set("uid", std::to_string(rng_()));
        kind = Kind::kConstant;
        v = slot == 8 ? 1 : static_cast<double>((rng_() % 64 + 1) * 268'435'456);
    }
    b.Set("instance", node + ":9100").Set("job", slot < 3 || slot == 6 ? "node" : "kubelet");
    b.Set("series_idx", std::to_string(i));  // keeps every series distinct
    series_.push_back({b.Build(), kind, v});
    ++i;
  }
}

void Workload::Step() {
  std::uniform_real_distribution<double> unit(0, 1);
  for (auto& s : series_) {
    switch (s.kind) {
      case Kind::kConstant:
        break;
      case Kind::kCpuCounter:
        s.value = std::round((s.value + unit(rng_) * 15) * 100) / 100;
        break;
      case Kind::kNanoCounter:
        s.value += std::round(unit(rng_) * 3e9) / 1e9;
        break;
      case Kind::kBytesCounter:
        s.value += std::floor(unit(rng_) * 200) * 1500;
        break;
      case Kind::kMemoryGauge:
        s.value += std::round((unit(rng_) - 0.5) * 8) * 4096;
        break;
      case Kind::kRatioGauge:
        s.value = std::round(unit(rng_) * 400) / 100;
        break;
      case Kind::kBucketCounter:
        // Increments grow by 5 per bucket and vary by less: buckets stay cumulative.
        s.value += s.base + std::floor(unit(rng_) * 5);
        break;
    }
  }
}

}  // namespace vigil::bench
