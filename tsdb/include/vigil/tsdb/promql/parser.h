#pragma once

// The PromQL parser: Prometheus 2.42's language and its type checks. Errors are InvalidArgument
// with Prometheus' text, position first: `1:8: parse error: unexpected "}" ...`.

#include <string_view>
#include <vector>

#include "vigil/common/status.h"
#include "vigil/tsdb/promql/ast.h"

namespace vigil::promql {

Result<ExprPtr> ParseExpr(std::string_view query);

// A series selector as the API takes it in match[] (`up`, `{job=~"a|b"}`), with the parser's
// errors; anything but a plain vector selector is refused.
Result<std::vector<Matcher>> ParseMetricSelector(std::string_view input);

}  // namespace vigil::promql
