#include "log_tailer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "container_ref.h"
#include "vigil/common/http_client.h"
#include "vigil/common/loki_push.h"
#include "vigil/common/self_metrics.h"

namespace vigil::agent {
namespace {

using nlohmann::json;

}  // namespace

struct LogTailer::Metrics {
  prometheus::Counter* lines;
  prometheus::Counter* unparsed;
  prometheus::Counter* truncated;
  prometheus::Counter* dropped;
  prometheus::Counter* retries;
  prometheus::Gauge* files;
  prometheus::Gauge* watched;
};

namespace {

// One set per URL for the process (a tailer made again for the same URL counts on).
LogTailer::Metrics& TailerMetrics(const std::string& url) {
  static std::mutex mu;
  static std::map<std::string, LogTailer::Metrics> by_url;
  std::lock_guard lock(mu);
  auto it = by_url.find(url);
  if (it != by_url.end()) return it->second;
  auto& reg = SelfMetrics();
  const std::map<std::string, std::string> l = {{"url", url}};
  LogTailer::Metrics m;
  m.lines = &prometheus::BuildCounter()
                 .Name("vigil_agent_log_lines_sent_total")
                 .Help("Log lines the push receiver acknowledged, by URL.")
                 .Register(reg)
                 .Add(l);
  m.unparsed = &prometheus::BuildCounter()
                    .Name("vigil_agent_log_unparsed_lines_total")
                    .Help("Lines that were neither CRI nor docker json-file, shipped raw, by URL.")
                    .Register(reg)
                    .Add(l);
  m.truncated = &prometheus::BuildCounter()
                     .Name("vigil_agent_log_truncated_lines_total")
                     .Help("Lines cut at the maximum line size, by URL.")
                     .Register(reg)
                     .Add(l);
  m.dropped = &prometheus::BuildCounter()
                   .Name("vigil_agent_log_dropped_lines_total")
                   .Help("Lines given up on because the receiver refused them with a 4xx, by URL.")
                   .Register(reg)
                   .Add(l);
  m.retries = &prometheus::BuildCounter()
                   .Name("vigil_agent_log_push_retries_total")
                   .Help("Log pushes retried (429, 5xx, connection errors), by URL.")
                   .Register(reg)
                   .Add(l);
  m.files = &prometheus::BuildGauge()
                 .Name("vigil_agent_log_files")
                 .Help("Log files followed, by URL.")
                 .Register(reg)
                 .Add(l);
  m.watched = &prometheus::BuildGauge()
                   .Name("vigil_agent_log_watched_directories")
                   .Help("Directories watched with inotify for new log files and lines, by URL.")
                   .Register(reg)
                   .Add(l);
  return by_url.emplace(url, m).first->second;
}

}  // namespace

Labels PathLabels(const std::string& path) {
  LabelsBuilder b;
  // /var/log/pods/<ns>_<pod>_<uid>/<container>/<n>.log
  const size_t pods = path.find("/pods/");
  if (pods != std::string::npos) {
    const std::string_view rest = std::string_view(path).substr(pods + 6);
    const size_t s1 = rest.find('/');
    const size_t s2 = s1 == std::string_view::npos ? s1 : rest.find('/', s1 + 1);
    if (s2 != std::string_view::npos) {
      if (auto pod = ParsePodLogDir(rest.substr(0, s1))) {
        b.Set("namespace", pod->ns);
        b.Set("pod", pod->pod);
        b.Set("pod_uid", pod->uid);
        b.Set("container", rest.substr(s1 + 1, s2 - s1 - 1));
        return b.Build();
      }
    }
  }
  // /var/log/containers/<pod>_<namespace>_<container>-<id>.log
  std::string_view name = std::string_view(path).substr(path.rfind('/') + 1);
  if (path.find("/containers/") != std::string::npos && name.ends_with(".log")) {
    name.remove_suffix(4);
    const size_t a = name.find('_'), b2 = name.rfind('_'), dash = name.rfind('-');
    if (a != std::string_view::npos && a != b2 && dash != std::string_view::npos && dash > b2) {
      b.Set("pod", name.substr(0, a));
      b.Set("namespace", name.substr(a + 1, b2 - a - 1));
      b.Set("container", name.substr(b2 + 1, dash - b2 - 1));
      return b.Build();
    }
  }
  b.Set("filename", path);  // any other file: named by its path, as Promtail does
  return b.Build();
}

LogTailer::LogTailer(std::shared_ptr<FileSystem> fs, std::shared_ptr<Clock> clock,
                     LogTailerOptions options)
    : fs_(std::move(fs)),
      clock_(std::move(clock)),
      opts_(std::move(options)),
      metrics_(&TailerMetrics(opts_.push_url)) {
  http::ClientOptions co;
  co.request_timeout = opts_.timeout;
  client_ = std::make_unique<http::HttpClient>(co);
  if (opts_.inotify) {
    watcher_ = std::make_unique<DirWatcher>();
    if (!watcher_->ok()) watcher_.reset();
  }
  LoadPositions();
}

LogTailer::~LogTailer() { Stop(); }

void LogTailer::LoadPositions() {
  auto text = fs_->ReadFile(opts_.positions_file, 64 << 20);
  if (!text.ok()) return;  // none yet
  json doc = json::parse(*text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    spdlog::warn(
        "agent: log positions {} are not readable JSON; reading the files from their start",
        opts_.positions_file);
    return;
  }
  for (const auto& [path, p] : doc.items()) {
    if (!p.is_object()) continue;
    FilePosition pos;
    pos.device = p.value("device", uint64_t{0});
    pos.inode = p.value("inode", uint64_t{0});
    pos.fingerprint = p.value("fingerprint", uint64_t{0});
    pos.offset = p.value("offset", uint64_t{0});
    saved_[path] = pos;
  }
}

Status LogTailer::SavePositions() {
  json doc = json::object();
  for (const auto& [path, pos] : saved_) {
    doc[path] = {{"device", pos.device},
                 {"inode", pos.inode},
                 {"fingerprint", pos.fingerprint},
                 {"offset", pos.offset}};
  }
  return fs_->WriteFileAtomic(opts_.positions_file, doc.dump());
}

bool LogTailer::TakeEvents(std::chrono::milliseconds timeout) {
  if (!watcher_) {
    if (timeout.count() > 0) std::this_thread::sleep_for(timeout);
    return false;
  }
  const DirWatcher::Events ev = watcher_->Wait(timeout);
  tree_changed_ |= ev.tree_changed;
  return ev.written || ev.tree_changed;
}

void LogTailer::Discover() {
  std::set<std::string> seen;
  for (const auto& glob : opts_.globs) {
    // Watched before listing: a file made in between is in the listing or sends an event.
    if (watcher_) {
      for (const auto& dir : GlobDirectories(glob)) watcher_->Watch(dir);
    }
    auto paths = fs_->Glob(glob);
    if (!paths.ok()) continue;
    for (const auto& p : *paths) seen.insert(p);
  }
  bool record_new = false;
  for (const auto& p : seen) {
    if (followers_.count(p) > 0) continue;
    LogFollower::Options fo;
    fo.max_line_bytes = opts_.max_line_bytes;
    fo.rotate_wait = opts_.rotate_wait;
    Tailed t;
    t.follower = std::make_unique<LogFollower>(fs_, clock_, p, fo);
    if (auto it = saved_.find(p); it != saved_.end()) {
      // Resumed; if its file was rotated or copytruncated meanwhile, the follower's handover
      // sends Take to the rotated files first.
      t.safe = it->second;
      t.follower->Restore(it->second);
    } else {
      // A file seen for the first time is recorded at its start before anything is read: if
      // the agent dies before its first acknowledgement is saved and the file is rotated
      // meanwhile, the restart still knows the file and finishes it under its rotated name.
      if (auto info = fs_->Stat(p); info.ok()) {
        saved_[p] = FilePosition{info->device, info->inode, 0, 0};
        t.safe = saved_[p];
        record_new = true;
      }
    }
    LabelsBuilder b(PathLabels(p));
    for (const Label& l : opts_.static_labels) b.Set(l.name, l.value);
    for (const char* stream : {"stdout", "stderr"}) {
      b.Set("stream", stream);
      t.labels.emplace(stream, b.Build());
    }
    t.joiner = PartialJoiner(opts_.max_line_bytes);
    followers_.emplace(p, std::move(t));
  }
  // A path no glob matches any more (its pod's directory removed) is let go once it has been
  // gone for rotate_wait (not just between a rename and the new file) and its follower has read
  // the open file to its end; its saved position goes with it.
  const auto now = clock_->SteadyNow();
  for (auto it = followers_.begin(); it != followers_.end();) {
    Tailed& t = it->second;
    if (seen.count(it->first) > 0 || fs_->Stat(it->first).ok()) {
      t.missing_since.reset();
      ++it;
      continue;
    }
    if (!t.missing_since) t.missing_since = now;
    const bool drained = t.catchup.empty() && t.follower->Drained();
    if (drained && now - *t.missing_since >= opts_.rotate_wait) {
      saved_.erase(it->first);
      it = followers_.erase(it);
    } else {
      ++it;
    }
  }
  metrics_->files->Set(static_cast<double>(followers_.size()));
  metrics_->watched->Set(watcher_ ? static_cast<double>(watcher_->watched()) : 0);
  if (record_new) {
    if (Status st = SavePositions(); !st.ok()) {
      spdlog::error("agent: saving log positions to {}: {}", opts_.positions_file, st.ToString());
    }
  }
}

void LogTailer::CatchUp(const std::string& path, Tailed& t, const Handover* h) {
  LogFollower::Options fo;
  fo.max_line_bytes = opts_.max_line_bytes;
  fo.rotate_wait = opts_.rotate_wait;
  const auto siblings = RotatedSiblings(path);
  auto queue = [&](const std::string& s, uint64_t offset) {
    auto f = std::make_unique<LogFollower>(fs_, clock_, s, fo);
    if (offset > 0) {
      if (auto info = fs_->Stat(s); info.ok()) {
        f->Restore(FilePosition{info->device, info->inode, 0, offset});
      }
    }
    t.catchup.push_back(std::move(f));
    t.accounted.insert(s);
  };
  // The file the handover left: the newest that can be it.
  size_t k = siblings.size();
  if (h != nullptr) {
    for (size_t i = 0; i < siblings.size(); ++i) {
      if (LogFollower::Holds(*fs_, siblings[i], *h, fo.fingerprint_bytes)) k = i;
    }
    if (k == siblings.size() && h->replaced) {
      spdlog::warn(
          "agent: {} was truncated and no rotated copy of it is here: lines written after "
          "offset {} before the truncation, if any, are lost",
          path, h->from.offset);
    } else if (k == siblings.size()) {
      spdlog::warn(
          "agent: {} was rotated and its old file is gone (compressed or removed): its lines "
          "after offset {} are lost",
          path, h->from.offset);
    }
  }
  // The first look (a new path, or a restart): what was rotated before the followed file is
  // old.
  if (!t.reconciled) {
    for (size_t i = 0; i < std::min(k, siblings.size()); ++i) t.accounted.insert(siblings[i]);
    t.reconciled = true;
  }
  // Oldest first: the handover's file from its offset; every other name not seen before from
  // its start (content the follower never read: rotated, or copied before it read any), unless
  // it is the follower's own file renamed or a copy of what it is reading (its next handover
  // brings those).
  for (size_t i = 0; i < siblings.size(); ++i) {
    if (t.accounted.count(siblings[i]) > 0) continue;
    if (i == k) {
      queue(siblings[i], h->from.offset);
    } else if (!t.follower->IsOrCopies(siblings[i])) {
      queue(siblings[i], 0);
    }
  }
  // Names no longer there are forgotten (the kubelet removes the oldest).
  for (auto it = t.accounted.begin(); it != t.accounted.end();) {
    it = std::binary_search(siblings.begin(), siblings.end(), *it) ? std::next(it)
                                                                   : t.accounted.erase(it);
  }
}

size_t LogTailer::Take(const std::string& path, Tailed& t, std::map<Labels, loki::Stream>& streams,
                       size_t& bytes, bool recheck) {
  bool rechecked = false;
  Metrics& m = *metrics_;
  size_t lines = 0;
  while (bytes < opts_.batch_bytes) {
    // Catch-up files first, each to its end; then the path's current file.
    const bool catching_up = !t.catchup.empty();
    LogFollower& f = catching_up ? *t.catchup.front() : *t.follower;
    std::vector<FollowedLine> got;
    if (Status st = f.Poll(got, opts_.batch_bytes - bytes);
        !st.ok() || (catching_up && !f.is_open())) {
      if (!st.ok()) spdlog::warn("agent: reading {}: {}", f.path(), st.ToString());
      if (!catching_up) break;
      t.catchup.pop_front();  // gone meanwhile (or unreadable): the next one
      continue;
    }
    for (auto& fl : got) {
      if (!t.format) t.format = DetectFormat(fl.text);
      auto parsed = ParseLogLine(*t.format, fl.text);
      LogLine line;
      bool truncated = fl.cut;
      if (!parsed.ok()) {
        m.unparsed->Increment();
        line.ts_ns =
            std::chrono::duration_cast<std::chrono::nanoseconds>(clock_->Now().time_since_epoch())
                .count();
        line.stream = "stdout";
        line.message = fl.text;
      } else {
        bool cut = false;
        if (!t.joiner.Add(std::move(*parsed), line, cut)) continue;  // a partial, waiting
        truncated |= cut;
      }
      if (truncated) m.truncated->Increment();
      auto ls = t.labels.find(line.stream);
      if (ls == t.labels.end()) {  // a stream other than stdout and stderr: its set made once
        LabelsBuilder b(t.labels.begin()->second);
        b.Set("stream", line.stream);
        ls = t.labels.emplace(std::string(line.stream), b.Build()).first;
      }
      auto& s = streams[ls->second];
      if (s.entries.empty()) s.labels = ls->second;
      bytes += line.message.size();
      s.entries.push_back({line.ts_ns, ToValidUtf8(line.message), {}});
      ++lines;
      t.safe = fl.end;  // a whole line ends here: a restart may resume past it
    }
    if (!catching_up) {
      auto h = f.TakeHandover();
      if (h || !t.reconciled || (recheck && !rechecked)) {
        rechecked = true;
        CatchUp(path, t, h ? &*h : nullptr);
        if (!t.catchup.empty()) continue;  // the rotated files first, then this file again
      }
      break;
    }
    if (!t.catchup.front()->at_end()) break;  // more of it next round
    t.catchup.pop_front();
  }
  return lines;
}

std::vector<std::string> LogTailer::RotatedSiblings(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  const std::string base = path.substr(slash + 1) + ".";
  std::vector<std::string> out;
  auto names = fs_->ListDir(dir);
  if (!names.ok()) return out;
  for (const auto& n : *names) {
    if (!n.starts_with(base)) continue;
    if (n.ends_with(".gz") || n.ends_with(".zst") || n.ends_with(".bz2") || n.ends_with(".xz") ||
        n.ends_with(".tmp")) {
      continue;  // the kubelet's compressed old files are not read
    }
    out.push_back(dir + "/" + n);
  }
  std::sort(out.begin(), out.end());  // the kubelet's timestamps sort as time
  return out;
}

LogTailer::Batch LogTailer::ReadBatch() {
  TakeEvents(std::chrono::milliseconds(0));
  const auto every = watcher_ ? opts_.discover_every : opts_.discover_every / 10;
  const bool recheck =
      followers_.empty() || tree_changed_ || clock_->SteadyNow() - last_discover_ >= every;
  if (recheck) {
    last_discover_ = clock_->SteadyNow();
    tree_changed_ = false;
    Discover();
  }
  std::map<Labels, loki::Stream> streams;
  size_t bytes = 0;
  Batch b;
  for (auto& [path, t] : followers_) {
    if (bytes >= opts_.batch_bytes) break;
    b.lines += Take(path, t, streams, bytes, recheck);
    b.advanced[path] = t.safe;
  }
  if (b.lines == 0) return b;  // nothing new (or only a partial line waiting for its end)
  std::vector<loki::Stream> batch;
  for (auto& [labels, s] : streams) batch.push_back(std::move(s));
  b.body = loki::EncodePush(batch);
  return b;
}

void LogTailer::Delivered(const Batch& b, PushResult pushed) {
  if (pushed == PushResult::kAcknowledged) {
    metrics_->lines->Increment(static_cast<double>(b.lines));
  }
  for (const auto& [path, pos] : b.advanced) {
    if (followers_.count(path) > 0) saved_[path] = pos;  // (not a path let go meanwhile)
  }
  if (Status st = SavePositions(); !st.ok()) {
    spdlog::error("agent: saving log positions to {}: {}", opts_.positions_file, st.ToString());
  }
}

size_t LogTailer::RunOnce() {
  Batch b = ReadBatch();
  if (b.lines == 0) return 0;
  const PushResult pushed = Push(b.body, b.lines);
  if (pushed == PushResult::kStopped) return 0;  // not acknowledged: the positions stay
  Delivered(b, pushed);
  return b.lines;
}

LogTailer::PushResult LogTailer::Push(const std::string& body, size_t lines) {
  Metrics& m = *metrics_;
  std::chrono::milliseconds backoff{100};
  while (!stopping_) {
    auto r = client_->Post(opts_.push_url, std::string(loki::kProtobufContentType), body);
    if (r.ok() && r->status / 100 == 2) return PushResult::kAcknowledged;
    if (r.ok() && r->status / 100 == 4 && r->status != 429) {
      m.dropped->Increment(static_cast<double>(lines));
      spdlog::error("agent: {} refused {} log lines ({}): {}", opts_.push_url, lines, r->status,
                    r->body.substr(0, 512));
      return PushResult::kRefused;
    }
    m.retries->Increment();
    spdlog::warn("agent: log push to {} failed ({}); retrying in {} ms", opts_.push_url,
                 r.ok() ? "HTTP " + std::to_string(r->status) : r.status().ToString(),
                 backoff.count());
    for (auto waited = std::chrono::milliseconds(0); waited < backoff && !stopping_;
         waited += std::chrono::milliseconds(20)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    backoff = std::min(backoff * 2, opts_.max_backoff);
  }
  return PushResult::kStopped;
}

void LogTailer::Start() {
  // Pipelined: the next batch is read while the last one is being pushed; positions are still
  // saved in order, each once its batch is acknowledged.
  thread_ = std::thread([this] {
    std::future<PushResult> inflight;
    Batch sent;
    while (!stopping_) {
      Batch next = ReadBatch();
      if (inflight.valid()) {
        const PushResult pushed = inflight.get();
        if (pushed == PushResult::kStopped) return;  // not acknowledged: the positions stay
        Delivered(sent, pushed);
      }
      if (next.lines == 0) {
        // Idle: wait for a write or a new file (inotify), at most poll_interval.
        const auto slice = std::min(opts_.poll_interval, std::chrono::milliseconds(50));
        for (auto waited = std::chrono::milliseconds(0); waited < opts_.poll_interval && !stopping_;
             waited += slice) {
          if (TakeEvents(slice)) break;
        }
        continue;
      }
      sent = std::move(next);
      inflight =
          std::async(std::launch::async, [this, &sent] { return Push(sent.body, sent.lines); });
    }
    if (inflight.valid()) {
      const PushResult pushed = inflight.get();
      if (pushed != PushResult::kStopped) Delivered(sent, pushed);
    }
  });
}

void LogTailer::Stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

}  // namespace vigil::agent
