// Fuzzes the OpenMetrics 1.0 parser (exemplars, UNIT, # EOF).
#include <cstdint>

#include "vigil/common/exposition.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto fams = vigil::expo::Parse(in, vigil::expo::Format::kOpenMetrics);
  if (fams.ok()) (void)vigil::expo::Write(*fams, vigil::expo::Format::kOpenMetrics);
  return 0;
}
