#include "vigil/common/duration.h"

#include <array>
#include <limits>

namespace vigil {
namespace {

struct Unit {
  std::string_view name;
  int64_t ms;
};
// In the order they must appear.
constexpr std::array<Unit, 7> kUnits = {{{"y", 365LL * 24 * 3600 * 1000},
                                         {"w", 7LL * 24 * 3600 * 1000},
                                         {"d", 24LL * 3600 * 1000},
                                         {"h", 3600LL * 1000},
                                         {"m", 60LL * 1000},
                                         {"s", 1000},
                                         {"ms", 1}}};

}  // namespace

Result<std::chrono::milliseconds> ParseDuration(std::string_view s) {
  auto bad = [&](std::string_view why) {
    return InvalidArgument("invalid duration \"" + std::string(s) + "\": " + std::string(why));
  };
  if (s.empty()) return bad("empty");
  if (s == "0") return std::chrono::milliseconds(0);
  int64_t total = 0;
  size_t next_unit = 0;
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] < '0' || s[i] > '9') return bad("expected a number at position " + std::to_string(i));
    int64_t n = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (n > (std::numeric_limits<int64_t>::max() - 9) / 10) return bad("too large");
      n = n * 10 + (s[i] - '0');
      ++i;
    }
    size_t u = next_unit;
    for (; u < kUnits.size(); ++u) {
      std::string_view name = kUnits[u].name;
      // "m" must not swallow the "m" of "ms".
      if (s.substr(i, name.size()) == name && !(name == "m" && s.substr(i, 2) == "ms")) {
        break;
      }
    }
    if (u == kUnits.size()) {
      return bad("expected a unit (y, w, d, h, m, s, ms) in order at position " +
                 std::to_string(i));
    }
    if (n > std::numeric_limits<int64_t>::max() / kUnits[u].ms) return bad("too large");
    const int64_t add = n * kUnits[u].ms;
    if (total > std::numeric_limits<int64_t>::max() - add) return bad("too large");
    total += add;
    i += kUnits[u].name.size();
    next_unit = u + 1;
  }
  return std::chrono::milliseconds(total);
}

std::string FormatDuration(std::chrono::milliseconds d) {
  int64_t ms = d.count();
  if (ms == 0) return "0s";
  std::string out;
  if (ms < 0) {
    out += '-';
    ms = -ms;
  }
  for (const Unit& u : kUnits) {
    // Prometheus prints weeks only for whole weeks and years only for whole years.
    if ((u.name == "y" || u.name == "w") && ms % u.ms != 0) continue;
    if (ms >= u.ms) {
      out += std::to_string(ms / u.ms);
      out += u.name;
      ms %= u.ms;
    }
  }
  return out;
}

}  // namespace vigil
