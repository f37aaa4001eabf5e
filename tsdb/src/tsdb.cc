#include "vigil/tsdb/tsdb.h"

#include <spdlog/spdlog.h>

#include "kafka_ingest.h"
#include "vigil/common/daemon.h"
#include "vigil/common/duration.h"
#include "vigil/tsdb/api.h"
#include "vigil/tsdb/query_api.h"
#include "vigil/tsdb/rocksdb_store.h"
#include "vigil/tsdb/shards.h"

namespace vigil::tsdb {

StoreOptions StoreOptionsFrom(const Config& config) {
  StoreOptions opts;
  opts.dir = config.data_dir + "/tsdb";
  opts.retention = config.tsdb.retention;
  opts.retention_bytes = config.tsdb.retention_bytes;
  opts.out_of_order_window = config.tsdb.out_of_order_window;
  opts.sync_wal = config.tsdb.wal_sync;
  opts.block_cache_bytes = config.tsdb.block_cache_bytes;
  return opts;
}

QueryApiOptions QueryApiOptionsFrom(const Config& config) {
  QueryApiOptions o;
  o.engine.lookback_delta_ms = config.tsdb.query_lookback_delta.count();
  o.engine.timeout = config.tsdb.query_timeout;
  o.engine.max_samples = static_cast<int64_t>(config.tsdb.query_max_samples);
  o.storage_retention = FormatDuration(config.tsdb.retention);
  o.flags = {
      {"retention", FormatDuration(config.tsdb.retention)},
      {"retention-bytes", std::to_string(config.tsdb.retention_bytes)},
      {"block-cache-bytes", std::to_string(config.tsdb.block_cache_bytes)},
      {"query-timeout", FormatDuration(config.tsdb.query_timeout)},
      {"query-max-samples", std::to_string(config.tsdb.query_max_samples)},
      {"query-lookback-delta", FormatDuration(config.tsdb.query_lookback_delta)},
      {"out-of-order-window", FormatDuration(config.tsdb.out_of_order_window)},
      {"wal-sync", config.tsdb.wal_sync ? "true" : "false"},
      {"enable-admin-api", config.tsdb.enable_admin_api ? "true" : "false"},
      {"data-dir", config.data_dir},
  };
  return o;
}

void AddRoutes(http::Router& router, RocksDbStore& store, const Config& config, Queryable* queries,
               kafka::RemoteWritePublisher* publisher) {
  AddQueryRoutes(router, queries != nullptr ? *queries : store, QueryApiOptionsFrom(config));
  ApiOptions api;
  api.publisher = publisher;
  AddWriteRoute(router, store, api);
  AddStatusRoute(router, store);
  AddAdminRoutes(router, store, config.tsdb.enable_admin_api);
}

Status Run(const Config& config) {
  if (!config.tsdb.kafka_consume.empty() && config.tsdb.kafka_brokers.empty()) {
    return InvalidArgument("--kafka-consume needs --kafka-brokers");
  }
  if (!config.tsdb.kafka_publish.empty() && config.tsdb.kafka_brokers.empty()) {
    return InvalidArgument("--kafka-publish needs --kafka-brokers");
  }
  if (!config.tsdb.kafka_publish.empty() &&
      config.tsdb.kafka_publish == config.tsdb.kafka_consume) {
    return InvalidArgument("--kafka-publish and --kafka-consume name the same topic (a loop)");
  }
  auto store = RocksDbStore::Open(StoreOptionsFrom(config));
  if (!store.ok()) return store.status();
  // Stopped (what it stored committed) before the store closes.
  std::unique_ptr<kafka::GroupConsumer> consumer;
  if (!config.tsdb.kafka_consume.empty()) {
    VIGIL_ASSIGN_OR_RETURN(consumer, StartKafkaIngest(KafkaIngestOptionsFrom(config), **store));
  }
  // Fan-out: queries go over the shards (--query-shards); writes still come here.
  std::unique_ptr<ShardedQueryable> shards;
  if (!config.tsdb.query_shards.empty()) {
    VIGIL_ASSIGN_OR_RETURN(auto urls, http::ShardUrls(config.tsdb.query_shards));
    shards = std::make_unique<ShardedQueryable>(urls, config.tsdb.query_timeout);
    spdlog::info("tsdb: queries fan out to {} shards", urls.size());
  }
  // Ingest-only: remote_write batches go on to Kafka (--kafka-publish), for the consumers.
  std::unique_ptr<kafka::RemoteWritePublisher> publisher;
  if (!config.tsdb.kafka_publish.empty()) {
    VIGIL_ASSIGN_OR_RETURN(publisher,
                           kafka::RemoteWritePublisher::Make(
                               "kafka://" + kafka::JoinBrokers(config.tsdb.kafka_brokers) + "/" +
                                   config.tsdb.kafka_publish,
                               config.tsdb.kafka_options, std::chrono::seconds(30), "tsdb"));
  }
  http::Router router;
  AddRoutes(router, **store, config, shards.get(), publisher.get());
  auto server = ServerOptionsFrom(config, "127.0.0.1:9090");
  server.max_body_bytes = config.tsdb.max_body_bytes;
  Status st = ServeUntilSignal(config, "tsdb", server, std::move(router));
  if (consumer) consumer->Stop();
  return st;
}

}  // namespace vigil::tsdb
