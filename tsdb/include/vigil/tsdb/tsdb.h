#pragma once

// vigil tsdb: the time-series store and its HTTP API.

#include "vigil/common/config.h"
#include "vigil/common/http_server.h"
#include "vigil/common/kafka_publisher.h"
#include "vigil/common/status.h"
#include "vigil/tsdb/query_api.h"
#include "vigil/tsdb/rocksdb_store.h"

namespace vigil::tsdb {

// The store's options from the config: data in <data_dir>/tsdb.
StoreOptions StoreOptionsFrom(const Config& config);

// The query API's options from the config (engine limits, what /api/v1/status/flags shows).
QueryApiOptions QueryApiOptionsFrom(const Config& config);

// Adds the store's HTTP endpoints to `router`, with the limits of the config. The query API
// answers from `queries` when given (the shards of --query-shards), else from `store`;
// remote_write goes to `publisher` when given (--kafka-publish), else into `store`.
void AddRoutes(http::Router& router, RocksDbStore& store, const Config& config,
               Queryable* queries = nullptr, kafka::RemoteWritePublisher* publisher = nullptr);

// Runs `vigil tsdb` until SIGINT or SIGTERM: the store, the Prometheus query API, remote_write
// ingest at /api/v1/write, /api/v1/status/tsdb, and the standard endpoints.
Status Run(const Config& config);

}  // namespace vigil::tsdb
