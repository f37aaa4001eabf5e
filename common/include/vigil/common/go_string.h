#pragma once

// Go string literals, as PromQL (and Prometheus' other languages) write strings: "..." and
// '...' with Go's escapes, `...` raw.

#include <string>
#include <string_view>

#include "vigil/common/status.h"

namespace vigil {

// Decodes a Go string literal's body (between its quotes) with its escapes: \n \t \\ \" \xhh,
// \ooo, \uhhhh, \Uhhhhhhhh and the rest. `quote` is the quote character, for \' and \".
Result<std::string> UnquoteGo(std::string_view body, char quote);

}  // namespace vigil
