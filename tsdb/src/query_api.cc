#include "vigil/tsdb/query_api.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "vigil/common/duration.h"
#include "vigil/common/exposition.h"
#include "vigil/common/json_text.h"
#include "vigil/common/self_metrics.h"
#include "vigil/common/timestamp.h"
#include "vigil/common/version.h"
#include "vigil/tsdb/promql/parser.h"

namespace vigil::tsdb {

std::string FormatApiValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  const double a = std::fabs(v);
  std::to_chars_result r;
  if (a != 0 && (a < 1e-6 || a >= 1e21)) {
    r = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
    // Go writes at least two exponent digits: 1e-07, 1e+21.
    std::string s(buf, r.ptr);
    const size_t e = s.find('e');
    if (e != std::string::npos && s.size() - e == 3) s.insert(e + 2, "0");
    return s;
  }
  r = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::fixed);
  return std::string(buf, r.ptr);
}

namespace {

using nlohmann::json;

void AppendPoint(std::string& out, int64_t t, double v) {
  out += '[';
  out += FormatApiTime(t);
  out += ",\"";
  out += FormatApiValue(v);
  out += "\"]";
}

struct ApiError {
  std::string type;  // bad_data, execution, timeout, canceled, internal
  std::string message;
  int status() const {
    if (type == "bad_data") return 400;
    if (type == "execution") return 422;
    if (type == "timeout" || type == "canceled") return 503;
    if (type == "not_found") return 404;
    return 500;
  }
};

http::Response ErrorResponse(const ApiError& e) {
  json j = {{"status", "error"}, {"errorType", e.type}, {"error", e.message}};
  return http::Response::Json(e.status(), j.dump());
}

http::Response Success(const std::string& data_json,
                       const std::vector<std::string>& warnings = {}) {
  std::string body = "{\"status\":\"success\",\"data\":" + data_json;
  if (!warnings.empty()) body += ",\"warnings\":" + json(warnings).dump();
  return http::Response::Json(200, body + "}");
}

ApiError FromStatus(const Status& st) {
  switch (st.code()) {
    case StatusCode::kInvalidArgument:
      return {"bad_data", st.message()};
    case StatusCode::kDeadlineExceeded:
      return {"timeout", st.message()};
    case StatusCode::kCancelled:
      return {"canceled", st.message()};
    case StatusCode::kFailedPrecondition:
    case StatusCode::kOutOfRange:
      return {"execution", st.message()};
    default:
      return {"internal", st.message()};
  }
}

// Prometheus' parseDuration: seconds as a float, or a duration like 5m.
Result<int64_t> ParseApiDuration(std::string_view s) {
  double f = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), f);
  if (!s.empty() && ec == std::errc() && end == s.data() + s.size()) {
    const double ms = f * 1000;
    if (!std::isfinite(ms) || ms > 9.2e18 || ms < -9.2e18) {
      return InvalidArgument("cannot parse \"" + std::string(s) +
                             "\" to a valid duration. It overflows int64");
    }
    return static_cast<int64_t>(ms);
  }
  auto d = ParseDuration(s);
  if (d.ok()) return static_cast<int64_t>(d->count());
  return InvalidArgument("cannot parse \"" + std::string(s) + "\" to a valid duration");
}

std::string ResultJson(const promql::QueryResult& r) {
  std::string out = "{\"resultType\":";
  switch (r.type) {
    case promql::ValueType::kScalar:
      out += "\"scalar\",\"result\":";
      AppendPoint(out, r.t, r.scalar);
      break;
    case promql::ValueType::kString:
      out += "\"string\",\"result\":[" + FormatApiTime(r.t) + ",";
      AppendJsonString(out, r.str);
      out += "]";
      break;
    case promql::ValueType::kVector: {
      out += "\"vector\",\"result\":[";
      bool first = true;
      for (const auto& el : r.vector) {
        if (!first) out += ',';
        first = false;
        out += "{\"metric\":";
        AppendJsonLabels(out, el.labels);
        out += ",\"value\":";
        AppendPoint(out, el.t, el.v);
        out += '}';
      }
      out += ']';
      break;
    }
    default: {
      out += "\"matrix\",\"result\":[";
      bool first = true;
      for (const auto& s : r.matrix) {
        if (!first) out += ',';
        first = false;
        out += "{\"metric\":";
        AppendJsonLabels(out, s.labels);
        out += ",\"values\":[";
        for (size_t i = 0; i < s.points.size(); ++i) {
          if (i > 0) out += ',';
          AppendPoint(out, s.points[i].t, s.points[i].v);
        }
        out += "]}";
      }
      out += ']';
    }
  }
  out += '}';
  return out;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct QueryMetrics {
  prometheus::Family<prometheus::Histogram>* duration;
  prometheus::Family<prometheus::Counter>* errors;
  QueryMetrics() {
    duration = &prometheus::BuildHistogram()
                    .Name("vigil_tsdb_query_duration_seconds")
                    .Help("PromQL query time, by API endpoint.")
                    .Register(SelfMetrics());
    errors = &prometheus::BuildCounter()
                  .Name("vigil_tsdb_query_errors_total")
                  .Help("Failed API queries, by endpoint and Prometheus error type.")
                  .Register(SelfMetrics());
  }
};

// Engine options for one request: its timeout parameter may shorten the configured one.
Result<promql::EngineOptions> RequestEngine(const http::Request& req,
                                            const promql::EngineOptions& base) {
  promql::EngineOptions o = base;
  if (auto t = req.Param("timeout"); t && !t->empty()) {
    auto d = ParseApiDuration(*t);
    if (!d.ok()) {
      return InvalidArgument("invalid parameter \"timeout\": " + d.status().message());
    }
    o.timeout = std::min(o.timeout, std::chrono::milliseconds(*d));
  }
  return o;
}

Result<std::vector<std::vector<Matcher>>> MatchParams(const http::Request& req) {
  std::vector<std::vector<Matcher>> out;
  for (const auto& m : req.ParamValues("match[]")) {
    auto ms = promql::ParseMetricSelector(m);
    if (!ms.ok()) return InvalidArgument("invalid parameter \"match[]\": " + ms.status().message());
    out.push_back(std::move(*ms));
  }
  return out;
}

Result<std::pair<int64_t, int64_t>> StartEnd(const http::Request& req) {
  VIGIL_ASSIGN_OR_RETURN(int64_t start, ParseTimeParam(req.Param("start"), "start", kApiMinTimeMs));
  VIGIL_ASSIGN_OR_RETURN(int64_t end, ParseTimeParam(req.Param("end"), "end", kApiMaxTimeMs));
  return std::make_pair(start, end);
}

}  // namespace

void AddQueryRoutes(http::Router& router, Queryable& store, QueryApiOptions options) {
  auto metrics = std::make_shared<QueryMetrics>();
  auto opts = std::make_shared<QueryApiOptions>(std::move(options));
  const int64_t started = NowMs();
  auto observe = [metrics](const char* endpoint, std::chrono::steady_clock::time_point t0) {
    metrics->duration->Add({{"endpoint", endpoint}}, LatencyBuckets())
        .Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  };
  auto fail = [metrics](const char* endpoint, const ApiError& e) {
    metrics->errors->Add({{"endpoint", endpoint}, {"type", e.type}}).Increment();
    return ErrorResponse(e);
  };

  router.GetPost("/api/v1/query", [&store, opts, observe, fail](const http::Request& req,
                                                                http::Response& res) {
    const auto t0 = std::chrono::steady_clock::now();
    auto t = ParseTimeParam(req.Param("time"), "time", NowMs());
    if (!t.ok()) {
      res = fail("query", {"bad_data", t.status().message()});
      return;
    }
    auto eo = RequestEngine(req, opts->engine);
    if (!eo.ok()) {
      res = fail("query", {"bad_data", eo.status().message()});
      return;
    }
    auto expr = promql::ParseExpr(req.Param("query").value_or(""));
    if (!expr.ok()) {
      res = fail("query", {"bad_data", "invalid parameter \"query\": " + expr.status().message()});
      return;
    }
    promql::Engine engine(*eo);
    auto r = engine.Eval(store, **expr, *t, *t, 0, true);
    if (!r.ok()) {
      res = fail("query", FromStatus(r.status()));
      return;
    }
    res = Success(ResultJson(*r), r->warnings);
    observe("query", t0);
  });

  router.GetPost("/api/v1/query_range", [&store, opts, observe, fail](const http::Request& req,
                                                                      http::Response& res) {
    const auto t0 = std::chrono::steady_clock::now();
    auto bad = [&](const std::string& m) { res = fail("query_range", {"bad_data", m}); };
    auto start = ParseTimestamp(req.Param("start").value_or(""));
    if (!start.ok()) return bad("invalid parameter \"start\": " + start.status().message());
    auto end = ParseTimestamp(req.Param("end").value_or(""));
    if (!end.ok()) return bad("invalid parameter \"end\": " + end.status().message());
    if (*end < *start) {
      return bad("invalid parameter \"end\": end timestamp must not be before start time");
    }
    auto step = ParseApiDuration(req.Param("step").value_or(""));
    if (!step.ok()) return bad("invalid parameter \"step\": " + step.status().message());
    if (*step <= 0) {
      return bad(
          "invalid parameter \"step\": zero or negative query resolution step widths are "
          "not accepted. Try a positive integer");
    }
    if ((*end - *start) / *step > 11000) {
      return bad(
          "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing "
          "the query resolution (?step=XX)");
    }
    auto eo = RequestEngine(req, opts->engine);
    if (!eo.ok()) return bad(eo.status().message());
    auto expr = promql::ParseExpr(req.Param("query").value_or(""));
    if (!expr.ok()) return bad("invalid parameter \"query\": " + expr.status().message());
    const auto type = (*expr)->type();
    if (type != promql::ValueType::kScalar && type != promql::ValueType::kVector) {
      return bad(std::string("invalid expression type \"") + promql::ValueTypeName(type) +
                 "\" for range query, must be Scalar or instant Vector");
    }
    promql::Engine engine(*eo);
    auto r = engine.Eval(store, **expr, *start, *end, *step, false);
    if (!r.ok()) {
      res = fail("query_range", FromStatus(r.status()));
      return;
    }
    res = Success(ResultJson(*r), r->warnings);
    observe("query_range", t0);
  });

  router.GetPost("/api/v1/series", [&store, fail](const http::Request& req, http::Response& res) {
    auto matchers = MatchParams(req);
    if (!matchers.ok()) {
      res = fail("series", {"bad_data", matchers.status().message()});
      return;
    }
    if (matchers->empty()) {
      res = fail("series", {"bad_data", "no match[] parameter provided"});
      return;
    }
    auto range = StartEnd(req);
    if (!range.ok()) {
      res = fail("series", {"bad_data", range.status().message()});
      return;
    }
    auto q = store.NewQuerier();
    std::set<Labels> seen;
    std::string out = "[";
    for (const auto& ms : *matchers) {
      auto set = q->Select(range->first, range->second, ms);
      while (set->Next()) {
        if (!seen.insert(set->labels()).second) continue;
      }
      if (!set->Err().ok()) {
        res = fail("series", {"internal", set->Err().message()});
        return;
      }
    }
    bool first = true;
    for (const Labels& l : seen) {
      if (!first) out += ',';
      first = false;
      AppendJsonLabels(out, l);
    }
    out += ']';
    res = Success(out, q->Warnings());
  });

  auto label_lists = [&store, fail](const http::Request& req, http::Response& res,
                                    const std::string* name) {
    const char* endpoint = name ? "label_values" : "labels";
    auto matchers = MatchParams(req);
    if (!matchers.ok()) {
      res = fail(endpoint, {"bad_data", matchers.status().message()});
      return;
    }
    auto range = StartEnd(req);
    if (!range.ok()) {
      res = fail(endpoint, {"bad_data", range.status().message()});
      return;
    }
    auto q = store.NewQuerier();
    std::set<std::string> all;
    if (matchers->empty()) matchers->push_back({});
    for (const auto& ms : *matchers) {
      auto r = name ? q->LabelValues(*name, range->first, range->second, ms)
                    : q->LabelNames(range->first, range->second, ms);
      if (!r.ok()) {
        res = fail(endpoint, {"internal", r.status().message()});
        return;
      }
      all.insert(r->begin(), r->end());
    }
    json j = json::array();
    for (const auto& x : all) j.push_back(x);
    res = Success(j.dump(), q->Warnings());
  };
  router.GetPost("/api/v1/labels", [label_lists](const http::Request& req, http::Response& res) {
    label_lists(req, res, nullptr);
  });
  router.Get("/api/v1/label/{name}/values",
             [label_lists, fail](const http::Request& req, http::Response& res) {
               const std::string name(req.PathParam("name"));
               if (!IsValidLabelName(name)) {
                 res = fail("label_values", {"bad_data", "invalid label name: \"" + name + "\""});
                 return;
               }
               label_lists(req, res, &name);
             });

  // Grafana asks for exemplars beside range queries when they are switched on. vigil keeps
  // none (remote_write 1.0 exemplars are not stored): the answer is an empty list, after the
  // same checks Prometheus makes of the parameters.
  router.GetPost("/api/v1/query_exemplars", [fail](const http::Request& req, http::Response& res) {
    auto range = StartEnd(req);
    if (!range.ok()) {
      res = fail("query_exemplars", {"bad_data", range.status().message()});
      return;
    }
    auto expr = promql::ParseExpr(req.Param("query").value_or(""));
    if (!expr.ok()) {
      res = fail("query_exemplars",
                 {"bad_data", "invalid parameter \"query\": " + expr.status().message()});
      return;
    }
    res = Success("[]");
  });

  router.Get("/api/v1/metadata", [](const http::Request&, http::Response& res) {
    // vigil stores no metric metadata (remote_write 1.0 metadata is not kept).
    res = Success("{}");
  });

  router.Get("/api/v1/status/buildinfo", [](const http::Request&, http::Response& res) {
    json j = {{"version", std::string(kVersion)},
              {"revision", "unknown"},
              {"branch", "main"},
              {"buildUser", "vigil"},
              {"buildDate", "unknown"},
              {"goVersion", "n/a (C++20)"}};
    res = Success(j.dump());
  });

  router.Get("/api/v1/status/runtimeinfo",
             [opts, started](const http::Request&, http::Response& res) {
               std::error_code ec;
               const auto cwd = std::filesystem::current_path(ec);
               const std::time_t secs = static_cast<std::time_t>(started / 1000);
               std::tm tm{};
               gmtime_r(&secs, &tm);
               char when[64];
               std::strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
               json j = {{"startTime", when},
                         {"CWD", ec ? std::string() : cwd.string()},
                         {"reloadConfigSuccess", true},
                         {"lastConfigTime", when},
                         {"corruptionCount", 0},
                         {"goroutineCount", 0},
                         {"GOMAXPROCS", static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN))},
                         {"GOGC", ""},
                         {"GODEBUG", ""},
                         {"storageRetention", opts->storage_retention}};
               res = Success(j.dump());
             });

  router.Get("/api/v1/status/flags", [opts](const http::Request&, http::Response& res) {
    json j = json::object();
    for (const auto& [k, v] : opts->flags) j[k] = v;
    res = Success(j.dump());
  });

  router.GetPost("/api/v1/format_query", [fail](const http::Request& req, http::Response& res) {
    auto expr = promql::ParseExpr(req.Param("query").value_or(""));
    if (!expr.ok()) {
      res = fail("format_query",
                 {"bad_data", "invalid parameter \"query\": " + expr.status().message()});
      return;
    }
    res = Success(json((*expr)->Pretty()).dump());
  });

  router.GetPost("/federate", [&store, opts](const http::Request& req, http::Response& res) {
    auto matchers = MatchParams(req);
    if (!matchers.ok()) {
      res = http::Response::Text(400, matchers.status().message() + "\n");
      return;
    }
    const int64_t now = NowMs();
    auto q = store.NewQuerier();
    std::map<Labels, std::pair<int64_t, double>> latest;
    for (const auto& ms : *matchers) {
      auto set = q->Select(now - opts->engine.lookback_delta_ms, now, ms, {.newest_only = true});
      while (set->Next()) {
        const auto& s = set->samples();
        if (s.empty() || IsStaleNaN(s.back().v)) continue;
        latest[set->labels()] = {s.back().t, s.back().v};
      }
    }
    // Grouped by metric name, with a TYPE line each, as Prometheus federates (untyped).
    std::string out;
    std::string last_name_copy;
    for (const auto& [labels, tv] : latest) {
      const std::string name(labels.MetricName());
      if (name != last_name_copy) {
        out += "# TYPE " + name + " untyped\n";
        last_name_copy = name;
      }
      out += name;
      std::string rest;
      bool first = true;
      for (const Label& l : labels) {
        if (l.name == kMetricNameLabel) continue;
        rest += first ? "{" : ",";
        first = false;
        rest += l.name + "=";
        AppendQuoted(rest, l.value);
      }
      if (!first) rest += "}";
      out += rest + " " + expo::FormatValue(tv.second) + " " + std::to_string(tv.first) + "\n";
    }
    res = http::Response::Text(200, out);
    res.content_type = "text/plain; version=0.0.4; charset=utf-8";
  });
}

}  // namespace vigil::tsdb
