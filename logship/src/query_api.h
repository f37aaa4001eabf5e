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

#include "vigil/common/http_server.h"
#include "vigil/logship/log_store.h"
#include "vigil/logship/logql_engine.h"

namespace vigil::logship {

struct QueryApiOptions {
  size_t max_limit = 5000;  // entries a log query may ask for
  logql::EngineLimits engine;
};

void AddQueryRoutes(http::Router& router, const LogStore& store, QueryApiOptions options = {});

// A time parameter as Loki reads one (`value` empty: `default_ns`).
Result<int64_t> ParseLokiTime(std::string_view value, int64_t default_ns);

}  // namespace vigil::logship
