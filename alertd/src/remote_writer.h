#pragma once

// Rule output (ALERTS, ALERTS_FOR_STATE, recording rules) to a remote_write receiver (vigil tsdb,
// Prometheus with its receiver, any long-term store), from a bounded in-memory queue on its own
// thread, so a slow receiver never delays an evaluation: retried with backoff on errors, 5xx and
// 429; past `max_samples` queued the oldest are dropped (counted in
// vigil_alertd_remote_write_dropped_samples_total). Rule output is recomputed at every
// evaluation, so it is not kept on disk.

#include <chrono>
#include <memory>
#include <string>

#include "rules.h"
#include "send_queue.h"
#include "vigil/common/http_client.h"

namespace vigil::alertd {

class RemoteWriter {
 public:
  struct Options {
    std::string url;
    size_t max_samples = 1'000'000;
    size_t batch_samples = 5'000;
    std::chrono::milliseconds timeout{30'000};
    std::chrono::milliseconds min_backoff{100};
    std::chrono::milliseconds max_backoff{10'000};
  };
  explicit RemoteWriter(Options options);

  // Queues the samples; never blocks on the receiver.
  Status Write(std::vector<OutSample> samples);
  // Waits until the queue is empty or `timeout` passes; returns whether it emptied.
  bool Flush(std::chrono::milliseconds timeout);

 private:
  void Send(std::vector<OutSample>& batch);

  Options opts_;
  http::HttpClient client_;
  SendQueue<OutSample> queue_;  // last: its thread stops before the rest goes
};

}  // namespace vigil::alertd
