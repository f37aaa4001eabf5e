#pragma once

// vigil alertd: the rule evaluation and notification.

#include "vigil/common/config.h"
#include "vigil/common/status.h"

namespace vigil::alertd {

// Runs `vigil alertd` until SIGINT or SIGTERM: evaluates the rule files against --query-url
// (PromQL) and --logs-url (LogQL groups), sends alerts to the receivers, keeps alert state under
// <data-dir>/alertd, reloads on SIGHUP and POST /-/reload.
Status Run(const Config& config);

}  // namespace vigil::alertd
