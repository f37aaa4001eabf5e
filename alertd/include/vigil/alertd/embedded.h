#pragma once

// alertd inside another process (`vigil up`): the rule files of config.alertd evaluated
// in-process, PromQL on `metrics` and LogQL on `logs` (if given), their output (ALERTS,
// ALERTS_FOR_STATE, recording rules) appended to `out`, notifications to the configured
// receivers, state under <data-dir>/alertd, /api/v1/rules, /api/v1/alerts and /-/reload added
// to `router`, reload on SIGHUP. The same code as the daemon, with in-process sources.

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vigil/common/config.h"
#include "vigil/common/http_server.h"
#include "vigil/common/status.h"
#include "vigil/tsdb/storage.h"

namespace vigil::logship {
class LogStore;
}

namespace vigil::alertd {

// The default rule pack (alertd/rules/*.rules.yml, compiled in): file names and contents.
const std::vector<std::pair<std::string_view, std::string_view>>& DefaultRulePack();
// Writes the pack into `dir` (replacing the pack's files there, so an upgrade brings its rules);
// returns the glob of its files.
Result<std::string> WriteDefaultRulePack(const std::string& dir);

class Embedded {
 public:
  static Result<std::unique_ptr<Embedded>> Start(const Config& config, tsdb::Queryable& metrics,
                                                 tsdb::Appendable& out,
                                                 const logship::LogStore* logs,
                                                 http::Router& router);
  ~Embedded();  // stops the rules and flushes what is queued

  struct Impl;

 private:
  explicit Embedded(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::alertd
