#include "vigil/common/kafka_publisher.h"

#include <snappy.h>
#include <spdlog/spdlog.h>

#include <mutex>

#include "vigil/common/kafka.h"
#include "vigil/common/remote_write.h"

namespace vigil::kafka {
namespace {

constexpr std::string_view kScheme = "kafka://";

}  // namespace

bool IsKafkaUrl(std::string_view url) { return url.starts_with(kScheme); }

struct RemoteWritePublisher::Impl {
  std::mutex mu;  // Publish takes turns
  std::string component;
  std::string topic;
  std::chrono::milliseconds timeout{30'000};
  std::unique_ptr<kafka::BatchProducer> producer;
  int partitions = 0;  // of the topic, from the brokers' metadata; 0: not known yet
  std::chrono::steady_clock::time_point partitions_at{};
  remote::WriteRequestView view;
  std::vector<remote::WriteRequestEncoder> by_partition;
  std::string compressed;

  // The topic's partition count, asked again every minute (partitions can be added).
  Status Partitions();
};

Status RemoteWritePublisher::Impl::Partitions() {
  const auto now = std::chrono::steady_clock::now();
  if (partitions > 0 && now - partitions_at < std::chrono::minutes(1)) return Status::Ok();
  VIGIL_ASSIGN_OR_RETURN(rd_kafka_topic_t * rkt, producer->Topic(topic));
  const rd_kafka_metadata_t* md = nullptr;
  const rd_kafka_resp_err_t err =
      rd_kafka_metadata(producer->handle(), 0, rkt, &md,
                        static_cast<int>(std::min<int64_t>(timeout.count(), 10'000)));
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
    spdlog::warn("{}: kafka topic {} has {} partitions now (was {}): series move to new ones",
                 component, topic, n, partitions);
  }
  partitions = n;
  partitions_at = now;
  return Status::Ok();
}

RemoteWritePublisher::RemoteWritePublisher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RemoteWritePublisher::~RemoteWritePublisher() = default;

Result<std::unique_ptr<RemoteWritePublisher>> RemoteWritePublisher::Make(
    std::string_view url, const std::vector<std::string>& options,
    std::chrono::milliseconds timeout, const std::string& component) {
  if (!IsKafkaUrl(url)) return InvalidArgument("not a kafka:// URL: " + std::string(url));
  std::string_view rest = url.substr(kScheme.size());
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == rest.size()) {
    return InvalidArgument("kafka URL " + std::string(url) +
                           ": want kafka://HOST:PORT[,HOST:PORT…]/TOPIC");
  }
  auto impl = std::make_unique<Impl>();
  impl->component = component;
  impl->topic = std::string(rest.substr(slash + 1));
  impl->timeout = timeout;
  VIGIL_ASSIGN_OR_RETURN(impl->producer,
                         kafka::BatchProducer::Make(
                             {
                                 {"bootstrap.servers", std::string(rest.substr(0, slash))},
                                 {"linger.ms", "5"},
                                 // The body is snappy already.
                                 {"compression.type", "none"},
                                 {"message.max.bytes", std::to_string(64 << 20)},
                                 {"message.timeout.ms", std::to_string(timeout.count())},
                             },
                             options, component));
  spdlog::info("{}: remote_write to kafka topic {} at {} (idempotent, acks=all)", component,
               impl->topic, rest.substr(0, slash));
  return std::unique_ptr<RemoteWritePublisher>(new RemoteWritePublisher(std::move(impl)));
}

Status RemoteWritePublisher::Publish(std::string_view body, const remote::WriteLimits& limits) {
  Impl& s = *impl_;
  std::lock_guard lock(s.mu);
  VIGIL_RETURN_IF_ERROR(remote::DecodeView(body, limits, s.view));
  VIGIL_RETURN_IF_ERROR(s.Partitions());
  s.by_partition.resize(static_cast<size_t>(s.partitions));
  for (auto& e : s.by_partition) e.Clear();
  for (size_t i = 0; i < s.view.size(); ++i) {
    const auto labels = s.view.labels(i);
    auto& out = s.by_partition[HashLabels(labels) % static_cast<uint64_t>(s.partitions)];
    for (const auto& sample : s.view.samples(i)) out.Add(labels, sample.t, sample.v);
  }
  VIGIL_ASSIGN_OR_RETURN(rd_kafka_topic_t * rkt, s.producer->Topic(s.topic));
  kafka::BatchProducer::Batch reports;
  for (size_t p = 0; p < s.by_partition.size(); ++p) {
    const auto& batch = s.by_partition[p];
    if (batch.samples() == 0) continue;
    s.compressed.clear();
    snappy::Compress(batch.bytes().data(), batch.bytes().size(), &s.compressed);
    if (Status st = s.producer->Produce(reports, rkt, static_cast<int32_t>(p), std::to_string(p),
                                        s.compressed);
        !st.ok()) {
      s.partitions = 0;  // ask again: the topic may have changed
      return st;
    }
  }
  Status st = s.producer->Wait(reports);
  if (!st.ok()) s.partitions = 0;  // a new producer, or brokers down: ask again next time
  return st;
}

}  // namespace vigil::kafka
