#include "shards.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include "vigil/common/exposition.h"
#include "vigil/common/http_util.h"

namespace vigil::logship {
namespace {

using nlohmann::json;

std::string Ns(int64_t ns) { return std::to_string(ns); }

Result<Labels> LabelsOf(const json& obj) {
  if (!obj.is_object()) return Internal("a shard's labels are not an object");
  LabelsBuilder b;
  for (const auto& [k, v] : obj.items()) {
    if (!v.is_string()) return Internal("a shard's label " + k + " is not a string");
    b.Set(k, v.get<std::string>());
  }
  return b.Build();
}

// A sample [seconds, "value"] of a Loki metric answer, its time in nanoseconds.
Result<std::pair<int64_t, double>> PointOf(const json& p) {
  if (!p.is_array() || p.size() != 2 || !p[0].is_number() || !p[1].is_string()) {
    return Internal("a shard's sample is not [time, \"value\"]");
  }
  double v = 0;
  if (!expo::ParseValue(p[1].get_ref<const std::string&>(), v)) {
    return Internal("a shard's sample value is not a number");
  }
  return std::pair<int64_t, double>(std::llround(p[0].get<double>() * 1000) * 1'000'000, v);
}

}  // namespace

ShardedLogs::ShardedLogs(std::vector<std::string> urls, std::chrono::milliseconds timeout,
                         logql::EngineLimits limits)
    : shards_(std::move(urls), timeout, "logship"), limits_(limits) {}

Result<std::vector<json>> ShardedLogs::Ask(const std::string& target, Warnings& warnings) {
  auto g = shards_.Gather({target});
  warnings.insert(warnings.end(), g.warnings.begin(), g.warnings.end());
  if (!g.error.ok()) return g.error;
  std::vector<json> out;
  for (auto& shard : g.shards) out.push_back(std::move(shard.docs[0]));
  return out;
}

Result<std::vector<logql::StreamResult>> ShardedLogs::Logs(std::string_view text,
                                                           const logql::LogSelector&,
                                                           int64_t start_ns, int64_t end_ns,
                                                           size_t limit, bool forward,
                                                           Warnings& warnings) {
  VIGIL_ASSIGN_OR_RETURN(
      auto answers, Ask("/loki/api/v1/query_range?" +
                            http::EncodeQuery({{"query", std::string(text)},
                                               {"start", Ns(start_ns)},
                                               {"end", Ns(end_ns)},
                                               {"limit", std::to_string(limit)},
                                               {"direction", forward ? "forward" : "backward"}}),
                        warnings));
  // Every entry of every shard, by stream; a line two shards hold is kept once.
  std::map<Labels, size_t> index;
  std::vector<Labels> streams;
  std::set<std::tuple<int64_t, size_t, std::string>> entries;  // time, stream, line
  for (const json& a : answers) {
    const json& result = a["data"]["result"];
    if (!result.is_array()) return Internal("a shard's answer has no result");
    for (const json& s : result) {
      VIGIL_ASSIGN_OR_RETURN(Labels labels, LabelsOf(s["stream"]));
      auto [it, fresh] = index.emplace(std::move(labels), streams.size());
      if (fresh) streams.push_back(it->first);
      for (const json& v : s["values"]) {
        if (!v.is_array() || v.size() != 2 || !v[0].is_string() || !v[1].is_string()) {
          return Internal("a shard's entry is not [\"ns\", \"line\"]");
        }
        int64_t ts = 0;
        const std::string& t = v[0].get_ref<const std::string&>();
        auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), ts);
        if (ec != std::errc() || p != t.data() + t.size()) {
          return Internal("a shard's entry time is not nanoseconds");
        }
        entries.emplace(ts, it->second, v[1].get<std::string>());
      }
    }
  }
  // The `limit` first in the query's direction, grouped by stream in the order they appear.
  std::vector<const std::tuple<int64_t, size_t, std::string>*> kept;
  if (forward) {
    for (auto it = entries.begin(); it != entries.end() && kept.size() < limit; ++it) {
      kept.push_back(&*it);
    }
  } else {
    for (auto it = entries.rbegin(); it != entries.rend() && kept.size() < limit; ++it) {
      kept.push_back(&*it);
    }
  }
  std::map<size_t, logql::StreamResult> by_stream;
  for (const auto* e : kept) {
    auto& r = by_stream[std::get<1>(*e)];
    r.labels = streams[std::get<1>(*e)];
    r.entries.emplace_back(std::get<0>(*e), std::get<2>(*e));
  }
  std::vector<logql::StreamResult> out;
  for (auto& [i, r] : by_stream) out.push_back(std::move(r));
  return out;
}

Result<std::vector<logql::Series>> ShardedLogs::Metric(const logql::MetricExpr& expr,
                                                       int64_t start_ns, int64_t end_ns,
                                                       int64_t step_ns, Warnings& warnings) {
  using logql::MetricExpr;
  logql::PushDownFn push = [&](const MetricExpr& node, int64_t start, int64_t end,
                               int64_t step) -> Result<std::optional<std::vector<logql::Series>>> {
    const bool sum_of_range = node.kind == MetricExpr::Kind::kVector &&
                              node.op == MetricExpr::AggOp::kSum &&
                              node.inner->kind == MetricExpr::Kind::kRange;
    if (node.kind != MetricExpr::Kind::kRange && !sum_of_range) {
      return std::optional<std::vector<logql::Series>>();
    }
    const std::string q = logql::ToString(node);
    std::string target;
    if (start == end) {
      target = "/loki/api/v1/query?" + http::EncodeQuery({{"query", q}, {"time", Ns(start)}});
    } else {
      char s[64];
      std::snprintf(s, sizeof(s), "%.9f", static_cast<double>(step) / 1e9);
      target =
          "/loki/api/v1/query_range?" +
          http::EncodeQuery({{"query", q}, {"start", Ns(start)}, {"end", Ns(end)}, {"step", s}});
    }
    VIGIL_ASSIGN_OR_RETURN(auto answers, Ask(target, warnings));
    // Sums by labels and time: lines counted (or their bytes) in each shard add up.
    std::map<Labels, std::map<int64_t, double>> sums;
    for (const json& a : answers) {
      const json& result = a["data"]["result"];
      if (!result.is_array()) return Internal("a shard's answer has no result");
      for (const json& s : result) {
        VIGIL_ASSIGN_OR_RETURN(Labels labels, LabelsOf(s["metric"]));
        auto& points = sums[std::move(labels)];
        auto add = [&](const json& p) -> Status {
          VIGIL_ASSIGN_OR_RETURN(auto point, PointOf(p));
          points[point.first] += point.second;
          return Status::Ok();
        };
        if (s.contains("value")) VIGIL_RETURN_IF_ERROR(add(s["value"]));
        for (const json& p : s.value("values", json::array())) VIGIL_RETURN_IF_ERROR(add(p));
      }
      if (sums.size() > limits_.max_series) {
        return OutOfRange("the query makes more than " + std::to_string(limits_.max_series) +
                          " series");
      }
    }
    std::vector<logql::Series> out;
    for (auto& [labels, points] : sums) {
      logql::Series s;
      s.labels = labels;
      s.points.assign(points.begin(), points.end());
      out.push_back(std::move(s));
    }
    return std::optional<std::vector<logql::Series>>(std::move(out));
  };
  return logql::RunMetricQuery(push, expr, start_ns, end_ns, step_ns, limits_);
}

Result<std::vector<std::string>> ShardedLogs::Union(const std::string& target, Warnings& warnings) {
  VIGIL_ASSIGN_OR_RETURN(auto answers, Ask(target, warnings));
  std::set<std::string> all;
  for (const json& a : answers) {
    for (const json& v : a.value("data", json::array())) {
      if (v.is_string()) all.insert(v.get<std::string>());
    }
  }
  return std::vector<std::string>(all.begin(), all.end());
}

Result<std::vector<std::string>> ShardedLogs::LabelNames(Warnings& warnings) {
  return Union("/loki/api/v1/labels", warnings);
}

Result<std::vector<std::string>> ShardedLogs::LabelValues(std::string_view name,
                                                          Warnings& warnings) {
  return Union("/loki/api/v1/label/" + http::PercentEncode(name) + "/values", warnings);
}

Result<std::vector<Labels>> ShardedLogs::Series(const std::vector<std::string>& texts,
                                                const std::vector<std::vector<Matcher>>&,
                                                Warnings& warnings) {
  http::Params p;
  for (const auto& t : texts) p.emplace_back("match[]", t);
  VIGIL_ASSIGN_OR_RETURN(auto answers,
                         Ask("/loki/api/v1/series?" + http::EncodeQuery(p), warnings));
  std::set<Labels> all;
  for (const json& a : answers) {
    for (const json& l : a.value("data", json::array())) {
      VIGIL_ASSIGN_OR_RETURN(Labels labels, LabelsOf(l));
      all.insert(std::move(labels));
    }
  }
  return std::vector<Labels>(all.begin(), all.end());
}

Result<LogQueryable::Stats> ShardedLogs::IndexStats(std::string_view query,
                                                    const std::vector<Matcher>&, int64_t start_ns,
                                                    int64_t end_ns, Warnings& warnings) {
  VIGIL_ASSIGN_OR_RETURN(auto answers, Ask("/loki/api/v1/index/stats?" +
                                               http::EncodeQuery({{"query", std::string(query)},
                                                                  {"start", Ns(start_ns)},
                                                                  {"end", Ns(end_ns)}}),
                                           warnings));
  Stats out;
  for (const json& a : answers) {
    out.streams += a.value("streams", uint64_t{0});
    out.chunks += a.value("chunks", uint64_t{0});
    out.entries += a.value("entries", uint64_t{0});
    out.bytes += a.value("bytes", uint64_t{0});
  }
  return out;
}

}  // namespace vigil::logship
