#include "remote_write_queue.h"

#include <snappy.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <unordered_set>

#include "vigil/common/kafka_publisher.h"
#include "vigil/common/remote_write.h"
#include "vigil/common/self_metrics.h"
#include "vigil/common/stale.h"

namespace vigil::agent {
namespace {

// A record: [u32 samples][snappy(serialized WriteRequest)]. Serialized WriteRequests concatenate
// into one (repeated fields append), so consecutive records merge without re-encoding series.
constexpr size_t kRecordHeader = 4;

uint32_t SampleCount(std::string_view record) {
  uint32_t n = 0;
  for (size_t i = 0; i < kRecordHeader && i < record.size(); ++i) {
    n |= static_cast<uint32_t>(static_cast<unsigned char>(record[i])) << (8 * i);
  }
  return n;
}

struct QueueMetrics {
  prometheus::Family<prometheus::Counter>* sent_samples;
  prometheus::Family<prometheus::Counter>* sent_bytes;
  prometheus::Family<prometheus::Counter>* dropped_samples;
  prometheus::Family<prometheus::Counter>* retries;
  prometheus::Family<prometheus::Gauge>* pending_records;
  prometheus::Family<prometheus::Histogram>* send_seconds;
  prometheus::Gauge* queue_bytes;
  prometheus::Counter* enqueued_samples;
  static QueueMetrics& Get() {
    static QueueMetrics m = [] {
      auto& reg = SelfMetrics();
      QueueMetrics q;
      q.sent_samples = &prometheus::BuildCounter()
                            .Name("vigil_agent_remote_write_sent_samples_total")
                            .Help("Samples a remote_write receiver acknowledged, by URL.")
                            .Register(reg);
      q.sent_bytes = &prometheus::BuildCounter()
                          .Name("vigil_agent_remote_write_sent_bytes_total")
                          .Help("Compressed request bytes acknowledged, by URL.")
                          .Register(reg);
      q.dropped_samples =
          &prometheus::BuildCounter()
               .Name("vigil_agent_remote_write_dropped_samples_total")
               .Help(
                   "Samples given up on, by URL and reason: queue_full (past the disk bound), "
                   "rejected (a 4xx from the receiver), corrupt (a damaged queue record).")
               .Register(reg);
      q.retries = &prometheus::BuildCounter()
                       .Name("vigil_agent_remote_write_retries_total")
                       .Help("Sends retried, by URL and reason (5xx, 429, connection).")
                       .Register(reg);
      q.pending_records = &prometheus::BuildGauge()
                               .Name("vigil_agent_remote_write_pending_batches")
                               .Help("Batches in the queue not yet delivered, by URL.")
                               .Register(reg);
      q.send_seconds = &prometheus::BuildHistogram()
                            .Name("vigil_agent_remote_write_request_duration_seconds")
                            .Help("Time of one remote_write request, by URL.")
                            .Register(reg);
      q.queue_bytes = &prometheus::BuildGauge()
                           .Name("vigil_agent_remote_write_queue_bytes")
                           .Help("Bytes of the on-disk remote_write queue.")
                           .Register(reg)
                           .Add({});
      q.enqueued_samples = &prometheus::BuildCounter()
                                .Name("vigil_agent_remote_write_enqueued_samples_total")
                                .Help("Samples appended to the on-disk remote_write queue.")
                                .Register(reg)
                                .Add({});
      return q;
    }();
    return m;
  }
};

// A URL as a cursor name without its credentials.
std::string ReaderName(const std::string& url) {
  std::string name = url;
  if (auto at = name.find('@'); at != std::string::npos) {
    if (auto scheme = name.find("://"); scheme != std::string::npos && scheme < at) {
      name.erase(scheme + 3, at - scheme - 2);
    }
  }
  return name;
}

// A Kafka publication as an HTTP answer, so the sender treats both alike: 204 when every message
// is acknowledged, 400 for a body that cannot be published (dropped), a connection error (retried)
// when the brokers did not acknowledge.
Result<http::ClientResponse> Published(kafka::RemoteWritePublisher& kafka, std::string_view body) {
  Status st = kafka.Publish(body);
  http::ClientResponse res;
  if (st.ok()) {
    res.status = 204;
    return res;
  }
  if (st.code() == StatusCode::kInvalidArgument) {
    res.status = 400;
    res.body = st.message();
    return res;
  }
  return st;
}

}  // namespace

struct RemoteWriteQueue::Sender {
  std::string url;
  http::HttpClient client;
  std::unique_ptr<kafka::RemoteWritePublisher> kafka;  // for a kafka:// URL
  prometheus::Counter* sent_samples;
  prometheus::Counter* sent_bytes;
  prometheus::Counter* dropped_full;
  prometheus::Counter* dropped_rejected;
  prometheus::Counter* dropped_corrupt;
  prometheus::Counter* retry_5xx;
  prometheus::Counter* retry_429;
  prometheus::Counter* retry_connection;
  prometheus::Gauge* pending;
  prometheus::Histogram* seconds;

  Sender(std::string u, http::ClientOptions options)
      : url(std::move(u)), client(std::move(options)) {
    auto& m = QueueMetrics::Get();
    const std::string shown = ReaderName(url);
    sent_samples = &m.sent_samples->Add({{"url", shown}});
    sent_bytes = &m.sent_bytes->Add({{"url", shown}});
    dropped_full = &m.dropped_samples->Add({{"url", shown}, {"reason", "queue_full"}});
    dropped_rejected = &m.dropped_samples->Add({{"url", shown}, {"reason", "rejected"}});
    dropped_corrupt = &m.dropped_samples->Add({{"url", shown}, {"reason", "corrupt"}});
    retry_5xx = &m.retries->Add({{"url", shown}, {"reason", "5xx"}});
    retry_429 = &m.retries->Add({{"url", shown}, {"reason", "429"}});
    retry_connection = &m.retries->Add({{"url", shown}, {"reason", "connection"}});
    pending = &m.pending_records->Add({{"url", shown}});
    seconds = &m.send_seconds->Add({{"url", shown}}, LatencyBuckets());
  }
};

RemoteWriteQueue::RemoteWriteQueue(RemoteWriteOptions options) : options_(std::move(options)) {}

RemoteWriteQueue::~RemoteWriteQueue() { Stop(); }

Result<std::unique_ptr<RemoteWriteQueue>> RemoteWriteQueue::Open(std::shared_ptr<FileSystem> fs,
                                                                 RemoteWriteOptions options) {
  std::unique_ptr<RemoteWriteQueue> q(new RemoteWriteQueue(std::move(options)));
  const auto& o = q->options_;
  http::ClientOptions client;
  client.request_timeout = o.timeout;
  client.connect_timeout = std::min(o.timeout, std::chrono::milliseconds(5'000));
  client.max_response_bytes = 1 << 20;
  client.user_agent = "vigil-agent";
  std::vector<std::string> readers;
  for (const auto& url : o.urls) {
    readers.push_back(ReaderName(url));
    q->senders_.push_back(std::make_unique<Sender>(url, client));
    if (kafka::IsKafkaUrl(url)) {
      VIGIL_ASSIGN_OR_RETURN(
          q->senders_.back()->kafka,
          kafka::RemoteWritePublisher::Make(url, o.kafka_options, o.timeout, "agent"));
    }
  }
  DiskQueueOptions qo;
  qo.max_bytes = o.max_bytes;
  qo.segment_bytes = std::min<uint64_t>(8ULL << 20, o.max_bytes / 4);
  qo.on_drop = [senders = &q->senders_](size_t reader, std::string_view record) {
    (*senders)[reader]->dropped_full->Increment(SampleCount(record));
  };
  VIGIL_ASSIGN_OR_RETURN(q->queue_, DiskQueue::Open(std::move(fs), o.dir, readers, qo));
  for (size_t i = 0; i < q->senders_.size(); ++i) {
    const uint64_t backlog = q->queue_->next_seq() - q->queue_->cursor(i);
    q->senders_[i]->pending->Set(static_cast<double>(backlog));
    if (backlog > 0) {
      spdlog::info("agent: remote_write to {}: {} batches from before the restart to send",
                   ReaderName(q->senders_[i]->url), backlog);
    }
  }
  QueueMetrics::Get().queue_bytes->Set(static_cast<double>(q->queue_->bytes()));
  return q;
}

Status RemoteWriteQueue::Enqueue(const prometheus::WriteRequest& batch) {
  if (batch.timeseries_size() == 0) return Status::Ok();
  size_t samples = 0;
  for (const auto& ts : batch.timeseries()) samples += static_cast<size_t>(ts.samples_size());
  return EnqueueSerialized(batch.SerializeAsString(), samples);
}

Status RemoteWriteQueue::Enqueue(const remote::WriteRequestEncoder& batch) {
  if (batch.samples() == 0) return Status::Ok();
  return EnqueueSerialized(batch.bytes(), batch.samples());
}

Status RemoteWriteQueue::EnqueueSerialized(std::string_view serialized, size_t samples) {
  std::string record(kRecordHeader, '\0');
  for (size_t i = 0; i < kRecordHeader; ++i) record[i] = static_cast<char>(samples >> (8 * i));
  std::string compressed;
  snappy::Compress(serialized.data(), serialized.size(), &compressed);
  record += compressed;
  const uint64_t dropped_before = [&] {
    uint64_t d = 0;
    for (size_t i = 0; i < senders_.size(); ++i) d += queue_->dropped(i);
    return d;
  }();
  auto seq = queue_->Append(record);
  if (!seq.ok()) return seq.status().WithContext("remote_write queue");
  auto& m = QueueMetrics::Get();
  m.enqueued_samples->Increment(static_cast<double>(samples));
  m.queue_bytes->Set(static_cast<double>(queue_->bytes()));
  uint64_t dropped_after = 0;
  for (size_t i = 0; i < senders_.size(); ++i) {
    dropped_after += queue_->dropped(i);
    senders_[i]->pending->Set(static_cast<double>(queue_->next_seq() - queue_->cursor(i)));
  }
  if (dropped_after > dropped_before) {
    spdlog::warn(
        "agent: remote_write queue is over its bound of {} bytes: dropped the {} oldest unsent "
        "batches (vigil_agent_remote_write_dropped_samples_total{{reason=\"queue_full\"}})",
        options_.max_bytes, dropped_after - dropped_before);
  }
  return Status::Ok();
}

void RemoteWriteQueue::Start() {
  for (size_t i = 0; i < senders_.size(); ++i) {
    threads_.emplace_back([this, i] { RunSender(i); });
  }
}

void RemoteWriteQueue::Stop() {
  {
    std::lock_guard lock(stop_mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
  }
  stop_cv_.notify_all();
  queue_->Close();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

bool RemoteWriteQueue::Backoff(std::chrono::milliseconds d) {
  std::unique_lock lock(stop_mu_);
  return !stop_cv_.wait_for(lock, d, [this] { return stopping_; });
}

void RemoteWriteQueue::RunSender(size_t index) {
  Sender& s = *senders_[index];
  const std::string shown = ReaderName(s.url);
  uint64_t next = queue_->cursor(index);
  std::string raw;
  std::string chunk;
  bool failing = false;
  while (true) {
    {
      std::lock_guard lock(stop_mu_);
      if (stopping_) return;
    }
    if (!queue_->Wait(next, std::chrono::seconds(1))) continue;
    auto records = queue_->Read(index, next, 1024, options_.max_send_bytes / 2);
    if (!records.ok()) {
      // One record at a time finds the damaged one; it is skipped, the rest still goes.
      auto one = queue_->Read(index, next, 1, 0);
      if (one.ok()) {
        records = std::move(one);
      } else {
        spdlog::error("agent: remote_write to {}: skipping a damaged queue record: {}", shown,
                      one.status().ToString());
        s.dropped_corrupt->Increment();
        next = std::max(next, queue_->cursor(index)) + 1;
        (void)queue_->Commit(index, next);
        continue;
      }
    }
    if (records->empty()) {
      next = queue_->cursor(index);
      continue;
    }
    // Decompress each batch and join them: one WriteRequest, compressed once.
    raw.clear();
    size_t samples = 0;
    size_t joined = 0;
    for (const auto& rec : *records) {
      std::string_view body = std::string_view(rec.data).substr(kRecordHeader);
      chunk.clear();
      if (!snappy::Uncompress(body.data(), body.size(), &chunk)) {
        spdlog::error("agent: remote_write to {}: skipping queue record {}: bad snappy block",
                      shown, rec.seq);
        s.dropped_corrupt->Increment(SampleCount(rec.data));
        ++joined;
        continue;
      }
      if (joined > 0 && raw.size() + chunk.size() > options_.max_send_bytes) break;
      raw += chunk;
      samples += SampleCount(rec.data);
      ++joined;
    }
    const uint64_t end = (*records)[joined - 1].seq + 1;
    if (samples == 0) {  // nothing readable in these records
      (void)queue_->Commit(index, end);
      next = end;
      continue;
    }
    std::string body;
    snappy::Compress(raw.data(), raw.size(), &body);
    http::ClientRequest req;
    req.method = "POST";
    req.url = s.url;
    req.headers = {{"Content-Type", std::string(remote::kContentType)},
                   {"Content-Encoding", std::string(remote::kContentEncoding)},
                   {std::string(remote::kVersionHeader), std::string(remote::kVersion)}};
    req.body = std::move(body);
    std::chrono::milliseconds backoff = options_.min_backoff;
    const uint64_t first = records->front().seq;
    bool delivered = false;
    bool abandoned = false;
    while (true) {
      const auto start = std::chrono::steady_clock::now();
      auto res = s.kafka ? Published(*s.kafka, req.body) : s.client.Do(req);
      s.seconds->Observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      std::chrono::milliseconds wait = backoff;
      if (res.ok() && res->status / 100 == 2) {
        delivered = true;
        break;
      }
      if (res.ok() && res->status != 429 && res->status / 100 == 4) {
        spdlog::error(
            "agent: remote_write to {} rejected {} samples with {}: {} (dropped, not retried)",
            shown, samples, res->status, res->body.substr(0, 512));
        s.dropped_rejected->Increment(static_cast<double>(samples));
        break;
      }
      std::string why;
      if (!res.ok()) {
        s.retry_connection->Increment();
        why = res.status().ToString();
      } else if (res->status == 429) {
        s.retry_429->Increment();
        why = "429";
        int secs = 0;
        std::string_view ra = res->Header("Retry-After");
        if (auto [p, ec] = std::from_chars(ra.data(), ra.data() + ra.size(), secs);
            ec == std::errc() && secs > 0) {
          wait = std::chrono::milliseconds(secs * 1000LL);
        }
      } else {
        s.retry_5xx->Increment();
        why = std::to_string(res->status) + " " + res->body.substr(0, 200);
      }
      if (!failing) {
        spdlog::warn("agent: remote_write to {} failed ({}); retrying with backoff up to {} ms",
                     shown, why, options_.max_backoff.count());
        failing = true;
      }
      if (!Backoff(std::min(wait, options_.max_backoff))) return;
      backoff = std::min(backoff * 2, options_.max_backoff);
      if (queue_->cursor(index) > first) {
        // The disk bound dropped (and counted) batches of this request while it waited: send
        // what is left instead, so nothing counted as dropped arrives after all.
        abandoned = true;
        break;
      }
    }
    if (abandoned) {
      next = queue_->cursor(index);
      continue;
    }
    if (delivered) {
      s.sent_samples->Increment(static_cast<double>(samples));
      s.sent_bytes->Increment(static_cast<double>(req.body.size()));
      if (failing) spdlog::info("agent: remote_write to {} is delivering again", shown);
      failing = false;
    }
    if (Status st = queue_->Commit(index, end); !st.ok()) {
      spdlog::error("agent: remote_write to {}: saving the queue position: {}", shown,
                    st.ToString());
    }
    next = end;
    s.pending->Set(static_cast<double>(queue_->next_seq() - queue_->cursor(index)));
    QueueMetrics::Get().queue_bytes->Set(static_cast<double>(queue_->bytes()));
  }
}

namespace {

// Merges a sample's sorted labels with the constant ones (the sample's win), calling
// put(name, value) in name order.
template <typename Labelish, typename Put>
void MergeLabels(const Labelish& labels, const Labels& constant, Put put) {
  auto a = labels.begin();
  auto b = constant.begin();
  while (a != labels.end() || b != constant.end()) {
    if (b == constant.end() || (a != labels.end() && std::string_view(a->name) < b->name)) {
      put(a->name, a->value);
      ++a;
    } else if (a == labels.end() || b->name < std::string_view(a->name)) {
      put(b->name, b->value);
      ++b;
    } else {  // the sample's own label wins
      put(a->name, a->value);
      ++a;
      ++b;
    }
  }
}

void PutLabel(prometheus::TimeSeries* ts, std::string_view name, std::string_view value) {
  auto* pl = ts->add_labels();
  pl->set_name(name.data(), name.size());
  pl->set_value(value.data(), value.size());
}

// One series with one sample as a WriteRequest message, for either form of labels.
template <typename Labelish>
void AddSeries(const Labelish& labels, const Labels& constant, int64_t t_ms, double v,
               prometheus::WriteRequest& out) {
  auto* ts = out.add_timeseries();
  MergeLabels(labels, constant,
              [ts](std::string_view n, std::string_view val) { PutLabel(ts, n, val); });
  auto* s = ts->add_samples();
  s->set_timestamp(t_ms);
  s->set_value(v);
}

}  // namespace

void SeriesWriter::Add(const Labels& labels, int64_t t_ms, double v,
                       prometheus::WriteRequest& out) const {
  AddSeries(labels, constant_, t_ms, v, out);
}

void SeriesWriter::Add(std::span<const LabelView> labels, int64_t t_ms, double v,
                       remote::WriteRequestEncoder& out) const {
  merged_.clear();
  MergeLabels(labels, constant_, [this](std::string_view n, std::string_view val) {
    merged_.push_back({n, val});
  });
  out.Add(merged_, t_ms, v);
}

void SeriesWriter::Add(std::span<const LabelView> labels, int64_t t_ms, double v,
                       prometheus::WriteRequest& out) const {
  AddSeries(labels, constant_, t_ms, v, out);
}

void StalenessTracker::Update(std::vector<Labels> now, int64_t t_ms, const SeriesWriter& writer,
                              prometheus::WriteRequest& out) {
  if (!previous_.empty()) {
    std::unordered_set<uint64_t> present;
    present.reserve(now.size());
    for (const auto& l : now) present.insert(l.Hash());
    for (const auto& l : previous_) {
      if (!present.contains(l.Hash())) writer.Add(l, t_ms, StaleNaN(), out);
    }
  }
  previous_ = std::move(now);
}

void StalenessTracker::MarkAllStale(int64_t t_ms, const SeriesWriter& writer,
                                    prometheus::WriteRequest& out) {
  for (const auto& l : previous_) writer.Add(l, t_ms, StaleNaN(), out);
  previous_.clear();
}

Result<Labels> ParseLabelPairs(const std::vector<std::string>& pairs) {
  std::vector<Label> out;
  for (const auto& p : pairs) {
    const size_t eq = p.find('=');
    if (eq == std::string::npos) {
      return Status(StatusCode::kInvalidArgument, "label \"" + p + "\": expected name=value");
    }
    Label l{p.substr(0, eq), p.substr(eq + 1)};
    VIGIL_RETURN_IF_ERROR(ValidateLabelName(l.name).WithContext("label \"" + p + "\""));
    out.push_back(std::move(l));
  }
  return Labels::FromPairs(std::move(out));
}

}  // namespace vigil::agent
