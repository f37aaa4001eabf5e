// The container collector on cgroup v2 fixture trees (systemd + containerd, and cgroupfs), with
// the kubelet's log layout for names: the expected series, labels and values.

#include "container_collector.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "testing.h"

namespace vigil::agent {
namespace {

namespace fs = std::filesystem;

void Write(const std::string& path, const std::string& text) { testing::WriteFile(path, text); }

// A v2 cgroup directory with the files the reader uses.
void V2Cgroup(const std::string& dir, double usage_usec, double mem, double inactive,
              const std::string& cpu_max, const std::string& mem_max) {
  Write(dir + "/cpu.stat", "usage_usec " + std::to_string(static_cast<int64_t>(usage_usec)) +
                               "\nuser_usec 700000\nsystem_usec 300000\nnr_periods 50\n"
                               "nr_throttled 5\nthrottled_usec 250000\n");
  Write(dir + "/cpu.max", cpu_max + "\n");
  Write(dir + "/cpu.weight", "100\n");
  Write(dir + "/memory.current", std::to_string(static_cast<int64_t>(mem)) + "\n");
  Write(dir + "/memory.max", mem_max + "\n");
  Write(dir + "/memory.swap.current", "0\n");
  Write(dir + "/memory.stat", "anon 4096000\nfile 1024000\nfile_mapped 8192\ninactive_file " +
                                  std::to_string(static_cast<int64_t>(inactive)) + "\n");
  Write(dir + "/memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n");
  Write(dir + "/pids.current", "4\n");
}

// series name{labels} → value, for comparing whole outputs.
std::map<std::string, double> Flatten(const std::vector<expo::Family>& families) {
  std::map<std::string, double> out;
  for (const auto& f : families) {
    for (const auto& s : f.samples) {
      const std::string name(s.labels.Get(kMetricNameLabel));
      out[name + LabelsBuilder(s.labels).Del(kMetricNameLabel).Build().ToString()] = s.value;
    }
  }
  return out;
}

class ContainerCollectorTest : public ::testing::Test {
 protected:
  std::vector<expo::Family> Collect(const std::string& cgroup_root) {
    auto mounts =
        ParseCgroupMounts("1 0 0:1 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", cgroup_root);
    EXPECT_TRUE(mounts.ok());
    ContainerCollector c(RealFileSystem(), *mounts, Options());
    auto view = c.Collect();
    EXPECT_TRUE(view.ok()) << view.status().ToString();
    return view.ok() ? (*view)->ToFamilies() : std::vector<expo::Family>{};
  }
  ContainerCollector::Options Options() {
    ContainerCollector::Options o;
    o.kubelet_log_dir = dir_.Join("log");
    o.proc_root = dir_.Join("proc");
    o.runtime_dirs = {dir_.Join("containerd"), dir_.Join("crio")};
    return o;
  }
  testing::TempDir dir_;
  const std::string id_ = std::string(64, 'c');
};

TEST_F(ContainerCollectorTest, SystemdContainerdLayout) {
  const std::string root = dir_.Join("cg");
  const std::string pod = root +
                          "/kubepods.slice/kubepods-burstable.slice/"
                          "kubepods-burstable-pod1111_2222_3333_4444_555555555555.slice";
  V2Cgroup(root, 9e6, 8e9, 1e9, "max 100000", "max");
  V2Cgroup(root + "/kubepods.slice", 5e6, 3e9, 1e8, "max 100000", "max");
  V2Cgroup(pod, 2e6, 5e8, 1e8, "max 100000", "1073741824");
  V2Cgroup(pod + "/cri-containerd-" + id_ + ".scope", 1.5e6, 4e8, 5e7, "50000 100000", "536870912");
  Write(root + "/system.slice/containerd.service/cpu.stat", "usage_usec 1\n");
  Write(dir_.Join("log/pods/default_web-0_1111-2222-3333-4444-555555555555/app/0.log"), "");
  Write(dir_.Join("log/containers/web-0_default_app-" + id_ + ".log"), "");

  auto got = Flatten(Collect(root));
  const std::string cid =
      "/kubepods.slice/kubepods-burstable.slice/"
      "kubepods-burstable-pod1111_2222_3333_4444_555555555555.slice/"
      "cri-containerd-" +
      id_ + ".scope";
  auto key = [&](const std::string& metric, const std::string& extra) {
    return metric + "{container=\"app\"" + extra + ", id=\"" + cid + "\", name=\"" + id_ +
           "\", namespace=\"default\", pod=\"web-0\"}";
  };
  EXPECT_EQ(got[key("container_cpu_usage_seconds_total", ", cpu=\"total\"")], 1.5);
  EXPECT_EQ(got[key("container_cpu_user_seconds_total", "")], 0.7);
  EXPECT_EQ(got[key("container_cpu_cfs_throttled_periods_total", "")], 5);
  EXPECT_EQ(got[key("container_cpu_cfs_throttled_seconds_total", "")], 0.25);
  EXPECT_EQ(got[key("container_memory_usage_bytes", "")], 4e8);
  EXPECT_EQ(got[key("container_memory_working_set_bytes", "")], 4e8 - 5e7);
  EXPECT_EQ(got[key("container_memory_rss", "")], 4096000);
  EXPECT_EQ(got[key("container_memory_failcnt", "")], 3);
  EXPECT_EQ(got[key("container_oom_events_total", "")], 1);
  EXPECT_EQ(got[key("container_spec_cpu_quota", "")], 50000);
  EXPECT_EQ(got[key("container_spec_cpu_period", "")], 100000);
  EXPECT_EQ(got[key("container_spec_cpu_shares", "")], 2 + std::floor(99 * 262142.0 / 9999));
  EXPECT_EQ(got[key("container_spec_memory_limit_bytes", "")], 536870912);
  EXPECT_EQ(got[key("container_processes", "")], 4);
  // The pod's own cgroup: no container label; the root: only id="/"; unlimited is 0.
  const std::string pod_key =
      "container_memory_working_set_bytes{id=\"/kubepods.slice/kubepods-burstable.slice/"
      "kubepods-burstable-pod1111_2222_3333_4444_555555555555.slice\", namespace=\"default\", "
      "pod=\"web-0\"}";
  EXPECT_EQ(got.count(pod_key), 1u) << pod_key;
  EXPECT_EQ(got["container_cpu_usage_seconds_total{cpu=\"total\", id=\"/\"}"], 9);
  EXPECT_EQ(got["container_spec_memory_limit_bytes{id=\"/\"}"], 0);
  // Slices and services are not containers.
  for (const auto& [k, v] : got) {
    EXPECT_EQ(k.find("system.slice"), std::string::npos) << k;
    EXPECT_EQ(k.find("id=\"/kubepods.slice\""), std::string::npos) << k;
  }
}

TEST_F(ContainerCollectorTest, CgroupfsLayoutAndMissingNames) {
  const std::string root = dir_.Join("cg");
  const std::string pod = root + "/kubepods/besteffort/pod9999aaaa-bbbb-cccc-dddd-eeeeffff0000";
  V2Cgroup(root, 1e6, 1e9, 0, "max 100000", "max");
  V2Cgroup(pod, 1e6, 1e8, 0, "max 100000", "max");
  V2Cgroup(pod + "/" + id_, 2.5e5, 3e6, 4e6, "max 100000", "max");  // inactive > usage
  // No kubelet logs: the labels from them stay empty, the series are still there.
  auto got = Flatten(Collect(root));
  const std::string id_label =
      "/kubepods/besteffort/pod9999aaaa-bbbb-cccc-dddd-eeeeffff0000/" + id_;
  EXPECT_EQ(got["container_cpu_usage_seconds_total{cpu=\"total\", id=\"" + id_label +
                "\", name=\"" + id_ + "\"}"],
            0.25);
  // Working set is floored at 0, as cAdvisor computes it.
  EXPECT_EQ(
      got["container_memory_working_set_bytes{id=\"" + id_label + "\", name=\"" + id_ + "\"}"], 0);
  EXPECT_EQ(got.count("container_spec_cpu_quota{id=\"" + id_label + "\", name=\"" + id_ + "\"}"),
            0u);  // unlimited: no quota series
}

// The kubelet's log directories are listed again only when their mtime moves: a pod and a
// container that appear there after the first pass get their names at the next one. Views are
// filled again from pass to pass, but never one that someone still holds.
TEST_F(ContainerCollectorTest, NamesFollowTheKubeletsDirectoriesAndHeldViewsStayAsTheyWere) {
  const std::string root = dir_.Join("cg");
  const std::string pod = root + "/kubepods/besteffort/pod9999aaaa-bbbb-cccc-dddd-eeeeffff0000";
  V2Cgroup(root, 1e6, 1e9, 0, "max 100000", "max");
  V2Cgroup(pod, 1e6, 1e8, 0, "max 100000", "max");
  V2Cgroup(pod + "/" + id_, 2.5e5, 3e6, 1e6, "max 100000", "max");
  // Log directories that have not changed for a while.
  for (const char* d : {"log/pods", "log/containers"}) {
    std::filesystem::create_directories(dir_.Join(d));
    std::filesystem::last_write_time(
        dir_.Join(d), std::filesystem::file_time_type::clock::now() - std::chrono::seconds(60));
  }
  auto mounts = ParseCgroupMounts("1 0 0:1 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", root);
  ASSERT_TRUE(mounts.ok());
  ContainerCollector c(RealFileSystem(), *mounts, Options());
  auto pass = [&] {
    auto view = c.Collect();
    EXPECT_TRUE(view.ok()) << view.status().ToString();
    return view.ok() ? *view : nullptr;
  };
  const std::string id_label =
      "/kubepods/besteffort/pod9999aaaa-bbbb-cccc-dddd-eeeeffff0000/" + id_;
  const std::string unnamed =
      "container_memory_usage_bytes{id=\"" + id_label + "\", name=\"" + id_ + "\"}";
  const std::string named = "container_memory_usage_bytes{container=\"app\", id=\"" + id_label +
                            "\", name=\"" + id_ + "\", namespace=\"default\", pod=\"web-0\"}";
  auto first = Flatten(pass()->ToFamilies());
  EXPECT_EQ(first[unnamed], 3e6);
  for (int i = 0; i < 2; ++i) EXPECT_EQ(Flatten(pass()->ToFamilies()), first);

  Write(dir_.Join("log/pods/default_web-0_9999aaaa-bbbb-cccc-dddd-eeeeffff0000/app/0.log"), "");
  Write(dir_.Join("log/containers/web-0_default_app-" + id_ + ".log"), "");
  const auto held = pass();
  const auto held_text = Flatten(held->ToFamilies());
  EXPECT_EQ(held_text.count(unnamed), 0u);
  EXPECT_EQ(held_text.at(named), 3e6);
  // Values move; the held view does not.
  Write(pod + "/" + id_ + "/memory.current", "7000000\n");
  for (int i = 0; i < 3; ++i) {
    auto got = Flatten(pass()->ToFamilies());
    EXPECT_EQ(got[named], 7e6);
    EXPECT_EQ(got.count(unnamed), 0u);
  }
  EXPECT_EQ(Flatten(held->ToFamilies()), held_text);
}

TEST_F(ContainerCollectorTest, VanishedFilesLeaveGapsNotErrors) {
  const std::string root = dir_.Join("cg");
  const std::string c = root + "/docker/" + id_;
  V2Cgroup(root, 1e6, 1e9, 0, "max 100000", "max");
  fs::create_directories(c);
  Write(c + "/cpu.stat", "usage_usec 2000000\n");  // everything else is gone
  auto mounts = ParseCgroupMounts("1 0 0:1 / /x rw - cgroup2 cgroup2 rw\n", root);
  ContainerCollector collector(RealFileSystem(), *mounts, Options());
  auto view = collector.Collect();
  ASSERT_TRUE(view.ok());
  auto got = Flatten((*view)->ToFamilies());
  EXPECT_EQ(got["container_cpu_usage_seconds_total{cpu=\"total\", id=\"/docker/" + id_ +
                "\", name=\"" + id_ + "\"}"],
            2);
  EXPECT_GT(collector.missing_files(), 5u);
}

}  // namespace
}  // namespace vigil::agent

namespace vigil::agent {
namespace {

// Limits are read when a cgroup is first seen and again every 10 passes, not at every pass.
TEST_F(ContainerCollectorTest, SpecIsReadAgainEveryTenPasses) {
  const std::string root = dir_.Join("cg");
  const std::string c = root + "/docker/" + id_;
  V2Cgroup(root, 1e6, 1e9, 0, "max 100000", "max");
  V2Cgroup(c, 1e6, 1e8, 0, "max 100000", "536870912");
  auto mounts = ParseCgroupMounts("1 0 0:1 / /x rw - cgroup2 cgroup2 rw\n", root);
  ContainerCollector collector(RealFileSystem(), *mounts, Options());
  const std::string key =
      "container_spec_memory_limit_bytes{id=\"/docker/" + id_ + "\", name=\"" + id_ + "\"}";
  const std::string usage =
      "container_memory_usage_bytes{id=\"/docker/" + id_ + "\", name=\"" + id_ + "\"}";
  EXPECT_EQ(Flatten((*collector.Collect())->ToFamilies())[key], 536870912);
  Write(c + "/memory.max", "1073741824\n");
  Write(c + "/memory.current", "200000000\n");
  for (int pass = 2; pass <= 10; ++pass) {
    auto got = Flatten((*collector.Collect())->ToFamilies());
    EXPECT_EQ(got[key], 536870912) << "pass " << pass;
    EXPECT_EQ(got[usage], 2e8) << "usage is read at every pass";
  }
  EXPECT_EQ(Flatten((*collector.Collect())->ToFamilies())[key], 1073741824);
}

}  // namespace
}  // namespace vigil::agent

namespace vigil::agent {
namespace {

// The rest of cAdvisor's families on a v2 tree: block IO by device (named from diskstats), PSI,
// network from the netns of a process of the container (once per pod, never the host's), and
// the image and names from containerd's bundle annotations when the kubelet's logs are absent.
TEST_F(ContainerCollectorTest, IoPressureNetworkAndImage) {
  const std::string root = dir_.Join("cg");
  const std::string pod = root + "/kubepods/burstable/pod9999aaaa-bbbb-cccc-dddd-eeeeffff0000";
  const std::string app = pod + "/" + id_;
  const std::string sidecar_id = std::string(64, 'd');
  const std::string sidecar = pod + "/" + sidecar_id;
  V2Cgroup(root, 1e6, 1e9, 0, "max 100000", "max");
  V2Cgroup(pod, 1e6, 1e8, 0, "max 100000", "max");
  V2Cgroup(app, 1e6, 1e8, 0, "max 100000", "max");
  V2Cgroup(sidecar, 1e6, 1e8, 0, "max 100000", "max");
  Write(app + "/io.stat",
        "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n"
        "253:7 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0\n");
  Write(app + "/cpu.pressure",
        "some avg10=0.00 avg60=0.00 avg300=0.00 total=1500000\n"
        "full avg10=0.00 avg60=0.00 avg300=0.00 total=500000\n");
  Write(app + "/memory.pressure",
        "some avg10=0.00 avg60=0.00 avg300=0.00 total=42\n"
        "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
  Write(app + "/cgroup.procs", "4242\n4243\n");
  Write(sidecar + "/cgroup.procs", "4300\n");
  Write(dir_.Join("proc/diskstats"), "   8       0 sda 1 2 3 4 5 6 7 8 9 10 11\n");
  // Network namespaces are told apart by inode: the host's (pid 1), the pod's (both
  // containers' processes link to it; here the sidecar's file is a hard link of the app's).
  Write(dir_.Join("proc/1/ns/net"), "host");
  Write(dir_.Join("proc/4242/ns/net"), "pod");
  fs::create_directories(dir_.Join("proc/4300/ns"));
  fs::create_hard_link(dir_.Join("proc/4242/ns/net"), dir_.Join("proc/4300/ns/net"));
  const std::string netdev =
      "Inter-|   Receive                                                |  Transmit\n"
      " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs "
      "drop fifo colls carrier compressed\n"
      "    lo:     100       1    0    0    0     0          0         0      100       1    0 "
      "   0    0     0       0          0\n"
      "  eth0:    5000      50    1    2    0     0          0         0     7000      70    3 "
      "   4    0     0       0          0\n";
  Write(dir_.Join("proc/4242/net/dev"), netdev);
  Write(dir_.Join("proc/4300/net/dev"), netdev);
  Write(dir_.Join("containerd/" + id_ + "/config.json"),
        R"({"ociVersion": "1.0.2", "annotations": {
             "io.kubernetes.cri.container-type": "container",
             "io.kubernetes.cri.container-name": "app",
             "io.kubernetes.cri.image-name": "docker.io/library/nginx:1.25",
             "io.kubernetes.cri.sandbox-name": "web-0",
             "io.kubernetes.cri.sandbox-namespace": "shop"}})");
  Write(dir_.Join("crio/" + sidecar_id + "/userdata/config.json"),
        R"({"annotations": {"io.kubernetes.cri-o.ContainerType": "container",
             "io.kubernetes.container.name": "proxy",
             "io.kubernetes.cri-o.ImageName": "quay.io/envoy:v1",
             "io.kubernetes.pod.name": "web-0", "io.kubernetes.pod.namespace": "shop"}})");

  auto got = Flatten(Collect(root));
  const Labels base{{"container", "app"},
                    {"id", "/kubepods/burstable/pod9999aaaa-bbbb-cccc-dddd-eeeeffff0000/" + id_},
                    {"image", "docker.io/library/nginx:1.25"},
                    {"name", id_},
                    {"namespace", "shop"},
                    {"pod", "web-0"}};
  auto key = [&](const std::string& metric, const std::string& extra) {
    LabelsBuilder b(base);
    if (!extra.empty()) {
      const size_t eq = extra.find('=');
      b.Set(extra.substr(0, eq), extra.substr(eq + 2, extra.size() - eq - 3));
    }
    const std::string k = metric + b.Build().ToString();
    EXPECT_EQ(got.count(k), 1u) << k;
    return k;
  };
  EXPECT_EQ(got[key("container_fs_reads_bytes_total", "device=\"/dev/sda\"")], 4096);
  EXPECT_EQ(got[key("container_fs_writes_bytes_total", "device=\"/dev/sda\"")], 8192);
  EXPECT_EQ(got[key("container_fs_writes_total", "device=\"253:7\"")], 4)
      << "a device diskstats does not name keeps its numbers";
  EXPECT_EQ(got[key("container_pressure_cpu_waiting_seconds_total", "")], 1.5);
  EXPECT_EQ(got[key("container_pressure_cpu_stalled_seconds_total", "")], 0.5);
  EXPECT_EQ(got[key("container_pressure_memory_waiting_seconds_total", "")], 42e-6);
  EXPECT_EQ(got[key("container_network_receive_bytes_total", "interface=\"eth0\"")], 5000);
  EXPECT_EQ(got[key("container_network_receive_errors_total", "interface=\"eth0\"")], 1);
  EXPECT_EQ(got[key("container_network_receive_packets_dropped_total", "interface=\"eth0\"")], 2);
  EXPECT_EQ(got[key("container_network_transmit_bytes_total", "interface=\"eth0\"")], 7000);
  EXPECT_EQ(got[key("container_network_transmit_packets_dropped_total", "interface=\"eth0\"")], 4);
  size_t network_series = 0, proxy_series = 0;
  for (const auto& [k, v] : got) {
    if (k.starts_with("container_network_receive_bytes_total")) ++network_series;
    if (k.find("container=\"proxy\"") != std::string::npos &&
        k.find("image=\"quay.io/envoy:v1\"") != std::string::npos) {
      ++proxy_series;
    }
    EXPECT_EQ(k.find("interface=\"lo\""), std::string::npos) << k;
  }
  EXPECT_EQ(network_series, 1u) << "one pod network namespace: counted once";
  EXPECT_GT(proxy_series, 10u) << "CRI-O's record names the sidecar";
}

}  // namespace
}  // namespace vigil::agent

namespace vigil::agent {
namespace {

// On a node without swap (meminfo's SwapTotal is 0) swap usage is 0 and the file is not read;
// with swap it is read.
TEST_F(ContainerCollectorTest, SwapIsReadOnlyWhereTheNodeHasSwap) {
  const std::string root = dir_.Join("cg");
  const std::string c = root + "/docker/" + id_;
  V2Cgroup(root, 1e6, 1e9, 0, "max 100000", "max");
  V2Cgroup(c, 1e6, 1e8, 0, "max 100000", "max");
  Write(c + "/memory.swap.current", "4096\n");
  const std::string key = "container_memory_swap{id=\"/docker/" + id_ + "\", name=\"" + id_ + "\"}";
  Write(dir_.Join("proc/meminfo"), "MemTotal: 100 kB\nSwapTotal:       0 kB\n");
  EXPECT_EQ(Flatten(Collect(root))[key], 0);
  Write(dir_.Join("proc/meminfo"), "MemTotal: 100 kB\nSwapTotal:    2048 kB\n");
  EXPECT_EQ(Flatten(Collect(root))[key], 4096);
}

}  // namespace
}  // namespace vigil::agent
