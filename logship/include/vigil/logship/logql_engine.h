#pragma once

// Evaluates LogQL (logql.h) over the log store: log queries to streams of lines, metric queries
// to series of points, with Loki's semantics for what the subset has:
// - log queries return at most `limit` entries, the newest (backward) or oldest (forward) of the
//   range [start, end);
// - `| json` and `| logfmt` add labels from the line (nested JSON keys joined with "_", names
//   made valid; a name the stream already has gets "_extracted"); a line that does not parse
//   gets __error__="JSONParserErr" / "LogfmtParserErr", as in Loki, and is kept;
// - range functions take the entries in (t - range, t] at each step t; a series with no entry
//   in a window has no point there;
// - aggregations group by the listed labels (by) or all but them (without).
// Limits bound the work: entries scanned and series returned; past one, a clear error.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "vigil/logship/log_store.h"
#include "vigil/logship/logql.h"

namespace vigil::logql {

struct EngineLimits {
  size_t max_entries_scanned = 50'000'000;
  size_t max_series = 10'000;
  size_t max_steps = 11'000;  // as Prometheus and Loki bound (end - start) / step
};

struct StreamResult {
  Labels labels;
  std::vector<std::pair<int64_t, std::string>> entries;  // in the query's direction
};

struct Series {
  Labels labels;
  std::vector<std::pair<int64_t, double>> points;  // time in ns
};

Result<std::vector<StreamResult>> RunLogQuery(const logship::LogStore& store,
                                              const LogSelector& selector, int64_t start_ns,
                                              int64_t end_ns, size_t limit, bool forward,
                                              const EngineLimits& limits = {});

// Whether a metric query's steps are valid and within the limit, with Loki's errors.
Status CheckSteps(int64_t start_ns, int64_t end_ns, int64_t step_ns, const EngineLimits& limits);

// Points at start, start + step, ... up to end (one point at start when start == end).
Result<std::vector<Series>> RunMetricQuery(const logship::LogStore& store, const MetricExpr& expr,
                                           int64_t start_ns, int64_t end_ns, int64_t step_ns,
                                           const EngineLimits& limits = {});

// Where parts of a metric query are evaluated elsewhere (the shards of a fan-out): given a node
// of the expression, its series at the query's steps, or nullopt to evaluate the node here from
// its children. It must answer every range function (there is no store here).
using PushDownFn = std::function<Result<std::optional<std::vector<Series>>>(
    const MetricExpr& node, int64_t start_ns, int64_t end_ns, int64_t step_ns)>;
Result<std::vector<Series>> RunMetricQuery(const PushDownFn& push, const MetricExpr& expr,
                                           int64_t start_ns, int64_t end_ns, int64_t step_ns,
                                           const EngineLimits& limits = {});

}  // namespace vigil::logql
