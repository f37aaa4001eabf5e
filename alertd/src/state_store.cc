#include "state_store.h"

#include "alert_codec.h"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "vigil/common/rocksdb_status.h"

namespace vigil::alertd {
namespace {

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
