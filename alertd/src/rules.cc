#include "rules.h"

#include <spdlog/spdlog.h>

#include <set>

#include "vigil/common/stale.h"

namespace vigil::alertd {

const char* AlertStateName(AlertState s) {
  switch (s) {
    case AlertState::kInactive:
      return "inactive";
    case AlertState::kPending:
      return "pending";
    case AlertState::kFiring:
      return "firing";
  }
  return "inactive";
}

namespace {

bool SameLabelsTwice(const std::vector<Sample>& v) {
  std::set<Labels> seen;
  for (const Sample& s : v) {
    if (!seen.insert(s.labels).second) return true;
  }
  return false;
}

}  // namespace

Result<std::vector<OutSample>> RecordingRule::Eval(const EvalContext& ctx) {
  VIGIL_ASSIGN_OR_RETURN(auto vec, ctx.source->Query(spec_.expr, ctx.t_ms));
  for (Sample& s : vec) {
    LabelsBuilder b(s.labels);
    b.Set(kMetricNameLabel, spec_.record);
    for (const auto& [name, value] : spec_.labels) b.Set(name, value);
    s.labels = b.Build();
  }
  if (SameLabelsTwice(vec)) {
    return FailedPrecondition(
        "vector contains metrics with the same labelset after applying rule labels");
  }
  if (ctx.limit > 0 && static_cast<int64_t>(vec.size()) > ctx.limit) {
    return FailedPrecondition("exceeded limit of " + std::to_string(ctx.limit) + " with " +
                              std::to_string(vec.size()) + " series");
  }
  std::vector<OutSample> out;
  out.reserve(vec.size());
  for (Sample& s : vec) out.push_back({std::move(s.labels), ctx.t_ms, s.value});
  return out;
}

Result<std::vector<OutSample>> AlertingRule::Eval(const EvalContext& ctx) {
  const int64_t ts = ctx.t_ms;
  VIGIL_ASSIGN_OR_RETURN(auto vec, ctx.source->Query(spec_.expr, ts));
  const TemplateQueryFunc query = [&](std::string_view q) { return ctx.source->Query(q, ts); };
  std::map<uint64_t, Alert> found;
  for (const Sample& s : vec) {
    TemplateData data;
    for (const Label& l : s.labels) data.labels[l.name] = l.value;
    data.external_labels = ctx.external_labels;
    data.external_url = ctx.external_url;
    data.value = s.value;
    auto expand = [&](const Template& t, const std::string& what) {
      auto r = t.Execute(data, query);
      if (r.ok()) return *r;
      spdlog::warn("alertd: rule {}: expanding {}: {}", spec_.alert, what, r.status().message());
      return "<error expanding template: " + r.status().message() + ">";
    };
    LabelsBuilder b(s.labels);
    b.Del(kMetricNameLabel);
    for (size_t i = 0; i < spec_.labels.size(); ++i) {
      b.Set(spec_.labels[i].first,
            expand(spec_.label_templates[i], "label " + spec_.labels[i].first));
    }
    b.Set("alertname", spec_.alert);
    std::vector<Label> annotations;
    for (size_t i = 0; i < spec_.annotations.size(); ++i) {
      annotations.push_back(
          {spec_.annotations[i].first,
           expand(spec_.annotation_templates[i], "annotation " + spec_.annotations[i].first)});
    }
    Alert a;
    a.labels = b.Build();
    a.annotations = Labels::FromSorted([&] {
      std::sort(annotations.begin(), annotations.end());
      return annotations;
    }());
    a.active_at = ts;
    a.state = AlertState::kPending;
    a.value = s.value;
    const uint64_t h = a.labels.Hash();
    if (found.count(h) > 0) {
      return FailedPrecondition(
          "vector contains metrics with the same labelset after applying alert labels");
    }
    found.emplace(h, std::move(a));
  }
  for (auto& [h, a] : found) {
    auto it = active_.find(h);
    if (it != active_.end() && it->second.state != AlertState::kInactive) {
      it->second.value = a.value;
      it->second.annotations = a.annotations;
      continue;
    }
    active_[h] = std::move(a);
  }
  std::vector<OutSample> out;
  int64_t active_pending = 0;
  const int64_t hold = spec_.for_.count();
  const int64_t keep_for = spec_.keep_firing_for.count();
  for (auto it = active_.begin(); it != active_.end();) {
    Alert& a = it->second;
    if (!found.count(it->first)) {
      bool keep_firing = false;
      if (a.state == AlertState::kFiring && keep_for > 0) {
        if (a.keep_firing_since == kNoTime) a.keep_firing_since = ts;
        if (ts - a.keep_firing_since < keep_for) keep_firing = true;
      }
      // A pending alert goes at once; a resolved one is kept (and resent) for 15 minutes.
      if (a.state == AlertState::kPending ||
          (a.resolved_at != kNoTime && ts - a.resolved_at > kResolvedRetentionMs)) {
        it = active_.erase(it);
        continue;
      }
      if (a.state != AlertState::kInactive && !keep_firing) {
        a.state = AlertState::kInactive;
        a.resolved_at = ts;
      }
      if (!keep_firing) {
        ++it;
        continue;
      }
    } else {
      a.keep_firing_since = kNoTime;
    }
    ++active_pending;
    if (a.state == AlertState::kPending && ts - a.active_at >= hold) {
      a.state = AlertState::kFiring;
      a.fired_at = ts;
    }
    if (restored_) {
      LabelsBuilder alerts(a.labels);
      alerts.Set(kMetricNameLabel, "ALERTS");
      alerts.Set("alertstate", AlertStateName(a.state));
      out.push_back({alerts.Build(), ts, 1});
      LabelsBuilder for_state(a.labels);
      for_state.Set(kMetricNameLabel, "ALERTS_FOR_STATE");
      out.push_back({for_state.Build(), ts, static_cast<double>(a.active_at / 1000)});
    }
    ++it;
  }
  if (ctx.limit > 0 && active_pending > ctx.limit) {
    active_.clear();
    return FailedPrecondition("exceeded limit of " + std::to_string(ctx.limit) + " with " +
                              std::to_string(active_pending) + " alerts");
  }
  return out;
}

std::vector<Alert> AlertingRule::TakeAlertsToSend(int64_t t_ms, int64_t resend_delay_ms,
                                                  int64_t interval_ms) {
  std::vector<Alert> out;
  for (auto& [h, a] : active_) {
    if (a.state == AlertState::kPending) continue;
    const bool resolved_since_sent =
        a.resolved_at != kNoTime && (a.last_sent_at == kNoTime || a.resolved_at > a.last_sent_at);
    const bool due = a.last_sent_at == kNoTime || a.last_sent_at + resend_delay_ms < t_ms;
    if (!resolved_since_sent && !due) continue;
    a.last_sent_at = t_ms;
    // Valid for four intervals: two failed evaluations or sends do not resolve it.
    a.valid_until = t_ms + 4 * std::max(resend_delay_ms, interval_ms);
    out.push_back(a);
  }
  return out;
}

Group::Group(GroupSpec spec, int64_t default_interval_ms)
    : spec_(std::move(spec)),
      interval_ms_(spec_.interval.count() > 0 ? spec_.interval.count() : default_interval_ms) {
  for (const RuleSpec& r : spec_.rules) {
    if (r.is_alert()) {
      rules_.push_back(std::make_unique<AlertingRule>(r));
    } else {
      rules_.push_back(std::make_unique<RecordingRule>(r));
    }
  }
  previous_.resize(rules_.size());
}

void Group::Eval(const EvalContext& ctx, int64_t resend_delay_ms, const WriteFunc& write,
                 const NotifyFunc& notify) {
  const auto group_start = std::chrono::steady_clock::now();
  EvalContext c = ctx;
  c.limit = spec_.limit;
  for (size_t i = 0; i < rules_.size(); ++i) {
    Rule& rule = *rules_[i];
    const auto start = std::chrono::steady_clock::now();
    auto res = rule.Eval(c);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    rule.SetResult(ctx.t_ms, secs, res.ok() ? Status::Ok() : res.status());
    if (!res.ok()) {
      spdlog::warn("alertd: group {}: rule {} (index {}): evaluating failed: {}", spec_.name,
                   rule.name(), i, res.status().message());
      continue;
    }
    if (auto* ar = dynamic_cast<AlertingRule*>(&rule); ar != nullptr && notify) {
      auto due = ar->TakeAlertsToSend(ctx.t_ms, resend_delay_ms, interval_ms_);
      if (!due.empty()) notify(rule.spec().expr, std::move(due));
    }
    std::vector<OutSample> samples = std::move(*res);
    std::map<Labels, bool> now;
    for (const OutSample& s : samples) now.emplace(s.labels, true);
    for (const auto& [labels, _] : previous_[i]) {
      if (!now.count(labels)) samples.push_back({labels, ctx.t_ms, StaleNaN()});
    }
    previous_[i] = std::move(now);
    if (write && !samples.empty()) {
      if (Status st = write(std::move(samples)); !st.ok()) {
        spdlog::warn("alertd: group {}: rule {}: writing its samples: {}", spec_.name, rule.name(),
                     st.message());
      }
    }
  }
  last_eval_ms_ = ctx.t_ms;
  last_eval_seconds_ =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - group_start).count();
}

int64_t Group::EvalTimestamp(int64_t now_ms) const {
  const uint64_t h = Labels{{"__rule_group__", spec_.name}, {"file", spec_.file}}.Hash();
  const auto interval = static_cast<uint64_t>(interval_ms_);
  const auto offset = static_cast<int64_t>(h % interval);
  const int64_t adj = now_ms - offset;
  int64_t base = adj - (adj % interval_ms_);
  if (adj % interval_ms_ < 0) base -= interval_ms_;
  return base + offset;
}

}  // namespace vigil::alertd
