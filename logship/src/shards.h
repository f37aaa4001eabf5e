#pragma once

// ShardedLogs: `vigil logship --query-shards URL,URL…`. The logship stores of a consumer group
// (each holding the streams of its partitions) answer the Loki API as one, so Grafana points at
// one URL.
//
// - Log queries go to every shard as they were asked; the streams are merged by labels, a line
//   two shards both hold (at-least-once delivery around a rebalance) kept once, and the `limit`
//   newest (or oldest, forward) of all kept.
// - Metric queries are pushed down: each range function (count_over_time, rate, bytes_over_time,
//   bytes_rate), or a `sum` straight over one, is evaluated by the shards, and their series are
//   summed here by labels and time. Both are sums over lines, so a stream a rebalance split
//   between two shards adds up whole. The rest of the query (avg, min, max, count, topk,
//   bottomk, comparisons) is evaluated here over those sums, so it means what it means on one
//   store. A line held by two shards counts twice in a metric query (the log query keeps it
//   once); that happens only for the lines of the last uncommitted batch when a partition moves.
// - Labels, label values and series are the union of the shards'; index stats their sums.
// - A shard that does not answer is left out and named in "warnings"; see http::FanOut.

#include <chrono>
#include <string>
#include <vector>

#include "query_api.h"
#include "vigil/common/fan_out.h"

namespace vigil::logship {

class ShardedLogs final : public LogQueryable {
 public:
  ShardedLogs(std::vector<std::string> urls, std::chrono::milliseconds timeout,
              logql::EngineLimits limits = {});

  Result<std::vector<logql::StreamResult>> Logs(std::string_view text,
                                                const logql::LogSelector& selector,
                                                int64_t start_ns, int64_t end_ns, size_t limit,
                                                bool forward, Warnings& warnings) override;
  Result<std::vector<logql::Series>> Metric(const logql::MetricExpr& expr, int64_t start_ns,
                                            int64_t end_ns, int64_t step_ns,
                                            Warnings& warnings) override;
  Result<std::vector<std::string>> LabelNames(Warnings& warnings) override;
  Result<std::vector<std::string>> LabelValues(std::string_view name, Warnings& warnings) override;
  Result<std::vector<Labels>> Series(const std::vector<std::string>& texts,
                                     const std::vector<std::vector<Matcher>>& selectors,
                                     Warnings& warnings) override;
  Result<Stats> IndexStats(std::string_view query, const std::vector<Matcher>& matchers,
                           int64_t start_ns, int64_t end_ns, Warnings& warnings) override;

 private:
  // Every answering shard's JSON answer to `target` (the others become warnings).
  struct Answer {
    std::string url;
    nlohmann::json doc;
  };
  Result<std::vector<Answer>> Ask(const std::string& target, Warnings& warnings);
  Result<std::vector<std::string>> Union(const std::string& target, Warnings& warnings);

  http::FanOut shards_;
  logql::EngineLimits limits_;
};

}  // namespace vigil::logship
