#pragma once

// DirWatcher: inotify on the directories a log glob can match files in, so the tailer finds a
// new pod's log file and new lines at once instead of at its next poll.
//
// Watching a directory reports what happens to the names in it: a file or directory created,
// moved in or out, removed (the tree changed: find files again), and a file in it written (read
// now). The tailer keeps polling too, more slowly: inotify has a per-user watch limit and can
// overflow, and a host path in a container may not deliver events (some network and overlay
// file systems); then polling alone finds everything, only later.

#include <chrono>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace vigil::agent {

class DirWatcher {
 public:
  DirWatcher();
  ~DirWatcher();
  DirWatcher(const DirWatcher&) = delete;
  DirWatcher& operator=(const DirWatcher&) = delete;

  // False when inotify is not available here (then Watch does nothing and Wait only waits).
  bool ok() const { return fd_ >= 0; }
  // Watches `dir` (again is a no-op). False if it could not (gone, or the watch limit reached:
  // logged once).
  bool Watch(const std::string& dir);
  size_t watched() const { return by_dir_.size(); }

  struct Events {
    bool tree_changed = false;  // names created, moved or removed, or the queue overflowed
    bool written = false;       // a file in a watched directory was written
  };
  // Waits up to `timeout` for events and returns what they say (nothing on timeout).
  Events Wait(std::chrono::milliseconds timeout);

 private:
  int fd_ = -1;
  std::unordered_map<std::string, int> by_dir_;
  std::unordered_map<int, std::string> by_wd_;
  bool limit_logged_ = false;
};

// The directories whose entries can hold what `glob` matches, now: the glob's fixed leading
// directory, and every directory each deeper prefix of the pattern matches
// ("/var/log/pods/*/*/*.log": /var/log/pods, /var/log/pods/*, /var/log/pods/*/*).
std::vector<std::string> GlobDirectories(const std::string& glob);

}  // namespace vigil::agent
