#pragma once

// RocksDB statuses as vigil Statuses, for the two stores (tsdb, logship). Header-only: common
// does not link RocksDB; its users do.

#include <rocksdb/status.h>

#include <string>
#include <string_view>

#include "vigil/common/status.h"

namespace vigil {

// `what` says what was being done ("open /data", "write batch").
inline Status FromRocks(const rocksdb::Status& st, std::string_view what) {
  if (st.ok()) return Status::Ok();
  std::string m = std::string(what) + ": " + st.ToString();
  if (st.IsCorruption()) return Corruption(std::move(m));
  if (st.IsNoSpace()) return ResourceExhausted(std::move(m));
  if (st.IsBusy() || st.IsTryAgain() || st.IsIncomplete()) return Unavailable(std::move(m));
  return IOError(std::move(m));
}

}  // namespace vigil
