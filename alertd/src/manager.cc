#include "manager.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <chrono>

#include "format.h"
#include "vigil/common/json_text.h"
#include "vigil/common/self_metrics.h"
#include "vigil/common/timestamp.h"

namespace vigil::alertd {
namespace {

struct Metrics {
  prometheus::Counter* evaluations;
  prometheus::Counter* failures;
  prometheus::Counter* missed;
  prometheus::Histogram* duration;
  prometheus::Gauge* rules;
  prometheus::Gauge* pending;
  prometheus::Gauge* firing;
  prometheus::Counter* reload_ok;
  prometheus::Counter* reload_failed;
  prometheus::Counter* state_errors;
};

Metrics& M() {
  static Metrics m = [] {
    auto& reg = SelfMetrics();
    Metrics x;
    x.evaluations = &prometheus::BuildCounter()
                         .Name("vigil_alertd_rule_evaluations_total")
                         .Help("Rule evaluations.")
                         .Register(reg)
                         .Add({});
    x.failures = &prometheus::BuildCounter()
                      .Name("vigil_alertd_rule_evaluation_failures_total")
                      .Help("Rule evaluations that failed (query errors, limits).")
                      .Register(reg)
                      .Add({});
    x.missed = &prometheus::BuildCounter()
                    .Name("vigil_alertd_group_iterations_missed_total")
                    .Help("Group evaluations skipped because the previous one ran too long.")
                    .Register(reg)
                    .Add({});
    x.duration = &prometheus::BuildHistogram()
                      .Name("vigil_alertd_group_duration_seconds")
                      .Help("Time of one evaluation of a group.")
                      .Register(reg)
                      .Add({}, prometheus::Histogram::BucketBoundaries{0.001, 0.005, 0.01, 0.05,
                                                                       0.1, 0.5, 1, 5, 10, 30, 60});
    x.rules = &prometheus::BuildGauge()
                   .Name("vigil_alertd_rules")
                   .Help("Rules loaded.")
                   .Register(reg)
                   .Add({});
    auto& alerts = prometheus::BuildGauge()
                       .Name("vigil_alertd_alerts")
                       .Help("Active alerts, by state.")
                       .Register(reg);
    x.pending = &alerts.Add({{"state", "pending"}});
    x.firing = &alerts.Add({{"state", "firing"}});
    auto& reloads = prometheus::BuildCounter()
                        .Name("vigil_alertd_reloads_total")
                        .Help("Rule reloads, by result.")
                        .Register(reg);
    x.reload_ok = &reloads.Add({{"result", "success"}});
    x.reload_failed = &reloads.Add({{"result", "failure"}});
    x.state_errors = &prometheus::BuildCounter()
                          .Name("vigil_alertd_state_save_errors_total")
                          .Help("Failed writes of alert state to disk.")
                          .Register(reg)
                          .Add({});
    return x;
  }();
  return m;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// What makes two rules the same for a reload: everything in the file.
std::string Identity(const RuleSpec& r) {
  std::string k = r.alert + '\0' + r.record + '\0' + r.expr + '\0' +
                  std::to_string(r.for_.count()) + '\0' +
                  std::to_string(r.keep_firing_for.count()) + '\0';
  for (const auto& [n, v] : r.labels) k += n + '=' + v + '\0';
  k += '\1';
  for (const auto& [n, v] : r.annotations) k += n + '=' + v + '\0';
  return k;
}

void AppendPairs(std::string& out, const std::vector<std::pair<std::string, std::string>>& l) {
  std::vector<Label> v;
  for (const auto& [n, x] : l) v.push_back({n, x});
  std::sort(v.begin(), v.end());
  AppendJsonLabels(out, Labels::FromSorted(std::move(v)));
}

void AppendAlert(std::string& out, const Alert& a) {
  out += "{\"labels\":";
  AppendJsonLabels(out, a.labels);
  out += ",\"annotations\":";
  AppendJsonLabels(out, a.annotations);
  out += ",\"state\":\"";
  out += AlertStateName(a.state);
  out += "\",\"activeAt\":\"" + FormatAlertTime(a.active_at) + "\",\"value\":\"" +
         FormatGoExp(a.value) + "\"}";
}

std::string Seconds(double s) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), s);
  return std::string(buf, r.ptr);
}

}  // namespace

struct RuleManager::Running {
  std::unique_ptr<Group> group;
  QuerySource* source = nullptr;
  std::mutex mu;  // the group's rules
  std::thread thread;
  std::mutex stop_mu;
  std::condition_variable stop_cv;
  bool stop = false;
  size_t pending = 0, firing = 0;  // counted in the gauges
};

RuleManager::RuleManager(ManagerOptions options) : opts_(std::move(options)) {}

RuleManager::~RuleManager() { Stop(); }

Result<std::vector<std::unique_ptr<RuleManager::Running>>> RuleManager::LoadGroups() {
  VIGIL_ASSIGN_OR_RETURN(auto files, ExpandRuleGlobs(opts_.rule_globs));
  std::vector<std::unique_ptr<Running>> out;
  size_t rules = 0;
  for (const auto& f : files) {
    VIGIL_ASSIGN_OR_RETURN(auto specs, LoadRuleFile(f));
    for (auto& s : specs) {
      auto r = std::make_unique<Running>();
      r->source = s.source == Source::kLogs ? opts_.logs : opts_.metrics;
      if (r->source == nullptr) {
        return InvalidArgument(f + ": group \"" + s.name + "\": " +
                               (s.source == Source::kLogs
                                    ? "a log rule group needs --logs-url"
                                    : "a metric rule group needs --query-url"));
      }
      rules += s.rules.size();
      r->group = std::make_unique<Group>(std::move(s), opts_.default_interval_ms);
      out.push_back(std::move(r));
    }
  }
  M().rules->Set(static_cast<double>(rules));
  return out;
}

Status RuleManager::Start() {
  VIGIL_ASSIGN_OR_RETURN(auto groups, LoadGroups());
  size_t restored = 0;
  if (opts_.state != nullptr) {
    for (auto& r : groups) {
      auto saved = opts_.state->Load(*r->group);
      if (!saved.ok()) {
        spdlog::warn("alertd: group {}: cannot read saved alert state: {}", r->group->spec().name,
                     saved.status().message());
        continue;
      }
      for (auto& [i, alerts] : *saved) {
        restored += alerts.size();
        dynamic_cast<AlertingRule&>(*r->group->rules()[i]).Restore(std::move(alerts));
      }
    }
  }
  spdlog::info("alertd: {} groups loaded, {} alerts restored", groups.size(), restored);
  std::lock_guard lock(mu_);
  groups_ = std::move(groups);
  for (auto& g : groups_) {
    Running* r = g.get();
    r->thread = std::thread([this, r] { RunGroup(*r); });
  }
  return Status::Ok();
}

void RuleManager::RunGroup(Running& r) {
  Group& g = *r.group;
  const int64_t interval = g.interval_ms();
  int64_t next = g.EvalTimestamp(NowMs()) + interval;
  for (;;) {
    {
      std::unique_lock lock(r.stop_mu);
      const auto until = std::chrono::system_clock::time_point(std::chrono::milliseconds(next));
      if (r.stop_cv.wait_until(lock, until, [&] { return r.stop; })) return;
    }
    EvalContext ctx;
    ctx.t_ms = next;
    ctx.source = r.source;
    ctx.external_labels = opts_.external_labels;
    ctx.external_url = opts_.external_url;
    const auto start = std::chrono::steady_clock::now();
    {
      std::lock_guard lock(r.mu);
      NotifyFunc notify;
      if (opts_.notifier != nullptr) {
        notify = [&](const std::string& expr, std::vector<Alert> alerts) {
          opts_.notifier->Send(
              ToNotifications(alerts, expr, opts_.external_url, opts_.external_labels));
        };
      }
      g.Eval(ctx, opts_.resend_delay_ms, opts_.write, notify);
      size_t failed = 0;
      for (const auto& rule : g.rules()) failed += rule->health() == RuleHealth::kErr ? 1 : 0;
      M().evaluations->Increment(static_cast<double>(g.rules().size()));
      M().failures->Increment(static_cast<double>(failed));
      if (opts_.state != nullptr) {
        if (Status st = opts_.state->Save(g); !st.ok()) {
          M().state_errors->Increment();
          spdlog::error("alertd: group {}: saving alert state: {}", g.spec().name, st.message());
        }
      }
    }
    M().duration->Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    // This group's share of the pending and firing gauges.
    {
      size_t pending = 0, firing = 0;
      std::lock_guard lock(r.mu);
      for (const auto& rule : g.rules()) {
        const auto* ar = dynamic_cast<const AlertingRule*>(rule.get());
        if (ar == nullptr) continue;
        for (const auto& [h, a] : ar->alerts()) {
          pending += a.state == AlertState::kPending;
          firing += a.state == AlertState::kFiring;
        }
      }
      M().pending->Increment(static_cast<double>(pending) - static_cast<double>(r.pending));
      M().firing->Increment(static_cast<double>(firing) - static_cast<double>(r.firing));
      r.pending = pending;
      r.firing = firing;
    }
    next += interval;
    const int64_t now = NowMs();
    if (now >= next + interval) {
      const int64_t missed = (now - next) / interval;
      M().missed->Increment(static_cast<double>(missed));
      spdlog::warn("alertd: group {}: evaluation took longer than its interval; {} skipped",
                   g.spec().name, missed);
      next += missed * interval;
    }
  }
}

Status RuleManager::Reload() {
  auto loaded = LoadGroups();
  if (!loaded.ok()) {
    M().reload_failed->Increment();
    spdlog::error("alertd: reload failed, the running rules stay: {}", loaded.status().message());
    return loaded.status();
  }
  auto groups = std::move(*loaded);
  std::lock_guard lock(mu_);
  // Stop the running groups, then carry the state of unchanged rules into the new ones.
  StopLocked();
  size_t kept = 0;
  for (auto& n : groups) {
    for (auto& o : groups_) {
      if (o->group->spec().file != n->group->spec().file ||
          o->group->spec().name != n->group->spec().name) {
        continue;
      }
      std::map<std::string, std::vector<AlertingRule*>> old_rules;
      for (auto& rule : o->group->rules()) {
        if (auto* ar = dynamic_cast<AlertingRule*>(rule.get())) {
          old_rules[Identity(ar->spec())].push_back(ar);
        }
      }
      for (auto& rule : n->group->rules()) {
        auto* ar = dynamic_cast<AlertingRule*>(rule.get());
        if (ar == nullptr) continue;
        auto it = old_rules.find(Identity(ar->spec()));
        if (it == old_rules.end() || it->second.empty()) continue;
        ar->Restore(it->second.front()->alerts());
        it->second.erase(it->second.begin());
        ++kept;
      }
    }
  }
  groups_ = std::move(groups);
  for (auto& g : groups_) {
    Running* r = g.get();
    r->thread = std::thread([this, r] { RunGroup(*r); });
  }
  M().reload_ok->Increment();
  spdlog::info("alertd: reloaded: {} groups, the state of {} unchanged alerting rules kept",
               groups_.size(), kept);
  return Status::Ok();
}

void RuleManager::Stop() {
  std::lock_guard lock(mu_);
  StopLocked();
}

void RuleManager::StopLocked() {
  for (auto& g : groups_) {
    {
      std::lock_guard sl(g->stop_mu);
      g->stop = true;
    }
    g->stop_cv.notify_all();
  }
  for (auto& g : groups_) {
    if (g->thread.joinable()) g->thread.join();
    M().pending->Decrement(static_cast<double>(g->pending));
    M().firing->Decrement(static_cast<double>(g->firing));
    g->pending = g->firing = 0;
  }
}

std::string RuleManager::AlertsJson() {
  std::string out = "{\"status\":\"success\",\"data\":{\"alerts\":[";
  bool first = true;
  std::lock_guard lock(mu_);
  for (auto& g : groups_) {
    std::lock_guard gl(g->mu);
    for (const auto& rule : g->group->rules()) {
      const auto* ar = dynamic_cast<const AlertingRule*>(rule.get());
      if (ar == nullptr) continue;
      for (const auto& [h, a] : ar->alerts()) {
        if (a.state == AlertState::kInactive) continue;
        if (!first) out += ',';
        first = false;
        AppendAlert(out, a);
      }
    }
  }
  return out + "]}}";
}

std::string RuleManager::RulesJson(std::string_view type) {
  const bool alerts = type.empty() || type == "alert";
  const bool records = type.empty() || type == "record";
  std::string out = "{\"status\":\"success\",\"data\":{\"groups\":[";
  bool first_group = true;
  std::lock_guard lock(mu_);
  for (auto& r : groups_) {
    std::lock_guard gl(r->mu);
    const Group& g = *r->group;
    if (!first_group) out += ',';
    first_group = false;
    out += "{\"name\":";
    AppendJsonString(out, g.spec().name);
    out += ",\"file\":";
    AppendJsonString(out, g.spec().file);
    out += ",\"rules\":[";
    bool first = true;
    for (const auto& rule : g.rules()) {
      const RuleSpec& s = rule->spec();
      if ((s.is_alert() && !alerts) || (!s.is_alert() && !records)) continue;
      if (!first) out += ',';
      first = false;
      std::string health = rule->health() == RuleHealth::kOk    ? "ok"
                           : rule->health() == RuleHealth::kErr ? "err"
                                                                : "unknown";
      if (s.is_alert()) {
        const auto& ar = dynamic_cast<const AlertingRule&>(*rule);
        AlertState state = AlertState::kInactive;
        for (const auto& [h, a] : ar.alerts()) {
          if (a.state == AlertState::kFiring) state = AlertState::kFiring;
          if (a.state == AlertState::kPending && state != AlertState::kFiring) {
            state = AlertState::kPending;
          }
        }
        out += "{\"state\":\"";
        out += AlertStateName(state);
        out += "\",\"name\":";
        AppendJsonString(out, s.alert);
        out += ",\"query\":";
        AppendJsonString(out, s.expr);
        out += ",\"duration\":" + Seconds(static_cast<double>(s.for_.count()) / 1000);
        out +=
            ",\"keepFiringFor\":" + Seconds(static_cast<double>(s.keep_firing_for.count()) / 1000);
        out += ",\"labels\":";
        AppendPairs(out, s.labels);
        out += ",\"annotations\":";
        AppendPairs(out, s.annotations);
        out += ",\"alerts\":[";
        bool fa = true;
        for (const auto& [h, a] : ar.alerts()) {
          if (a.state == AlertState::kInactive) continue;
          if (!fa) out += ',';
          fa = false;
          AppendAlert(out, a);
        }
        out += "]";
      } else {
        out += "{\"name\":";
        AppendJsonString(out, s.record);
        out += ",\"query\":";
        AppendJsonString(out, s.expr);
        if (!s.labels.empty()) {
          out += ",\"labels\":";
          AppendPairs(out, s.labels);
        }
      }
      out += ",\"health\":\"" + health + "\"";
      if (!rule->last_error().empty()) {
        out += ",\"lastError\":";
        AppendJsonString(out, rule->last_error());
      }
      out += ",\"evaluationTime\":" + Seconds(rule->last_eval_seconds());
      out += ",\"lastEvaluation\":\"" + FormatAlertTime(rule->last_eval_ms()) + "\"";
      out += ",\"type\":\"";
      out += s.is_alert() ? "alerting" : "recording";
      out += "\"}";
    }
    out += "],\"interval\":" + Seconds(static_cast<double>(g.interval_ms()) / 1000);
    out += ",\"limit\":" + std::to_string(g.spec().limit);
    out += ",\"evaluationTime\":" + Seconds(g.last_eval_seconds());
    out += ",\"lastEvaluation\":\"" + FormatAlertTime(g.last_eval_ms()) + "\"}";
  }
  return out + "]}}";
}

void RuleManager::AddRoutes(http::Router& router) {
  router.Get("/api/v1/rules", [this](const http::Request& req, http::Response& res) {
    const std::string type = req.Param("type").value_or("");
    if (!type.empty() && type != "alert" && type != "record") {
      res = http::Response::Json(
          400,
          "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid "
          "parameter \\\"type\\\": must be alert or record\"}");
      return;
    }
    res = http::Response::Json(200, RulesJson(type));
  });
  router.Get("/api/v1/alerts", [this](const http::Request&, http::Response& res) {
    res = http::Response::Json(200, AlertsJson());
  });
  router.Handle({"POST", "PUT"}, "/-/reload", [this](const http::Request&, http::Response& res) {
    Status st = Reload();
    if (st.ok()) {
      res = http::Response::Text(200, "");
    } else {
      res = http::Response::Text(500, "failed to reload config: " + st.message() + "\n");
    }
  });
}

}  // namespace vigil::alertd
