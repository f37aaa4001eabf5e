// Fuzzes rule-file loading (YAML, names, PromQL and LogQL, templates): any input gets groups or
// an error naming the file, never a crash.
#include <cstdint>
#include <cstdlib>

#include "rule_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 16384) return 0;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto g = vigil::alertd::ParseRuleFile(in, "f.yml");
  if (!g.ok() && g.status().message().rfind("f.yml", 0) != 0) std::abort();
  return 0;
}
