#include "query_api.h"

#include <charconv>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "vigil/common/duration.h"
#include "vigil/common/self_metrics.h"
#include "vigil/common/timestamp.h"

namespace vigil::logship {
namespace {

using nlohmann::json;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Param(const http::Request& req, std::string_view name) {
  return req.Param(name).value_or("");
}

Result<int64_t> TimeParam(const http::Request& req, std::string_view name, int64_t def) {
  auto v = ParseLokiTime(Param(req, name), def);
  if (!v.ok()) {
    return InvalidArgument("invalid " + std::string(name) + " parameter: " + v.status().message());
  }
  return v;
}

// step: a duration ("15s") or seconds ("15", "0.5"); Loki's default when absent.
Result<int64_t> StepParam(const http::Request& req, int64_t start, int64_t end) {
  const std::string s = Param(req, "step");
  if (s.empty()) {
    // Loki's default: the range over 250 points, at least a second.
    const int64_t secs = std::max<int64_t>(1, (end - start) / 1'000'000'000 / 250);
    return secs * 1'000'000'000;
  }
  double secs = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), secs);
  if (ec == std::errc() && p == s.data() + s.size()) {
    return static_cast<int64_t>(std::llround(secs * 1e9));
  }
  auto d = ParseDuration(s);
  if (!d.ok()) return InvalidArgument("invalid step parameter: cannot parse \"" + s + "\"");
  return d->count() * 1'000'000;
}

Result<size_t> LimitParam(const http::Request& req, const QueryApiOptions& o) {
  const std::string s = Param(req, "limit");
  if (s.empty()) return size_t{100};
  size_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) {
    return InvalidArgument("invalid limit parameter: \"" + s + "\" is not a count");
  }
  if (v > o.max_limit) {
    return InvalidArgument("max entries limit per query exceeded, limit > max_entries_limit (" +
                           std::to_string(v) + " > " + std::to_string(o.max_limit) + ")");
  }
  return v;
}

Result<bool> ForwardParam(const http::Request& req) {
  const std::string d = Param(req, "direction");
  if (d.empty() || d == "backward" || d == "BACKWARD") return false;
  if (d == "forward" || d == "FORWARD") return true;
  return InvalidArgument("invalid direction parameter \"" + d + "\": forward or backward");
}

json LabelsJson(const Labels& labels) {
  json out = json::object();
  for (const Label& l : labels) out[l.name] = l.value;
  return out;
}

std::string FormatSampleValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [p, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, p);
}

json TimeJson(int64_t ns) {
  // Seconds with millisecond precision, as Loki's (and Prometheus') JSON writes sample times.
  return static_cast<double>(ns / 1'000'000) / 1000.0;
}

// A success; with "warnings" when some of the answer is missing (a shard that did not answer),
// as Prometheus reports a partial response.
json Success(json data, const std::vector<std::string>& warnings) {
  json out = {{"status", "success"}, {"data", std::move(data)}};
  if (!warnings.empty()) out["warnings"] = warnings;
  return out;
}

json Envelope(std::string_view type, json result, size_t entries,
              const std::vector<std::string>& warnings) {
  return Success({{"resultType", type},
                  {"result", std::move(result)},
                  {"stats", {{"summary", {{"totalEntriesReturned", entries}}}}}},
                 warnings);
}

json StreamsJson(const std::vector<logql::StreamResult>& streams, size_t& entries) {
  json out = json::array();
  for (const auto& s : streams) {
    json values = json::array();
    for (const auto& [ts, line] : s.entries) values.push_back({std::to_string(ts), line});
    entries += s.entries.size();
    out.push_back({{"stream", LabelsJson(s.labels)}, {"values", std::move(values)}});
  }
  return out;
}

void Reply(http::Response& res, const Status& st) {
  const int code = st.code() == StatusCode::kInvalidArgument || st.code() == StatusCode::kOutOfRange
                       ? 400
                   : st.code() == StatusCode::kUnavailable ? 503
                                                           : 500;
  res = http::Response::Text(code, st.message() + "\n");
}

void Ok(http::Response& res, const json& body) {
  res = http::Response::Json(200, body.dump(-1, ' ', false, json::error_handler_t::replace));
}

// Runs a query (log or metric) for query and query_range.
Status RunQuery(LogQueryable& logs, const QueryApiOptions& o, const http::Request& req,
                int64_t start, int64_t end, int64_t step, bool instant, json& body) {
  const std::string text = Param(req, "query");
  auto q = logql::Parse(text);
  if (!q.ok()) return q.status();
  VIGIL_ASSIGN_OR_RETURN(size_t limit, LimitParam(req, o));
  VIGIL_ASSIGN_OR_RETURN(bool forward, ForwardParam(req));
  LogQueryable::Warnings warnings;
  if (q->log) {
    if (instant) {
      return InvalidArgument(
          "log queries are not supported as an instant query type, please "
          "change your query to a range query type");
    }
    VIGIL_ASSIGN_OR_RETURN(auto streams,
                           logs.Logs(text, *q->log, start, end, limit, forward, warnings));
    size_t entries = 0;
    json result = StreamsJson(streams, entries);
    body = Envelope("streams", std::move(result), entries, warnings);
    return Status::Ok();
  }
  VIGIL_RETURN_IF_ERROR(logql::CheckSteps(start, end, step, o.engine));
  VIGIL_ASSIGN_OR_RETURN(auto series, logs.Metric(*q->metric, start, end, step, warnings));
  json result = json::array();
  size_t points = 0;
  for (const auto& s : series) {
    if (instant) {
      for (const auto& [t, v] : s.points) {
        result.push_back(
            {{"metric", LabelsJson(s.labels)}, {"value", {TimeJson(t), FormatSampleValue(v)}}});
      }
    } else {
      json values = json::array();
      for (const auto& [t, v] : s.points) values.push_back({TimeJson(t), FormatSampleValue(v)});
      result.push_back({{"metric", LabelsJson(s.labels)}, {"values", std::move(values)}});
    }
    points += s.points.size();
  }
  body = Envelope(instant ? "vector" : "matrix", std::move(result), points, warnings);
  return Status::Ok();
}

// The stream selector of match[] or query (a log query's; a metric query's inner one).
Result<std::vector<Matcher>> SelectorOf(std::string_view text) {
  VIGIL_ASSIGN_OR_RETURN(logql::Query q, logql::Parse(text));
  if (q.log) return q.log->matchers;
  const logql::MetricExpr* e = q.metric.get();
  while (e->kind != logql::MetricExpr::Kind::kRange) e = e->inner.get();
  return e->selector.matchers;
}

class Local final : public LogQueryable {
 public:
  Local(const LogStore& store, logql::EngineLimits limits) : store_(store), limits_(limits) {}

  Result<std::vector<logql::StreamResult>> Logs(std::string_view, const logql::LogSelector& sel,
                                                int64_t start_ns, int64_t end_ns, size_t limit,
                                                bool forward, Warnings&) override {
    return logql::RunLogQuery(store_, sel, start_ns, end_ns, limit, forward, limits_);
  }
  Result<std::vector<logql::Series>> Metric(const logql::MetricExpr& expr, int64_t start_ns,
                                            int64_t end_ns, int64_t step_ns, Warnings&) override {
    return logql::RunMetricQuery(store_, expr, start_ns, end_ns, step_ns, limits_);
  }
  Result<std::vector<std::string>> LabelNames(Warnings&) override { return store_.LabelNames(); }
  Result<std::vector<std::string>> LabelValues(std::string_view name, Warnings&) override {
    return store_.LabelValues(name);
  }
  Result<std::vector<Labels>> Series(const std::vector<std::string>&,
                                     const std::vector<std::vector<Matcher>>& selectors,
                                     Warnings&) override {
    std::vector<Labels> out;
    std::set<uint64_t> seen;
    for (const auto& matchers : selectors) {
      for (const auto& s : store_.Select(matchers)) {
        if (seen.insert(s.id).second) out.push_back(s.labels);
      }
    }
    return out;
  }
  Result<Stats> IndexStats(std::string_view, const std::vector<Matcher>& matchers, int64_t start_ns,
                           int64_t end_ns, Warnings&) override {
    Stats out;
    for (const auto& s : store_.Select(matchers)) {
      uint64_t n = 0;
      VIGIL_RETURN_IF_ERROR(store_.ForEachEntry(s.id, start_ns, end_ns, [&](const LogEntry& e) {
        ++n;
        out.bytes += e.line.size();
        return true;
      }));
      out.entries += n;
      out.streams += n > 0;
    }
    out.chunks = out.streams;
    return out;
  }

 private:
  const LogStore& store_;
  logql::EngineLimits limits_;
};

}  // namespace

Result<int64_t> ParseLokiTime(std::string_view value, int64_t default_ns) {
  if (value.empty()) return default_ns;
  if (value.find('.') != std::string_view::npos) {
    double secs = 0;
    auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), secs);
    if (ec == std::errc() && p == value.data() + value.size()) {
      return static_cast<int64_t>(std::llround(secs * 1e3)) * 1'000'000;
    }
  }
  int64_t n = 0;
  auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (ec == std::errc() && p == value.data() + value.size()) {
    const size_t digits = value.size() - (value.front() == '-' ? 1 : 0);
    return digits <= 10 ? n * 1'000'000'000 : n;
  }
  auto ms = ParseTimestamp(value);
  if (!ms.ok()) return InvalidArgument("cannot parse \"" + std::string(value) + "\" as a time");
  return *ms * 1'000'000;
}

std::shared_ptr<LogQueryable> LocalLogs(const LogStore& store, logql::EngineLimits limits) {
  return std::make_shared<Local>(store, limits);
}

void AddQueryRoutes(http::Router& router, std::shared_ptr<LogQueryable> logs, QueryApiOptions o) {
  auto& family = prometheus::BuildHistogram()
                     .Name("vigil_logship_query_duration_seconds")
                     .Help("Time of Loki API queries, by endpoint.")
                     .Register(SelfMetrics());
  auto* range_seconds = &family.Add({{"endpoint", "query_range"}}, LatencyBuckets());
  auto* instant_seconds = &family.Add({{"endpoint", "query"}}, LatencyBuckets());
  auto timed = [](prometheus::Histogram* h, auto fn) {
    const auto start = std::chrono::steady_clock::now();
    fn();
    h->Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  };

  router.GetPost("/loki/api/v1/query_range", [logs, o, range_seconds, timed](
                                                 const http::Request& req, http::Response& res) {
    timed(range_seconds, [&] {
      const int64_t now = NowNs();
      auto end = TimeParam(req, "end", now);
      if (!end.ok()) return Reply(res, end.status());
      auto start = TimeParam(req, "start", *end - int64_t{3600} * 1'000'000'000);
      if (!start.ok()) return Reply(res, start.status());
      if (*end < *start)
        return Reply(res,
                     InvalidArgument("end timestamp must not be before or equal to start time"));
      auto step = StepParam(req, *start, *end);
      if (!step.ok()) return Reply(res, step.status());
      json body;
      // Log queries take [start, end); metric queries evaluate at start, start + step, ... end.
      Status st = RunQuery(*logs, o, req, *start, *end, *step, false, body);
      if (!st.ok()) return Reply(res, st);
      Ok(res, body);
    });
  });
  router.GetPost("/loki/api/v1/query",
                 [logs, o, instant_seconds, timed](const http::Request& req, http::Response& res) {
                   timed(instant_seconds, [&] {
                     auto t = TimeParam(req, "time", NowNs());
                     if (!t.ok()) return Reply(res, t.status());
                     json body;
                     Status st = RunQuery(*logs, o, req, *t, *t, 0, true, body);
                     if (!st.ok()) return Reply(res, st);
                     Ok(res, body);
                   });
                 });
  auto names = [logs](const http::Request&, http::Response& res) {
    LogQueryable::Warnings warnings;
    auto r = logs->LabelNames(warnings);
    if (!r.ok()) return Reply(res, r.status());
    Ok(res, Success(*r, warnings));
  };
  router.GetPost("/loki/api/v1/labels", names);
  router.GetPost("/loki/api/v1/label", names);
  router.GetPost("/loki/api/v1/label/{name}/values",
                 [logs](const http::Request& req, http::Response& res) {
                   LogQueryable::Warnings warnings;
                   auto r = logs->LabelValues(req.PathParam("name"), warnings);
                   if (!r.ok()) return Reply(res, r.status());
                   Ok(res, Success(*r, warnings));
                 });
  router.GetPost("/loki/api/v1/series", [logs](const http::Request& req, http::Response& res) {
    auto matches = req.ParamValues("match[]");
    if (matches.empty()) matches = req.ParamValues("match");
    if (matches.empty()) {
      return Reply(res, InvalidArgument(
                            "missing match[] parameter: at least one stream selector is required"));
    }
    std::vector<std::string> texts;
    std::vector<std::vector<Matcher>> selectors;
    for (const auto& m : matches) {
      auto matchers = SelectorOf(m);
      if (!matchers.ok()) return Reply(res, matchers.status());
      texts.emplace_back(m);
      selectors.push_back(std::move(*matchers));
    }
    LogQueryable::Warnings warnings;
    auto series = logs->Series(texts, selectors, warnings);
    if (!series.ok()) return Reply(res, series.status());
    json data = json::array();
    for (const Labels& l : *series) data.push_back(LabelsJson(l));
    Ok(res, Success(std::move(data), warnings));
  });
  router.GetPost("/loki/api/v1/index/stats", [logs](const http::Request& req, http::Response& res) {
    const std::string query = Param(req, "query");
    auto matchers = SelectorOf(query);
    if (!matchers.ok()) return Reply(res, matchers.status());
    const int64_t now = NowNs();
    auto end = TimeParam(req, "end", now);
    if (!end.ok()) return Reply(res, end.status());
    auto start = TimeParam(req, "start", *end - int64_t{3600} * 1'000'000'000);
    if (!start.ok()) return Reply(res, start.status());
    LogQueryable::Warnings warnings;
    auto st = logs->IndexStats(query, *matchers, *start, *end, warnings);
    if (!st.ok()) return Reply(res, st.status());
    // Loki answers the bare numbers (no status envelope).
    json out = {{"streams", st->streams},
                {"chunks", st->chunks},
                {"entries", st->entries},
                {"bytes", st->bytes}};
    Ok(res, out);
  });
}

}  // namespace vigil::logship
