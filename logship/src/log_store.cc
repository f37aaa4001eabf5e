#include "vigil/logship/log_store.h"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>
#include <zstd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <queue>
#include <set>
#include <unordered_set>

#include "vigil/common/file_system.h"
#include "vigil/common/rocksdb_status.h"
#include "vigil/common/self_metrics.h"

namespace vigil::logship {
namespace {

constexpr std::string_view kFormatVersion = "1";
constexpr size_t kMaxBlockRawBytes = 256 << 20;  // a block header claiming more is corrupt
enum Cf { kMeta = 0, kStreams, kBlocks, kHead };

void PutBE64(std::string& out, uint64_t v) {
  char b[8];
  for (int i = 7; i >= 0; --i, v >>= 8) b[i] = static_cast<char>(v & 0xff);
  out.append(b, 8);
}
uint64_t GetBE64(std::string_view s) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(s[i]);
  return v;
}
// Timestamps in keys: the sign bit flipped, so negative times sort first.
uint64_t KeyTime(int64_t ts) { return static_cast<uint64_t>(ts) ^ (uint64_t{1} << 63); }
int64_t FromKeyTime(uint64_t k) { return static_cast<int64_t>(k ^ (uint64_t{1} << 63)); }

std::string Key(uint64_t a) {
  std::string k;
  PutBE64(k, a);
  return k;
}
std::string Key(uint64_t a, uint64_t b) {
  std::string k = Key(a);
  PutBE64(k, b);
  return k;
}
std::string Key(uint64_t a, uint64_t b, uint64_t c) {
  std::string k = Key(a, b);
  PutBE64(k, c);
  return k;
}

void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>(v | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}
bool GetVarint(std::string_view& in, uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64 && !in.empty(); shift += 7) {
    const auto b = static_cast<uint8_t>(in.front());
    in.remove_prefix(1);
    v |= uint64_t{b & 0x7fu} << shift;
    if (b < 0x80) return true;
  }
  return false;
}

struct Metrics {
  prometheus::Counter* lines;
  prometheus::Counter* bytes;
  prometheus::Counter* too_old;
  prometheus::Counter* blocks_cut;
  prometheus::Counter* blocks_dropped;
  prometheus::Gauge* streams;
};

Metrics& StoreMetrics() {
  static Metrics m = [] {
    auto& reg = SelfMetrics();
    Metrics s;
    s.lines = &prometheus::BuildCounter()
                   .Name("vigil_logship_store_lines_total")
                   .Help("Lines written to the log store.")
                   .Register(reg)
                   .Add({});
    s.bytes = &prometheus::BuildCounter()
                   .Name("vigil_logship_store_line_bytes_total")
                   .Help("Bytes of the lines written to the log store.")
                   .Register(reg)
                   .Add({});
    s.too_old = &prometheus::BuildCounter()
                     .Name("vigil_logship_store_refused_lines_total")
                     .Help(
                         "Lines the log store refused, by reason: too_old (older than the "
                         "stream's newest by more than the out-of-order window).")
                     .Register(reg)
                     .Add({{"reason", "too_old"}});
    s.blocks_cut = &prometheus::BuildCounter()
                        .Name("vigil_logship_store_blocks_cut_total")
                        .Help("Compressed blocks written.")
                        .Register(reg)
                        .Add({});
    s.blocks_dropped = &prometheus::BuildCounter()
                            .Name("vigil_logship_store_blocks_retention_dropped_total")
                            .Help("Blocks dropped by retention.")
                            .Register(reg)
                            .Add({});
    s.streams = &prometheus::BuildGauge()
                     .Name("vigil_logship_store_streams")
                     .Help("Streams in the log store.")
                     .Register(reg)
                     .Add({});
    return s;
  }();
  return m;
}

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A block's value: [u64 last ts][u32 count][u32 raw bytes] then zstd of the entries, each a
// varint delta from the previous timestamp (the first from the key's), a varint length and the
// line.
struct BlockHeader {
  int64_t last_ts = 0;
  uint32_t count = 0;
  uint32_t raw_bytes = 0;
};
constexpr size_t kHeaderBytes = 16;

bool ParseHeader(std::string_view value, BlockHeader& h) {
  if (value.size() < kHeaderBytes) return false;
  h.last_ts = FromKeyTime(GetBE64(value));
  h.count = static_cast<uint32_t>(GetBE64(value.substr(8)) >> 32);
  h.raw_bytes = static_cast<uint32_t>(GetBE64(value.substr(8)) & 0xffffffffu);
  return true;
}

}  // namespace

struct LogStore::Head {
  struct Item {
    int64_t ts;
    uint64_t seq;
    std::string line;
  };
  std::vector<Item> items;  // by (ts, seq)
  size_t bytes = 0;
  int64_t newest = std::numeric_limits<int64_t>::min();  // in blocks or here
  int64_t first_arrival_ns = 0;                          // of the oldest item here
};

LogStore::LogStore(LogStoreOptions options) : opts_(std::move(options)) {}

LogStore::~LogStore() {
  if (db_ != nullptr) {
    if (Status st = Flush(); !st.ok())
      spdlog::warn("logship: store: flush at close: {}", st.ToString());
    for (auto* cf : cfs_) db_->DestroyColumnFamilyHandle(cf);
    delete db_;
  }
}

Result<std::unique_ptr<LogStore>> LogStore::Open(LogStoreOptions options) {
  std::unique_ptr<LogStore> store(new LogStore(std::move(options)));
  VIGIL_RETURN_IF_ERROR(store->Load());
  return store;
}

Status LogStore::Load() {
  VIGIL_RETURN_IF_ERROR(RealFileSystem()->CreateDirs(opts_.dir));
  rocksdb::Options db_opts;
  db_opts.create_if_missing = true;
  db_opts.create_missing_column_families = true;
  // Memtables smaller than RocksDB's 64 MiB: head entries live minutes (until their block is
  // cut), blocks are written once; a large memtable is only resident memory here.
  rocksdb::ColumnFamilyOptions small;
  small.write_buffer_size = 2 << 20;
  rocksdb::ColumnFamilyOptions blocks;
  blocks.compression = rocksdb::kNoCompression;  // blocks are zstd already
  blocks.write_buffer_size = 4 << 20;
  rocksdb::ColumnFamilyOptions head;
  head.compression = rocksdb::kNoCompression;
  head.write_buffer_size = 4 << 20;
  std::vector<rocksdb::ColumnFamilyDescriptor> descs = {
      {rocksdb::kDefaultColumnFamilyName, small},
      {"streams", small},
      {"blocks", blocks},
      {"head", head},
  };
  VIGIL_RETURN_IF_ERROR(
      FromRocks(rocksdb::DB::Open(db_opts, opts_.dir, descs, &cfs_, &db_), "open " + opts_.dir));
  std::string value;
  auto st = db_->Get(rocksdb::ReadOptions(), cfs_[kMeta], "format_version", &value);
  if (st.IsNotFound()) {
    rocksdb::WriteOptions wo;
    wo.sync = true;
    VIGIL_RETURN_IF_ERROR(FromRocks(
        db_->Put(wo, cfs_[kMeta], "format_version", std::string(kFormatVersion)), "write version"));
  } else if (!st.ok()) {
    return FromRocks(st, "read format version");
  } else if (value != kFormatVersion) {
    return FailedPrecondition("log store " + opts_.dir + " has format version " + value +
                              "; this vigil reads version " + std::string(kFormatVersion) +
                              " only");
  }
  if (db_->Get(rocksdb::ReadOptions(), cfs_[kMeta], "next_stream_id", &value).ok() &&
      value.size() == 8) {
    next_stream_id_ = GetBE64(value);
  }
  if (db_->Get(rocksdb::ReadOptions(), cfs_[kMeta], "next_seq", &value).ok() && value.size() == 8) {
    next_seq_ = GetBE64(value);
  }
  // Streams and the label index.
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kStreams]));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (it->key().size() != 8) return Corruption("log store: a stream key is not 8 bytes");
    const uint64_t id = GetBE64(it->key().ToStringView());
    auto labels = loki::ParseStreamLabels(it->value().ToStringView());
    if (!labels.ok()) {
      return Corruption("log store: stream " + std::to_string(id) + ": " +
                        labels.status().message());
    }
    for (const Label& l : *labels) index_[l.name][l.value].push_back(id);
    ids_[*labels] = id;
    streams_[id] = std::move(*labels);
    next_stream_id_ = std::max(next_stream_id_, id + 1);
  }
  // Heads.
  const int64_t now = NowNs();
  it.reset(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kHead]));
  size_t head_items = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string_view k = it->key().ToStringView(), v = it->value().ToStringView();
    if (k.size() != 16 || v.size() < 8) return Corruption("log store: a malformed head entry");
    const uint64_t id = GetBE64(k), seq = GetBE64(k.substr(8));
    auto& h = heads_[id];
    if (!h) h = std::make_unique<Head>();
    h->items.push_back({FromKeyTime(GetBE64(v)), seq, std::string(v.substr(8))});
    h->bytes += v.size() - 8;
    h->first_arrival_ns = now;
    next_seq_ = std::max(next_seq_, seq + 1);
    ++head_items;
  }
  for (auto& [id, h] : heads_) {
    std::sort(h->items.begin(), h->items.end(), [](const Head::Item& a, const Head::Item& b) {
      return std::tie(a.ts, a.seq) < std::tie(b.ts, b.seq);
    });
    if (!h->items.empty()) h->newest = h->items.back().ts;
  }
  // Each stream's newest time: its head, or its last block.
  for (const auto& [id, labels] : streams_) {
    auto& h = heads_[id];
    if (!h) h = std::make_unique<Head>();
    std::unique_ptr<rocksdb::Iterator> b(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kBlocks]));
    b->SeekForPrev(Key(id, ~uint64_t{0}, ~uint64_t{0}));
    BlockHeader hdr;
    if (b->Valid() && b->key().size() == 24 && GetBE64(b->key().ToStringView()) == id &&
        ParseHeader(b->value().ToStringView(), hdr)) {
      h->newest = std::max(h->newest, hdr.last_ts);
      next_seq_ = std::max(next_seq_, GetBE64(b->key().ToStringView().substr(16)) + 1);
    }
  }
  StoreMetrics().streams->Set(static_cast<double>(streams_.size()));
  spdlog::info("logship: log store {}: {} streams, {} lines in heads", opts_.dir, streams_.size(),
               head_items);
  return Status::Ok();
}

Result<uint64_t> LogStore::StreamIdLocked(const Labels& labels, void* batch) {
  if (auto it = ids_.find(labels); it != ids_.end()) return it->second;
  const uint64_t id = next_stream_id_++;
  auto* wb = static_cast<rocksdb::WriteBatch*>(batch);
  VIGIL_RETURN_IF_ERROR(
      FromRocks(wb->Put(cfs_[kStreams], Key(id), loki::FormatStreamLabels(labels)), "batch"));
  VIGIL_RETURN_IF_ERROR(
      FromRocks(wb->Put(cfs_[kMeta], "next_stream_id", Key(next_stream_id_)), "batch"));
  ids_[labels] = id;
  streams_[id] = labels;
  for (const Label& l : labels) index_[l.name][l.value].push_back(id);
  heads_[id] = std::make_unique<Head>();
  StoreMetrics().streams->Set(static_cast<double>(streams_.size()));
  return id;
}

Status LogStore::Write(const std::vector<loki::Stream>& batch) {
  std::lock_guard lock(mu_);
  // The entries go to the head family first; memory follows only once RocksDB has them, so a
  // failed write leaves nothing half-applied (the spool sends the batch again).
  rocksdb::WriteBatch wb;
  struct Accepted {
    uint64_t id;
    const loki::Entry* entry;
    uint64_t seq;
  };
  std::vector<Accepted> accepted;
  const uint64_t seq_before = next_seq_;
  const uint64_t streams_before = next_stream_id_;
  std::map<uint64_t, int64_t> newest;  // what this batch raises each stream's newest to
  size_t refused = 0;
  std::string key, value;
  for (const auto& s : batch) {
    VIGIL_ASSIGN_OR_RETURN(uint64_t id, StreamIdLocked(s.labels, &wb));
    const Head& h = *heads_[id];
    int64_t top = newest.count(id) ? newest[id] : h.newest;
    for (const auto& e : s.entries) {
      if (top != std::numeric_limits<int64_t>::min() &&
          e.ts_ns < top - opts_.out_of_order_window_ns) {
        ++refused;
        continue;
      }
      const uint64_t seq = next_seq_++;
      // The key and value are built in buffers reused for every line (the batch copies them).
      key.clear();
      PutBE64(key, id);
      PutBE64(key, seq);
      value.clear();
      PutBE64(value, KeyTime(e.ts_ns));
      value += e.line;
      VIGIL_RETURN_IF_ERROR(FromRocks(wb.Put(cfs_[kHead], key, value), "batch"));
      accepted.push_back({id, &e, seq});
      top = std::max(top, e.ts_ns);
    }
    newest[id] = top;
  }
  VIGIL_RETURN_IF_ERROR(FromRocks(wb.Put(cfs_[kMeta], "next_seq", Key(next_seq_)), "batch"));
  rocksdb::WriteOptions wo;
  wo.sync = opts_.sync;
  if (Status st = FromRocks(db_->Write(wo, &wb), "write log batch"); !st.ok()) {
    next_seq_ = seq_before;
    // Streams made for this batch are forgotten: the retry makes (and writes) them again.
    for (const auto& s : batch) {
      auto it = ids_.find(s.labels);
      if (it == ids_.end() || it->second < streams_before) continue;
      for (const Label& l : s.labels) {
        auto& ids = index_[l.name][l.value];
        std::erase(ids, it->second);
        if (ids.empty()) index_[l.name].erase(l.value);
        if (index_[l.name].empty()) index_.erase(l.name);
      }
      heads_.erase(it->second);
      streams_.erase(it->second);
      ids_.erase(it);
    }
    next_stream_id_ = streams_before;
    StoreMetrics().streams->Set(static_cast<double>(streams_.size()));
    return st;
  }
  const int64_t now = NowNs();
  size_t bytes = 0;
  for (const auto& a : accepted) {
    Head& h = *heads_[a.id];
    if (h.items.empty()) h.first_arrival_ns = now;
    Head::Item item{a.entry->ts_ns, a.seq, a.entry->line};
    if (h.items.empty() || h.items.back().ts <= item.ts) {
      h.items.push_back(std::move(item));
    } else {  // out of order, within the window
      auto at = std::upper_bound(h.items.begin(), h.items.end(), item.ts,
                                 [](int64_t ts, const Head::Item& i) { return ts < i.ts; });
      h.items.insert(at, std::move(item));
    }
    h.bytes += a.entry->line.size();
    bytes += a.entry->line.size();
  }
  for (const auto& [id, top] : newest) heads_[id]->newest = std::max(heads_[id]->newest, top);
  StoreMetrics().lines->Increment(static_cast<double>(accepted.size()));
  StoreMetrics().bytes->Increment(static_cast<double>(bytes));
  if (refused > 0) {
    StoreMetrics().too_old->Increment(static_cast<double>(refused));
    spdlog::warn(
        "logship: store refused {} lines older than their stream's newest by more than "
        "the out-of-order window",
        refused);
  }
  // Heads that are full become blocks.
  for (const auto& [id, top] : newest) {
    Head& h = *heads_[id];
    if (h.bytes < opts_.block_bytes) continue;
    rocksdb::WriteBatch cut;
    VIGIL_RETURN_IF_ERROR(CutLocked(id, h, &cut));
  }
  return Status::Ok();
}

Status LogStore::CutLocked(uint64_t id, Head& h, void* batch) {
  if (h.items.empty()) return Status::Ok();
  auto* wb = static_cast<rocksdb::WriteBatch*>(batch);
  std::string raw;
  raw.reserve(h.bytes + h.items.size() * 4);
  int64_t prev = h.items.front().ts;
  for (const auto& item : h.items) {
    PutVarint(raw, static_cast<uint64_t>(item.ts - prev));
    prev = item.ts;
    PutVarint(raw, item.line.size());
    raw += item.line;
  }
  std::string value;
  PutBE64(value, KeyTime(h.items.back().ts));
  PutBE64(value, (uint64_t{static_cast<uint32_t>(h.items.size())} << 32) |
                     static_cast<uint32_t>(raw.size()));
  const size_t bound = ZSTD_compressBound(raw.size());
  value.resize(kHeaderBytes + bound);
  const size_t n = ZSTD_compress(value.data() + kHeaderBytes, bound, raw.data(), raw.size(), 3);
  if (ZSTD_isError(n)) return Internal(std::string("zstd: ") + ZSTD_getErrorName(n));
  value.resize(kHeaderBytes + n);
  const uint64_t seq = next_seq_++;
  VIGIL_RETURN_IF_ERROR(
      FromRocks(wb->Put(cfs_[kBlocks], Key(id, KeyTime(h.items.front().ts), seq), value), "batch"));
  VIGIL_RETURN_IF_ERROR(
      FromRocks(wb->DeleteRange(cfs_[kHead], Key(id, 0), Key(id, ~uint64_t{0})), "batch"));
  VIGIL_RETURN_IF_ERROR(FromRocks(wb->Put(cfs_[kMeta], "next_seq", Key(next_seq_)), "batch"));
  rocksdb::WriteOptions wo;
  wo.sync = opts_.sync;
  VIGIL_RETURN_IF_ERROR(FromRocks(db_->Write(wo, wb), "write block"));
  h.items.clear();
  h.bytes = 0;
  StoreMetrics().blocks_cut->Increment();
  return Status::Ok();
}

Status LogStore::Sync() { return FromRocks(db_->SyncWAL(), "sync the log store's WAL"); }

Status LogStore::Flush() {
  std::lock_guard lock(mu_);
  for (auto& [id, h] : heads_) {
    rocksdb::WriteBatch wb;
    VIGIL_RETURN_IF_ERROR(CutLocked(id, *h, &wb));
  }
  return Status::Ok();
}

Status LogStore::CutOldHeads(int64_t now_ns) {
  std::lock_guard lock(mu_);
  for (auto& [id, h] : heads_) {
    if (h->items.empty() || now_ns - h->first_arrival_ns < opts_.max_head_age_ns) continue;
    rocksdb::WriteBatch wb;
    VIGIL_RETURN_IF_ERROR(CutLocked(id, *h, &wb));
  }
  return Status::Ok();
}

std::vector<LogStore::StreamInfo> LogStore::Select(const std::vector<Matcher>& matchers) const {
  std::lock_guard lock(mu_);
  // Candidates from the index for the first matcher that needs its label; the rest filter.
  std::set<uint64_t> candidates;
  bool narrowed = false;
  for (const Matcher& m : matchers) {
    if (m.MatchesEmpty()) continue;
    auto values = index_.find(m.name());
    if (values != index_.end()) {
      if (m.type() == MatchType::kEqual) {
        if (auto ids = values->second.find(m.value()); ids != values->second.end()) {
          candidates.insert(ids->second.begin(), ids->second.end());
        }
      } else {
        for (const auto& [value, ids] : values->second) {
          if (m.Matches(value)) candidates.insert(ids.begin(), ids.end());
        }
      }
    }
    narrowed = true;
    break;
  }
  std::vector<StreamInfo> out;
  auto consider = [&](uint64_t id, const Labels& labels) {
    for (const Matcher& m : matchers) {
      if (!m.Matches(labels)) return;
    }
    out.push_back({id, labels});
  };
  if (narrowed) {
    for (uint64_t id : candidates) consider(id, streams_.at(id));
  } else {
    for (const auto& [id, labels] : streams_) consider(id, labels);
  }
  return out;
}

Status LogStore::ForEachEntry(uint64_t stream, int64_t start_ns, int64_t end_ns,
                              const std::function<bool(const LogEntry&)>& fn) const {
  // A source of entries in time order: a decoded block, or the head's copy.
  struct Source {
    std::vector<std::pair<int64_t, std::string_view>> entries;
    std::string raw;                 // what the views point into (a block)
    std::vector<std::string> lines;  // or the head's lines
    uint64_t order = 0;              // ties between sources: older first
    size_t pos = 0;
  };
  std::vector<std::unique_ptr<Source>> sources;
  {
    std::lock_guard lock(mu_);
    auto h = heads_.find(stream);
    if (h != heads_.end() && !h->second->items.empty()) {
      auto src = std::make_unique<Source>();
      src->order = ~uint64_t{0};
      for (const auto& item : h->second->items) {
        if (item.ts >= start_ns && item.ts < end_ns) src->lines.push_back(item.line);
      }
      size_t k = 0;
      for (const auto& item : h->second->items) {
        if (item.ts >= start_ns && item.ts < end_ns)
          src->entries.emplace_back(item.ts, src->lines[k++]);
      }
      if (!src->entries.empty()) sources.push_back(std::move(src));
    }
  }
  rocksdb::ReadOptions ro;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cfs_[kBlocks]));
  const std::string prefix = Key(stream);
  it->Seek(Key(stream, 0, 0));
  auto decode = [&](std::string_view key,
                    std::string_view value) -> Result<std::unique_ptr<Source>> {
    BlockHeader hdr;
    if (!ParseHeader(value, hdr) || hdr.raw_bytes > kMaxBlockRawBytes) {
      return Corruption("log store: block of stream " + std::to_string(stream) +
                        " has a bad header");
    }
    auto src = std::make_unique<Source>();
    src->order = GetBE64(key.substr(16));
    src->raw.resize(hdr.raw_bytes);
    const size_t n = ZSTD_decompress(src->raw.data(), src->raw.size(), value.data() + kHeaderBytes,
                                     value.size() - kHeaderBytes);
    if (ZSTD_isError(n) || n != hdr.raw_bytes) {
      return Corruption("log store: block of stream " + std::to_string(stream) +
                        " does not decompress");
    }
    std::string_view in(src->raw);
    int64_t ts = FromKeyTime(GetBE64(key.substr(8)));
    for (uint32_t i = 0; i < hdr.count; ++i) {
      uint64_t delta = 0, len = 0;
      if (!GetVarint(in, delta) || !GetVarint(in, len) || len > in.size()) {
        return Corruption("log store: block of stream " + std::to_string(stream) + " is truncated");
      }
      ts += static_cast<int64_t>(delta);
      if (ts >= start_ns && ts < end_ns) src->entries.emplace_back(ts, in.substr(0, len));
      in.remove_prefix(len);
    }
    return src;
  };
  // Merge: blocks come in order of their first timestamp; one is decoded once the merge reaches
  // its first timestamp, so only overlapping blocks are held at once.
  auto cmp = [](const Source* a, const Source* b) {
    const auto& x = a->entries[a->pos];
    const auto& y = b->entries[b->pos];
    return std::tie(x.first, a->order) > std::tie(y.first, b->order);
  };
  std::priority_queue<Source*, std::vector<Source*>, decltype(cmp)> heap(cmp);
  for (auto& s : sources) heap.push(s.get());
  // The lines given at the current timestamp: an identical one again is a duplicate.
  int64_t at_ts = std::numeric_limits<int64_t>::min();
  std::unordered_set<std::string_view> given;
  for (;;) {
    while (it->Valid() && it->key().starts_with(prefix)) {
      const std::string_view key = it->key().ToStringView();
      const int64_t first = FromKeyTime(GetBE64(key.substr(8)));
      if (first >= end_ns) break;
      if (!heap.empty() && first > heap.top()->entries[heap.top()->pos].first) break;
      BlockHeader hdr;
      if (ParseHeader(it->value().ToStringView(), hdr) && hdr.last_ts < start_ns) {
        it->Next();  // wholly before the range
        continue;
      }
      VIGIL_ASSIGN_OR_RETURN(auto src, decode(key, it->value().ToStringView()));
      it->Next();
      if (src->entries.empty()) continue;
      heap.push(src.get());
      sources.push_back(std::move(src));
    }
    if (heap.empty()) break;
    Source* s = heap.top();
    heap.pop();
    const auto& [ts, line] = s->entries[s->pos];
    if (ts != at_ts) {
      at_ts = ts;
      given.clear();
    }
    if (given.insert(line).second) {
      if (!fn(LogEntry{ts, line})) return Status::Ok();
    }
    if (++s->pos < s->entries.size()) heap.push(s);
  }
  return FromRocks(it->status(), "read blocks");
}

std::vector<std::string> LogStore::LabelNames() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [name, values] : index_) out.push_back(name);
  return out;
}

std::vector<std::string> LogStore::LabelValues(std::string_view name) const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  if (auto it = index_.find(name); it != index_.end()) {
    for (const auto& [value, ids] : it->second) out.push_back(value);
  }
  return out;
}

size_t LogStore::streams() const {
  std::lock_guard lock(mu_);
  return streams_.size();
}

Result<size_t> LogStore::EnforceRetention(int64_t now_ns) {
  const int64_t cutoff = now_ns - opts_.retention_ns;
  rocksdb::WriteBatch wb;
  size_t dropped = 0;
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kBlocks]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      BlockHeader hdr;
      if (ParseHeader(it->value().ToStringView(), hdr) && hdr.last_ts < cutoff) {
        VIGIL_RETURN_IF_ERROR(FromRocks(wb.Delete(cfs_[kBlocks], it->key()), "batch"));
        ++dropped;
      }
    }
    VIGIL_RETURN_IF_ERROR(FromRocks(it->status(), "scan blocks"));
  }
  if (dropped > 0) {
    VIGIL_RETURN_IF_ERROR(FromRocks(db_->Write(rocksdb::WriteOptions(), &wb), "retention"));
    StoreMetrics().blocks_dropped->Increment(static_cast<double>(dropped));
    spdlog::info("logship: retention dropped {} blocks older than {} s", dropped,
                 opts_.retention_ns / 1'000'000'000);
  }
  return dropped;
}

}  // namespace vigil::logship
