#pragma once

// Alert state that survives restarts: each alerting rule's alerts (labels, annotations, state,
// activeAt, firedAt, resolvedAt, last sent, valid until, keep-firing-since) in RocksDB under
// <data-dir>/alertd, written after every evaluation of a group and read back at start, so a
// restart neither restarts a `for` timer nor sends a firing alert as new. Rules are found again
// by file, group, alert name and their place among the group's rules of that name (as
// Prometheus matches ALERTS_FOR_STATE by alert name and labels).

#include <map>
#include <memory>
#include <string>

#include "rules.h"

namespace rocksdb {
class DB;
}

namespace vigil::alertd {

class StateStore {
 public:
  static Result<std::unique_ptr<StateStore>> Open(const std::string& dir);
  ~StateStore();

  // The saved alerts of every alerting rule of `group`, by the rule's index in it.
  Result<std::map<size_t, std::map<uint64_t, Alert>>> Load(const Group& group);
  // Replaces what is saved for `group` with its rules' current alerts, in one write.
  Status Save(const Group& group);

 private:
  explicit StateStore(rocksdb::DB* db) : db_(db) {}
  rocksdb::DB* db_;
};

}  // namespace vigil::alertd
