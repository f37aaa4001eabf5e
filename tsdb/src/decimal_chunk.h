#pragma once

// DecimalChunk: a closed-chunk encoding for values that are decimals in disguise, which is most
// of what exporters report: counters in hundredths of a second, byte counts, page-multiple
// memory sizes, nanosecond CPU counters. Each value is scaled by 10^k (the smallest k <= 9 that
// makes every value of the chunk an exact integer), and the integers are stored as deltas divided
// by their greatest common divisor, in a prefix bit code. Timestamps use XorChunk's
// delta-of-delta code. Any chunk with a value this cannot round-trip bit for bit (NaN, staleness
// markers, infinities, -0, more than 9 decimals) stays in XOR.
//
// Layout: [count varint][k: 1 byte][gcd varint][bit stream: t0 varint-in-bits, v0 zigzag 64 bits,
// then per sample a timestamp dod and a value delta/gcd].

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/common/status.h"
#include "vigil/tsdb/storage.h"

namespace vigil::tsdb {

// The encoding, or nullopt if some value cannot be represented exactly.
std::optional<std::string> EncodeDecimal(const std::vector<Sample>& samples);
// Appends the samples of `bytes` within [mint, maxt] to `out`.
Status DecodeDecimal(std::string_view bytes, int64_t mint, int64_t maxt, std::vector<Sample>& out);

}  // namespace vigil::tsdb
