#pragma once

// vigil logship: the log pipeline and Loki API.

#include "vigil/common/config.h"
#include "vigil/common/status.h"

namespace vigil::logship {

// Runs `vigil logship` until SIGINT or SIGTERM: the push API into a durable spool, drained into
// the log store (under --data-dir), and the Loki query API, on 127.0.0.1:3100 by default.
Status Run(const Config& config);

}  // namespace vigil::logship
