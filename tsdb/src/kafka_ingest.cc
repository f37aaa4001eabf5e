#include "kafka_ingest.h"

#include <spdlog/spdlog.h>

#include <string>
#include <vector>

#include "vigil/common/self_metrics.h"
#include "vigil/tsdb/api.h"

namespace vigil::tsdb {
namespace {

struct IngestMetrics {
  prometheus::Counter* samples;
  prometheus::Counter* rejected;
  IngestMetrics() {
    samples = &prometheus::BuildCounter()
                   .Name("vigil_tsdb_kafka_samples_total")
                   .Help("Samples read from Kafka and committed to the store.")
                   .Register(SelfMetrics())
                   .Add({});
    rejected = &prometheus::BuildCounter()
                    .Name("vigil_tsdb_kafka_samples_rejected_total")
                    .Help(
                        "Samples read from Kafka that the store rejected (out of order beyond "
                        "its window, another value at a stored timestamp), skipped.")
                    .Register(SelfMetrics())
                    .Add({});
  }
};

IngestMetrics& Metrics() {
  static IngestMetrics m;
  return m;
}

// A batch of messages: checked as they come (one that does not decode is skipped), appended and
// committed at the flush. The messages are kept as they came until the commit succeeds: a failed
// commit leaves nothing of the batch in the store, so the next try appends it all again.
class StoreHandler final : public kafka::GroupConsumer::Handler {
 public:
  StoreHandler(Appendable& store, remote::WriteLimits limits) : store_(store), limits_(limits) {}

  Status Take(std::string_view, std::string_view value) override {
    VIGIL_RETURN_IF_ERROR(remote::DecodeView(value, limits_, view_));
    pending_.emplace_back(value);
    return Status::Ok();
  }

  Status Flush() override {
    if (pending_.empty()) return Status::Ok();
    auto app = store_.NewAppender();
    size_t samples = 0, rejected = 0;
    std::string first_rejection;
    for (const std::string& message : pending_) {
      VIGIL_RETURN_IF_ERROR(remote::DecodeView(message, limits_, view_));  // decoded before
      VIGIL_RETURN_IF_ERROR(AppendWriteRequest(*app, view_, samples, [&](const Status& st) {
        if (rejected++ == 0) first_rejection = st.message();
        return true;
      }));
    }
    VIGIL_RETURN_IF_ERROR(app->Commit());
    pending_.clear();
    Metrics().samples->Increment(static_cast<double>(samples));
    if (rejected > 0) {
      Metrics().rejected->Increment(static_cast<double>(rejected));
      spdlog::warn("tsdb: kafka: {} samples rejected by the store, the first: {}", rejected,
                   first_rejection);
    }
    return Status::Ok();
  }

 private:
  Appendable& store_;
  remote::WriteLimits limits_;
  remote::WriteRequestView view_;
  std::vector<std::string> pending_;
};

}  // namespace

KafkaIngestOptions KafkaIngestOptionsFrom(const Config& config) {
  KafkaIngestOptions o;
  o.consumer.component = "tsdb";
  o.consumer.brokers = config.tsdb.kafka_brokers;
  o.consumer.topic = config.tsdb.kafka_consume;
  o.consumer.group = config.tsdb.kafka_group;
  o.consumer.options = config.tsdb.kafka_options;
  // A message is a whole remote_write batch (up to ~512 KiB compressed from the agent): a flush
  // holds at most this many.
  o.consumer.batch_messages = 64;
  return o;
}

Result<std::unique_ptr<kafka::GroupConsumer>> StartKafkaIngest(KafkaIngestOptions options,
                                                               Appendable& store) {
  Metrics();
  VIGIL_ASSIGN_OR_RETURN(
      auto consumer,
      kafka::GroupConsumer::Make(std::move(options.consumer),
                                 std::make_shared<StoreHandler>(store, options.write_limits)));
  consumer->Start();
  return consumer;
}

}  // namespace vigil::tsdb
