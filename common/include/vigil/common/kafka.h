#pragma once

// What the Kafka parts share (logship's sink and consumer, tsdb's consumer, the agent's
// remote_write to Kafka): building a librdkafka configuration from our settings plus the user's
// `--kafka-option name=value` pairs (security, SASL, timeouts: anything librdkafka takes),
// librdkafka's log routed to spdlog, BatchProducer, which sends a batch and waits for every
// delivery report, and GroupConsumer, the consumer-group loop a store reads a topic with.
//
// GroupConsumer loses nothing: offsets are committed (synchronously) only after the batch they
// end is durable (the Handler's Flush), and before a partition is given up in a rebalance the
// batch under way is flushed and committed. A crash replays from the last commit: at most one
// batch comes twice, which the stores absorb (an identical sample or log line is kept once).
// A message the handler cannot take is skipped (committed past), counted and logged: it could
// never be stored, and stopping on it would stop the partition for good.

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vigil/common/status.h"

namespace vigil::kafka {

using Settings = std::vector<std::pair<std::string, std::string>>;

// A configuration with `settings`, then `options` ("name=value"; they override ours). The caller
// owns the result (rd_kafka_new takes it). An unknown name or bad value is an error naming it.
// client.id is vigil-<component> unless the options say otherwise; librdkafka's log lines go to
// spdlog, named by it.
Result<rd_kafka_conf_t*> MakeConf(const Settings& settings, const std::vector<std::string>& options,
                                  const std::string& component);

std::string JoinBrokers(const std::vector<std::string>& brokers);

// An idempotent producer (enable.idempotence, acks=all) that sends batches: each message is
// produced (copied) into a Batch, then Wait returns once every message of the batch has its
// delivery report, and fails if any failed, so the caller sends the whole batch again (the
// consumers absorb the duplicates). After a fatal error of the idempotent producer, Wait makes a
// new producer for the next batch. Not thread-safe: one batch at a time.
class BatchProducer {
 public:
  // The delivery reports of one batch.
  class Batch {
   public:
    size_t produced() const { return produced_; }
    size_t failed() const { return failed_.load(); }

   private:
    friend class BatchProducer;
    size_t produced_ = 0;
    std::atomic<size_t> pending_{0};
    std::atomic<size_t> failed_{0};
    std::atomic<int> first_error_{RD_KAFKA_RESP_ERR_NO_ERROR};
  };

  // `settings` add to (or override) idempotence and acks=all; `options` override all of them.
  static Result<std::unique_ptr<BatchProducer>> Make(Settings settings,
                                                     std::vector<std::string> options,
                                                     std::string component);
  ~BatchProducer();  // waits up to 5 s for what is in flight

  rd_kafka_t* handle() { return rk_; }
  // The handle of topic `name`, kept until the producer is made anew.
  Result<rd_kafka_topic_t*> Topic(const std::string& name);
  // Produces one message of `batch` to `partition` (RD_KAFKA_PARTITION_UA: by the key's hash),
  // waiting for room while librdkafka's queue is full. Any other error fails the batch: it
  // waits for the reports of what the batch produced, then returns Unavailable.
  Status Produce(Batch& batch, rd_kafka_topic_t* topic, int32_t partition, std::string_view key,
                 std::string_view value);
  // Waits for every report of `batch`; Unavailable when any message failed, saying how many.
  Status Wait(Batch& batch);

 private:
  BatchProducer() = default;
  Status Connect();
  void Close();
  static void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void*);

  Settings settings_;
  std::vector<std::string> options_;
  std::string component_;
  rd_kafka_t* rk_ = nullptr;
  std::map<std::string, rd_kafka_topic_t*> topics_;
};

struct GroupConsumerOptions {
  // Names the metrics (vigil_<component>_kafka_consumed_total, …) and the log lines.
  std::string component;
  std::vector<std::string> brokers;
  std::string topic;
  std::string group;
  std::vector<std::string> options;  // librdkafka name=value, over ours
  size_t batch_messages = 10'000;
  std::chrono::milliseconds batch_wait{200};
};

class GroupConsumer {
 public:
  // What a store does with the messages. Called from the consumer's one thread.
  class Handler {
   public:
    virtual ~Handler() = default;
    // Takes a message into the batch under way; an error means it can never be stored (it is
    // skipped, counted as malformed and logged with the error).
    virtual Status Take(std::string_view key, std::string_view value) = 0;
    // Makes everything taken since the last Flush durable. On an error the batch is kept and
    // Flush is called again (with backoff) until it succeeds or the consumer stops; then nothing
    // is committed, and the messages are read again after the restart.
    virtual Status Flush() = 0;
  };

  static Result<std::unique_ptr<GroupConsumer>> Make(GroupConsumerOptions options,
                                                     std::shared_ptr<Handler> handler);
  ~GroupConsumer();  // stops
  void Start();
  // Flushes and commits what it holds and leaves the group.
  void Stop();

 private:
  struct Impl;
  explicit GroupConsumer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::kafka
