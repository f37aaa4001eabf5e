// One collection pass of the agent over a cgroup v2 fixture tree with N containers (systemd +
// containerd layout, written under --dir, put it on tmpfs), plus the node collector on this
// machine's /proc: CPU and wall time per pass, the CPU of turning the pass into an encoded
// remote_write batch (reported apart), and the process' RSS after the passes. Each
// container has what the collector reads on a real v2 node: cpu, memory, io and PSI files, a
// process whose network namespace (shared by the pod's containers) has an eth0, and the
// kubelet's log layout names each pod and container.
//
//   build/bench/agent_collect --dir /dev/shm/vigil-cg --containers 1000 --passes 20

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "container_collector.h"
#include "node_collector.h"
#include "remote_write_queue.h"
#include "vigil/common/remote_write.h"

#include <snappy.h>

namespace {

namespace fs = std::filesystem;

void Write(const fs::path& p, const std::string& s) { std::ofstream(p) << s; }

void Cgroup(const fs::path& dir, int i) {
  fs::create_directories(dir);
  Write(dir / "cpu.stat", "usage_usec " + std::to_string(1000000 + i) +
                              "\nuser_usec 700000\nsystem_usec 300000\nnr_periods 50\n"
                              "nr_throttled 5\nthrottled_usec 250000\nnr_bursts 0\nburst_usec 0\n");
  Write(dir / "cpu.max", "max 100000\n");
  Write(dir / "cpu.weight", "100\n");
  Write(dir / "memory.current", std::to_string(100000000 + i) + "\n");
  Write(dir / "memory.peak", "200000000\n");
  Write(dir / "memory.max", "max\n");
  Write(dir / "memory.swap.current", "0\n");
  Write(dir / "memory.swap.max", "max\n");
  // A real memory.stat has ~40 lines.
  std::string stat;
  for (const char* k : {"anon",
                        "file",
                        "kernel",
                        "kernel_stack",
                        "pagetables",
                        "sec_pagetables",
                        "percpu",
                        "sock",
                        "vmalloc",
                        "shmem",
                        "zswap",
                        "zswapped",
                        "file_mapped",
                        "file_dirty",
                        "file_writeback",
                        "swapcached",
                        "anon_thp",
                        "file_thp",
                        "shmem_thp",
                        "inactive_anon",
                        "active_anon",
                        "inactive_file",
                        "active_file",
                        "unevictable",
                        "slab_reclaimable",
                        "slab_unreclaimable",
                        "slab",
                        "workingset_refault_anon",
                        "workingset_refault_file",
                        "workingset_activate_anon",
                        "workingset_activate_file",
                        "pgfault",
                        "pgmajfault",
                        "pgrefill",
                        "pgscan",
                        "pgsteal",
                        "pgactivate"}) {
    stat += std::string(k) + " " + std::to_string(4096 * (i + 1)) + "\n";
  }
  Write(dir / "memory.stat", stat);
  Write(dir / "memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n");
  Write(dir / "pids.current", "3\n");
  Write(dir / "io.stat",
        "8:0 rbytes=" + std::to_string(4096 * i) + " wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n");
  for (const char* f : {"cpu.pressure", "io.pressure", "memory.pressure"}) {
    Write(dir / f, "some avg10=0.00 avg60=0.00 avg300=0.00 total=" + std::to_string(1000 + i) +
                       "\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=" + std::to_string(i) +
                       "\n");
  }
  // Files the collector does not read, as a real cgroup has them.
  for (const char* f : {"cgroup.threads", "cgroup.type", "cgroup.events", "memory.low",
                        "memory.high", "memory.min", "pids.max"}) {
    Write(dir / f, "\n");
  }
}

// A process of a pod in --proc-root: its network namespace (a file whose inode stands for it)
// and /proc/<pid>/net/dev with eth0.
void PodProcess(const fs::path& proc, int pid) {
  fs::create_directories(proc / std::to_string(pid) / "ns");
  fs::create_directories(proc / std::to_string(pid) / "net");
  Write(proc / std::to_string(pid) / "ns" / "net", "netns");
  Write(proc / std::to_string(pid) / "net" / "dev",
        "Inter-|   Receive                                                |  Transmit\n"
        " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs "
        "drop fifo colls carrier compressed\n"
        "    lo:     100       1    0    0    0     0          0         0      100       1    0 "
        "   0    0     0       0          0\n"
        "  eth0: " +
            std::to_string(5000 + pid) +
            "      50    1    2    0     0          0         0     7000      70    3 "
            "   4    0     0       0          0\n");
}

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

long RssKb() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("VmRSS:")) return std::atol(line.c_str() + 6);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = "/dev/shm/vigil-cg";
  int containers = 1000, passes = 20;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--dir") dir = argv[i + 1];
    if (a == "--containers") containers = std::atoi(argv[i + 1]);
    if (a == "--passes") passes = std::atoi(argv[i + 1]);
  }
  // The fixture /proc sits beside the cgroup tree, not in it (the walk would list it).
  const std::string proc_dir = dir + "-proc";
  const std::string log_dir = dir + "-log";
  fs::remove_all(dir);
  fs::remove_all(proc_dir);
  fs::remove_all(log_dir);
  Cgroup(dir, 0);
  const fs::path qos = fs::path(dir) / "kubepods.slice" / "kubepods-burstable.slice";
  Cgroup(fs::path(dir) / "kubepods.slice", 0);
  Cgroup(qos, 0);
  for (int p = 0; p < containers / 2; ++p) {
    char uid[64];
    std::snprintf(uid, sizeof(uid), "%08x_1111_2222_3333_%012d", p, p);
    const fs::path pod = qos / ("kubepods-burstable-pod" + std::string(uid) + ".slice");
    Cgroup(pod, p);
    // The kubelet's names: /var/log/pods/<ns>_<pod>_<uid>/<container>/ and
    // /var/log/containers/<pod>_<ns>_<container>-<id>.log.
    std::string dashed_uid = uid;
    std::replace(dashed_uid.begin(), dashed_uid.end(), '_', '-');
    const std::string pod_name = "app-" + std::to_string(p) + "-7d4b9c8f6-x2x9k";
    for (int c = 0; c < 2; ++c) {
      char id[65];
      std::snprintf(id, sizeof(id), "%064d", p * 2 + c);
      const std::string container_name = c == 0 ? "app" : "sidecar";
      fs::create_directories(
          fs::path(log_dir) / "pods" /
          ("team-" + std::to_string(p % 20) + "_" + pod_name + "_" + dashed_uid) / container_name);
      fs::create_directories(fs::path(log_dir) / "containers");
      Write(fs::path(log_dir) / "containers" /
                (pod_name + "_team-" + std::to_string(p % 20) + "_" + container_name + "-" + id +
                 ".log"),
            "");
      const fs::path container = pod / ("cri-containerd-" + std::string(id) + ".scope");
      Cgroup(container, p * 2 + c);
      // Both containers of a pod share its network namespace: the second one's process links
      // to the first one's.
      const int pid = 1000 + p * 2 + c;
      Write(container / "cgroup.procs", std::to_string(pid) + "\n");
      if (c == 0) {
        PodProcess(fs::path(proc_dir), pid);
      } else {
        fs::create_directories(fs::path(proc_dir) / std::to_string(pid) / "net");
        fs::create_directories(fs::path(proc_dir) / std::to_string(pid) / "ns");
        fs::create_hard_link(fs::path(proc_dir) / std::to_string(pid - 1) / "ns" / "net",
                             fs::path(proc_dir) / std::to_string(pid) / "ns" / "net");
      }
    }
  }
  // A node without swap, as Kubernetes nodes are by default (this machine has none either).
  Write(fs::path(proc_dir) / "meminfo",
        "MemTotal:       24683656 kB\nSwapTotal:             0 kB\n");
  fs::create_directories(fs::path(proc_dir) / "1" / "ns");
  Write(fs::path(proc_dir) / "1" / "ns" / "net", "host");
  auto mounts =
      vigil::agent::ParseCgroupMounts("1 0 0:1 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", dir);
  vigil::agent::ContainerCollector::Options options;
  options.kubelet_log_dir = log_dir;
  options.proc_root = proc_dir;
  vigil::agent::ContainerCollector collector(vigil::RealFileSystem(), *mounts, options);
  vigil::agent::NodeCollector node(vigil::RealFileSystem(), {});
  size_t series = 0, named = 0;
  double cpu_total = 0, wall_total = 0, ship_total = 0;
  size_t body_bytes = 0;
  const vigil::agent::SeriesWriter writer(vigil::Labels{
      {"instance", "node-1"}, {"job", "kubelet"}, {"metrics_path", "/metrics/cadvisor"}});
  std::vector<vigil::expo::Family> node_passes[2];
  for (int i = 0; i < passes; ++i) {
    const double cpu0 = CpuSeconds();
    const auto t0 = std::chrono::steady_clock::now();
    auto view = collector.Collect();
    // As the agent does: the vector of the pass before last filled again.
    auto& node_families = node_passes[i % 2];
    node.Collect(node_families);
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double cpu = CpuSeconds() - cpu0;
    if (i > 0) {  // the first pass warms the dentry cache
      cpu_total += cpu;
      wall_total += wall;
    }
    // What the agent does next with a pass when it ships: the remote_write batch, encoded.
    const double ship0 = CpuSeconds();
    // As Agent::Ship does it: encoded straight into bytes, compressed in ~512 KiB records.
    vigil::remote::WriteRequestEncoder batch;
    std::string compressed;
    body_bytes = 0;
    auto flush = [&] {
      snappy::Compress(batch.bytes().data(), batch.bytes().size(), &compressed);
      body_bytes += compressed.size();
      batch.Clear();
    };
    (*view)->ForEachSeries([&](std::span<const vigil::LabelView> labels, double v, uint64_t) {
      writer.Add(labels, 1'700'000'000'000, v, batch);
      if (batch.bytes().size() >= (512 << 10)) flush();
    });
    flush();
    if (i > 0) ship_total += CpuSeconds() - ship0;
    series = 0;
    series += (*view)->series();
    named = 0;
    for (const auto& cg : (*view)->cgroups) named += cg.base.Get("container").empty() ? 0 : 1;
    for (const auto& f : node_families) series += f.samples.size();
  }
  std::printf(
      "{\"containers\": %d, \"named\": %zu, \"series\": %zu, \"cpu_ms_per_pass\": %.2f, "
      "\"wall_ms_per_pass\": "
      "%.2f, \"ship_cpu_ms_per_pass\": %.2f, \"remote_write_body_bytes\": %zu, "
      "\"rss_mib\": %.1f}\n",
      containers, named, series, 1000 * cpu_total / (passes - 1), 1000 * wall_total / (passes - 1),
      1000 * ship_total / (passes - 1), body_bytes, static_cast<double>(RssKb()) / 1024);
  fs::remove_all(dir);
  fs::remove_all(proc_dir);
  fs::remove_all(log_dir);
  return 0;
}
