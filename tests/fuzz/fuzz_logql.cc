// Fuzzes the LogQL parser: any input gets a result or an error naming line and column, never a
// crash; errors always carry the "parse error at line" prefix or another precise message. A query
// written out again (as a fan-out sends it to its shards) parses to one written out the same.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "vigil/logship/logql.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;  // long inputs only slow the search
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto q = vigil::logql::Parse(in);
  if (!q.ok() && q.status().message().empty()) std::abort();
  if (!q.ok()) return 0;
  if (!q->log && !q->metric) std::abort();
  const std::string text =
      q->log ? vigil::logql::ToString(*q->log) : vigil::logql::ToString(*q->metric);
  auto again = vigil::logql::Parse(text);
  if (!again.ok()) std::abort();
  const std::string text2 =
      again->log ? vigil::logql::ToString(*again->log) : vigil::logql::ToString(*again->metric);
  if (text2 != text) std::abort();
  return 0;
}
