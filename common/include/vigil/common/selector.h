#pragma once

// Series selectors as the Prometheus API takes them in match[]: `up`, `up{job="node"}`,
// `{__name__=~"node_.*", mode!="idle"}`. Strings are Go string literals in "", '' or ``.
// As in Prometheus, a selector needs at least one matcher that does not match the empty string.

#include <string_view>
#include <vector>

#include "vigil/common/matcher.h"
#include "vigil/common/status.h"

namespace vigil {

// Errors name the byte position: `parse error at char 5: unexpected "}"`.
Result<std::vector<Matcher>> ParseSeriesSelector(std::string_view input);

// Decodes a Go string literal's body (between its quotes) with its escapes: \n \t \\ \" \xhh,
// \ooo, \uhhhh, \Uhhhhhhhh and the rest. `quote` is the quote character, for \' and \".
Result<std::string> UnquoteGo(std::string_view body, char quote);

}  // namespace vigil
