#pragma once

// `vigil query`: runs a PromQL query against any Prometheus-compatible API (vigil or Prometheus)
// and prints an aligned table, sparklines for ranges, or the server's JSON.

#include <optional>
#include <ostream>
#include <string>

#include "vigil/common/status.h"

namespace vigil::tsdb {

struct QueryCommand {
  std::string server = "http://127.0.0.1:9090";
  std::string expr;
  std::optional<std::string> time;   // instant query at this time (default: the server's now)
  std::optional<std::string> start;  // a range query when set
  std::optional<std::string> end;    // default: now
  std::optional<std::string> step;   // default: the range / 60, at least 1s
  bool json = false;
};

// Errors: InvalidArgument for what the server calls bad_data (and bad flags), Unavailable when
// the server cannot be reached, FailedPrecondition for other query errors.
Status RunQueryCommand(const QueryCommand& cmd, std::ostream& out);

}  // namespace vigil::tsdb
