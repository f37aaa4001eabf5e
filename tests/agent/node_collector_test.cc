// The node collector against prometheus-node-exporter on this machine, series by series for the
// families vigil implements, and against a fixture /proc for exact values.

#include "node_collector.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "testing.h"
#include "vigil/common/http_client.h"

namespace vigil::agent {
namespace {

std::map<std::string, double> Flatten(const std::vector<expo::Family>& families) {
  std::map<std::string, double> out;
  for (const auto& f : families) {
    for (const auto& s : f.samples) out[s.labels.ToString()] = s.value;
  }
  return out;
}

TEST(NodeCollectorTest, FixtureProc) {
  testing::TempDir dir;
  auto write = [&](const std::string& rel, const std::string& text) {
    std::filesystem::create_directories(std::filesystem::path(dir.Join(rel)).parent_path());
    std::ofstream(dir.Join(rel)) << text;
  };
  write("stat",
        "cpu  10 20 30 40 50 60 70 80 90 100\ncpu0 100 0 200 300 5 0 1 0 7 0\n"
        "intr 12345 1 2 3\nctxt 999\nbtime 1700000000\nprocesses 4242\n"
        "procs_running 3\nprocs_blocked 1\n");
  write("meminfo",
        "MemTotal:       16384 kB\nActive(anon):    2048 kB\nHugePages_Total:       4\n");
  write("loadavg", "0.50 0.25 0.10 2/300 12345\n");
  write("sys/fs/file-nr", "1024\t0\t9223372036854775807\n");
  write("net/dev",
        "Inter-|   Receive                                                |  Transmit\n"
        " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs "
        "drop fifo colls carrier compressed\n"
        "  eth0: 1000 10 1 2 0 0 0 3 2000 20 0 0 0 0 0 0\n");
  write("diskstats",
        " 254       0 vda 678135 22479 49264570 2777517 1046751 210034 425295576 3065578 0 725316 "
        "6216607 236921 67 842793136 253742 252842 119768\n"
        " 254       1 vda1 10 0 80 1 0 0 0 0 0 1 1 0 0 0 0 0 0\n"
        "   7       0 loop0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n");
  write("pressure/memory",
        "some avg10=0.00 avg60=0.00 avg300=0.00 total=1500000\n"
        "full avg10=0.00 avg60=0.00 avg300=0.00 total=500000\n");
  // Mounts: the root and a read-only disk with a space in its path count; /proc, a container's
  // overlay and systemd's credentials do not.
  write("1/mounts",
        "/dev/root / ext4 rw,relatime 0 0\nproc /proc proc rw 0 0\n"
        "overlay /var/lib/docker/overlay2/x/merged overlay rw 0 0\n"
        "/dev/vdb /data\\040disk ext4 ro,noatime 0 0\n"
        "tmpfs /run/credentials/a.service tmpfs ro 0 0\n");
  std::filesystem::create_directories(dir.Join("root/data disk"));
  write("sys/devices/system/clocksource/clocksource0/available_clocksource", "kvm-clock tsc\n");
  write("sys/devices/system/clocksource/clocksource0/current_clocksource", "tsc\n");
  auto clock = std::make_shared<ManualClock>();
  NodeCollector c(RealFileSystem(), {dir.path(), dir.Join("sys"), dir.Join("root"), clock});
  auto got = Flatten(c.Collect());
  const double hz = static_cast<double>(::sysconf(_SC_CLK_TCK));
  EXPECT_EQ((got["{__name__=\"node_cpu_seconds_total\", cpu=\"0\", mode=\"system\"}"]), 200 / hz);
  EXPECT_EQ((got["{__name__=\"node_cpu_seconds_total\", cpu=\"0\", mode=\"softirq\"}"]), 1 / hz);
  EXPECT_EQ((got["{__name__=\"node_cpu_guest_seconds_total\", cpu=\"0\", mode=\"user\"}"]), 7 / hz);
  EXPECT_EQ(got.count("{__name__=\"node_cpu_seconds_total\", cpu=\"\", mode=\"user\"}"), 0u);
  EXPECT_EQ(got["{__name__=\"node_intr_total\"}"], 12345);
  EXPECT_EQ(got["{__name__=\"node_boot_time_seconds\"}"], 1700000000);
  EXPECT_EQ(got["{__name__=\"node_forks_total\"}"], 4242);
  EXPECT_EQ(got["{__name__=\"node_memory_MemTotal_bytes\"}"], 16384.0 * 1024);
  EXPECT_EQ(got["{__name__=\"node_memory_Active_anon_bytes\"}"], 2048.0 * 1024);
  EXPECT_EQ(got["{__name__=\"node_memory_HugePages_Total\"}"], 4);
  EXPECT_EQ(got["{__name__=\"node_load5\"}"], 0.25);
  EXPECT_EQ(got["{__name__=\"node_filefd_allocated\"}"], 1024);
  EXPECT_EQ(got["{__name__=\"node_network_receive_multicast_total\", device=\"eth0\"}"], 3);
  EXPECT_EQ(got["{__name__=\"node_network_transmit_bytes_total\", device=\"eth0\"}"], 2000);
  EXPECT_EQ(got["{__name__=\"node_pressure_memory_stalled_seconds_total\"}"], 0.5);
  EXPECT_EQ(got["{__name__=\"node_disk_read_bytes_total\", device=\"vda\"}"], 49264570.0 * 512);
  EXPECT_EQ(got["{__name__=\"node_disk_io_time_seconds_total\", device=\"vda\"}"], 725.316);
  EXPECT_EQ(got["{__name__=\"node_disk_flush_requests_total\", device=\"vda\"}"], 252842);
  EXPECT_EQ(got["{__name__=\"node_disk_info\", device=\"vda\", major=\"254\", minor=\"0\"}"], 1);
  const std::string data = "device=\"/dev/vdb\", fstype=\"ext4\", mountpoint=\"/data disk\"}";
  EXPECT_EQ(got["{__name__=\"node_filesystem_readonly\", " + data], 1);
  EXPECT_GT(got["{__name__=\"node_filesystem_size_bytes\", " + data], 0);
  EXPECT_EQ(got["{__name__=\"node_filesystem_device_error\", " + data], 0);
  EXPECT_EQ(got["{__name__=\"node_filesystem_readonly\", device=\"/dev/root\", fstype=\"ext4\", "
                "mountpoint=\"/\"}"],
            0);
  size_t filesystems = 0;
  for (const auto& [k, v] : got) filesystems += k.starts_with("{__name__=\"node_filesystem_size");
  EXPECT_EQ(filesystems, 2u);
  EXPECT_EQ(got["{__name__=\"node_time_seconds\"}"],
            std::chrono::duration<double>(clock->Now().time_since_epoch()).count());
  EXPECT_EQ(got["{__name__=\"node_time_clocksource_current_info\", clocksource=\"tsc\", "
                "device=\"0\"}"],
            1);
  EXPECT_EQ(got.count("{__name__=\"node_time_clocksource_available_info\", "
                      "clocksource=\"kvm-clock\", device=\"0\"}"),
            1u);
  // Partitions and loop devices are left out, as node_exporter's default exclude does.
  for (const auto& [k, v] : got) {
    EXPECT_EQ(k.find("vda1"), std::string::npos) << k;
    EXPECT_EQ(k.find("loop0"), std::string::npos) << k;
  }
  EXPECT_EQ(c.missing_files(), 0u);
}

// Pass after pass the collector reuses what it built (label sets, their text, the mount list):
// changes between passes must still show, and the text it writes with a pass must be what
// expo::Write writes for the pass' families.
TEST(NodeCollectorTest, PassesFollowChangesAndWriteTheirText) {
  testing::TempDir dir;
  auto write = [&](const std::string& rel, const std::string& text) {
    std::filesystem::create_directories(std::filesystem::path(dir.Join(rel)).parent_path());
    std::ofstream(dir.Join(rel)) << text;
  };
  auto netdev = [&](const std::string& devices) {
    write("net/dev",
          "Inter-|   Receive                                                |  Transmit\n"
          " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets "
          "errs drop fifo colls carrier compressed\n" +
              devices);
  };
  write("stat", "cpu0 100 0 200 300 5 0 1 0 7 0\nctxt 999\n");
  write("meminfo", "MemTotal:       16384 kB\n");
  netdev("  eth0: 1000 10 1 2 0 0 0 3 2000 20 0 0 0 0 0 0\n");
  write("1/mounts", "/dev/root / ext4 rw,relatime 0 0\n");
  std::filesystem::create_directories(dir.Join("root/data"));
  NodeCollector c(RealFileSystem(),
                  {dir.path(), dir.Join("sys"), dir.Join("root"), std::make_shared<ManualClock>()});
  // The agent hands the collector the vector of the pass before last to fill again; a second
  // collector makes a new vector each pass. Both must see the same.
  NodeCollector fresh(RealFileSystem(), {dir.path(), dir.Join("sys"), dir.Join("root"),
                                         std::make_shared<ManualClock>()});
  std::vector<expo::Family> reused[2];
  int n = 0;
  auto pass = [&] {
    auto& families = reused[n++ % 2];
    c.Collect(families);
    std::string text;
    c.AppendText(text, families);
    EXPECT_EQ(text, expo::Write(families, expo::Format::kText));
    for (const auto& f : families) EXPECT_FALSE(f.samples.empty()) << f.name;
    // Free space is the real disk's (statfs), which other tests write to between the two
    // collections: those values are left out of the comparison, their series are not.
    auto steady = [](std::map<std::string, double> m) {
      for (auto& [k, v] : m) {
        for (const char* name : {"node_filesystem_avail_bytes", "node_filesystem_free_bytes",
                                 "node_filesystem_files_free"}) {
          if (k.starts_with("{__name__=\"" + std::string(name) + "\"")) v = 0;
        }
      }
      return m;
    };
    EXPECT_EQ(steady(Flatten(families)), steady(Flatten(fresh.Collect())));
    return Flatten(families);
  };
  auto got = pass();
  EXPECT_EQ(got["{__name__=\"node_network_receive_bytes_total\", device=\"eth0\"}"], 1000);
  EXPECT_EQ(got["{__name__=\"node_context_switches_total\"}"], 999);
  // A device and a mount appear, values move.
  netdev(
      "  eth0: 1500 10 1 2 0 0 0 3 2000 20 0 0 0 0 0 0\n"
      "  eth1: 7 1 0 0 0 0 0 0 9 1 0 0 0 0 0 0\n");
  write("stat", "cpu0 100 0 200 300 5 0 1 0 7 0\nctxt 1999\n");
  write("1/mounts", "/dev/root / ext4 rw,relatime 0 0\n/dev/vdb /data ext4 ro 0 0\n");
  got = pass();
  EXPECT_EQ(got["{__name__=\"node_network_receive_bytes_total\", device=\"eth0\"}"], 1500);
  EXPECT_EQ(got["{__name__=\"node_network_transmit_bytes_total\", device=\"eth1\"}"], 9);
  EXPECT_EQ(got["{__name__=\"node_context_switches_total\"}"], 1999);
  EXPECT_EQ(got["{__name__=\"node_filesystem_readonly\", device=\"/dev/vdb\", fstype=\"ext4\", "
                "mountpoint=\"/data\"}"],
            1);
  // They go again.
  netdev("  eth1: 8 1 0 0 0 0 0 0 9 1 0 0 0 0 0 0\n");
  write("1/mounts", "/dev/root / ext4 rw,relatime 0 0\n");
  got = pass();
  EXPECT_EQ(got.count("{__name__=\"node_network_receive_bytes_total\", device=\"eth0\"}"), 0u);
  EXPECT_EQ(got["{__name__=\"node_network_receive_bytes_total\", device=\"eth1\"}"], 8);
  for (const auto& [k, v] : got) EXPECT_EQ(k.find("/dev/vdb"), std::string::npos) << k;
  // No device at all: the network families are left out, and come back with a device.
  netdev("");
  got = pass();
  for (const auto& [k, v] : got) EXPECT_EQ(k.find("node_network_"), std::string::npos) << k;
  EXPECT_EQ(got["{__name__=\"node_context_switches_total\"}"], 1999);
  netdev("  eth2: 5 1 0 0 0 0 0 0 9 1 0 0 0 0 0 0\n");
  got = pass();
  EXPECT_EQ(got["{__name__=\"node_network_receive_bytes_total\", device=\"eth2\"}"], 5);
  for (int i = 0; i < 3; ++i) pass();  // steady passes write the same text as expo::Write too
}

// Scrapes node_exporter and collects at about the same moment: the same series, and values
// that agree within what the time between the two reads explains.
TEST(NodeCollectorTest, SameSeriesAsNodeExporter) {
  ASSERT_TRUE(testing::HaveProgram("prometheus-node-exporter"))
      << "prometheus-node-exporter is installed by scripts/setup.sh";
  testing::TempDir dir;
  const std::string addr = "127.0.0.1:" + std::to_string(testing::FreePort());
  // The families vigil implements; netdev from /proc/net/dev as vigil reads it (node_exporter
  // 1.5 reads netlink by default, which adds receive_nohandler).
  testing::Subprocess exporter(
      {"prometheus-node-exporter", "--web.listen-address=" + addr, "--collector.disable-defaults",
       "--collector.cpu", "--collector.meminfo", "--collector.loadavg", "--collector.stat",
       "--collector.filefd", "--collector.netdev", "--no-collector.netdev.netlink",
       "--collector.diskstats", "--collector.pressure", "--collector.filesystem",
       // Upstream node_exporter 1.5's default (Debian's package also leaves out /run, /mnt and
       // /media); vigil keeps upstream's, what the node_exporter images in clusters use.
       "--collector.filesystem.mount-points-exclude=^/(dev|proc|run/credentials/.+|sys|"
       "var/lib/docker/.+|var/lib/containers/storage/.+)($|/)",
       "--collector.time"},
      dir.path());
  const std::string url = "http://" + addr + "/metrics";
  ASSERT_TRUE(testing::WaitForHttpOk(url)) << exporter.Stderr();
  http::HttpClient client;
  auto res = client.Get(url);
  NodeCollector c(RealFileSystem(), {});
  auto ours = c.Collect();
  ASSERT_TRUE(res.ok() && res->status == 200);
  auto theirs = expo::Parse(res->body, expo::Format::kText);
  ASSERT_TRUE(theirs.ok()) << theirs.status().ToString();

  std::map<std::string, double> want;
  std::set<std::string> names;
  for (const auto& f : *theirs) {
    if (!f.name.starts_with("node_") || f.name.starts_with("node_scrape_") ||
        f.name.starts_with("node_exporter_")) {
      continue;
    }
    names.insert(f.name);
    for (const auto& s : f.samples) {
      // An empty label is no label (node_disk_info's udev fields here), as Prometheus stores it.
      LabelsBuilder b;
      for (const Label& l : s.labels) b.Set(l.name, l.value);
      want[b.Build().ToString()] = s.value;
    }
  }
  auto got = Flatten(ours);
  ASSERT_GT(want.size(), 50u);
  for (const auto& [key, v] : want) {
    ASSERT_TRUE(got.count(key)) << "node_exporter has " << key << ", vigil does not";
    const double g = got[key];
    // Counters move between the reads, gauges like free memory too: how far depends on the
    // series. Totals (MemTotal, boot time, maximums) must be equal.
    double tolerance = 0;
    if (key.find("node_cpu_") != std::string::npos) tolerance = 1.0;  // seconds, per CPU
    if (key.find("node_memory_") != std::string::npos) tolerance = 64 << 20;
    if (key.find("node_network_") != std::string::npos) tolerance = 1e6;
    if (key.find("node_context_switches") != std::string::npos ||
        key.find("node_intr") != std::string::npos) {
      tolerance = 1e6;
    }
    if (key.find("node_forks") != std::string::npos) tolerance = 1000;
    if (key.find("node_procs_") != std::string::npos ||
        key.find("node_load") != std::string::npos ||
        key.find("node_filefd_allocated") != std::string::npos) {
      tolerance = 500;
    }
    if (key.find("node_pressure") != std::string::npos) tolerance = 1;
    // This machine's tests write to its disks meanwhile.
    if (key.find("node_filesystem_") != std::string::npos) tolerance = 512 << 20;
    if (key.find("node_filesystem_files") != std::string::npos) tolerance = 100'000;
    if (key.find("node_time_seconds") != std::string::npos) tolerance = 5;
    // Disks keep working between the two reads (this machine builds and tests on vda).
    if (key.find("node_disk_") != std::string::npos) tolerance = 1e9;
    if (key.find("node_disk_info") != std::string::npos) tolerance = 0;
    if (key.find("MemTotal") != std::string::npos || key.find("SwapTotal") != std::string::npos ||
        key.find("node_boot_time") != std::string::npos ||
        key.find("node_filefd_maximum") != std::string::npos) {
      tolerance = 0;
    }
    EXPECT_LE(std::fabs(g - v), tolerance) << key << ": vigil " << g << ", node_exporter " << v;
  }
  for (const auto& [key, v] : got) {
    EXPECT_TRUE(want.count(key)) << "vigil has " << key << ", node_exporter does not";
  }
  exporter.Stop(SIGTERM);
}

}  // namespace
}  // namespace vigil::agent
