#pragma once

// The web UI, compiled into the binary from web/dist (built from web/src and npm at set-up):
// `/` serves its page, `/ui/<file>` its scripts, styles and the shipped dashboards.

#include "vigil/common/http_server.h"

namespace vigil::web {

void AddRoutes(http::Router& router);

}  // namespace vigil::web
