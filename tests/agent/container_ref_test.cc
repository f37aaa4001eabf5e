#include "container_ref.h"

#include <gtest/gtest.h>

namespace vigil::agent {
namespace {

const std::string kId(64, 'a');
const std::string kUid = "0f9c2e5a-1b2c-4d5e-8f90-123456789abc";
const std::string kUidUnderscored = "0f9c2e5a_1b2c_4d5e_8f90_123456789abc";

TEST(ContainerRefTest, SystemdDriverWithEachRuntime) {
  for (auto [scope, runtime] : {std::pair{"cri-containerd-", "containerd"},
                                std::pair{"crio-", "crio"}, std::pair{"docker-", "docker"}}) {
    auto r = ParseCgroupPath("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" +
                             kUidUnderscored + ".slice/" + scope + kId + ".scope");
    ASSERT_TRUE(r) << scope;
    EXPECT_EQ(r->pod_uid, kUid);
    EXPECT_EQ(r->qos, "burstable");
    EXPECT_EQ(r->id, kId);
    EXPECT_EQ(r->runtime, runtime);
  }
  auto guaranteed = ParseCgroupPath("/kubepods.slice/kubepods-pod" + kUidUnderscored + ".slice");
  ASSERT_TRUE(guaranteed);
  EXPECT_EQ(guaranteed->qos, "guaranteed");
  EXPECT_EQ(guaranteed->id, "");  // the pod's own cgroup
}

TEST(ContainerRefTest, CgroupfsDriverAndPlainDocker) {
  auto r = ParseCgroupPath("/kubepods/besteffort/pod" + kUid + "/" + kId);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->qos, "besteffort");
  EXPECT_EQ(r->pod_uid, kUid);
  EXPECT_EQ(r->id, kId);
  EXPECT_EQ(r->runtime, "");
  auto d = ParseCgroupPath("/docker/" + kId);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->runtime, "docker");
  EXPECT_EQ(d->pod_uid, "");
  EXPECT_TRUE(ParseCgroupPath("/system.slice/docker-" + kId + ".scope"));
}

TEST(ContainerRefTest, EverythingElseIsNotAContainer) {
  for (const std::string& p :
       {std::string("/"), std::string("/kubepods.slice"),
        std::string("/kubepods.slice/kubepods-burstable.slice"),
        std::string("/system.slice/containerd.service"), std::string("/user.slice"),
        "/kubepods.slice/kubepods-pod" + kUidUnderscored + ".slice/crio-conmon-" + kId + ".scope",
        "/pod" + kUid + "/" + kId,  // a pod segment outside kubepods
        "/kubepods/pod" + kUid + "/" + kId + "/nested", "/kubepods/pod" + kUid + "/not-an-id"}) {
    EXPECT_FALSE(ParseCgroupPath(p)) << p;
  }
}

}  // namespace
}  // namespace vigil::agent
