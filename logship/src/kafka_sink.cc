#include "kafka_sink.h"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include "kafka_record.h"
#include "vigil/common/kafka.h"
#include "vigil/common/self_metrics.h"

namespace vigil::logship {
namespace {

struct Metrics {
  prometheus::Counter* delivered;
  prometheus::Counter* failed;
  prometheus::Histogram* batch_seconds;
};

Metrics& KafkaMetrics() {
  static Metrics m = [] {
    auto& reg = SelfMetrics();
    auto& messages = prometheus::BuildCounter()
                         .Name("vigil_logship_kafka_messages_total")
                         .Help(
                             "Kafka messages by outcome: delivered (acknowledged by the brokers) "
                             "or failed (sent again with their batch).")
                         .Register(reg);
    Metrics s;
    s.delivered = &messages.Add({{"outcome", "delivered"}});
    s.failed = &messages.Add({{"outcome", "failed"}});
    s.batch_seconds = &prometheus::BuildHistogram()
                           .Name("vigil_logship_kafka_batch_duration_seconds")
                           .Help("Time from producing a spool batch to its last delivery report.")
                           .Register(reg)
                           .Add({}, LatencyBuckets());
    return s;
  }();
  return m;
}

}  // namespace

std::string KafkaTopic(std::string_view tmpl, const Labels& labels) {
  std::string out;
  size_t i = 0;
  while (i < tmpl.size()) {
    const size_t open = tmpl.find("{{", i);
    const size_t close = open == std::string_view::npos ? open : tmpl.find("}}", open);
    if (close == std::string_view::npos) {
      out += tmpl.substr(i);
      break;
    }
    out += tmpl.substr(i, open - i);
    std::string_view name = tmpl.substr(open + 2, close - open - 2);
    while (!name.empty() && (name.front() == ' ' || name.front() == '.')) name.remove_prefix(1);
    while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
    out += labels.Get(name);
    i = close + 2;
  }
  return out;
}

struct KafkaSink::Impl {
  KafkaSinkOptions opts;
  std::unique_ptr<kafka::BatchProducer> producer;
};

KafkaSink::KafkaSink(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KafkaSink::~KafkaSink() = default;

Result<std::unique_ptr<KafkaSink>> KafkaSink::Make(KafkaSinkOptions options) {
  if (options.brokers.empty()) return InvalidArgument("kafka: no brokers given");
  auto impl = std::make_unique<Impl>();
  impl->opts = std::move(options);
  const KafkaSinkOptions& o = impl->opts;
  const std::string brokers = kafka::JoinBrokers(o.brokers);
  VIGIL_ASSIGN_OR_RETURN(impl->producer,
                         kafka::BatchProducer::Make(
                             {
                                 {"bootstrap.servers", brokers},
                                 {"compression.type", o.compression},
                                 {"linger.ms", "5"},
                                 {"message.timeout.ms", std::to_string(o.delivery_timeout.count())},
                                 {"queue.buffering.max.messages", "1000000"},
                                 {"queue.buffering.max.kbytes", "1048576"},
                             },
                             o.options, "logship"));
  spdlog::info("logship: kafka producer to {} (topic {}, idempotent, acks=all, {})", brokers,
               o.topic, o.compression);
  return std::unique_ptr<KafkaSink>(new KafkaSink(std::move(impl)));
}

Status KafkaSink::Write(const std::vector<loki::Stream>& batch) {
  const auto start = std::chrono::steady_clock::now();
  kafka::BatchProducer& producer = *impl_->producer;
  kafka::BatchProducer::Batch reports;
  std::string value;  // one buffer for every record: librdkafka copies it
  for (const auto& s : batch) {
    const std::string key = loki::FormatStreamLabels(s.labels);
    const std::string prefix = KafkaRecordPrefix(s.labels);
    VIGIL_ASSIGN_OR_RETURN(rd_kafka_topic_t * topic,
                           producer.Topic(KafkaTopic(impl_->opts.topic, s.labels)));
    for (const auto& e : s.entries) {
      value.clear();
      AppendKafkaRecord(value, prefix, e.ts_ns, e.line);
      VIGIL_RETURN_IF_ERROR(producer.Produce(reports, topic, RD_KAFKA_PARTITION_UA, key, value));
    }
  }
  Status st = producer.Wait(reports);
  KafkaMetrics().delivered->Increment(static_cast<double>(reports.produced() - reports.failed()));
  KafkaMetrics().batch_seconds->Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  if (reports.failed() > 0) KafkaMetrics().failed->Increment(static_cast<double>(reports.failed()));
  return st;
}

}  // namespace vigil::logship
