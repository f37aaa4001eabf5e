#pragma once

// LogTailer: the agent's log shipping to one Loki push URL (logship, or a real Loki).
//
// It follows the files of `globs`, each with a LogFollower
// (rotation, truncation, inode reuse), parses each line as CRI or docker json-file (decided per
// file by its first line; a line that is neither is shipped raw and counted), joins partial
// lines, and labels each line from the kubelet's path layout
// /var/log/pods/<namespace>_<pod>_<uid>/<container>/<n>.log: namespace, pod, pod_uid, container,
// stream, node, and the static labels.
//
// Finding files: inotify watches the directories the globs can match in (DirWatcher), so a new
// file is found, and new lines read, at once; the globs are also listed again every
// `discover_every` (ten times as often when inotify is off or unavailable), which finds what
// inotify cannot report (its watch limit reached, file systems that send no events).
//
// Catch-up: each path's rotated names (the kubelet's 0.log.<time>, sorted by name as time) are
// accounted for, each read once, before the path's current file goes on:
// - when a follower loses sight of a file (a Handover: it moved to the path's new file, its
//   file was copytruncated, or a saved position names a file rotated while the agent was down),
//   that file is found among them (by inode, or a copy by its first bytes) and finished from the
//   position; the names before it are old;
// - every name that appears after that (found when the directories change, or every
//   discover_every) is read from its start, unless it is the follower's own file renamed or a
//   copy of what the follower is reading, which its next handover brings.
// So rotations faster than the agent reads, copytruncate and restarts lose nothing while the
// rotated files are kept. At the first look at a path, the rotated files already there are old
// and not read (as a file found for the first time is read from its start, and no further back).
//
// Delivery, at-least-once: a batch is pushed (protobuf, snappy) and retried on 429, 5xx and
// connection errors with capped backoff until it is acknowledged; only then are the files'
// positions saved (`positions_file`, written atomically), in order. The thread reads the next
// batch while one is being pushed, and no further, so a receiver that is down holds the lines in
// the files, not in memory (two batches at most). After a crash the lines of the unacknowledged
// batches (the one in flight and the one read ahead, consecutive) come again; nothing is skipped.
// A batch the receiver refuses with another 4xx is dropped, counted and logged.

#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "dir_watcher.h"
#include "log_follower.h"
#include "log_line.h"
#include "vigil/common/clock.h"
#include "vigil/common/file_system.h"
#include "vigil/common/http_client.h"
#include "vigil/common/labels.h"
#include "vigil/common/loki_push.h"

namespace vigil::agent {

struct LogTailerOptions {
  std::vector<std::string> globs = {"/var/log/pods/*/*/*.log"};
  std::string push_url;
  std::string positions_file;
  Labels static_labels;  // node and the configured extra labels
  size_t batch_bytes = 1 << 20;
  size_t max_line_bytes = 256 << 10;
  std::chrono::milliseconds poll_interval{250};
  bool inotify = true;
  std::chrono::milliseconds discover_every{10000};  // 1/10 of it without inotify
  std::chrono::milliseconds rotate_wait{5000};
  std::chrono::milliseconds max_backoff{5000};
  std::chrono::milliseconds timeout{10000};
};

// The labels of a log file from its path (kubelet layouts), without stream and the static ones.
Labels PathLabels(const std::string& path);

class LogTailer {
 public:
  LogTailer(std::shared_ptr<FileSystem> fs, std::shared_ptr<Clock> clock, LogTailerOptions options);
  ~LogTailer();
  // Starts the tailing thread; Stop ends it after the batch under way (saved positions stand).
  void Start();
  void Stop();
  // One round: find files, read a batch, push it until acknowledged (or Stop), save positions.
  // Returns the lines pushed. For the thread and for tests.
  size_t RunOnce();
  size_t files() const { return followers_.size(); }

  // One batch read: its encoded push, its lines, and the positions past them per path.
  struct Batch {
    std::string body;
    size_t lines = 0;
    std::map<std::string, FilePosition> advanced;
  };
  // One round of reading without pushing: finds files when due, reads up to batch_bytes of
  // lines, encodes them. RunOnce and the thread push what it returns; the tailer benchmark
  // measures it alone.
  Batch ReadBatch();
  struct Metrics;  // the vigil_agent_log_* series of the push URL

 private:
  struct Tailed {
    std::unique_ptr<LogFollower> follower;
    // Rotated files to finish first, oldest first (see Catch-up above).
    std::deque<std::unique_ptr<LogFollower>> catchup;
    // The label set of each stream (stdout, stderr, any other met): path, static and stream
    // labels.
    std::map<std::string, Labels, std::less<>> labels;
    std::optional<LogFormat> format;
    PartialJoiner joiner{256 << 10};
    FilePosition safe;  // past the last line fully taken (not mid-partial)
    std::optional<Clock::SteadyTime> missing_since;  // when the path was first seen gone
    // Rotated names of the path already read, queued, or older than what is followed; and
    // whether they were looked at once (the first look accounts for what is there).
    std::set<std::string> accounted;
    bool reconciled = false;
  };
  void Discover();
  // Takes the watcher's events (waiting up to `timeout`); true if a file may have new lines.
  bool TakeEvents(std::chrono::milliseconds timeout);
  // Reads `t`'s lines into `streams` (catch-up files first); returns the lines taken.
  // `recheck`: the directories changed (or it is time to look again): rotated files are looked
  // for even without a handover.
  size_t Take(const std::string& path, Tailed& t, std::map<Labels, loki::Stream>& streams,
              size_t& bytes, bool recheck);
  // Queues the rotated files of `path` not yet accounted for (see Catch-up above): the one `h`
  // (if any) lost sight of, from its offset, and every one rotated since, from its start.
  void CatchUp(const std::string& path, Tailed& t, const Handover* h);
  // The rotated names of `path` in its directory (0.log.20261130-055518, not the compressed
  // ones), oldest first.
  std::vector<std::string> RotatedSiblings(const std::string& path);
  void LoadPositions();
  Status SavePositions();
  // Pushes until acknowledged, refused with a 4xx (dropped, counted), or Stop.
  enum class PushResult { kAcknowledged, kRefused, kStopped };
  PushResult Push(const std::string& body, size_t lines);
  // Counts an acknowledged (or refused, dropped) batch and saves the positions past it.
  void Delivered(const Batch& b, PushResult pushed);

  std::shared_ptr<FileSystem> fs_;
  std::shared_ptr<Clock> clock_;
  LogTailerOptions opts_;
  Metrics* metrics_;
  std::map<std::string, Tailed> followers_;  // by path
  std::map<std::string, FilePosition> saved_;
  Clock::SteadyTime last_discover_{};
  std::unique_ptr<DirWatcher> watcher_;       // null without inotify
  std::unique_ptr<http::HttpClient> client_;  // kept: one connection, reused
  bool tree_changed_ = false;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace vigil::agent
