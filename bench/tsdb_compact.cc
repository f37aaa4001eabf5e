// Opens a stopped vigil tsdb data directory, closes every open chunk, compacts, and prints the
// bytes on disk per column family: the "closed and compacted" state for bytes-per-sample.
//
//   tsdb_compact DATA_DIR/tsdb

#include <cstdio>

#include "vigil/common/logging.h"
#include "vigil/tsdb/rocksdb_store.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: tsdb_compact DIR\n");
    return 2;
  }
  (void)vigil::InitLogging("warn", "text");  // stdout is for the JSON result
  vigil::tsdb::StoreOptions opts;
  opts.dir = argv[1];
  opts.retention = std::chrono::hours(24 * 365 * 10);
  auto store = vigil::tsdb::RocksDbStore::Open(opts);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    return 1;
  }
  auto st = (*store)->CompactAll();
  if (!st.ok()) {
    std::fprintf(stderr, "%s\n", st.ToString().c_str());
    return 1;
  }
  std::printf("{\"chunk_bytes\": %llu}\n", static_cast<unsigned long long>((*store)->DiskBytes()));
  return 0;
}
