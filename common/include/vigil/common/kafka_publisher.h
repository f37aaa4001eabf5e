#pragma once

// RemoteWritePublisher: remote_write batches published to a Kafka topic, for stores that scale
// out as a consumer group (`vigil tsdb --kafka-consume TOPIC`). The agent's destinations
// `--remote-write kafka://HOST:PORT[,HOST:PORT…]/TOPIC` and an ingest-only `vigil tsdb
// --kafka-publish TOPIC` use it.
//
// A batch is split by series: each series goes to the partition its
// labels hash to (HashLabels modulo the topic's partitions), so a series always lands in one
// partition, so in one store while the group is stable. Each partition gets one message: a
// snappy-compressed WriteRequest, the body of a remote_write POST, keyed by the partition's
// number. The producer is idempotent with acks=all; Publish returns only when every message of
// the batch is acknowledged, else an error, and the caller publishes the whole batch again (the
// agent's queue; a remote_write sender after a 503). The stores keep an identical sample once.
// Publish may be called from several threads; they take turns.

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/common/remote_write.h"
#include "vigil/common/status.h"

namespace vigil::kafka {

// Whether `url` names a Kafka destination (kafka://…).
bool IsKafkaUrl(std::string_view url);

class RemoteWritePublisher {
 public:
  // From kafka://BROKERS/TOPIC; `options` are librdkafka name=value pairs over ours;
  // `component` names the client (vigil-<component>) and its metrics and logs.
  static Result<std::unique_ptr<RemoteWritePublisher>> Make(std::string_view url,
                                                            const std::vector<std::string>& options,
                                                            std::chrono::milliseconds timeout,
                                                            const std::string& component);
  ~RemoteWritePublisher();
  // Publishes one remote_write body (snappy WriteRequest) within `limits`. Unavailable when a
  // message was not acknowledged in time (brokers down: retried); InvalidArgument (OutOfRange
  // over a limit) when the body does not decode (never retried).
  Status Publish(std::string_view body, const remote::WriteLimits& limits = {});

 private:
  struct Impl;
  explicit RemoteWritePublisher(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::kafka
