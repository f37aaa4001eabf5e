#include "vigil/alertd/alertd.h"

#include <spdlog/spdlog.h>

#include <csignal>
#include <thread>

#include "http_sources.h"
#include "manager.h"
#include "notifier.h"
#include "query_sources.h"
#include "remote_writer.h"
#include "state_store.h"
#include "vigil/alertd/embedded.h"
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

// What the daemon and the embedded alertd share: receivers, state, the manager, and a thread
// that reloads on SIGHUP. Sources and the output are the caller's.
struct Embedded::Impl {
  std::unique_ptr<QuerySource> metrics, logs;
  std::unique_ptr<RemoteWriter> writer;
  std::unique_ptr<Notifier> notifier;
  std::unique_ptr<StateStore> state;
  std::unique_ptr<RuleManager> manager;
  std::atomic<bool> stop{false};
  std::thread reloader;

  // Builds everything but the sources (set before) and starts the rules.
  Status Start(const Config& config, const std::string& default_listen, WriteFunc write) {
    const AlertdConfig& ac = config.alertd;
    if (ac.rules.empty()) return InvalidArgument("alertd: no rule files: give --rules GLOB");
    VIGIL_ASSIGN_OR_RETURN(auto external_labels, ParseExternalLabels(ac.external_labels));
    const std::string external_url =
        ac.external_url.empty() ? "http://" + default_listen : ac.external_url;
    NotifierOptions no;
    no.alertmanagers = ac.alertmanager_url;
    no.pagerduty_url = ac.pagerduty_url;
    no.pagerduty_key = ac.pagerduty_key;
    no.webhooks = ac.webhook_url;
    no.external_url = external_url;
    notifier = std::make_unique<Notifier>(no);
    if (notifier->receivers() == 0) {
      spdlog::warn(
          "alertd: no receivers (--alertmanager-url, --pagerduty-key, --webhook-url): "
          "alerts are only logged and served at /api/v1/alerts");
    }
    const std::string state_dir = config.data_dir + "/alertd";
    VIGIL_RETURN_IF_ERROR(RealFileSystem()->CreateDirs(state_dir));
    VIGIL_ASSIGN_OR_RETURN(state, StateStore::Open(state_dir));
    ManagerOptions mo;
    mo.rule_globs = ac.rules;
    mo.default_interval_ms = ac.eval_interval.count();
    mo.resend_delay_ms = ac.resend_delay.count();
    mo.metrics = metrics.get();
    mo.logs = logs.get();
    mo.write = std::move(write);
    mo.notifier = notifier.get();
    mo.state = state.get();
    mo.external_labels = external_labels;
    mo.external_url = external_url;
    manager = std::make_unique<RuleManager>(mo);
    VIGIL_RETURN_IF_ERROR(manager->Start());
    // SIGHUP reloads the rule files, as Prometheus.
    struct sigaction sa {};
    sa.sa_handler = OnHangup;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGHUP, &sa, nullptr);
    reloader = std::thread([this] {
      while (!stop) {
        if (g_reload.exchange(false)) {
          spdlog::info("alertd: SIGHUP: reloading the rule files");
          (void)manager->Reload();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    });
    return Status::Ok();
  }

  ~Impl() {
    stop = true;
    if (reloader.joinable()) reloader.join();
    if (manager) manager->Stop();
    // What is queued goes out before exit, if the receivers answer soon.
    if (notifier && !notifier->Flush(std::chrono::seconds(5))) {
      spdlog::warn("alertd: some notifications were still queued at exit");
    }
    if (writer && !writer->Flush(std::chrono::seconds(5))) {
      spdlog::warn("alertd: some rule output was still queued for remote_write at exit");
    }
  }
};

Embedded::Embedded(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Embedded::~Embedded() = default;

Result<std::unique_ptr<Embedded>> Embedded::Start(const Config& config, tsdb::Queryable& metrics,
                                                  tsdb::Appendable& out,
                                                  const logship::LogStore* logs,
                                                  http::Router& router) {
  auto impl = std::make_unique<Impl>();
  impl->metrics = std::make_unique<EngineSource>(metrics);
  if (logs != nullptr) impl->logs = std::make_unique<LogStoreSource>(*logs);
  WriteFunc write = [&out](std::vector<OutSample> s) { return AppendSamples(out, std::move(s)); };
  VIGIL_RETURN_IF_ERROR(
      impl->Start(config, ServerOptionsFrom(config, "127.0.0.1:9090").listen, std::move(write)));
  impl->manager->AddRoutes(router);
  return std::unique_ptr<Embedded>(new Embedded(std::move(impl)));
}

Result<std::string> WriteDefaultRulePack(const std::string& dir) {
  auto fs = RealFileSystem();
  VIGIL_RETURN_IF_ERROR(fs->CreateDirs(dir));
  for (const auto& [name, text] : DefaultRulePack()) {
    VIGIL_RETURN_IF_ERROR(fs->WriteFileAtomic(dir + "/" + std::string(name), text));
  }
  return dir + "/*.rules.yml";
}

Status Run(const Config& config) {
  const AlertdConfig& ac = config.alertd;
  if (ac.rules.empty()) return InvalidArgument("alertd: no rule files: give --rules GLOB");
  if (ac.query_url.empty() && ac.logs_url.empty()) {
    return InvalidArgument("alertd: nothing to evaluate against: give --query-url or --logs-url");
  }
  auto server_opts = ServerOptionsFrom(config, "127.0.0.1:9094");
  Embedded::Impl impl;
  if (!ac.query_url.empty()) {
    impl.metrics = std::make_unique<PrometheusApiSource>(ac.query_url, std::chrono::seconds(120));
  }
  if (!ac.logs_url.empty()) {
    impl.logs = std::make_unique<LokiApiSource>(ac.logs_url, std::chrono::seconds(120));
  }
  WriteFunc write;
  if (!ac.remote_write.empty()) {
    RemoteWriter::Options ro;
    ro.url = ac.remote_write;
    impl.writer = std::make_unique<RemoteWriter>(ro);
    write = [w = impl.writer.get()](std::vector<OutSample> s) { return w->Write(std::move(s)); };
  } else {
    spdlog::info("alertd: no --remote-write: ALERTS and recording rules are not stored");
  }
  VIGIL_RETURN_IF_ERROR(impl.Start(config, server_opts.listen, std::move(write)));
  http::Router router;
  impl.manager->AddRoutes(router);
  return ServeUntilSignal(config, "alertd", server_opts, std::move(router));
}

}  // namespace vigil::alertd
