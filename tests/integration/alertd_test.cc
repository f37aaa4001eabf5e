// `vigil alertd` as a process against the real peers: Prometheus 2.42 as the query source
// (scraping a flag this test turns on and off), Alertmanager 0.25 delivering to a webhook
// listener here, and local PagerDuty and webhook receivers whose payloads are checked field by
// field. Also: kill -9 and restart with alerts pending and firing, reloads, and bad input.

#include <signal.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <mutex>

#include "testing.h"
#include "vigil/common/http_client.h"
#include "vigil/common/http_server.h"
#include "vigil/common/loki_push.h"
#include "vigil/common/remote_write.h"

namespace vigil {
namespace {

using nlohmann::json;

// The test's side of the wire: a /metrics page with a flag Prometheus scrapes, and receivers
// that keep what they are sent. PagerDuty and the "flaky" Alertmanager answer errors first.
class Inbox {
 public:
  std::atomic<int> flag{1};
  std::atomic<int> pagerduty_failures{0};  // answer this many with 429, then 500, before 202
  std::atomic<int> am_failures{0};         // answer this many with 500 before 200

  Inbox() {
    http::Router router;
    router.Get("/metrics", [this](const http::Request&, http::Response& res) {
      res.status = 200;
      res.content_type = "text/plain; version=0.0.4";
      res.body =
          "# TYPE test_flag gauge\ntest_flag{host=\"db-1\"} " + std::to_string(flag.load()) + "\n";
    });
    auto keep = [this](const std::string& name, int status) {
      return [this, name, status](const http::Request& req, http::Response& res) {
        std::lock_guard lock(mu_);
        got_[name].push_back(json::parse(req.body, nullptr, false));
        res = http::Response::Json(status, "{}");
      };
    };
    router.Post("/webhook", keep("webhook", 200));
    router.Post("/pagerduty", [this](const http::Request& req, http::Response& res) {
      std::lock_guard lock(mu_);
      const int left = pagerduty_failures.load();
      if (left > 0) {
        pagerduty_failures = left - 1;
        res = http::Response::Json(left % 2 == 0 ? 429 : 500, "{\"status\":\"throttled\"}");
        return;
      }
      got_["pagerduty"].push_back(json::parse(req.body, nullptr, false));
      res = http::Response::Json(202, "{\"status\":\"success\"}");
    });
    router.Post("/flaky-am/api/v2/alerts", [this](const http::Request& req, http::Response& res) {
      std::lock_guard lock(mu_);
      if (am_failures.load() > 0) {
        --am_failures;
        res = http::Response::Text(500, "down for maintenance");
        return;
      }
      got_["flaky-am"].push_back(json::parse(req.body, nullptr, false));
      res = http::Response::Json(200, "");
    });
    http::ServerOptions so;
    so.listen = "127.0.0.1:0";
    auto s = http::HttpServer::Start(so, std::move(router));
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(*s);
  }
  ~Inbox() { server_->Shutdown(); }

  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(server_->port()) + path;
  }
  std::string HostPort() const { return "127.0.0.1:" + std::to_string(server_->port()); }
  std::vector<json> Got(const std::string& name) {
    std::lock_guard lock(mu_);
    return got_[name];
  }
  // Waits for a body of `name` that `pred` accepts; returns it (null on timeout).
  json WaitFor(const std::string& name, const std::function<bool(const json&)>& pred) {
    json found;
    testing::WaitFor(
        [&] {
          for (const auto& j : Got(name)) {
            if (pred(j)) {
              found = j;
              return true;
            }
          }
          return false;
        },
        std::chrono::seconds(60));
    return found;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::vector<json>> got_;
  std::unique_ptr<http::HttpServer> server_;
};

// Prometheus 2.42 scraping the inbox's flag every second.
class Prometheus {
 public:
  Prometheus(testing::TempDir& dir, const Inbox& inbox) {
    dir.Write("prometheus.yml",
              "global:\n  scrape_interval: 1s\nscrape_configs:\n"
              "  - job_name: flag\n    static_configs: [{targets: ['" +
                  inbox.HostPort() + "']}]\n");
    addr_ = "127.0.0.1:" + std::to_string(testing::FreePort());
    proc_ = std::make_unique<testing::Subprocess>(
        std::vector<std::string>{"prometheus", "--config.file=" + dir.Join("prometheus.yml"),
                                 "--storage.tsdb.path=" + dir.Join("prom-data"),
                                 "--web.listen-address=" + addr_,
                                 "--web.enable-remote-write-receiver"},
        dir.path());
    EXPECT_TRUE(testing::WaitForHttpOk(url() + "/-/ready")) << proc_->Stderr();
    // The flag must have been scraped once before rules see it.
    http::HttpClient c;
    EXPECT_TRUE(testing::WaitFor([&] {
      auto r = c.Get(url() + "/api/v1/query?query=test_flag");
      return r.ok() && r->body.find("db-1") != std::string::npos;
    }));
  }
  std::string url() const { return "http://" + addr_; }

 private:
  std::string addr_;
  std::unique_ptr<testing::Subprocess> proc_;
};

json Get(const std::string& url) {
  http::HttpClient c;
  auto r = c.Get(url);
  if (!r.ok()) return json();
  return json::parse(r->body, nullptr, false);
}

// The active alerts alertd serves, by alertname.
std::map<std::string, json> Alerts(testing::VigilProcess& alertd) {
  std::map<std::string, json> out;
  json j = Get(alertd.Url("/api/v1/alerts"));
  if (!j.is_object()) return out;
  for (const auto& a : j["data"]["alerts"]) out[a["labels"]["alertname"]] = a;
  return out;
}

const char* kRules = R"(groups:
  - name: flag
    interval: 1s
    rules:
      - alert: FlagOn
        expr: test_flag == 1
        labels:
          severity: page
        annotations:
          summary: 'flag on at {{ $labels.host }} ({{ $value }})'
      - alert: FlagOnLong
        expr: test_flag == 1
        for: 20s
)";

TEST(AlertdTest, AlertmanagerDeliversFiringThenResolved) {
  ASSERT_TRUE(testing::HaveProgram("prometheus-alertmanager"))
      << "prometheus-alertmanager is installed by scripts/setup.sh";
  testing::TempDir dir;
  Inbox inbox;
  Prometheus prom(dir, inbox);
  dir.Write("am.yml",
            "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 1s\n"
            "  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: hook\n"
            "    webhook_configs:\n      - url: " +
                inbox.Url("/webhook") + "\n        send_resolved: true\n");
  const std::string am = "127.0.0.1:" + std::to_string(testing::FreePort());
  testing::Subprocess alertmanager(
      {"prometheus-alertmanager", "--config.file=" + dir.Join("am.yml"),
       "--storage.path=" + dir.Join("am-data"), "--web.listen-address=" + am,
       "--cluster.listen-address="},
      dir.path());
  ASSERT_TRUE(testing::WaitForHttpOk("http://" + am + "/-/ready")) << alertmanager.Stderr();
  dir.Write("rules.yml", kRules);
  testing::VigilProcess alertd(
      VIGIL_BINARY,
      {"alertd", "--rules", dir.Join("rules.yml"), "--query-url", prom.url(), "--alertmanager-url",
       "http://" + am, "--data-dir", dir.Join("alertd")},
      dir.path());
  ASSERT_FALSE(alertd.address().empty()) << alertd.proc().Stderr();
  json firing = inbox.WaitFor("webhook", [](const json& j) {
    return j.value("status", "") == "firing" && j["alerts"][0]["labels"]["alertname"] == "FlagOn";
  });
  ASSERT_FALSE(firing.is_null()) << alertd.proc().Stderr();
  const json& a = firing["alerts"][0];
  EXPECT_EQ(a["labels"]["host"], "db-1");
  EXPECT_EQ(a["labels"]["instance"], inbox.HostPort());
  EXPECT_EQ(a["labels"]["severity"], "page");
  EXPECT_EQ(a["annotations"]["summary"], "flag on at db-1 (1)");
  EXPECT_NE(a["generatorURL"].get<std::string>().find("/graph?g0.expr=test_flag"),
            std::string::npos);
  inbox.flag = 0;
  json resolved = inbox.WaitFor("webhook", [](const json& j) {
    return j.value("status", "") == "resolved" && j["alerts"][0]["labels"]["alertname"] == "FlagOn";
  });
  ASSERT_FALSE(resolved.is_null()) << alertd.proc().Stderr();
  EXPECT_EQ(resolved["alerts"][0]["startsAt"], a["startsAt"]);
  EXPECT_TRUE(Alerts(alertd).empty());
  // The rules API as Prometheus', for Grafana's alert list.
  json rules = Get(alertd.Url("/api/v1/rules"));
  ASSERT_EQ(rules["status"], "success");
  ASSERT_EQ(rules["data"]["groups"].size(), 1u);
  const json& g = rules["data"]["groups"][0];
  EXPECT_EQ(g["name"], "flag");
  EXPECT_EQ(g["interval"], 1);
  ASSERT_EQ(g["rules"].size(), 2u);
  EXPECT_EQ(g["rules"][0]["type"], "alerting");
  EXPECT_EQ(g["rules"][0]["health"], "ok");
  EXPECT_EQ(g["rules"][1]["duration"], 20);
  EXPECT_EQ(Get(alertd.Url("/api/v1/rules?type=record"))["data"]["groups"][0]["rules"].size(), 0u);
  EXPECT_EQ(alertd.proc().Stop(SIGTERM), 0);
}

TEST(AlertdTest, PagerDutyAndWebhookPayloads) {
  testing::TempDir dir;
  Inbox inbox;
  inbox.pagerduty_failures = 2;  // a 500 and a 429 first: retried
  Prometheus prom(dir, inbox);
  dir.Write("rules.yml", kRules);
  testing::VigilProcess alertd(
      VIGIL_BINARY,
      {"alertd", "--rules", dir.Join("rules.yml"), "--query-url", prom.url(), "--pagerduty-url",
       inbox.Url("/pagerduty"), "--pagerduty-key", "routing-key-1", "--webhook-url",
       inbox.Url("/webhook"), "--external-label", "cluster=east", "--external-url",
       "http://vigil.example:9094", "--remote-write", prom.url() + "/api/v1/write", "--data-dir",
       dir.Join("alertd")},
      dir.path());
  ASSERT_FALSE(alertd.address().empty()) << alertd.proc().Stderr();
  json trigger = inbox.WaitFor(
      "pagerduty", [](const json& j) { return j.value("event_action", "") == "trigger"; });
  ASSERT_FALSE(trigger.is_null()) << alertd.proc().Stderr();
  EXPECT_EQ(trigger["routing_key"], "routing-key-1");
  const std::string key = trigger["dedup_key"];
  EXPECT_EQ(key.size(), 16u);
  EXPECT_EQ(trigger["payload"]["summary"], "flag on at db-1 (1)");
  EXPECT_EQ(trigger["payload"]["severity"], "critical");      // from severity=page
  EXPECT_EQ(trigger["payload"]["source"], inbox.HostPort());  // the instance label
  EXPECT_EQ(trigger["payload"]["custom_details"]["labels"]["cluster"], "east");
  EXPECT_EQ(trigger["client"], "vigil");
  EXPECT_EQ(
      trigger["client_url"].get<std::string>().rfind("http://vigil.example:9094/graph?g0.expr=", 0),
      0u);
  EXPECT_GE(testing::MetricValue(alertd.Url("/metrics"),
                                 "vigil_alertd_notification_retries_total{receiver=\"pagerduty\"}"),
            2);
  json hook = inbox.WaitFor("webhook", [](const json& j) {
    return j.value("status", "") == "firing" && j["alerts"][0]["labels"]["alertname"] == "FlagOn";
  });
  ASSERT_FALSE(hook.is_null());
  EXPECT_EQ(hook["version"], "4");
  EXPECT_EQ(hook["receiver"], "vigil");
  EXPECT_EQ(hook["externalURL"], "http://vigil.example:9094");
  EXPECT_EQ(hook["commonLabels"]["alertname"], "FlagOn");
  const json& ha = hook["alerts"][0];
  EXPECT_EQ(ha["status"], "firing");
  EXPECT_EQ(ha["fingerprint"], key);
  EXPECT_EQ(ha["labels"]["cluster"], "east");
  EXPECT_EQ(ha["endsAt"], "0001-01-01T00:00:00Z");
  EXPECT_EQ(ha["annotations"]["summary"], "flag on at db-1 (1)");
  // ALERTS and ALERTS_FOR_STATE reached Prometheus by remote_write.
  json stored;
  ASSERT_TRUE(testing::WaitFor([&] {
    stored = Get(prom.url() + "/api/v1/query?query=ALERTS%7Balertname%3D%22FlagOn%22%7D");
    return stored.is_object() && stored["data"]["result"].size() == 1u;
  })) << stored.dump();
  EXPECT_EQ(stored["data"]["result"][0]["metric"]["alertstate"], "firing");
  EXPECT_GT(testing::MetricValue(alertd.Url("/metrics"), "vigil_alertd_remote_write_samples_total"),
            0);
  inbox.flag = 0;
  json resolve = inbox.WaitFor(
      "pagerduty", [](const json& j) { return j.value("event_action", "") == "resolve"; });
  ASSERT_FALSE(resolve.is_null());
  EXPECT_EQ(resolve["dedup_key"], key);
  EXPECT_EQ(resolve["routing_key"], "routing-key-1");
  json resolved = inbox.WaitFor("webhook", [](const json& j) {
    return j.value("status", "") == "resolved" && j["alerts"][0]["labels"]["alertname"] == "FlagOn";
  });
  ASSERT_FALSE(resolved.is_null());
  EXPECT_EQ(resolved["alerts"][0]["fingerprint"], key);
  EXPECT_EQ(resolved["alerts"][0]["startsAt"], ha["startsAt"]);
  EXPECT_GT(resolved["alerts"][0]["endsAt"].get<std::string>(), ha["startsAt"].get<std::string>());
  // One trigger for the incident (the second try after a 500 and a 429), one resolve.
  size_t triggers = 0;
  for (const auto& j : inbox.Got("pagerduty")) triggers += j["event_action"] == "trigger";
  EXPECT_EQ(triggers, 1u);
}

// kill -9 with one alert firing and one pending: after the restart the pending one keeps its
// activeAt (its `for` is not restarted) and fires; the firing one keeps its activeAt and every
// notification of it, before and after, carries the same startsAt.
TEST(AlertdTest, Kill9KeepsPendingAndFiringState) {
  testing::TempDir dir;
  Inbox inbox;
  Prometheus prom(dir, inbox);
  dir.Write("rules.yml", kRules);
  const std::vector<std::string> args = {
      "alertd",   "--rules",       dir.Join("rules.yml"), "--query-url",
      prom.url(), "--webhook-url", inbox.Url("/webhook"), "--resend-delay",
      "2s",       "--data-dir",    dir.Join("alertd")};
  auto alertd = std::make_unique<testing::VigilProcess>(VIGIL_BINARY, args, dir.path());
  ASSERT_FALSE(alertd->address().empty()) << alertd->proc().Stderr();
  std::map<std::string, json> before;
  ASSERT_TRUE(testing::WaitFor([&] {
    before = Alerts(*alertd);
    return before.count("FlagOn") && before["FlagOn"]["state"] == "firing" &&
           before.count("FlagOnLong") && before["FlagOnLong"]["state"] == "pending";
  })) << alertd->proc().Stderr();
  ASSERT_FALSE(
      inbox
          .WaitFor("webhook",
                   [](const json& j) { return j["alerts"][0]["labels"]["alertname"] == "FlagOn"; })
          .is_null());
  kill(alertd->proc().pid(), SIGKILL);
  alertd->proc().Wait();
  alertd = std::make_unique<testing::VigilProcess>(VIGIL_BINARY, args, dir.path());
  ASSERT_FALSE(alertd->address().empty()) << alertd->proc().Stderr();
  // Restored before the first evaluation: served at once, with the same times.
  auto after = Alerts(*alertd);
  ASSERT_TRUE(after.count("FlagOn")) << alertd->proc().Stderr();
  ASSERT_TRUE(after.count("FlagOnLong"));
  EXPECT_EQ(after["FlagOn"]["activeAt"], before["FlagOn"]["activeAt"]);
  EXPECT_EQ(after["FlagOn"]["state"], "firing");
  EXPECT_EQ(after["FlagOnLong"]["activeAt"], before["FlagOnLong"]["activeAt"]);
  // The pending one fires (20s after its activeAt, which the restart did not move).
  json fired = inbox.WaitFor("webhook", [](const json& j) {
    return j["alerts"][0]["labels"]["alertname"] == "FlagOnLong";
  });
  ASSERT_FALSE(fired.is_null()) << alertd->proc().Stderr();
  EXPECT_EQ(Alerts(*alertd)["FlagOnLong"]["activeAt"], before["FlagOnLong"]["activeAt"]);
  // Resent every 2s across the restart, never as new.
  std::set<std::string> starts;
  for (const auto& j : inbox.Got("webhook")) {
    for (const auto& a : j["alerts"]) {
      if (a["labels"]["alertname"] == "FlagOn") starts.insert(a["startsAt"].get<std::string>());
    }
  }
  EXPECT_EQ(starts.size(), 1u);
  size_t flag_on = 0;
  for (const auto& j : inbox.Got("webhook"))
    flag_on += j["alerts"][0]["labels"]["alertname"] == "FlagOn";
  EXPECT_GE(flag_on, 2u) << "resent after the restart";
}

// Inside `vigil up`: rules evaluated in-process on the store, ALERTS and recording rules written
// back into it, the rules API on the same port.
TEST(AlertdTest, InProcessInsideVigilUp) {
  testing::TempDir dir;
  Inbox inbox;
  dir.Write("rules.yml", std::string(kRules) + R"(      - record: flag:sum
        expr: sum(test_flag)
)");
  testing::VigilProcess up(VIGIL_BINARY,
                           {"up", "--rules", dir.Join("rules.yml"), "--webhook-url",
                            inbox.Url("/webhook"), "--data-dir", dir.Join("up")},
                           dir.path());
  ASSERT_FALSE(up.address().empty()) << up.proc().Stderr();
  prometheus::WriteRequest req;
  auto* ts = req.add_timeseries();
  for (const auto& [n, v] : std::vector<std::pair<std::string, std::string>>{
           {"__name__", "test_flag"}, {"host", "db-1"}}) {
    auto* l = ts->add_labels();
    l->set_name(n);
    l->set_value(v);
  }
  auto* sample = ts->add_samples();
  sample->set_timestamp(testing::NowNs() / 1'000'000);
  sample->set_value(1);
  http::HttpClient c;
  auto res = c.Do(testing::RemoteWritePost(up.Url("/api/v1/write"), remote::Encode(req)));
  ASSERT_TRUE(res.ok());
  ASSERT_EQ(res->status, 204) << res->body;
  json hook = inbox.WaitFor(
      "webhook", [](const json& j) { return j["alerts"][0]["labels"]["alertname"] == "FlagOn"; });
  ASSERT_FALSE(hook.is_null()) << up.proc().Stderr();
  EXPECT_EQ(hook["alerts"][0]["annotations"]["summary"], "flag on at db-1 (1)");
  // Written back into the store, queryable at once.
  json alerts;
  ASSERT_TRUE(testing::WaitFor([&] {
    alerts = Get(up.Url("/api/v1/query?query=ALERTS%7Balertname%3D%22FlagOn%22%7D"));
    return alerts.is_object() && alerts["data"]["result"].size() == 1u;
  })) << alerts.dump();
  EXPECT_EQ(alerts["data"]["result"][0]["metric"]["alertstate"], "firing");
  json recorded;
  ASSERT_TRUE(testing::WaitFor([&] {
    recorded = Get(up.Url("/api/v1/query?query=flag%3Asum"));
    return recorded.is_object() && recorded["data"]["result"].size() == 1u;
  })) << recorded.dump();
  EXPECT_EQ(recorded["data"]["result"][0]["value"][1], "1");
  EXPECT_EQ(Get(up.Url("/api/v1/rules"))["data"]["groups"][0]["rules"].size(), 3u);
  EXPECT_EQ(Alerts(up)["FlagOn"]["state"], "firing");
  // The log is a receiver too, once per firing alert.
  EXPECT_NE(up.proc().Stderr().find("alertd: firing: FlagOn"), std::string::npos);
}

// A `source: logs` group: LogQL against logship's query API, alerting past a threshold.
TEST(AlertdTest, LogRuleAgainstLogship) {
  testing::TempDir dir;
  Inbox inbox;
  testing::VigilProcess logship(VIGIL_BINARY, {"logship", "--data-dir", dir.Join("logship")},
                                dir.path());
  ASSERT_FALSE(logship.address().empty()) << logship.proc().Stderr();
  http::HttpClient c;
  auto push = [&](int n) {
    loki::Stream s;
    s.labels = Labels{{"app", "api"}, {"namespace", "prod"}};
    for (int i = 0; i < n; ++i) {
      s.entries.push_back(
          {testing::NowNs() + i, "level=error msg=\"db timeout " + std::to_string(i) + "\"", {}});
      s.entries.push_back({testing::NowNs() + i, "level=info msg=ok", {}});
    }
    EXPECT_EQ(testing::LokiPush(c, logship.address(), {s}).status, 204);
  };
  push(2);
  dir.Write("logs.yml", R"(groups:
  - name: log-errors
    source: logs
    interval: 1s
    rules:
      - alert: ApiErrors
        expr: sum by (namespace) (count_over_time({app="api"} |= "level=error" [5m])) > 2
        annotations:
          summary: '{{ $value }} errors in {{ $labels.namespace }}'
)");
  testing::VigilProcess alertd(
      VIGIL_BINARY,
      {"alertd", "--rules", dir.Join("logs.yml"), "--logs-url", logship.address(), "--webhook-url",
       inbox.Url("/webhook"), "--data-dir", dir.Join("alertd")},
      dir.path());
  ASSERT_FALSE(alertd.address().empty()) << alertd.proc().Stderr();
  // Two errors: evaluated, healthy, nothing active.
  ASSERT_TRUE(testing::WaitFor([&] {
    json r = Get(alertd.Url("/api/v1/rules"));
    return r.is_object() && r["data"]["groups"][0]["rules"][0]["health"] == "ok";
  })) << alertd.proc().Stderr();
  EXPECT_TRUE(Alerts(alertd).empty());
  push(2);
  json hook = inbox.WaitFor("webhook", [](const json& j) {
    return j["alerts"][0]["labels"]["alertname"] == "ApiErrors";
  });
  ASSERT_FALSE(hook.is_null()) << alertd.proc().Stderr();
  EXPECT_EQ(hook["alerts"][0]["labels"]["namespace"], "prod");
  EXPECT_EQ(hook["alerts"][0]["annotations"]["summary"], "4 errors in prod");
}

TEST(AlertdTest, BadInputAndReloads) {
  testing::TempDir dir;
  // A broken rule file: a clear error naming file and line, and no start.
  dir.Write("broken.yml",
            "groups:\n  - name: a\n    rules:\n      - alert: A\n        expr: up ==\n");
  auto r = testing::Run({VIGIL_BINARY, "alertd", "--rules", dir.Join("broken.yml"), "--query-url",
                         "http://127.0.0.1:1", "--data-dir", dir.Join("a0")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find(dir.Join("broken.yml") + ":5:15"), std::string::npos) << r.err;

  // An unreachable query source: the rule's health is err, counted, nothing crashes.
  dir.Write("rules.yml", kRules);
  testing::VigilProcess lost(
      VIGIL_BINARY,
      {"alertd", "--rules", dir.Join("rules.yml"), "--query-url",
       "http://127.0.0.1:" + std::to_string(testing::FreePort()), "--data-dir", dir.Join("a1")},
      dir.path());
  ASSERT_FALSE(lost.address().empty()) << lost.proc().Stderr();
  json rules;
  ASSERT_TRUE(testing::WaitFor([&] {
    rules = Get(lost.Url("/api/v1/rules"));
    return rules.is_object() && rules["data"]["groups"][0]["rules"][0]["health"] == "err";
  }));
  EXPECT_NE(
      rules["data"]["groups"][0]["rules"][0]["lastError"].get<std::string>().find("127.0.0.1"),
      std::string::npos);
  EXPECT_GT(
      testing::MetricValue(lost.Url("/metrics"), "vigil_alertd_rule_evaluation_failures_total"), 0);

  // An Alertmanager that answers 500 three times: retried, then delivered.
  Inbox inbox;
  inbox.am_failures = 3;
  Prometheus prom(dir, inbox);
  testing::VigilProcess alertd(
      VIGIL_BINARY,
      {"alertd", "--rules", dir.Join("rules.yml"), "--query-url", prom.url(), "--alertmanager-url",
       inbox.Url("/flaky-am"), "--data-dir", dir.Join("a2")},
      dir.path());
  ASSERT_FALSE(alertd.address().empty()) << alertd.proc().Stderr();
  json delivered = inbox.WaitFor("flaky-am", [](const json& j) {
    return j.is_array() && !j.empty() && j[0]["labels"]["alertname"] == "FlagOn";
  });
  ASSERT_FALSE(delivered.is_null()) << alertd.proc().Stderr();
  EXPECT_FALSE(delivered[0]["startsAt"].get<std::string>().empty());
  EXPECT_FALSE(delivered[0]["endsAt"].get<std::string>().empty());
  const std::string am_receiver = "alertmanager " + inbox.Url("/flaky-am");
  EXPECT_GE(testing::MetricValue(
                alertd.Url("/metrics"),
                "vigil_alertd_notification_retries_total{receiver=\"" + am_receiver + "\"}"),
            3);
  const std::string active_at = Alerts(alertd)["FlagOn"]["activeAt"];

  // A bad parameter: 400 with Prometheus' error shape.
  http::HttpClient c;
  auto bad = c.Get(alertd.Url("/api/v1/rules?type=alerts"));
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("\"errorType\":\"bad_data\""), std::string::npos) << bad->body;
  // A broken file on reload: 500, and the rules that ran keep running.
  dir.Write("rules.yml", "groups: [\n");
  auto res = c.Post(alertd.Url("/-/reload"), "text/plain", "");
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->status, 500);
  EXPECT_NE(res->body.find("rules.yml"), std::string::npos) << res->body;
  EXPECT_EQ(Get(alertd.Url("/api/v1/rules"))["data"]["groups"][0]["rules"].size(), 2u);
  // A good file with one more rule, by SIGHUP: the unchanged rule keeps its alert.
  dir.Write("rules.yml", std::string(kRules) + R"(      - record: flag:sum
        expr: sum(test_flag)
)");
  kill(alertd.proc().pid(), SIGHUP);
  ASSERT_TRUE(testing::WaitFor([&] {
    auto j = Get(alertd.Url("/api/v1/rules"));
    return j.is_object() && j["data"]["groups"][0]["rules"].size() == 3u;
  })) << alertd.proc().Stderr();
  EXPECT_EQ(Alerts(alertd)["FlagOn"]["activeAt"], active_at);
  EXPECT_GE(testing::MetricValue(alertd.Url("/metrics"),
                                 "vigil_alertd_reloads_total{result=\"failure\"}"),
            1);
  EXPECT_GE(testing::MetricValue(alertd.Url("/metrics"),
                                 "vigil_alertd_reloads_total{result=\"success\"}"),
            1);
}

}  // namespace
}  // namespace vigil
