#include "state_store.h"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <bit>
#include <cstring>

#include "vigil/common/rocksdb_status.h"

namespace vigil::alertd {
namespace {

constexpr char kVersion = 1;

void PutU64(std::string& out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out += static_cast<char>((v >> (i * 8)) & 0xff);
}
bool GetU64(std::string_view& in, uint64_t& v) {
  if (in.size() < 8) return false;
  v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  in.remove_prefix(8);
  return true;
}
void PutString(std::string& out, std::string_view s) {
  PutU64(out, s.size());
  out += s;
}
bool GetString(std::string_view& in, std::string& s) {
  uint64_t n;
  if (!GetU64(in, n) || n > in.size()) return false;
  s.assign(in.substr(0, n));
  in.remove_prefix(n);
  return true;
}
void PutLabels(std::string& out, const Labels& l) {
  PutU64(out, l.size());
  for (const Label& x : l) {
    PutString(out, x.name);
    PutString(out, x.value);
  }
}
bool GetLabels(std::string_view& in, Labels& l) {
  uint64_t n;
  if (!GetU64(in, n) || n > in.size()) return false;
  std::vector<Label> pairs(n);
  for (auto& p : pairs) {
    if (!GetString(in, p.name) || !GetString(in, p.value)) return false;
  }
  auto r = Labels::FromPairs(std::move(pairs));
  if (!r.ok()) return false;
  l = std::move(*r);
  return true;
}

// file \0 group \0: every key of the group starts with it.
std::string GroupPrefix(const Group& g) {
  std::string k = g.spec().file;
  k += '\0';
  k += g.spec().name;
  k += '\0';
  return k;
}

// The key of a rule: the group's prefix, its alert name, and its ordinal among the group's
// alerting rules of that name.
std::vector<std::string> RuleKeys(const Group& g) {
  std::vector<std::string> keys(g.rules().size());
  std::map<std::string, int> seen;
  for (size_t i = 0; i < g.rules().size(); ++i) {
    const Rule& r = *g.rules()[i];
    if (!r.spec().is_alert()) continue;
    keys[i] = GroupPrefix(g) + r.name() + '\0' + std::to_string(seen[r.name()]++) + '\0';
  }
  return keys;
}

}  // namespace

std::string EncodeAlert(const Alert& a) {
  std::string out(1, kVersion);
  PutLabels(out, a.labels);
  PutLabels(out, a.annotations);
  out += static_cast<char>(a.state);
  PutU64(out, std::bit_cast<uint64_t>(a.value));
  for (int64_t t : {a.active_at, a.fired_at, a.resolved_at, a.last_sent_at, a.valid_until,
                    a.keep_firing_since}) {
    PutU64(out, static_cast<uint64_t>(t));
  }
  return out;
}

Result<Alert> DecodeAlert(std::string_view in) {
  Alert a;
  if (in.empty() || in[0] != kVersion) return Corruption("alert state: unknown version");
  in.remove_prefix(1);
  if (!GetLabels(in, a.labels) || !GetLabels(in, a.annotations) || in.empty()) {
    return Corruption("alert state: truncated labels");
  }
  const auto state = static_cast<uint8_t>(in[0]);
  in.remove_prefix(1);
  if (state > static_cast<uint8_t>(AlertState::kFiring))
    return Corruption("alert state: bad state");
  a.state = static_cast<AlertState>(state);
  uint64_t v;
  if (!GetU64(in, v)) return Corruption("alert state: truncated");
  a.value = std::bit_cast<double>(v);
  for (int64_t* t : {&a.active_at, &a.fired_at, &a.resolved_at, &a.last_sent_at, &a.valid_until,
                     &a.keep_firing_since}) {
    if (!GetU64(in, v)) return Corruption("alert state: truncated times");
    *t = static_cast<int64_t>(v);
  }
  if (!in.empty()) return Corruption("alert state: trailing bytes");
  return a;
}

Result<std::unique_ptr<StateStore>> StateStore::Open(const std::string& dir) {
  rocksdb::Options o;
  o.create_if_missing = true;
  o.write_buffer_size = 4 << 20;
  o.keep_log_file_num = 2;
  rocksdb::DB* db = nullptr;
  VIGIL_RETURN_IF_ERROR(FromRocks(rocksdb::DB::Open(o, dir, &db), "open " + dir));
  return std::unique_ptr<StateStore>(new StateStore(db));
}

StateStore::~StateStore() { delete db_; }

Result<std::map<size_t, std::map<uint64_t, Alert>>> StateStore::Load(const Group& group) {
  std::map<size_t, std::map<uint64_t, Alert>> out;
  const auto keys = RuleKeys(group);
  for (size_t i = 0; i < keys.size(); ++i) {
    if (keys[i].empty()) continue;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    for (it->Seek(keys[i]); it->Valid() && it->key().starts_with(keys[i]); it->Next()) {
      auto a = DecodeAlert(it->value().ToStringView());
      if (!a.ok()) return a.status();
      const uint64_t h = a->labels.Hash();
      out[i].emplace(h, std::move(*a));
    }
    VIGIL_RETURN_IF_ERROR(FromRocks(it->status(), "read alert state"));
  }
  return out;
}

Status StateStore::Save(const Group& group) {
  rocksdb::WriteBatch wb;
  const std::string prefix = GroupPrefix(group);
  std::string end = prefix;
  end.back() = '\1';  // just past every key with the prefix
  VIGIL_RETURN_IF_ERROR(FromRocks(wb.DeleteRange(prefix, end), "batch"));
  const auto keys = RuleKeys(group);
  for (size_t i = 0; i < keys.size(); ++i) {
    if (keys[i].empty()) continue;
    const auto* ar = dynamic_cast<const AlertingRule*>(group.rules()[i].get());
    for (const auto& [h, a] : ar->alerts()) {
      std::string k = keys[i];
      PutU64(k, h);
      VIGIL_RETURN_IF_ERROR(FromRocks(wb.Put(k, EncodeAlert(a)), "batch"));
    }
  }
  return FromRocks(db_->Write(rocksdb::WriteOptions(), &wb), "write alert state");
}

}  // namespace vigil::alertd
