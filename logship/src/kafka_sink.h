#pragma once

// KafkaSink: the spool's "kafka" sink. Each line is one message: key = the stream's labels
// ({a="x", b="y"}, so a stream always lands in one partition and keeps its order), value =
// {"ts":"<RFC 3339, ns>","labels":{...},"line":"..."}. The producer is idempotent with acks=all;
// Write returns only when every message of the batch has its delivery report, and fails if any
// failed (after librdkafka's own retries, up to `delivery_timeout`), so the spool keeps the batch
// and sends it again later: at-least-once, never lost while within the spool's bound.
//
// The topic may name labels: "logs-{{namespace}}" sends each stream to its namespace's topic (a
// missing label is empty).

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "vigil/logship/sink.h"

namespace vigil::logship {

struct KafkaSinkOptions {
  std::vector<std::string> brokers;
  std::string topic = "vigil-logs";
  std::string compression = "lz4";
  std::chrono::milliseconds delivery_timeout{30000};
  std::vector<std::string> options;  // librdkafka name=value, over ours
};

class KafkaSink final : public LogSink {
 public:
  static Result<std::unique_ptr<KafkaSink>> Make(KafkaSinkOptions options);
  ~KafkaSink() override;
  std::string name() const override { return "kafka"; }
  Status Write(const std::vector<loki::Stream>& batch) override;

 private:
  struct Impl;
  explicit KafkaSink(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A topic template with {{label}} filled from `labels`.
std::string KafkaTopic(std::string_view tmpl, const Labels& labels);

}  // namespace vigil::logship
