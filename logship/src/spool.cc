#include "spool.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "vigil/common/self_metrics.h"

namespace vigil::logship {
namespace {

// Spool records are pushes as the protobuf push body (snappy): compact, and decoded by the
// same code as a push.
size_t CountLines(const std::vector<loki::Stream>& streams) {
  size_t n = 0;
  for (const auto& s : streams) n += s.entries.size();
  return n;
}

Result<std::vector<loki::Stream>> DecodeRecord(std::string_view record) {
  loki::PushLimits unlimited;
  unlimited.max_body_bytes = 1ULL << 40;
  unlimited.max_streams = unlimited.max_entries = ~size_t{0};
  unlimited.max_line_bytes = unlimited.max_labels_per_stream = ~size_t{0};
  unlimited.max_label_name_bytes = unlimited.max_label_value_bytes = ~size_t{0};
  return loki::DecodePush(record, loki::kProtobufContentType, unlimited);
}

struct SpoolMetrics {
  prometheus::Family<prometheus::Counter>* written;
  prometheus::Family<prometheus::Counter>* dropped;
  prometheus::Family<prometheus::Counter>* errors;
  prometheus::Family<prometheus::Gauge>* lag;
  prometheus::Counter* appended;
  prometheus::Gauge* bytes;
};

SpoolMetrics& Metrics() {
  static SpoolMetrics m = [] {
    auto& reg = SelfMetrics();
    SpoolMetrics s;
    s.written = &prometheus::BuildCounter()
                     .Name("vigil_logship_sink_written_lines_total")
                     .Help("Lines a sink took from the spool, by sink.")
                     .Register(reg);
    s.dropped = &prometheus::BuildCounter()
                     .Name("vigil_logship_spool_dropped_lines_total")
                     .Help(
                         "Lines dropped unread by a sink because the spool was past its disk "
                         "bound, by sink.")
                     .Register(reg);
    s.errors = &prometheus::BuildCounter()
                    .Name("vigil_logship_sink_errors_total")
                    .Help("Sink writes that failed and will be retried, by sink.")
                    .Register(reg);
    s.lag = &prometheus::BuildGauge()
                 .Name("vigil_logship_sink_lag_pushes")
                 .Help("Pushes in the spool a sink has not written yet, by sink.")
                 .Register(reg);
    s.appended = &prometheus::BuildCounter()
                      .Name("vigil_logship_spool_appended_lines_total")
                      .Help("Lines appended to the spool (acknowledged to senders).")
                      .Register(reg)
                      .Add({});
    s.bytes = &prometheus::BuildGauge()
                   .Name("vigil_logship_spool_bytes")
                   .Help("Bytes of the on-disk spool.")
                   .Register(reg)
                   .Add({});
    return s;
  }();
  return m;
}

}  // namespace

Spool::Spool(std::vector<std::shared_ptr<LogSink>> sinks, SpoolOptions options)
    : sinks_(std::move(sinks)), options_(std::move(options)) {}

Spool::~Spool() { Stop(); }

Result<std::unique_ptr<Spool>> Spool::Open(std::shared_ptr<FileSystem> fs,
                                           std::vector<std::shared_ptr<LogSink>> sinks,
                                           SpoolOptions options) {
  std::unique_ptr<Spool> spool(new Spool(std::move(sinks), std::move(options)));
  std::vector<std::string> readers;
  for (const auto& s : spool->sinks_) readers.push_back(s->name());
  DiskQueueOptions qo;
  qo.max_bytes = spool->options_.max_bytes;
  qo.sync = spool->options_.sync;
  qo.on_drop = [sinks = &spool->sinks_](size_t reader, std::string_view record) {
    auto streams = DecodeRecord(record);
    const size_t lines = streams.ok() ? CountLines(*streams) : 0;
    Metrics()
        .dropped->Add({{"sink", (*sinks)[reader]->name()}})
        .Increment(static_cast<double>(lines));
    spdlog::error("logship: spool past its bound: dropped a push of {} lines unread by sink {}",
                  lines, (*sinks)[reader]->name());
  };
  VIGIL_ASSIGN_OR_RETURN(spool->queue_,
                         DiskQueue::Open(std::move(fs), spool->options_.dir, readers, qo));
  for (size_t i = 0; i < spool->sinks_.size(); ++i) {
    if (const uint64_t lag = spool->lag(i); lag > 0) {
      spdlog::info("logship: sink {}: {} pushes from before the restart to write",
                   spool->sinks_[i]->name(), lag);
    }
  }
  return spool;
}

Status Spool::Append(const std::vector<loki::Stream>& streams, std::string_view encoded) {
  VIGIL_RETURN_IF_ERROR(
      queue_->Append(encoded.empty() ? loki::EncodePush(streams) : std::string(encoded)).status());
  Metrics().appended->Increment(static_cast<double>(CountLines(streams)));
  Metrics().bytes->Set(static_cast<double>(queue_->bytes()));
  return Status::Ok();
}

void Spool::Start() {
  for (size_t i = 0; i < sinks_.size(); ++i) threads_.emplace_back([this, i] { Drain(i); });
}

void Spool::Stop() {
  stopping_ = true;
  if (queue_) queue_->Close();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void Spool::Drain(size_t i) {
  LogSink& sink = *sinks_[i];
  auto& written = Metrics().written->Add({{"sink", sink.name()}});
  auto& errors = Metrics().errors->Add({{"sink", sink.name()}});
  auto& lag = Metrics().lag->Add({{"sink", sink.name()}});
  std::chrono::milliseconds backoff{100};
  while (!stopping_) {
    lag.Set(static_cast<double>(this->lag(i)));
    const uint64_t from = queue_->cursor(i);
    auto records = queue_->Read(i, from, 1024, options_.batch_bytes);
    if (!records.ok()) {
      spdlog::error("logship: sink {}: reading the spool: {}", sink.name(),
                    records.status().ToString());
      queue_->Wait(~uint64_t{0}, backoff);
      continue;
    }
    if (records->empty()) {
      queue_->Wait(from, std::chrono::milliseconds(1000));
      continue;
    }
    std::vector<loki::Stream> batch;
    for (const auto& r : *records) {
      auto streams = DecodeRecord(r.data);
      if (!streams.ok()) {  // the queue's CRC passed, so this is a bug; do not wedge on it
        spdlog::error("logship: sink {}: spool record {} does not decode, skipped: {}", sink.name(),
                      r.seq, streams.status().ToString());
        continue;
      }
      for (auto& s : *streams) batch.push_back(std::move(s));
    }
    Status st = sink.Write(batch);
    if (!st.ok()) {
      errors.Increment();
      spdlog::warn("logship: sink {}: write failed, retrying in {} ms: {}", sink.name(),
                   backoff.count(), st.ToString());
      queue_->Wait(~uint64_t{0}, backoff);  // a sleep that Stop() interrupts
      backoff = std::min(backoff * 2, options_.max_backoff);
      continue;
    }
    backoff = std::chrono::milliseconds(100);
    written.Increment(static_cast<double>(CountLines(batch)));
    if (Status c = queue_->Commit(i, records->back().seq + 1); !c.ok()) {
      spdlog::error("logship: sink {}: saving its spool cursor: {}", sink.name(), c.ToString());
    }
  }
}

}  // namespace vigil::logship
