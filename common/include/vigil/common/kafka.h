#pragma once

// What the Kafka parts share (logship's sink and consumer, tsdb's consumer): building a
// librdkafka configuration from our settings plus the user's `--kafka-option name=value` pairs
// (security, SASL, timeouts: anything librdkafka takes), librdkafka's log routed to spdlog, and
// GroupConsumer, the consumer-group loop a store reads a topic with.
//
// GroupConsumer loses nothing: offsets are committed (synchronously) only after the batch they
// end is durable (the Handler's Flush), and before a partition is given up in a rebalance the
// batch under way is flushed and committed. A crash replays from the last commit: at most one
// batch comes twice, which the stores absorb (an identical sample or log line is kept once).
// A message the handler cannot take is skipped (committed past), counted and logged: it could
// never be stored, and stopping on it would stop the partition for good.

#include <librdkafka/rdkafka.h>

#include <chrono>
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
