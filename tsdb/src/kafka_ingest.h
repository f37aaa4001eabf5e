#pragma once

// KafkaIngest: `vigil tsdb --kafka-consume TOPIC --kafka-group G`. The store reads remote_write
// batches from a Kafka topic (each message one snappy-compressed WriteRequest, the body of a
// remote_write POST) as a member of a consumer group: several tsdb instances share the topic's
// partitions, Kafka does membership and assignment, and a producer keyed by series sends each
// series to one partition, so to one store.
//
// The loop is kafka::GroupConsumer's: offsets are committed only after the batch is committed to
// the store (its WAL synced unless --wal-sync=false), so a crash replays from the last commit and
// the store keeps the replayed samples once (an exact duplicate is accepted and dropped).
// A message that does not decode is skipped and counted as malformed; a sample the store rejects
// (out of order beyond the window, another value at a stored timestamp) is skipped, counted in
// vigil_tsdb_kafka_samples_rejected_total and logged, and the rest of its message is stored:
// there is no sender to answer 400 to.

#include <memory>

#include "vigil/common/config.h"
#include "vigil/common/kafka.h"
#include "vigil/common/remote_write.h"
#include "vigil/tsdb/storage.h"

namespace vigil::tsdb {

struct KafkaIngestOptions {
  kafka::GroupConsumerOptions consumer;  // component "tsdb"
  remote::WriteLimits write_limits;
};

KafkaIngestOptions KafkaIngestOptionsFrom(const Config& config);

// Starts consuming; the consumer stops (committing what it stored) when the result goes.
Result<std::unique_ptr<kafka::GroupConsumer>> StartKafkaIngest(KafkaIngestOptions options,
                                                               Appendable& store);

}  // namespace vigil::tsdb
