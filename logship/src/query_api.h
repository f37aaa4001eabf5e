#pragma once

// The Loki query API over the log store, as Grafana's Loki datasource calls it:
//   /loki/api/v1/query         (query, time, limit, direction)
//   /loki/api/v1/query_range   (query, start, end, step, limit, direction)
//   /loki/api/v1/labels, /loki/api/v1/label/<name>/values, /loki/api/v1/series (match[])
//   /loki/api/v1/index/stats   (query, start, end)
// Times are Loki's: Unix nanoseconds (or seconds when 10 digits or fewer), seconds with a
// fraction, or RFC 3339. Results in Loki's JSON ("streams", "matrix", "vector"); errors as
// Loki sends them: the message as plain text, 400 for a bad query or parameter.
//
// Labels, values and series are taken over every stream the store has, whatever start and end
// say (Loki restricts them to the range); Grafana only uses them for browsing.

#include <memory>
#include <string>
#include <vector>

#include "vigil/common/http_server.h"
#include "vigil/logship/log_store.h"
#include "vigil/logship/logql_engine.h"

namespace vigil::logship {

struct QueryApiOptions {
  size_t max_limit = 5000;  // entries a log query may ask for
  logql::EngineLimits engine;
};

// What the query API answers from: one log store, or the shards of a fan-out (shards.h). The
// API parses and checks every query and selector first; these get them valid. `warnings`
// collects what went partly wrong (a shard that did not answer), returned in "warnings".
class LogQueryable {
 public:
  using Warnings = std::vector<std::string>;
  virtual ~LogQueryable() = default;
  // A log query: `text` as asked, parsed into `selector`.
  virtual Result<std::vector<logql::StreamResult>> Logs(std::string_view text,
                                                        const logql::LogSelector& selector,
                                                        int64_t start_ns, int64_t end_ns,
                                                        size_t limit, bool forward,
                                                        Warnings& warnings) = 0;
  virtual Result<std::vector<logql::Series>> Metric(const logql::MetricExpr& expr, int64_t start_ns,
                                                    int64_t end_ns, int64_t step_ns,
                                                    Warnings& warnings) = 0;
  virtual Result<std::vector<std::string>> LabelNames(Warnings& warnings) = 0;
  virtual Result<std::vector<std::string>> LabelValues(std::string_view name,
                                                       Warnings& warnings) = 0;
  // The streams of any of the selectors (`texts` as asked, parsed into `selectors`).
  virtual Result<std::vector<Labels>> Series(const std::vector<std::string>& texts,
                                             const std::vector<std::vector<Matcher>>& selectors,
                                             Warnings& warnings) = 0;
  struct Stats {
    uint64_t streams = 0, chunks = 0, entries = 0, bytes = 0;
  };
  // Of the streams `matchers` selects, in [start, end) (`query` as asked).
  virtual Result<Stats> IndexStats(std::string_view query, const std::vector<Matcher>& matchers,
                                   int64_t start_ns, int64_t end_ns, Warnings& warnings) = 0;
};

// The queries of one log store.
std::shared_ptr<LogQueryable> LocalLogs(const LogStore& store, logql::EngineLimits limits = {});

void AddQueryRoutes(http::Router& router, std::shared_ptr<LogQueryable> logs,
                    QueryApiOptions options = {});

// A time parameter as Loki reads one (`value` empty: `default_ns`).
Result<int64_t> ParseLokiTime(std::string_view value, int64_t default_ns);

}  // namespace vigil::logship
