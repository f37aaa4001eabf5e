#include "vigil/common/matcher.h"

#include <re2/re2.h>

#include <algorithm>

namespace vigil {

std::string_view MatchTypeString(MatchType t) {
  switch (t) {
    case MatchType::kEqual:
      return "=";
    case MatchType::kNotEqual:
      return "!=";
    case MatchType::kRegexMatch:
      return "=~";
    case MatchType::kRegexNoMatch:
      return "!~";
  }
  return "?";
}

namespace {

// Splits a regex that is a plain alternation of literals ("a|b|c") into its literals.
std::optional<std::vector<std::string>> LiteralAlternation(std::string_view re) {
  constexpr std::string_view kMeta = "\\.+*?()[]{}^$";
  if (re.find_first_of(kMeta) != std::string_view::npos) return std::nullopt;
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t bar = re.find('|', start);
    out.emplace_back(re.substr(start, bar == std::string_view::npos ? bar : bar - start));
    if (bar == std::string_view::npos) break;
    start = bar + 1;
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace

Result<Matcher> Matcher::Make(MatchType type, std::string name, std::string value) {
  Matcher m;
  m.type_ = type;
  m.name_ = std::move(name);
  m.value_ = std::move(value);
  if (type == MatchType::kRegexMatch || type == MatchType::kRegexNoMatch) {
    RE2::Options opts;
    opts.set_log_errors(false);
    auto re = std::make_shared<const RE2>("^(?:" + m.value_ + ")$", opts);
    if (!re->ok()) {
      return InvalidArgument("invalid regular expression \"" + m.value_ + "\" for label \"" +
                             m.name_ + "\": " + re->error());
    }
    m.re_ = std::move(re);
    if (m.value_ == ".*") {
      m.fast_ = Fast::kAny;
    } else if (m.value_ == ".+") {
      m.fast_ = Fast::kNonEmpty;
    } else if (auto lits = LiteralAlternation(m.value_)) {
      m.fast_ = Fast::kSet;
      m.set_matches_ = std::move(*lits);
    }
  }
  return m;
}

bool Matcher::Matches(std::string_view v) const {
  switch (type_) {
    case MatchType::kEqual:
      return v == value_;
    case MatchType::kNotEqual:
      return v != value_;
    case MatchType::kRegexMatch:
    case MatchType::kRegexNoMatch: {
      bool matched;
      switch (fast_) {
        // Go's "." does not match "\n" (no (?s) flag in 2.42), so ".*" is only a fast path for
        // values without newlines.
        case Fast::kAny:
          matched = v.find('\n') == std::string_view::npos || RE2::FullMatch(v, *re_);
          break;
        case Fast::kNonEmpty:
          matched =
              !v.empty() && (v.find('\n') == std::string_view::npos || RE2::FullMatch(v, *re_));
          break;
        case Fast::kSet:
          matched = std::binary_search(set_matches_.begin(), set_matches_.end(), v);
          break;
        default:
          matched = RE2::FullMatch(v, *re_);
      }
      return type_ == MatchType::kRegexMatch ? matched : !matched;
    }
  }
  return false;
}

std::string Matcher::ToString() const {
  std::string out = name_;
  out += MatchTypeString(type_);
  AppendQuoted(out, value_);
  return out;
}

std::string SelectorString(const std::vector<Matcher>& matchers) {
  std::string out = "{";
  for (size_t i = 0; i < matchers.size(); ++i) {
    if (i > 0) out += ", ";
    out += matchers[i].ToString();
  }
  return out + "}";
}

}  // namespace vigil
