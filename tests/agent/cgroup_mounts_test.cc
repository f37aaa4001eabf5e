#include "cgroup_mounts.h"

#include <gtest/gtest.h>

namespace vigil::agent {
namespace {

// This machine's layout: v1 controllers each on its own mount, cgroup2 at unified (hybrid).
constexpr const char* kHybrid =
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n";

TEST(CgroupMountsTest, HybridWithSeparateCpuAndCpuacct) {
  auto m = ParseCgroupMounts(kHybrid, "/host/sys/fs/cgroup");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->mode, CgroupMounts::Mode::kHybrid);
  EXPECT_EQ(m->Controller("cpu"), "/host/sys/fs/cgroup/cpu");
  EXPECT_EQ(m->Controller("cpuacct"), "/host/sys/fs/cgroup/cpuacct");
  EXPECT_EQ(m->Controller("memory"), "/host/sys/fs/cgroup/memory");
  EXPECT_EQ(m->Controller("pids"), "/host/sys/fs/cgroup/pids");
  EXPECT_EQ(m->Controller("name=systemd"), "");  // a named hierarchy, not a controller
  EXPECT_EQ(m->unified, "/host/sys/fs/cgroup/unified");
}

TEST(CgroupMountsTest, JoinedControllersAndPureV2) {
  auto v1 = ParseCgroupMounts(
      "30 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct\n"
      "31 25 0:27 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory\n",
      "/sys/fs/cgroup/");
  ASSERT_TRUE(v1.ok());
  EXPECT_EQ(v1->mode, CgroupMounts::Mode::kV1);
  EXPECT_EQ(v1->Controller("cpu"), "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_EQ(v1->Controller("cpuacct"), "/sys/fs/cgroup/cpu,cpuacct");

  auto v2 = ParseCgroupMounts(
      "35 24 0:30 / /sys/fs/cgroup rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate\n",
      "/fixture/cg");
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ(v2->mode, CgroupMounts::Mode::kV2);
  EXPECT_TRUE(v2->controllers.empty());
  EXPECT_EQ(v2->unified, "/fixture/cg");
}

TEST(CgroupMountsTest, EscapesAndErrors) {
  auto m = ParseCgroupMounts("1 0 0:1 / /cg\\040root rw - cgroup2 none rw\n", "/x");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->unified, "/x");
  auto bad = ParseCgroupMounts("1 0 0:1 / /cg rw cgroup2 none rw\n", "/x");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "mountinfo line 1: no \" - \" separator");
  auto none = ParseCgroupMounts("22 1 8:1 / / rw - ext4 /dev/sda1 rw\n", "/x");
  EXPECT_FALSE(none.ok());
}

}  // namespace
}  // namespace vigil::agent
