// `vigil rules check` and `vigil rules test` against promtool 2.42 on the same files
// (tests/alertd/testdata): every file gets the same verdict from both, and the verdict its
// name promises (pass_*, fail_*; stricter_* are rule files promtool accepts and vigil refuses).

#include <gtest/gtest.h>

#include <filesystem>

#include "testing.h"

namespace vigil {
namespace {

namespace fs = std::filesystem;

const fs::path kTestdata = fs::path(VIGIL_SOURCE_DIR) / "tests" / "alertd" / "testdata";

std::vector<fs::path> Files(const fs::path& dir, const std::string& suffix) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.ends_with(suffix) &&
        (name.starts_with("pass_") || name.starts_with("fail_") || name.starts_with("stricter_"))) {
      out.push_back(e.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

int Want(const fs::path& f) { return f.filename().string().starts_with("pass_") ? 0 : 1; }

TEST(RulesCliTest, TestVerdictsMatchPromtool) {
  ASSERT_TRUE(testing::HaveProgram("promtool")) << "promtool is installed by scripts/setup.sh";
  const auto files = Files(kTestdata / "promtool", "_test.yml");
  ASSERT_GE(files.size(), 10u);
  for (const auto& f : files) {
    // Both run in the file's directory, as a user would.
    auto vigil = testing::Run({"sh", "-c",
                               "cd " + f.parent_path().string() + " && " + VIGIL_BINARY +
                                   " rules test " + f.filename().string()});
    auto promtool = testing::Run(
        {"sh", "-c",
         "cd " + f.parent_path().string() + " && promtool test rules " + f.filename().string()});
    EXPECT_EQ(vigil.exit_code, Want(f)) << f << "\n" << vigil.out << vigil.err;
    EXPECT_EQ(promtool.exit_code, Want(f)) << f << "\n" << promtool.out << promtool.err;
    EXPECT_EQ(vigil.exit_code, promtool.exit_code) << f;
    if (Want(f) == 1) {
      EXPECT_NE(vigil.out.find("FAILED"), std::string::npos) << vigil.out;
    }
  }
}

TEST(RulesCliTest, CheckVerdictsMatchPromtool) {
  ASSERT_TRUE(testing::HaveProgram("promtool"));
  std::vector<fs::path> files = Files(kTestdata / "check", ".yml");
  // The rule files the test suite loads, too (rules.yml, templates.yml, bad_*.yml).
  for (const auto& e : fs::directory_iterator(kTestdata / "promtool")) {
    const std::string name = e.path().filename().string();
    if (!name.ends_with("_test.yml")) files.push_back(e.path());
  }
  ASSERT_GE(files.size(), 12u);
  for (const auto& f : files) {
    const std::string name = f.filename().string();
    auto vigil = testing::Run({VIGIL_BINARY, "rules", "check", f.string()});
    auto promtool = testing::Run({"promtool", "check", "rules", f.string()});
    const bool bad = name.starts_with("bad_") || name.starts_with("fail_");
    if (name.starts_with("stricter_")) {
      EXPECT_EQ(promtool.exit_code, 0) << f << promtool.out << promtool.err;
      EXPECT_EQ(vigil.exit_code, 1) << f << vigil.out;
      continue;
    }
    EXPECT_EQ(vigil.exit_code, bad ? 1 : 0) << f << "\n" << vigil.out << vigil.err;
    EXPECT_EQ(vigil.exit_code, promtool.exit_code) << f << "\n" << promtool.out << promtool.err;
    if (bad) {
      // The error names the file and the line.
      EXPECT_NE(vigil.out.find(f.string() + ":"), std::string::npos) << vigil.out;
    }
  }
}

// The default rule pack (alertd/rules): every rule file checks, every test file passes with
// `vigil rules test`, and the PromQL ones with promtool too (log rules are vigil's own).
TEST(RulesCliTest, DefaultRulePackPasses) {
  ASSERT_TRUE(testing::HaveProgram("promtool"));
  const fs::path pack = fs::path(VIGIL_SOURCE_DIR) / "alertd" / "rules";
  size_t rule_files = 0, test_files = 0;
  for (const auto& e : fs::directory_iterator(pack)) {
    if (!e.path().string().ends_with(".rules.yml")) continue;
    ++rule_files;
    auto vigil = testing::Run({VIGIL_BINARY, "rules", "check", e.path().string()});
    EXPECT_EQ(vigil.exit_code, 0) << vigil.out;
    if (testing::ReadFileOrEmpty(e.path().string()).find("source: logs") != std::string::npos) {
      continue;
    }
    auto promtool = testing::Run({"promtool", "check", "rules", e.path().string()});
    EXPECT_EQ(promtool.exit_code, 0) << promtool.out << promtool.err;
  }
  for (const auto& e : fs::directory_iterator(pack / "tests")) {
    if (!e.path().string().ends_with("_test.yml")) continue;
    ++test_files;
    const std::string cd = "cd " + e.path().parent_path().string() + " && ";
    auto vigil = testing::Run(
        {"sh", "-c", cd + VIGIL_BINARY + " rules test " + e.path().filename().string()});
    EXPECT_EQ(vigil.exit_code, 0) << vigil.out;
    if (testing::ReadFileOrEmpty(e.path().string()).find("input_logs") != std::string::npos) {
      continue;
    }
    auto promtool =
        testing::Run({"sh", "-c", cd + "promtool test rules " + e.path().filename().string()});
    EXPECT_EQ(promtool.exit_code, 0) << promtool.out << promtool.err;
  }
  EXPECT_EQ(rule_files, 4u);
  EXPECT_EQ(test_files, 4u);
}

}  // namespace
}  // namespace vigil
