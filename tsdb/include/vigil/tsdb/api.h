#pragma once

// The HTTP endpoints of the store: remote_write ingest and the TSDB status, mounted on any
// Router (the standalone `vigil tsdb` and `vigil up` use the same handlers).

#include <cstddef>
#include <functional>

#include "vigil/common/http_server.h"
#include "vigil/common/kafka_publisher.h"
#include "vigil/common/remote_write.h"
#include "vigil/tsdb/rocksdb_store.h"
#include "vigil/tsdb/storage.h"

namespace vigil::tsdb {

struct ApiOptions {
  remote::WriteLimits write_limits;
  // Remote-write requests handled at once; more get 429 so the sender backs off and retries.
  size_t max_concurrent_writes = 8;
  // An ingest-only tsdb (--kafka-publish): the batches go to Kafka, split by series, instead of
  // into the store; 204 once every message is acknowledged, 503 when the brokers did not.
  kafka::RemoteWritePublisher* publisher = nullptr;
};

// Appends the samples of a decoded remote_write request (not committed); `samples` counts those
// appended. A sample the store rejects (out of order beyond its window, another value at a stored
// timestamp) is an InvalidArgument naming the series and time, passed to on_reject: true skips
// it and goes on, false stops and returns it.
Status AppendWriteRequest(Appender& app, const remote::WriteRequestView& write, size_t& samples,
                          const std::function<bool(const Status&)>& on_reject);

// POST /api/v1/write: 204 once committed; 400 naming the first bad series; 429 when busy;
// 503 when the store cannot commit (the sender retries). The body limit (413) is the server's.
void AddWriteRoute(http::Router& router, Appendable& store, ApiOptions options = {});
// GET /api/v1/status/tsdb in Prometheus' JSON.
void AddStatusRoute(http::Router& router, RocksDbStore& store);
// POST|PUT /api/v1/admin/tsdb/delete_series?match[]=...: 204 after the matching series are
// deleted. When not `enabled`, answers as Prometheus does without --web.enable-admin-api.
// start and end (optional, as Prometheus) limit the deletion to a time range.
void AddAdminRoutes(http::Router& router, RocksDbStore& store, bool enabled);

}  // namespace vigil::tsdb
