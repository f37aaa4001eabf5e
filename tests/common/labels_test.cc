#include "vigil/common/labels.h"
#include "vigil/common/json_text.h"

#include <gtest/gtest.h>

namespace vigil {
namespace {

TEST(LabelsTest, SortedAndLookup) {
  Labels l{{"job", "node"}, {"__name__", "up"}, {"instance", "a:9100"}};
  ASSERT_EQ(l.size(), 3u);
  EXPECT_EQ(l[0].name, "__name__");
  EXPECT_EQ(l[1].name, "instance");
  EXPECT_EQ(l.MetricName(), "up");
  EXPECT_EQ(l.Get("job"), "node");
  EXPECT_EQ(l.Get("absent"), "");
  EXPECT_TRUE(l.Has("job"));
  EXPECT_FALSE(l.Has("absent"));
  EXPECT_EQ(l.ToString(), R"({__name__="up", instance="a:9100", job="node"})");
}

TEST(LabelsTest, FromPairsRejectsDuplicates) {
  auto r = Labels::FromPairs({{"a", "1"}, {"b", "2"}, {"a", "3"}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("duplicate label name \"a\""), std::string::npos);
}

TEST(LabelsTest, HashIsStableAndOrderIndependent) {
  Labels a{{"__name__", "up"}, {"job", "node"}};
  Labels b{{"job", "node"}, {"__name__", "up"}};
  EXPECT_EQ(a.Hash(), b.Hash());
  // Pinned: the hash may be persisted, so it must never change between builds.
  EXPECT_EQ(a.Hash(), 0x85d666c28b445bb9ULL) << std::hex << a.Hash();
  // The separator keeps {ab=c} and {a=bc} apart.
  EXPECT_NE((Labels{{"ab", "c"}}).Hash(), (Labels{{"a", "bc"}}).Hash());
}

TEST(LabelsTest, BuilderSetsAndDeletes) {
  Labels base{{"__name__", "x"}, {"a", "1"}};
  Labels out = LabelsBuilder(base).Set("b", "2").Set("a", "3").Del("__name__").Build();
  EXPECT_EQ(out, (Labels{{"a", "3"}, {"b", "2"}}));
  EXPECT_EQ(LabelsBuilder(out).Set("a", "").Build(), (Labels{{"b", "2"}}));
}

TEST(LabelsTest, ValidationAsPrometheus) {
  EXPECT_TRUE(IsValidLabelName("_a1"));
  EXPECT_TRUE(IsValidLabelName("__name__"));
  EXPECT_FALSE(IsValidLabelName("1a"));
  EXPECT_FALSE(IsValidLabelName("a:b"));
  EXPECT_FALSE(IsValidLabelName(""));
  EXPECT_FALSE(IsValidLabelName("a-b"));
  EXPECT_TRUE(IsValidMetricName("node:cpu:rate5m"));
  EXPECT_FALSE(IsValidMetricName("0up"));
  EXPECT_TRUE(IsValidUtf8("héllo ✓"));
  EXPECT_FALSE(IsValidUtf8("\xff"));
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));      // overlong
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));  // surrogate
  EXPECT_FALSE(IsValidUtf8("ab\xe2\x82"));    // truncated

  EXPECT_TRUE(ValidateLabels(Labels{{"__name__", "up"}, {"job", "x"}}, true).ok());
  Status no_name = ValidateLabels(Labels{{"job", "x"}}, true);
  EXPECT_NE(no_name.message().find("no metric name"), std::string::npos);
  Status bad_name = ValidateLabels(Labels{{"__name__", "up"}, {"bad-name", "x"}}, true);
  EXPECT_NE(bad_name.message().find("invalid label name \"bad-name\""), std::string::npos);
  Status bad_value = ValidateLabels(Labels{{"__name__", "up"}, {"v", "a\xff"}}, true);
  EXPECT_NE(bad_value.message().find("invalid UTF-8 in the value of label \"v\" at byte 1"),
            std::string::npos)
      << bad_value.message();
  Status empty = ValidateLabels(Labels{{"__name__", "up"}, {"v", ""}}, true);
  EXPECT_FALSE(empty.ok());
}

TEST(LabelsTest, QuotesLikeGo) {
  std::string out;
  AppendQuoted(out, "a\"b\\c\nd\x01");
  EXPECT_EQ(out, R"("a\"b\\c\nd\x01")");
}

TEST(JsonTextTest, StringsAreEscapedAndMadeValidUtf8) {
  std::string out;
  AppendJsonString(out, "a\"b\\c\n\t\x01 é \xff end");
  EXPECT_EQ(out, "\"a\\\"b\\\\c\\n\\t\\u0001 é \xEF\xBF\xBD end\"");
}

TEST(LabelsTest, ToValidUtf8ReplacesEachBadByte) {
  EXPECT_EQ(ToValidUtf8("plain"), "plain");
  EXPECT_EQ(ToValidUtf8("caf\xc3\xa9"), "caf\xc3\xa9");
  EXPECT_EQ(ToValidUtf8("a\xff"
                        "b\xc3"),
            "a\xEF\xBF\xBD"
            "b\xEF\xBF\xBD");
}

}  // namespace
}  // namespace vigil
