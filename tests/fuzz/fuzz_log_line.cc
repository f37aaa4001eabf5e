// Fuzzes the container log line parsers (CRI, docker json-file), the partial-line joiner and the
// UTF-8 repair: no crash, a joined line never past its limit, repaired text always valid UTF-8.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "log_line.h"
#include "vigil/common/labels.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 8192) return 0;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (!vigil::IsValidUtf8(vigil::ToValidUtf8(in))) std::abort();
  vigil::agent::PartialJoiner joiner(64);
  size_t pos = 0;
  while (pos <= in.size()) {
    size_t end = in.find('\n', pos);
    if (end == std::string_view::npos) end = in.size();
    const std::string_view line = in.substr(pos, end - pos);
    for (auto format : {vigil::agent::LogFormat::kCri, vigil::agent::LogFormat::kDocker}) {
      auto parsed = vigil::agent::ParseLogLine(format, line);
      if (!parsed.ok()) {
        if (parsed.status().message().empty()) std::abort();
        continue;
      }
      vigil::agent::LogLine out;
      bool truncated = false;
      if (joiner.Add(std::move(*parsed), out, truncated) && out.message.size() > 64) std::abort();
    }
    pos = end + 1;
  }
  return 0;
}
