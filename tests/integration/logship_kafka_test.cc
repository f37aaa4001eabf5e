// logship's Kafka sink against librdkafka's mock cluster (3 brokers, real protocol on loopback),
// read back with kcat: every line there once, in order per stream; a broker outage longer than
// the producer's delivery timeout loses nothing (the spool keeps the batches and sends them
// again when the brokers return).

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "testing.h"
#include "vigil/common/http_client.h"
#include "vigil/common/loki_push.h"

namespace vigil {
namespace {

using nlohmann::json;
const std::string kVigil = VIGIL_BINARY;
const std::string kMock = VIGIL_KAFKA_MOCK;

class KafkaMock {
 public:
  KafkaMock(const std::string& dir, const std::string& topic) : control_(dir + "/control") {
    std::filesystem::create_directories(dir);
    proc_ = std::make_unique<testing::Subprocess>(
        std::vector<std::string>{kMock, "--brokers", "3", "--topic", topic, "--control", control_},
        dir);
    const std::regex re("bootstrap (\\S+)");
    testing::WaitFor([&] {
      std::smatch m;
      const std::string out = proc_->Stdout();
      if (std::regex_search(out, m, re)) bootstrap_ = m[1].str();
      return !bootstrap_.empty() || !proc_->Running();
    });
  }
  const std::string& bootstrap() const { return bootstrap_; }
  // Sends a command ("down all", "up all") and waits for its answer.
  bool Command(const std::string& cmd) {
    const size_t before = Answers();
    const int fd = ::open(control_.c_str(), O_WRONLY);
    if (fd < 0) return false;
    const std::string line = cmd + "\n";
    const bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
    ::close(fd);
    return ok && testing::WaitFor([&] { return Answers() > before; });
  }

 private:
  size_t Answers() const {
    const std::string out = proc_->Stdout();
    size_t n = 0;
    for (size_t p = out.find("\nok"); p != std::string::npos; p = out.find("\nok", p + 1)) ++n;
    return n;
  }
  std::string control_;
  std::string bootstrap_;
  std::unique_ptr<testing::Subprocess> proc_;
};

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

bool Push(http::HttpClient& c, const std::string& url, const std::vector<loki::Stream>& s) {
  http::ClientRequest req;
  req.method = "POST";
  req.url = url + "/loki/api/v1/push";
  req.body = loki::EncodePush(s);
  req.headers.emplace_back("Content-Type", "application/x-protobuf");
  auto r = c.Do(req);
  return r.ok() && r->status == 204;
}

// Pushes `n` numbered lines for each of `streams` pods, `per_push` lines per stream per push,
// numbering from `first`.
void PushNumbered(http::HttpClient& c, const std::string& url, int streams, int first, int n,
                  int per_push) {
  for (int at = first; at < first + n; at += per_push) {
    std::vector<loki::Stream> push;
    for (int s = 0; s < streams; ++s) {
      loki::Stream stream;
      stream.labels = Labels{{"namespace", "prod"}, {"pod", "pod-" + std::to_string(s)}};
      for (int i = at; i < at + per_push && i < first + n; ++i) {
        stream.entries.push_back(
            {int64_t{1'700'000'000} * 1'000'000'000 + i, "n=" + std::to_string(i), {}});
      }
      push.push_back(std::move(stream));
    }
    ASSERT_TRUE(Push(c, url, push));
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
  std::unique_ptr<testing::VigilProcess> StartLogship(const std::string& bootstrap,
                                                      std::vector<std::string> extra = {}) {
    std::filesystem::create_directories(dir_.Join("logs"));
    std::vector<std::string> args = {"logship",         "--data-dir", dir_.Join("data"),
                                     "--kafka-brokers", bootstrap,    "--kafka-topic",
                                     "vigil-logs"};
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<testing::VigilProcess>(kVigil, args, dir_.Join("logs"));
  }
  testing::TempDir dir_;
};

TEST_F(LogshipKafkaTest, EveryLineReachesTheTopicOnceInOrderPerStream) {
  KafkaMock kafka(dir_.Join("kafka"), "vigil-logs:3");
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

TEST_F(LogshipKafkaTest, ABrokerOutageLongerThanTheDeliveryTimeoutLosesNothing) {
  KafkaMock kafka(dir_.Join("kafka"), "vigil-logs:3");
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
  std::vector<std::pair<std::string, std::string>> messages;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        messages = ReadTopic(kafka.bootstrap(), "vigil-logs");
        return messages.size() >= 1200;
      },
      std::chrono::seconds(90)))
      << messages.size() << "\n"
      << logship->proc().Stderr();
  // A batch that timed out may have reached the brokers before they went down: at-least-once
  // allows it to come twice; every line must be there, in order per stream, past duplicates.
  std::set<std::string> seen;
  std::vector<std::pair<std::string, std::string>> unique;
  for (const auto& m : messages) {
    if (seen.insert(m.first + m.second).second) unique.push_back(m);
  }
  ExpectEveryLineOnceInOrder(unique, 3, 400);
  // The outage went past the producer's own retries: the spool held the batch and sent it again.
  EXPECT_NE(logship->proc().Stderr().find("sink kafka: write failed, retrying"), std::string::npos)
      << logship->proc().Stderr();
}

}  // namespace
}  // namespace vigil
