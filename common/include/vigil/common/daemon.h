#pragma once

// What every vigil daemon (and `vigil up`) does around its own routes: serve /-/healthy,
// /-/ready and /metrics, listen where the config says (or the component's default), log where
// to look, run until SIGINT or SIGTERM, and shut the server down gracefully.

#include <atomic>
#include <functional>
#include <string_view>

#include "vigil/common/config.h"
#include "vigil/common/http_server.h"
#include "vigil/common/status.h"

namespace vigil {

// Adds /-/healthy, /-/ready (200 once `ready` is true; nullptr means always ready) and /metrics
// (the self-metrics registry in the text format).
void AddStandardRoutes(http::Router& router, const std::atomic<bool>* ready = nullptr);

// Server options from the config's server section; `default_listen` when none is configured.
http::ServerOptions ServerOptionsFrom(const Config& config, std::string_view default_listen);

// Starts the server with the standard routes added, blocks until SIGINT/SIGTERM or until `stop`
// is set, then shuts down. Fails only if the server cannot start.
Status ServeUntilSignal(const Config& config, std::string_view component,
                        http::ServerOptions server, http::Router router,
                        const std::atomic<bool>* stop = nullptr);

}  // namespace vigil
