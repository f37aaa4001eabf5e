// `vigil logship` as a process: pushes in both bodies are queryable through the Loki API as
// Grafana's Loki datasource asks for them; kill -9 during pushes loses no acknowledged line;
// bad pushes and bad queries get Loki's status and text and the server keeps serving.

#include <signal.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "testing.h"
#include "vigil/common/http_client.h"
#include "vigil/common/http_util.h"
#include "vigil/common/loki_push.h"
#include "vigil/common/timestamp.h"

namespace vigil {
namespace {

using nlohmann::json;
const std::string kVigil = VIGIL_BINARY;

std::unique_ptr<testing::VigilProcess> StartLogship(const std::string& data,
                                                    const std::string& logs) {
  std::filesystem::create_directories(logs);
  return std::make_unique<testing::VigilProcess>(
      kVigil, std::vector<std::string>{"logship", "--data-dir", data}, logs);
}

json GetJson(http::HttpClient& c, const std::string& url, int want = 200) {
  auto r = c.Get(url);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return {};
  EXPECT_EQ(r->status, want) << url << "\n" << r->body;
  return json::parse(r->body, nullptr, false);
}

TEST(LogshipTest, Kill9DuringPushesLosesNoAcknowledgedLine) {
  testing::TempDir dir;
  auto logship = StartLogship(dir.Join("data"), dir.Join("logs"));
  ASSERT_FALSE(logship->address().empty()) << logship->proc().Stderr();
  const std::string url = logship->address();
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::set<int> acked;
  std::atomic<int> next{0};
  const int64_t base = testing::NowNs() - int64_t{60} * 1'000'000'000;
  std::thread pusher([&] {
    http::HttpClient c;
    while (!stop) {
      const int first = next.fetch_add(20);
      loki::Stream s;
      s.labels = Labels{{"app", "kill9"}};
      for (int i = first; i < first + 20; ++i)
        s.entries.push_back({base + i * 1000, "n=" + std::to_string(i), {}});
      if (testing::LokiPush(c, url, {s}, first % 40 == 0).status == 204) {
        std::lock_guard lock(mu);
        for (int i = first; i < first + 20; ++i) acked.insert(i);
      }
    }
  });
  ASSERT_TRUE(testing::WaitFor([&] {
    std::lock_guard lock(mu);
    return acked.size() >= 1000;
  }));
  logship->proc().Stop(SIGKILL);
  stop = true;
  pusher.join();
  logship = StartLogship(dir.Join("data"), dir.Join("logs2"));
  ASSERT_FALSE(logship->address().empty()) << logship->proc().Stderr();
  http::HttpClient c;
  std::set<int> stored;
  ASSERT_TRUE(testing::WaitFor([&] {
    stored.clear();
    for (const auto& l : testing::LokiLastHour(c, logship->address(), "{app=\"kill9\"}"))
      stored.insert(std::stoi(l.substr(2)));
    return std::includes(stored.begin(), stored.end(), acked.begin(), acked.end());
  })) << "acknowledged "
      << acked.size() << ", stored " << stored.size();
  EXPECT_LE(stored.size(), acked.size() + 20 * 2);  // at most the pushes under way at the kill
}

// The agent tails a kubelet-layout log through rename rotations and a kill -9 of itself into
// `vigil logship`: every line arrives; duplicates only from what was unacknowledged at the kill.
TEST(LogshipTest, AgentTailsThroughRotationAndKill9) {
  testing::TempDir dir;
  auto logship = StartLogship(dir.Join("logship"), dir.Join("logs"));
  ASSERT_FALSE(logship->address().empty()) << logship->proc().Stderr();
  const std::string pod_dir = dir.Join("pods/default_writer_u1/app");
  std::filesystem::create_directories(pod_dir);
  const std::string log = pod_dir + "/0.log";
  auto start_agent = [&](const std::string& logs) {
    std::filesystem::create_directories(logs);
    return std::make_unique<testing::VigilProcess>(
        kVigil,
        std::vector<std::string>{"agent", "--data-dir", dir.Join("agent"), "--collector", "node",
                                 "--interval", "1h", "--instance", "n1", "--log-label",
                                 "team=storage", "--log-root", dir.Join("pods/*/*/*.log"),
                                 "--log-push", logship->address() + "/loki/api/v1/push"},
        logs);
  };
  // Lines stamped now: the queries below look at the last hour.
  const std::string stamp = FormatRfc3339Nanos(testing::NowNs() / 1'000'000'000 * 1'000'000'000);
  auto write = [&](int from, int to) {
    std::ofstream out(log, std::ios::app);
    for (int i = from; i < to; ++i) out << stamp << " stdout F n=" << i << "\n";
  };
  auto agent = start_agent(dir.Join("alogs1"));
  ASSERT_FALSE(agent->address().empty()) << agent->proc().Stderr();
  http::HttpClient c;
  write(0, 300);
  ASSERT_TRUE(testing::WaitFor([&] {
    return testing::LokiLastHour(c, logship->address(), "{container=\"app\"}").size() >= 300;
  }));
  std::filesystem::rename(log, log + ".20261130-055518");  // the kubelet's rotation
  write(300, 600);
  agent->proc().Stop(SIGKILL);  // (it may or may not have read some of those)
  write(600, 700);
  std::filesystem::rename(log, log + ".20261130-055519");
  write(700, 1000);
  // Down while two rotations happened: the restart finds the saved file under its rotated name.
  agent = start_agent(dir.Join("alogs2"));
  ASSERT_FALSE(agent->address().empty()) << agent->proc().Stderr();
  std::multiset<int> got;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        got.clear();
        for (const auto& l : testing::LokiLastHour(
                 c, logship->address(), "{container=\"app\", team=\"storage\", node=\"n1\"}")) {
          got.insert(std::stoi(l.substr(2)));
        }
        return std::set<int>(got.begin(), got.end()).size() == 1000;
      },
      std::chrono::seconds(60)))
      << got.size() << " lines, missing from " <<
      [&] {
        for (int i = 0; i < 1000; ++i) {
          if (got.count(i) == 0) return i;
        }
        return -1;
      }()
      << "\n"
      << agent->proc().Stderr();
  EXPECT_LE(got.size(), 1000u + 600u);  // at most what the first agent had read, again
}

TEST(LogshipTest, GrafanasRequestsAndBadInput) {
  testing::TempDir dir;
  auto logship = StartLogship(dir.Join("data"), dir.Join("logs"));
  ASSERT_FALSE(logship->address().empty()) << logship->proc().Stderr();
  const std::string url = logship->address();
  http::HttpClient c;
  const int64_t now = testing::NowNs();
  loki::Stream web, db;
  web.labels = Labels{{"app", "web"}, {"namespace", "prod"}};
  db.labels = Labels{{"app", "db"}, {"namespace", "prod"}};
  for (int i = 0; i < 30; ++i) {
    web.entries.push_back({now - (30 - i) * int64_t{1'000'000'000},
                           i % 3 == 0 ? "level=error msg=\"failed\" n=" + std::to_string(i)
                                      : "level=info msg=ok n=" + std::to_string(i),
                           {}});
  }
  db.entries.push_back({now - 5'000'000'000, R"({"level":"warn","msg":"slow query"})", {}});
  ASSERT_EQ(testing::LokiPush(c, url, {web}, true).status, 204);
  ASSERT_EQ(testing::LokiPush(c, url, {db}, false).status, 204);
  const std::string range = "&start=" + std::to_string(now - int64_t{3600} * 1'000'000'000) +
                            "&end=" + std::to_string(now + 1'000'000'000);
  auto q = [](const std::string& s) { return http::PercentEncode(s); };
  // The datasource's health check and the label browser. (Pushes are in the store moments after
  // their 204: the spool drains into it.)
  ASSERT_TRUE(testing::WaitFor([&] {
    return GetJson(c, url + "/loki/api/v1/label/app/values?" + range.substr(1))["data"].size() == 2;
  }));
  EXPECT_EQ(GetJson(c, url + "/loki/api/v1/labels?" + range.substr(1))["data"],
            json({"app", "namespace"}));
  EXPECT_EQ(GetJson(c, url + "/loki/api/v1/label/app/values?" + range.substr(1))["data"],
            json({"db", "web"}));
  json series =
      GetJson(c, url + "/loki/api/v1/series?match[]=" + q("{namespace=\"prod\"}") + range);
  EXPECT_EQ(series["data"].size(), 2u);
  json stats = GetJson(c, url + "/loki/api/v1/index/stats?query=" + q("{app=\"web\"}") + range);
  EXPECT_EQ(stats["streams"], 1);
  EXPECT_EQ(stats["entries"], 30);
  // A log query as Explore sends it: backward, limit, step.
  ASSERT_TRUE(testing::WaitFor([&] {
    json logs =
        GetJson(c, url + "/loki/api/v1/query_range?direction=backward&limit=5&step=1&query=" +
                       q("{app=\"web\"} |= \"error\"") + range);
    return logs["data"]["resultType"] == "streams" && logs["data"]["result"].size() == 1 &&
           logs["data"]["result"][0]["values"].size() == 5 &&
           logs["data"]["result"][0]["values"][0][1] == "level=error msg=\"failed\" n=27";
  }));
  // A metric query for the logs volume histogram, and an instant one.
  json volume =
      GetJson(c, url + "/loki/api/v1/query_range?step=60&query=" +
                     q("sum by (level) (count_over_time({app=\"web\"} | logfmt [1h]))") + range);
  ASSERT_EQ(volume["data"]["resultType"], "matrix");
  double errors = 0;
  for (const auto& s : volume["data"]["result"]) {
    if (s["metric"]["level"] == "error")
      errors = std::stod(s["values"].back()[1].get<std::string>());
  }
  EXPECT_EQ(errors, 10);
  json instant = GetJson(c, url + "/loki/api/v1/query?query=" +
                                q("count_over_time({app=\"db\"} | json | level=\"warn\" [1h])") +
                                "&time=" + std::to_string(now + 1'000'000'000));
  ASSERT_EQ(instant["data"]["resultType"], "vector");
  ASSERT_EQ(instant["data"]["result"].size(), 1u);
  EXPECT_EQ(instant["data"]["result"][0]["value"][1], "1");

  // vigil query --logs: the lines with their labels, newest last; a bad query's error.
  auto cli = testing::Run(
      {kVigil, "query", "--logs", "--server", url, "--limit", "3", "{app=\"web\"} |= \"error\""});
  EXPECT_EQ(cli.exit_code, 0) << cli.err;
  const size_t a = cli.out.find("n=21"), b = cli.out.find("n=24"), z = cli.out.find("n=27");
  EXPECT_TRUE(a != std::string::npos && a < b && b < z) << cli.out;
  EXPECT_NE(cli.out.find("{app=\"web\", namespace=\"prod\"}"), std::string::npos) << cli.out;
  EXPECT_EQ(cli.out.find("n=18"), std::string::npos) << cli.out;  // past the limit
  cli = testing::Run({kVigil, "query", "--logs", "--server", url, "{app=\"web\"} |="});
  EXPECT_NE(cli.exit_code, 0);
  EXPECT_NE(cli.err.find("parse error at line 1"), std::string::npos) << cli.err;

  // Bad input: Loki's status and words; the server keeps serving.
  auto bad = c.Get(url + "/loki/api/v1/query_range?query=" + q("{app=\"web\"} |= ") + range);
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("parse error at line 1, col"), std::string::npos) << bad->body;
  bad = c.Get(url + "/loki/api/v1/query?query=" + q("{app=\"web\"}"));
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("log queries are not supported as an instant query"), std::string::npos);
  bad = c.Get(url + "/loki/api/v1/query_range?query=" + q("{app=\"web\"}") + "&start=yesterday");
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("invalid start parameter"), std::string::npos) << bad->body;
  http::ClientRequest junk;
  junk.method = "POST";
  junk.url = url + "/loki/api/v1/push";
  junk.body = "{\"streams\":[{\"stream\":{},\"values\":[]}]}";
  junk.headers.emplace_back("Content-Type", "application/json");
  auto r = c.Do(junk);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("at least one label pair is required per stream"), std::string::npos)
      << r->body;
  junk.body = "garbage";
  junk.headers = {{"Content-Type", "application/x-protobuf"}};
  r = c.Do(junk);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(GetJson(c, url + "/loki/api/v1/label/app/values")["data"].size(), 2u);
}

}  // namespace
}  // namespace vigil
