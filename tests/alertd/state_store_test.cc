#include "state_store.h"

#include <gtest/gtest.h>

#include <cmath>

#include "alert_codec.h"
#include "testing.h"

namespace vigil::alertd {
namespace {

Alert Sample() {
  Alert a;
  a.labels = Labels{{"alertname", "A"}, {"pod", "p"}};
  a.annotations = Labels{{"summary", "x ✓"}};
  a.state = AlertState::kFiring;
  a.value = 0.25;
  a.active_at = 1000;
  a.fired_at = 61000;
  a.last_sent_at = 61000;
  a.valid_until = 301000;
  return a;
}

TEST(AlertCodecTest, RoundTripsAndRefusesDamage) {
  const Alert a = Sample();
  const std::string enc = EncodeAlert(a);
  auto d = DecodeAlert(enc);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->labels, a.labels);
  EXPECT_EQ(d->annotations, a.annotations);
  EXPECT_EQ(d->state, AlertState::kFiring);
  EXPECT_EQ(d->value, 0.25);
  EXPECT_EQ(d->fired_at, 61000);
  EXPECT_EQ(d->resolved_at, kNoTime);
  for (size_t cut = 0; cut < enc.size(); ++cut) {
    EXPECT_EQ(DecodeAlert(enc.substr(0, cut)).status().code(), StatusCode::kCorruption) << cut;
  }
  EXPECT_FALSE(DecodeAlert(enc + "x").ok());
}

TEST(StateStoreTest, SavesAndLoadsEachRulesAlerts) {
  testing::TempDir dir;
  auto specs = ParseRuleFile(
      "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: x > 0\n"
      "      - record: r:x\n        expr: x\n      - alert: A\n        expr: y > 0\n",
      "f.yml");
  ASSERT_TRUE(specs.ok());
  Group g((*specs)[0], 60'000);
  Alert a = Sample();
  Alert b = Sample();
  b.labels = Labels{{"alertname", "A"}, {"pod", "q"}};
  dynamic_cast<AlertingRule&>(*g.rules()[0]).Restore({{a.labels.Hash(), a}});
  dynamic_cast<AlertingRule&>(*g.rules()[2]).Restore({{b.labels.Hash(), b}});
  {
    auto store = StateStore::Open(dir.Join("state"));
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    ASSERT_TRUE((*store)->Save(g).ok());
  }
  auto store = StateStore::Open(dir.Join("state"));
  ASSERT_TRUE(store.ok());
  auto loaded = (*store)->Load(g);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ASSERT_EQ(loaded->size(), 2u);  // the two alerting rules, by place
  EXPECT_EQ((*loaded)[0].begin()->second.labels.Get("pod"), "p");
  EXPECT_EQ((*loaded)[2].begin()->second.labels.Get("pod"), "q");
  // Saving again replaces: an alert gone from a rule is gone from disk.
  dynamic_cast<AlertingRule&>(*g.rules()[2]).Restore({});
  ASSERT_TRUE((*store)->Save(g).ok());
  loaded = (*store)->Load(g);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->size(), 1u);
}

}  // namespace
}  // namespace vigil::alertd
