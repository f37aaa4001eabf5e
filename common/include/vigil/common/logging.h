#pragma once

// Logging with spdlog: one process-wide logger writing to stderr, as text or as JSON lines
// ({"ts":"...","level":"info","msg":"..."}), at the level of --log-level.

#include <string_view>

#include "vigil/common/status.h"

namespace vigil {

// Fails with InvalidArgument on an unknown level or format (the message lists the valid ones).
Status InitLogging(std::string_view level, std::string_view format);

// Routes protobuf's own messages (it logs each message that fails to parse) to spdlog at debug
// level, once: decoders of untrusted bodies report their errors themselves.
void QuietProtobufLogs();

}  // namespace vigil
