// LogFollower on the real filesystem (and MemFileSystem for inode reuse): appends, lines under
// way, rename-and-create with late writes to the old file, copytruncate, resuming from a saved
// position, inode reuse, overlong lines.

#include "log_follower.h"

#include <gtest/gtest.h>

#include <fstream>

#include "testing.h"

namespace vigil::agent {
namespace {

using std::chrono::milliseconds;

class LogFollowerTest : public ::testing::Test {
 protected:
  void Append(const std::string& name, const std::string& text) {
    std::ofstream(dir_.Join(name), std::ios::app) << text;
  }
  std::vector<std::string> Poll(LogFollower& f, size_t max_bytes = 1 << 20) {
    std::vector<FollowedLine> lines;
    Status st = f.Poll(lines, max_bytes);
    EXPECT_TRUE(st.ok()) << st.ToString();
    std::vector<std::string> out;
    for (auto& l : lines) out.push_back(l.text);
    last_ = lines.empty() ? last_ : lines.back().end;
    return out;
  }
  LogFollower::Options Opts() {
    LogFollower::Options o;
    o.fingerprint_bytes = 16;
    o.rotate_wait = milliseconds(1000);
    return o;
  }
  testing::TempDir dir_;
  std::shared_ptr<ManualClock> clock_ = std::make_shared<ManualClock>();
  FilePosition last_;
};

using Lines = std::vector<std::string>;

TEST_F(LogFollowerTest, AppendsAndALineUnderWay) {
  LogFollower f(RealFileSystem(), clock_, dir_.Join("a.log"), Opts());
  EXPECT_EQ(Poll(f), Lines{});  // not there yet: nothing, no error
  Append("a.log", "one\ntwo\nthr");
  EXPECT_EQ(Poll(f), (Lines{"one", "two"}));
  EXPECT_EQ(Poll(f), Lines{});
  Append("a.log", "ee\r\nfour\n");
  EXPECT_EQ(Poll(f), (Lines{"three", "four"}));
  EXPECT_EQ(last_.offset, 20u);
}

TEST_F(LogFollowerTest, RenameAndCreateReadsTheOldFileToItsEnd) {
  LogFollower f(RealFileSystem(), clock_, dir_.Join("a.log"), Opts());
  Append("a.log", "old 1 .............\n");
  EXPECT_EQ(Poll(f), Lines{"old 1 ............."});
  ASSERT_TRUE(RealFileSystem()->Rename(dir_.Join("a.log"), dir_.Join("a.log.1")).ok());
  Append("a.log", "new 1 .............\n");
  Append("a.log.1", "old 2 (late)\n");  // the writer still had the old file open
  EXPECT_EQ(Poll(f), Lines{"old 2 (late)"});
  EXPECT_EQ(Poll(f), Lines{});  // within rotate_wait: still on the old file
  clock_->Advance(milliseconds(1500));
  EXPECT_EQ(Poll(f), Lines{});  // switched
  auto h = f.TakeHandover();    // the owner may look for files rotated in between
  ASSERT_TRUE(h.has_value());
  EXPECT_FALSE(h->replaced);
  EXPECT_TRUE(LogFollower::Holds(*RealFileSystem(), dir_.Join("a.log.1"), *h, 16));
  EXPECT_FALSE(LogFollower::Holds(*RealFileSystem(), dir_.Join("a.log"), *h, 16));
  EXPECT_EQ(Poll(f), Lines{"new 1 ............."});
  EXPECT_EQ(f.rotations(), 1u);
  EXPECT_FALSE(f.TakeHandover().has_value());
}

TEST_F(LogFollowerTest, CopytruncateStartsAgainAtZeroAndSaysWhereTheCopyStarts) {
  LogFollower f(RealFileSystem(), clock_, dir_.Join("a.log"), Opts());
  Append("a.log", "first line .........\nsecond\n");
  EXPECT_EQ(Poll(f).size(), 2u);
  Append("a.log", "unread third\n");
  // logrotate's copytruncate: a copy, then the file cut to 0.
  testing::WriteFile(dir_.Join("a.log.1"), testing::ReadFileOrEmpty(dir_.Join("a.log")));
  testing::WriteFile(dir_.Join("decoy"), "first line ....\nsecond\nunread third\n");
  ASSERT_TRUE(RealFileSystem()->Truncate(dir_.Join("a.log"), 0).ok());
  Append("a.log", "after truncate .....\n");
  EXPECT_EQ(Poll(f), Lines{});  // the owner reads the copy first
  auto h = f.TakeHandover();
  ASSERT_TRUE(h.has_value());
  EXPECT_TRUE(h->replaced);
  EXPECT_EQ(h->from.offset, 28u);
  EXPECT_TRUE(LogFollower::Holds(*RealFileSystem(), dir_.Join("a.log.1"), *h, 16));
  EXPECT_FALSE(LogFollower::Holds(*RealFileSystem(), dir_.Join("decoy"), *h, 16));
  EXPECT_FALSE(LogFollower::Holds(*RealFileSystem(), dir_.Join("a.log"), *h, 16));
  EXPECT_EQ(Poll(f), Lines{"after truncate ....."});
  EXPECT_EQ(f.truncations(), 1u);
}

TEST_F(LogFollowerTest, ASavedPositionResumesOnlyTheSameFile) {
  Append("a.log", "0123456789abcdef line 1\nline 2\n");
  {
    LogFollower f(RealFileSystem(), clock_, dir_.Join("a.log"), Opts());
    std::vector<FollowedLine> lines;
    ASSERT_TRUE(f.Poll(lines, 1).ok());  // one line, then "crash"
    ASSERT_EQ(lines.size(), 1u);
    last_ = lines[0].end;
  }
  Append("a.log", "line 3\n");
  LogFollower again(RealFileSystem(), clock_, dir_.Join("a.log"), Opts());
  again.Restore(last_);
  EXPECT_EQ(Poll(again), (Lines{"line 2", "line 3"}));
  // Another file at the path: the saved position does not count.
  const FilePosition saved = last_;
  ASSERT_TRUE(RealFileSystem()->Remove(dir_.Join("a.log")).ok());
  Append("a.log", "ANOTHER FILE ...... 1\n");
  LogFollower other(RealFileSystem(), clock_, dir_.Join("a.log"), Opts());
  other.Restore(saved);
  EXPECT_EQ(Poll(other), Lines{});  // the owner looks for the saved file first
  EXPECT_TRUE(other.TakeHandover().has_value());
  EXPECT_EQ(Poll(other), Lines{"ANOTHER FILE ...... 1"});
}

TEST_F(LogFollowerTest, InodeReuseIsToldByTheFirstBytes) {
  auto fs = std::make_shared<MemFileSystem>();
  ASSERT_TRUE(fs->CreateDirs("/logs").ok());
  auto write = [&](const std::string& text) {
    auto f = fs->OpenForAppend("/logs/a.log");
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->Append(text).ok());
    ASSERT_TRUE((*f)->Close().ok());
  };
  write("first file, line 1\nfirst file, line 2\n");
  FilePosition saved;
  {
    LogFollower f(fs, clock_, "/logs/a.log", Opts());
    std::vector<FollowedLine> lines;
    ASSERT_TRUE(f.Poll(lines, 1 << 20).ok());
    ASSERT_EQ(lines.size(), 2u);
    saved = lines.back().end;
  }
  ASSERT_TRUE(fs->Remove("/logs/a.log").ok());
  write("second file reusing the inode, longer\n");
  ASSERT_EQ(fs->Stat("/logs/a.log")->inode, saved.inode);  // the same inode number again
  LogFollower f(fs, clock_, "/logs/a.log", Opts());
  f.Restore(saved);
  EXPECT_EQ(Poll(f), Lines{});
  auto h = f.TakeHandover();
  ASSERT_TRUE(h.has_value());
  EXPECT_TRUE(h->replaced);  // same inode, other bytes
  EXPECT_EQ(Poll(f), Lines{"second file reusing the inode, longer"});
}

TEST_F(LogFollowerTest, AnOverlongLineIsCut) {
  LogFollower::Options o = Opts();
  o.max_line_bytes = 8;
  LogFollower f(RealFileSystem(), clock_, dir_.Join("a.log"), o);
  Append("a.log", "0123456789abcdefXY\nok\n");
  EXPECT_EQ(Poll(f), (Lines{"01234567", "89abcdef", "XY", "ok"}));
}

}  // namespace
}  // namespace vigil::agent
