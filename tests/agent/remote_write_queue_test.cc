// RemoteWriteQueue against a real HTTP receiver on loopback that decodes remote_write bodies and
// answers with the statuses a test scripts: order, retries, drops, restarts and the disk bound.

#include "remote_write_queue.h"

#include <gtest/gtest.h>

#include <deque>

#include "testing.h"
#include "vigil/common/http_server.h"
#include "vigil/common/remote_write.h"

namespace vigil::agent {
namespace {

using std::chrono::milliseconds;

class Receiver {
 public:
  Receiver() {
    http::Router router;
    router.Post("/api/v1/write", [this](const http::Request& req, http::Response& res) {
      std::lock_guard lock(mu_);
      ++requests_;
      if (!script_.empty()) {
        res.status = script_.front();
        script_.pop_front();
        if (res.status == 429) res.headers.emplace_back("Retry-After", "1");
        if (res.status != 200) return;
      }
      if (down_) {
        res.status = 503;
        return;
      }
      auto w = remote::Decode(req.body);
      if (!w.ok()) {
        res.status = 400;
        res.body = w.status().ToString();
        return;
      }
      for (const auto& ts : w->timeseries()) {
        for (const auto& s : ts.samples()) values_.push_back(s.value());
      }
      res.status = 204;
    });
    http::ServerOptions o;
    o.listen = "127.0.0.1:0";
    auto server = http::HttpServer::Start(o, std::move(router));
    EXPECT_TRUE(server.ok());
    server_ = std::move(server).value();
  }
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(server_->port()) + "/api/v1/write";
  }
  // The next requests get these statuses (then normal service).
  void Script(std::vector<int> statuses) {
    std::lock_guard lock(mu_);
    script_.assign(statuses.begin(), statuses.end());
  }
  void SetDown(bool down) {
    std::lock_guard lock(mu_);
    down_ = down;
  }
  std::vector<double> values() {
    std::lock_guard lock(mu_);
    return values_;
  }
  int requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  std::mutex mu_;
  std::deque<int> script_;
  bool down_ = false;
  std::vector<double> values_;
  int requests_ = 0;
  std::unique_ptr<http::HttpServer> server_;
};

prometheus::WriteRequest Batch(double v) {
  prometheus::WriteRequest w;
  SeriesWriter().Add(Labels{{"__name__", "m"}}, static_cast<int64_t>(v) * 1000, v, w);
  return w;
}

std::vector<double> Range(int from, int to) {
  std::vector<double> out;
  for (int i = from; i < to; ++i) out.push_back(i);
  return out;
}

class RemoteWriteQueueTest : public ::testing::Test {
 protected:
  std::unique_ptr<RemoteWriteQueue> Open(uint64_t max_bytes = 64 << 20) {
    RemoteWriteOptions o;
    o.urls = {receiver_.url()};
    o.dir = dir_.Join("queue");
    o.max_bytes = max_bytes;
    o.min_backoff = milliseconds(10);
    o.max_backoff = milliseconds(200);
    o.timeout = milliseconds(5'000);
    auto q = RemoteWriteQueue::Open(RealFileSystem(), o);
    EXPECT_TRUE(q.ok()) << q.status().ToString();
    return q.ok() ? std::move(q).value() : nullptr;
  }
  bool Delivered(RemoteWriteQueue& q) {
    return testing::WaitFor([&] { return q.delivered(0) == q.enqueued(); });
  }
  testing::TempDir dir_;
  Receiver receiver_;
};

TEST_F(RemoteWriteQueueTest, EverythingArrivesOnceInOrder) {
  auto q = Open();
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(q->Enqueue(Batch(i)).ok());
  q->Start();
  ASSERT_TRUE(Delivered(*q));
  EXPECT_EQ(receiver_.values(), Range(0, 20));
  EXPECT_LT(receiver_.requests(), 20) << "queued batches are merged into fewer requests";
}

TEST_F(RemoteWriteQueueTest, ServerErrorsAndThrottlingAreRetriedOtherClientErrorsDropped) {
  auto q = Open();
  q->Start();
  receiver_.Script({500, 503, 429});
  ASSERT_TRUE(q->Enqueue(Batch(1)).ok());
  ASSERT_TRUE(Delivered(*q));
  EXPECT_EQ(receiver_.values(), Range(1, 2));
  EXPECT_EQ(receiver_.requests(), 4);
  receiver_.Script({400});
  ASSERT_TRUE(q->Enqueue(Batch(2)).ok());
  ASSERT_TRUE(Delivered(*q));
  ASSERT_TRUE(q->Enqueue(Batch(3)).ok());
  ASSERT_TRUE(Delivered(*q));
  EXPECT_EQ(receiver_.values(), (std::vector<double>{1, 3})) << "the rejected batch is not resent";
  EXPECT_EQ(receiver_.requests(), 6);
}

TEST_F(RemoteWriteQueueTest, AnOutageAndARestartLoseNothing) {
  receiver_.SetDown(true);
  {
    auto q = Open();
    q->Start();
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(q->Enqueue(Batch(i)).ok());
    ASSERT_TRUE(testing::WaitFor([&] { return receiver_.requests() >= 3; }));
    q->Stop();
  }
  // A new process, the same queue directory; the receiver is back.
  receiver_.SetDown(false);
  auto q = Open();
  for (int i = 10; i < 15; ++i) ASSERT_TRUE(q->Enqueue(Batch(i)).ok());
  q->Start();
  ASSERT_TRUE(Delivered(*q));
  EXPECT_EQ(receiver_.values(), Range(0, 15)) << "oldest first, none lost, none twice";
}

TEST_F(RemoteWriteQueueTest, PastTheDiskBoundTheOldestAreDroppedAndTheRestDelivered) {
  receiver_.SetDown(true);
  auto q = Open(4096);  // segments of 1 KiB; a batch is ~40 bytes
  q->Start();
  for (int i = 0; i < 300; ++i) ASSERT_TRUE(q->Enqueue(Batch(i)).ok());
  receiver_.SetDown(false);
  ASSERT_TRUE(Delivered(*q));
  auto got = receiver_.values();
  ASSERT_FALSE(got.empty());
  EXPECT_LT(got.size(), 300u) << "the bound dropped some";
  EXPECT_EQ(got.back(), 299) << "the newest are kept";
  EXPECT_EQ(got.size() + q->dropped(0), 300u) << "every batch is delivered or counted dropped";
  for (size_t i = 1; i < got.size(); ++i) {
    EXPECT_EQ(got[i], got[i - 1] + 1) << "what is kept is a contiguous, ordered tail";
  }
}

TEST(SeriesWriterTest, ConstantLabelsFillInButNeverOverride) {
  prometheus::WriteRequest w;
  SeriesWriter writer(Labels{{"cluster", "c"}, {"job", "node-exporter"}});
  writer.Add(Labels{{"__name__", "x"}, {"job", "own"}, {"z", "1"}}, 5, 2.5, w);
  ASSERT_EQ(w.timeseries_size(), 1);
  std::string got;
  for (const auto& l : w.timeseries(0).labels()) got += l.name() + "=" + l.value() + " ";
  EXPECT_EQ(got, "__name__=x cluster=c job=own z=1 ");
  EXPECT_EQ(w.timeseries(0).samples(0).timestamp(), 5);
}

TEST(ParseLabelPairsTest, NameValuePairs) {
  auto l = ParseLabelPairs({"node=n1", "cluster=prod=eu"});
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->ToString(), "{cluster=\"prod=eu\", node=\"n1\"}");
  EXPECT_FALSE(ParseLabelPairs({"novalue"}).ok());
  EXPECT_FALSE(ParseLabelPairs({"0bad=x"}).ok());
}

}  // namespace
}  // namespace vigil::agent
