#pragma once

// LogStore: logship's log store in RocksDB, and the spool's "store" sink.
//
// Column families (format version 1):
// - default: "format_version", "next_stream_id";
// - streams: stream id (u64 big-endian) → the stream's labels ({a="x"}). All streams are loaded
//   at open; the label index (label pair → stream ids) is kept in memory from them;
// - blocks: stream id, first timestamp, block number → a block: the entries of one stream in time
//   order, zstd-compressed, with its last timestamp and count in a small header;
// - head: stream id, entry number → one entry not yet in a block. A Write puts its entries here
//   in one WriteBatch (in the RocksDB WAL before Write returns, so a kill -9 loses none of
//   them); once a stream's head holds `block_bytes`, or is older than `max_head_age`, it is cut
//   into a block and its head entries deleted, in one batch.
//
// Order: entries are kept in time order per stream. An entry older than the stream's newest by
// more than `out_of_order_window` is refused (counted in vigil_logship_store_refused_lines_total
// {reason="too_old"} and logged); within the window it is accepted: into the head, or, when older
// than the head, into a block of its own that overlaps older blocks, which reads merge.
//
// Duplicates: entries of one stream with the same timestamp and the same line are read once (as
// Loki shows them), so a batch written twice (a replay after a crash) is seen once.
//
// Retention: EnforceRetention drops whole blocks whose last entry is older than the retention.
//
// Thread safety: Write, the readers and EnforceRetention may run concurrently (one mutex guards
// the in-memory state; block reads run outside it on RocksDB snapshots).

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "vigil/common/loki_push.h"
#include "vigil/common/matcher.h"
#include "vigil/logship/sink.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
}  // namespace rocksdb

namespace vigil::logship {

struct LogStoreOptions {
  std::string dir;
  int64_t retention_ns = int64_t{7} * 24 * 3600 * 1'000'000'000;
  int64_t out_of_order_window_ns = int64_t{3600} * 1'000'000'000;
  size_t block_bytes = 256 << 10;  // raw line bytes per block
  int64_t max_head_age_ns = int64_t{600} * 1'000'000'000;
  bool sync = false;  // fsync the WAL at each Write (the spool is already fsynced)
};

struct LogEntry {
  int64_t ts_ns = 0;
  std::string_view line;
};

class LogStore final : public LogSink {
 public:
  static Result<std::unique_ptr<LogStore>> Open(LogStoreOptions options);
  ~LogStore() override;

  std::string name() const override { return "store"; }
  Status Write(const std::vector<loki::Stream>& batch) override;
  // Makes every Write so far survive a crash of the machine (fsyncs the WAL): for writers that
  // have no fsynced spool of their own, as the Kafka consumer.
  Status Sync();

  struct StreamInfo {
    uint64_t id = 0;
    Labels labels;
  };
  // The streams matching every matcher (at least one must not match the empty string, as in
  // LogQL), by id.
  std::vector<StreamInfo> Select(const std::vector<Matcher>& matchers) const;
  // The entries of a stream with start <= ts < end, in time order (entries of the same timestamp
  // in the order they came); `fn` returns false to stop.
  Status ForEachEntry(uint64_t stream, int64_t start_ns, int64_t end_ns,
                      const std::function<bool(const LogEntry&)>& fn) const;
  // Every label name, and the values of one, over all streams.
  std::vector<std::string> LabelNames() const;
  std::vector<std::string> LabelValues(std::string_view name) const;
  size_t streams() const;

  // Cuts every head into a block (at shutdown, and for tests) / the heads older than
  // max_head_age (the periodic cut).
  Status Flush();
  Status CutOldHeads(int64_t now_ns);
  // Drops the blocks whose newest entry is before now - retention. Returns how many.
  Result<size_t> EnforceRetention(int64_t now_ns);

 private:
  struct Head;
  explicit LogStore(LogStoreOptions options);
  Status Load();
  Result<uint64_t> StreamIdLocked(const Labels& labels, void* batch);
  Status CutLocked(uint64_t id, Head& head, void* batch);

  LogStoreOptions opts_;
  rocksdb::DB* db_ = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> cfs_;
  mutable std::mutex mu_;
  uint64_t next_stream_id_ = 1;
  uint64_t next_seq_ = 1;  // numbers head entries and blocks
  std::map<uint64_t, Labels> streams_;
  std::map<Labels, uint64_t> ids_;
  // label name → value → stream ids
  std::map<std::string, std::map<std::string, std::vector<uint64_t>>, std::less<>> index_;
  std::unordered_map<uint64_t, std::unique_ptr<Head>> heads_;
};

}  // namespace vigil::logship
