#include "shards.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "vigil/common/api_answer.h"
#include "vigil/common/http_util.h"

namespace vigil::logship {
namespace {

using nlohmann::json;

std::string Ns(int64_t ns) { return std::to_string(ns); }

// A shard's answer that does not read as one of the API's: the query fails (503), naming it.
Status Malformed(const std::string& url, const std::string& why) {
  return Unavailable("shard " + url + ": a malformed answer: " + why);
}

}  // namespace

ShardedLogs::ShardedLogs(std::vector<std::string> urls, std::chrono::milliseconds timeout,
                         logql::EngineLimits limits)
    : shards_(std::move(urls), timeout, "logship"), limits_(limits) {}

Result<std::vector<ShardedLogs::Answer>> ShardedLogs::Ask(const std::string& target,
                                                          Warnings& warnings) {
  auto g = shards_.Gather({target});
  warnings.insert(warnings.end(), g.warnings.begin(), g.warnings.end());
  if (!g.error.ok()) return g.error;
  std::vector<Answer> out;
  for (auto& shard : g.shards)
    out.push_back({shards_.urls()[shard.index], std::move(shard.docs[0])});
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
  for (Answer& a : answers) {
    std::vector<api::Stream> got;
    if (Status st = api::DecodeStreams(a.doc["data"], got); !st.ok()) {
      return Malformed(a.url, st.message());
    }
    for (api::Stream& s : got) {
      auto [it, fresh] = index.emplace(std::move(s.labels), streams.size());
      if (fresh) streams.push_back(it->first);
      for (auto& [ts, line] : s.entries) entries.emplace(ts, it->second, std::move(line));
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
    for (Answer& a : answers) {
      std::vector<api::Series> got;
      if (Status st = api::DecodeSeries(a.doc["data"], got); !st.ok()) {
        return Malformed(a.url, st.message());
      }
      for (api::Series& s : got) {
        auto& points = sums[std::move(s.labels)];
        for (const auto& [t_ms, v] : s.points) points[t_ms * 1'000'000] += v;
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
  std::vector<std::string> all;
  for (Answer& a : answers) {
    if (Status st = api::DecodeStrings(a.doc["data"], all); !st.ok()) {
      return Malformed(a.url, st.message());
    }
  }
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  return all;
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
  for (Answer& a : answers) {
    const json& data = a.doc["data"];
    if (!data.is_array()) return Malformed(a.url, "the streams are not a list");
    for (const json& l : data) {
      auto labels = api::DecodeLabels(l);
      if (!labels.ok()) return Malformed(a.url, labels.status().message());
      all.insert(std::move(*labels));
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
  for (const Answer& a : answers) {
    for (auto [key, sum] : {std::pair{"streams", &out.streams}, std::pair{"chunks", &out.chunks},
                            std::pair{"entries", &out.entries}, std::pair{"bytes", &out.bytes}}) {
      auto it = a.doc.find(key);
      if (it == a.doc.end() || !it->is_number_unsigned()) {
        return Malformed(a.url, std::string("no count of ") + key);
      }
      *sum += it->get<uint64_t>();
    }
  }
  return out;
}

}  // namespace vigil::logship
