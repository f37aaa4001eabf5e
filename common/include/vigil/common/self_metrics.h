#pragma once

// Self-metrics: every component registers its vigil_* metrics in one process-wide
// prometheus-cpp Registry, taking metric handles once at construction (handles stay valid; never
// Family::Add on a hot path). /metrics serves the registry in the text format from our own HTTP
// server (not prometheus-cpp's civetweb exposer).

#include <memory>
#include <string>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "vigil/common/exposition.h"

namespace vigil {

// The process-wide registry. It also carries vigil_build_info and the process_* metrics
// (CPU, memory, open files, start time) that Prometheus clients export.
prometheus::Registry& SelfMetrics();

// The registry in the Prometheus text format 0.0.4, or appended to `out` in either format (no
// OpenMetrics "# EOF": the caller closes the document). Written here, not by prometheus-cpp's
// stream-based serializer, which cost a fifth of the agent's CPU per scrape.
std::string SerializeSelfMetrics();
void AppendSelfMetrics(std::string& out, expo::Format format);

// Latency buckets for request durations, in seconds (5 ms to 60 s).
const prometheus::Histogram::BucketBoundaries& LatencyBuckets();

}  // namespace vigil
