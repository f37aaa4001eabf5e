#pragma once

// `vigil top`: a live terminal view of the containers on this node, sorted by CPU, with memory,
// throttling and network columns (like top or csysdig). It reads the agent's view: collected
// in-process from this machine's cgroups, or from a running agent's /metrics (--server).
//
// Keys: c, m, t, n, i sort by CPU, memory, throttling, network, name (again: reverse); / starts
// a filter on namespace, pod, container or id (Enter applies, Esc clears); q quits. With --once
// it prints one table (after two samples, so rates exist) and exits: for scripts.

#include <chrono>
#include <iosfwd>
#include <string>

#include "vigil/common/config.h"
#include "vigil/common/status.h"

namespace vigil::agent {

struct TopOptions {
  std::string server;  // an agent's URL; empty: collect this machine in-process
  std::chrono::milliseconds interval{2'000};
  bool once = false;
};

// Runs until `q` (or after one table with once). Host paths come from config.agent.
Status RunTop(const Config& config, const TopOptions& options, std::ostream& out);

}  // namespace vigil::agent
