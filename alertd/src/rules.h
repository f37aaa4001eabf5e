#pragma once

// Rule evaluation as Prometheus 2.42's rules package does it: a group evaluates its rules in
// order at one timestamp; an alerting rule keeps its alerts' state (pending → firing after
// `for`, `keep_firing_for`, resolved alerts kept 15 minutes and resent), writes ALERTS and
// ALERTS_FOR_STATE, and marks series that stopped stale; a recording rule writes its vector
// under its name. The query source and the sink of the written samples are interfaces, so the
// same code runs in the daemon, in `vigil up` and in `vigil rules test`.

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "rule_file.h"
#include "template.h"
#include "vigil/common/labels.h"
#include "vigil/common/status.h"

namespace vigil::alertd {

inline constexpr int64_t kNoTime = std::numeric_limits<int64_t>::min();  // Go's zero time
inline constexpr int64_t kResolvedRetentionMs = 15 * 60 * 1000;

// Runs an instant query at t_ms: a vector, or a scalar as one sample without labels.
class QuerySource {
 public:
  virtual ~QuerySource() = default;
  virtual Result<std::vector<Sample>> Query(std::string_view expr, int64_t t_ms) = 0;
};

// A sample a rule writes back: ALERTS, ALERTS_FOR_STATE, a recording rule's result, or a
// staleness marker.
struct OutSample {
  Labels labels;
  int64_t t_ms = 0;
  double value = 0;
};

enum class AlertState { kInactive, kPending, kFiring };
const char* AlertStateName(AlertState s);  // "inactive", "pending", "firing"

struct Alert {
  Labels labels;       // with alertname
  Labels annotations;  // expanded
  AlertState state = AlertState::kPending;
  double value = 0;
  int64_t active_at = kNoTime;
  int64_t fired_at = kNoTime;
  int64_t resolved_at = kNoTime;
  int64_t last_sent_at = kNoTime;
  int64_t valid_until = kNoTime;
  int64_t keep_firing_since = kNoTime;
};

struct EvalContext {
  int64_t t_ms = 0;
  QuerySource* source = nullptr;
  std::map<std::string, std::string> external_labels;
  std::string external_url;
  int64_t limit = 0;
};

enum class RuleHealth { kUnknown, kOk, kErr };

class Rule {
 public:
  explicit Rule(RuleSpec spec) : spec_(std::move(spec)) {}
  virtual ~Rule() = default;
  const RuleSpec& spec() const { return spec_; }
  const std::string& name() const { return spec_.name(); }
  // Evaluates at ctx.t_ms: the samples to write. An error leaves the rule's state as it was.
  virtual Result<std::vector<OutSample>> Eval(const EvalContext& ctx) = 0;

  RuleHealth health() const { return health_; }
  const std::string& last_error() const { return last_error_; }
  int64_t last_eval_ms() const { return last_eval_ms_; }
  double last_eval_seconds() const { return last_eval_seconds_; }
  void SetResult(int64_t t_ms, double seconds, const Status& st) {
    last_eval_ms_ = t_ms;
    last_eval_seconds_ = seconds;
    health_ = st.ok() ? RuleHealth::kOk : RuleHealth::kErr;
    last_error_ = st.ok() ? "" : st.message();
  }

 protected:
  RuleSpec spec_;

 private:
  RuleHealth health_ = RuleHealth::kUnknown;
  std::string last_error_;
  int64_t last_eval_ms_ = kNoTime;
  double last_eval_seconds_ = 0;
};

class RecordingRule final : public Rule {
 public:
  using Rule::Rule;
  Result<std::vector<OutSample>> Eval(const EvalContext& ctx) override;
};

class AlertingRule final : public Rule {
 public:
  using Rule::Rule;
  Result<std::vector<OutSample>> Eval(const EvalContext& ctx) override;
  // The alerts due to be sent at t_ms (firing ones every resend_delay, resolved ones while
  // kept), marking them sent; as Prometheus' sendAlerts.
  std::vector<Alert> TakeAlertsToSend(int64_t t_ms, int64_t resend_delay_ms, int64_t interval_ms);
  // Active alerts (pending, firing, and resolved ones still kept), by label hash.
  const std::map<uint64_t, Alert>& alerts() const { return active_; }
  // Puts back alerts from a previous run (restart), keyed by their labels' hash.
  void Restore(std::map<uint64_t, Alert> alerts) { active_ = std::move(alerts); }
  // Until true, ALERTS and ALERTS_FOR_STATE are not written (Prometheus waits for its `for`
  // state restoration; vigil restores from its own store before the first evaluation).
  void set_restored(bool r) { restored_ = r; }

 private:
  std::map<uint64_t, Alert> active_;
  bool restored_ = true;
};

// Called with the alerts a rule wants sent, and the rule's expression (for generatorURL).
using NotifyFunc = std::function<void(const std::string& expr, std::vector<Alert> alerts)>;
// Takes the samples a rule wrote (committing them together), or an error to count and log.
using WriteFunc = std::function<Status(std::vector<OutSample> samples)>;

class Group {
 public:
  Group(GroupSpec spec, int64_t default_interval_ms);
  const GroupSpec& spec() const { return spec_; }
  int64_t interval_ms() const { return interval_ms_; }
  std::vector<std::unique_ptr<Rule>>& rules() { return rules_; }
  const std::vector<std::unique_ptr<Rule>>& rules() const { return rules_; }

  // Evaluates every rule in order at ctx.t_ms; each rule's samples go to `write`, and
  // the series a rule stopped producing get a staleness marker. Errors stay on the rules.
  void Eval(const EvalContext& ctx, int64_t resend_delay_ms, const WriteFunc& write,
            const NotifyFunc& notify);

  // Prometheus' aligned evaluation time at or before now_ms: the interval's grid shifted by
  // a per-group offset (a hash of file and name), so groups spread over the interval.
  int64_t EvalTimestamp(int64_t now_ms) const;

  int64_t last_eval_ms() const { return last_eval_ms_; }
  double last_eval_seconds() const { return last_eval_seconds_; }

 private:
  GroupSpec spec_;
  int64_t interval_ms_;
  std::vector<std::unique_ptr<Rule>> rules_;
  std::vector<std::map<Labels, bool>> previous_;  // per rule: the series written last time
  int64_t last_eval_ms_ = kNoTime;
  double last_eval_seconds_ = 0;
};

}  // namespace vigil::alertd
