#pragma once

// Label matchers of PromQL selectors: =, !=, =~, !~. Regular expressions are RE2 syntax, fully
// anchored as Prometheus anchors them ("^(?:re)$"). Immutable and cheap to copy (the compiled
// regex is shared); safe to use from many threads.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/common/labels.h"
#include "vigil/common/status.h"

namespace re2 {
class RE2;
}

namespace vigil {

enum class MatchType { kEqual, kNotEqual, kRegexMatch, kRegexNoMatch };

std::string_view MatchTypeString(MatchType t);  // "=", "!=", "=~", "!~"

class Matcher {
 public:
  // Fails with InvalidArgument if a regex does not compile (the message says why and where).
  static Result<Matcher> Make(MatchType type, std::string name, std::string value);

  // Whether a label value matches; an absent label is matched as "" (Prometheus semantics).
  bool Matches(std::string_view value) const;
  // Matches(labels.Get(name())).
  bool Matches(const Labels& labels) const { return Matches(labels.Get(name_)); }

  MatchType type() const { return type_; }
  const std::string& name() const { return name_; }
  const std::string& value() const { return value_; }

  // For =~ with a literal alternation ("a|b|c", or one literal), the values it matches, so an
  // index can look them up instead of scanning every value. Empty otherwise.
  const std::vector<std::string>& SetMatches() const { return set_matches_; }
  // True when the matcher matches the empty string (and so series without the label).
  bool MatchesEmpty() const { return Matches(std::string_view()); }

  // name="value" with Go quoting, as in a PromQL selector.
  std::string ToString() const;

 private:
  Matcher() = default;

  MatchType type_ = MatchType::kEqual;
  std::string name_;
  std::string value_;
  std::shared_ptr<const re2::RE2> re_;
  std::vector<std::string> set_matches_;
  // Fast paths decided at construction.
  enum class Fast { kNone, kAny, kNonEmpty, kSet } fast_ = Fast::kNone;
};

// A selector of matchers, {a="x", b=~"y"}, as PromQL and LogQL write one.
std::string SelectorString(const std::vector<Matcher>& matchers);

}  // namespace vigil
