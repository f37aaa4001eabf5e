// Fuzzes the alert template language: parsing and expanding any text gives a result or an
// error, never a crash, and never more output than the bound.
#include <cstdint>
#include <cstdlib>

#include "template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto t = vigil::alertd::Template::Parse(in);
  if (!t.ok()) {
    if (t.status().message().rfind("template: ", 0) != 0) std::abort();
    return 0;
  }
  vigil::alertd::TemplateData d;
  d.labels = {{"instance", "a:1"}, {"job", "node"}};
  d.external_labels = {{"cluster", "east"}};
  d.value = 12.5;
  vigil::alertd::TemplateQueryFunc q =
      [](std::string_view expr) -> vigil::Result<std::vector<vigil::alertd::Sample>> {
    if (expr.empty()) return vigil::InvalidArgument("empty query");
    return std::vector<vigil::alertd::Sample>{{vigil::Labels{{"pod", std::string(expr)}}, 1}};
  };
  auto r = t->Execute(d, q);
  if (r.ok() && r->size() > (2u << 20)) std::abort();
  return 0;
}
