#include "kafka_sink.h"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <map>
#include <mutex>

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

// The delivery reports of one Write.
struct BatchState {
  std::atomic<size_t> pending{0};
  std::atomic<size_t> failed{0};
  std::mutex mu;
  std::string first_error;
};

void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
  auto* state = static_cast<BatchState*>(m->_private);
  if (state == nullptr) return;
  if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    state->failed.fetch_add(1);
    std::lock_guard lock(state->mu);
    if (state->first_error.empty()) state->first_error = rd_kafka_err2str(m->err);
  }
  state->pending.fetch_sub(1);
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
  rd_kafka_t* rk = nullptr;
  std::map<std::string, rd_kafka_topic_t*> topics;
  ~Impl() {
    for (auto& [name, t] : topics) rd_kafka_topic_destroy(t);
    if (rk != nullptr) {
      rd_kafka_flush(rk, 5000);
      rd_kafka_destroy(rk);
    }
  }
  // (Re)creates the producer: at start, and after a fatal error of the idempotent producer.
  Status Connect();
  rd_kafka_topic_t* Topic(const std::string& name) {
    auto it = topics.find(name);
    if (it != topics.end()) return it->second;
    rd_kafka_topic_t* t = rd_kafka_topic_new(rk, name.c_str(), nullptr);
    if (t != nullptr) topics[name] = t;
    return t;
  }
};

KafkaSink::KafkaSink(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KafkaSink::~KafkaSink() = default;

Status KafkaSink::Impl::Connect() {
  for (auto& [name, t] : topics) rd_kafka_topic_destroy(t);
  topics.clear();
  if (rk != nullptr) {
    rd_kafka_destroy(rk);
    rk = nullptr;
  }
  const std::string brokers = kafka::JoinBrokers(opts.brokers);
  VIGIL_ASSIGN_OR_RETURN(
      rd_kafka_conf_t * conf,
      kafka::MakeConf(
          {
              {"bootstrap.servers", brokers},
              {"enable.idempotence", "true"},
              {"acks", "all"},
              {"compression.type", opts.compression},
              {"linger.ms", "5"},
              {"message.timeout.ms", std::to_string(opts.delivery_timeout.count())},
              {"queue.buffering.max.messages", "1000000"},
              {"queue.buffering.max.kbytes", "1048576"},
          },
          opts.options, "logship"));
  rd_kafka_conf_set_dr_msg_cb(conf, OnDelivery);
  char err[512];
  rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  if (rk == nullptr) return InvalidArgument(std::string("kafka: ") + err);
  spdlog::info("logship: kafka producer to {} (topic {}, idempotent, acks=all, {})", brokers,
               opts.topic, opts.compression);
  return Status::Ok();
}

Result<std::unique_ptr<KafkaSink>> KafkaSink::Make(KafkaSinkOptions options) {
  if (options.brokers.empty()) return InvalidArgument("kafka: no brokers given");
  auto impl = std::make_unique<Impl>();
  impl->opts = std::move(options);
  VIGIL_RETURN_IF_ERROR(impl->Connect());
  return std::unique_ptr<KafkaSink>(new KafkaSink(std::move(impl)));
}

Status KafkaSink::Write(const std::vector<loki::Stream>& batch) {
  const auto start = std::chrono::steady_clock::now();
  BatchState state;
  size_t produced = 0;
  std::string value;  // one buffer for every record: librdkafka copies it
  for (const auto& s : batch) {
    const std::string key = loki::FormatStreamLabels(s.labels);
    const std::string prefix = KafkaRecordPrefix(s.labels);
    rd_kafka_topic_t* topic = impl_->Topic(KafkaTopic(impl_->opts.topic, s.labels));
    if (topic == nullptr) return Internal("kafka: cannot make a topic handle");
    for (const auto& e : s.entries) {
      value.clear();
      AppendKafkaRecord(value, prefix, e.ts_ns, e.line);
      state.pending.fetch_add(1);
      for (;;) {
        const int r = rd_kafka_produce(topic, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY,
                                       value.data(), value.size(), key.data(), key.size(), &state);
        if (r == 0) break;
        const rd_kafka_resp_err_t err = rd_kafka_last_error();
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
          rd_kafka_poll(impl_->rk, 100);  // serve delivery reports to make room
          continue;
        }
        state.pending.fetch_sub(1);
        // Wait for what was produced before giving up the batch: its reports point at `state`.
        while (state.pending.load() > 0) rd_kafka_poll(impl_->rk, 100);
        return Unavailable(std::string("kafka: produce: ") + rd_kafka_err2str(err));
      }
      ++produced;
    }
  }
  while (state.pending.load() > 0) rd_kafka_poll(impl_->rk, 50);
  const size_t failed = state.failed.load();
  KafkaMetrics().delivered->Increment(static_cast<double>(produced - failed));
  KafkaMetrics().batch_seconds->Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  if (failed > 0) {
    KafkaMetrics().failed->Increment(static_cast<double>(failed));
    char reason[512];
    if (rd_kafka_fatal_error(impl_->rk, reason, sizeof(reason)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      spdlog::error("logship: kafka producer failed for good ({}); making a new one", reason);
      VIGIL_RETURN_IF_ERROR(impl_->Connect());
    }
    return Unavailable("kafka: " + std::to_string(failed) + " of " + std::to_string(produced) +
                       " messages not delivered: " + state.first_error);
  }
  return Status::Ok();
}

}  // namespace vigil::logship
