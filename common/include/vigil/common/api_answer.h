#pragma once

// The answers of the Prometheus and Loki query APIs, read back: what a `--query-shards` front
// gets from its shards. A shard is another process, so its answer is checked as any input: a
// malformed one is an error saying what is wrong, never a crash.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "vigil/common/labels.h"
#include "vigil/common/status.h"

namespace vigil::api {

// One series of a "matrix" or "vector" result; times in milliseconds.
struct Series {
  Labels labels;
  std::vector<std::pair<int64_t, double>> points;
};

// A label set: {"name": "value", ...}.
Result<Labels> DecodeLabels(const nlohmann::json& obj);

// The series of a query answer's "data" ({"resultType": "matrix"|"vector", "result": [...]}),
// appended to `out`. Points are [seconds, "value"] (Prometheus' and Loki's format).
Status DecodeSeries(const nlohmann::json& data, std::vector<Series>& out);

// One stream of a Loki "streams" result; entries ["nanoseconds", "line"] in the order given.
struct Stream {
  Labels labels;
  std::vector<std::pair<int64_t, std::string>> entries;
};
Status DecodeStreams(const nlohmann::json& data, std::vector<Stream>& out);

// The strings of a list answer's "data" (label names, label values), appended to `out`.
Status DecodeStrings(const nlohmann::json& data, std::vector<std::string>& out);

}  // namespace vigil::api
