#pragma once

// Timestamps as the Prometheus HTTP API reads them: Unix seconds with an optional fraction
// ("1700000000.123"), or RFC 3339 ("2026-11-29T20:00:00.5Z", "...+01:00"). Results are
// milliseconds since the epoch; fractions below a millisecond are rounded, as Prometheus does.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "vigil/common/status.h"

namespace vigil {

// The bounds Prometheus uses for an omitted start or end (its minTime and maxTime), in ms.
inline constexpr int64_t kApiMinTimeMs = -9223309901257974000LL;
inline constexpr int64_t kApiMaxTimeMs = 9223309901257974999LL;

// Fails with InvalidArgument: `cannot parse "x" to a valid timestamp`.
Result<int64_t> ParseTimestamp(std::string_view s);
// Milliseconds as the API's seconds, as Prometheus writes them: 1435781451.781, 12, -0.5. Parses
// back with ParseTimestamp.
std::string FormatApiTime(int64_t ms);

// RFC 3339 with up to nanoseconds ("2026-11-30T05:55:18.123456789Z", "...+01:00"), in
// nanoseconds since the epoch: the timestamps of container log lines.
Result<int64_t> ParseRfc3339Nanos(std::string_view s);
// The inverse, in UTC as Go's time.RFC3339Nano writes it (trailing zeros of the fraction
// dropped): "2026-11-30T05:55:18.1234Z".
std::string FormatRfc3339Nanos(int64_t ns);
// The same, appended to `out` (no allocation of its own).
void AppendRfc3339Nanos(std::string& out, int64_t ns);

// A time parameter of an API request (`value` absent or empty: `default_ms`), with Prometheus'
// error text: `invalid parameter "start": Invalid time value for 'start': cannot parse ...`.
Result<int64_t> ParseTimeParam(const std::optional<std::string>& value, std::string_view name,
                               int64_t default_ms);

}  // namespace vigil
