// Fuzzes the LogQL parser: any input gets a result or an error naming line and column, never a
// crash; errors always carry the "parse error at line" prefix or another precise message.
#include <cstdint>
#include <cstdlib>

#include "vigil/logship/logql.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;  // long inputs only slow the search
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto q = vigil::logql::Parse(in);
  if (!q.ok() && q.status().message().empty()) std::abort();
  if (q.ok() && !q->log && !q->metric) std::abort();
  return 0;
}
