#include "vigil/logship/logship.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "kafka_consumer.h"
#include "kafka_sink.h"
#include "push_api.h"
#include "query_api.h"
#include "shards.h"
#include "spool.h"
#include "vigil/common/daemon.h"
#include "vigil/common/file_system.h"
#include "vigil/logship/log_store.h"

namespace vigil::logship {

// logship's parts, built from the config and stopped in order: the daemon and `vigil up` share it.
struct Embedded::Impl {
  std::shared_ptr<LogStore> store;
  // Fan-out: Loki queries go over the shards (--query-shards); pushes still come here.
  std::shared_ptr<ShardedLogs> shards;
  std::unique_ptr<KafkaConsumer> consumer;
  std::unique_ptr<Spool> spool;
  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  std::thread maintenance;

  Status Start(const Config& config) {
    const LogshipConfig& lc = config.logship;
    // Without the store (--store=false) logship is a forwarder: push → spool → Kafka, for nodes
    // or edges that feed consumers which store; or, with --query-shards, a query front only.
    if (!lc.store && lc.query_shards.empty() &&
        (lc.kafka_brokers.empty() || !lc.kafka_consume.empty())) {
      return InvalidArgument(
          "logship: --store=false needs --kafka-brokers to forward to (and no --kafka-consume), "
          "or --query-shards");
    }
    if (!lc.query_shards.empty()) {
      VIGIL_ASSIGN_OR_RETURN(auto urls, http::ShardUrls(lc.query_shards));
      shards = std::make_shared<ShardedLogs>(urls, std::chrono::minutes(2));
      spdlog::info("logship: Loki queries fan out to {} shards", urls.size());
    }
    std::vector<std::shared_ptr<LogSink>> sinks;
    if (lc.store) {
      LogStoreOptions so;
      so.dir = config.data_dir + "/logstore";
      so.retention_ns = lc.retention.count() * 1'000'000;
      VIGIL_ASSIGN_OR_RETURN(store, LogStore::Open(so));
      sinks.push_back(store);
    }
    if (!lc.kafka_consume.empty()) {
      // Consumer mode: the topic fills the store; pushes go to the store only (never back to
      // Kafka, which would loop).
      if (lc.kafka_brokers.empty()) {
        return InvalidArgument("logship: --kafka-consume needs --kafka-brokers");
      }
      KafkaConsumerOptions co;
      co.brokers = lc.kafka_brokers;
      co.topic = lc.kafka_consume;
      co.group = lc.kafka_group;
      co.options = lc.kafka_options;
      VIGIL_ASSIGN_OR_RETURN(consumer, KafkaConsumer::Make(co, store));
    } else if (!lc.kafka_brokers.empty()) {
      KafkaSinkOptions ko;
      ko.brokers = lc.kafka_brokers;
      ko.topic = lc.kafka_topic;
      ko.compression = lc.kafka_compression;
      ko.delivery_timeout = lc.kafka_delivery_timeout;
      ko.options = lc.kafka_options;
      VIGIL_ASSIGN_OR_RETURN(std::shared_ptr<KafkaSink> kafka, KafkaSink::Make(ko));
      sinks.push_back(std::move(kafka));
    }
    if (sinks.empty()) return Status::Ok();  // a query front: nothing is pushed here
    SpoolOptions po;
    po.dir = config.data_dir + "/spool";
    VIGIL_ASSIGN_OR_RETURN(spool, Spool::Open(RealFileSystem(), sinks, po));
    spool->Start();
    if (consumer) consumer->Start();
    // Heads older than their age become blocks; retention runs every ten minutes.
    maintenance = std::thread([this] {
      if (!store) return;
      auto last_retention = std::chrono::steady_clock::time_point{};
      std::unique_lock lock(mu);
      while (!cv.wait_for(lock, std::chrono::seconds(10), [&] { return stopping; })) {
        const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
        if (Status st = store->CutOldHeads(now); !st.ok()) {
          spdlog::error("logship: cutting blocks: {}", st.ToString());
        }
        if (std::chrono::steady_clock::now() - last_retention > std::chrono::minutes(10)) {
          last_retention = std::chrono::steady_clock::now();
          if (auto r = store->EnforceRetention(now); !r.ok()) {
            spdlog::error("logship: retention: {}", r.status().ToString());
          }
        }
      }
    });
    return Status::Ok();
  }

  void AddRoutes(http::Router& router) {
    if (spool) AddPushRoute(router, *spool, loki::PushLimits{});
    if (shards) {
      AddQueryRoutes(router, shards);
    } else if (store) {
      AddQueryRoutes(router, LocalLogs(*store));
    }
  }

  ~Impl() {
    {
      std::lock_guard lock(mu);
      stopping = true;
    }
    cv.notify_all();
    if (maintenance.joinable()) maintenance.join();
    if (consumer) consumer->Stop();  // stores and commits what it holds
    if (spool) spool->Stop();
    if (store) {
      if (Status f = store->Flush(); !f.ok()) {
        spdlog::error("logship: flush at exit: {}", f.ToString());
      }
    }
  }
};

Embedded::Embedded(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Embedded::~Embedded() = default;

Result<std::unique_ptr<Embedded>> Embedded::Start(const Config& config, http::Router& router) {
  auto impl = std::make_unique<Impl>();
  VIGIL_RETURN_IF_ERROR(impl->Start(config));
  impl->AddRoutes(router);
  return std::unique_ptr<Embedded>(new Embedded(std::move(impl)));
}

const LogStore* Embedded::store() const { return impl_->store.get(); }

Status Run(const Config& config) {
  http::Router router;
  VIGIL_ASSIGN_OR_RETURN(auto logship, Embedded::Start(config, router));
  return ServeUntilSignal(config, "logship", ServerOptionsFrom(config, "127.0.0.1:3100"),
                          std::move(router));
}

}  // namespace vigil::logship
