// The spool and the push route: pushes are on disk before the 204, each sink drains from its own
// cursor, a failing sink gets its batches again, a reopened spool resumes where the sinks were.
// The sink here records what it is given (a unit-test double); the real sinks have their own
// tests against RocksDB and the Kafka mock cluster.

#include "spool.h"

#include <gtest/gtest.h>

#include <mutex>

#include "push_api.h"
#include "testing.h"
#include "vigil/common/http_client.h"

namespace vigil::logship {
namespace {

class RecordingSink final : public LogSink {
 public:
  explicit RecordingSink(std::string name) : name_(std::move(name)) {}
  std::string name() const override { return name_; }
  Status Write(const std::vector<loki::Stream>& batch) override {
    std::lock_guard lock(mu_);
    if (failures_ > 0) {
      --failures_;
      ++failed_;
      return Unavailable("down for the test");
    }
    for (const auto& s : batch) {
      for (const auto& e : s.entries) lines_.push_back(e.line);
    }
    return Status::Ok();
  }
  std::vector<std::string> lines() {
    std::lock_guard lock(mu_);
    return lines_;
  }
  void FailNext(int n) {
    std::lock_guard lock(mu_);
    failures_ = n;
  }
  int failed() {
    std::lock_guard lock(mu_);
    return failed_;
  }

 private:
  std::string name_;
  std::mutex mu_;
  std::vector<std::string> lines_;
  int failures_ = 0, failed_ = 0;
};

std::vector<loki::Stream> Push(int first, int n) {
  loki::Stream s;
  s.labels = Labels{{"app", "test"}};
  for (int i = first; i < first + n; ++i) s.entries.push_back({i, "line " + std::to_string(i), {}});
  return {s};
}

std::vector<std::string> Expected(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back("line " + std::to_string(i));
  return out;
}

TEST(SpoolTest, EachSinkDrainsOnItsOwnAndRetries) {
  testing::TempDir dir;
  auto store = std::make_shared<RecordingSink>("store");
  auto kafka = std::make_shared<RecordingSink>("kafka");
  kafka->FailNext(3);  // brokers down for a while: the store must not wait for them
  SpoolOptions o;
  o.dir = dir.Join("spool");
  o.max_backoff = std::chrono::milliseconds(50);
  auto spool = Spool::Open(RealFileSystem(), {store, kafka}, o);
  ASSERT_TRUE(spool.ok()) << spool.status().ToString();
  (*spool)->Start();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE((*spool)->Append(Push(i * 10, 10)).ok());
  ASSERT_TRUE(testing::WaitFor([&] { return store->lines().size() == 100; }));
  ASSERT_TRUE(testing::WaitFor([&] { return kafka->lines().size() == 100; }));
  EXPECT_EQ(store->lines(), Expected(100));
  EXPECT_EQ(kafka->lines(), Expected(100));
  EXPECT_EQ(kafka->failed(), 3);
  ASSERT_TRUE(testing::WaitFor([&] { return (*spool)->lag(0) == 0 && (*spool)->lag(1) == 0; }));
}

TEST(SpoolTest, AReopenedSpoolResumesWhereEachSinkWas) {
  testing::TempDir dir;
  SpoolOptions o;
  o.dir = dir.Join("spool");
  auto store = std::make_shared<RecordingSink>("store");
  auto kafka = std::make_shared<RecordingSink>("kafka");
  {
    auto spool = Spool::Open(RealFileSystem(), {store, kafka}, o);
    ASSERT_TRUE(spool.ok());
    (*spool)->Start();
    ASSERT_TRUE((*spool)->Append(Push(0, 5)).ok());
    ASSERT_TRUE(testing::WaitFor([&] { return store->lines().size() == 5; }));
    ASSERT_TRUE(testing::WaitFor([&] { return kafka->lines().size() == 5; }));
  }
  {
    // Appended while no sink runs: accepted, then the process goes away.
    auto spool = Spool::Open(RealFileSystem(), {store, kafka}, o);
    ASSERT_TRUE(spool.ok());
    ASSERT_TRUE((*spool)->Append(Push(5, 5)).ok());
  }
  auto store2 = std::make_shared<RecordingSink>("store");
  auto kafka2 = std::make_shared<RecordingSink>("kafka");
  auto spool = Spool::Open(RealFileSystem(), {store2, kafka2}, o);
  ASSERT_TRUE(spool.ok());
  EXPECT_EQ((*spool)->lag(0), 1u);
  (*spool)->Start();
  ASSERT_TRUE(testing::WaitFor([&] { return store2->lines().size() == 5; }));
  ASSERT_TRUE(testing::WaitFor([&] { return kafka2->lines().size() == 5; }));
  EXPECT_EQ(store2->lines()[0], "line 5");
  EXPECT_EQ(kafka2->lines()[4], "line 9");
}

TEST(PushApiTest, AcceptsBothBodiesAndRejectsBadOnesLikeLoki) {
  testing::TempDir dir;
  auto store = std::make_shared<RecordingSink>("store");
  SpoolOptions o;
  o.dir = dir.Join("spool");
  auto spool = Spool::Open(RealFileSystem(), {store}, o);
  ASSERT_TRUE(spool.ok());
  (*spool)->Start();
  http::Router router;
  loki::PushLimits limits;
  limits.max_line_bytes = 100;
  limits.max_body_bytes = 10'000;
  AddPushRoute(router, **spool, limits);
  http::ServerOptions so;
  so.listen = "127.0.0.1:0";
  auto server = http::HttpServer::Start(so, std::move(router));
  ASSERT_TRUE(server.ok());
  const std::string url = "http://" + (*server)->address() + "/loki/api/v1/push";
  http::HttpClient client;
  auto post = [&](std::string body, std::string type) {
    http::ClientRequest req;
    req.method = "POST";
    req.url = url;
    req.body = std::move(body);
    req.headers.emplace_back("Content-Type", std::move(type));
    auto r = client.Do(req);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : http::ClientResponse{};
  };
  auto r = post(loki::EncodePushJson(Push(0, 3)), "application/json");
  EXPECT_EQ(r.status, 204) << r.body;
  r = post(loki::EncodePush(Push(3, 3)), "application/x-protobuf");
  EXPECT_EQ(r.status, 204) << r.body;
  ASSERT_TRUE(testing::WaitFor([&] { return store->lines().size() == 6; }));
  EXPECT_EQ(store->lines(), Expected(6));

  r = post("{\"streams\": [", "application/json");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("malformed JSON push"), std::string::npos) << r.body;
  r = post(
      R"({"streams":[{"stream":{"a":"b"},"values":[["1",")" + std::string(200, 'x') + "\"]]}]}",
      "application/json");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("Max entry size '100' bytes exceeded"), std::string::npos) << r.body;
  r = post(std::string(20'000, ' '), "application/json");
  EXPECT_EQ(r.status, 413) << r.body;
  r = post("not snappy", "application/x-protobuf");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("snappy"), std::string::npos) << r.body;
  EXPECT_EQ(store->lines().size(), 6u);  // nothing of the bad pushes got in
}

}  // namespace
}  // namespace vigil::logship
