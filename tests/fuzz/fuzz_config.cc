// Fuzzes the YAML config loader.
#include <cstdint>

#include "vigil/common/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vigil::Config config;
  (void)vigil::LoadConfigText(std::string_view(reinterpret_cast<const char*>(data), size),
                              "fuzz.yaml", config);
  return 0;
}
