#include "kafka_consumer.h"

#include <map>

#include "kafka_record.h"

namespace vigil::logship {
namespace {

// Lines gathered by stream, written to the store and synced at each flush.
class StoreHandler final : public kafka::GroupConsumer::Handler {
 public:
  explicit StoreHandler(std::shared_ptr<LogStore> store) : store_(std::move(store)) {}

  Status Take(std::string_view, std::string_view value) override {
    Labels labels;
    loki::Entry entry;
    VIGIL_RETURN_IF_ERROR(DecodeKafkaRecord(value, labels, entry));
    loki::Stream& s = pending_[labels];
    if (s.entries.empty()) s.labels = std::move(labels);
    s.entries.push_back(std::move(entry));
    return Status::Ok();
  }

  Status Flush() override {
    // The batch stays whole until the store has it: a failed flush is tried again with it.
    if (batch_.empty()) {
      batch_.reserve(pending_.size());
      for (auto& [labels, s] : pending_) batch_.push_back(std::move(s));
      pending_.clear();
    }
    if (batch_.empty()) return Status::Ok();
    VIGIL_RETURN_IF_ERROR(store_->Write(batch_));
    VIGIL_RETURN_IF_ERROR(store_->Sync());
    batch_.clear();
    return Status::Ok();
  }

 private:
  std::shared_ptr<LogStore> store_;
  std::map<Labels, loki::Stream> pending_;
  std::vector<loki::Stream> batch_;
};

}  // namespace

KafkaConsumer::KafkaConsumer(std::unique_ptr<kafka::GroupConsumer> consumer)
    : consumer_(std::move(consumer)) {}

KafkaConsumer::~KafkaConsumer() { Stop(); }

Result<std::unique_ptr<KafkaConsumer>> KafkaConsumer::Make(KafkaConsumerOptions options,
                                                           std::shared_ptr<LogStore> store) {
  kafka::GroupConsumerOptions o;
  o.component = "logship";
  o.brokers = std::move(options.brokers);
  o.topic = std::move(options.topic);
  o.group = std::move(options.group);
  o.options = std::move(options.options);
  o.batch_messages = options.batch_messages;
  o.batch_wait = options.batch_wait;
  VIGIL_ASSIGN_OR_RETURN(
      auto consumer,
      kafka::GroupConsumer::Make(std::move(o), std::make_shared<StoreHandler>(std::move(store))));
  return std::unique_ptr<KafkaConsumer>(new KafkaConsumer(std::move(consumer)));
}

void KafkaConsumer::Start() { consumer_->Start(); }

void KafkaConsumer::Stop() {
  if (consumer_) consumer_->Stop();
}

}  // namespace vigil::logship
