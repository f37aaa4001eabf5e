#include "vigil/tsdb/rocksdb_store.h"

#include <rocksdb/cache.h>
#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/statistics.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <unordered_map>

#include "decimal_chunk.h"
#include "encoding.h"
#include "series_table.h"
#include "small_types.h"
#include "vigil/common/file_system.h"
#include "vigil/common/rocksdb_status.h"
#include "vigil/common/self_metrics.h"
#include "xor_chunk.h"

namespace vigil::tsdb {

namespace {

constexpr int64_t kNoTime = std::numeric_limits<int64_t>::min();

uint64_t Bits(double v) {
  uint64_t b;
  std::memcpy(&b, &v, sizeof(b));
  return b;
}

// A series in the head: its identity, its open chunk and out-of-order samples, and how far its
// samples are in closed chunks (for exact replay).
struct MemSeries {
  uint64_t id = 0;
  // The labels in EncodeLabels' form: one allocation instead of a vector of strings, which is
  // most of a series' memory. Decoded where a query needs them.
  std::string labels_enc;
  Labels labels() const { return DecodeLabels(labels_enc).value(); }
  SmallMutex mu;
  bool persisted = false;  // the series and postings entries are written
  std::string chunk;       // the open XOR chunk
  std::optional<XorAppender> app;
  int64_t chunk_mint = kNoTime;
  int64_t max_t = kNoTime;  // newest in-order sample (open or closed)
  uint64_t last_bits = 0;
  std::vector<Sample> ooo;  // out-of-order samples, sorted by time
  // Every sample of this series in log records before persisted_seq, and the first
  // persisted_idx of its samples in record persisted_seq, are in closed chunks.
  uint64_t persisted_seq = 0;
  uint32_t persisted_idx = 0;
  int64_t closed_max_t = kNoTime;
  uint64_t pending_seq = 0;  // first log record with samples not in closed chunks; 0: none

  std::string SeriesValue() const {
    std::string v;
    PutFixed64BE(v, persisted_seq);
    PutFixed32BE(v, persisted_idx);
    PutFixed64BE(v, BiasTime(closed_max_t));
    v += labels_enc;
    return v;
  }
};

// Decodes every sample of an XOR chunk within [mint, maxt] into `out`.
Status DecodeXor(std::string_view chunk, int64_t mint, int64_t maxt, std::vector<Sample>& out) {
  XorIterator it(chunk);
  while (it.Next()) {
    if (it.t() > maxt) return Status::Ok();  // times only grow within a chunk
    if (it.t() >= mint) out.push_back({it.t(), it.v()});
  }
  return it.Err();
}

// A closed chunk's stored bytes: [encoding][bytes].
Status DecodeStoredChunk(std::string_view stored, int64_t mint, int64_t maxt,
                         std::vector<Sample>& out) {
  if (stored.empty()) return Corruption("empty chunk");
  const auto encoding = static_cast<ChunkEncoding>(stored[0]);
  stored.remove_prefix(1);
  switch (encoding) {
    case ChunkEncoding::kXor:
      return DecodeXor(stored, mint, maxt, out);
    case ChunkEncoding::kDecimal:
      return DecodeDecimal(stored, mint, maxt, out);
  }
  return Corruption("unknown chunk encoding " + std::to_string(static_cast<int>(encoding)));
}

// The smaller of the XOR bytes and the decimal encoding of the same samples, tagged.
std::string EncodeClosedChunk(const std::string& xor_bytes, const std::vector<Sample>& samples) {
  std::string out;
  auto dec = EncodeDecimal(samples);
  if (dec && dec->size() < xor_bytes.size()) {
    out.push_back(static_cast<char>(ChunkEncoding::kDecimal));
    out += *dec;
  } else {
    out.push_back(static_cast<char>(ChunkEncoding::kXor));
    out += xor_bytes;
  }
  return out;
}

}  // namespace

class RocksDbStore::Impl {
 public:
  explicit Impl(StoreOptions options) : opts_(std::move(options)) { InitMetrics(); }

  ~Impl() {
    {
      std::lock_guard lock(maintenance_mu_);
      closing_ = true;
    }
    for (auto id : timers_) opts_.clock->Cancel(id);
    if (db_ != nullptr) {
      // Memtables to SST files now, so the next open need not replay RocksDB's own log.
      rocksdb::FlushOptions fo;
      auto st = db_->Flush(fo, cfs_);
      if (!st.ok()) spdlog::warn("tsdb: flush on close failed: {}", st.ToString());
      for (auto* cf : cfs_) db_->DestroyColumnFamilyHandle(cf);
      delete db_;
    }
  }

  Status Open();
  Status Commit(struct Staged& staged);
  Status Checkpoint();
  Status CompactAll();
  Status ApplyRetention();
  Result<uint64_t> DeleteSeries(const std::vector<Matcher>& matchers, int64_t mint, int64_t maxt);
  StoreStats Stats(size_t top_n);
  uint64_t DiskBytes();

  std::shared_ptr<MemSeries> ById(uint64_t id) {
    std::shared_lock lock(series_mu_);
    return series_.Get(id);
  }
  // The series with these labels, or nullptr if unknown.
  std::shared_ptr<MemSeries> Find(std::span<const LabelView> labels, uint64_t hash);
  std::shared_ptr<MemSeries> GetOrCreate(const Labels& labels);
  // The series matching `matchers` that may have samples in [mint, maxt]: those whose newest
  // sample is older than mint are left out.
  std::vector<std::shared_ptr<MemSeries>> SeriesFor(
      const std::vector<Matcher>& matchers, int64_t mint = std::numeric_limits<int64_t>::min(),
      int64_t maxt = std::numeric_limits<int64_t>::max());
  // The samples of `s` in [mint, maxt], sorted, without duplicate timestamps.
  // An iterator over the chunks reused across the series of one read. It is renewed when
  // chunks were written since it was made, so it always sees what left the head.
  struct ChunkReader {
    std::unique_ptr<rocksdb::Iterator> it;
    uint64_t epoch = 0;
  };
  // The samples of `s` in [mint, maxt]; with newest_only, maybe just the newest of them.
  Status SamplesOf(MemSeries& s, int64_t mint, int64_t maxt, bool newest_only,
                   std::vector<Sample>& out, ChunkReader& reader);
  // Calls fn(key, chunk bytes after the min time) for each closed chunk of series `id` that
  // overlaps [lo, hi].
  Status ForEachChunk(rocksdb::Iterator& it, uint64_t id, int64_t lo, int64_t hi,
                      const std::function<Status(const rocksdb::Slice&, std::string_view)>& fn);

  const StoreOptions& options() const { return opts_; }

  // Self-metrics handles, taken once.
  prometheus::Counter* appended_ = nullptr;
  prometheus::Counter* rejected_out_of_order_ = nullptr;
  prometheus::Counter* rejected_duplicate_ = nullptr;
  prometheus::Counter* rejected_too_old_ = nullptr;
  prometheus::Counter* rejected_invalid_ = nullptr;

 private:
  void InitMetrics();
  // Applies one sample of log record `seq` (the `idx`-th of this series in that record).
  void ApplySample(MemSeries& s, int64_t t, double v, uint64_t seq, uint32_t idx);
  // Writes the open chunk and the out-of-order samples of `s` as closed chunks; afterwards
  // everything of `s` before (seq, idx) is in closed chunks. Caller holds s.mu.
  void Flush(MemSeries& s, uint64_t seq, uint32_t idx);
  // Adds a closed chunk of `samples` (sorted, non-empty) of series `id` to `batch`, in the
  // smaller of the XOR encoding (`xor_bytes`, when the caller has it) and the decimal one.
  void PutChunk(rocksdb::WriteBatch& batch, uint64_t id, const std::string& xor_bytes,
                const std::vector<Sample>& samples);
  void PutChunk(rocksdb::WriteBatch& batch, uint64_t id, const std::vector<Sample>& samples);
  // Removes the samples of `s` in [mint, maxt] from its closed chunks. Caller holds commit_mu_.
  Status DeleteRange(MemSeries& s, int64_t mint, int64_t maxt, rocksdb::WriteBatch& batch);
  // Closes the chunks of every series with samples waiting since before log record
  // `threshold`, then drops the log records nothing needs. Caller holds commit_mu_.
  Status FlushPendingBefore(uint64_t threshold);
  void Index(const std::shared_ptr<MemSeries>& s);
  void AddPostings(const MemSeries& s);  // caller holds series_mu_
  void Unindex(const MemSeries& s);
  void ScheduleMaintenance();
  void NoteTime(int64_t t) {
    int64_t cur = min_time_.load();
    while ((cur == kNoTime || t < cur) && !min_time_.compare_exchange_weak(cur, t)) {
    }
    cur = max_time_.load();
    while ((cur == kNoTime || t > cur) && !max_time_.compare_exchange_weak(cur, t)) {
    }
  }

  StoreOptions opts_;
  rocksdb::DB* db_ = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> cfs_;
  rocksdb::ColumnFamilyHandle* meta_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* series_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* postings_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* chunks_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* wal_cf_ = nullptr;
  std::shared_ptr<rocksdb::Statistics> statistics_;
  std::shared_ptr<rocksdb::Cache> block_cache_;

  std::shared_mutex series_mu_;
  SeriesTable<MemSeries> series_;
  // Postings: label name -> value -> sorted series ids. A value's key points into the encoded
  // labels of one of its series (never copied: unique values such as container ids are most of
  // a series' label bytes); Unindex moves it to another series before its owner goes.
  using ValuePostings = std::map<std::string_view, IdList, std::less<>>;
  std::map<std::string, ValuePostings, std::less<>> postings_;
  std::atomic<uint64_t> next_id_{1};

  std::mutex commit_mu_;  // log records are written and applied one at a time, in order
  uint64_t next_seq_ = 1;
  uint64_t checkpoint_seqs_[2] = {0, 0};  // next_seq_ at the last two checkpoints
  std::atomic<uint32_t> chunk_n_{0};
  std::atomic<uint64_t> chunk_writes_{0};  // chunk batches written; readers renew iterators
  std::atomic<int64_t> min_time_{kNoTime};
  std::atomic<int64_t> max_time_{kNoTime};

  std::mutex maintenance_mu_;
  bool closing_ = false;
  std::vector<Clock::TimerId> timers_;

  prometheus::Gauge* active_series_ = nullptr;
  prometheus::Counter* chunks_written_ = nullptr;
  prometheus::Histogram* commit_seconds_ = nullptr;
  prometheus::Gauge* disk_bytes_ = nullptr;
  prometheus::Gauge* stall_seconds_ = nullptr;
  prometheus::Gauge* memtable_bytes_ = nullptr;
  prometheus::Gauge* block_cache_bytes_ = nullptr;
  prometheus::Counter* block_cache_hits_ = nullptr;
  prometheus::Counter* block_cache_misses_ = nullptr;
  prometheus::Counter* wal_records_replayed_ = nullptr;

  friend class RocksDbStore;
};

void RocksDbStore::Impl::InitMetrics() {
  auto& reg = SelfMetrics();
  appended_ = &prometheus::BuildCounter()
                   .Name("vigil_tsdb_samples_appended_total")
                   .Help("Samples committed to the store.")
                   .Register(reg)
                   .Add({});
  auto& rejected = prometheus::BuildCounter()
                       .Name("vigil_tsdb_samples_rejected_total")
                       .Help("Samples refused at append, by reason.")
                       .Register(reg);
  rejected_out_of_order_ = &rejected.Add({{"reason", "out_of_order"}});
  rejected_duplicate_ = &rejected.Add({{"reason", "duplicate_timestamp"}});
  rejected_too_old_ = &rejected.Add({{"reason", "too_old"}});
  rejected_invalid_ = &rejected.Add({{"reason", "invalid"}});
  active_series_ = &prometheus::BuildGauge()
                        .Name("vigil_tsdb_active_series")
                        .Help("Series in the head.")
                        .Register(reg)
                        .Add({});
  chunks_written_ = &prometheus::BuildCounter()
                         .Name("vigil_tsdb_chunks_written_total")
                         .Help("Chunks closed and written to RocksDB.")
                         .Register(reg)
                         .Add({});
  commit_seconds_ = &prometheus::BuildHistogram()
                         .Name("vigil_tsdb_commit_duration_seconds")
                         .Help("Time to make a commit durable and visible.")
                         .Register(reg)
                         .Add({}, LatencyBuckets());
  disk_bytes_ = &prometheus::BuildGauge()
                     .Name("vigil_tsdb_disk_bytes")
                     .Help("Bytes of the store's chunks on disk and in memtables.")
                     .Register(reg)
                     .Add({});
  stall_seconds_ = &prometheus::BuildGauge()
                        .Name("vigil_tsdb_rocksdb_stall_seconds")
                        .Help("Time RocksDB has stalled writes since the store opened.")
                        .Register(reg)
                        .Add({});
  memtable_bytes_ = &prometheus::BuildGauge()
                         .Name("vigil_tsdb_rocksdb_memtable_bytes")
                         .Help("Bytes of RocksDB memtables, all column families.")
                         .Register(reg)
                         .Add({});
  block_cache_bytes_ = &prometheus::BuildGauge()
                            .Name("vigil_tsdb_rocksdb_block_cache_bytes")
                            .Help("Bytes in RocksDB's block cache.")
                            .Register(reg)
                            .Add({});
  auto& lookups = prometheus::BuildCounter()
                      .Name("vigil_tsdb_rocksdb_block_cache_lookups_total")
                      .Help("Block cache lookups of RocksDB, by whether the block was there.")
                      .Register(reg);
  block_cache_hits_ = &lookups.Add({{"result", "hit"}});
  block_cache_misses_ = &lookups.Add({{"result", "miss"}});
  wal_records_replayed_ = &prometheus::BuildCounter()
                               .Name("vigil_tsdb_wal_records_replayed_total")
                               .Help("Log records replayed into the head at start.")
                               .Register(reg)
                               .Add({});
}

Status RocksDbStore::Impl::Open() {
  VIGIL_RETURN_IF_ERROR(RealFileSystem()->CreateDirs(opts_.dir));
  rocksdb::DBOptions db_opts;
  db_opts.create_if_missing = true;
  db_opts.create_missing_column_families = true;
  statistics_ = rocksdb::CreateDBStatistics();
  db_opts.statistics = statistics_;
  db_opts.max_background_jobs = 2;
  db_opts.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  // Bounds what RocksDB replays after a crash: past this, column families holding the oldest
  // log file are flushed.
  db_opts.max_total_wal_size = 128 << 20;
  // One memtable budget for all column families: at 100k series, default 64 MiB memtables per
  // family would cost more than the series themselves.
  db_opts.db_write_buffer_size = 64 << 20;

  // One block cache for all column families; RocksDB's default is 8 MiB for each, less than
  // the chunks one dashboard reads again at every refresh.
  rocksdb::BlockBasedTableOptions table_opts;
  block_cache_ = rocksdb::NewLRUCache(opts_.block_cache_bytes);
  table_opts.block_cache = block_cache_;
  rocksdb::ColumnFamilyOptions meta_opts;
  meta_opts.write_buffer_size = 8 << 20;
  meta_opts.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table_opts));
  rocksdb::ColumnFamilyOptions chunk_opts;
  chunk_opts.write_buffer_size = 16 << 20;
  chunk_opts.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table_opts));
  // Chunks are already dense; a general-purpose compressor on top still finds repeats (the same
  // constant values and labels across series). ZSTD where the data settles, LZ4 above it.
  auto supported = rocksdb::GetSupportedCompressions();
  auto has = [&](rocksdb::CompressionType t) {
    return std::find(supported.begin(), supported.end(), t) != supported.end();
  };
  if (has(rocksdb::kLZ4Compression)) chunk_opts.compression = rocksdb::kLZ4Compression;
  if (has(rocksdb::kZSTD)) chunk_opts.bottommost_compression = rocksdb::kZSTD;
  rocksdb::ColumnFamilyOptions wal_opts;
  wal_opts.compression = rocksdb::kNoCompression;
  wal_opts.write_buffer_size = 16 << 20;
  wal_opts.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table_opts));

  std::vector<rocksdb::ColumnFamilyDescriptor> descs = {
      {rocksdb::kDefaultColumnFamilyName, meta_opts},
      {"series", meta_opts},
      {"postings", meta_opts},
      {"chunks", chunk_opts},
      {"wal", wal_opts},
  };
  auto st = rocksdb::DB::Open(db_opts, opts_.dir, descs, &cfs_, &db_);
  if (!st.ok()) return FromRocks(st, "open " + opts_.dir);
  meta_cf_ = cfs_[0];
  series_cf_ = cfs_[1];
  postings_cf_ = cfs_[2];
  chunks_cf_ = cfs_[3];
  wal_cf_ = cfs_[4];

  // The format version: written on creation, checked on every open.
  std::string version;
  st = db_->Get(rocksdb::ReadOptions(), meta_cf_, "format_version", &version);
  if (st.IsNotFound()) {
    std::unique_ptr<rocksdb::Iterator> any(db_->NewIterator(rocksdb::ReadOptions(), series_cf_));
    any->SeekToFirst();
    if (any->Valid()) {
      return FailedPrecondition("data directory " + opts_.dir +
                                " has series but no format version; it was not written by vigil");
    }
    rocksdb::WriteOptions wo;
    wo.sync = true;
    VIGIL_RETURN_IF_ERROR(FromRocks(
        db_->Put(wo, meta_cf_, "format_version", std::string(kFormatVersion)), "write version"));
  } else if (!st.ok()) {
    return FromRocks(st, "read format version");
  } else if (version != kFormatVersion) {
    return FailedPrecondition("data directory " + opts_.dir + " has format version " + version +
                              "; this vigil reads version " + std::string(kFormatVersion) +
                              " only (use the vigil release that wrote it, or a new directory)");
  }

  // Series. One-time scans keep the block cache for what queries read again.
  rocksdb::ReadOptions scan;
  scan.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(scan, series_cf_));
  uint64_t max_id = 0;
  // A large directory takes a while: say how far it got every two seconds.
  auto last_note = std::chrono::steady_clock::now();
  auto progress = [&](uint64_t n, const char* what) {
    if ((n & 4095) != 0) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_note < std::chrono::seconds(2)) return;
    last_note = now;
    spdlog::info("tsdb: opening {}: {} {} so far", opts_.dir, n, what);
  };
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    progress(series_.size(), "series read");
    std::string_view k(it->key().data(), it->key().size());
    std::string_view v(it->value().data(), it->value().size());
    if (k.size() != 8 || v.size() < 20) return Corruption("series entry of bad size");
    auto s = std::make_shared<MemSeries>();
    s->id = GetFixed64BE(k);
    s->persisted = true;
    s->persisted_seq = GetFixed64BE(v);
    s->persisted_idx = GetFixed32BE(v.substr(8));
    s->closed_max_t = UnbiasTime(GetFixed64BE(v.substr(12)));
    s->max_t = s->closed_max_t;
    VIGIL_RETURN_IF_ERROR(DecodeLabels(v.substr(20)).status());
    s->labels_enc = std::string(v.substr(20));
    max_id = std::max(max_id, s->id);
    Index(s);
  }
  VIGIL_RETURN_IF_ERROR(FromRocks(it->status(), "read series"));
  next_id_ = max_id + 1;

  // Time range of the closed chunks: from the first key's bucket to the newest series time.
  std::unique_ptr<rocksdb::Iterator> ci(db_->NewIterator(rocksdb::ReadOptions(), chunks_cf_));
  ci->SeekToFirst();
  if (ci->Valid() && ci->value().size() > 0) {
    std::string_view v(ci->value().data(), ci->value().size());
    uint64_t zz;
    if (GetVarint(v, zz)) NoteTime(UnZigZag64(zz));
  }
  series_.ForEach([&](const std::shared_ptr<MemSeries>& s) {
    if (s->closed_max_t != kNoTime) NoteTime(s->closed_max_t);
  });

  // Replay the log records that are not all in closed chunks. Nothing else runs yet, so the
  // series are looked up in a flat table by id, without locks.
  std::vector<MemSeries*> table(max_id + 1, nullptr);
  series_.ForEach([&](const std::shared_ptr<MemSeries>& s) { table[s->id] = s.get(); });
  std::vector<uint32_t> idx(max_id + 1, 0);  // samples of each series seen in this record
  std::vector<uint64_t> touched;
  std::unique_ptr<rocksdb::Iterator> wi(db_->NewIterator(scan, wal_cf_));
  uint64_t records = 0;
  for (wi->SeekToFirst(); wi->Valid(); wi->Next()) {
    progress(records, "log records replayed");
    if (wi->key().size() != 8) return Corruption("log record key of bad size");
    const uint64_t seq = GetFixed64BE(std::string_view(wi->key().data(), 8));
    std::string_view rec(wi->value().data(), wi->value().size());
    for (uint64_t id : touched) idx[id] = 0;
    touched.clear();
    while (!rec.empty()) {
      uint64_t id, zz;
      if (!GetVarint(rec, id) || !GetVarint(rec, zz) || rec.size() < 8) {
        return Corruption("log record " + std::to_string(seq) + " is truncated");
      }
      double v;
      std::memcpy(&v, rec.data(), 8);
      rec.remove_prefix(8);
      MemSeries* s = id < table.size() ? table[id] : nullptr;
      if (s == nullptr) continue;  // deleted since
      if (idx[id] == 0) touched.push_back(id);
      const uint32_t i = idx[id]++;
      if (seq < s->persisted_seq || (seq == s->persisted_seq && i < s->persisted_idx)) continue;
      ApplySample(*s, UnZigZag64(zz), v, seq, i);
    }
    next_seq_ = seq + 1;
    ++records;
  }
  VIGIL_RETURN_IF_ERROR(FromRocks(wi->status(), "replay log"));
  wal_records_replayed_->Increment(static_cast<double>(records));
  active_series_->Set(static_cast<double>(series_.size()));
  spdlog::info("tsdb: opened {}: {} series, {} log records replayed", opts_.dir, series_.size(),
               records);
  ScheduleMaintenance();
  return Status::Ok();
}

void RocksDbStore::Impl::ScheduleMaintenance() {
  // Each task reschedules itself; the destructor cancels them under maintenance_mu_.
  auto every = [this](std::chrono::milliseconds period, auto task) {
    auto fn = std::make_shared<std::function<void()>>();
    *fn = [this, period, task, fn] {
      std::lock_guard lock(maintenance_mu_);
      if (closing_) return;
      task();
      timers_.push_back(opts_.clock->ScheduleAfter(period, *fn));
    };
    timers_.push_back(opts_.clock->ScheduleAfter(period, *fn));
  };
  every(opts_.checkpoint_interval, [this] {
    Status st = Checkpoint();
    if (!st.ok()) spdlog::error("tsdb: checkpoint failed: {}", st.ToString());
  });
  every(std::chrono::minutes(1), [this] {
    Status st = ApplyRetention();
    if (!st.ok()) spdlog::error("tsdb: retention failed: {}", st.ToString());
  });
  every(std::chrono::seconds(15), [this] {
    disk_bytes_->Set(static_cast<double>(DiskBytes()));
    stall_seconds_->Set(static_cast<double>(statistics_->getTickerCount(rocksdb::STALL_MICROS)) /
                        1e6);
    uint64_t mem = 0;
    for (auto* cf : cfs_) {
      uint64_t n = 0;
      if (db_->GetIntProperty(cf, "rocksdb.cur-size-all-mem-tables", &n)) mem += n;
    }
    memtable_bytes_->Set(static_cast<double>(mem));
    block_cache_bytes_->Set(static_cast<double>(block_cache_->GetUsage()));
    auto advance = [](prometheus::Counter* c, uint64_t total) {
      if (static_cast<double>(total) > c->Value())
        c->Increment(static_cast<double>(total) - c->Value());
    };
    advance(block_cache_hits_, statistics_->getTickerCount(rocksdb::BLOCK_CACHE_HIT));
    advance(block_cache_misses_, statistics_->getTickerCount(rocksdb::BLOCK_CACHE_MISS));
  });
}

std::shared_ptr<MemSeries> RocksDbStore::Impl::Find(std::span<const LabelView> labels,
                                                    uint64_t hash) {
  std::shared_lock lock(series_mu_);
  MemSeries* s =
      series_.Find(hash, [&](const MemSeries& m) { return EncodedEquals(m.labels_enc, labels); });
  return s == nullptr ? nullptr : series_.Get(s->id);
}

std::shared_ptr<MemSeries> RocksDbStore::Impl::GetOrCreate(const Labels& labels) {
  const uint64_t hash = labels.Hash();
  std::unique_lock lock(series_mu_);
  if (MemSeries* s = series_.Find(
          hash, [&](const MemSeries& m) { return EncodedEquals(m.labels_enc, labels); })) {
    return series_.Get(s->id);
  }
  auto s = std::make_shared<MemSeries>();
  s->id = next_id_++;
  EncodeLabels(s->labels_enc, labels);
  s->labels_enc.shrink_to_fit();
  series_.Insert(s, hash);
  AddPostings(*s);
  active_series_->Increment();
  return s;
}

void RocksDbStore::Impl::AddPostings(const MemSeries& s) {
  thread_local std::vector<LabelView> views;
  (void)DecodeLabelViews(s.labels_enc, views);  // checked when the series was made or read
  for (const LabelView& l : views) {
    auto name = postings_.find(l.name);
    if (name == postings_.end())
      name = postings_.emplace(std::string(l.name), ValuePostings()).first;
    auto& ids = name->second[l.value];
    ids.Insert(s.id);
  }
}

void RocksDbStore::Impl::Index(const std::shared_ptr<MemSeries>& s) {
  series_.Insert(s, s->labels().Hash());
  AddPostings(*s);
}

void RocksDbStore::Impl::Unindex(const MemSeries& s) {
  series_.Erase(s, s.labels().Hash());
  std::vector<LabelView> views;
  (void)DecodeLabelViews(s.labels_enc, views);
  const char* own_begin = s.labels_enc.data();
  const char* own_end = own_begin + s.labels_enc.size();
  for (const LabelView& l : views) {
    auto name = postings_.find(l.name);
    if (name == postings_.end()) continue;
    auto value = name->second.find(l.value);
    if (value == name->second.end()) continue;
    auto& ids = value->second;
    ids.Erase(s.id);
    if (ids.empty()) {
      name->second.erase(value);
    } else if (value->first.data() >= own_begin && value->first.data() < own_end) {
      // The key points into this series' bytes: re-point it to a series that stays.
      auto node = name->second.extract(value);
      node.key() = LabelValue(series_.Get(node.mapped().front())->labels_enc, l.name);
      name->second.insert(std::move(node));
    }
    if (name->second.empty()) postings_.erase(name);
  }
}

void RocksDbStore::Impl::ApplySample(MemSeries& s, int64_t t, double v, uint64_t seq,
                                     uint32_t idx) {
  const uint64_t bits = Bits(v);
  bool accepted = false;
  if (t > s.max_t) {
    if (s.app && (s.app->count() >= opts_.chunk_samples || BucketOf(t) != BucketOf(s.chunk_mint))) {
      Flush(s, seq, idx);
    }
    if (!s.app) {
      s.app.emplace(&s.chunk);
      s.chunk_mint = t;
    }
    s.app->Append(t, v);
    s.max_t = t;
    s.last_bits = bits;
    accepted = true;
  } else if (t == s.max_t) {
    // A retry's exact duplicate, or a conflict the appender already refused: nothing to store.
  } else if (t >= s.max_t - opts_.out_of_order_window.count()) {
    bool clash = false;
    if (s.app && t >= s.chunk_mint) {
      XorIterator it(s.chunk);
      while (it.Next() && it.t() <= t) clash |= it.t() == t;
    }
    auto pos = std::lower_bound(s.ooo.begin(), s.ooo.end(), t,
                                [](const Sample& a, int64_t b) { return a.t < b; });
    clash |= pos != s.ooo.end() && pos->t == t;
    if (!clash) {
      if (!s.ooo.empty() && BucketOf(t) != BucketOf(s.ooo.front().t)) {
        Flush(s, seq, idx);
        pos = s.ooo.begin();
      }
      s.ooo.insert(pos, Sample{t, v});
      accepted = true;
    }
  }
  if (!accepted) return;
  if (s.pending_seq == 0) s.pending_seq = seq;
  NoteTime(t);
  if (s.ooo.size() >= opts_.chunk_samples) Flush(s, seq, idx + 1);
}

void RocksDbStore::Impl::PutChunk(rocksdb::WriteBatch& batch, uint64_t id,
                                  const std::string& xor_bytes,
                                  const std::vector<Sample>& samples) {
  std::string value;
  PutVarint(value, ZigZag64(samples.front().t));
  value += EncodeClosedChunk(xor_bytes, samples);
  batch.Put(chunks_cf_, ChunkKey(BucketOf(samples.front().t), id, samples.back().t, chunk_n_++),
            value);
  chunks_written_->Increment();
}

void RocksDbStore::Impl::PutChunk(rocksdb::WriteBatch& batch, uint64_t id,
                                  const std::vector<Sample>& samples) {
  std::string bytes;
  XorAppender a(&bytes);
  for (const Sample& x : samples) a.Append(x.t, x.v);
  PutChunk(batch, id, bytes, samples);
}

void RocksDbStore::Impl::Flush(MemSeries& s, uint64_t seq, uint32_t idx) {
  rocksdb::WriteBatch batch;
  const int64_t old_closed = s.closed_max_t;
  if (s.app && s.app->count() > 0) {
    std::vector<Sample> samples;
    (void)DecodeXor(s.chunk, s.chunk_mint, s.app->last_t(), samples);  // our own bytes
    PutChunk(batch, s.id, s.chunk, samples);
    s.closed_max_t = s.app->last_t();
  }
  if (!s.ooo.empty()) {
    PutChunk(batch, s.id, s.ooo);
    // closed_max_t bounds every closed sample, so reads can skip RocksDB after it.
    if (s.closed_max_t == kNoTime || s.ooo.back().t > s.closed_max_t) {
      s.closed_max_t = s.ooo.back().t;
    }
  }
  const auto old_seq = s.persisted_seq;
  const auto old_idx = s.persisted_idx;
  s.persisted_seq = seq;
  s.persisted_idx = idx;
  batch.Put(series_cf_, SeriesKey(s.id), s.SeriesValue());
  // Written before the head lets go of the samples, so a query always finds them somewhere.
  auto st = db_->Write(rocksdb::WriteOptions(), &batch);
  if (st.ok()) chunk_writes_.fetch_add(1, std::memory_order_release);
  if (!st.ok()) {
    // The samples stay in the head and in the log; the next flush tries again.
    spdlog::error("tsdb: writing chunks of series {} failed: {}", s.id, st.ToString());
    s.persisted_seq = old_seq;
    s.persisted_idx = old_idx;
    s.closed_max_t = old_closed;
    return;
  }
  s.app.reset();
  s.chunk.clear();
  s.chunk_mint = kNoTime;
  s.ooo.clear();
  s.pending_seq = 0;
}

// What an appender has collected for its next commit: the samples in order, and per series
// (a group) the newest staged time and value bits and the count. Kept between commits so its
// buffers are reused.
struct Staged {
  struct Group {
    std::shared_ptr<MemSeries> series;  // holds the series while staged
    int64_t t = kNoTime;
    uint64_t bits = 0;
    uint32_t count = 0;
  };
  struct Item {
    MemSeries* series;
    int64_t t;
    double v;
    uint32_t idx;  // this sample's index among its series' samples in the commit
  };
  std::deque<Group> groups;  // a deque: the index below points at its elements
  std::vector<Item> items;

  // The group of `s`, or nullptr.
  Group* GroupOf(const MemSeries* s) {
    if (!groups.empty() && groups.back().series.get() == s) return &groups.back();
    return index_.Find(Spread(s), [s](const Group& g) { return g.series.get() == s; });
  }
  Group* AddGroup(std::shared_ptr<MemSeries> s) {
    const uint64_t hash = Spread(s.get());
    groups.push_back(Group{std::move(s)});
    index_.Insert(hash, &groups.back());
    return &groups.back();
  }
  void Clear() {
    groups.clear();
    items.clear();
    index_.Clear();
  }

 private:
  static uint64_t Spread(const MemSeries* s) {
    return (reinterpret_cast<uintptr_t>(s) >> 4) * 0x9E3779B97F4A7C15ULL >> 16;
  }
  OpenHashIndex<Group> index_;
};

Status RocksDbStore::Impl::Commit(Staged& staged) {
  if (staged.items.empty()) return Status::Ok();
  const auto start = std::chrono::steady_clock::now();
  std::lock_guard lock(commit_mu_);
  const uint64_t seq = next_seq_;
  rocksdb::WriteBatch batch;
  std::vector<MemSeries*> created;
  for (const Staged::Group& g : staged.groups) {
    MemSeries* s = g.series.get();
    if (ById(s->id).get() != s) {
      // Retention or a delete dropped the series after it was staged: it comes back, with its
      // entries written again, or the log record would name a series replay does not know.
      std::unique_lock index_lock(series_mu_);
      Index(g.series);
      active_series_->Set(static_cast<double>(series_.size()));
      std::lock_guard slock(s->mu);
      s->persisted = false;
    }
    std::lock_guard slock(s->mu);
    if (s->persisted) continue;
    batch.Put(series_cf_, SeriesKey(s->id), s->SeriesValue());
    for (const Label& l : s->labels())
      batch.Put(postings_cf_, PostingKey(l.name, l.value, s->id), "");
    created.push_back(s);
  }
  std::string record;
  record.reserve(staged.items.size() * 14);
  for (const auto& item : staged.items) {
    PutVarint(record, item.series->id);
    PutVarint(record, ZigZag64(item.t));
    char buf[8];
    std::memcpy(buf, &item.v, 8);
    record.append(buf, 8);
  }
  batch.Put(wal_cf_, WalKey(seq), record);
  rocksdb::WriteOptions wo;
  wo.sync = opts_.sync_wal;
  auto st = db_->Write(wo, &batch);
  if (!st.ok()) return FromRocks(st, "commit");
  next_seq_ = seq + 1;
  for (MemSeries* s : created) {
    std::lock_guard slock(s->mu);
    s->persisted = true;
  }
  for (const auto& item : staged.items) {
    std::lock_guard slock(item.series->mu);
    ApplySample(*item.series, item.t, item.v, seq, item.idx);
  }
  appended_->Increment(static_cast<double>(staged.items.size()));
  commit_seconds_->Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return Status::Ok();
}

Status RocksDbStore::Impl::Checkpoint() {
  std::lock_guard lock(commit_mu_);
  // Close what has waited since two checkpoints ago: a series sending every 15 s fills most of
  // a chunk first, a slow one does not hold the log forever.
  Status st = FlushPendingBefore(checkpoint_seqs_[0]);
  checkpoint_seqs_[0] = checkpoint_seqs_[1];
  checkpoint_seqs_[1] = next_seq_;
  return st;
}

Status RocksDbStore::Impl::FlushPendingBefore(uint64_t threshold) {
  std::vector<std::shared_ptr<MemSeries>> all;
  {
    std::shared_lock slock(series_mu_);
    all.reserve(series_.size());
    series_.ForEach([&](const std::shared_ptr<MemSeries>& s) { all.push_back(s); });
  }
  uint64_t min_pending = next_seq_;
  for (auto& s : all) {
    std::lock_guard slock(s->mu);
    if (s->pending_seq != 0 && s->pending_seq < threshold) Flush(*s, next_seq_, 0);
    if (s->pending_seq != 0) min_pending = std::min(min_pending, s->pending_seq);
  }
  rocksdb::WriteBatch batch;
  batch.DeleteRange(wal_cf_, WalKey(0), WalKey(min_pending));
  return FromRocks(db_->Write(rocksdb::WriteOptions(), &batch), "truncate log");
}

Status RocksDbStore::Impl::CompactAll() {
  {
    std::lock_guard lock(commit_mu_);
    VIGIL_RETURN_IF_ERROR(FlushPendingBefore(std::numeric_limits<uint64_t>::max()));
  }
  rocksdb::CompactRangeOptions opts;
  opts.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  for (auto* cf : cfs_) {
    VIGIL_RETURN_IF_ERROR(FromRocks(db_->CompactRange(opts, cf, nullptr, nullptr), "compact"));
  }
  return Status::Ok();
}

Status RocksDbStore::Impl::ApplyRetention() {
  const int64_t cutoff = opts_.clock->NowMillis() - opts_.retention.count();
  int64_t keep_from = BucketOf(cutoff);  // buckets before this one are entirely too old
  if (opts_.retention_bytes > 0) {
    // Drop whole oldest days while over the size limit, never the newest day.
    const int64_t newest = max_time_.load() == kNoTime ? keep_from : BucketOf(max_time_.load());
    int64_t oldest = min_time_.load() == kNoTime ? keep_from : BucketOf(min_time_.load());
    while (DiskBytes() > opts_.retention_bytes && std::max(oldest, keep_from) < newest) {
      keep_from = std::max(oldest, keep_from) + 1;
      std::string end;
      PutFixed32BE(end, BucketKey(keep_from));
      std::string begin;
      PutFixed32BE(begin, BucketKey(std::numeric_limits<int32_t>::min()));
      rocksdb::Slice b(begin), e(end);
      VIGIL_RETURN_IF_ERROR(
          FromRocks(db_->DeleteRange(rocksdb::WriteOptions(), chunks_cf_, b, e), "size retention"));
      VIGIL_RETURN_IF_ERROR(
          FromRocks(db_->CompactRange(rocksdb::CompactRangeOptions(), chunks_cf_, &b, &e),
                    "size retention compaction"));
      oldest = keep_from;
    }
  }
  std::string begin, end;
  PutFixed32BE(begin, BucketKey(std::numeric_limits<int32_t>::min()));
  PutFixed32BE(end, BucketKey(keep_from));
  rocksdb::Slice b(begin), e(end);
  VIGIL_RETURN_IF_ERROR(
      FromRocks(db_->DeleteRange(rocksdb::WriteOptions(), chunks_cf_, b, e), "retention"));
  VIGIL_RETURN_IF_ERROR(FromRocks(rocksdb::DeleteFilesInRange(db_, chunks_cf_, &b, &e, false),
                                  "retention file delete"));
  const int64_t kept_from_time = keep_from * kBucketMs;
  int64_t cur = min_time_.load();
  if (cur != kNoTime && cur < kept_from_time) min_time_ = kept_from_time;

  // Forget series with nothing left. Under the commit lock, so a commit either comes first (and
  // the series is not empty) or after (and brings the series back).
  std::lock_guard commit(commit_mu_);
  std::vector<std::shared_ptr<MemSeries>> gone;
  {
    std::shared_lock slock(series_mu_);
    series_.ForEach([&](const std::shared_ptr<MemSeries>& s) {
      std::lock_guard l(s->mu);
      if (s->max_t != kNoTime && s->max_t < kept_from_time && s->pending_seq == 0 && !s->app &&
          s->ooo.empty()) {
        gone.push_back(s);
      }
    });
  }
  if (gone.empty()) return Status::Ok();
  rocksdb::WriteBatch batch;
  {
    std::unique_lock slock(series_mu_);
    for (auto& s : gone) {
      Unindex(*s);
      batch.Delete(series_cf_, SeriesKey(s->id));
      for (const Label& l : s->labels())
        batch.Delete(postings_cf_, PostingKey(l.name, l.value, s->id));
    }
    active_series_->Set(static_cast<double>(series_.size()));
  }
  return FromRocks(db_->Write(rocksdb::WriteOptions(), &batch), "forget series");
}

std::vector<std::shared_ptr<MemSeries>> RocksDbStore::Impl::SeriesFor(
    const std::vector<Matcher>& matchers, int64_t mint, int64_t maxt) {
  const int64_t store_min = min_time_.load();
  if (store_min == kNoTime || store_min > maxt || max_time_.load() < mint) return {};
  std::shared_lock lock(series_mu_);
  // Each matcher that needs its label: the (sorted) postings of the values it matches. The ids
  // are those in every matcher's union; the smallest union is built first and the others only
  // probed, so a selective label is not slowed by a broad one (`__name__` of a large metric).
  struct Candidates {
    std::vector<const IdList*> lists;
    size_t total = 0;
  };
  std::vector<Candidates> cands;
  for (const Matcher& m : matchers) {
    if (m.MatchesEmpty()) continue;
    Candidates c;
    auto name = postings_.find(m.name());
    if (name != postings_.end()) {
      auto add = [&](const IdList& p) {
        c.lists.push_back(&p);
        c.total += p.size();
      };
      if (m.type() == MatchType::kEqual) {
        auto v = name->second.find(m.value());
        if (v != name->second.end()) add(v->second);
      } else if (m.type() == MatchType::kRegexMatch && !m.SetMatches().empty()) {
        for (const auto& value : m.SetMatches()) {
          auto v = name->second.find(value);
          if (v != name->second.end()) add(v->second);
        }
      } else {
        for (const auto& [value, p] : name->second) {
          if (m.Matches(value)) add(p);
        }
      }
    }
    if (c.total == 0) return {};  // nothing has a value this matcher accepts
    cands.push_back(std::move(c));
  }
  std::sort(cands.begin(), cands.end(),
            [](const Candidates& a, const Candidates& b) { return a.total < b.total; });
  std::vector<uint64_t> ids;
  const bool have = !cands.empty();
  if (have) {
    for (const IdList* p : cands[0].lists) ids.insert(ids.end(), p->begin(), p->end());
    if (cands[0].lists.size() > 1) {
      std::sort(ids.begin(), ids.end());
      ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    }
  }
  for (size_t i = 1; i < cands.size() && !ids.empty(); ++i) {
    const Candidates& c = cands[i];
    if (c.lists.size() <= 16) {
      std::erase_if(ids, [&](uint64_t id) {
        for (const IdList* p : c.lists) {
          if (std::binary_search(p->begin(), p->end(), id)) return false;
        }
        return true;
      });
      continue;
    }
    std::vector<uint64_t> u;
    u.reserve(c.total);
    for (const IdList* p : c.lists) u.insert(u.end(), p->begin(), p->end());
    std::sort(u.begin(), u.end());
    std::vector<uint64_t> both;
    std::set_intersection(ids.begin(), ids.end(), u.begin(), u.end(), std::back_inserter(both));
    ids = std::move(both);
  }
  std::vector<std::shared_ptr<MemSeries>> out;
  auto consider = [&](const std::shared_ptr<MemSeries>& s) {
    if (mint != std::numeric_limits<int64_t>::min()) {
      std::lock_guard l(s->mu);
      if (s->max_t == kNoTime || s->max_t < mint) return;  // out-of-order samples are older
    }
    for (const Matcher& m : matchers) {
      if (m.MatchesEmpty() && !m.Matches(LabelValue(s->labels_enc, m.name()))) return;
    }
    out.push_back(s);
  };
  if (have) {
    for (uint64_t id : ids) {
      if (const auto& s = series_.Get(id)) consider(s);
    }
  } else {
    series_.ForEach(consider);
  }
  return out;
}

Status RocksDbStore::Impl::ForEachChunk(
    rocksdb::Iterator& it, uint64_t id, int64_t lo, int64_t hi,
    const std::function<Status(const rocksdb::Slice&, std::string_view)>& fn) {
  for (int64_t b = BucketOf(lo); b <= BucketOf(hi); ++b) {
    const std::string prefix = ChunkKeyPrefix(b, id);
    std::string start = prefix;
    PutFixed64BE(start, BiasTime(lo));  // keys sort by max time: chunks ending before lo skip
    for (it.Seek(start); it.Valid(); it.Next()) {
      std::string_view k(it.key().data(), it.key().size());
      if (!k.starts_with(prefix)) break;
      std::string_view v(it.value().data(), it.value().size());
      uint64_t zz;
      if (!GetVarint(v, zz)) return Corruption("chunk of series " + std::to_string(id));
      if (UnZigZag64(zz) > hi) continue;  // starts after the range
      VIGIL_RETURN_IF_ERROR(fn(it.key(), v));
    }
    VIGIL_RETURN_IF_ERROR(FromRocks(it.status(), "read chunks"));
  }
  return Status::Ok();
}

Status RocksDbStore::Impl::SamplesOf(MemSeries& s, int64_t mint, int64_t maxt, bool newest_only,
                                     std::vector<Sample>& out, ChunkReader& reader) {
  out.clear();
  if (newest_only) {
    // The open chunk's last sample is the series' newest (out-of-order ones are older): when
    // it is not after maxt, it is the answer, without decoding anything.
    std::lock_guard lock(s.mu);
    if (s.app && s.app->count() > 0 && s.app->last_t() <= maxt) {
      if (s.app->last_t() >= mint) out.push_back({s.app->last_t(), s.app->last_v()});
      return Status::Ok();
    }
  }
  // The head first, then RocksDB: a flush between the two moves samples from the head to
  // RocksDB, so this order sees them at least once (duplicates are removed below).
  std::string open;
  std::vector<Sample> ooo;
  int64_t closed_max = kNoTime;
  {
    std::lock_guard lock(s.mu);
    closed_max = s.closed_max_t;
    if (s.app && s.app->last_t() >= mint && s.chunk_mint <= maxt) open = s.chunk;
    for (const Sample& x : s.ooo) {
      if (x.t >= mint && x.t <= maxt) ooo.push_back(x);
    }
  }
  const int64_t lo = std::max(mint, min_time_.load());
  const int64_t hi = std::min(maxt, max_time_.load());
  // Nothing closed at or after mint: the head has it all (an instant query's usual case).
  if (min_time_.load() != kNoTime && lo <= hi && closed_max != kNoTime && closed_max >= mint) {
    // Chunk writes are counted before the head lets go of their samples (under s.mu), so a
    // count read after the head snapshot covers every chunk the snapshot misses.
    const uint64_t epoch = chunk_writes_.load(std::memory_order_acquire);
    if (!reader.it || reader.epoch != epoch) {
      reader.it.reset(db_->NewIterator(rocksdb::ReadOptions(), chunks_cf_));
      reader.epoch = epoch;
    }
    VIGIL_RETURN_IF_ERROR(
        ForEachChunk(*reader.it, s.id, lo, hi, [&](const rocksdb::Slice&, std::string_view chunk) {
          return DecodeStoredChunk(chunk, mint, maxt, out);
        }));
  }
  if (!open.empty()) VIGIL_RETURN_IF_ERROR(DecodeXor(open, mint, maxt, out));
  out.insert(out.end(), ooo.begin(), ooo.end());
  auto by_time = [](const Sample& a, const Sample& b) { return a.t < b.t; };
  if (!std::is_sorted(out.begin(), out.end(), by_time)) {
    std::stable_sort(out.begin(), out.end(), by_time);
  }
  out.erase(std::unique(out.begin(), out.end(),
                        [](const Sample& a, const Sample& b) { return a.t == b.t; }),
            out.end());
  return Status::Ok();
}

Status RocksDbStore::Impl::DeleteRange(MemSeries& s, int64_t mint, int64_t maxt,
                                       rocksdb::WriteBatch& batch) {
  // The head goes to closed chunks first, and the series' replay mark moves past the whole
  // log: what is deleted below cannot come back from log records at the next start.
  std::lock_guard slock(s.mu);
  Flush(s, next_seq_, 0);
  if (s.app || !s.ooo.empty()) return IOError("closing the chunks of series before a delete");
  const int64_t lo = std::max(mint, min_time_.load());
  const int64_t hi = std::min(maxt, max_time_.load());
  if (lo > hi) return Status::Ok();
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), chunks_cf_));
  std::vector<Sample> samples, kept;
  return ForEachChunk(*it, s.id, lo, hi, [&](const rocksdb::Slice& key, std::string_view chunk) {
    samples.clear();
    VIGIL_RETURN_IF_ERROR(DecodeStoredChunk(chunk, std::numeric_limits<int64_t>::min(),
                                            std::numeric_limits<int64_t>::max(), samples));
    kept.clear();
    for (const Sample& x : samples) {
      if (x.t < mint || x.t > maxt) kept.push_back(x);
    }
    if (kept.size() == samples.size()) return Status::Ok();
    batch.Delete(chunks_cf_, key);
    if (!kept.empty()) PutChunk(batch, s.id, kept);
    return Status::Ok();
  });
}

Result<uint64_t> RocksDbStore::Impl::DeleteSeries(const std::vector<Matcher>& matchers,
                                                  int64_t mint, int64_t maxt) {
  std::lock_guard commit(commit_mu_);
  auto victims = SeriesFor(matchers, mint, maxt);
  if (victims.empty()) return uint64_t{0};
  const int64_t lo = min_time_.load(), hi = max_time_.load();
  rocksdb::WriteBatch batch;
  if (mint > lo || maxt < hi) {
    for (auto& s : victims) VIGIL_RETURN_IF_ERROR(DeleteRange(*s, mint, maxt, batch));
  } else {
    std::unique_lock lock(series_mu_);
    for (auto& s : victims) {
      Unindex(*s);
      batch.Delete(series_cf_, SeriesKey(s->id));
      for (const Label& l : s->labels())
        batch.Delete(postings_cf_, PostingKey(l.name, l.value, s->id));
      if (lo != kNoTime) {
        for (int64_t b = BucketOf(lo); b <= BucketOf(hi); ++b) {
          batch.DeleteRange(chunks_cf_, ChunkKeyPrefix(b, s->id), ChunkKeyPrefix(b, s->id + 1));
        }
      }
    }
    active_series_->Set(static_cast<double>(series_.size()));
  }
  rocksdb::WriteOptions wo;
  wo.sync = true;
  VIGIL_RETURN_IF_ERROR(FromRocks(db_->Write(wo, &batch), "delete series"));
  chunk_writes_.fetch_add(1, std::memory_order_release);
  return static_cast<uint64_t>(victims.size());
}

uint64_t RocksDbStore::Impl::DiskBytes() {
  uint64_t sst = 0, mem = 0;
  db_->GetIntProperty(chunks_cf_, "rocksdb.total-sst-files-size", &sst);
  db_->GetIntProperty(chunks_cf_, "rocksdb.cur-size-all-mem-tables", &mem);
  return sst + mem;
}

StoreStats RocksDbStore::Impl::Stats(size_t top_n) {
  StoreStats st;
  std::map<std::string, uint64_t> by_metric;
  std::shared_lock lock(series_mu_);
  st.num_series = series_.size();
  series_.ForEach([&](const std::shared_ptr<MemSeries>& s) {
    std::lock_guard l(s->mu);
    if (s->app) ++st.head_chunks;
  });
  auto top = [&](StoreStats::Counts counts) {
    std::sort(counts.begin(), counts.end(), [](const auto& a, const auto& b) {
      return a.second > b.second || (a.second == b.second && a.first < b.first);
    });
    if (counts.size() > top_n) counts.resize(top_n);
    return counts;
  };
  StoreStats::Counts values_per_name, bytes_per_name, series_per_pair, series_per_metric;
  for (const auto& [name, values] : postings_) {
    values_per_name.emplace_back(name, values.size());
    uint64_t bytes = 0;
    for (const auto& [value, ids] : values) {
      bytes += value.size() * ids.size();
      series_per_pair.emplace_back(name + "=" + std::string(value), ids.size());
      if (name == kMetricNameLabel) series_per_metric.emplace_back(value, ids.size());
      ++st.num_label_pairs;
    }
    bytes_per_name.emplace_back(name, bytes);
  }
  st.series_count_by_metric_name = top(std::move(series_per_metric));
  st.label_value_count_by_label_name = top(std::move(values_per_name));
  st.memory_in_bytes_by_label_name = top(std::move(bytes_per_name));
  st.series_count_by_label_value_pair = top(std::move(series_per_pair));
  st.min_time = min_time_.load() == kNoTime ? 0 : min_time_.load();
  st.max_time = max_time_.load() == kNoTime ? 0 : max_time_.load();
  return st;
}

// ---------------------------------------------------------------------------------------------

namespace {

class StoreAppender final : public Appender {
 public:
  explicit StoreAppender(RocksDbStore::Impl* store) : store_(store) {}
  ~StoreAppender() override = default;

  SeriesRef GetRef(std::span<const LabelView> labels, uint64_t hash) override {
    found_ = store_->Find(labels, hash);
    return found_ ? found_->id : 0;
  }

  Result<SeriesRef> Append(SeriesRef ref, const Labels& labels, int64_t t, double v) override {
    std::shared_ptr<MemSeries> s;
    Staged::Group* group = nullptr;
    if (ref != 0 && !staged_.groups.empty() && staged_.groups.back().series->id == ref) {
      group = &staged_.groups.back();  // the common case: the same series
    } else if (ref != 0 && found_ && found_->id == ref) {
      s = std::move(found_);  // just looked up by GetRef
    } else if (ref != 0) {
      s = store_->ById(ref);
    } else {
      s = store_->Find(Views(labels), labels.Hash());
    }
    if (group == nullptr && !s) {
      // Only a new series needs its labels checked; a known one was checked when created.
      Status valid = ValidateLabels(labels, /*require_name=*/true);
      if (!valid.ok()) {
        store_->rejected_invalid_->Increment();
        return valid;
      }
      s = store_->GetOrCreate(labels);
    }
    if (group == nullptr) {
      group = staged_.GroupOf(s.get());
      if (group == nullptr) group = staged_.AddGroup(std::move(s));
    }
    MemSeries* series = group->series.get();
    if (group->count >= store_->options().max_samples_per_series_per_commit) {
      return OutOfRange("more than " +
                        std::to_string(store_->options().max_samples_per_series_per_commit) +
                        " samples of series " + series->labels().ToString() + " in one commit");
    }
    int64_t max_t;
    uint64_t max_bits;
    bool in_ooo = false;
    {
      std::lock_guard lock(series->mu);
      max_t = series->max_t;
      max_bits = series->last_bits;
      for (const Sample& x : series->ooo) in_ooo |= x.t == t && Bits(x.v) != Bits(v);
    }
    if (group->t != kNoTime && group->t >= max_t) {
      max_t = group->t;
      max_bits = group->bits;
    }
    const uint64_t bits = Bits(v);
    if (t == max_t) {
      if (bits == max_bits) return series->id;  // an exact duplicate: accepted, nothing to store
      store_->rejected_duplicate_->Increment();
      return InvalidArgument(std::string(kErrDuplicate));
    }
    if (in_ooo) {
      store_->rejected_duplicate_->Increment();
      return InvalidArgument(std::string(kErrDuplicate));
    }
    if (t < max_t && t < max_t - store_->options().out_of_order_window.count()) {
      store_->rejected_too_old_->Increment();
      return InvalidArgument(std::string(kErrTooOld));
    }
    if (t > group->t || group->t == kNoTime) {
      group->t = t;
      group->bits = bits;
    }
    staged_.items.push_back({series, t, v, group->count++});
    return series->id;
  }

  Status Commit() override {
    Status st = store_->Commit(staged_);
    staged_.Clear();
    found_.reset();
    return st;
  }

  void Rollback() override {
    staged_.Clear();
    found_.reset();
  }

 private:
  std::span<const LabelView> Views(const Labels& labels) {
    views_.clear();
    for (const Label& l : labels) views_.push_back(LabelView{l.name, l.value});
    return views_;
  }

  RocksDbStore::Impl* store_;
  Staged staged_;
  std::shared_ptr<MemSeries> found_;  // the last GetRef's series, for the Append that follows
  std::vector<LabelView> views_;
};

class StoreSeriesSet final : public SeriesSet {
 public:
  using Entry = std::pair<Labels, std::shared_ptr<MemSeries>>;
  StoreSeriesSet(RocksDbStore::Impl* store, std::vector<Entry> series, int64_t mint, int64_t maxt,
                 bool newest_only)
      : store_(store),
        series_(std::move(series)),
        mint_(mint),
        maxt_(maxt),
        newest_only_(newest_only) {}

  bool Next() override {
    while (err_.ok() && pos_ < series_.size()) {
      current_ = &series_[pos_++];
      err_ = store_->SamplesOf(*current_->second, mint_, maxt_, newest_only_, samples_, reader_);
      if (!samples_.empty()) return err_.ok();
    }
    return false;
  }
  const Labels& labels() const override { return current_->first; }
  const std::vector<Sample>& samples() const override { return samples_; }
  Status Err() const override { return err_; }

 private:
  RocksDbStore::Impl* store_;
  std::vector<Entry> series_;
  int64_t mint_, maxt_;
  bool newest_only_;
  size_t pos_ = 0;
  const Entry* current_ = nullptr;
  std::vector<Sample> samples_;
  RocksDbStore::Impl::ChunkReader reader_;
  Status err_;
};

class StoreQuerier final : public Querier {
 public:
  explicit StoreQuerier(RocksDbStore::Impl* store) : store_(store) {}

  std::unique_ptr<SeriesSet> Select(int64_t mint, int64_t maxt,
                                    const std::vector<Matcher>& matchers,
                                    SelectHints hints) override {
    std::vector<StoreSeriesSet::Entry> series;
    for (auto& s : store_->SeriesFor(matchers, mint, maxt)) {
      series.emplace_back(s->labels(), std::move(s));
    }
    // Unsorted, they come in id order: the order series were created, as Prometheus' head.
    if (hints.sorted) {
      std::sort(series.begin(), series.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
    }
    return std::make_unique<StoreSeriesSet>(store_, std::move(series), mint, maxt,
                                            hints.newest_only);
  }

  Result<std::vector<std::string>> LabelNames(int64_t mint, int64_t maxt,
                                              const std::vector<Matcher>& matchers) override {
    std::vector<std::string> out;
    for (const auto& s : store_->SeriesFor(matchers, mint, maxt)) {
      for (const Label& l : s->labels()) out.push_back(l.name);
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

  Result<std::vector<std::string>> LabelValues(std::string_view name, int64_t mint, int64_t maxt,
                                               const std::vector<Matcher>& matchers) override {
    std::vector<std::string> out;
    for (const auto& s : store_->SeriesFor(matchers, mint, maxt)) {
      std::string_view v = LabelValue(s->labels_enc, name);
      if (!v.empty()) out.emplace_back(v);
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

 private:
  RocksDbStore::Impl* store_;
};

}  // namespace

Result<std::unique_ptr<RocksDbStore>> RocksDbStore::Open(StoreOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  VIGIL_RETURN_IF_ERROR(impl->Open());
  return std::unique_ptr<RocksDbStore>(new RocksDbStore(std::move(impl)));
}

RocksDbStore::RocksDbStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RocksDbStore::~RocksDbStore() = default;

std::unique_ptr<Appender> RocksDbStore::NewAppender() {
  return std::make_unique<StoreAppender>(impl_.get());
}
std::unique_ptr<Querier> RocksDbStore::NewQuerier() {
  return std::make_unique<StoreQuerier>(impl_.get());
}
Status RocksDbStore::Checkpoint() { return impl_->Checkpoint(); }
Status RocksDbStore::CompactAll() { return impl_->CompactAll(); }
Status RocksDbStore::ApplyRetention() { return impl_->ApplyRetention(); }
Result<uint64_t> RocksDbStore::DeleteSeries(const std::vector<Matcher>& matchers, int64_t mint,
                                            int64_t maxt) {
  return impl_->DeleteSeries(matchers, mint, maxt);
}
StoreStats RocksDbStore::Stats(size_t top_n) { return impl_->Stats(top_n); }
uint64_t RocksDbStore::DiskBytes() { return impl_->DiskBytes(); }

}  // namespace vigil::tsdb
