#include "vigil/common/file_system.h"

#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "testing.h"

namespace vigil {
namespace {

// The same contract, checked on the real filesystem (in a temp dir) and on MemFileSystem.
class FileSystemTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (GetParam()) {
      fs_ = RealFileSystem();
      root_ = tmp_.path();
    } else {
      fs_ = std::make_shared<MemFileSystem>();
      root_ = "/root";
      ASSERT_TRUE(fs_->CreateDirs(root_).ok());
    }
  }
  std::string P(const std::string& name) { return root_ + "/" + name; }
  void Append(const std::string& path, std::string_view data) {
    auto f = fs_->OpenForAppend(path);
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    ASSERT_TRUE((*f)->Append(data).ok());
    ASSERT_TRUE((*f)->Close().ok());
  }
  std::string ReadAll(ReadableFile& f) {
    std::string out;
    char buf[7];  // small, to exercise offsets
    for (;;) {
      auto n = f.ReadAt(out.size(), buf, sizeof(buf));
      EXPECT_TRUE(n.ok());
      if (!n.ok() || *n == 0) return out;
      out.append(buf, *n);
    }
  }

  testing::TempDir tmp_;
  std::shared_ptr<FileSystem> fs_;
  std::string root_;
};

TEST_P(FileSystemTest, AppendReadStat) {
  Append(P("a.log"), "hello ");
  Append(P("a.log"), "world\n");
  auto content = fs_->ReadFile(P("a.log"));
  ASSERT_TRUE(content.ok());
  EXPECT_EQ(*content, "hello world\n");
  auto info = fs_->Stat(P("a.log"));
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->size, 12u);
  EXPECT_FALSE(info->is_dir);
  EXPECT_TRUE(fs_->Stat(root_)->is_dir);
}

TEST_P(FileSystemTest, MissingFilesAreNotFound) {
  EXPECT_EQ(fs_->OpenForRead(P("nope")).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(fs_->Stat(P("nope")).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(fs_->Exists(P("nope")));
  EXPECT_FALSE(fs_->OpenForAppend(P("no/such/dir/file")).ok());
}

TEST_P(FileSystemTest, OpenFileFollowsInodeAcrossRename) {
  Append(P("app.log"), "line1\n");
  auto reader = fs_->OpenForRead(P("app.log"));
  ASSERT_TRUE(reader.ok());
  const uint64_t inode = (*reader)->Stat()->inode;
  // Rename rotation: the old file moves, a new one takes the name.
  ASSERT_TRUE(fs_->Rename(P("app.log"), P("app.log.1")).ok());
  Append(P("app.log.1"), "line2\n");
  Append(P("app.log"), "new1\n");
  EXPECT_EQ(ReadAll(**reader), "line1\nline2\n");
  EXPECT_EQ((*reader)->Stat()->inode, inode);
  EXPECT_EQ(fs_->Stat(P("app.log.1"))->inode, inode);
  EXPECT_NE(fs_->Stat(P("app.log"))->inode, inode);
}

TEST_P(FileSystemTest, TruncateIsSeenByOpenReaders) {
  Append(P("t.log"), "0123456789");
  auto reader = fs_->OpenForRead(P("t.log"));
  ASSERT_TRUE(reader.ok());
  ASSERT_TRUE(fs_->Truncate(P("t.log"), 0).ok());
  EXPECT_EQ((*reader)->Stat()->size, 0u);
  char c;
  EXPECT_EQ(*(*reader)->ReadAt(5, &c, 1), 0u);
  Append(P("t.log"), "ab");
  EXPECT_EQ(ReadAll(**reader), "ab");
}

TEST_P(FileSystemTest, ListGlobRemoveAtomicWrite) {
  ASSERT_TRUE(fs_->CreateDirs(P("pods/ns_pod_uid/c")).ok());
  Append(P("pods/ns_pod_uid/c/0.log"), "x");
  Append(P("pods/ns_pod_uid/c/1.log"), "y");
  Append(P("pods/ns_pod_uid/c/0.log.gz"), "z");
  auto names = fs_->ListDir(P("pods/ns_pod_uid/c"));
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, (std::vector<std::string>{"0.log", "0.log.gz", "1.log"}));
  // Only the directories, by entry type (the cgroup walk's listing).
  ASSERT_TRUE(fs_->CreateDirs(P("pods/ns_pod_uid/d.scope")).ok());
  auto dirs = fs_->ListSubdirs(P("pods/ns_pod_uid"));
  ASSERT_TRUE(dirs.ok());
  EXPECT_EQ(*dirs, (std::vector<std::string>{"c", "d.scope"}));
  EXPECT_EQ(*fs_->ListSubdirs(P("pods/ns_pod_uid/c")), std::vector<std::string>{});
  EXPECT_FALSE(fs_->ListSubdirs(P("nowhere")).ok());
  auto matches = fs_->Glob(P("pods/*/*/*.log"));
  ASSERT_TRUE(matches.ok());
  EXPECT_EQ(*matches,
            (std::vector<std::string>{P("pods/ns_pod_uid/c/0.log"), P("pods/ns_pod_uid/c/1.log")}));
  ASSERT_TRUE(fs_->Remove(P("pods/ns_pod_uid/c/1.log")).ok());
  EXPECT_EQ(fs_->ListDir(P("pods/ns_pod_uid/c"))->size(), 2u);
  ASSERT_TRUE(fs_->WriteFileAtomic(P("positions"), "v1").ok());
  ASSERT_TRUE(fs_->WriteFileAtomic(P("positions"), "v2").ok());
  EXPECT_EQ(*fs_->ReadFile(P("positions")), "v2");
  EXPECT_FALSE(fs_->Exists(P("positions.tmp")));
  EXPECT_EQ(fs_->ReadFile(P("positions"), 1).status().code(), StatusCode::kOutOfRange);
}

INSTANTIATE_TEST_SUITE_P(RealAndMem, FileSystemTest, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "Real" : "Mem"; });

TEST(MemFileSystemTest, ReusesInodeOnceNothingHoldsIt) {
  MemFileSystem fs;
  ASSERT_TRUE(fs.CreateDirs("/logs").ok());
  ASSERT_TRUE(fs.Create("/logs/a.log").ok());
  const uint64_t first = fs.Stat("/logs/a.log")->inode;
  {
    auto reader = fs.OpenForRead("/logs/a.log");
    ASSERT_TRUE(fs.Remove("/logs/a.log").ok());
    ASSERT_TRUE(fs.Create("/logs/b.log").ok());
    // Still open: the number is not free yet.
    EXPECT_NE(fs.Stat("/logs/b.log")->inode, first);
  }
  ASSERT_TRUE(fs.Create("/logs/a.log").ok());
  // Deleted and closed: the next file gets the same number, as ext4 often does.
  EXPECT_EQ(fs.Stat("/logs/a.log")->inode, first);
}

TEST(MemFileSystemTest, MtimeFollowsTheClock) {
  auto clock = std::make_shared<ManualClock>();
  MemFileSystem fs(clock);
  auto f = fs.Create("/x");
  ASSERT_TRUE(f.ok());
  const int64_t t0 = fs.Stat("/x")->mtime_ns;
  clock->Advance(std::chrono::seconds(3));
  ASSERT_TRUE((*f)->Append("data").ok());
  EXPECT_EQ(fs.Stat("/x")->mtime_ns - t0, 3'000'000'000);
}

// The real filesystem's directory watcher (inotify): entries made and removed in a watched
// directory are reported once; the in-memory filesystem has none (callers then list each time).
TEST(DirWatcherTest, ReportsWatchedDirectoriesWhoseEntriesChanged) {
  testing::TempDir dir;
  auto watcher = RealFileSystem()->WatchDirectories();
  ASSERT_TRUE(watcher.ok()) << watcher.status().ToString();
  ASSERT_TRUE((*watcher)->Watch(dir.path()).ok());
  bool all = true;
  auto changed = (*watcher)->Changed(all);
  ASSERT_TRUE(changed.ok());
  EXPECT_TRUE(changed->empty());
  EXPECT_FALSE(all);
  ASSERT_TRUE(RealFileSystem()->CreateDirs(dir.Join("child")).ok());
  changed = (*watcher)->Changed(all);
  ASSERT_TRUE(changed.ok());
  EXPECT_EQ(*changed, std::vector<std::string>{dir.path()});
  EXPECT_TRUE((*watcher)->Changed(all)->empty()) << "reported once";
  ASSERT_TRUE(RealFileSystem()->Remove(dir.Join("child")).ok());
  EXPECT_EQ(*(*watcher)->Changed(all), std::vector<std::string>{dir.path()});
  EXPECT_FALSE((*watcher)->Watch(dir.Join("missing")).ok());
  EXPECT_EQ(std::make_shared<MemFileSystem>()->WatchDirectories().status().code(),
            StatusCode::kUnimplemented);
}

// A mount table open from procfs says when the mount namespace changed; other files cannot.
TEST(MountTableTest, ProcfsMountsTellWhenTheTableChanged) {
  auto fs = RealFileSystem();
  testing::TempDir tmp;
  ASSERT_TRUE(fs->WriteFileAtomic(tmp.Join("mounts"), "/dev/root / ext4 rw 0 0\n").ok());
  auto fixture = fs->OpenForRead(tmp.Join("mounts"));
  ASSERT_TRUE(fixture.ok());
  EXPECT_EQ((*fixture)->MountTableChanged(), std::nullopt);
  auto mounts = fs->OpenForRead("/proc/self/mounts");
  ASSERT_TRUE(mounts.ok());
  EXPECT_EQ((*mounts)->MountTableChanged(), std::optional<bool>(false));
  if (::geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs to change the table needs root";
  ASSERT_EQ(::mount("vigil-test", tmp.path().c_str(), "tmpfs", 0, "size=1m"), 0)
      << std::strerror(errno);
  EXPECT_EQ((*mounts)->MountTableChanged(), std::optional<bool>(true));
  EXPECT_EQ((*mounts)->MountTableChanged(), std::optional<bool>(false));  // told once
  ASSERT_EQ(::umount(tmp.path().c_str()), 0) << std::strerror(errno);
  EXPECT_EQ((*mounts)->MountTableChanged(), std::optional<bool>(true));
}

}  // namespace
}  // namespace vigil
