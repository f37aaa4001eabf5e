#include "vigil/common/daemon.h"

#include <csignal>

#include <spdlog/spdlog.h>

#include "vigil/common/self_metrics.h"

namespace vigil {

void AddStandardRoutes(http::Router& router, const std::atomic<bool>* ready) {
  router.Handle({"GET", "HEAD"}, "/-/healthy", [](const http::Request&, http::Response& res) {
    res = http::Response::Text(200, "vigil is Healthy.\n");
  });
  router.Handle({"GET", "HEAD"}, "/-/ready", [ready](const http::Request&, http::Response& res) {
    if (ready == nullptr || ready->load()) {
      res = http::Response::Text(200, "vigil is Ready.\n");
    } else {
      res = http::Response::Text(503, "Service Unavailable\n");
    }
  });
  router.Get("/metrics", [](const http::Request&, http::Response& res) {
    res.status = 200;
    res.content_type = "text/plain; version=0.0.4; charset=utf-8";
    res.body = SerializeSelfMetrics();
  });
}

http::ServerOptions ServerOptionsFrom(const Config& config, std::string_view default_listen) {
  http::ServerOptions opts;
  opts.listen = config.server.listen.empty() ? std::string(default_listen) : config.server.listen;
  opts.tls_cert_file = config.server.tls_cert_file;
  opts.tls_key_file = config.server.tls_key_file;
  opts.bearer_token = config.server.bearer_token;
  opts.read_timeout = config.server.read_timeout;
  opts.idle_timeout = config.server.idle_timeout;
  return opts;
}

Status ServeUntilSignal(const Config& config, std::string_view component,
                        http::ServerOptions options, http::Router router,
                        const std::atomic<bool>* stop) {
  AddStandardRoutes(router);
  auto server = http::HttpServer::Start(std::move(options), std::move(router));
  if (!server.ok()) return server.status();
  const bool tls = !config.server.tls_cert_file.empty();
  spdlog::info("vigil {} is up: {}://{}/ (health at /-/healthy, metrics at /metrics)", component,
               tls ? "https" : "http", (*server)->address());
  int sig = http::WaitForTerminationSignal(stop);
  spdlog::info("vigil {}: {}; shutting down", component,
               sig == 0 ? std::string("stop requested") : std::string(strsignal(sig)));
  (*server)->Shutdown();
  return Status::Ok();
}

}  // namespace vigil
