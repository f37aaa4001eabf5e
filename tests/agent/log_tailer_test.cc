// LogTailer against a push receiver on loopback (an HttpServer decoding with the real push
// codec): kubelet-layout labels, CRI partials joined, unparsed lines shipped raw, retries while
// the receiver fails, positions saved only after acknowledgement so a restart re-sends nothing
// acknowledged and skips nothing.

#include "log_tailer.h"

#include <gtest/gtest.h>

#include <algorithm>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "testing.h"
#include "vigil/common/http_server.h"
#include "vigil/common/loki_push.h"

namespace vigil::agent {
namespace {

class Receiver {
 public:
  Receiver() {
    http::Router r;
    r.Post("/loki/api/v1/push", [this](const http::Request& req, http::Response& res) {
      if (failing_) {
        ++refused_;
        res = http::Response::Text(503, "down for the test\n");
        return;
      }
      auto streams = loki::DecodePush(req.body, req.Header("Content-Type"));
      if (!streams.ok()) {
        res = http::Response::Text(400, streams.status().message());
        return;
      }
      std::lock_guard lock(mu_);
      for (auto& s : *streams) {
        for (auto& e : s.entries) got_.push_back({s.labels, e.line});
      }
      res = http::Response::Text(204, "");
    });
    http::ServerOptions o;
    o.listen = "127.0.0.1:0";
    auto server = http::HttpServer::Start(o, std::move(r));
    EXPECT_TRUE(server.ok()) << server.status().ToString();
    if (server.ok()) server_ = std::move(server).value();
  }
  std::string url() const { return "http://" + server_->address() + "/loki/api/v1/push"; }
  std::vector<std::pair<Labels, std::string>> got() {
    std::lock_guard lock(mu_);
    return got_;
  }
  std::vector<std::string> lines() {
    std::vector<std::string> out;
    for (auto& [l, line] : got()) out.push_back(line);
    return out;
  }
  std::atomic<bool> failing_{false};
  std::atomic<int> refused_{0};

 private:
  std::mutex mu_;
  std::vector<std::pair<Labels, std::string>> got_;
  std::unique_ptr<http::HttpServer> server_;
};

class LogTailerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log_ = dir_.Join("pods/default_web-1_0c5a/app/0.log");
    std::filesystem::create_directories(std::filesystem::path(log_).parent_path());
  }
  void Append(const std::string& text) { std::ofstream(log_, std::ios::app) << text; }
  LogTailerOptions Opts() {
    LogTailerOptions o;
    o.globs = {dir_.Join("pods/*/*/*.log")};
    o.push_url = receiver_.url();
    o.positions_file = dir_.Join("positions.json");
    o.static_labels = Labels{{"node", "n1"}};
    o.poll_interval = std::chrono::milliseconds(20);
    o.max_backoff = std::chrono::milliseconds(50);
    return o;
  }
  testing::TempDir dir_;
  std::string log_;
  Receiver receiver_;
  std::shared_ptr<Clock> clock_ = RealClock();
};

TEST_F(LogTailerTest, LabelsPartialsAndRawLines) {
  Append(
      "2026-11-30T05:55:18.1Z stdout F hello\n"
      "2026-11-30T05:55:18.2Z stderr P part one, \n"
      "2026-11-30T05:55:18.3Z stderr F part two\n"
      "not a CRI line at all\n");
  LogTailer t(RealFileSystem(), clock_, Opts());
  EXPECT_EQ(t.RunOnce(), 3u);
  auto got = receiver_.got();
  ASSERT_EQ(got.size(), 3u);
  std::map<std::string, Labels> by_line;
  for (auto& [l, line] : got) by_line[line] = l;
  ASSERT_EQ(by_line.count("part one, part two"), 1u);
  EXPECT_EQ(by_line["hello"], (Labels{{"container", "app"},
                                      {"namespace", "default"},
                                      {"node", "n1"},
                                      {"pod", "web-1"},
                                      {"pod_uid", "0c5a"},
                                      {"stream", "stdout"}}));
  EXPECT_EQ(by_line["part one, part two"].Get("stream"), "stderr");
  EXPECT_EQ(by_line.count("not a CRI line at all"), 1u);  // shipped raw, counted
}

TEST_F(LogTailerTest, ReceiverOutageAndRestartLoseAndRepeatNothing) {
  for (int i = 0; i < 50; ++i)
    Append("2026-11-30T05:55:18Z stdout F n=" + std::to_string(i) + "\n");
  receiver_.failing_ = true;
  {
    LogTailer t(RealFileSystem(), clock_, Opts());
    t.Start();
    ASSERT_TRUE(testing::WaitFor([&] { return receiver_.refused_ >= 3; }));
    for (int i = 50; i < 80; ++i)
      Append("2026-11-30T05:55:18Z stdout F n=" + std::to_string(i) + "\n");
    receiver_.failing_ = false;
    ASSERT_TRUE(testing::WaitFor([&] { return receiver_.lines().size() >= 80; }));
    t.Stop();
  }
  // A restart resumes after what was acknowledged: nothing again, then only what is new.
  for (int i = 80; i < 90; ++i)
    Append("2026-11-30T05:55:18Z stdout F n=" + std::to_string(i) + "\n");
  LogTailer again(RealFileSystem(), clock_, Opts());
  while (again.RunOnce() > 0) {
  }
  auto lines = receiver_.lines();
  ASSERT_EQ(lines.size(), 90u);
  for (int i = 0; i < 90; ++i) EXPECT_EQ(lines[static_cast<size_t>(i)], "n=" + std::to_string(i));
}

TEST_F(LogTailerTest, ARemovedPodsLastLinesAreStillSent) {
  LogTailerOptions o = Opts();
  o.discover_every = std::chrono::milliseconds(0);  // look for files at every round
  o.rotate_wait = std::chrono::milliseconds(0);
  LogTailer t(RealFileSystem(), clock_, o);
  Append("2026-11-30T05:55:18Z stdout F first\n");
  EXPECT_EQ(t.RunOnce(), 1u);
  // The pod goes away: its last lines were written but not read yet.
  Append("2026-11-30T05:55:19Z stdout F last words\n");
  std::filesystem::remove_all(dir_.Join("pods/default_web-1_0c5a"));
  EXPECT_EQ(t.RunOnce(), 1u);
  EXPECT_EQ(receiver_.lines(), (std::vector<std::string>{"first", "last words"}));
  t.RunOnce();
  EXPECT_EQ(t.files(), 0u);  // let go once read to the end
}

// A storm of rotations while a writer appends numbered lines, faster than the tailer's
// rotate_wait: hundreds of rename-and-create and copytruncate rotations, mixed. Every number
// arrives, once.
TEST_F(LogTailerTest, ARotationStormLosesAndRepeatsNothing) {
  LogTailerOptions o = Opts();
  o.rotate_wait = std::chrono::milliseconds(100);
  o.batch_bytes = 16 << 10;
  LogTailer t(RealFileSystem(), clock_, o);
  Append("2026-11-30T05:55:18.000000001Z stdout F n=0\n");
  t.Start();
  ASSERT_TRUE(testing::WaitFor([&] { return receiver_.lines().size() == 1; }));
  const int total = 20000, every = 50;
  int rotations = 0;
  {
    std::ofstream out(log_, std::ios::app);
    for (int i = 1; i < total; ++i) {
      out << "2026-11-30T05:55:18.000000001Z stdout F n=" << i << "\n";
      if ((i + 1) % every == 0) testing::RotateLog(out, log_, ++rotations);
    }
  }
  ASSERT_GE(rotations, 300);
  std::vector<std::string> lines;
  testing::WaitFor(
      [&] {
        lines = receiver_.lines();
        return lines.size() >= static_cast<size_t>(total);
      },
      std::chrono::seconds(60));
  t.Stop();
  std::map<int, int> seen;
  for (const auto& l : lines) ++seen[std::stoi(l.substr(2))];
  std::vector<int> missing, repeated;
  for (int i = 0; i < total; ++i) {
    if (seen[i] == 0) missing.push_back(i);
    if (seen[i] > 1) repeated.push_back(i);
  }
  auto first = [](const std::vector<int>& v) {
    std::string out;
    for (size_t i = 0; i < v.size() && i < 20; ++i) out += std::to_string(v[i]) + " ";
    return out;
  };
  EXPECT_TRUE(missing.empty()) << missing.size() << " missing: " << first(missing);
  EXPECT_TRUE(repeated.empty()) << repeated.size() << " repeated: " << first(repeated);
}

// A pod started after the agent is found by inotify at once: the globs are not listed again
// for an hour here, so polling cannot be what finds it.
TEST_F(LogTailerTest, ANewPodsLogIsFoundByInotify) {
  LogTailerOptions o = Opts();
  o.discover_every = std::chrono::hours(1);
  o.poll_interval = std::chrono::seconds(1);
  Append("2026-11-30T05:55:18Z stdout F first\n");
  LogTailer t(RealFileSystem(), clock_, o);
  t.Start();
  ASSERT_TRUE(testing::WaitFor([&] { return receiver_.lines().size() == 1; }));
  const std::string later = dir_.Join("pods/default_web-2_77aa/app/0.log");
  std::filesystem::create_directories(std::filesystem::path(later).parent_path());
  std::ofstream(later) << "2026-11-30T05:55:19Z stdout F from the new pod\n";
  ASSERT_TRUE(testing::WaitFor([&] { return receiver_.lines().size() == 2; }))
      << receiver_.lines().size();
  EXPECT_EQ(receiver_.lines()[1], "from the new pod");
  t.Stop();
}

// Without inotify the globs are listed again every discover_every / 10.
TEST_F(LogTailerTest, WithoutInotifyPollingFindsNewFiles) {
  LogTailerOptions o = Opts();
  o.inotify = false;
  o.discover_every = std::chrono::milliseconds(500);
  Append("2026-11-30T05:55:18Z stdout F first\n");
  LogTailer t(RealFileSystem(), clock_, o);
  t.Start();
  ASSERT_TRUE(testing::WaitFor([&] { return receiver_.lines().size() == 1; }));
  const std::string later = dir_.Join("pods/default_web-2_77aa/app/0.log");
  std::filesystem::create_directories(std::filesystem::path(later).parent_path());
  std::ofstream(later) << "2026-11-30T05:55:19Z stdout F polled\n";
  ASSERT_TRUE(testing::WaitFor([&] { return receiver_.lines().size() == 2; }));
  t.Stop();
}

TEST(GlobDirectoriesTest, FixedPrefixAndEachMatchedLevel) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.Join("pods/ns_a_1/app"));
  std::filesystem::create_directories(dir.Join("pods/ns_b_2/db"));
  testing::WriteFile(dir.Join("pods/ns_a_1/file.log"), "not a directory level\n");
  auto got = GlobDirectories(dir.Join("pods/*/*/*.log"));
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{dir.Join("pods"), dir.Join("pods/ns_a_1"),
                                           dir.Join("pods/ns_a_1/app"), dir.Join("pods/ns_b_2"),
                                           dir.Join("pods/ns_b_2/db")}));
  EXPECT_EQ(GlobDirectories("/var/log/syslog"), std::vector<std::string>{"/var/log"});
  EXPECT_EQ(GlobDirectories(dir.Join("x/*/logs/*.log")), std::vector<std::string>{dir.Join("x")});
}

TEST(PathLabelsTest, KubeletLayouts) {
  EXPECT_EQ(PathLabels("/var/log/pods/kube-system_coredns-5d78c9869d-abcde_9f1c/coredns/3.log"),
            (Labels{{"container", "coredns"},
                    {"namespace", "kube-system"},
                    {"pod", "coredns-5d78c9869d-abcde"},
                    {"pod_uid", "9f1c"}}));
  EXPECT_EQ(PathLabels("/var/log/containers/web-1_default_app-0123abcd.log"),
            (Labels{{"container", "app"}, {"namespace", "default"}, {"pod", "web-1"}}));
  EXPECT_EQ(PathLabels("/var/log/syslog"), (Labels{{"filename", "/var/log/syslog"}}));
}

}  // namespace
}  // namespace vigil::agent
