#include "notifier.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <spdlog/spdlog.h>

#include "format.h"
#include "send_queue.h"
#include "vigil/common/http_client.h"
#include "vigil/common/http_util.h"
#include "vigil/common/json_text.h"
#include "vigil/common/self_metrics.h"
#include "vigil/common/timestamp.h"

namespace vigil::alertd {
namespace {

// The labels (or annotations) every alert of the batch has with the same value.
Labels Common(const std::vector<Notification>& batch, bool annotations) {
  if (batch.empty()) return Labels();
  const Labels& first = annotations ? batch[0].annotations : batch[0].labels;
  std::vector<Label> out;
  for (const Label& l : first) {
    bool all = true;
    for (const auto& n : batch) {
      const Labels& ls = annotations ? n.annotations : n.labels;
      if (!ls.Has(l.name) || ls.Get(l.name) != l.value) {
        all = false;
        break;
      }
    }
    if (all) out.push_back(l);
  }
  return Labels::FromSorted(std::move(out));
}

struct ReceiverMetrics {
  prometheus::Counter* sent;
  prometheus::Counter* errors;
  prometheus::Counter* retries;
  prometheus::Counter* dropped_full;
  prometheus::Counter* dropped_failed;
  prometheus::Gauge* queue;
  prometheus::Histogram* latency;
};

ReceiverMetrics MetricsFor(const std::string& receiver) {
  auto& reg = SelfMetrics();
  static auto& sent = prometheus::BuildCounter()
                          .Name("vigil_alertd_notifications_sent_total")
                          .Help("Alerts delivered, by receiver.")
                          .Register(reg);
  static auto& errors = prometheus::BuildCounter()
                            .Name("vigil_alertd_notification_errors_total")
                            .Help("Failed delivery attempts, by receiver.")
                            .Register(reg);
  static auto& retries = prometheus::BuildCounter()
                             .Name("vigil_alertd_notification_retries_total")
                             .Help("Delivery attempts repeated after a failure, by receiver.")
                             .Register(reg);
  static auto& dropped = prometheus::BuildCounter()
                             .Name("vigil_alertd_notifications_dropped_total")
                             .Help(
                                 "Alerts not delivered, by receiver and reason: queue_full "
                                 "(the oldest were dropped) or failed (all attempts failed, or "
                                 "the receiver refused them).")
                             .Register(reg);
  static auto& queue = prometheus::BuildGauge()
                           .Name("vigil_alertd_notification_queue_length")
                           .Help("Alerts waiting to be sent, by receiver.")
                           .Register(reg);
  static auto& latency = prometheus::BuildHistogram()
                             .Name("vigil_alertd_notification_latency_seconds")
                             .Help("Time of one delivery (all its attempts), by receiver.")
                             .Register(reg);
  const std::map<std::string, std::string> l = {{"receiver", receiver}};
  ReceiverMetrics m;
  m.sent = &sent.Add(l);
  m.errors = &errors.Add(l);
  m.retries = &retries.Add(l);
  m.dropped_full = &dropped.Add({{"receiver", receiver}, {"reason", "queue_full"}});
  m.dropped_failed = &dropped.Add({{"receiver", receiver}, {"reason", "failed"}});
  m.queue = &queue.Add(l);
  m.latency = &latency.Add(l, prometheus::Histogram::BucketBoundaries{
                                  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30});
  return m;
}

// The outcome of one attempt.
struct Attempt {
  bool ok = false;
  bool retry = false;
  std::string error;
};

Attempt FromResponse(const Result<http::ClientResponse>& res, bool retry_429) {
  if (!res.ok()) return {false, true, res.status().message()};
  if (res->status >= 200 && res->status < 300) return {true, false, ""};
  const bool retry = res->status >= 500 || (retry_429 && res->status == 429);
  return {false, retry, "HTTP " + std::to_string(res->status) + ": " + res->body.substr(0, 300)};
}

}  // namespace

std::string Fingerprint(const Labels& labels) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(labels.Hash()));
  return buf;
}

std::vector<Notification> ToNotifications(const std::vector<Alert>& alerts, const std::string& expr,
                                          const std::string& external_url,
                                          const std::map<std::string, std::string>& external) {
  std::vector<Notification> out;
  const std::string url = WithoutTrailingSlash(external_url);
  const std::string generator = url + "/graph?g0.expr=" + http::PercentEncode(expr) + "&g0.tab=1";
  for (const Alert& a : alerts) {
    Notification n;
    LabelsBuilder b(a.labels);
    for (const auto& [k, v] : external) {
      if (!a.labels.Has(k)) b.Set(k, v);
    }
    n.labels = b.Build();
    n.annotations = a.annotations;
    n.starts_at_ms = a.fired_at;
    n.resolved = a.resolved_at != kNoTime;
    n.ends_at_ms = n.resolved ? a.resolved_at : a.valid_until;
    n.generator_url = generator;
    out.push_back(std::move(n));
  }
  return out;
}

std::string AlertmanagerBody(const std::vector<Notification>& batch) {
  std::string out = "[";
  for (size_t i = 0; i < batch.size(); ++i) {
    const Notification& n = batch[i];
    if (i > 0) out += ',';
    out += "{\"labels\":";
    AppendJsonLabels(out, n.labels);
    out += ",\"annotations\":";
    AppendJsonLabels(out, n.annotations);
    out += ",\"startsAt\":\"" + FormatAlertTime(n.starts_at_ms) + "\"";
    if (n.ends_at_ms != kNoTime) out += ",\"endsAt\":\"" + FormatAlertTime(n.ends_at_ms) + "\"";
    out += ",\"generatorURL\":";
    AppendJsonString(out, n.generator_url);
    out += '}';
  }
  return out + "]";
}

namespace {

// PagerDuty's severities are critical, error, warning and info; other labels map onto them.
std::string PagerDutySeverity(std::string_view s) {
  if (s == "critical" || s == "error" || s == "warning" || s == "info") return std::string(s);
  if (s == "page" || s == "high" || s == "fatal") return "critical";
  if (s == "warn" || s == "ticket" || s == "medium") return "warning";
  if (s == "low" || s == "none" || s == "informational") return "info";
  return "error";
}

}  // namespace

std::string PagerDutyBody(const Notification& n, const std::string& routing_key) {
  std::string out = "{\"routing_key\":";
  AppendJsonString(out, routing_key);
  out += ",\"event_action\":\"";
  out += n.resolved ? "resolve" : "trigger";
  out += "\",\"dedup_key\":\"" + Fingerprint(n.labels) + "\"";
  if (!n.resolved) {
    std::string summary(n.annotations.Get("summary"));
    if (summary.empty()) summary = std::string(n.annotations.Get("description"));
    if (summary.empty())
      summary = std::string(n.labels.Get("alertname")) + " " + n.labels.ToString();
    if (summary.size() > 1024) summary.resize(1024);  // PagerDuty's limit
    std::string source(n.labels.Get("instance"));
    if (source.empty()) source = "vigil";
    out += ",\"payload\":{\"summary\":";
    AppendJsonString(out, ToValidUtf8(summary));
    out += ",\"source\":";
    AppendJsonString(out, source);
    out += ",\"severity\":\"" + PagerDutySeverity(n.labels.Get("severity")) + "\"";
    out += ",\"timestamp\":\"" + FormatAlertTime(n.starts_at_ms) + "\"";
    out += ",\"custom_details\":{\"labels\":";
    AppendJsonLabels(out, n.labels);
    out += ",\"annotations\":";
    AppendJsonLabels(out, n.annotations);
    out += "}}";
    out += ",\"client\":\"vigil\",\"client_url\":";
    AppendJsonString(out, n.generator_url);
  }
  return out + "}";
}

std::string WebhookBody(const std::vector<Notification>& batch, const std::string& external_url) {
  bool firing = false;
  for (const auto& n : batch) firing = firing || !n.resolved;
  const Labels common = Common(batch, false);
  std::string out = "{\"version\":\"4\",\"groupKey\":";
  AppendJsonString(out, "{}:" + common.ToString());
  out += ",\"truncatedAlerts\":0,\"status\":\"";
  out += firing ? "firing" : "resolved";
  out += "\",\"receiver\":\"vigil\",\"groupLabels\":{},\"commonLabels\":";
  AppendJsonLabels(out, common);
  out += ",\"commonAnnotations\":";
  AppendJsonLabels(out, Common(batch, true));
  out += ",\"externalURL\":";
  AppendJsonString(out, external_url);
  out += ",\"alerts\":[";
  for (size_t i = 0; i < batch.size(); ++i) {
    const Notification& n = batch[i];
    if (i > 0) out += ',';
    out += "{\"status\":\"";
    out += n.resolved ? "resolved" : "firing";
    out += "\",\"labels\":";
    AppendJsonLabels(out, n.labels);
    out += ",\"annotations\":";
    AppendJsonLabels(out, n.annotations);
    out += ",\"startsAt\":\"" + FormatAlertTime(n.starts_at_ms) + "\"";
    // As Alertmanager's webhook: a firing alert has no end yet.
    out += ",\"endsAt\":\"" + FormatAlertTime(n.resolved ? n.ends_at_ms : kNoTime) + "\"";
    out += ",\"generatorURL\":";
    AppendJsonString(out, n.generator_url);
    out += ",\"fingerprint\":\"" + Fingerprint(n.labels) + "\"}";
  }
  return out + "]}";
}

// One receiver: its queue and thread, and its way of sending a batch.
class Notifier::Receiver {
 public:
  Receiver(std::string name, const NotifierOptions& o, size_t batch)
      : name_(std::move(name)),
        opts_(o),
        metrics_(MetricsFor(name_)),
        queue_(
            o.queue_capacity, batch, [this](std::vector<Notification>& b) { SendWithRetries(b); },
            [this](size_t n) { metrics_.queue->Set(static_cast<double>(n)); }) {
    http::ClientOptions co;
    co.request_timeout = o.timeout;
    client_ = std::make_unique<http::HttpClient>(co);
  }
  // Receivers are stopped (by the Notifier) before they are destroyed, so no send runs into a
  // half-destroyed one.
  virtual ~Receiver() = default;

  void Start() { queue_.Start(); }
  void Stop() { queue_.Stop(); }

  void Enqueue(const std::vector<Notification>& alerts) {
    if (const size_t dropped = queue_.Push(alerts); dropped > 0) {
      metrics_.dropped_full->Increment(static_cast<double>(dropped));
      spdlog::warn("alertd: {}: queue full ({} alerts): dropped the {} oldest", name_,
                   opts_.queue_capacity, dropped);
    }
  }

  bool Flush(std::chrono::milliseconds timeout) { return queue_.Flush(timeout); }

 protected:
  // One attempt at delivering `batch`.
  virtual Attempt Deliver(const std::vector<Notification>& batch) = 0;
  http::HttpClient& client() { return *client_; }
  const NotifierOptions& opts() const { return opts_; }

 private:
  void SendWithRetries(const std::vector<Notification>& batch) {
    const auto start = std::chrono::steady_clock::now();
    auto backoff = opts_.min_backoff;
    Attempt a;
    for (int attempt = 1; attempt <= opts_.max_attempts; ++attempt) {
      a = Deliver(batch);
      if (a.ok) break;
      metrics_.errors->Increment();
      if (!a.retry || attempt == opts_.max_attempts) break;
      metrics_.retries->Increment();
      spdlog::warn("alertd: {}: sending {} alerts failed (attempt {} of {}), retrying in {} ms: {}",
                   name_, batch.size(), attempt, opts_.max_attempts, backoff.count(), a.error);
      if (queue_.Wait(backoff)) break;
      backoff = std::min(backoff * 2, opts_.max_backoff);
    }
    metrics_.latency->Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    if (a.ok) {
      metrics_.sent->Increment(static_cast<double>(batch.size()));
    } else {
      metrics_.dropped_failed->Increment(static_cast<double>(batch.size()));
      spdlog::error("alertd: {}: {} alerts not delivered: {}", name_, batch.size(), a.error);
    }
  }

  std::string name_;
  NotifierOptions opts_;
  ReceiverMetrics metrics_;
  std::unique_ptr<http::HttpClient> client_;
  SendQueue<Notification> queue_;  // last: its thread stops before the rest goes
};

namespace {

class AlertmanagerReceiver final : public Notifier::Receiver {
 public:
  AlertmanagerReceiver(const std::string& url, const NotifierOptions& o)
      : Receiver("alertmanager " + url, o, o.max_batch),
        url_(WithoutTrailingSlash(url) + "/api/v2/alerts") {}

 private:
  Attempt Deliver(const std::vector<Notification>& batch) override {
    return FromResponse(client().Post(url_, "application/json", AlertmanagerBody(batch)), false);
  }
  std::string url_;
};

class PagerDutyReceiver final : public Notifier::Receiver {
 public:
  explicit PagerDutyReceiver(const NotifierOptions& o)
      : Receiver("pagerduty", o, 1), url_(o.pagerduty_url), key_(o.pagerduty_key) {}

 private:
  // One event per alert; a trigger is sent when an alert starts firing (and again after a
  // restart: the same dedup_key, so PagerDuty keeps one incident), a resolve once.
  Attempt Deliver(const std::vector<Notification>& batch) override {
    for (const Notification& n : batch) {
      const std::string key = Fingerprint(n.labels);
      const bool want = !n.resolved;
      if (auto it = last_.find(key); it != last_.end() && it->second == want) continue;
      Attempt a =
          FromResponse(client().Post(url_, "application/json", PagerDutyBody(n, key_)), true);
      if (!a.ok) return a;
      if (n.resolved) {
        last_.erase(key);
      } else {
        last_[key] = true;
      }
    }
    return {true, false, ""};
  }
  std::string url_, key_;
  std::map<std::string, bool> last_;  // dedup_key -> triggered
};

class WebhookReceiver final : public Notifier::Receiver {
 public:
  WebhookReceiver(const std::string& url, const NotifierOptions& o)
      : Receiver("webhook " + url, o, o.max_batch), url_(url) {}

 private:
  Attempt Deliver(const std::vector<Notification>& batch) override {
    return FromResponse(
        client().Post(url_, "application/json", WebhookBody(batch, opts().external_url)), true);
  }
  std::string url_;
};

}  // namespace

Notifier::Notifier(NotifierOptions o) {
  for (const auto& url : o.alertmanagers) {
    receivers_.push_back(std::make_unique<AlertmanagerReceiver>(url, o));
  }
  if (!o.pagerduty_key.empty()) receivers_.push_back(std::make_unique<PagerDutyReceiver>(o));
  for (const auto& url : o.webhooks)
    receivers_.push_back(std::make_unique<WebhookReceiver>(url, o));
  for (auto& r : receivers_) r->Start();
}

Notifier::~Notifier() {
  for (auto& r : receivers_) r->Stop();
}

void Notifier::Send(const std::vector<Notification>& alerts) {
  if (alerts.empty()) return;
  // The log is a receiver too: each alert once when it fires and once when it resolves (not at
  // every resend).
  {
    std::lock_guard lock(log_mu_);
    for (const auto& n : alerts) {
      const std::string key = Fingerprint(n.labels);
      auto it = logged_.find(key);
      if (n.resolved) {
        if (it == logged_.end()) continue;
        logged_.erase(it);
        spdlog::info("alertd: resolved: {} {}", n.labels.Get("alertname"), n.labels.ToString());
      } else if (it == logged_.end()) {
        logged_.insert(key);
        spdlog::warn("alertd: firing: {} {}{}", n.labels.Get("alertname"), n.labels.ToString(),
                     n.annotations.Has("summary") ? ": " + std::string(n.annotations.Get("summary"))
                                                  : std::string());
      }
    }
  }
  for (auto& r : receivers_) r->Enqueue(alerts);
}

bool Notifier::Flush(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (auto& r : receivers_) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (!r->Flush(std::max(left, std::chrono::milliseconds(0)))) return false;
  }
  return true;
}

size_t Notifier::receivers() const { return receivers_.size(); }

}  // namespace vigil::alertd
