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
    : opts_(std::move(options)), client_(ClientOpts(opts_.timeout)) {
  thread_ = std::thread([this] { Loop(); });
}

RemoteWriter::~RemoteWriter() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

Status RemoteWriter::Write(std::vector<OutSample> samples) {
  size_t dropped = 0;
  {
    std::lock_guard lock(mu_);
    for (auto& s : samples) {
      if (queue_.size() >= opts_.max_samples) {
        queue_.pop_front();
        ++dropped;
      }
      queue_.push_back(std::move(s));
    }
    M().queued->Set(static_cast<double>(queue_.size()));
  }
  cv_.notify_all();
  if (dropped > 0) {
    M().dropped->Increment(static_cast<double>(dropped));
    return ResourceExhausted("remote_write queue full: dropped the " + std::to_string(dropped) +
                             " oldest samples");
  }
  return Status::Ok();
}

bool RemoteWriter::Flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return idle_cv_.wait_for(lock, timeout, [&] { return queue_.empty() && !busy_; });
}

void RemoteWriter::Loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    std::vector<OutSample> batch;
    while (!queue_.empty() && batch.size() < opts_.batch_samples) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    M().queued->Set(static_cast<double>(queue_.size()));
    busy_ = true;
    lock.unlock();
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
        break;
      }
      const bool retry = !res.ok() || res->status >= 500 || res->status == 429;
      const std::string why =
          res.ok() ? "HTTP " + std::to_string(res->status) + ": " + res->body.substr(0, 200)
                   : res.status().message();
      if (!retry) {
        M().failed->Increment(static_cast<double>(batch.size()));
        spdlog::error("alertd: remote_write {} refused {} samples: {}", opts_.url, batch.size(),
                      why);
        break;
      }
      M().retries->Increment();
      spdlog::warn("alertd: remote_write {}: {}; retrying in {} ms", opts_.url, why,
                   backoff.count());
      std::unique_lock wait(mu_);
      if (cv_.wait_for(wait, backoff, [&] { return stop_; })) break;
      backoff = std::min(backoff * 2, opts_.max_backoff);
    }
    lock.lock();
    busy_ = false;
    if (queue_.empty()) idle_cv_.notify_all();
  }
}

}  // namespace vigil::alertd
