// The shipped Grafana dashboards (dashboards/*.json) against a running `vigil up`: the JSON is
// what dashboards/build.py writes, every dashboard has a `datasource` variable, and every
// panel's every query runs without error and returns data, except the panels that need what
// this machine does not have (listed below with the reason).

#include <signal.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>

#include "testing.h"
#include "vigil/common/http_client.h"
#include "vigil/common/http_util.h"
#include "vigil/common/timestamp.h"

namespace vigil {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kDashboards = fs::path(VIGIL_SOURCE_DIR) / "dashboards";

// Panels allowed to come back empty here, by dashboard and title.
const std::set<std::pair<std::string, std::string>> kMayBeEmpty = {
    // No Kubernetes pods run on this machine: its cgroups have no pod or container names (the
    // agent's cgroup tests cover those series). These panels are checked for errors only.
    {"containers.json", "CPU by pod"},
    {"containers.json", "Memory working set by pod"},
    {"containers.json", "CPU throttling"},
    {"containers.json", "Network by pod"},
    {"containers.json", "OOM kills (1h)"},
    {"containers.json", "Memory against limit"},
    // No alert fires on a quiet machine in a few seconds.
    {"alerts.json", "Active alerts"},
};

std::string Substitute(std::string expr) {
  const std::pair<std::string, std::string> vars[] = {{"$__rate_interval", "1m"},
                                                      {"$__interval", "15s"},
                                                      {"$instance", ".+"},
                                                      {"$namespace", ".*"}};
  for (const auto& [k, v] : vars) {
    for (size_t p = expr.find(k); p != std::string::npos; p = expr.find(k, p + v.size())) {
      expr.replace(p, k.size(), v);
    }
  }
  return expr;
}

TEST(DashboardsTest, JsonIsWhatTheBuilderWrites) {
  auto r = testing::Run({"python3", (kDashboards / "build.py").string(), "--check"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST(DashboardsTest, EveryPanelQueryAnswersFromVigilUp) {
  testing::TempDir dir;
  std::string lines;
  const char* levels[] = {"info", "error", "warn", "info"};
  for (int i = 0; i < 8; ++i) {
    lines += FormatRfc3339Nanos(testing::NowNs() + i) + " stdout F level=" + levels[i % 4] +
             " msg=\"request " + std::to_string(i) + "\"\n";
  }
  testing::WriteFile(dir.Join("pods/shop_cart-1_uid-1/cart/0.log"), lines);
  testing::VigilProcess up(VIGIL_BINARY,
                           {"up", "--data-dir", dir.Join("data"), "--interval", "1s",
                            "--eval-interval", "1s", "--log-root", dir.Join("pods/*/*/*.log")},
                           dir.path());
  ASSERT_FALSE(up.address().empty()) << up.proc().Stderr();
  http::HttpClient c;
  // One LogQL query first, so logship's query-latency series exists before the collections.
  ASSERT_TRUE(c.Get(up.Url("/loki/api/v1/labels")).ok());
  ASSERT_TRUE(c.Get(up.Url("/loki/api/v1/query?query=") +
                    http::PercentEncode("count_over_time({namespace=\"shop\"}[1m])"))
                  .ok());
  // A few collections, so rates have two points and rules have run.
  ASSERT_TRUE(testing::WaitFor([&] {
    auto r = c.Get(up.Url("/api/v1/query?query=") +
                   http::PercentEncode("count_over_time(vigil_alertd_rules[1m]) >= 4"));
    return r.ok() && r->body.find("\"result\":[{") != std::string::npos;
  })) << up.proc().Stderr();
  const int64_t now_s = testing::NowNs() / 1'000'000'000;
  size_t dashboards = 0, queries = 0;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(kDashboards)) {
    if (e.path().extension() == ".json") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& path : files) {
    ++dashboards;
    const std::string file = path.filename().string();
    json d = json::parse(testing::ReadFileOrEmpty(path.string()), nullptr, false);
    ASSERT_TRUE(d.is_object()) << file;
    EXPECT_FALSE(d["uid"].get<std::string>().empty()) << file;
    EXPECT_EQ(d["schemaVersion"], 38) << file;
    bool has_datasource = false;
    for (const auto& v : d["templating"]["list"]) has_datasource |= v["name"] == "datasource";
    EXPECT_TRUE(has_datasource) << file;
    for (const auto& p : d["panels"]) {
      const std::string title = p["title"];
      for (const auto& t : p["targets"]) {
        const std::string expr = Substitute(t["expr"]);
        const bool logs = t["datasource"]["type"] == "loki";
        std::string url;
        if (logs) {
          url = up.Url("/loki/api/v1/query_range?") +
                http::EncodeQuery({{"query", expr},
                                   {"start", std::to_string(now_s - 600) + "000000000"},
                                   {"end", std::to_string(now_s + 60) + "000000000"},
                                   {"step", "15"},
                                   {"limit", "100"}});
        } else if (t.value("instant", false)) {
          url = up.Url("/api/v1/query?") + http::EncodeQuery({{"query", expr}});
        } else {
          url = up.Url("/api/v1/query_range?") +
                http::EncodeQuery({{"query", expr},
                                   {"start", std::to_string(now_s - 300)},
                                   {"end", std::to_string(now_s + 5)},
                                   {"step", "5"}});
        }
        ++queries;
        auto r = c.Get(url);
        ASSERT_TRUE(r.ok()) << file << " / " << title;
        EXPECT_EQ(r->status, 200) << file << " / " << title << ": " << expr << "\n" << r->body;
        json j = json::parse(r->body, nullptr, false);
        ASSERT_TRUE(j.is_object()) << r->body;
        EXPECT_EQ(j["status"], "success") << file << " / " << title << ": " << r->body;
        if (kMayBeEmpty.count({file, title})) continue;
        EXPECT_FALSE(j["data"]["result"].empty())
            << file << " / " << title << ": no data for " << expr;
      }
    }
  }
  EXPECT_EQ(dashboards, 5u);
  EXPECT_GE(queries, 30u);
  EXPECT_EQ(up.proc().Stop(SIGTERM), 0);
}

}  // namespace
}  // namespace vigil
