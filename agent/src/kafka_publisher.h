#pragma once

// KafkaPublisher: a remote_write destination that is a Kafka topic (`--remote-write
// kafka://HOST:PORT[,HOST:PORT…]/TOPIC`), for stores that scale out as a consumer group
// (`vigil tsdb --kafka-consume TOPIC`).
//
// A batch from the agent's queue is split by series: each series goes to the partition its
// labels hash to (HashLabels modulo the topic's partitions), so a series always lands in one
// partition, so in one store while the group is stable. Each partition gets one message: a
// snappy-compressed WriteRequest, the body of a remote_write POST, keyed by the partition's
// number. The producer is idempotent with acks=all; Publish returns only when every message of
// the batch is acknowledged, else an error and the whole batch is published again (the stores
// keep an identical sample once). The queue's sender does the retrying, as for HTTP.

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/common/status.h"

namespace vigil::agent {

// Whether `url` names a Kafka destination (kafka://…).
bool IsKafkaUrl(std::string_view url);

class KafkaPublisher {
 public:
  // From kafka://BROKERS/TOPIC; `options` are librdkafka name=value pairs over ours.
  static Result<std::unique_ptr<KafkaPublisher>> Make(std::string_view url,
                                                      const std::vector<std::string>& options,
                                                      std::chrono::milliseconds timeout);
  ~KafkaPublisher();
  // Publishes one remote_write body (snappy WriteRequest). Unavailable when a message was not
  // acknowledged in time (brokers down: retried); InvalidArgument when the body does not decode
  // (never retried).
  Status Publish(std::string_view body);

 private:
  struct Impl;
  explicit KafkaPublisher(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::agent
