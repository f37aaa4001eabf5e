// The `vigil` binary: subcommand dispatch only. Each subcommand parses its flags into a Config
// (defaults, then --config FILE, then flags) and calls its component.

#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "up.h"
#include "vigil/agent/agent.h"
#include "vigil/agent/top.h"
#include "vigil/alertd/alertd.h"
#include "vigil/alertd/rules_cli.h"
#include "vigil/common/config.h"
#include "vigil/common/daemon.h"
#include "vigil/common/duration.h"
#include "vigil/common/logging.h"
#include "vigil/common/version.h"
#include "vigil/logship/logship.h"
#include "vigil/logship/query_cli.h"
#include "vigil/tsdb/query_cli.h"
#include "vigil/tsdb/tsdb.h"

namespace {

using vigil::Config;
using vigil::Status;

// Exit codes: 0 done, 1 failed, 2 bad usage or configuration, 3 not built yet.
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitUnimplemented = 3;

struct FlagValues {
  std::string config_file;
  std::map<std::string, std::vector<std::string>> values;  // YAML key -> flag values
};

void AddFlags(CLI::App* app, const std::vector<vigil::FlagSpec>& specs, FlagValues& fv) {
  for (const auto& spec : specs) {
    auto* opt = app->add_option(spec.flag, fv.values[spec.key], spec.help);
    if (spec.repeated) {
      opt->take_all()->allow_extra_args(false);
    } else {
      opt->expected(1)->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    }
  }
}

void AddDaemonFlags(CLI::App* app, std::string_view component, FlagValues& fv) {
  app->add_option("--config", fv.config_file, "YAML file with a section per component")
      ->check(CLI::ExistingFile);
  AddFlags(app, vigil::Flags(""), fv);
  if (!component.empty()) AddFlags(app, vigil::Flags(component), fv);
}

// Defaults, then the file, then the flags; then logging as configured.
vigil::Result<Config> BuildConfig(const FlagValues& fv, std::string_view component) {
  Config config;
  if (!fv.config_file.empty()) {
    VIGIL_RETURN_IF_ERROR(vigil::LoadConfigFile(fv.config_file, config));
  }
  // `vigil up` (component "") takes some of alertd's and the agent's flags too.
  std::vector<std::string_view> groups = {std::string_view(), component};
  if (component.empty()) groups = {std::string_view(), "alertd", "agent"};
  for (std::string_view group : groups) {
    for (const auto& spec : vigil::Flags(group)) {
      auto it = fv.values.find(spec.key);
      if (it == fv.values.end() || it->second.empty()) continue;
      Status st = vigil::ApplyOverride(spec.key, it->second, config);
      if (!st.ok()) return st.WithContext(spec.flag);
    }
  }
  VIGIL_RETURN_IF_ERROR(vigil::InitLogging(config.log.level, config.log.format));
  return config;
}

int ExitFor(const Status& st) {
  if (st.ok()) return 0;
  spdlog::error("{}", st.message());
  if (st.code() == vigil::StatusCode::kUnimplemented) return kExitUnimplemented;
  if (st.code() == vigil::StatusCode::kInvalidArgument) return kExitUsage;
  return kExitFailed;
}

int RunComponent(const FlagValues& fv, std::string_view component, Status (*run)(const Config&)) {
  auto config = BuildConfig(fv, component);
  if (!config.ok()) return ExitFor(config.status());
  return ExitFor(run(*config));
}

}  // namespace

int main(int argc, char** argv) {
  vigil::http::BlockTerminationSignals();
  // Errors before the config is read go to stderr as text.
  (void)vigil::InitLogging("info", "text");

  CLI::App app{"vigil: monitoring and logging for Kubernetes nodes"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(vigil::kVersion));
  app.footer("Run `vigil <command> --help` for a command's flags.");

  FlagValues fv;
  auto* up = app.add_subcommand("up", "all components in one process (default 127.0.0.1:9090)");
  AddDaemonFlags(up, "", fv);
  {
    // In-process alertd (its rules and receivers; its sources and output are the stores) and
    // agent (what it reads and how often; it ships to this process).
    std::vector<vigil::FlagSpec> flags;
    for (const auto& spec : vigil::Flags("alertd")) {
      if (spec.key != "alertd.query_url" && spec.key != "alertd.logs_url" &&
          spec.key != "alertd.remote_write") {
        flags.push_back(spec);
      }
    }
    for (const auto& spec : vigil::Flags("agent")) {
      if (spec.key == "agent.log_root" || spec.key == "agent.interval" ||
          spec.key == "agent.proc_root" || spec.key == "agent.sys_root" ||
          spec.key == "agent.cgroup_root" || spec.key == "agent.scrape_config") {
        flags.push_back(spec);
      }
    }
    AddFlags(up, flags, fv);
  }
  auto* tsdb = app.add_subcommand("tsdb", "time-series store and PromQL API (127.0.0.1:9090)");
  AddDaemonFlags(tsdb, "tsdb", fv);
  auto* logship =
      app.add_subcommand("logship", "log pipeline, log store, Loki API (127.0.0.1:3100)");
  AddDaemonFlags(logship, "logship", fv);
  auto* alertd = app.add_subcommand("alertd", "rule evaluation and notification (127.0.0.1:9094)");
  AddDaemonFlags(alertd, "alertd", fv);
  auto* agent = app.add_subcommand("agent", "node collector, scraper, log tailer (127.0.0.1:9101)");
  AddDaemonFlags(agent, "agent", fv);

  vigil::tsdb::QueryCommand qc;
  bool logs = false;
  size_t limit = 100;
  auto* query = app.add_subcommand(
      "query",
      "run a PromQL query against vigil or any Prometheus, or LogQL (--logs) against "
      "logship or any Loki");
  query->add_option("--server", qc.server,
                    "the server's URL (default http://127.0.0.1:9090, with --logs :3100)");
  query->add_flag("--logs", logs, "the expression is LogQL, for logship or Loki");
  query->add_option("--limit", limit, "--logs: at most this many lines (default 100)");
  query->add_option("--time", qc.time, "instant query at this time (RFC 3339 or Unix seconds)");
  query->add_option("--start", qc.start, "range query from this time");
  query->add_option("--end", qc.end, "range query to this time (default now)");
  query->add_option("--step", qc.step, "range query step (5m, 30s or seconds)");
  query->add_flag("--json", qc.json, "print the server's JSON answer");
  query->add_option("expr", qc.expr, "the PromQL (or, with --logs, LogQL) expression")->required();

  std::vector<std::string> files;
  auto* rules = app.add_subcommand("rules", "validate rule files and run rule unit tests");
  rules->require_subcommand(1);
  auto* rules_check = rules->add_subcommand("check", "validate rule files");
  rules_check->add_option("files", files, "rule files")->required();
  auto* rules_test = rules->add_subcommand("test", "run rule unit tests (promtool's format)");
  rules_test->add_option("files", files, "test files")->required();

  auto* top = app.add_subcommand("top", "live terminal view of containers by CPU and memory");
  vigil::agent::TopOptions top_options;
  std::string top_interval = "2s";
  top->add_option("--server", top_options.server,
                  "read a running agent's /metrics (default: collect this machine)");
  top->add_option("--interval", top_interval, "time between samples (default 2s)");
  top->add_flag("--once", top_options.once, "print one table and exit");
  top->add_option("--config", fv.config_file, "YAML file (its agent section's host paths)")
      ->check(CLI::ExistingFile);
  {
    std::vector<vigil::FlagSpec> host_paths;
    for (const auto& spec : vigil::Flags("agent")) {
      for (std::string_view f : {"--proc-root", "--cgroup-root", "--log-root", "--runtime-dir"}) {
        if (spec.flag == f) host_paths.push_back(spec);
      }
    }
    AddFlags(top, host_paths, fv);
  }
  auto* version = app.add_subcommand("version", "print the version");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  if (version->parsed()) {
    std::cout << "vigil version " << vigil::kVersion << "\n";
    return 0;
  }
  if (up->parsed()) return RunComponent(fv, "", vigil::up::Run);
  if (tsdb->parsed()) return RunComponent(fv, "tsdb", vigil::tsdb::Run);
  if (logship->parsed()) return RunComponent(fv, "logship", vigil::logship::Run);
  if (alertd->parsed()) return RunComponent(fv, "alertd", vigil::alertd::Run);
  if (agent->parsed()) return RunComponent(fv, "agent", vigil::agent::Run);
  if (query->parsed() && logs) {
    vigil::logship::LogQueryCommand lc;
    if (query->get_option("--server")->count() > 0) lc.server = qc.server;
    lc.query = qc.expr;
    lc.start = qc.start;
    lc.end = qc.end;
    lc.step = qc.step;
    lc.limit = limit;
    lc.json = qc.json;
    return ExitFor(vigil::logship::RunLogQueryCommand(lc, std::cout));
  }
  if (query->parsed()) return ExitFor(vigil::tsdb::RunQueryCommand(qc, std::cout));
  if (rules_check->parsed() || rules_test->parsed()) {
    (void)vigil::InitLogging("warn",
                             "text");  // the report is on stdout; the store's notes are noise
    if (rules_check->parsed()) return vigil::alertd::RulesCheck(files, std::cout);
    return vigil::alertd::RulesTest(files, std::cout);
  }
  if (top->parsed()) {
    auto config = BuildConfig(fv, "agent");
    if (!config.ok()) return ExitFor(config.status());
    auto interval = vigil::ParseDuration(top_interval);
    if (!interval.ok() || interval->count() <= 0) {
      std::cerr << "vigil top: --interval: " << interval.status().ToString() << "\n";
      return kExitUsage;
    }
    top_options.interval = *interval;
    return ExitFor(vigil::agent::RunTop(*config, top_options, std::cout));
  }
  return kExitUsage;
}
