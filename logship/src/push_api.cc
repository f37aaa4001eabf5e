#include "push_api.h"

#include <spdlog/spdlog.h>

#include "vigil/common/self_metrics.h"

namespace vigil::logship {

void AddPushRoute(http::Router& router, Spool& spool, loki::PushLimits limits) {
  auto& family = prometheus::BuildCounter()
                     .Name("vigil_logship_push_requests_total")
                     .Help(
                         "Push requests, by outcome: ok, bad (400), too_large (413), failed "
                         "(the spool could not write).")
                     .Register(SelfMetrics());
  auto* ok = &family.Add({{"outcome", "ok"}});
  auto* bad = &family.Add({{"outcome", "bad"}});
  auto* too_large = &family.Add({{"outcome", "too_large"}});
  auto* failed = &family.Add({{"outcome", "failed"}});
  auto* bytes = &prometheus::BuildCounter()
                     .Name("vigil_logship_push_bytes_total")
                     .Help("Bytes of push request bodies accepted, as received.")
                     .Register(SelfMetrics())
                     .Add({});
  router.Post("/loki/api/v1/push", [&spool, limits, ok, bad, too_large, failed, bytes](
                                       const http::Request& req, http::Response& res) {
    auto streams = loki::DecodePush(req.body, req.Header("Content-Type"), limits);
    if (!streams.ok()) {
      const bool large = streams.status().code() == StatusCode::kOutOfRange;
      (large ? too_large : bad)->Increment();
      res = http::Response::Text(large ? 413 : 400, streams.status().message() + "\n");
      return;
    }
    // A protobuf body is already the spool's record.
    const bool proto = loki::IsProtobufPush(req.Header("Content-Type"));
    if (Status st = spool.Append(*streams, proto ? std::string_view(req.body) : std::string_view());
        !st.ok()) {
      failed->Increment();
      spdlog::error("logship: spooling a push: {}", st.ToString());
      res = http::Response::Text(500, "could not spool the push: " + st.message() + "\n");
      return;
    }
    ok->Increment();
    bytes->Increment(static_cast<double>(req.body.size()));
    res = http::Response::Text(204, "");
  });
}

}  // namespace vigil::logship
