#pragma once

// Prometheus durations: "1h30m", "15d", "250ms", "1y" (365d), "2w". Units must appear in
// decreasing order, each at most once, as model.ParseDuration requires. "0" alone is allowed.

#include <chrono>
#include <string>
#include <string_view>

#include "vigil/common/status.h"

namespace vigil {

Result<std::chrono::milliseconds> ParseDuration(std::string_view s);
// The shortest Prometheus spelling: 90000ms -> "1m30s", 0 -> "0s".
std::string FormatDuration(std::chrono::milliseconds d);

}  // namespace vigil
