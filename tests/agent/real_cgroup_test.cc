// The cgroup reader against real cgroup v1 controllers of this machine: the test creates its own
// cgroups under cpu, cpuacct, memory and pids (root only; skipped elsewhere), runs a CPU burner and
// a memory allocator in them, and checks the reader against the kernel and the process' own
// accounting. The cgroups are removed afterwards.

#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <any>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include "cgroup_stats.h"

namespace vigil::agent {
namespace {

namespace fs = std::filesystem;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool WriteTo(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.flush();
  return static_cast<bool>(out);
}

class RealCgroupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = ParseCgroupMounts(Slurp("/proc/self/mountinfo"), "/sys/fs/cgroup");
    if (!m.ok() || m->mode == CgroupMounts::Mode::kV2) {
      GTEST_SKIP() << "needs cgroup v1 controllers (this host has them; CI runs here)";
    }
    mounts_ = *m;
    name_ = "/vigil-test-" + std::to_string(::getpid());
    for (const char* c : {"cpu", "cpuacct", "memory", "pids"}) {
      const std::string dir = mounts_.Controller(c);
      if (dir.empty() || ::geteuid() != 0)
        GTEST_SKIP() << "needs root and the " << c << " controller";
      std::error_code ec;
      fs::create_directory(dir + name_, ec);
      if (ec) GTEST_SKIP() << "cannot create " << dir + name_ << ": " << ec.message();
      made_.push_back(dir + name_);
    }
  }
  void TearDown() override {
    // A failed check may leave the child inside the cgroups, which cannot be removed then.
    if (child_ > 0) {
      ::kill(child_, SIGKILL);
      ::waitpid(child_, nullptr, 0);
    }
    for (const std::string& d : made_) ::rmdir(d.c_str());
  }

  // Forks a child that joins the test's cgroups, burns `cpu_seconds` of CPU, then allocates
  // and touches `bytes`, writes one byte to `ready` and waits until `go` is closed.
  pid_t Spawn(double cpu_seconds, size_t bytes, int ready, int go, int parent_ends[2]) {
    const pid_t pid = ::fork();
    if (pid != 0) return pid;
    // The parent's ends, or closing `go` there would never reach the read below.
    ::close(parent_ends[0]);
    ::close(parent_ends[1]);
    for (const std::string& d : made_) {
      if (!WriteTo(d + "/cgroup.procs", std::to_string(::getpid()))) ::_exit(3);
    }
    volatile double x = 0;
    for (;;) {
      for (int i = 0; i < 1000000; ++i) x = x + i * 0.5;
      rusage ru{};
      ::getrusage(RUSAGE_SELF, &ru);
      const double used = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                          static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
      if (used >= cpu_seconds) break;
    }
    std::vector<char> mem(bytes);
    for (size_t i = 0; i < bytes; i += 4096) mem[i] = 1;
    char b = 1;
    if (::write(ready, &b, 1) != 1) ::_exit(4);
    ::read(go, &b, 1);                // returns when the parent closes its end
    ::_exit(mem[4096] == 1 ? 0 : 5);  // the memory stayed in use until here
  }

  CgroupMounts mounts_;
  std::string name_;
  std::vector<std::string> made_;
  pid_t child_ = 0;  // until reaped
};

TEST_F(RealCgroupTest, CpuMemoryAndThrottlingFollowTheKernel) {
  const std::string cpu = mounts_.Controller("cpu") + name_;
  const std::string cpuacct = mounts_.Controller("cpuacct") + name_;
  // Half a CPU: the burner is throttled in most periods.
  ASSERT_TRUE(WriteTo(cpu + "/cpu.cfs_period_us", "100000"));
  ASSERT_TRUE(WriteTo(cpu + "/cpu.cfs_quota_us", "50000"));
  ASSERT_TRUE(WriteTo(mounts_.Controller("memory") + name_ + "/memory.limit_in_bytes",
                      std::to_string(512 << 20)));
  int ready[2], go[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(go), 0);
  const size_t bytes = 96 << 20;
  int parent_ends[2] = {ready[0], go[1]};
  const pid_t child = Spawn(1.0, bytes, ready[1], go[0], parent_ends);
  ASSERT_GT(child, 0);
  child_ = child;
  ::close(ready[1]);
  ::close(go[0]);
  char b;
  ASSERT_EQ(::read(ready[0], &b, 1), 1) << "the child did not get ready";

  CgroupReader reader(RealFileSystem(), mounts_);
  // While the allocator holds its memory: usage, RSS and working set include it.
  const CgroupStats live = reader.Read(name_);
  ASSERT_TRUE(live.memory_usage && live.memory_rss && live.memory_working_set);
  EXPECT_GE(*live.memory_usage, static_cast<double>(bytes));
  EXPECT_GE(*live.memory_rss, static_cast<double>(bytes) * 0.95);
  EXPECT_GE(*live.memory_working_set, static_cast<double>(bytes) * 0.95);
  EXPECT_LE(*live.memory_working_set, *live.memory_usage);
  EXPECT_EQ(live.memory_limit, 512 << 20);
  EXPECT_EQ(live.cpu_quota_us, 50000);
  EXPECT_EQ(live.cpu_period_us, 100000);
  EXPECT_EQ(live.pids, 1);
  // Bracketed by the kernel's own counter read before and after.
  const double before = std::stod(Slurp(cpuacct + "/cpuacct.usage")) / 1e9;
  const CgroupStats s = reader.Read(name_);
  const double after = std::stod(Slurp(cpuacct + "/cpuacct.usage")) / 1e9;
  ASSERT_TRUE(s.cpu_usage);
  EXPECT_GE(*s.cpu_usage, before);
  EXPECT_LE(*s.cpu_usage, after);

  ::close(go[1]);
  int status = 0;
  rusage ru{};
  ASSERT_EQ(::wait4(child, &status, 0, &ru), child);
  child_ = 0;
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  // Within 5% of the CPU time the process itself was charged.
  const double charged = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  const CgroupStats done = reader.Read(name_);
  ASSERT_TRUE(done.cpu_usage && done.cpu_user && done.cpu_system);
  EXPECT_NEAR(*done.cpu_usage, charged, charged * 0.05);
  EXPECT_NEAR(*done.cpu_user + *done.cpu_system, charged, charged * 0.05 + 0.02);
  // At half a CPU, a second of CPU needs about two seconds: throttled in most periods.
  ASSERT_TRUE(done.cfs_periods && done.cfs_throttled_periods && done.cfs_throttled_seconds);
  EXPECT_GE(*done.cfs_periods, 15);
  EXPECT_GE(*done.cfs_throttled_periods, 5);
  EXPECT_GT(*done.cfs_throttled_seconds, 0.2);
  // The memory went with the process.
  EXPECT_LT(*reader.Read(name_).memory_rss, static_cast<double>(bytes) / 2);
  EXPECT_EQ(reader.missing_files(), 0u);
}

// The walk finds the test's cgroup under cpuacct, as the collector would.
TEST_F(RealCgroupTest, WalkFindsCreatedCgroups) {
  CgroupReader reader(RealFileSystem(), mounts_);
  bool found = false;
  ASSERT_TRUE(reader
                  .Walk([&](CgroupReader::Cgroup& c) {
                    found = found || c.path() == name_;
                    return true;
                  })
                  .ok());
  EXPECT_TRUE(found);
}

// Listings are kept between walks and made again only when inotify says a directory changed:
// a cgroup made after a walk is found by the next one, and a removed one is gone from it. What
// a caller keeps with a cgroup stays while the cgroup does, and a cgroup made again starts anew.
TEST_F(RealCgroupTest, WalksSeeCgroupsMadeAndRemovedBetweenThem) {
  CgroupReader reader(RealFileSystem(), mounts_);
  int walks = 0;
  std::map<std::string, int> first_seen;  // path → the walk that first saw its node
  auto walk = [&] {
    ++walks;
    std::vector<std::string> paths;
    EXPECT_TRUE(reader
                    .Walk([&](CgroupReader::Cgroup& c) {
                      paths.push_back(c.path());
                      if (!c.user.has_value()) c.user = walks;
                      first_seen[c.path()] = std::any_cast<int>(c.user);
                      return true;
                    })
                    .ok());
    return paths;
  };
  auto has = [](const std::vector<std::string>& v, const std::string& p) {
    return std::find(v.begin(), v.end(), p) != v.end();
  };
  const std::string child = name_ + "/late";
  const std::string dir = mounts_.Controller("cpuacct") + child;
  EXPECT_FALSE(has(walk(), child));
  EXPECT_FALSE(has(walk(), child));  // from the kept listing
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
  EXPECT_TRUE(has(walk(), child)) << "a cgroup made between walks";
  EXPECT_EQ(first_seen[child], 3);
  EXPECT_EQ(first_seen[name_], 1);  // kept since the first walk
  ASSERT_EQ(::rmdir(dir.c_str()), 0);
  EXPECT_FALSE(has(walk(), child)) << "a cgroup removed between walks";
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
  EXPECT_TRUE(has(walk(), child)) << "made again";
  EXPECT_EQ(first_seen[child], 5) << "a cgroup made again is a new one";
  EXPECT_EQ(first_seen[name_], 1);
  ASSERT_EQ(::rmdir(dir.c_str()), 0);
}

}  // namespace
}  // namespace vigil::agent
