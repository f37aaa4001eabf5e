#include "vigil/common/selector.h"

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

class SelectorParser {
 public:
  explicit SelectorParser(std::string_view in) : in_(in) {}

  Result<std::vector<Matcher>> Run() {
    Skip();
    std::vector<Matcher> out;
    if (pos_ < in_.size() && IsNameStart(in_[pos_])) {
      std::string name(Name(/*colon=*/true));
      VIGIL_ASSIGN_OR_RETURN(auto m, Matcher::Make(MatchType::kEqual, "__name__", name));
      out.push_back(std::move(m));
      Skip();
    }
    if (pos_ < in_.size() && in_[pos_] == '{') {
      ++pos_;
      for (;;) {
        Skip();
        if (pos_ < in_.size() && in_[pos_] == '}') {
          ++pos_;
          break;
        }
        const size_t name_pos = pos_;
        std::string_view label = Name(/*colon=*/false);
        if (label.empty()) return Error(name_pos, "expected a label name");
        Skip();
        MatchType type;
        if (Take("=~")) {
          type = MatchType::kRegexMatch;
        } else if (Take("!~")) {
          type = MatchType::kRegexNoMatch;
        } else if (Take("!=")) {
          type = MatchType::kNotEqual;
        } else if (Take("=")) {
          type = MatchType::kEqual;
        } else {
          return Error(pos_, "expected a match operator (=, !=, =~, !~)");
        }
        Skip();
        VIGIL_ASSIGN_OR_RETURN(std::string value, String());
        auto m = Matcher::Make(type, std::string(label), std::move(value));
        if (!m.ok()) return Error(name_pos, m.status().message());
        out.push_back(std::move(*m));
        Skip();
        if (pos_ < in_.size() && in_[pos_] == ',') {
          ++pos_;
          continue;
        }
        if (pos_ < in_.size() && in_[pos_] == '}') {
          ++pos_;
          break;
        }
        return Error(pos_, "expected \",\" or \"}\"");
      }
    }
    Skip();
    if (pos_ != in_.size()) return Error(pos_, "unexpected characters after the selector");
    if (out.empty()) return Error(0, "expected a series selector");
    bool non_empty = false;
    for (const auto& m : out) non_empty |= !m.MatchesEmpty();
    if (!non_empty) {
      return InvalidArgument("vector selector must contain at least one non-empty matcher");
    }
    return out;
  }

 private:
  static bool IsNameStart(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
  }
  Status Error(size_t at, const std::string& what) const {
    std::string near = at < in_.size() ? " near \"" + std::string(in_.substr(at, 10)) + "\"" : "";
    return InvalidArgument("parse error at char " + std::to_string(at + 1) + ": " + what + near);
  }
  void Skip() {
    while (pos_ < in_.size() &&
           (in_[pos_] == ' ' || in_[pos_] == '\t' || in_[pos_] == '\n' || in_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool Take(std::string_view tok) {
    if (in_.substr(pos_, tok.size()) != tok) return false;
    pos_ += tok.size();
    return true;
  }
  std::string_view Name(bool colon) {
    const size_t start = pos_;
    while (pos_ < in_.size()) {
      char c = in_[pos_];
      bool ok = IsNameStart(c) || (pos_ > start && c >= '0' && c <= '9');
      if (!colon && c == ':') ok = false;
      if (!ok) break;
      ++pos_;
    }
    return in_.substr(start, pos_ - start);
  }
  Result<std::string> String() {
    if (pos_ >= in_.size() || (in_[pos_] != '"' && in_[pos_] != '\'' && in_[pos_] != '`')) {
      return Error(pos_, "expected a quoted string");
    }
    const char quote = in_[pos_];
    const size_t start = ++pos_;
    for (;;) {
      if (pos_ >= in_.size()) return Error(start - 1, "unterminated quoted string");
      const char c = in_[pos_];
      if (c == quote) break;
      if (c == '\n' && quote != '`') return Error(pos_, "newline in string");
      pos_ += (c == '\\' && quote != '`') ? 2 : 1;
    }
    std::string_view body = in_.substr(start, pos_ - start);
    ++pos_;
    if (quote == '`') return std::string(body);
    auto s = UnquoteGo(body, quote);
    if (!s.ok()) return Error(start, s.status().message());
    return s;
  }

  std::string_view in_;
  size_t pos_ = 0;
};

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

Result<std::vector<Matcher>> ParseSeriesSelector(std::string_view input) {
  return SelectorParser(input).Run();
}

}  // namespace vigil
