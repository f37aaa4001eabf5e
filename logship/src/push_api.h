#pragma once

// POST /loki/api/v1/push: decodes (JSON or snappy protobuf), checks the limits, appends to the
// spool and answers 204 only once the spool has it on disk. Errors as Loki words them: 400 for a
// malformed or invalid push, 413 past a size limit, 500 when the spool cannot write.

#include "spool.h"
#include "vigil/common/http_server.h"
#include "vigil/common/loki_push.h"

namespace vigil::logship {

void AddPushRoute(http::Router& router, Spool& spool, loki::PushLimits limits);

}  // namespace vigil::logship
