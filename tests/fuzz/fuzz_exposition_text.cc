// Fuzzes the text exposition format 0.0.4 parser; whatever parses must write and parse again.
#include <cstdint>
#include <cstdlib>

#include "vigil/common/exposition.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto fams = vigil::expo::Parse(in, vigil::expo::Format::kText);
  if (!fams.ok()) return 0;
  auto again = vigil::expo::Parse(vigil::expo::Write(*fams, vigil::expo::Format::kText),
                                  vigil::expo::Format::kText);
  if (!again.ok()) std::abort();  // our writer produced something our parser refuses
  return 0;
}
