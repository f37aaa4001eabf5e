#pragma once

// The Prometheus 2.42 HTTP query API on any Queryable: /api/v1/query, /query_range, /series,
// /labels, /label/<name>/values, /metadata, /query_exemplars (always empty),
// /status/{buildinfo,runtimeinfo,flags}, /format_query and /federate. Same parameters, JSON, error
// types and status codes as Prometheus, GET and form-encoded POST alike.

#include <map>
#include <string>

#include "vigil/common/http_server.h"
#include "vigil/tsdb/promql/engine.h"
#include "vigil/tsdb/storage.h"

namespace vigil::tsdb {

struct QueryApiOptions {
  promql::EngineOptions engine;
  // What /api/v1/status/flags shows.
  std::map<std::string, std::string> flags;
  std::string storage_retention = "15d";
};

void AddQueryRoutes(http::Router& router, Queryable& store, QueryApiOptions options);

// A float as the Prometheus API writes it: "1", "0.5", "1e-07", "NaN", "+Inf", "-Inf".
std::string FormatApiValue(double v);

}  // namespace vigil::tsdb
