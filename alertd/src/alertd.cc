#include "vigil/alertd/alertd.h"

#include <spdlog/spdlog.h>

#include <csignal>
#include <thread>

#include "http_sources.h"
#include "manager.h"
#include "notifier.h"
#include "remote_writer.h"
#include "state_store.h"
#include "vigil/common/daemon.h"
#include "vigil/common/file_system.h"

namespace vigil::alertd {
namespace {

std::atomic<bool> g_reload{false};

void OnHangup(int) { g_reload = true; }

Result<std::map<std::string, std::string>> ParseExternalLabels(
    const std::vector<std::string>& pairs) {
  std::map<std::string, std::string> out;
  for (const auto& p : pairs) {
    const size_t eq = p.find('=');
    if (eq == std::string::npos || !IsValidLabelName(p.substr(0, eq))) {
      return InvalidArgument("alertd: --external-label " + p + ": expected name=value");
    }
    out[p.substr(0, eq)] = p.substr(eq + 1);
  }
  return out;
}

}  // namespace

Status Run(const Config& config) {
  const AlertdConfig& ac = config.alertd;
  if (ac.rules.empty()) return InvalidArgument("alertd: no rule files: give --rules GLOB");
  if (ac.query_url.empty() && ac.logs_url.empty()) {
    return InvalidArgument("alertd: nothing to evaluate against: give --query-url or --logs-url");
  }
  VIGIL_ASSIGN_OR_RETURN(auto external_labels, ParseExternalLabels(ac.external_labels));
  auto server_opts = ServerOptionsFrom(config, "127.0.0.1:9094");
  const std::string external_url =
      ac.external_url.empty() ? "http://" + server_opts.listen : ac.external_url;

  std::unique_ptr<PrometheusApiSource> metrics;
  std::unique_ptr<LokiApiSource> logs;
  if (!ac.query_url.empty()) {
    metrics = std::make_unique<PrometheusApiSource>(ac.query_url, std::chrono::seconds(120));
  }
  if (!ac.logs_url.empty()) {
    logs = std::make_unique<LokiApiSource>(ac.logs_url, std::chrono::seconds(120));
  }
  NotifierOptions no;
  no.alertmanagers = ac.alertmanager_url;
  no.pagerduty_url = ac.pagerduty_url;
  no.pagerduty_key = ac.pagerduty_key;
  no.webhooks = ac.webhook_url;
  no.external_url = external_url;
  Notifier notifier(no);
  if (notifier.receivers() == 0) {
    spdlog::warn(
        "alertd: no receivers (--alertmanager-url, --pagerduty-key, --webhook-url): "
        "alerts are only logged and served at /api/v1/alerts");
  }
  std::unique_ptr<RemoteWriter> writer;
  if (!ac.remote_write.empty()) {
    RemoteWriter::Options ro;
    ro.url = ac.remote_write;
    writer = std::make_unique<RemoteWriter>(ro);
  } else {
    spdlog::info("alertd: no --remote-write: ALERTS and recording rules are not stored");
  }
  const std::string state_dir = config.data_dir + "/alertd";
  VIGIL_RETURN_IF_ERROR(RealFileSystem()->CreateDirs(state_dir));
  VIGIL_ASSIGN_OR_RETURN(auto state, StateStore::Open(state_dir));

  ManagerOptions mo;
  mo.rule_globs = ac.rules;
  mo.default_interval_ms = ac.eval_interval.count();
  mo.resend_delay_ms = ac.resend_delay.count();
  mo.metrics = metrics.get();
  mo.logs = logs.get();
  if (writer) {
    mo.write = [w = writer.get()](std::vector<OutSample> s) { return w->Write(std::move(s)); };
  }
  mo.notifier = &notifier;
  mo.state = state.get();
  mo.external_labels = external_labels;
  mo.external_url = external_url;
  RuleManager manager(mo);
  VIGIL_RETURN_IF_ERROR(manager.Start());

  // SIGHUP reloads the rule files, as Prometheus.
  std::atomic<bool> stop{false};
  struct sigaction sa {};
  sa.sa_handler = OnHangup;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGHUP, &sa, nullptr);
  std::thread reloader([&] {
    while (!stop) {
      if (g_reload.exchange(false)) {
        spdlog::info("alertd: SIGHUP: reloading the rule files");
        (void)manager.Reload();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });

  http::Router router;
  manager.AddRoutes(router);
  Status st = ServeUntilSignal(config, "alertd", server_opts, std::move(router));
  stop = true;
  reloader.join();
  manager.Stop();
  // What is queued goes out before exit, if the receivers answer soon.
  if (!notifier.Flush(std::chrono::seconds(5))) {
    spdlog::warn("alertd: some notifications were still queued at exit");
  }
  if (writer && !writer->Flush(std::chrono::seconds(5))) {
    spdlog::warn("alertd: some rule output was still queued for remote_write at exit");
  }
  return st;
}

}  // namespace vigil::alertd
