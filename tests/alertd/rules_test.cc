#include "rules.h"

#include <gtest/gtest.h>

#include "vigil/common/stale.h"

namespace vigil::alertd {
namespace {

// A query source whose answer the test sets (a unit test of the rules alone).
class ScriptedSource final : public QuerySource {
 public:
  std::vector<Sample> answer;
  Result<std::vector<Sample>> Query(std::string_view, int64_t) override { return answer; }
};

RuleSpec AlertSpec(int64_t for_ms, int64_t keep_ms = 0) {
  auto g = ParseRuleFile(
      "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: x > 0\n"
      "        for: " +
          std::to_string(for_ms) + "ms\n        keep_firing_for: " + std::to_string(keep_ms) +
          "ms\n        annotations: {v: '{{ $value }}'}\n",
      "t.yml");
  EXPECT_TRUE(g.ok()) << g.status().ToString();
  return (*g)[0].rules[0];
}

constexpr int64_t kMin = 60'000;

TEST(AlertingRuleTest, PendingThenFiringWithSeries) {
  ScriptedSource src;
  AlertingRule rule(AlertSpec(2 * kMin));
  src.answer = {{Labels{{"__name__", "x"}, {"pod", "p"}}, 3}};
  EvalContext ctx{0, &src, {}, "", 0};
  auto out = rule.Eval(ctx);
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->size(), 2u);
  EXPECT_EQ((*out)[0].labels.ToString(),
            R"({__name__="ALERTS", alertname="A", alertstate="pending", pod="p"})");
  EXPECT_EQ((*out)[1].labels.ToString(),
            R"({__name__="ALERTS_FOR_STATE", alertname="A", pod="p"})");
  EXPECT_EQ((*out)[1].value, 0);
  EXPECT_TRUE(rule.TakeAlertsToSend(0, kMin, kMin).empty()) << "pending alerts are not sent";
  ctx.t_ms = kMin;
  ASSERT_TRUE(rule.Eval(ctx).ok());
  EXPECT_EQ(rule.alerts().begin()->second.state, AlertState::kPending);
  ctx.t_ms = 2 * kMin;
  src.answer[0].value = 7;
  out = rule.Eval(ctx);
  ASSERT_TRUE(out.ok());
  const Alert& a = rule.alerts().begin()->second;
  EXPECT_EQ(a.state, AlertState::kFiring);
  EXPECT_EQ(a.fired_at, 2 * kMin);
  EXPECT_EQ(a.active_at, 0);
  EXPECT_EQ(a.annotations.Get("v"), "7");
  EXPECT_EQ((*out)[0].labels.Get("alertstate"), "firing");
}

TEST(AlertingRuleTest, ResendsFiringAndResolvedForFifteenMinutes) {
  ScriptedSource src;
  AlertingRule rule(AlertSpec(0));
  src.answer = {{Labels{{"pod", "p"}}, 1}};
  EvalContext ctx{0, &src, {}, "", 0};
  ASSERT_TRUE(rule.Eval(ctx).ok());
  auto sent = rule.TakeAlertsToSend(0, kMin, 15'000);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].valid_until, 4 * kMin);
  EXPECT_TRUE(rule.TakeAlertsToSend(kMin, kMin, 15'000).empty()) << "not before the resend delay";
  EXPECT_EQ(rule.TakeAlertsToSend(kMin + 1, kMin, 15'000).size(), 1u);
  // Resolved: sent at once, then every resend delay, and forgotten after 15 minutes.
  src.answer.clear();
  ctx.t_ms = 2 * kMin;
  auto out = rule.Eval(ctx);
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out->empty());
  sent = rule.TakeAlertsToSend(2 * kMin, kMin, 15'000);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].state, AlertState::kInactive);
  EXPECT_EQ(sent[0].resolved_at, 2 * kMin);
  ctx.t_ms = 17 * kMin;
  ASSERT_TRUE(rule.Eval(ctx).ok());
  EXPECT_EQ(rule.alerts().size(), 1u) << "kept for 15 minutes";
  ctx.t_ms = 17 * kMin + 1;
  ASSERT_TRUE(rule.Eval(ctx).ok());
  EXPECT_TRUE(rule.alerts().empty());
}

TEST(AlertingRuleTest, KeepFiringFor) {
  ScriptedSource src;
  AlertingRule rule(AlertSpec(0, 2 * kMin));
  src.answer = {{Labels{{"pod", "p"}}, 1}};
  EvalContext ctx{0, &src, {}, "", 0};
  ASSERT_TRUE(rule.Eval(ctx).ok());
  src.answer.clear();
  for (int64_t t : {kMin, 2 * kMin}) {
    ctx.t_ms = t;
    ASSERT_TRUE(rule.Eval(ctx).ok());
    EXPECT_EQ(rule.alerts().begin()->second.state, AlertState::kFiring) << t;
  }
  ctx.t_ms = 3 * kMin;
  ASSERT_TRUE(rule.Eval(ctx).ok());
  EXPECT_EQ(rule.alerts().begin()->second.state, AlertState::kInactive);
}

TEST(AlertingRuleTest, DuplicateLabelSetsAndLimit) {
  ScriptedSource src;
  AlertingRule rule(AlertSpec(0));
  // The same labels once __name__ is dropped.
  src.answer = {{Labels{{"__name__", "a"}, {"pod", "p"}}, 1},
                {Labels{{"__name__", "b"}, {"pod", "p"}}, 1}};
  EvalContext ctx{0, &src, {}, "", 0};
  auto r = rule.Eval(ctx);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("same labelset"), std::string::npos);
  src.answer = {{Labels{{"pod", "p"}}, 1}, {Labels{{"pod", "q"}}, 1}};
  ctx.limit = 1;
  r = rule.Eval(ctx);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "exceeded limit of 1 with 2 alerts");
  EXPECT_TRUE(rule.alerts().empty());
}

TEST(GroupTest, StaleMarkersForSeriesThatStop) {
  auto specs = ParseRuleFile(
      "groups:\n  - name: g\n    rules:\n      - record: r:x\n        expr: x\n", "t.yml");
  ASSERT_TRUE(specs.ok());
  Group g((*specs)[0], kMin);
  ScriptedSource src;
  std::vector<OutSample> written;
  WriteFunc write = [&](std::vector<OutSample> s) {
    written.insert(written.end(), s.begin(), s.end());
    return Status::Ok();
  };
  src.answer = {{Labels{{"__name__", "x"}, {"pod", "p"}}, 1},
                {Labels{{"__name__", "x"}, {"pod", "q"}}, 2}};
  EvalContext ctx{0, &src, {}, "", 0};
  g.Eval(ctx, kMin, write, nullptr);
  ASSERT_EQ(written.size(), 2u);
  EXPECT_EQ(written[0].labels.ToString(), R"({__name__="r:x", pod="p"})");
  written.clear();
  src.answer.pop_back();
  ctx.t_ms = kMin;
  g.Eval(ctx, kMin, write, nullptr);
  ASSERT_EQ(written.size(), 2u);
  EXPECT_EQ(written[1].labels.Get("pod"), "q");
  EXPECT_TRUE(IsStaleNaN(written[1].value));
  EXPECT_EQ(g.rules()[0]->health(), RuleHealth::kOk);
}

TEST(GroupTest, AlignedEvaluationTimes) {
  auto specs = ParseRuleFile("groups:\n  - name: g\n    interval: 15s\n", "t.yml");
  ASSERT_TRUE(specs.ok());
  Group g((*specs)[0], kMin);
  EXPECT_EQ(g.interval_ms(), 15'000);
  const int64_t a = g.EvalTimestamp(1'700'000'000'123);
  EXPECT_LE(a, 1'700'000'000'123);
  EXPECT_GT(a, 1'700'000'000'123 - 15'000);
  EXPECT_EQ(g.EvalTimestamp(a + 14'999), a);
  EXPECT_EQ(g.EvalTimestamp(a + 15'000), a + 15'000);
}

}  // namespace
}  // namespace vigil::alertd
