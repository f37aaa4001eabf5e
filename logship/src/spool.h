#pragma once

// Spool: logship's durable intake. A push is appended (fsynced) as one record before it is
// acknowledged; each sink drains the spool from its own cursor on its own thread, so a slow or
// absent Kafka never holds up the store, and neither loses anything: a sink's cursor moves only
// when its Write succeeded. Past `max_bytes` on disk the oldest unread pushes are dropped,
// counted per sink (vigil_logship_spool_dropped_lines_total) and logged.

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "vigil/common/clock.h"
#include "vigil/common/disk_queue.h"
#include "vigil/common/loki_push.h"
#include "vigil/logship/sink.h"

namespace vigil::logship {

struct SpoolOptions {
  std::string dir;
  uint64_t max_bytes = 4ULL << 30;
  bool sync = true;
  size_t batch_bytes = 1 << 20;  // what one Write gets at most (past one push)
  std::chrono::milliseconds max_backoff{5000};
};

class Spool {
 public:
  // Opens the spool with one cursor per sink (by name). The sinks are not started.
  static Result<std::unique_ptr<Spool>> Open(std::shared_ptr<FileSystem> fs,
                                             std::vector<std::shared_ptr<LogSink>> sinks,
                                             SpoolOptions options);
  ~Spool();

  // Appends a push durably. ResourceExhausted never: past the bound the oldest are dropped.
  // `encoded`, when given, is `streams` already as a protobuf push body (snappy), as a protobuf
  // push arrives: stored as it is instead of encoding again.
  Status Append(const std::vector<loki::Stream>& streams, std::string_view encoded = {});
  // Starts one draining thread per sink; Stop joins them (a Write under way finishes first).
  void Start();
  void Stop();

  uint64_t bytes() const { return queue_->bytes(); }
  // Pushes appended but not yet written by sink `i`.
  uint64_t lag(size_t i) const { return queue_->next_seq() - queue_->cursor(i); }

 private:
  Spool(std::vector<std::shared_ptr<LogSink>> sinks, SpoolOptions options);
  void Drain(size_t i);

  std::vector<std::shared_ptr<LogSink>> sinks_;
  SpoolOptions options_;
  std::unique_ptr<DiskQueue> queue_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stopping_{false};
};

}  // namespace vigil::logship
