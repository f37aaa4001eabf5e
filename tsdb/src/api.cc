#include "vigil/tsdb/api.h"

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <limits>

#include "vigil/common/self_metrics.h"
#include "vigil/common/timestamp.h"
#include "vigil/tsdb/promql/parser.h"

namespace vigil::tsdb {
namespace {

std::string PromError(std::string_view type, std::string_view message) {
  nlohmann::json j = {{"status", "error"}, {"errorType", type}, {"error", message}};
  return j.dump();
}

struct WriteMetrics {
  prometheus::Counter* requests_ok;
  prometheus::Counter* requests_bad;
  prometheus::Counter* requests_busy;
  prometheus::Counter* requests_failed;
  prometheus::Counter* samples;
  WriteMetrics() {
    auto& fam = prometheus::BuildCounter()
                    .Name("vigil_tsdb_remote_write_requests_total")
                    .Help("remote_write requests, by result.")
                    .Register(SelfMetrics());
    requests_ok = &fam.Add({{"result", "ok"}});
    requests_bad = &fam.Add({{"result", "invalid"}});
    requests_busy = &fam.Add({{"result", "busy"}});
    requests_failed = &fam.Add({{"result", "failed"}});
    samples = &prometheus::BuildCounter()
                   .Name("vigil_tsdb_remote_write_samples_total")
                   .Help("Samples received by remote_write and committed.")
                   .Register(SelfMetrics())
                   .Add({});
  }
};

}  // namespace

Status AppendWriteRequest(Appender& app, const remote::WriteRequestView& write, size_t& samples,
                          const std::function<bool(const Status&)>& on_reject) {
  for (size_t i = 0; i < write.size(); ++i) {
    const auto views = write.labels(i);
    // A known series is found from the request's bytes; only a new one has its labels copied.
    SeriesRef ref = app.GetRef(views, HashLabels(views));
    const Labels labels = ref == 0 ? ToLabels(views) : Labels();
    for (const auto& s : write.samples(i)) {
      auto r = app.Append(ref, labels, s.t, s.v);
      if (!r.ok()) {
        Status err =
            InvalidArgument(r.status().message() + ": series " + std::to_string(i) + " " +
                            LabelsToString(views) + " at timestamp " + std::to_string(s.t));
        if (!on_reject(err)) return err;
        continue;
      }
      ref = *r;
      ++samples;
    }
  }
  return Status::Ok();
}

void AddWriteRoute(http::Router& router, Appendable& store, ApiOptions options) {
  auto metrics = std::make_shared<WriteMetrics>();
  auto in_flight = std::make_shared<std::atomic<size_t>>(0);
  router.Post("/api/v1/write", [&store, options, metrics, in_flight](const http::Request& req,
                                                                     http::Response& res) {
    if (in_flight->fetch_add(1) >= options.max_concurrent_writes) {
      in_flight->fetch_sub(1);
      metrics->requests_busy->Increment();
      res = http::Response::Text(429, "too many concurrent writes; retry later\n");
      res.headers.emplace_back("Retry-After", "1");
      return;
    }
    struct Release {
      std::atomic<size_t>* n;
      ~Release() { n->fetch_sub(1); }
    } release{in_flight.get()};

    if (options.publisher != nullptr) {
      Status st = options.publisher->Publish(req.body, options.write_limits);
      if (st.ok()) {
        metrics->requests_ok->Increment();
        res = http::Response::Text(204, "");
      } else if (st.code() == StatusCode::kInvalidArgument ||
                 st.code() == StatusCode::kOutOfRange) {
        metrics->requests_bad->Increment();
        res = http::Response::Text(st.code() == StatusCode::kOutOfRange ? 413 : 400,
                                   st.message() + "\n");
      } else {
        metrics->requests_failed->Increment();
        spdlog::warn("tsdb: remote_write to kafka: {}", st.ToString());
        res = http::Response::Text(503, "kafka: " + st.message() + "\n");
      }
      return;
    }
    thread_local remote::WriteRequestView write;
    Status decoded = remote::DecodeView(req.body, options.write_limits, write);
    if (!decoded.ok()) {
      metrics->requests_bad->Increment();
      const int code = decoded.code() == StatusCode::kOutOfRange ? 413 : 400;
      res = http::Response::Text(code, decoded.message() + "\n");
      return;
    }
    auto app = store.NewAppender();
    size_t samples = 0;
    // As Prometheus' receiver: the first sample the store rejects rejects the request.
    if (Status bad = AppendWriteRequest(*app, write, samples, [](const Status&) { return false; });
        !bad.ok()) {
      app->Rollback();
      metrics->requests_bad->Increment();
      res = http::Response::Text(400, bad.message() + "\n");
      return;
    }
    Status st = app->Commit();
    if (!st.ok()) {
      metrics->requests_failed->Increment();
      spdlog::error("tsdb: remote_write commit failed: {}", st.ToString());
      res = http::Response::Text(503, "commit failed: " + st.message() + "\n");
      return;
    }
    metrics->requests_ok->Increment();
    metrics->samples->Increment(static_cast<double>(samples));
    res = http::Response::Text(204, "");
  });
}

void AddStatusRoute(http::Router& router, RocksDbStore& store) {
  router.Get("/api/v1/status/tsdb", [&store](const http::Request& req, http::Response& res) {
    size_t limit = 10;
    if (auto l = req.Param("limit")) {
      try {
        limit = std::stoul(*l);
      } catch (...) {
        res = http::Response::Json(400, PromError("bad_data", "invalid limit \"" + *l + "\""));
        return;
      }
    }
    StoreStats st = store.Stats(limit);
    auto counts = [](const StoreStats::Counts& c) {
      nlohmann::json a = nlohmann::json::array();
      for (const auto& [name, value] : c) a.push_back({{"name", name}, {"value", value}});
      return a;
    };
    nlohmann::json j = {
        {"status", "success"},
        {"data",
         {{"headStats",
           {{"numSeries", st.num_series},
            {"numLabelPairs", st.num_label_pairs},
            {"chunkCount", st.head_chunks},
            {"minTime", st.min_time},
            {"maxTime", st.max_time}}},
          {"seriesCountByMetricName", counts(st.series_count_by_metric_name)},
          {"labelValueCountByLabelName", counts(st.label_value_count_by_label_name)},
          {"memoryInBytesByLabelName", counts(st.memory_in_bytes_by_label_name)},
          {"seriesCountByLabelValuePair", counts(st.series_count_by_label_value_pair)}}}};
    res = http::Response::Json(200, j.dump());
  });
}

void AddAdminRoutes(http::Router& router, RocksDbStore& store, bool enabled) {
  router.Handle(
      {"POST", "PUT"}, "/api/v1/admin/tsdb/delete_series",
      [&store, enabled](const http::Request& req, http::Response& res) {
        if (!enabled) {
          res = http::Response::Json(503, PromError("unavailable", "admin APIs disabled"));
          return;
        }
        auto matches = req.ParamValues("match[]");
        if (matches.empty()) {
          res = http::Response::Json(400, PromError("bad_data", "no match[] parameter provided"));
          return;
        }
        // As Prometheus: an omitted bound is its minTime or maxTime, so omitting both deletes
        // the series.
        int64_t bounds[2];
        const char* names[2] = {"start", "end"};
        const int64_t defaults[2] = {kApiMinTimeMs, kApiMaxTimeMs};
        for (int i = 0; i < 2; ++i) {
          auto t = ParseTimeParam(req.Param(names[i]), names[i], defaults[i]);
          if (!t.ok()) {
            res = http::Response::Json(400, PromError("bad_data", t.status().message()));
            return;
          }
          bounds[i] = *t;
        }
        if (bounds[0] <= kApiMinTimeMs) bounds[0] = std::numeric_limits<int64_t>::min();
        if (bounds[1] >= kApiMaxTimeMs) bounds[1] = std::numeric_limits<int64_t>::max();
        uint64_t deleted = 0;
        for (const auto& m : matches) {
          auto ms = promql::ParseMetricSelector(m);
          if (!ms.ok()) {
            res = http::Response::Json(400, PromError("bad_data", ms.status().message()));
            return;
          }
          auto n = store.DeleteSeries(*ms, bounds[0], bounds[1]);
          if (!n.ok()) {
            res = http::Response::Json(500, PromError("internal", n.status().message()));
            return;
          }
          deleted += *n;
        }
        spdlog::info("tsdb: deleted {} series by admin request", deleted);
        res = http::Response::Text(204, "");
      });
}

}  // namespace vigil::tsdb
