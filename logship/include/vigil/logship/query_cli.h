#pragma once

// `vigil query --logs`: runs a LogQL query against logship or any Loki and prints it: log lines
// with their time and stream labels, oldest first and newest last (as a terminal reads them);
// metric queries as one row per series and point. --json prints the server's answer.

#include <optional>
#include <ostream>
#include <string>

#include "vigil/common/status.h"

namespace vigil::logship {

struct LogQueryCommand {
  std::string server = "http://127.0.0.1:3100";
  std::string query;
  std::optional<std::string> start;  // default: end - 1h
  std::optional<std::string> end;    // default: now
  std::optional<std::string> step;   // metric queries; default: the server's
  size_t limit = 100;
  bool json = false;
};

// Errors: InvalidArgument for a 400 (the server's text), Unavailable when it cannot be reached.
Status RunLogQueryCommand(const LogQueryCommand& cmd, std::ostream& out);

}  // namespace vigil::logship
