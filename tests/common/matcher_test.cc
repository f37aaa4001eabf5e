#include "vigil/common/matcher.h"

#include <gtest/gtest.h>

namespace vigil {
namespace {

Matcher M(MatchType t, const char* name, const char* value) {
  auto m = Matcher::Make(t, name, value);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return *m;
}

TEST(MatcherTest, EqualityMatchers) {
  auto eq = M(MatchType::kEqual, "job", "node");
  EXPECT_TRUE(eq.Matches("node"));
  EXPECT_FALSE(eq.Matches("nodes"));
  auto ne = M(MatchType::kNotEqual, "job", "node");
  EXPECT_FALSE(ne.Matches("node"));
  EXPECT_TRUE(ne.Matches(""));
  // An absent label matches as "".
  EXPECT_TRUE(M(MatchType::kEqual, "absent", "").Matches(Labels{{"job", "x"}}));
  EXPECT_EQ(ne.ToString(), R"(job!="node")");
}

TEST(MatcherTest, RegexIsFullyAnchored) {
  auto re = M(MatchType::kRegexMatch, "instance", "web-.*");
  EXPECT_TRUE(re.Matches("web-1"));
  EXPECT_FALSE(re.Matches("xweb-1"));  // anchored at the start
  auto partial = M(MatchType::kRegexMatch, "a", "b");
  EXPECT_FALSE(partial.Matches("abc"));  // and at the end
  auto alt = M(MatchType::kRegexMatch, "a", "x|y");
  EXPECT_FALSE(alt.Matches("xy"));  // ^(?:x|y)$, not ^x|y$
  auto nre = M(MatchType::kRegexNoMatch, "code", "5..");
  EXPECT_TRUE(nre.Matches("200"));
  EXPECT_FALSE(nre.Matches("503"));
}

TEST(MatcherTest, FastPathsAgreeWithTheRegex) {
  auto any = M(MatchType::kRegexMatch, "a", ".*");
  EXPECT_TRUE(any.Matches(""));
  EXPECT_TRUE(any.Matches("x"));
  EXPECT_FALSE(any.Matches("line1\nline2"));  // "." does not match newline, as in Go
  EXPECT_TRUE(any.MatchesEmpty());
  auto nonempty = M(MatchType::kRegexMatch, "a", ".+");
  EXPECT_FALSE(nonempty.Matches(""));
  EXPECT_TRUE(nonempty.Matches("x"));
  EXPECT_FALSE(nonempty.MatchesEmpty());
  auto set = M(MatchType::kRegexMatch, "pod", "b|a|c|a");
  EXPECT_EQ(set.SetMatches(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(set.Matches("c"));
  EXPECT_FALSE(set.Matches("d"));
  EXPECT_TRUE(M(MatchType::kRegexMatch, "a", "a.b").SetMatches().empty());
}

TEST(MatcherTest, BadRegexIsAClearError) {
  auto m = Matcher::Make(MatchType::kRegexMatch, "job", "(unclosed");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(m.status().message().find("invalid regular expression \"(unclosed\""),
            std::string::npos)
      << m.status().message();
}

}  // namespace
}  // namespace vigil
