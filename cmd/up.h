#pragma once

#include "vigil/common/config.h"
#include "vigil/common/status.h"

namespace vigil::up {

// `vigil up`: every component in one process, on one port (127.0.0.1:9090 by default).
Status Run(const Config& config);

}  // namespace vigil::up
