// Fuzzes the decoder of alert state read back from <data-dir>/alertd: any bytes give an alert or
// Corruption, never a crash; what decodes encodes to the same bytes.
#include <cstdint>
#include <cstdlib>

#include "alert_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 65536) return 0;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto a = vigil::alertd::DecodeAlert(in);
  if (!a.ok()) {
    if (a.status().code() != vigil::StatusCode::kCorruption) std::abort();
    return 0;
  }
  if (vigil::alertd::EncodeAlert(*a) != in) std::abort();
  return 0;
}
