#pragma once

// vigil alertd: the rule evaluation and notification.

#include "vigil/common/config.h"
#include "vigil/common/status.h"

namespace vigil::alertd {

// Runs `vigil alertd` until SIGINT or SIGTERM. Until the component is built (issue #7), it
// returns Unimplemented and starts nothing.
Status Run(const Config& config);

}  // namespace vigil::alertd
