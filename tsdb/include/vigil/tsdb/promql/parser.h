#pragma once

// The PromQL parser: Prometheus 2.42's language and its type checks. Errors are InvalidArgument
// with Prometheus' text, position first: `1:8: parse error: unexpected "}" ...`.

#include <string_view>

#include "vigil/common/status.h"
#include "vigil/tsdb/promql/ast.h"

namespace vigil::promql {

Result<ExprPtr> ParseExpr(std::string_view query);

}  // namespace vigil::promql
