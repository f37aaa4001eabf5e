#pragma once

// vigil logship: the log pipeline and Loki API.

#include <memory>

#include "vigil/common/config.h"
#include "vigil/common/http_server.h"
#include "vigil/common/status.h"

namespace vigil::logship {

class LogStore;

// logship inside another process (`vigil up`), or the daemon's body: the store, the sinks, the
// spool and its drain, Kafka consumer mode, block cutting and retention, built from
// config.logship; the push route and the Loki query routes added to `router`. Destroying it
// stops everything in order and flushes the store.
class Embedded {
 public:
  static Result<std::unique_ptr<Embedded>> Start(const Config& config, http::Router& router);
  ~Embedded();
  // The log store (nullptr for a forwarder), for in-process queries.
  const LogStore* store() const;

  struct Impl;

 private:
  explicit Embedded(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Runs `vigil logship` until SIGINT or SIGTERM: the push API into a durable spool, drained into
// the log store (under --data-dir), and the Loki query API, on 127.0.0.1:3100 by default.
Status Run(const Config& config);

}  // namespace vigil::logship
