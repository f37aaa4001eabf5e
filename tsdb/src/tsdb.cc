#include "vigil/tsdb/tsdb.h"

#include <spdlog/spdlog.h>

#include "vigil/common/daemon.h"
#include "vigil/tsdb/api.h"
#include "vigil/tsdb/rocksdb_store.h"

namespace vigil::tsdb {

StoreOptions StoreOptionsFrom(const Config& config) {
  StoreOptions opts;
  opts.dir = config.data_dir + "/tsdb";
  opts.retention = config.tsdb.retention;
  opts.retention_bytes = config.tsdb.retention_bytes;
  opts.out_of_order_window = config.tsdb.out_of_order_window;
  opts.sync_wal = config.tsdb.wal_sync;
  return opts;
}

void AddRoutes(http::Router& router, RocksDbStore& store, const Config& config) {
  AddWriteRoute(router, store);
  AddStatusRoute(router, store);
  AddAdminRoutes(router, store, config.tsdb.enable_admin_api);
}

Status Run(const Config& config) {
  auto store = RocksDbStore::Open(StoreOptionsFrom(config));
  if (!store.ok()) return store.status();
  http::Router router;
  AddRoutes(router, **store, config);
  auto server = ServerOptionsFrom(config, "127.0.0.1:9090");
  server.max_body_bytes = config.tsdb.max_body_bytes;
  return ServeUntilSignal(config, "tsdb", server, std::move(router));
}

}  // namespace vigil::tsdb
