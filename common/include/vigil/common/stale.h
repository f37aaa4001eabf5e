#pragma once

// Prometheus' staleness marker: a NaN with this exact bit pattern ends a series. Scrapes write it
// for series that disappear; the stores keep it; PromQL's selectors stop at it.

#include <bit>
#include <cstdint>

namespace vigil {

inline constexpr uint64_t kStaleNaNBits = 0x7ff0000000000002ULL;
inline double StaleNaN() { return std::bit_cast<double>(kStaleNaNBits); }
inline bool IsStaleNaN(double v) { return std::bit_cast<uint64_t>(v) == kStaleNaNBits; }

}  // namespace vigil
