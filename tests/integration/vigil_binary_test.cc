// The vigil binary as a user runs it: help, version, subcommands that are not built yet, bad
// configuration, and `vigil up` serving, scraped by promtool, and stopped by a signal.

#include <signal.h>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include "testing.h"
#include "vigil/common/http_client.h"
#include "vigil/common/remote_write.h"

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
  auto status = c.Get(up.base() + "/api/v1/status/tsdb");
  EXPECT_NE(status->body.find("\"numSeries\":1"), std::string::npos) << status->body;
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
