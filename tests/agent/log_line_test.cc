#include "log_line.h"

#include <gtest/gtest.h>

namespace vigil::agent {
namespace {

TEST(LogLineTest, CriLines) {
  auto l = ParseCriLine("2026-11-30T05:55:18.123456789Z stdout F GET / 200");
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  EXPECT_EQ(l->ts_ns, 1796018118123456789);
  EXPECT_EQ(l->stream, "stdout");
  EXPECT_FALSE(l->partial);
  EXPECT_EQ(l->message, "GET / 200");
  l = ParseCriLine("2026-11-30T06:55:18.5+01:00 stderr P part one ");
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  EXPECT_EQ(l->ts_ns, 1796018118500000000);
  EXPECT_TRUE(l->partial);
  EXPECT_EQ(l->message, "part one ");
  l = ParseCriLine("2026-11-30T05:55:18Z stdout F");  // an empty line
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->message, "");
  l = ParseCriLine("2026-11-30T05:55:18Z stdout F:x tagged");  // newer runtimes' extra tags
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->message, "tagged");

  auto err = [](std::string_view line) { return ParseCriLine(line).status().message(); };
  EXPECT_NE(err("garbage").find("no space after the timestamp"), std::string::npos);
  EXPECT_NE(err("yesterday stdout F x").find("at byte 0: cannot parse \"yesterday\""),
            std::string::npos)
      << err("yesterday stdout F x");
  EXPECT_NE(
      err("2026-11-30T05:55:18Z stdin F x").find("at byte 21: stream must be stdout or stderr"),
      std::string::npos)
      << err("2026-11-30T05:55:18Z stdin F x");
  EXPECT_NE(err("2026-11-30T05:55:18Z stdout X x").find("tag must be P or F"), std::string::npos);
}

TEST(LogLineTest, DockerLines) {
  auto l = ParseDockerLine(
      R"({"log":"hello \"world\"\n","stream":"stderr","time":"2026-11-30T05:55:18.000000001Z"})");
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  EXPECT_EQ(l->ts_ns, 1796018118000000001);
  EXPECT_EQ(l->stream, "stderr");
  EXPECT_FALSE(l->partial);
  EXPECT_EQ(l->message, "hello \"world\"");
  l = ParseDockerLine(
      R"({"log":"no newline: a piece","stream":"stdout","time":"2026-11-30T05:55:18Z"})");
  ASSERT_TRUE(l.ok());
  EXPECT_TRUE(l->partial);
  EXPECT_NE(ParseDockerLine("{\"log\":1}").status().message().find("expected an object"),
            std::string::npos);
  EXPECT_NE(ParseDockerLine("{not json").status().message().find("docker log line \"{not json\""),
            std::string::npos);
  EXPECT_EQ(DetectFormat(R"({"log":"x"})"), LogFormat::kDocker);
  EXPECT_EQ(DetectFormat("2026-11-30T05:55:18Z stdout F x"), LogFormat::kCri);
}

TEST(LogLineTest, PartialsJoinPerStreamUpToTheLimit) {
  PartialJoiner j(10);
  LogLine out;
  bool truncated = false;
  auto piece = [](int64_t ts, std::string_view stream, bool partial, std::string msg) {
    LogLine l;
    l.ts_ns = ts;
    l.stream = stream;
    l.partial = partial;
    l.message = std::move(msg);
    return l;
  };
  EXPECT_FALSE(j.Add(piece(1, "stdout", true, "ab"), out, truncated));
  // A whole stderr line in between does not disturb stdout's pending one.
  ASSERT_TRUE(j.Add(piece(2, "stderr", false, "err"), out, truncated));
  EXPECT_EQ(out.message, "err");
  EXPECT_FALSE(j.Add(piece(3, "stdout", true, "cd"), out, truncated));
  ASSERT_TRUE(j.Add(piece(4, "stdout", false, "ef"), out, truncated));
  EXPECT_EQ(out.message, "abcdef");
  EXPECT_EQ(out.ts_ns, 1);  // the first piece's time
  EXPECT_FALSE(truncated);
  // Past the limit: cut, handed out, and the rest of that line dropped.
  EXPECT_FALSE(j.Add(piece(5, "stdout", true, "0123456"), out, truncated));
  ASSERT_TRUE(j.Add(piece(6, "stdout", true, "789abc"), out, truncated));
  EXPECT_TRUE(truncated);
  EXPECT_EQ(out.message, "0123456789");
  EXPECT_FALSE(j.Add(piece(7, "stdout", true, "more"), out, truncated));
  EXPECT_FALSE(j.Add(piece(8, "stdout", false, "end"), out, truncated));
  ASSERT_TRUE(j.Add(piece(9, "stdout", false, "next"), out, truncated));
  EXPECT_EQ(out.message, "next");
  // A whole line over the limit is cut too; a pending one is flushed at the end of a file.
  ASSERT_TRUE(j.Add(piece(10, "stdout", false, "0123456789xyz"), out, truncated));
  EXPECT_TRUE(truncated);
  EXPECT_EQ(out.message.size(), 10u);
  EXPECT_FALSE(j.Add(piece(11, "stderr", true, "half"), out, truncated));
  ASSERT_TRUE(j.Flush("stderr", out));
  EXPECT_EQ(out.message, "half");
  EXPECT_FALSE(j.Flush("stderr", out));
}

}  // namespace
}  // namespace vigil::agent
