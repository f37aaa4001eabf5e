#include "vigil/common/go_string.h"

#include "vigil/common/labels.h"

namespace vigil {
namespace {

void AppendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Result<std::string> UnquoteGo(std::string_view body, char quote) {
  std::string out;
  for (size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (c != '\\') {
      out += c;
      continue;
    }
    if (++i >= body.size()) return InvalidArgument("string ends in a backslash");
    char e = body[i];
    switch (e) {
      case 'a':
        out += '\a';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'v':
        out += '\v';
        break;
      case '\\':
        out += '\\';
        break;
      case '\'':
      case '"':
        if (e != quote) return InvalidArgument(std::string("unknown escape sequence \\") + e);
        out += e;
        break;
      case 'x': {
        if (i + 2 >= body.size() || Hex(body[i + 1]) < 0 || Hex(body[i + 2]) < 0) {
          return InvalidArgument("invalid \\x escape");
        }
        out += static_cast<char>(Hex(body[i + 1]) * 16 + Hex(body[i + 2]));
        i += 2;
        break;
      }
      case 'u':
      case 'U': {
        const size_t n = e == 'u' ? 4 : 8;
        if (i + n >= body.size()) return InvalidArgument("invalid \\u escape");
        uint32_t cp = 0;
        for (size_t k = 1; k <= n; ++k) {
          int h = Hex(body[i + k]);
          if (h < 0) return InvalidArgument("invalid \\u escape");
          cp = cp * 16 + static_cast<uint32_t>(h);
        }
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
          return InvalidArgument("escape sequence is an invalid Unicode code point");
        }
        AppendUtf8(out, cp);
        i += n;
        break;
      }
      default:
        if (e >= '0' && e <= '7') {
          if (i + 2 >= body.size() || body[i + 1] < '0' || body[i + 1] > '7' || body[i + 2] < '0' ||
              body[i + 2] > '7') {
            return InvalidArgument("invalid octal escape");
          }
          const int v = (e - '0') * 64 + (body[i + 1] - '0') * 8 + (body[i + 2] - '0');
          if (v > 255) return InvalidArgument("octal escape value > 255");
          out += static_cast<char>(v);
          i += 2;
          break;
        }
        return InvalidArgument(std::string("unknown escape sequence \\") + e);
    }
  }
  if (!IsValidUtf8(out)) return InvalidArgument("invalid UTF-8 in string");
  return out;
}

}  // namespace vigil
