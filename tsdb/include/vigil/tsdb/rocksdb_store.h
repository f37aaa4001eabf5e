#pragma once

// RocksDbStore: vigil's time-series store, an Appendable and a Queryable on an embedded RocksDB.
//
// - Samples live in Gorilla (XOR) chunks per series: the open chunk in memory, closed chunks in
//   the "chunks" column family under [day bucket][series id][chunk max time][n], so a series'
//   time range is one short scan per day and retention deletes whole days with a range delete.
// - A Commit writes its samples as one record to the "wal" column family, through RocksDB's
//   write-ahead log (synced by default) before it returns; on open, the records not yet in
//   closed chunks are replayed into the head. A series remembers how far its samples are in
//   closed chunks, so replay neither loses nor doubles a sample.
// - Series ids are stable across restarts ("series" column family); postings (label pair ->
//   series ids) are in "postings" and in memory for the head.
// - Commits apply in write-ahead-log order (one at a time), which keeps replay exact.
//
// Thread safety: all methods are safe from any thread; appenders and queriers from many threads.

#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "vigil/common/clock.h"
#include "vigil/tsdb/storage.h"

namespace vigil::tsdb {

struct StoreOptions {
  std::string dir;
  std::chrono::milliseconds retention{15LL * 24 * 3600 * 1000};
  uint64_t retention_bytes = 0;  // 0: no size limit
  // How far behind a series' newest sample a sample may be and still be accepted.
  std::chrono::milliseconds out_of_order_window{3600 * 1000};
  // Sync the write-ahead log before Commit returns (else RocksDB's default: the OS decides).
  bool sync_wal = true;
  // RocksDB's block cache (uncompressed blocks), one for all column families.
  uint64_t block_cache_bytes = 64 << 20;
  // A chunk is closed at this many samples (Prometheus and Gorilla use 120).
  uint16_t chunk_samples = 120;
  // Open chunks with samples older than this many commits' worth of log are closed at the next
  // checkpoint, so the log replayed on start stays short.
  std::chrono::milliseconds checkpoint_interval{10 * 60 * 1000};
  // Most samples of one series in one commit (bounds a chunk; remote_write senders send few).
  size_t max_samples_per_series_per_commit = 16384;
  std::shared_ptr<Clock> clock = RealClock();
};

// What /api/v1/status/tsdb shows.
struct StoreStats {
  uint64_t num_series = 0;
  uint64_t head_chunks = 0;
  uint64_t num_label_pairs = 0;
  int64_t min_time = 0;
  int64_t max_time = 0;
  using Counts = std::vector<std::pair<std::string, uint64_t>>;
  Counts series_count_by_metric_name;
  Counts label_value_count_by_label_name;
  Counts memory_in_bytes_by_label_name;
  Counts series_count_by_label_value_pair;
};

class RocksDbStore final : public Appendable, public Queryable {
 public:
  // Opens or creates the store in options.dir and replays its log. Fails with
  // FailedPrecondition for a data directory of an unknown format version.
  static Result<std::unique_ptr<RocksDbStore>> Open(StoreOptions options);
  ~RocksDbStore() override;

  std::unique_ptr<Appender> NewAppender() override;
  std::unique_ptr<Querier> NewQuerier() override;

  // Closes open chunks whose oldest sample has waited a checkpoint interval, and drops the log
  // records nothing needs any more. Runs on a timer; callable by tests.
  Status Checkpoint();
  // Closes every open chunk, drops the whole log and compacts every column family: the settled
  // state, for benchmarks of bytes per sample and for tests.
  Status CompactAll();
  // Deletes the days of chunks older than the retention (and the oldest days while over the
  // size limit), and forgets series with no sample left. Runs on a timer; callable by tests.
  Status ApplyRetention();
  // Removes the samples in [mint, maxt] of the series matching `matchers`; returns how many
  // series matched. A range covering all time removes the series themselves. A partial range
  // rewrites the affected chunks (the head is closed first), so a restart does not bring the
  // samples back from the log.
  Result<uint64_t> DeleteSeries(const std::vector<Matcher>& matchers,
                                int64_t mint = std::numeric_limits<int64_t>::min(),
                                int64_t maxt = std::numeric_limits<int64_t>::max());

  StoreStats Stats(size_t top_n = 10);
  // Bytes of the chunks column family's SST files and memtables.
  uint64_t DiskBytes();

  class Impl;

 private:
  explicit RocksDbStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::tsdb
