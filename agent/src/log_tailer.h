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
// Rotations while the agent is down: a saved position whose file is no longer at its path is
// looked for among the path's rotated names (the kubelet's 0.log.<time>); that file is finished
// from the position, then the ones rotated after it, then the current file from its start.
//
// Delivery, at-least-once: a batch is pushed (protobuf, snappy) and retried on 429, 5xx and
// connection errors with capped backoff until it is acknowledged; only then are the files'
// positions saved (`positions_file`, written atomically). Reading waits while a batch is
// unacknowledged, so a receiver that is down holds the lines in the files, not in memory. After
// a crash the lines of the last unacknowledged batch come again; nothing is skipped. A batch the
// receiver refuses with another 4xx is dropped, counted and logged.

#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dir_watcher.h"
#include "log_follower.h"
#include "log_line.h"
#include "vigil/common/clock.h"
#include "vigil/common/file_system.h"
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

 private:
  struct Tailed {
    std::unique_ptr<LogFollower> follower;
    // Rotated files to finish first, oldest first: after a restart, the file the saved position
    // names (now under a rotated name) and those rotated after it while the agent was down.
    std::deque<std::unique_ptr<LogFollower>> catchup;
    Labels labels;
    std::optional<LogFormat> format;
    PartialJoiner joiner{256 << 10};
    FilePosition safe;  // past the last line fully taken (not mid-partial)
  };
  void Discover();
  // Takes the watcher's events (waiting up to `timeout`); true if a file may have new lines.
  bool TakeEvents(std::chrono::milliseconds timeout);
  // Reads `t`'s lines into `streams` (catch-up files first); returns the lines taken.
  size_t Take(Tailed& t, std::map<Labels, loki::Stream>& streams, size_t& bytes);
  // The rotated names of `path` in its directory (0.log.20261130-055518, not the compressed
  // ones), oldest first.
  std::vector<std::string> RotatedSiblings(const std::string& path);
  void LoadPositions();
  Status SavePositions();
  // Pushes until acknowledged, refused with a 4xx (dropped, counted), or Stop.
  enum class PushResult { kAcknowledged, kRefused, kStopped };
  PushResult Push(const std::string& body, size_t lines);

  std::shared_ptr<FileSystem> fs_;
  std::shared_ptr<Clock> clock_;
  LogTailerOptions opts_;
  std::map<std::string, Tailed> followers_;  // by path
  std::map<std::string, FilePosition> saved_;
  Clock::SteadyTime last_discover_{};
  std::unique_ptr<DirWatcher> watcher_;  // null without inotify
  bool tree_changed_ = false;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace vigil::agent
