// `vigil tsdb --kafka-consume`: stores in one consumer group share the partitions of a topic of
// remote_write batches, keyed by series, on librdkafka's mock cluster (3 brokers, the real
// protocol on loopback). One store is kill -9ed and restarted while batches keep coming; every
// sample is in the union of the stores afterwards, and a message that is no remote_write batch
// is skipped and counted.

#include <librdkafka/rdkafka.h>
#include <signal.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "testing.h"
#include "vigil/common/http_client.h"
#include "vigil/common/http_util.h"
#include "vigil/common/kafka.h"
#include "vigil/common/remote_write.h"

namespace vigil {
namespace {

const std::string kVigil = VIGIL_BINARY;
const std::string kMock = VIGIL_KAFKA_MOCK;

// A plain librdkafka producer, as any remote_write-to-Kafka bridge would be: a message per
// batch, keyed by its series so that a series always lands in one partition.
class Producer {
 public:
  explicit Producer(const std::string& bootstrap) {
    auto conf = kafka::MakeConf({{"bootstrap.servers", bootstrap}, {"linger.ms", "5"}}, {}, "test");
    EXPECT_TRUE(conf.ok()) << conf.status().ToString();
    char err[512];
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, *conf, err, sizeof(err));
    EXPECT_NE(rk_, nullptr) << err;
  }
  ~Producer() {
    rd_kafka_flush(rk_, 30'000);
    rd_kafka_destroy(rk_);
  }
  void Send(const std::string& topic, const std::string& key, const std::string& value) {
    for (;;) {
      const rd_kafka_resp_err_t e = rd_kafka_producev(
          rk_, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_KEY(key.data(), key.size()),
          RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
      if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        ASSERT_EQ(e, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2str(e);
        return;
      }
      rd_kafka_poll(rk_, 100);
    }
  }
  bool Flush() { return rd_kafka_flush(rk_, 60'000) == RD_KAFKA_RESP_ERR_NO_ERROR; }

 private:
  rd_kafka_t* rk_ = nullptr;
};

constexpr int kSeries = 12;

// Samples [first, first + n) of every series, `per_message` to a message; sample k of series s
// is at base_ms + k s, value k.
void SendSamples(Producer& p, int64_t base_ms, int first, int n, int per_message) {
  for (int at = first; at < first + n; at += per_message) {
    for (int s = 0; s < kSeries; ++s) {
      prometheus::WriteRequest req;
      auto* ts = req.add_timeseries();
      auto* name = ts->add_labels();
      name->set_name("__name__");
      name->set_value("kafka_test_total");
      auto* series = ts->add_labels();
      series->set_name("series");
      series->set_value("s" + std::to_string(s));
      for (int k = at; k < at + per_message && k < first + n; ++k) {
        auto* sample = ts->add_samples();
        sample->set_timestamp(base_ms + int64_t{k} * 1000);
        sample->set_value(k);
      }
      p.Send("vigil-metrics",
             "{__name__=\"kafka_test_total\", series=\"s" + std::to_string(s) + "\"}",
             remote::Encode(req));
    }
  }
}

class TsdbKafkaTest : public ::testing::Test {
 protected:
  std::unique_ptr<testing::VigilProcess> StartTsdb(const std::string& bootstrap,
                                                   const std::string& name) {
    const std::string logs = dir_.Join(name + "-logs-" + std::to_string(++started_));
    std::filesystem::create_directories(logs);
    return std::make_unique<testing::VigilProcess>(
        kVigil,
        std::vector<std::string>{"tsdb", "--data-dir", dir_.Join(name), "--kafka-brokers",
                                 bootstrap, "--kafka-consume", "vigil-metrics", "--kafka-group",
                                 "stores", "--kafka-option", "session.timeout.ms=6000",
                                 "--kafka-option", "heartbeat.interval.ms=500"},
        logs);
  }
  // Two stores in group "stores", once each has 2 of the topic's 4 partitions.
  void StartGroupOfTwo(const std::string& bootstrap, std::unique_ptr<testing::VigilProcess>& c1,
                       std::unique_ptr<testing::VigilProcess>& c2) {
    c1 = StartTsdb(bootstrap, "c1");
    c2 = StartTsdb(bootstrap, "c2");
    ASSERT_FALSE(c1->address().empty()) << c1->proc().Stderr();
    ASSERT_FALSE(c2->address().empty()) << c2->proc().Stderr();
    ASSERT_TRUE(
        testing::WaitForPartitions({c1.get(), c2.get()}, "vigil_tsdb_kafka_consumer_partitions", 2))
        << c1->proc().Stderr() << c2->proc().Stderr();
  }
  // A tsdb answering queries over `shards` (--query-shards).
  std::unique_ptr<testing::VigilProcess> StartFront(const std::vector<std::string>& shards) {
    std::string list;
    for (const auto& s : shards) list += (list.empty() ? "" : ",") + s;
    return testing::StartVigil(kVigil, "tsdb", dir_, "front", {"--query-shards", list});
  }
  int started_ = 0;
  testing::TempDir dir_;
};

// The samples (series → sample numbers) a store holds, of the 20 minutes from base_ms.
std::map<std::string, std::set<int>> Stored(const std::string& address, int64_t base_ms) {
  std::map<std::string, std::set<int>> out;
  if (address.empty()) return out;
  http::HttpClient c;
  const std::string t = std::to_string((base_ms + 1'200'000) / 1000);
  auto r = c.Get(address + "/api/v1/query?query=kafka_test_total%5B20m%5D&time=" + t);
  if (!r.ok() || r->status != 200) return out;
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  if (j.is_discarded()) return out;
  for (const auto& series : j["data"]["result"]) {
    auto& numbers = out[series["metric"]["series"].get<std::string>()];
    for (const auto& v : series["values"]) numbers.insert(std::stoi(v[1].get<std::string>()));
  }
  return out;
}

TEST_F(TsdbKafkaTest, StoresInOneGroupShareThePartitionsAndLoseNothingThroughAKill) {
  // Samples of the last hour, well inside retention and the out-of-order window.
  const int64_t base_ms = testing::NowNs() / 1'000'000 - 3'600'000;
  testing::KafkaMock kafka(kMock, dir_.Join("kafka"), "vigil-metrics:4");
  ASSERT_FALSE(kafka.bootstrap().empty());
  std::unique_ptr<testing::VigilProcess> c1, c2;
  ASSERT_NO_FATAL_FAILURE(StartGroupOfTwo(kafka.bootstrap(), c1, c2));

  auto complete = [&](int upto) {
    std::map<std::string, std::set<int>> all;
    for (auto* p : {&c1, &c2}) {
      for (auto& [series, numbers] : Stored((*p)->address(), base_ms)) {
        all[series].insert(numbers.begin(), numbers.end());
      }
    }
    if (all.size() != kSeries) return false;
    for (const auto& [series, numbers] : all) {
      if (numbers.size() != static_cast<size_t>(upto) || *numbers.rbegin() != upto - 1) {
        return false;
      }
    }
    return true;
  };
  Producer producer(kafka.bootstrap());
  SendSamples(producer, base_ms, 0, 100, 10);
  // A message that is no remote_write batch: skipped, counted, the partition goes on.
  producer.Send("vigil-metrics", "junk", "not a remote_write batch");
  ASSERT_TRUE(producer.Flush());
  ASSERT_TRUE(testing::WaitFor([&] { return complete(100); }, std::chrono::seconds(60)));
  // Both stores hold samples: the partitions are shared.
  for (auto* p : {&c1, &c2}) {
    EXPECT_FALSE(Stored((*p)->address(), base_ms).empty()) << (*p)->proc().Stderr();
  }
  EXPECT_TRUE(testing::WaitFor([&] {
    double malformed = 0;
    for (auto* p : {&c1, &c2}) {
      malformed += std::max(0.0, testing::MetricValue((*p)->Url("/metrics"),
                                                      "vigil_tsdb_kafka_consumer_errors_total{"
                                                      "reason=\"malformed\"}"));
    }
    return malformed == 1;
  }));

  // c1 dies while batches come; c2 takes its partitions after the session timeout; c1 comes back
  // and the group shares them again.
  std::thread sender([&] {
    SendSamples(producer, base_ms, 100, 200, 10);
    EXPECT_TRUE(producer.Flush());
  });
  c1->proc().Stop(SIGKILL);
  sender.join();
  c1 = StartTsdb(kafka.bootstrap(), "c1");
  ASSERT_FALSE(c1->address().empty()) << c1->proc().Stderr();
  ASSERT_TRUE(testing::WaitFor([&] { return complete(300); }, std::chrono::seconds(90))) << [&] {
    std::string out;
    for (auto* p : {&c1, &c2}) {
      for (const auto& [series, numbers] : Stored((*p)->address(), base_ms)) {
        out += series + ": " + std::to_string(numbers.size()) + "\n";
      }
    }
    return out;
  }() << c1->proc().Stderr() << c2->proc().Stderr();
  // And through one URL over both (--query-shards): every sample of every series, once.
  auto front_proc = StartFront({c1->address(), c2->address()});
  testing::VigilProcess& front = *front_proc;
  ASSERT_FALSE(front.address().empty()) << front.proc().Stderr();
  const auto through_front = Stored(front.address(), base_ms);
  EXPECT_EQ(through_front.size(), static_cast<size_t>(kSeries));
  for (const auto& [series, numbers] : through_front) {
    EXPECT_EQ(numbers.size(), 300u) << series;
  }
  // Nothing the stores rejected: replays after the kill are exact duplicates, kept once.
  for (auto* p : {&c1, &c2}) {
    EXPECT_EQ(
        testing::MetricValue((*p)->Url("/metrics"), "vigil_tsdb_kafka_samples_rejected_total"), 0)
        << (*p)->proc().Stderr();
  }
}

// The names of the series a store holds (by __name__ and labels, as one string each).
std::set<std::string> SeriesOf(const std::string& address, const std::string& match) {
  std::set<std::string> out;
  http::HttpClient c;
  auto r = c.Get(address + "/api/v1/series?match%5B%5D=" + http::PercentEncode(match));
  if (!r.ok() || r->status != 200) return out;
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  if (j.is_discarded()) return out;
  for (const auto& series : j["data"]) out.insert(series.dump());
  return out;
}

// The agent ships to a Kafka topic (--remote-write kafka://…/TOPIC), a message per partition with
// each series in the partition its labels hash to: with the group stable, every series is in
// exactly one of the two stores, and all of the agent's node series are there.
TEST_F(TsdbKafkaTest, TheAgentPublishesEachSeriesToOnePartition) {
  testing::KafkaMock kafka(kMock, dir_.Join("kafka"), "vigil-metrics:4");
  ASSERT_FALSE(kafka.bootstrap().empty());
  std::unique_ptr<testing::VigilProcess> c1, c2;
  ASSERT_NO_FATAL_FAILURE(StartGroupOfTwo(kafka.bootstrap(), c1, c2));
  std::filesystem::create_directories(dir_.Join("agent-logs"));
  testing::VigilProcess agent(
      kVigil,
      {"agent", "--listen", "127.0.0.1:0", "--data-dir", dir_.Join("agent"), "--collector", "node",
       "--interval", "200ms", "--remote-write", "kafka://" + kafka.bootstrap() + "/vigil-metrics"},
      dir_.Join("agent-logs"));
  ASSERT_FALSE(agent.address().empty()) << agent.proc().Stderr();
  // The node series the agent serves: each must reach a store.
  size_t node_series = 0;
  ASSERT_TRUE(testing::WaitFor([&] {
    http::HttpClient c;
    auto r = c.Get(agent.Url("/metrics"));
    if (!r.ok()) return false;
    std::istringstream in(r->body);
    node_series = 0;
    for (std::string line; std::getline(in, line);) node_series += line.starts_with("node_");
    return node_series > 50;
  }));
  const std::string match = "{__name__=~\"node_.+\"}";
  std::set<std::string> s1, s2;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        s1 = SeriesOf(c1->address(), match);
        s2 = SeriesOf(c2->address(), match);
        return s1.size() + s2.size() >= node_series;
      },
      std::chrono::seconds(60)))
      << s1.size() << " + " << s2.size() << " of " << node_series << "\n"
      << agent.proc().Stderr();
  // Both stores hold some, and no series is in both.
  EXPECT_FALSE(s1.empty());
  EXPECT_FALSE(s2.empty());
  for (const auto& series : s1) EXPECT_EQ(s2.count(series), 0u) << series;
}

// A Prometheus server's remote_write reaches the group through an ingest-only tsdb
// (--kafka-publish), which is also the group's query front (--query-shards): one URL to write to
// and read from. Every series Prometheus scrapes is in exactly one store; with the brokers down
// the ingest answers 503 (Prometheus retries), and takes batches again once they are back.
TEST_F(TsdbKafkaTest, PrometheusWritesThroughAnIngestOnlyTsdb) {
  for (const char* p : {"prometheus", "prometheus-node-exporter"}) {
    ASSERT_TRUE(testing::HaveProgram(p)) << p << " is installed by scripts/setup.sh";
  }
  testing::KafkaMock kafka(kMock, dir_.Join("kafka"), "vigil-metrics:4");
  ASSERT_FALSE(kafka.bootstrap().empty());
  std::unique_ptr<testing::VigilProcess> c1, c2;
  ASSERT_NO_FATAL_FAILURE(StartGroupOfTwo(kafka.bootstrap(), c1, c2));
  auto ingest_proc = testing::StartVigil(
      kVigil, "tsdb", dir_, "ingest",
      {"--kafka-brokers", kafka.bootstrap(), "--kafka-publish", "vigil-metrics", "--kafka-option",
       "message.timeout.ms=3000", "--query-shards", c1->address() + "," + c2->address()});
  testing::VigilProcess& ingest = *ingest_proc;
  ASSERT_FALSE(ingest.address().empty()) << ingest.proc().Stderr();

  const std::string exporter = "127.0.0.1:" + std::to_string(testing::FreePort());
  testing::Subprocess node_exporter(
      {"prometheus-node-exporter", "--web.listen-address=" + exporter, "--no-collector.systemd"},
      dir_.path());
  ASSERT_TRUE(testing::WaitForHttpOk("http://" + exporter + "/metrics"));
  const std::string prom = "127.0.0.1:" + std::to_string(testing::FreePort());
  testing::WriteFile(dir_.Join("prometheus.yml"),
                     "global:\n  scrape_interval: 1s\n"
                     "scrape_configs:\n  - job_name: node\n    static_configs:\n"
                     "      - targets: ['" +
                         exporter +
                         "']\n"
                         "remote_write:\n  - url: " +
                         ingest.Url("/api/v1/write") +
                         "\n    queue_config: {batch_send_deadline: 1s}\n");
  testing::Subprocess prometheus(
      {"prometheus", "--config.file=" + dir_.Join("prometheus.yml"),
       "--storage.tsdb.path=" + dir_.Join("prom"), "--web.listen-address=" + prom},
      dir_.path());
  ASSERT_TRUE(testing::WaitForHttpOk("http://" + prom + "/-/ready")) << prometheus.Stderr();

  // What Prometheus scraped (its own count), found in the stores and through the front.
  const std::string match = "{job=\"node\"}";
  std::set<std::string> s1, s2;
  size_t scraped = 0;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        scraped = SeriesOf("http://" + prom, match).size();
        s1 = SeriesOf(c1->address(), match);
        s2 = SeriesOf(c2->address(), match);
        return scraped > 100 && s1.size() + s2.size() >= scraped;
      },
      std::chrono::seconds(60)))
      << s1.size() << " + " << s2.size() << " of " << scraped << "\n"
      << ingest.proc().Stderr();
  EXPECT_FALSE(s1.empty());
  EXPECT_FALSE(s2.empty());
  for (const auto& series : s1) EXPECT_EQ(s2.count(series), 0u) << series;
  EXPECT_GE(SeriesOf(ingest.address(), match).size(), scraped);

  // Brokers down: a batch is not acknowledged, and the sender is told to retry.
  http::HttpClient c;
  prometheus::WriteRequest req;
  auto* ts = req.add_timeseries();
  auto* l = ts->add_labels();
  l->set_name("__name__");
  l->set_value("ingest_probe");
  auto* x = ts->add_samples();
  x->set_timestamp(testing::NowNs() / 1'000'000);
  x->set_value(1);
  const std::string body = remote::Encode(req);
  ASSERT_TRUE(kafka.Command("down all"));
  auto down = c.Do(testing::RemoteWritePost(ingest.Url("/api/v1/write"), body));
  ASSERT_TRUE(down.ok());
  EXPECT_EQ(down->status, 503) << down->body;
  ASSERT_TRUE(kafka.Command("up all"));
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto r = c.Do(testing::RemoteWritePost(ingest.Url("/api/v1/write"), body));
        return r.ok() && r->status == 204;
      },
      std::chrono::seconds(60)));
  ASSERT_TRUE(testing::WaitFor(
      [&] { return SeriesOf(ingest.address(), "{__name__=\"ingest_probe\"}").size() == 1; }));
}

// One URL over the stores of a group (--query-shards): queries mean what they mean on one store
// holding everything, label APIs give the union, and a shard that is down leaves a warning and
// the other shard's answer, as Prometheus reports a partial response.
TEST_F(TsdbKafkaTest, QueriesFanOutToTheShards) {
  const int64_t base_ms = testing::NowNs() / 1'000'000 - 3'600'000;
  testing::KafkaMock kafka(kMock, dir_.Join("kafka"), "vigil-metrics:4");
  ASSERT_FALSE(kafka.bootstrap().empty());
  std::unique_ptr<testing::VigilProcess> c1, c2;
  ASSERT_NO_FATAL_FAILURE(StartGroupOfTwo(kafka.bootstrap(), c1, c2));
  {
    Producer producer(kafka.bootstrap());
    SendSamples(producer, base_ms, 0, 100, 10);
    ASSERT_TRUE(producer.Flush());
  }
  ASSERT_TRUE(testing::WaitFor([&] {
    return Stored(c1->address(), base_ms).size() + Stored(c2->address(), base_ms).size() == kSeries;
  }));
  auto front_proc = StartFront({c1->address(), c2->address()});
  testing::VigilProcess& front = *front_proc;
  ASSERT_FALSE(front.address().empty()) << front.proc().Stderr();
  http::HttpClient c;
  auto get = [&](const std::string& target) {
    auto r = c.Get(front.Url(target));
    EXPECT_TRUE(r.ok());
    auto j = nlohmann::json::parse(r.ok() ? r->body : "", nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << (r.ok() ? r->body : "");
    return j;
  };
  // Every sample of every series, through the front, once all have arrived.
  ASSERT_TRUE(testing::WaitFor([&] {
    auto all = Stored(front.address(), base_ms);
    if (all.size() != kSeries) return false;
    for (const auto& [series, numbers] : all) {
      if (numbers.size() != 100) return false;
    }
    return true;
  })) << Stored(front.address(), base_ms).size()
      << " series\n"
      << front.proc().Stderr();
  // An aggregation across the shards: sample 99 of each series is 99.
  const std::string at = std::to_string((base_ms + 99'000) / 1000) + "." +
                         std::to_string(1000 + (base_ms + 99'000) % 1000).substr(1);
  auto sum = get("/api/v1/query?query=sum(kafka_test_total)&time=" + at);
  ASSERT_EQ(sum["status"], "success") << sum.dump();
  ASSERT_EQ(sum["data"]["result"].size(), 1u) << sum.dump();
  EXPECT_EQ(sum["data"]["result"][0]["value"][1], std::to_string(kSeries * 99)) << sum.dump();
  EXPECT_FALSE(sum.contains("warnings"));
  auto values = get("/api/v1/label/series/values");
  EXPECT_EQ(values["data"].size(), static_cast<size_t>(kSeries)) << values.dump();
  auto series = get("/api/v1/series?match%5B%5D=kafka_test_total");
  EXPECT_EQ(series["data"].size(), static_cast<size_t>(kSeries)) << series.dump();

  // c2 goes: the answer is c1's part, with a warning naming c2.
  const size_t on_c1 = Stored(c1->address(), base_ms).size();
  const std::string c2_url = c2->address();
  c2->proc().Stop(SIGKILL);
  auto partial = get("/api/v1/query?query=count(kafka_test_total)&time=" + at);
  ASSERT_EQ(partial["status"], "success") << partial.dump();
  ASSERT_TRUE(partial.contains("warnings")) << partial.dump();
  EXPECT_NE(partial["warnings"][0].get<std::string>().find(c2_url), std::string::npos)
      << partial.dump();
  if (on_c1 > 0) {
    EXPECT_EQ(partial["data"]["result"][0]["value"][1], std::to_string(on_c1)) << partial.dump();
  }
  // Both gone: an error, not an empty answer.
  c1->proc().Stop(SIGKILL);
  auto none = get("/api/v1/query?query=count(kafka_test_total)&time=" + at);
  EXPECT_EQ(none["status"], "error") << none.dump();
}

// Without brokers there is nothing to consume from: a clear error at start.
TEST_F(TsdbKafkaTest, ConsumingWithoutBrokersIsAClearError) {
  auto r = testing::Run({kVigil, "tsdb", "--data-dir", dir_.Join("bad"), "--kafka-consume", "x"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--kafka-consume needs --kafka-brokers"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace vigil
