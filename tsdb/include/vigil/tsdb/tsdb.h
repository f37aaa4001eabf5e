#pragma once

// vigil tsdb: the time-series store and PromQL API.

#include "vigil/common/config.h"
#include "vigil/common/status.h"

namespace vigil::tsdb {

// Runs `vigil tsdb` until SIGINT or SIGTERM. Until the component is built (issue #3), it
// returns Unimplemented and starts nothing.
Status Run(const Config& config);

}  // namespace vigil::tsdb
