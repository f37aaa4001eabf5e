// `vigil up`, the embedded default: the components in one process, wired through the interfaces
// the daemons use. The store and the Prometheus API (tsdb), logship's spool, log store and Loki
// API under /loki/api/v1/, alertd with the default rule pack (or --rules) on both stores, and
// the agent collecting this machine and tailing its logs. The agent reaches the store and
// logship at local://up/…: the same remote_write and Loki push handlers as over the network,
// dispatched in-process (no socket), so its on-disk queues and retries work as in a cluster.

#include "up.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "vigil/agent/agent.h"
#include "vigil/alertd/embedded.h"
#include "vigil/common/clock.h"
#include "vigil/common/daemon.h"
#include "vigil/common/file_system.h"
#include "vigil/logship/logship.h"
#include "vigil/tsdb/rocksdb_store.h"
#include "vigil/tsdb/tsdb.h"
#include "vigil/web/web.h"

namespace vigil::up {

Status Run(const Config& given) {
  Config config = given;
  const auto start = std::chrono::steady_clock::now();
  VIGIL_ASSIGN_OR_RETURN(auto store, tsdb::RocksDbStore::Open(tsdb::StoreOptionsFrom(config)));
  http::Router router;
  tsdb::AddRoutes(router, *store, config);
  web::AddRoutes(router);
  VIGIL_ASSIGN_OR_RETURN(auto logship, logship::Embedded::Start(config, router));
  // The rules: --rules, or the default pack written under the data directory.
  if (config.alertd.rules.empty()) {
    VIGIL_ASSIGN_OR_RETURN(std::string glob,
                           alertd::WriteDefaultRulePack(config.data_dir + "/rules"));
    config.alertd.rules = {glob};
  }
  VIGIL_ASSIGN_OR_RETURN(auto alertd,
                         alertd::Embedded::Start(config, *store, *store, logship->store(), router));
  // The agent ships to this process. Its own /metrics is not served here: /metrics is vigil's.
  http::RegisterLocalRouter("up", &router);
  Config agent_config = config;
  agent_config.agent.remote_write = {"local://up/api/v1/write"};
  agent_config.agent.log_push = {"local://up/loki/api/v1/push"};
  agent::Agent agent(agent_config, RealFileSystem(), RealClock());
  if (Status st = agent.Start(); !st.ok()) {
    http::RegisterLocalRouter("up", nullptr);
    return st;
  }
  spdlog::info(
      "vigil up: ready in {} ms. Data in {}; rules {}; logs from {}. Prometheus API at /api/v1/, "
      "Loki API at /loki/api/v1/, alerts at /api/v1/alerts",
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                            start)
          .count(),
      config.data_dir, config.alertd.rules.front(),
      config.agent.log_root.empty() ? "nowhere" : config.agent.log_root.front());
  auto server = ServerOptionsFrom(config, "127.0.0.1:9090");
  server.max_body_bytes = config.tsdb.max_body_bytes;
  Status st = ServeUntilSignal(config, "up", server, router);
  // Stop in order: the agent (its queues keep what was not sent), the rules, then the stores.
  agent.Stop();
  http::RegisterLocalRouter("up", nullptr);
  alertd.reset();
  logship.reset();
  return st;
}

}  // namespace vigil::up
