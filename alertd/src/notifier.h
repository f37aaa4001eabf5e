#pragma once

// Delivery of alerts: Alertmanager's v2 API, PagerDuty's Events API v2 and webhooks in
// Alertmanager's webhook JSON. Each receiver has its own bounded queue and sender thread, so a
// slow or absent one delays no other; a full queue drops its oldest alerts (counted and logged),
// failed sends are retried with backoff (Alertmanager and webhooks on errors and 5xx,
// PagerDuty also on 429), and what still fails is counted in vigil_alertd_notifications_*.

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "rules.h"

namespace vigil::alertd {

// An alert as receivers get it: Prometheus' notifier.Alert.
struct Notification {
  Labels labels;  // with the external labels
  Labels annotations;
  int64_t starts_at_ms = kNoTime;
  int64_t ends_at_ms = kNoTime;
  std::string generator_url;
  bool resolved = false;
};

// The stable identity of an alert for receivers: 16 hex digits of its labels' hash (the same
// across restarts), PagerDuty's dedup_key and the webhook's fingerprint.
std::string Fingerprint(const Labels& labels);

// What Prometheus' sendAlerts makes of rule alerts: startsAt is when it fired, endsAt its
// resolution or, while firing, its valid-until; generatorURL links the expression.
std::vector<Notification> ToNotifications(
    const std::vector<Alert>& alerts, const std::string& expr, const std::string& external_url,
    const std::map<std::string, std::string>& external_labels);

// The bodies each receiver is sent (exposed for tests).
std::string AlertmanagerBody(const std::vector<Notification>& batch);
std::string PagerDutyBody(const Notification& n, const std::string& routing_key);
std::string WebhookBody(const std::vector<Notification>& batch, const std::string& external_url);

struct NotifierOptions {
  std::vector<std::string> alertmanagers;  // base URLs: <url>/api/v2/alerts is posted to
  std::string pagerduty_url;               // the Events API v2 enqueue URL
  std::string pagerduty_key;               // routing key; PagerDuty is off without it
  std::vector<std::string> webhooks;
  std::string external_url;
  size_t queue_capacity = 10000;  // alerts per receiver
  size_t max_batch = 64;
  int max_attempts = 5;
  std::chrono::milliseconds timeout{10'000};
  std::chrono::milliseconds min_backoff{200};
  std::chrono::milliseconds max_backoff{10'000};
};

class Notifier {
 public:
  explicit Notifier(NotifierOptions options);
  ~Notifier();  // stops the senders; what is queued is dropped (and was logged as sent to none)
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Queues alerts for every receiver; never blocks on a receiver.
  void Send(const std::vector<Notification>& alerts);
  // Waits until every queue is empty and nothing is in flight, or `timeout` passes (tests,
  // shutdown); returns whether it emptied.
  bool Flush(std::chrono::milliseconds timeout);
  size_t receivers() const;

  class Receiver;

 private:
  std::vector<std::unique_ptr<Receiver>> receivers_;
  std::mutex log_mu_;
  std::set<std::string> logged_;  // fingerprints of the firing alerts logged
};

}  // namespace vigil::alertd
