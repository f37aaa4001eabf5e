#include "dir_watcher.h"

#include <glob.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>

namespace vigil::agent {

DirWatcher::DirWatcher() {
  fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd_ < 0) {
    spdlog::warn("agent: inotify is not available ({}); log files are found by polling only",
                 std::strerror(errno));
  }
}

DirWatcher::~DirWatcher() {
  if (fd_ >= 0) ::close(fd_);
}

bool DirWatcher::Watch(const std::string& dir) {
  if (fd_ < 0) return false;
  if (by_dir_.count(dir) > 0) return true;
  const int wd = inotify_add_watch(fd_, dir.c_str(),
                                   IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_MODIFY |
                                       IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR);
  if (wd < 0) {
    if (errno == ENOSPC && !limit_logged_) {
      limit_logged_ = true;
      spdlog::warn(
          "agent: the inotify watch limit is reached ({} watched; raise "
          "fs.inotify.max_user_watches); other log directories are found by polling only",
          by_dir_.size());
    }
    return false;
  }
  // The same directory under another name (a symlink) gives the same descriptor.
  if (auto it = by_wd_.find(wd); it != by_wd_.end()) by_dir_.erase(it->second);
  by_dir_[dir] = wd;
  by_wd_[wd] = dir;
  return true;
}

DirWatcher::Events DirWatcher::Wait(std::chrono::milliseconds timeout) {
  Events ev;
  if (fd_ < 0) {
    ::usleep(static_cast<useconds_t>(timeout.count()) * 1000);
    return ev;
  }
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return ev;
  alignas(inotify_event) char buf[16384];
  for (;;) {
    const ssize_t n = ::read(fd_, buf, sizeof(buf));
    if (n <= 0) break;
    for (ssize_t at = 0; at < n;) {
      const auto* e = reinterpret_cast<const inotify_event*>(buf + at);
      at += static_cast<ssize_t>(sizeof(inotify_event) + e->len);
      if (e->mask & IN_Q_OVERFLOW) ev.tree_changed = true;
      if (e->mask & IN_MODIFY) ev.written = true;
      if (e->mask &
          (IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF)) {
        ev.tree_changed = true;
      }
      if (e->mask & IN_IGNORED) {  // the directory is gone: its watch went with it
        if (auto it = by_wd_.find(e->wd); it != by_wd_.end()) {
          by_dir_.erase(it->second);
          by_wd_.erase(it);
        }
      }
    }
  }
  return ev;
}

std::vector<std::string> GlobDirectories(const std::string& glob) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= glob.size()) {
    const size_t slash = glob.find('/', start);
    parts.push_back(
        glob.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  auto has_wildcard = [](const std::string& s) {
    return s.find_first_of("*?[") != std::string::npos;
  };
  std::vector<std::string> out;
  std::string prefix;
  bool wild = false;
  // The last part names files; every part before it names directories.
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    prefix += (i == 0 ? "" : "/") + parts[i];
    wild |= has_wildcard(parts[i]);
    if (!wild) {
      // Before the first wildcard only the deepest fixed directory is watched.
      if (!has_wildcard(parts[i + 1]) && i + 2 < parts.size()) continue;
      out.push_back(prefix.empty() ? "/" : prefix);
      continue;
    }
    glob_t g{};
    if (::glob(prefix.c_str(), GLOB_ONLYDIR | GLOB_NOSORT, nullptr, &g) == 0) {
      for (size_t k = 0; k < g.gl_pathc; ++k) {
        struct stat st;
        if (::stat(g.gl_pathv[k], &st) == 0 && S_ISDIR(st.st_mode)) out.emplace_back(g.gl_pathv[k]);
      }
    }
    globfree(&g);
  }
  return out;
}

}  // namespace vigil::agent
