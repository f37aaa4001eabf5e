// logship's Kafka sink against librdkafka's mock cluster (3 brokers, real protocol on loopback),
// read back with kcat: every line there once, in order per stream; a broker outage longer than
// the producer's delivery timeout loses nothing (the spool keeps the batches and sends them
// again when the brokers return).

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "testing.h"
#include "vigil/common/http_client.h"
#include "vigil/common/loki_push.h"
#include "vigil/common/timestamp.h"

namespace vigil {
namespace {

using nlohmann::json;
const std::string kVigil = VIGIL_BINARY;
const std::string kMock = VIGIL_KAFKA_MOCK;

// Every message of the topic: key and value.
std::vector<std::pair<std::string, std::string>> ReadTopic(const std::string& bootstrap,
                                                           const std::string& topic) {
  auto r = testing::Run(
      {"kcat", "-b", bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%k\t%s\n"},
      std::chrono::seconds(60));
  std::vector<std::pair<std::string, std::string>> out;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) {
    const size_t tab = line.find('\t');
    if (tab != std::string::npos) out.emplace_back(line.substr(0, tab), line.substr(tab + 1));
  }
  return out;
}

// Pushes `n` numbered lines for each of `streams` pods, `per_push` lines per stream per push,
// numbering from `first`; line i is stamped base_ns + i.
void PushNumbered(http::HttpClient& c, const std::string& url, int streams, int first, int n,
                  int per_push, int64_t base_ns = int64_t{1'700'000'000} * 1'000'000'000) {
  for (int at = first; at < first + n; at += per_push) {
    std::vector<loki::Stream> push;
    for (int s = 0; s < streams; ++s) {
      loki::Stream stream;
      stream.labels = Labels{{"namespace", "prod"}, {"pod", "pod-" + std::to_string(s)}};
      for (int i = at; i < at + per_push && i < first + n; ++i) {
        stream.entries.push_back({base_ns + i, "n=" + std::to_string(i), {}});
      }
      push.push_back(std::move(stream));
    }
    ASSERT_EQ(testing::LokiPush(c, url, push).status, 204);
  }
}

// Checks the topic holds, for each pod, lines 0..total-1 once each and in order.
void ExpectEveryLineOnceInOrder(const std::vector<std::pair<std::string, std::string>>& messages,
                                int streams, int total) {
  std::map<std::string, std::vector<int>> by_key;
  for (const auto& [key, value] : messages) {
    json v = json::parse(value, nullptr, false);
    ASSERT_FALSE(v.is_discarded()) << value;
    ASSERT_TRUE(v.contains("ts") && v.contains("labels") && v.contains("line")) << value;
    EXPECT_EQ(key, "{namespace=\"prod\", pod=\"" + v["labels"]["pod"].get<std::string>() + "\"}");
    by_key[key].push_back(std::stoi(v["line"].get<std::string>().substr(2)));
  }
  ASSERT_EQ(by_key.size(), static_cast<size_t>(streams));
  for (const auto& [key, numbers] : by_key) {
    std::vector<int> want(static_cast<size_t>(total));
    for (int i = 0; i < total; ++i) want[static_cast<size_t>(i)] = i;
    EXPECT_EQ(numbers, want) << key;
  }
}

class LogshipKafkaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::HaveProgram("kcat")) GTEST_SKIP() << "kcat is not installed (scripts/setup.sh)";
  }
  // A logship named `name` (its data and logs under the test's directory) producing to, or with
  // --kafka-consume consuming from, `bootstrap`.
  std::unique_ptr<testing::VigilProcess> StartLogship(const std::string& bootstrap,
                                                      std::vector<std::string> extra = {},
                                                      const std::string& name = "logship") {
    const std::string logs = dir_.Join(name + "-logs-" + std::to_string(++started_));
    std::filesystem::create_directories(logs);
    std::vector<std::string> args = {"logship", "--data-dir",    dir_.Join(name), "--kafka-brokers",
                                     bootstrap, "--kafka-topic", "vigil-logs"};
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<testing::VigilProcess>(kVigil, args, logs);
  }
  int started_ = 0;
  testing::TempDir dir_;
};

TEST_F(LogshipKafkaTest, EveryLineReachesTheTopicOnceInOrderPerStream) {
  testing::KafkaMock kafka(kMock, dir_.Join("kafka"), "vigil-logs:3");
  ASSERT_FALSE(kafka.bootstrap().empty());
  auto logship = StartLogship(kafka.bootstrap());
  ASSERT_FALSE(logship->address().empty()) << logship->proc().Stderr();
  http::HttpClient c;
  PushNumbered(c, logship->address(), 5, 0, 300, 25);
  std::vector<std::pair<std::string, std::string>> messages;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        messages = ReadTopic(kafka.bootstrap(), "vigil-logs");
        return messages.size() >= 1500;
      },
      std::chrono::seconds(60)))
      << messages.size();
  ExpectEveryLineOnceInOrder(messages, 5, 300);
}

// --store=false: a forwarder. Every line reaches the topic; there is no query API.
TEST_F(LogshipKafkaTest, AForwarderWithoutAStoreSendsEveryLine) {
  testing::KafkaMock kafka(kMock, dir_.Join("kafka"), "vigil-logs:3");
  ASSERT_FALSE(kafka.bootstrap().empty());
  auto logship = StartLogship(kafka.bootstrap(), {"--store=false"});
  ASSERT_FALSE(logship->address().empty()) << logship->proc().Stderr();
  http::HttpClient c;
  PushNumbered(c, logship->address(), 2, 0, 100, 25);
  std::vector<std::pair<std::string, std::string>> messages;
  ASSERT_TRUE(testing::WaitFor([&] {
    messages = ReadTopic(kafka.bootstrap(), "vigil-logs");
    return messages.size() >= 200;
  }));
  ExpectEveryLineOnceInOrder(messages, 2, 100);
  auto q = c.Get(logship->Url("/loki/api/v1/labels"));
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->status, 404);
  EXPECT_FALSE(std::filesystem::exists(dir_.Join("logship/logstore")));
  // Without brokers there is nothing to forward to: a clear error at start.
  auto bad = testing::Run({kVigil, "logship", "--data-dir", dir_.Join("bad"), "--store=false"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("--store=false needs --kafka-brokers"), std::string::npos) << bad.err;
}

TEST_F(LogshipKafkaTest, ABrokerOutageLongerThanTheDeliveryTimeoutLosesNothing) {
  testing::KafkaMock kafka(kMock, dir_.Join("kafka"), "vigil-logs:3");
  ASSERT_FALSE(kafka.bootstrap().empty());
  auto logship = StartLogship(kafka.bootstrap(), {"--kafka-delivery-timeout", "1s"});
  ASSERT_FALSE(logship->address().empty()) << logship->proc().Stderr();
  http::HttpClient c;
  PushNumbered(c, logship->address(), 3, 0, 100, 20);
  ASSERT_TRUE(kafka.Command("down all"));
  // Pushes are still acknowledged: the spool has them; the store answers queries meanwhile.
  PushNumbered(c, logship->address(), 3, 100, 200, 20);
  ::usleep(4'000'000);  // the outage: four delivery timeouts
  ASSERT_TRUE(kafka.Command("up all"));
  PushNumbered(c, logship->address(), 3, 300, 100, 20);
  // A batch that timed out may have reached the brokers before they went down: at-least-once
  // allows it to come twice; every line must be there, in order per stream, past duplicates.
  // So wait for 1,200 distinct messages: duplicates on one partition must not end the wait while
  // another partition is still being retried.
  std::vector<std::pair<std::string, std::string>> messages, unique;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        messages = ReadTopic(kafka.bootstrap(), "vigil-logs");
        std::set<std::string> seen;
        unique.clear();
        for (const auto& m : messages) {
          if (seen.insert(m.first + m.second).second) unique.push_back(m);
        }
        return unique.size() >= 1200;
      },
      std::chrono::seconds(90)))
      << messages.size() << " messages, " << unique.size() << " distinct\n"
      << logship->proc().Stderr();
  ExpectEveryLineOnceInOrder(unique, 3, 400);
  // The outage went past the producer's own retries: the spool held the batch and sent it again.
  EXPECT_NE(logship->proc().Stderr().find("sink kafka: write failed, retrying"), std::string::npos)
      << logship->proc().Stderr();
}

// Consumer mode: two logship instances in one consumer group share the topic's partitions and
// store what they read; one is kill -9ed and restarted while lines keep coming. Every line is in
// the union of their stores.
TEST_F(LogshipKafkaTest, ConsumersInOneGroupShareThePartitionsAndLoseNothingThroughAKill) {
  testing::KafkaMock kafka(kMock, dir_.Join("kafka"), "vigil-logs:4");
  ASSERT_FALSE(kafka.bootstrap().empty());
  auto producer = StartLogship(kafka.bootstrap());
  ASSERT_FALSE(producer->address().empty()) << producer->proc().Stderr();
  const std::vector<std::string> consume = {"--kafka-consume", "vigil-logs",
                                            "--kafka-group",   "stores",
                                            "--kafka-option",  "session.timeout.ms=6000",
                                            "--kafka-option",  "heartbeat.interval.ms=500"};
  auto c1 = StartLogship(kafka.bootstrap(), consume, "c1");
  auto c2 = StartLogship(kafka.bootstrap(), consume, "c2");
  ASSERT_FALSE(c1->address().empty()) << c1->proc().Stderr();
  ASSERT_FALSE(c2->address().empty()) << c2->proc().Stderr();
  // The group settles with two partitions each.
  ASSERT_TRUE(testing::WaitForPartitions({c1.get(), c2.get()},
                                         "vigil_logship_kafka_consumer_partitions", 2))
      << c1->proc().Stderr() << c2->proc().Stderr();

  const int streams = 8, total = 600;
  const int64_t base = testing::NowNs() - int64_t{600} * 1'000'000'000;
  http::HttpClient c;
  // Every pod's numbers found in the two stores together.
  auto stored = [&] {
    std::map<std::string, std::set<int>> by_pod;
    for (auto* p : {&c1, &c2}) {
      if ((*p)->address().empty()) continue;
      for (const auto& e : testing::LokiEntries(c, (*p)->address(), "{namespace=\"prod\"}", base,
                                                base + 1'000'000)) {
        by_pod[e.labels.at("pod")].insert(std::stoi(e.line.substr(2)));
      }
    }
    return by_pod;
  };
  auto complete = [&](int upto) {
    auto by_pod = stored();
    if (by_pod.size() != static_cast<size_t>(streams)) return false;
    for (const auto& [pod, numbers] : by_pod) {
      if (numbers.size() != static_cast<size_t>(upto) || *numbers.rbegin() != upto - 1) {
        return false;
      }
    }
    return true;
  };
  PushNumbered(c, producer->address(), streams, 0, 200, 20, base);
  ASSERT_TRUE(testing::WaitFor([&] { return complete(200); }, std::chrono::seconds(60)));
  // Both consumers hold lines: the partitions are shared. (A consumer counts a batch once its
  // offsets are committed, a moment after the lines are in its store.)
  for (auto* p : {&c1, &c2}) {
    EXPECT_TRUE(testing::WaitFor([&] {
      return testing::MetricValue((*p)->Url("/metrics"), "vigil_logship_kafka_consumed_total") > 0;
    })) << (*p)->proc().Stderr();
  }
  // c1 dies during ingest; c2 takes its partitions after the session timeout; c1 comes back.
  std::thread pusher([&] { PushNumbered(c, producer->address(), streams, 200, 400, 20, base); });
  c1->proc().Stop(SIGKILL);
  pusher.join();
  c1 = StartLogship(kafka.bootstrap(), consume, "c1");
  ASSERT_FALSE(c1->address().empty()) << c1->proc().Stderr();
  ASSERT_TRUE(testing::WaitFor([&] { return complete(total); }, std::chrono::seconds(90))) << [&] {
    std::string out;
    for (const auto& [pod, numbers] : stored())
      out += pod + ": " + std::to_string(numbers.size()) + "\n";
    return out;
  }() << c1->proc().Stderr() << c2->proc().Stderr();

  // Through one URL over both (--query-shards): every line once, though a stream's lines are
  // in both stores after the partitions moved, and some twice around the kill.
  auto front_proc =
      testing::StartVigil(kVigil, "logship", dir_, "front",
                          {"--store=false", "--query-shards", c1->address() + "," + c2->address()});
  testing::VigilProcess& front = *front_proc;
  ASSERT_FALSE(front.address().empty()) << front.proc().Stderr();
  std::map<std::string, std::vector<int>> through_front;
  for (const auto& e :
       testing::LokiEntries(c, front.address(), "{namespace=\"prod\"}", base, base + 1'000'000)) {
    through_front[e.labels.at("pod")].push_back(std::stoi(e.line.substr(2)));
  }
  ASSERT_EQ(through_front.size(), static_cast<size_t>(streams));
  for (auto& [pod, numbers] : through_front) {
    std::vector<int> want(total);
    for (int i = 0; i < total; ++i) want[static_cast<size_t>(i)] = i;
    std::sort(numbers.begin(), numbers.end());
    EXPECT_EQ(numbers, want) << pod;
  }
}

// A message that is not a logship record is skipped, counted and logged; the lines after it are
// stored.
TEST_F(LogshipKafkaTest, AConsumerSkipsAMalformedMessageAndGoesOn) {
  testing::KafkaMock kafka(kMock, dir_.Join("kafka"), "vigil-logs:1");
  ASSERT_FALSE(kafka.bootstrap().empty());
  auto consumer = StartLogship(kafka.bootstrap(), {"--kafka-consume", "vigil-logs"}, "c");
  ASSERT_FALSE(consumer->address().empty()) << consumer->proc().Stderr();
  const int64_t now = testing::NowNs();
  const std::string good =
      R"({"ts":")" + std::to_string(now / 1'000'000'000) +
      R"(","labels":{"app":"x"},"line":"bad ts"})" + "\n" + "not json at all\n" +
      R"({"ts":"2026-01-01T00:00:00Z","labels":{"0bad":"x"},"line":"bad label"})" + "\n";
  testing::TempDir tmp;
  tmp.Write("in", good);
  // A correct record last, stamped now.
  std::ofstream(tmp.Join("in"), std::ios::app)
      << R"({"ts":")" << FormatRfc3339Nanos(now) << R"(","labels":{"app":"x"},"line":"good"})"
      << "\n";
  auto r = testing::Run(
      {"kcat", "-b", kafka.bootstrap(), "-P", "-t", "vigil-logs", "-l", tmp.Join("in")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  http::HttpClient c;
  ASSERT_TRUE(testing::WaitFor([&] {
    return testing::LokiLastHour(c, consumer->address(), "{app=\"x\"}") ==
           std::vector<std::string>{"good"};
  })) << consumer->proc().Stderr();
  EXPECT_EQ(testing::MetricValue(consumer->Url("/metrics"),
                                 "vigil_logship_kafka_consumer_errors_total{reason=\"malformed\"}"),
            3);
  EXPECT_NE(consumer->proc().Stderr().find("skipping vigil-logs [0] offset 1: the value is not a "
                                           "JSON object"),
            std::string::npos)
      << consumer->proc().Stderr();
}

// The rotation storm: a writer appends numbered lines to a kubelet-layout log while it is
// rotated hundreds of times (rename-and-create and copytruncate, alternately), and the agent
// tailing it into logship (store and Kafka) is kill -9ed and restarted three times. Every number
// arrives in the store and in Kafka; the only duplicates are lines re-sent after a kill (the
// unacknowledged batches: the one in flight and the one read ahead).
TEST_F(LogshipKafkaTest, ARotationStormWithAgentKillsLosesNoLine) {
  testing::KafkaMock kafka(kMock, dir_.Join("kafka"), "vigil-logs:3");
  ASSERT_FALSE(kafka.bootstrap().empty());
  auto logship = StartLogship(kafka.bootstrap());
  ASSERT_FALSE(logship->address().empty()) << logship->proc().Stderr();
  const std::string log = dir_.Join("pods/default_storm_u1/app/0.log");
  std::filesystem::create_directories(std::filesystem::path(log).parent_path());
  int agents = 0;
  auto start_agent = [&] {
    const std::string logs = dir_.Join("agent-logs-" + std::to_string(++agents));
    std::filesystem::create_directories(logs);
    return std::make_unique<testing::VigilProcess>(
        kVigil,
        std::vector<std::string>{"agent", "--data-dir", dir_.Join("agent"), "--collector", "node",
                                 "--interval", "1h", "--instance", "n1", "--log-root",
                                 dir_.Join("pods/*/*/*.log"), "--log-push",
                                 logship->address() + "/loki/api/v1/push"},
        logs);
  };
  const int total = 15000, every = 50;
  const int64_t base = (testing::NowNs() / 1'000'000'000 - 600) * 1'000'000'000;
  auto line = [&](int i) {
    return FormatRfc3339Nanos(base + int64_t{i} * 1'000'000) + " stdout F n=" + std::to_string(i) +
           "\n";
  };
  std::ofstream(log) << line(0);
  auto agent = start_agent();
  ASSERT_FALSE(agent->address().empty()) << agent->proc().Stderr();
  std::atomic<int> written{1};
  int rotations = 0;
  std::thread writer([&] {
    std::ofstream out(log, std::ios::app);
    for (int i = 1; i < total; ++i) {
      out << line(i);
      written = i + 1;
      if (i % 5 == 0) {
        out.flush();
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
      if ((i + 1) % every == 0) testing::RotateLog(out, log, ++rotations);
    }
  });
  // Three kill -9s while the storm goes on, each at a third more of the lines.
  for (int k = 1; k <= 3; ++k) {
    ASSERT_TRUE(testing::WaitFor([&] { return written >= total * k / 4; }));
    agent->proc().Stop(SIGKILL);
    agent = start_agent();
    ASSERT_FALSE(agent->address().empty()) << agent->proc().Stderr();
  }
  writer.join();
  EXPECT_GE(rotations, 299);

  // The store: every number (read back in windows of 4000, the API's limit being 5000).
  http::HttpClient c;
  std::map<int, int> stored;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        stored.clear();
        for (int from = 0; from < total; from += 4000) {
          for (const auto& e : testing::LokiEntries(
                   c, logship->address(), "{container=\"app\", node=\"n1\"}",
                   base + int64_t{from} * 1'000'000, base + int64_t{from + 4000} * 1'000'000)) {
            ++stored[std::stoi(e.line.substr(2))];
          }
        }
        return stored.size() == static_cast<size_t>(total);
      },
      std::chrono::seconds(120)))
      << stored.size() << " of " << total << " numbers stored; first missing: " <<
      [&] {
        for (int i = 0; i < total; ++i) {
          if (stored.count(i) == 0) return i;
        }
        return -1;
      }()
      << "\n"
      << agent->proc().Stderr();

  // Kafka: every number, duplicates only from re-sent batches.
  std::map<int, int> in_kafka;
  size_t messages = 0;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        in_kafka.clear();
        auto all = ReadTopic(kafka.bootstrap(), "vigil-logs");
        messages = all.size();
        for (const auto& [key, value] : all) {
          json v = json::parse(value, nullptr, false);
          if (v.is_discarded()) continue;
          ++in_kafka[std::stoi(v["line"].get<std::string>().substr(2))];
        }
        return in_kafka.size() == static_cast<size_t>(total);
      },
      std::chrono::seconds(60)))
      << in_kafka.size() << " of " << total;
  // A kill repeats the unacknowledged batches (in flight and read ahead, consecutive): a run of
  // consecutive numbers. So at most three runs of repeated numbers, each repeated once per kill.
  const size_t duplicates = messages - in_kafka.size();
  int runs = 0, last = -2;
  std::string repeated;
  for (const auto& [n, count] : in_kafka) {
    if (count == 1) continue;
    EXPECT_LE(count, 4) << "n=" << n;
    if (n != last + 1) {
      ++runs;
      repeated += " " + std::to_string(n) + "..";
    }
    last = n;
  }
  EXPECT_LE(runs, 3) << repeated;
  std::cout << "rotation storm: " << rotations << " rotations, 3 kills, " << total << " lines, "
            << duplicates << " duplicates in Kafka in " << runs << " runs starting at" << repeated
            << "\n";
}

}  // namespace
}  // namespace vigil
