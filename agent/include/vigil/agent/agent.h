#pragma once

// vigil agent: the node collector, scraper and log tailer.

#include "vigil/common/config.h"
#include "vigil/common/status.h"

namespace vigil::agent {

// Runs `vigil agent` until SIGINT or SIGTERM. Until the component is built (issue #5), it
// returns Unimplemented and starts nothing.
Status Run(const Config& config);

}  // namespace vigil::agent
