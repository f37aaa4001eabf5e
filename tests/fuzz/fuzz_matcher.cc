// Fuzzes label matchers: the first line is the regex, the rest a value to match. The regex fast
// paths must agree with RE2 on valid UTF-8 (stored label values always are; on invalid bytes Go's
// "." matches where RE2's does not, and the fast paths side with Go).
#include <re2/re2.h>

#include <cstdint>
#include <cstdlib>

#include "vigil/common/matcher.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t nl = in.find('\n');
  std::string re(in.substr(0, nl));
  std::string_view value = nl == std::string_view::npos ? "" : in.substr(nl + 1);
  auto m = vigil::Matcher::Make(vigil::MatchType::kRegexMatch, "l", re);
  if (!m.ok()) return 0;
  RE2::Options opts;
  opts.set_log_errors(false);
  RE2 plain("^(?:" + re + ")$", opts);
  const bool utf8 = vigil::IsValidUtf8(value) && vigil::IsValidUtf8(re);
  if (utf8 && plain.ok() && m->Matches(value) != RE2::FullMatch(value, plain)) std::abort();
  (void)vigil::IsValidLabelName(value);
  return 0;
}
