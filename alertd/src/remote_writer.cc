#include "remote_writer.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <snappy.h>
#include <spdlog/spdlog.h>

#include "vigil/common/remote_write.h"
#include "vigil/common/self_metrics.h"

namespace vigil::alertd {
namespace {

struct Metrics {
  prometheus::Counter* sent;
  prometheus::Counter* failed;
  prometheus::Counter* retries;
  prometheus::Counter* dropped;
  prometheus::Gauge* queued;
};

Metrics& M() {
  static Metrics m = [] {
    auto& reg = SelfMetrics();
    Metrics x;
    x.sent = &prometheus::BuildCounter()
                  .Name("vigil_alertd_remote_write_samples_total")
                  .Help("Rule output samples delivered by remote_write.")
                  .Register(reg)
                  .Add({});
    x.failed = &prometheus::BuildCounter()
                    .Name("vigil_alertd_remote_write_failed_samples_total")
                    .Help("Rule output samples the receiver refused (4xx other than 429).")
                    .Register(reg)
                    .Add({});
    x.retries = &prometheus::BuildCounter()
                     .Name("vigil_alertd_remote_write_retries_total")
                     .Help("remote_write requests repeated after an error, a 5xx or a 429.")
                     .Register(reg)
                     .Add({});
    x.dropped = &prometheus::BuildCounter()
                     .Name("vigil_alertd_remote_write_dropped_samples_total")
                     .Help("Rule output samples dropped because the queue was full.")
                     .Register(reg)
                     .Add({});
    x.queued = &prometheus::BuildGauge()
                    .Name("vigil_alertd_remote_write_queue_samples")
                    .Help("Rule output samples waiting to be sent.")
                    .Register(reg)
                    .Add({});
    return x;
  }();
  return m;
}

http::ClientOptions ClientOpts(std::chrono::milliseconds timeout) {
  http::ClientOptions o;
  o.request_timeout = timeout;
  return o;
}

}  // namespace

RemoteWriter::RemoteWriter(Options options)
    : opts_(std::move(options)),
      client_(ClientOpts(opts_.timeout)),
      queue_(
          opts_.max_samples, opts_.batch_samples, [this](std::vector<OutSample>& b) { Send(b); },
          [](size_t n) { M().queued->Set(static_cast<double>(n)); }) {
  queue_.Start();
}

Status RemoteWriter::Write(std::vector<OutSample> samples) {
  if (const size_t dropped = queue_.Push(std::move(samples)); dropped > 0) {
    M().dropped->Increment(static_cast<double>(dropped));
    return ResourceExhausted("remote_write queue full: dropped the " + std::to_string(dropped) +
                             " oldest samples");
  }
  return Status::Ok();
}

bool RemoteWriter::Flush(std::chrono::milliseconds timeout) { return queue_.Flush(timeout); }

void RemoteWriter::Send(std::vector<OutSample>& batch) {
  remote::WriteRequestEncoder enc;
  std::vector<LabelView> views;
  for (const auto& s : batch) {
    views.clear();
    for (const Label& l : s.labels) views.push_back({l.name, l.value});
    enc.Add(views, s.t_ms, s.value);
  }
  std::string body;
  snappy::Compress(enc.bytes().data(), enc.bytes().size(), &body);
  http::ClientRequest req;
  req.method = "POST";
  req.url = opts_.url;
  req.headers = {{"Content-Type", std::string(remote::kContentType)},
                 {"Content-Encoding", std::string(remote::kContentEncoding)},
                 {std::string(remote::kVersionHeader), std::string(remote::kVersion)}};
  req.body = std::move(body);
  auto backoff = opts_.min_backoff;
  for (;;) {
    auto res = client_.Do(req);
    if (res.ok() && res->status / 100 == 2) {
      M().sent->Increment(static_cast<double>(batch.size()));
      return;
    }
    const bool retry = !res.ok() || res->status >= 500 || res->status == 429;
    const std::string why =
        res.ok() ? "HTTP " + std::to_string(res->status) + ": " + res->body.substr(0, 200)
                 : res.status().message();
    if (!retry) {
      M().failed->Increment(static_cast<double>(batch.size()));
      spdlog::error("alertd: remote_write {} refused {} samples: {}", opts_.url, batch.size(), why);
      return;
    }
    M().retries->Increment();
    spdlog::warn("alertd: remote_write {}: {}; retrying in {} ms", opts_.url, why, backoff.count());
    if (queue_.Wait(backoff)) return;
    backoff = std::min(backoff * 2, opts_.max_backoff);
  }
}

}  // namespace vigil::alertd
