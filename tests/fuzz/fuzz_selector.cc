// Fuzzes the series selector parser of match[] and Go string unquoting.
#include <cstdint>

#include "vigil/common/selector.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  (void)vigil::ParseSeriesSelector(in);
  (void)vigil::UnquoteGo(in, '"');
  return 0;
}
