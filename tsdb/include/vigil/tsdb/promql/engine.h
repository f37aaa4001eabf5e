#pragma once

// The PromQL engine: evaluates parsed expressions against any Queryable, as Prometheus 2.42's
// engine does. A range query reads each selector's series once for the whole range and steps
// through them in memory. Errors: InvalidArgument for parse and type errors (the API's
// bad_data), DeadlineExceeded past the timeout, FailedPrecondition for everything the query
// itself gets wrong at run time (execution), including too many samples.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/common/labels.h"
#include "vigil/common/status.h"
#include "vigil/tsdb/promql/ast.h"
#include "vigil/tsdb/storage.h"

namespace vigil::promql {

// The store's sample type, so a selector's samples are used where the store left them.
using Point = tsdb::Sample;

struct Series {
  Labels labels;
  std::vector<Point> points;
};
using Matrix = std::vector<Series>;

struct Element {
  Labels labels;
  int64_t t = 0;
  double v = 0;
  // Inside the engine: the index of the input series it came from in a step (kNoSource for
  // computed ones), so per-series work (signatures, groups) is done once per series.
  static constexpr uint32_t kNoSource = UINT32_MAX;
  uint32_t source = kNoSource;
};
using Vector = std::vector<Element>;

// A query's result: a scalar (at t), a string, an instant vector or a matrix.
struct QueryResult {
  ValueType type = ValueType::kNone;
  double scalar = 0;
  int64_t t = 0;
  std::string str;
  Vector vector;
  Matrix matrix;
  std::vector<std::string> warnings;  // the querier's (a partial response), for the API
};

struct EngineOptions {
  int64_t lookback_delta_ms = 5 * 60 * 1000;
  std::chrono::milliseconds timeout{2 * 60 * 1000};
  // Most samples a query may hold in memory at once (Prometheus' --query.max-samples).
  int64_t max_samples = 50'000'000;
  // The step of a subquery that names none: Prometheus uses its global evaluation interval
  // (1m by default), never the query's step.
  int64_t default_subquery_step_ms = 60'000;
};

class Engine {
 public:
  explicit Engine(EngineOptions options = {}) : opts_(options) {}

  Result<QueryResult> Instant(tsdb::Queryable& store, std::string_view query, int64_t t_ms);
  Result<QueryResult> Range(tsdb::Queryable& store, std::string_view query, int64_t start_ms,
                            int64_t end_ms, int64_t step_ms);
  // The same for an already parsed expression.
  Result<QueryResult> Eval(tsdb::Queryable& store, const Expr& expr, int64_t start_ms,
                           int64_t end_ms, int64_t step_ms, bool instant);

  const EngineOptions& options() const { return opts_; }

 private:
  Result<QueryResult> EvalOn(tsdb::Querier& querier, const Expr& expr, int64_t start_ms,
                             int64_t end_ms, int64_t step_ms, bool instant);
  EngineOptions opts_;
};

}  // namespace vigil::promql
