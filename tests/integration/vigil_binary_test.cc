// The vigil binary as a user runs it: help, version, subcommands that are not built yet, bad
// configuration, and `vigil up` serving, scraped by promtool, and stopped by a signal.

#include <signal.h>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include "testing.h"
#include "vigil/common/http_client.h"
#include "vigil/common/remote_write.h"
#include "vigil/common/timestamp.h"

namespace vigil {
namespace {

const std::string kVigil = VIGIL_BINARY;

TEST(VigilBinaryTest, HelpAndVersion) {
  auto help = testing::Run({kVigil, "--help"});
  EXPECT_EQ(help.exit_code, 0);
  for (const char* sub : {"up", "tsdb", "logship", "alertd", "agent", "query", "rules", "top"}) {
    EXPECT_NE(help.out.find(std::string("  ") + sub + " "), std::string::npos) << sub;
  }
  auto version = testing::Run({kVigil, "version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.out, "vigil version 0.1.0\n");
  EXPECT_NE(testing::Run({kVigil}).exit_code, 0);
  EXPECT_NE(testing::Run({kVigil, "frobnicate"}).exit_code, 0);
}

TEST(VigilBinaryTest, AlertdAndRulesSayWhatIsMissing) {
  auto r = testing::Run({kVigil, "alertd"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no rule files: give --rules GLOB"), std::string::npos) << r.err;
  r = testing::Run({kVigil, "alertd", "--rules", "x.yml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("give --query-url or --logs-url"), std::string::npos) << r.err;
  r = testing::Run({kVigil, "rules", "check", "/nonexistent/x.yml"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("/nonexistent/x.yml"), std::string::npos) << r.out;
  r = testing::Run({kVigil, "rules", "test", "/nonexistent/x_test.yml"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("FAILED"), std::string::npos) << r.out;
}

TEST(VigilBinaryTest, BadConfigurationFailsWithWhere) {
  testing::TempDir dir;
  dir.Write("bad.yaml", "tsdb:\n  retention: forever\n");
  auto r = testing::Run({kVigil, "up", "--config", dir.Join("bad.yaml")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(dir.Join("bad.yaml") + ":2:14: tsdb.retention: expected a duration"),
            std::string::npos)
      << r.err;
  dir.Write("broken.yaml", "log: [\n");
  r = testing::Run({kVigil, "up", "--config", dir.Join("broken.yaml")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("invalid YAML"), std::string::npos) << r.err;
  r = testing::Run({kVigil, "tsdb", "--retention", "soon", "--data-dir", dir.Join("d")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--retention: expected a duration"), std::string::npos) << r.err;
  r = testing::Run({kVigil, "up", "--log-level", "loud"});
  EXPECT_EQ(r.exit_code, 2);
  r = testing::Run({kVigil, "up", "--listen", "nowhere", "--data-dir", dir.Join("d")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("invalid address \"nowhere\""), std::string::npos) << r.err;
}

// `vigil up` on a port it picks itself, data in a temp dir.
class VigilUp {
 public:
  explicit VigilUp(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"up", "--data-dir", dir_.Join("data")};
    args.insert(args.end(), extra.begin(), extra.end());
    vigil_ = std::make_unique<testing::VigilProcess>(kVigil, args, dir_.path());
  }
  const std::string& base() const { return vigil_->address(); }
  testing::Subprocess& proc() { return vigil_->proc(); }
  const testing::TempDir& dir() const { return dir_; }

 private:
  testing::TempDir dir_;
  std::unique_ptr<testing::VigilProcess> vigil_;
};

TEST(VigilUpTest, ServesHealthReadyMetricsAndStopsOnSigterm) {
  VigilUp up;
  ASSERT_FALSE(up.base().empty()) << up.proc().Stderr();
  http::HttpClient c;
  auto healthy = c.Get(up.base() + "/-/healthy");
  ASSERT_TRUE(healthy.ok()) << healthy.status().ToString();
  EXPECT_EQ(healthy->status, 200);
  EXPECT_EQ(c.Get(up.base() + "/-/ready")->status, 200);
  auto metrics = c.Get(up.base() + "/metrics");
  EXPECT_EQ(metrics->status, 200);
  EXPECT_NE(metrics->body.find("vigil_build_info{version=\"0.1.0\"} 1"), std::string::npos);
  int st = up.proc().Stop(SIGTERM);
  ASSERT_TRUE(WIFEXITED(st)) << st;
  EXPECT_EQ(WEXITSTATUS(st), 0);
  EXPECT_NE(up.proc().Stderr().find("shutting down"), std::string::npos);
  EXPECT_FALSE(c.Get(up.base() + "/-/healthy").ok());
}

TEST(VigilUpTest, StoresRemoteWriteInItsDataDir) {
  VigilUp up;
  ASSERT_FALSE(up.base().empty()) << up.proc().Stderr();
  prometheus::WriteRequest req;
  auto* ts = req.add_timeseries();
  auto* l = ts->add_labels();
  l->set_name("__name__");
  l->set_value("up_test");
  auto* s = ts->add_samples();
  s->set_timestamp(1'700'000'000'000);
  s->set_value(1);
  http::HttpClient c;
  auto res = c.Post(up.base() + "/api/v1/write", "application/x-protobuf", remote::Encode(req));
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->status, 204) << res->body;
  // The series is in the store (beside the agent's own, which vigil up collects too).
  auto q = c.Get(up.base() + "/api/v1/series?match[]=up_test&start=1699999999&end=1700000001");
  ASSERT_TRUE(q.ok());
  EXPECT_NE(q->body.find("\"__name__\":\"up_test\""), std::string::npos) << q->body;
  EXPECT_EQ(up.proc().Stop(SIGTERM), 0);
  EXPECT_TRUE(!testing::ReadFileOrEmpty(up.dir().Join("data/tsdb/CURRENT")).empty());
}

TEST(VigilUpTest, StopsCleanlyOnCtrlC) {
  VigilUp up({"--log-format", "json"});
  ASSERT_FALSE(up.base().empty()) << up.proc().Stderr();
  int st = up.proc().Stop(SIGINT);
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 0);
  EXPECT_NE(up.proc().Stderr().find("\"msg\":\"vigil up: Interrupt; shutting down\""),
            std::string::npos)
      << up.proc().Stderr();
}

// Every component in one process: the agent's node series reach the store and its tailed log
// lines reach the log store (both through local://up, no socket), the default rule pack is
// loaded, and one port answers the Prometheus API, the Loki API and the rules API.
TEST(VigilUpTest, AllComponentsInOneProcess) {
  testing::TempDir logs;
  const std::string file = logs.Join("pods/shop_cart-1_uid-1/cart/0.log");
  std::string lines;
  for (int i = 0; i < 3; ++i) {
    lines += FormatRfc3339Nanos(testing::NowNs() + i) + " stdout F order " + std::to_string(i) +
             " placed\n";
  }
  testing::WriteFile(file, lines);
  VigilUp up({"--log-root", logs.Join("pods/*/*/*.log"), "--interval", "1s"});
  ASSERT_FALSE(up.base().empty()) << up.proc().Stderr();
  EXPECT_NE(up.proc().Stderr().find("vigil up: ready in"), std::string::npos);
  http::HttpClient c;
  ASSERT_TRUE(testing::WaitFor([&] {
    auto r = c.Get(up.base() + "/api/v1/query?query=node_load1");
    return r.ok() && r->body.find("\"node_load1\"") != std::string::npos;
  })) << up.proc().Stderr();
  std::vector<std::string> got;
  ASSERT_TRUE(testing::WaitFor([&] {
    got = testing::LokiLastHour(c, up.base(), "{namespace=\"shop\", pod=\"cart-1\"}");
    return got.size() == 3u;
  })) << up.proc().Stderr();
  EXPECT_EQ(got[0], "order 0 placed");
  auto rules = c.Get(up.base() + "/api/v1/rules");
  ASSERT_TRUE(rules.ok());
  for (const char* group : {"vigil-node", "vigil-containers", "vigil-logs", "vigil-self"}) {
    EXPECT_NE(rules->body.find(std::string("\"name\":\"") + group + "\""), std::string::npos)
        << rules->body;
  }
  EXPECT_EQ(c.Get(up.base() + "/api/v1/alerts")->status, 200);
  EXPECT_EQ(c.Get(up.base() + "/loki/api/v1/labels")->status, 200);
  int st = up.proc().Stop(SIGINT);
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 0) << up.proc().Stderr();
}

TEST(VigilUpTest, MetricsPassPromtoolCheckMetrics) {
  ASSERT_TRUE(testing::HaveProgram("promtool")) << "promtool is installed by scripts/setup.sh";
  VigilUp up;
  ASSERT_FALSE(up.base().empty()) << up.proc().Stderr();
  http::HttpClient c;
  // Some traffic first, so the request families have samples.
  ASSERT_EQ(c.Get(up.base() + "/-/healthy")->status, 200);
  ASSERT_EQ(c.Get(up.base() + "/no/such/page")->status, 404);
  auto metrics = c.Get(up.base() + "/metrics");
  ASSERT_TRUE(metrics.ok());
  up.dir().Write("metrics.txt", metrics->body);
  auto check =
      testing::Run({"sh", "-c", "promtool check metrics < " + up.dir().Join("metrics.txt")});
  // 0: clean; 3: lint findings only (promtool's exit code for lint problems).
  EXPECT_TRUE(check.exit_code == 0 || check.exit_code == 3) << "exit " << check.exit_code << "\n"
                                                            << check.out << check.err << "\n"
                                                            << metrics->body;
  EXPECT_EQ(check.err.find("error"), std::string::npos) << check.err;
}

}  // namespace
}  // namespace vigil
