#pragma once

// A realistic node workload for ingest benchmarks: node_exporter- and cAdvisor-like series at a
// 15 s interval. Counters grow by plausible increments (CPU seconds in hundredths, bytes in
// packet-sized steps), gauges carry real-world precision and noise, and about a third of the
// series are constant (info metrics, limits, capacities), as on real nodes.

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "vigil/common/labels.h"

namespace vigil::bench {

enum class Kind {
  kConstant,
  kCpuCounter,
  kNanoCounter,
  kBytesCounter,
  kMemoryGauge,
  kRatioGauge,
  kBucketCounter,  // a classic histogram bucket: cumulative, so larger `le` grows faster
};

struct SeriesSpec {
  Labels labels;
  Kind kind;
  double value;     // current value
  double base = 0;  // kBucketCounter: the bucket's fixed increment per scrape
};

class Workload {
 public:
  // `series` series; the mix is fixed by the seed. With `histograms`, about a tenth of them are
  // request-duration histograms (11 buckets per instance) in place of other series.
  Workload(size_t series, uint64_t seed = 1, bool histograms = false);
  // Advances every series by one scrape interval and returns the new values.
  void Step();
  const std::vector<SeriesSpec>& series() const { return series_; }

 private:
  std::vector<SeriesSpec> series_;
  std::mt19937_64 rng_;
};

}  // namespace vigil::bench
