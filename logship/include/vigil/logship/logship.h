#pragma once

// vigil logship: the log pipeline and Loki API.

#include "vigil/common/config.h"
#include "vigil/common/status.h"

namespace vigil::logship {

// Runs `vigil logship` until SIGINT or SIGTERM. Until the component is built (issue #6), it
// returns Unimplemented and starts nothing.
Status Run(const Config& config);

}  // namespace vigil::logship
