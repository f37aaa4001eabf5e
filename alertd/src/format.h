#pragma once

// Small text forms alertd writes in more than one place.

#include <charconv>
#include <cmath>
#include <string>

#include "rules.h"
#include "vigil/common/timestamp.h"

namespace vigil::alertd {

// An alert time as Go's time.Time marshals it; Go's zero time for "never".
inline std::string FormatAlertTime(int64_t ms) {
  return ms == kNoTime ? "0001-01-01T00:00:00Z" : FormatRfc3339Nanos(ms * 1'000'000);
}

// strconv.FormatFloat(v, 'e', -1, 64): the shortest digits in exponent form ("5e-01"), with
// Prometheus' NaN, +Inf and -Inf.
inline std::string FormatGoExp(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
  return std::string(buf, r.ptr);
}

// A base URL without its trailing slashes, so paths can be appended.
inline std::string WithoutTrailingSlash(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

}  // namespace vigil::alertd
