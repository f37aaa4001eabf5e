#pragma once

// `vigil rules check FILE…` and `vigil rules test FILE…`: promtool's `check rules` and
// `test rules`, with the same verdicts on the same files. Both print to `out` and return the
// exit code: 0 when every file passes, 1 otherwise.

#include <ostream>
#include <string>
#include <vector>

namespace vigil::alertd {

int RulesCheck(const std::vector<std::string>& files, std::ostream& out);
int RulesTest(const std::vector<std::string>& files, std::ostream& out);

}  // namespace vigil::alertd
