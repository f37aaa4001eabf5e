#pragma once

// KafkaConsumer: logship's consumer mode. It reads a topic written by logship's Kafka sink
// (value {"ts","labels","line"}) into the log store, as a member of a consumer group, so several
// logship instances share the topic's partitions and Kafka does membership and assignment.
//
// The loop is kafka::GroupConsumer's (offsets committed only after the batch is durable: the
// store's Write, then Sync of its WAL). A crash replays from the last commit: the lines of at most
// one batch come twice, and the store shows an identical (timestamp, line) pair of a stream once,
// as Loki does. A message that is not such a record is skipped, counted in
// vigil_logship_kafka_consumer_errors_total{reason="malformed"} and logged.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "vigil/common/kafka.h"
#include "vigil/common/status.h"
#include "vigil/logship/log_store.h"

namespace vigil::logship {

struct KafkaConsumerOptions {
  std::vector<std::string> brokers;
  std::string topic;
  std::string group = "vigil-logship";
  std::vector<std::string> options;  // librdkafka name=value, over ours
  size_t batch_messages = 10'000;
  std::chrono::milliseconds batch_wait{200};
};

class KafkaConsumer {
 public:
  static Result<std::unique_ptr<KafkaConsumer>> Make(KafkaConsumerOptions options,
                                                     std::shared_ptr<LogStore> store);
  ~KafkaConsumer();  // stops: writes and commits what it holds, leaves the group
  void Start();
  void Stop();

 private:
  explicit KafkaConsumer(std::unique_ptr<kafka::GroupConsumer> consumer);
  std::unique_ptr<kafka::GroupConsumer> consumer_;
};

}  // namespace vigil::logship
