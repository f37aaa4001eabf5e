#include "rule_file.h"

#include <gtest/gtest.h>

namespace vigil::alertd {
namespace {

TEST(RuleFileTest, ReadsGroupsAndRules) {
  auto g = ParseRuleFile(R"(groups:
  - name: a
    interval: 30s
    limit: 5
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
        labels: {team: x}
      - alert: Down
        expr: job:up:sum == 0
        for: 5m
        keep_firing_for: 1m
        labels: {severity: page}
        annotations: {summary: "{{ $labels.job }}"}
  - name: logs
    source: logs
    rules:
      - alert: Errors
        expr: sum by (app) (count_over_time({app="x"} |= "error" [5m]))
)",
                         "f.yml");
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  ASSERT_EQ(g->size(), 2u);
  const GroupSpec& a = (*g)[0];
  EXPECT_EQ(a.interval.count(), 30000);
  EXPECT_EQ(a.limit, 5);
  ASSERT_EQ(a.rules.size(), 2u);
  EXPECT_EQ(a.rules[0].record, "job:up:sum");
  EXPECT_EQ(a.rules[1].for_.count(), 300000);
  EXPECT_EQ(a.rules[1].keep_firing_for.count(), 60000);
  EXPECT_EQ(a.rules[1].annotation_templates.size(), 1u);
  EXPECT_EQ(a.rules[1].line, 9);
  EXPECT_EQ((*g)[1].source, Source::kLogs);
}

TEST(RuleFileTest, ErrorsNameFileLineAndRule) {
  struct Case {
    const char* yaml;
    const char* error;
  };
  const Case cases[] = {
      {"groups:\n  - name: a\n    rules:\n      - alert: A\n        expr: up ==\n",
       "f.yml:5:15: group \"a\", rule 1, \"A\": could not parse expression: 1:6: parse error: "},
      {"groups:\n  - name: l\n    source: logs\n    rules:\n      - record: a:b\n        expr: "
       "'{app=\"x\"}'\n",
       "f.yml:6:15: group \"l\", rule 1, \"a:b\": a rule's LogQL must be a metric query"},
      {"groups:\n  - name: l\n    source: logs\n    rules:\n      - record: a:b\n        expr: "
       "'rate({app=\"x\"}[5m'\n",
       "f.yml:6:15: group \"l\", rule 1, \"a:b\": could not parse LogQL expression: "},
      {"groups:\n  - name: a\n    source: traces\n",
       "f.yml:3:13: source: expected logs or metrics"},
      {"groups:\n  - name: a\n    limit: -1\n", "f.yml:3:12: limit: expected a number"},
      {"groups: {}\n", "f.yml:1:9: groups: expected a list"},
      {"rules: []\n", "f.yml:1:1: field rules not found in the file"},
  };
  for (const auto& c : cases) {
    auto g = ParseRuleFile(c.yaml, "f.yml");
    ASSERT_FALSE(g.ok()) << c.yaml;
    EXPECT_EQ(g.status().message().rfind(c.error, 0), 0u)
        << "got: " << g.status().message() << "\nwant: " << c.error;
  }
}

}  // namespace
}  // namespace vigil::alertd
