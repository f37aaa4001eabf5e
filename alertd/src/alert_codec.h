#pragma once

// The binary form of an alert's state, as <data-dir>/alertd keeps it: a version byte, labels and
// annotations (counted, length-prefixed strings), the state, the value and six times, numbers
// big-endian. DecodeAlert(EncodeAlert(a)) gives a back; anything else read is Corruption.

#include <cstdint>
#include <string>
#include <string_view>

#include "rules.h"

namespace vigil::alertd {

std::string EncodeAlert(const Alert& a);
Result<Alert> DecodeAlert(std::string_view in);

// Big-endian u64, as the codec writes numbers (also the state store's key suffix).
void PutU64(std::string& out, uint64_t v);

}  // namespace vigil::alertd
