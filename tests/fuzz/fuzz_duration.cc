// Fuzzes Prometheus duration parsing; what parses must format and parse back to itself.
#include <cstdint>
#include <cstdlib>

#include "vigil/common/duration.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto d = vigil::ParseDuration(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!d.ok()) return 0;
  auto back = vigil::ParseDuration(vigil::FormatDuration(*d));
  if (!back.ok() || *back != *d) std::abort();
  return 0;
}
