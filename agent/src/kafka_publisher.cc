#include "kafka_publisher.h"

#include <snappy.h>
#include <spdlog/spdlog.h>

#include <atomic>

#include "vigil/common/kafka.h"
#include "vigil/common/remote_write.h"

namespace vigil::agent {
namespace {

constexpr std::string_view kScheme = "kafka://";

// The delivery reports of one Publish.
struct Reports {
  std::atomic<size_t> pending{0};
  std::atomic<size_t> failed{0};
  std::atomic<int> first_error{RD_KAFKA_RESP_ERR_NO_ERROR};
};

void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
  auto* reports = static_cast<Reports*>(m->_private);
  if (reports == nullptr) return;
  if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    reports->failed.fetch_add(1);
    int none = RD_KAFKA_RESP_ERR_NO_ERROR;
    reports->first_error.compare_exchange_strong(none, m->err);
  }
  reports->pending.fetch_sub(1);
}

}  // namespace

bool IsKafkaUrl(std::string_view url) { return url.starts_with(kScheme); }

struct KafkaPublisher::Impl {
  std::string brokers;
  std::string topic;
  std::vector<std::string> options;
  std::chrono::milliseconds timeout{30'000};
  rd_kafka_t* rk = nullptr;
  rd_kafka_topic_t* rkt = nullptr;
  int partitions = 0;  // of the topic, from the brokers' metadata; 0: not known yet
  std::chrono::steady_clock::time_point partitions_at{};
  remote::WriteRequestView view;
  std::vector<remote::WriteRequestEncoder> by_partition;
  std::string compressed;

  ~Impl() { Close(); }
  // (Re)makes the producer: at start, and after a fatal error of the idempotent producer.
  Status Connect();
  void Close() {
    if (rkt != nullptr) rd_kafka_topic_destroy(rkt);
    rkt = nullptr;
    if (rk != nullptr) {
      rd_kafka_flush(rk, 5000);
      rd_kafka_destroy(rk);
    }
    rk = nullptr;
  }
  // The topic's partition count, asked again every minute (partitions can be added).
  Status Partitions();
};

Status KafkaPublisher::Impl::Partitions() {
  const auto now = std::chrono::steady_clock::now();
  if (partitions > 0 && now - partitions_at < std::chrono::minutes(1)) return Status::Ok();
  const rd_kafka_metadata_t* md = nullptr;
  const rd_kafka_resp_err_t err = rd_kafka_metadata(
      rk, 0, rkt, &md, static_cast<int>(std::min<int64_t>(timeout.count(), 10'000)));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Unavailable("kafka: metadata of " + topic + ": " + rd_kafka_err2str(err));
  }
  int n = 0;
  rd_kafka_resp_err_t topic_err = RD_KAFKA_RESP_ERR_NO_ERROR;
  if (md->topic_cnt == 1) {
    n = md->topics[0].partition_cnt;
    topic_err = md->topics[0].err;
  }
  rd_kafka_metadata_destroy(md);
  if (topic_err != RD_KAFKA_RESP_ERR_NO_ERROR || n <= 0) {
    return Unavailable(
        "kafka: topic " + topic + ": " +
        (topic_err != RD_KAFKA_RESP_ERR_NO_ERROR ? rd_kafka_err2str(topic_err) : "no partitions"));
  }
  if (n != partitions && partitions != 0) {
    spdlog::warn("agent: kafka topic {} has {} partitions now (was {}): series move to new ones",
                 topic, n, partitions);
  }
  partitions = n;
  partitions_at = now;
  return Status::Ok();
}

Status KafkaPublisher::Impl::Connect() {
  Close();
  partitions = 0;
  VIGIL_ASSIGN_OR_RETURN(rd_kafka_conf_t * conf,
                         kafka::MakeConf(
                             {
                                 {"bootstrap.servers", brokers},
                                 {"enable.idempotence", "true"},
                                 {"acks", "all"},
                                 {"linger.ms", "5"},
                                 // The body is snappy already.
                                 {"compression.type", "none"},
                                 {"message.max.bytes", std::to_string(64 << 20)},
                                 {"message.timeout.ms", std::to_string(timeout.count())},
                             },
                             options, "agent"));
  rd_kafka_conf_set_dr_msg_cb(conf, OnDelivery);
  char err[512];
  rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  if (rk == nullptr) return InvalidArgument("kafka: " + std::string(err));
  rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  if (rkt == nullptr) return InvalidArgument("kafka: cannot make a handle for " + topic);
  return Status::Ok();
}

KafkaPublisher::KafkaPublisher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KafkaPublisher::~KafkaPublisher() = default;

Result<std::unique_ptr<KafkaPublisher>> KafkaPublisher::Make(
    std::string_view url, const std::vector<std::string>& options,
    std::chrono::milliseconds timeout) {
  if (!IsKafkaUrl(url)) return InvalidArgument("not a kafka:// URL: " + std::string(url));
  std::string_view rest = url.substr(kScheme.size());
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == rest.size()) {
    return InvalidArgument("kafka URL " + std::string(url) +
                           ": want kafka://HOST:PORT[,HOST:PORT…]/TOPIC");
  }
  auto impl = std::make_unique<Impl>();
  impl->brokers = std::string(rest.substr(0, slash));
  impl->topic = std::string(rest.substr(slash + 1));
  impl->options = options;
  impl->timeout = timeout;
  VIGIL_RETURN_IF_ERROR(impl->Connect());
  spdlog::info("agent: remote_write to kafka topic {} at {} (idempotent, acks=all)", impl->topic,
               rest.substr(0, slash));
  return std::unique_ptr<KafkaPublisher>(new KafkaPublisher(std::move(impl)));
}

Status KafkaPublisher::Publish(std::string_view body) {
  Impl& s = *impl_;
  // Our own queue's records: the limits are the decoder's defaults.
  VIGIL_RETURN_IF_ERROR(remote::DecodeView(body, remote::WriteLimits{}, s.view));
  VIGIL_RETURN_IF_ERROR(s.Partitions());
  s.by_partition.resize(static_cast<size_t>(s.partitions));
  for (auto& e : s.by_partition) e.Clear();
  for (size_t i = 0; i < s.view.size(); ++i) {
    const auto labels = s.view.labels(i);
    auto& out = s.by_partition[HashLabels(labels) % static_cast<uint64_t>(s.partitions)];
    for (const auto& sample : s.view.samples(i)) out.Add(labels, sample.t, sample.v);
  }
  Reports reports;
  for (size_t p = 0; p < s.by_partition.size(); ++p) {
    const auto& batch = s.by_partition[p];
    if (batch.samples() == 0) continue;
    s.compressed.clear();
    snappy::Compress(batch.bytes().data(), batch.bytes().size(), &s.compressed);
    const std::string key = std::to_string(p);
    reports.pending.fetch_add(1);
    for (;;) {
      if (rd_kafka_produce(s.rkt, static_cast<int32_t>(p), RD_KAFKA_MSG_F_COPY, s.compressed.data(),
                           s.compressed.size(), key.data(), key.size(), &reports) == 0) {
        break;
      }
      const rd_kafka_resp_err_t err = rd_kafka_last_error();
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(s.rk, 100);
        continue;
      }
      reports.pending.fetch_sub(1);
      // Wait for what was produced: its reports point at `reports`.
      while (reports.pending.load() > 0) rd_kafka_poll(s.rk, 100);
      s.partitions = 0;  // ask again: the topic may have changed
      return Unavailable("kafka: produce to " + s.topic + "[" + std::to_string(p) +
                         "]: " + rd_kafka_err2str(err));
    }
  }
  while (reports.pending.load() > 0) rd_kafka_poll(s.rk, 50);
  if (reports.failed.load() > 0) {
    char reason[512];
    if (rd_kafka_fatal_error(s.rk, reason, sizeof(reason)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      spdlog::error("agent: kafka producer failed for good ({}); making a new one", reason);
      VIGIL_RETURN_IF_ERROR(s.Connect());
    }
    return Unavailable(
        "kafka: " + std::to_string(reports.failed.load()) + " messages not acknowledged: " +
        rd_kafka_err2str(static_cast<rd_kafka_resp_err_t>(reports.first_error.load())));
  }
  return Status::Ok();
}

}  // namespace vigil::agent
