#include "vigil/common/logging.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

namespace vigil {
namespace {

TEST(LoggingTest, RejectsUnknownLevelsAndFormats) {
  EXPECT_NE(InitLogging("loud", "text").message().find("unknown log level \"loud\""),
            std::string::npos);
  EXPECT_NE(InitLogging("info", "xml").message().find("unknown log format \"xml\""),
            std::string::npos);
}

TEST(LoggingTest, JsonLinesAreValidJson) {
  ASSERT_TRUE(InitLogging("debug", "json").ok());
  ::testing::internal::CaptureStderr();
  spdlog::info("quote \" backslash \\ newline \n tab \t ctrl \x01 done {}", 42);
  spdlog::debug("second");
  spdlog::default_logger()->flush();
  std::string out = ::testing::internal::GetCapturedStderr();
  auto nl = out.find('\n');
  ASSERT_NE(nl, std::string::npos);
  auto j = nlohmann::json::parse(out.substr(0, nl));
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["msg"], "quote \" backslash \\ newline \n tab \t ctrl \x01 done 42");
  EXPECT_EQ(j["ts"].get<std::string>().size(), 24u);  // 2026-01-02T03:04:05.678Z
  auto j2 = nlohmann::json::parse(out.substr(nl + 1));
  EXPECT_EQ(j2["msg"], "second");
  ASSERT_TRUE(InitLogging("warn", "text").ok());
  ::testing::internal::CaptureStderr();
  spdlog::info("hidden");
  spdlog::warn("shown");
  spdlog::default_logger()->flush();
  out = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(out.find("hidden"), std::string::npos);
  EXPECT_NE(out.find("warning shown"), std::string::npos) << out;
}

}  // namespace
}  // namespace vigil
