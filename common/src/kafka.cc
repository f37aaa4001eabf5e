#include "vigil/common/kafka.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "vigil/common/self_metrics.h"

namespace vigil::kafka {
namespace {

// Lines are named by the handle ("vigil-logship#consumer-1": client.id is vigil-<component>).
void OnLog(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  if (level <= 3) {
    spdlog::warn("kafka: {}: {}: {}", rd_kafka_name(rk), fac, buf);
  } else {
    spdlog::debug("kafka: {}: {}: {}", rd_kafka_name(rk), fac, buf);
  }
}

struct Metrics {
  prometheus::Counter* consumed;
  prometheus::Counter* malformed;
  prometheus::Counter* fetch_errors;
  prometheus::Counter* store_errors;
  prometheus::Counter* commit_errors;
  prometheus::Gauge* partitions;
  prometheus::Gauge* lag;
  prometheus::Histogram* batch_seconds;
};

// One set per component (vigil_logship_kafka_…, vigil_tsdb_kafka_…).
Metrics& ConsumerMetrics(const std::string& component) {
  static std::mutex mu;
  static std::map<std::string, Metrics> all;
  std::lock_guard lock(mu);
  if (auto it = all.find(component); it != all.end()) return it->second;
  auto& reg = SelfMetrics();
  const std::string prefix = "vigil_" + component + "_kafka_";
  auto& errors = prometheus::BuildCounter()
                     .Name(prefix + "consumer_errors_total")
                     .Help(
                         "Consumer errors by reason: malformed (a message skipped), fetch, "
                         "store (a batch written again), commit (a batch may be read again).")
                     .Register(reg);
  Metrics s;
  s.consumed = &prometheus::BuildCounter()
                    .Name(prefix + "consumed_total")
                    .Help("Kafka messages stored by the consumer, their offsets committed.")
                    .Register(reg)
                    .Add({});
  s.malformed = &errors.Add({{"reason", "malformed"}});
  s.fetch_errors = &errors.Add({{"reason", "fetch"}});
  s.store_errors = &errors.Add({{"reason", "store"}});
  s.commit_errors = &errors.Add({{"reason", "commit"}});
  s.partitions = &prometheus::BuildGauge()
                      .Name(prefix + "consumer_partitions")
                      .Help("Partitions assigned to this consumer.")
                      .Register(reg)
                      .Add({});
  s.lag = &prometheus::BuildGauge()
               .Name(prefix + "consumer_lag")
               .Help(
                   "Messages in the assigned partitions not yet stored (high watermarks less "
                   "positions, as last fetched).")
               .Register(reg)
               .Add({});
  s.batch_seconds = &prometheus::BuildHistogram()
                         .Name(prefix + "consumer_batch_duration_seconds")
                         .Help("Time to store, sync and commit one consumed batch.")
                         .Register(reg)
                         .Add({}, LatencyBuckets());
  return all.emplace(component, s).first->second;
}

}  // namespace

Result<rd_kafka_conf_t*> MakeConf(const Settings& settings, const std::vector<std::string>& options,
                                  const std::string& component) {
  Settings all = {{"client.id", "vigil-" + component}};
  all.insert(all.end(), settings.begin(), settings.end());
  for (const auto& o : options) {
    const size_t eq = o.find('=');
    if (eq == std::string::npos || eq == 0) {
      return InvalidArgument("kafka: option \"" + o + "\" is not name=value");
    }
    all.emplace_back(o.substr(0, eq), o.substr(eq + 1));
  }
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  for (const auto& [k, v] : all) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof(err)) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return InvalidArgument("kafka: " + k + "=" + v + ": " + err);
    }
  }
  rd_kafka_conf_set_log_cb(conf, OnLog);
  return conf;
}

std::string JoinBrokers(const std::vector<std::string>& brokers) {
  std::string out;
  for (const auto& b : brokers) out += (out.empty() ? "" : ",") + b;
  return out;
}

Result<std::unique_ptr<BatchProducer>> BatchProducer::Make(Settings settings,
                                                           std::vector<std::string> options,
                                                           std::string component) {
  std::unique_ptr<BatchProducer> p(new BatchProducer());
  p->settings_ = {{"enable.idempotence", "true"}, {"acks", "all"}};
  p->settings_.insert(p->settings_.end(), settings.begin(), settings.end());
  p->options_ = std::move(options);
  p->component_ = std::move(component);
  VIGIL_RETURN_IF_ERROR(p->Connect());
  return p;
}

BatchProducer::~BatchProducer() { Close(); }

Status BatchProducer::Connect() {
  Close();
  VIGIL_ASSIGN_OR_RETURN(rd_kafka_conf_t * conf, MakeConf(settings_, options_, component_));
  rd_kafka_conf_set_dr_msg_cb(conf, OnDelivery);
  char err[512];
  rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  if (rk_ == nullptr) return InvalidArgument("kafka: " + std::string(err));
  return Status::Ok();
}

void BatchProducer::Close() {
  for (auto& [name, t] : topics_) rd_kafka_topic_destroy(t);
  topics_.clear();
  if (rk_ != nullptr) {
    rd_kafka_flush(rk_, 5000);
    rd_kafka_destroy(rk_);
    rk_ = nullptr;
  }
}

void BatchProducer::OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
  auto* batch = static_cast<Batch*>(m->_private);
  if (batch == nullptr) return;
  if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    batch->failed_.fetch_add(1);
    int none = RD_KAFKA_RESP_ERR_NO_ERROR;
    batch->first_error_.compare_exchange_strong(none, m->err);
  }
  batch->pending_.fetch_sub(1);
}

Result<rd_kafka_topic_t*> BatchProducer::Topic(const std::string& name) {
  if (auto it = topics_.find(name); it != topics_.end()) return it->second;
  rd_kafka_topic_t* t = rd_kafka_topic_new(rk_, name.c_str(), nullptr);
  if (t == nullptr) return Internal("kafka: cannot make a handle for topic " + name);
  topics_[name] = t;
  return t;
}

Status BatchProducer::Produce(Batch& batch, rd_kafka_topic_t* topic, int32_t partition,
                              std::string_view key, std::string_view value) {
  batch.pending_.fetch_add(1);
  for (;;) {
    if (rd_kafka_produce(topic, partition, RD_KAFKA_MSG_F_COPY, const_cast<char*>(value.data()),
                         value.size(), key.data(), key.size(), &batch) == 0) {
      ++batch.produced_;
      return Status::Ok();
    }
    const rd_kafka_resp_err_t err = rd_kafka_last_error();
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_poll(rk_, 100);  // serve delivery reports to make room
      continue;
    }
    batch.pending_.fetch_sub(1);
    // What was produced before reports to `batch`: wait for it before the batch goes.
    while (batch.pending_.load() > 0) rd_kafka_poll(rk_, 100);
    return Unavailable(std::string("kafka: produce to ") + rd_kafka_topic_name(topic) + ": " +
                       rd_kafka_err2str(err));
  }
}

Status BatchProducer::Wait(Batch& batch) {
  while (batch.pending_.load() > 0) rd_kafka_poll(rk_, 50);
  const size_t failed = batch.failed_.load();
  if (failed == 0) return Status::Ok();
  char reason[512];
  if (rd_kafka_fatal_error(rk_, reason, sizeof(reason)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    spdlog::error("{}: kafka producer failed for good ({}); making a new one", component_, reason);
    VIGIL_RETURN_IF_ERROR(Connect());
  }
  return Unavailable("kafka: " + std::to_string(failed) + " of " + std::to_string(batch.produced_) +
                     " messages not delivered: " +
                     rd_kafka_err2str(static_cast<rd_kafka_resp_err_t>(batch.first_error_.load())));
}

struct GroupConsumer::Impl {
  GroupConsumerOptions opts;
  std::shared_ptr<Handler> handler;
  Metrics* metrics = nullptr;
  rd_kafka_t* rk = nullptr;
  size_t pending_messages = 0;  // taken since the last Flush (malformed ones included)
  // Per (topic, partition): the offset after the last message taken, to commit.
  std::map<std::pair<std::string, int32_t>, int64_t> next_offsets;
  std::atomic<bool> stopping{false};
  std::thread thread;
  std::string last_error;
  std::chrono::steady_clock::time_point last_error_logged{};

  ~Impl() {
    if (rk != nullptr) rd_kafka_destroy(rk);
  }
  void Take(const rd_kafka_message_t* m);
  // Flushes the handler (again, with backoff, until it succeeds or the consumer stops), then
  // commits the offsets of what was taken.
  void Flush();
  void UpdateGauges();
  void Loop();
  static void OnRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t* parts, void* opaque);
};

void GroupConsumer::Impl::Take(const rd_kafka_message_t* m) {
  const std::string& who = opts.component;
  if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return;
    metrics->fetch_errors->Increment();
    const std::string err = rd_kafka_message_errstr(m);
    const auto now = std::chrono::steady_clock::now();
    if (err != last_error || now - last_error_logged > std::chrono::seconds(30)) {
      spdlog::warn("{}: kafka consumer: {}", who, err);
      last_error = err;
      last_error_logged = now;
    }
    return;
  }
  const std::string topic = rd_kafka_topic_name(m->rkt);
  next_offsets[{topic, m->partition}] = m->offset + 1;
  ++pending_messages;
  const std::string_view key(static_cast<const char*>(m->key), m->key_len);
  const std::string_view value(static_cast<const char*>(m->payload), m->len);
  if (Status st = handler->Take(key, value); !st.ok()) {
    metrics->malformed->Increment();
    spdlog::warn("{}: kafka consumer: skipping {} [{}] offset {}: {}", who, topic, m->partition,
                 m->offset, st.message());
  }
}

void GroupConsumer::Impl::Flush() {
  if (next_offsets.empty()) return;
  const auto start = std::chrono::steady_clock::now();
  std::chrono::milliseconds backoff{100};
  for (;;) {
    Status st = handler->Flush();
    if (st.ok()) break;
    metrics->store_errors->Increment();
    spdlog::error("{}: kafka consumer: storing {} messages: {}; retrying", opts.component,
                  pending_messages, st.ToString());
    if (stopping) return;  // not committed: read again after the restart
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
  }
  rd_kafka_topic_partition_list_t* list =
      rd_kafka_topic_partition_list_new(static_cast<int>(next_offsets.size()));
  for (const auto& [tp, offset] : next_offsets) {
    rd_kafka_topic_partition_list_add(list, tp.first.c_str(), tp.second)->offset = offset;
  }
  const rd_kafka_resp_err_t err = rd_kafka_commit(rk, list, /*async=*/0);
  rd_kafka_topic_partition_list_destroy(list);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    metrics->commit_errors->Increment();
    spdlog::warn(
        "{}: kafka consumer: committing offsets: {} (the stored messages may be read again; the "
        "store keeps them once)",
        opts.component, rd_kafka_err2str(err));
  }
  metrics->consumed->Increment(static_cast<double>(pending_messages));
  metrics->batch_seconds->Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  pending_messages = 0;
  next_offsets.clear();
}

void GroupConsumer::Impl::UpdateGauges() {
  rd_kafka_topic_partition_list_t* parts = nullptr;
  if (rd_kafka_assignment(rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR || parts == nullptr) return;
  metrics->partitions->Set(parts->cnt);
  rd_kafka_position(rk, parts);
  int64_t lag = 0;
  for (int i = 0; i < parts->cnt; ++i) {
    const auto& p = parts->elems[i];
    int64_t low = 0, high = 0;
    if (rd_kafka_get_watermark_offsets(rk, p.topic, p.partition, &low, &high) !=
            RD_KAFKA_RESP_ERR_NO_ERROR ||
        high < 0) {
      continue;
    }
    const int64_t at = p.offset >= 0 ? p.offset : low;
    lag += std::max<int64_t>(0, high - at);
  }
  metrics->lag->Set(static_cast<double>(lag));
  rd_kafka_topic_partition_list_destroy(parts);
}

void GroupConsumer::Impl::OnRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                                      rd_kafka_topic_partition_list_t* parts, void* opaque) {
  auto* self = static_cast<Impl*>(opaque);
  const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
  std::string names;
  for (int i = 0; i < parts->cnt; ++i) {
    names += (names.empty() ? "" : " ") + std::string(parts->elems[i].topic) + "[" +
             std::to_string(parts->elems[i].partition) + "]";
  }
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    spdlog::info("{}: kafka consumer: assigned {}", self->opts.component,
                 names.empty() ? "nothing" : names);
    if (cooperative) {
      rd_kafka_error_t* e = rd_kafka_incremental_assign(rk, parts);
      if (e != nullptr) rd_kafka_error_destroy(e);
    } else {
      rd_kafka_assign(rk, parts);
    }
  } else {
    // Revoked (or an error): what is held is stored and committed before the partitions go, so
    // their next owner starts after it.
    spdlog::info("{}: kafka consumer: giving up {}", self->opts.component,
                 names.empty() ? "nothing" : names);
    self->Flush();
    if (cooperative) {
      rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk, parts);
      if (e != nullptr) rd_kafka_error_destroy(e);
    } else {
      rd_kafka_assign(rk, nullptr);
    }
  }
  self->UpdateGauges();
}

void GroupConsumer::Impl::Loop() {
  while (!stopping) {
    const auto deadline = std::chrono::steady_clock::now() + opts.batch_wait;
    while (pending_messages < opts.batch_messages && !stopping) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, static_cast<int>(left.count()));
      if (m == nullptr) continue;
      Take(m);
      rd_kafka_message_destroy(m);
    }
    Flush();
    UpdateGauges();
  }
  Flush();
}

GroupConsumer::GroupConsumer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

GroupConsumer::~GroupConsumer() { Stop(); }

Result<std::unique_ptr<GroupConsumer>> GroupConsumer::Make(GroupConsumerOptions options,
                                                           std::shared_ptr<Handler> handler) {
  if (options.brokers.empty()) return InvalidArgument("kafka consumer: no brokers given");
  if (options.topic.empty()) return InvalidArgument("kafka consumer: no topic given");
  if (options.group.empty()) return InvalidArgument("kafka consumer: no group given");
  auto impl = std::make_unique<Impl>();
  impl->opts = std::move(options);
  impl->handler = std::move(handler);
  impl->metrics = &ConsumerMetrics(impl->opts.component);
  const GroupConsumerOptions& o = impl->opts;
  VIGIL_ASSIGN_OR_RETURN(rd_kafka_conf_t * conf,
                         MakeConf(
                             {
                                 {"bootstrap.servers", JoinBrokers(o.brokers)},
                                 {"group.id", o.group},
                                 {"enable.auto.commit", "false"},
                                 {"enable.auto.offset.store", "false"},
                                 {"auto.offset.reset", "earliest"},
                                 {"enable.partition.eof", "false"},
                             },
                             o.options, o.component));
  rd_kafka_conf_set_rebalance_cb(conf, Impl::OnRebalance);
  rd_kafka_conf_set_opaque(conf, impl.get());
  char err[512];
  impl->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
  if (impl->rk == nullptr) return InvalidArgument("kafka consumer: " + std::string(err));
  rd_kafka_poll_set_consumer(impl->rk);
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, o.topic.c_str(), RD_KAFKA_PARTITION_UA);
  const rd_kafka_resp_err_t e = rd_kafka_subscribe(impl->rk, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return InvalidArgument("kafka consumer: subscribing to " + o.topic + ": " +
                           rd_kafka_err2str(e));
  }
  spdlog::info("{}: kafka consumer of {} in group {} ({})", o.component, o.topic, o.group,
               JoinBrokers(o.brokers));
  return std::unique_ptr<GroupConsumer>(new GroupConsumer(std::move(impl)));
}

void GroupConsumer::Start() {
  impl_->thread = std::thread([this] { impl_->Loop(); });
}

void GroupConsumer::Stop() {
  if (!impl_ || impl_->rk == nullptr) return;
  impl_->stopping = true;
  if (impl_->thread.joinable()) impl_->thread.join();
  // Leaves the group (the revoke callback flushes and commits anything still held).
  rd_kafka_consumer_close(impl_->rk);
  rd_kafka_destroy(impl_->rk);
  impl_->rk = nullptr;
}

}  // namespace vigil::kafka
