// Publishes a realistic workload (bench/workload.h) to a Kafka topic as the agent does with
// --remote-write kafka://BROKERS/TOPIC: remote_write batches split by series, a message per
// partition (common/include/vigil/common/kafka_publisher.h). For bench/tsdb_kafka_ingest.sh.
//
//   build/bench/kafka_remote_write --brokers HOST:PORT,... --series 20000 --scrapes 30
//
// Prints {"samples": N, "messages_batches": B, "seconds": S} when every message is acknowledged.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <snappy.h>

#include "vigil/common/kafka_publisher.h"
#include "vigil/common/remote_write.h"
#include "workload.h"

int main(int argc, char** argv) {
  std::string brokers, topic = "vigil-metrics";
  size_t series = 20'000, scrapes = 30;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--brokers") brokers = argv[i + 1];
    if (a == "--topic") topic = argv[i + 1];
    if (a == "--series") series = std::strtoull(argv[i + 1], nullptr, 10);
    if (a == "--scrapes") scrapes = std::strtoull(argv[i + 1], nullptr, 10);
  }
  if (brokers.empty()) {
    std::fprintf(stderr,
                 "usage: kafka_remote_write --brokers LIST [--topic T] [--series N] "
                 "[--scrapes N]\n");
    return 2;
  }
  auto publisher = vigil::kafka::RemoteWritePublisher::Make("kafka://" + brokers + "/" + topic, {},
                                                            std::chrono::seconds(60), "agent");
  if (!publisher.ok()) {
    std::fprintf(stderr, "%s\n", publisher.status().ToString().c_str());
    return 1;
  }
  vigil::bench::Workload workload(series);
  const int64_t start_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count() -
                           static_cast<int64_t>(scrapes) * 15'000;
  const auto t0 = std::chrono::steady_clock::now();
  size_t samples = 0, batches = 0;
  std::vector<vigil::LabelView> views;
  std::string compressed;
  for (size_t s = 0; s < scrapes; ++s) {
    workload.Step();
    // One scrape of every series, in batches of ~5,000 series (the agent's ~512 KiB records).
    vigil::remote::WriteRequestEncoder batch;
    auto flush = [&] {
      if (batch.samples() == 0) return true;
      compressed.clear();
      snappy::Compress(batch.bytes().data(), batch.bytes().size(), &compressed);
      if (auto st = (*publisher)->Publish(compressed); !st.ok()) {
        std::fprintf(stderr, "%s\n", st.ToString().c_str());
        return false;
      }
      samples += batch.samples();
      ++batches;
      batch.Clear();
      return true;
    };
    for (const auto& spec : workload.series()) {
      views.clear();
      for (const auto& l : spec.labels) views.push_back({l.name, l.value});
      batch.Add(views, start_ms + static_cast<int64_t>(s) * 15'000, spec.value);
      if (batch.samples() >= 5'000 && !flush()) return 1;
    }
    if (!flush()) return 1;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("{\"samples\": %zu, \"batches\": %zu, \"seconds\": %.2f}\n", samples, batches, secs);
  return 0;
}
