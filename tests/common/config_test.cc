#include "vigil/common/config.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "testing.h"

namespace vigil {
namespace {

using std::chrono::milliseconds;

TEST(ConfigTest, DefaultsAreBuiltIn) {
  Config c;
  EXPECT_EQ(c.data_dir, "./data");
  EXPECT_EQ(c.tsdb.retention, milliseconds(15LL * 86'400'000));
  EXPECT_EQ(c.agent.log_root, std::vector<std::string>{"/var/log/pods/*/*/*.log"});
  EXPECT_EQ(c.log.level, "info");
  // An empty file keeps them.
  ASSERT_TRUE(LoadConfigText("", "empty.yaml", c).ok());
  EXPECT_EQ(c.tsdb.query_max_samples, 50'000'000u);
}

TEST(ConfigTest, SectionsPerComponent) {
  Config c;
  Status st = LoadConfigText(R"(
data_dir: /var/lib/vigil
log:
  level: debug
  format: json
tsdb:
  retention: 30d
  max_body_bytes: 64MiB
agent:
  remote_write: [http://a:9090/api/v1/write, http://b:9090/api/v1/write]
  interval: 10s
alertd:
  pagerduty_key: abc
logship:
)",
                             "vigil.yaml", c);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(c.data_dir, "/var/lib/vigil");
  EXPECT_EQ(c.log.format, "json");
  EXPECT_EQ(c.tsdb.retention, milliseconds(30LL * 86'400'000));
  EXPECT_EQ(c.tsdb.max_body_bytes, 64u << 20);
  EXPECT_EQ(c.agent.remote_write.size(), 2u);
  EXPECT_EQ(c.agent.interval, milliseconds(10'000));
  EXPECT_EQ(c.alertd.pagerduty_key, "abc");
  EXPECT_EQ(c.logship.kafka_topic, "vigil-logs");  // untouched default
}

TEST(ConfigTest, FlagsOverrideTheFile) {
  Config c;
  ASSERT_TRUE(LoadConfigText("tsdb:\n  retention: 30d\n", "f.yaml", c).ok());
  ASSERT_TRUE(ApplyOverride("tsdb.retention", {"2h"}, c).ok());
  EXPECT_EQ(c.tsdb.retention, milliseconds(7'200'000));
  ASSERT_TRUE(ApplyOverride("agent.remote_write", {"http://x/1", "http://x/2"}, c).ok());
  EXPECT_EQ(c.agent.remote_write, (std::vector<std::string>{"http://x/1", "http://x/2"}));
  Status bad = ApplyOverride("tsdb.retention", {"soon"}, c);
  EXPECT_NE(bad.message().find("expected a duration"), std::string::npos) << bad.message();
  // Every flag of every component names a key the table knows.
  for (const char* comp : {"", "agent", "tsdb", "logship", "alertd"}) {
    for (const auto& f : Flags(comp)) {
      Config scratch;
      Status s = ApplyOverride(f.key, {}, scratch);
      EXPECT_EQ(s.message().find("unknown configuration key"), std::string::npos) << f.key;
    }
  }
}

TEST(ConfigTest, BadFilesNameFileLineColumnAndWhatWasExpected) {
  Config c;
  Status wrong_type = LoadConfigText("tsdb:\n  retention: forever\n", "vigil.yaml", c);
  EXPECT_EQ(wrong_type.message(),
            "vigil.yaml:2:14: tsdb.retention: expected a duration such as 30s, 5m or 15d, got "
            "\"forever\"");
  Status unknown = LoadConfigText("tsdb:\n  retension: 1d\n", "vigil.yaml", c);
  EXPECT_NE(unknown.message().find("vigil.yaml:2:3: unknown key \"tsdb.retension\""),
            std::string::npos)
      << unknown.message();
  EXPECT_NE(unknown.message().find("retention"), std::string::npos);
  Status broken = LoadConfigText("tsdb:\n  retention: [1d\n", "vigil.yaml", c);
  EXPECT_EQ(broken.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(broken.message().find("vigil.yaml:3:"), std::string::npos) << broken.message();
  EXPECT_NE(broken.message().find("invalid YAML"), std::string::npos);
  Status tabs = LoadConfigText("log:\n\tlevel: debug\n", "t.yaml", c);
  EXPECT_NE(tabs.message().find("t.yaml:"), std::string::npos) << tabs.message();
  Status choice = LoadConfigText("log: {level: loud}", "c.yaml", c);
  EXPECT_NE(choice.message().find("expected one of trace debug info warn error off"),
            std::string::npos)
      << choice.message();
  Status list = LoadConfigText("agent: {remote_write: {a: b}}", "l.yaml", c);
  EXPECT_NE(list.message().find("expected a list of strings, got a mapping"), std::string::npos);
  Status not_map = LoadConfigText("- a\n- b\n", "s.yaml", c);
  EXPECT_NE(not_map.message().find("expected a mapping"), std::string::npos);
}

TEST(ConfigTest, LoadsFromFile) {
  testing::TempDir dir;
  dir.Write("v.yaml", "alertd:\n  eval_interval: 30s\n");
  Config c;
  ASSERT_TRUE(LoadConfigFile(dir.Join("v.yaml"), c).ok());
  EXPECT_EQ(c.alertd.eval_interval, milliseconds(30'000));
  EXPECT_EQ(LoadConfigFile(dir.Join("missing.yaml"), c).code(), StatusCode::kNotFound);
}

TEST(ConfigTest, ParseBytes) {
  EXPECT_EQ(*ParseBytes("1024"), 1024u);
  EXPECT_EQ(*ParseBytes("2KiB"), 2048u);
  EXPECT_EQ(*ParseBytes("1GB"), 1ULL << 30);
  EXPECT_FALSE(ParseBytes("12 parsecs").ok());
  EXPECT_FALSE(ParseBytes("MB").ok());
  EXPECT_FALSE(ParseBytes("99999999999TiB").ok());
}

}  // namespace
}  // namespace vigil

namespace vigil {
namespace {

// docs/configuration.md holds ConfigReference() between its markers; VIGIL_UPDATE_DOCS=1
// rewrites it there.
TEST(ConfigReferenceTest, TheDocsHoldEveryKeyAsTheCodeHasIt) {
  const std::string path = std::string(VIGIL_SOURCE_DIR) + "/docs/configuration.md";
  std::ifstream in(path);
  std::stringstream buf;
  buf << in.rdbuf();
  std::string doc = buf.str();
  const std::string begin = "<!-- generated by ConfigReference(): do not edit -->\n";
  const std::string end = "<!-- end of the generated reference -->";
  const size_t a = doc.find(begin), b = doc.find(end);
  ASSERT_NE(a, std::string::npos) << path;
  ASSERT_NE(b, std::string::npos) << path;
  const std::string want = ConfigReference() + "\n";
  const std::string have = doc.substr(a + begin.size(), b - a - begin.size());
  if (have != want && std::getenv("VIGIL_UPDATE_DOCS") != nullptr) {
    doc.replace(a + begin.size(), b - a - begin.size(), want);
    std::ofstream(path) << doc;
    return;
  }
  EXPECT_EQ(have, want) << "docs/configuration.md is out of date: run "
                           "VIGIL_UPDATE_DOCS=1 build/tests/common_test "
                           "--gtest_filter=ConfigReferenceTest.*";
  for (const char* key : {"tsdb.retention", "alertd.resend_delay", "agent.log_root"}) {
    EXPECT_NE(want.find(std::string("`") + key + "`"), std::string::npos) << key;
  }
}

}  // namespace
}  // namespace vigil
