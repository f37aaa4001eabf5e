// Fuzzes the PromQL parser (expressions and match[] selectors) and Go string unquoting. What
// parses must print as something that parses again to the same text.
#include <cstdint>
#include <cstdlib>

#include "vigil/common/go_string.h"
#include "vigil/tsdb/promql/parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (size > 4096) return 0;  // long inputs only slow the search
  auto e = vigil::promql::ParseExpr(in);
  if (e.ok()) {
    const std::string printed = (*e)->ToString();
    auto again = vigil::promql::ParseExpr(printed);
    if (!again.ok() || (*again)->ToString() != printed) std::abort();
  }
  (void)vigil::promql::ParseMetricSelector(in);
  (void)vigil::UnquoteGo(in, '"');
  return 0;
}
