#pragma once

// Shipping by remote_write from a durable queue (DESIGN.md, delivery guarantees).
//
// Enqueue() appends a batch to a DiskQueue under <data_dir>/agent-queue (fsynced before it
// returns); one sender thread per URL reads from its own cursor, oldest first, merges consecutive
// batches into a request of at most max_send_bytes, and commits the cursor only after a 2xx. A
// 5xx, a 429 or a connection error is retried with capped exponential backoff (a 429's
// Retry-After is honoured up to the cap); any other 4xx drops the request, counted and logged,
// as Prometheus does. A killed agent resends at most the request that was in flight.
//
// SeriesWriter and StalenessTracker turn a source's samples (the agent's own view, a scrape) into
// WriteRequest series: the source's constant labels are added where a sample lacks them, and a
// series that was in the source's previous batch and is not in this one gets Prometheus' stale
// marker, so queries stop showing it at once instead of after the lookback delta.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "remote.pb.h"
#include "vigil/common/disk_queue.h"
#include "vigil/common/exposition.h"
#include "vigil/common/file_system.h"
#include "vigil/common/http_client.h"
#include "vigil/common/labels.h"
#include "vigil/common/remote_write.h"
#include "vigil/common/status.h"

namespace vigil::agent {

struct RemoteWriteOptions {
  // HTTP(S) receivers, or Kafka topics as kafka://BROKERS/TOPIC (see
  // vigil/common/kafka_publisher.h).
  std::vector<std::string> urls;
  std::vector<std::string> kafka_options;  // librdkafka name=value, for the kafka:// ones
  std::string dir;                         // the queue's directory
  uint64_t max_bytes = 512ULL << 20;
  std::chrono::milliseconds timeout{30'000};
  std::chrono::milliseconds min_backoff{100};
  std::chrono::milliseconds max_backoff{5'000};
  size_t max_send_bytes = 1 << 20;  // uncompressed protobuf per request
};

class RemoteWriteQueue {
 public:
  static Result<std::unique_ptr<RemoteWriteQueue>> Open(std::shared_ptr<FileSystem> fs,
                                                        RemoteWriteOptions options);
  ~RemoteWriteQueue();  // Stop()

  // Appends the batch durably (nothing is sent from here). An empty batch is skipped.
  Status Enqueue(const prometheus::WriteRequest& batch);
  Status Enqueue(const remote::WriteRequestEncoder& batch);
  // Starts the senders; Stop() ends them after the request in flight (its retries are cut).
  void Start();
  void Stop();

  // The committed position of each URL's sender, and the queue's end (for tests and `top`).
  uint64_t delivered(size_t url) const { return queue_->cursor(url); }
  uint64_t enqueued() const { return queue_->next_seq(); }
  uint64_t dropped(size_t url) const { return queue_->dropped(url); }  // batches, past the bound

 private:
  struct Sender;
  RemoteWriteQueue(RemoteWriteOptions options);
  Status EnqueueSerialized(std::string_view serialized, size_t samples);
  void RunSender(size_t index);
  // Waits `d` unless stopping; false when stopping.
  bool Backoff(std::chrono::milliseconds d);

  RemoteWriteOptions options_;
  std::unique_ptr<DiskQueue> queue_;
  std::vector<std::unique_ptr<Sender>> senders_;
  std::vector<std::thread> threads_;
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
};

// Writes samples as WriteRequest series with a source's constant labels (job, instance, external
// labels) added where a sample does not have the label already.
class SeriesWriter {
 public:
  explicit SeriesWriter(Labels constant = {}) : constant_(std::move(constant)) {}
  void Add(const Labels& labels, int64_t t_ms, double v, prometheus::WriteRequest& out) const;
  // The same from label views sorted by name.
  void Add(std::span<const LabelView> labels, int64_t t_ms, double v,
           prometheus::WriteRequest& out) const;
  void Add(std::span<const LabelView> labels, int64_t t_ms, double v,
           remote::WriteRequestEncoder& out) const;
  const Labels& constant() const { return constant_; }

 private:
  Labels constant_;
  mutable std::vector<LabelView> merged_;  // reused by the encoder path; one thread at a time
};

// The series of one source's previous batch, for stale markers.
class StalenessTracker {
 public:
  // Writes a stale marker at `t_ms` for each series of the previous call missing from `now`,
  // then remembers `now`.
  void Update(std::vector<Labels> now, int64_t t_ms, const SeriesWriter& writer,
              prometheus::WriteRequest& out);
  // Stale markers for every remembered series (the source is gone); forgets them.
  void MarkAllStale(int64_t t_ms, const SeriesWriter& writer, prometheus::WriteRequest& out);

 private:
  std::vector<Labels> previous_;
};

// Parses "name=value" pairs (external labels) into sorted Labels.
Result<Labels> ParseLabelPairs(const std::vector<std::string>& pairs);

}  // namespace vigil::agent
