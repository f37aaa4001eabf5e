#pragma once

// The rule manager: loads the rule files, runs each group in its own thread at its interval
// (aligned evaluation times, as Prometheus), sends what alerting rules want sent, writes rule
// output, saves alert state after each evaluation and restores it at start, and reloads files
// keeping the state of the rules that did not change. Serves /api/v1/rules and /api/v1/alerts.

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "notifier.h"
#include "rules.h"
#include "state_store.h"
#include "vigil/common/http_server.h"

namespace vigil::alertd {

struct ManagerOptions {
  std::vector<std::string> rule_globs;
  int64_t default_interval_ms = 60'000;
  int64_t resend_delay_ms = 60'000;
  QuerySource* metrics = nullptr;  // PromQL groups
  QuerySource* logs = nullptr;     // `source: logs` groups; without it they fail to load
  WriteFunc write;                 // ALERTS, ALERTS_FOR_STATE, recording rules (may be empty)
  Notifier* notifier = nullptr;
  StateStore* state = nullptr;
  std::map<std::string, std::string> external_labels;
  std::string external_url;
};

class RuleManager {
 public:
  explicit RuleManager(ManagerOptions options);
  ~RuleManager();

  // Loads the files and starts the groups (restoring saved state). Fails on any bad file.
  Status Start();
  // Loads the files again; on an error the running rules stay as they are.
  Status Reload();
  void Stop();

  // Prometheus' /api/v1/rules (type: "", "alert" or "record") and /api/v1/alerts bodies.
  std::string RulesJson(std::string_view type);
  std::string AlertsJson();
  void AddRoutes(http::Router& router);

  struct Running;

 private:
  Result<std::vector<std::unique_ptr<Running>>> LoadGroups();
  void RunGroup(Running& g);
  void StopLocked();  // stops and joins the group threads; mu_ held

  ManagerOptions opts_;
  std::mutex mu_;  // guards groups_ (each group has its own lock for its rules)
  std::vector<std::unique_ptr<Running>> groups_;
};

}  // namespace vigil::alertd
