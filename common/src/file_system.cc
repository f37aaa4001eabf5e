#include "vigil/common/file_system.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <linux/magic.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cstdio>

#include <dirent.h>
#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <map>
#include <mutex>

namespace vigil {

Result<std::string> FileSystem::ReadFile(const std::string& path, size_t max_bytes) {
  VIGIL_ASSIGN_OR_RETURN(auto file, OpenForRead(path));
  std::string out;
  char buf[64 * 1024];
  for (;;) {
    VIGIL_ASSIGN_OR_RETURN(size_t n, file->ReadAt(out.size(), buf, sizeof(buf)));
    if (n == 0) break;
    if (out.size() + n > max_bytes) {
      return OutOfRange(path + ": larger than " + std::to_string(max_bytes) + " bytes");
    }
    out.append(buf, n);
  }
  return out;
}

Result<std::unique_ptr<DirWatcher>> FileSystem::WatchDirectories() {
  return Status(StatusCode::kUnimplemented, "this filesystem cannot watch directories");
}

Result<FsUsage> FileSystem::StatFs(const std::string& path) {
  return Status(StatusCode::kUnimplemented, "statfs " + path + ": not on this filesystem");
}

Result<std::vector<std::string>> FileSystem::ListSubdirs(const std::string& path) {
  VIGIL_ASSIGN_OR_RETURN(auto names, ListDir(path));
  std::vector<std::string> dirs;
  for (std::string& n : names) {
    auto info = Stat(path + "/" + n);
    if (info.ok() && info->is_dir) dirs.push_back(std::move(n));
  }
  return dirs;
}

Status FileSystem::WriteFileAtomic(const std::string& path, std::string_view data) {
  const std::string tmp = path + ".tmp";
  VIGIL_ASSIGN_OR_RETURN(auto file, Create(tmp));
  VIGIL_RETURN_IF_ERROR(file->Append(data));
  VIGIL_RETURN_IF_ERROR(file->Sync());
  VIGIL_RETURN_IF_ERROR(file->Close());
  return Rename(tmp, path);
}

// ---------------------------------------------------------------------------------------------
// Real filesystem.

namespace {

FileInfo FromStat(const struct stat& st) {
  FileInfo info;
  info.device = st.st_dev;
  info.inode = st.st_ino;
  info.size = static_cast<uint64_t>(st.st_size);
  info.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  info.is_dir = S_ISDIR(st.st_mode);
  return info;
}

// The path is not kept: the agent holds some 16,000 of these open, and their paths (~200
// bytes each) were a fifth of its memory. Errors name the path the kernel has for the
// descriptor.
class PosixReadableFile final : public ReadableFile {
 public:
  explicit PosixReadableFile(int fd) : fd_(fd) {}
  ~PosixReadableFile() override { ::close(fd_); }

  Result<size_t> ReadAt(uint64_t offset, char* buf, size_t n) override {
    for (;;) {
      ssize_t r = ::pread(fd_, buf, n, static_cast<off_t>(offset));
      if (r >= 0) return static_cast<size_t>(r);
      if (errno != EINTR) return ErrnoStatus("read " + Path(), errno);
    }
  }

  Result<FileInfo> Stat() override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return ErrnoStatus("fstat " + Path(), errno);
    return FromStat(st);
  }

  std::optional<bool> MountTableChanged() override {
    if (!procfs_) {
      struct statfs fs;
      procfs_ = ::fstatfs(fd_, &fs) == 0 && fs.f_type == PROC_SUPER_MAGIC;
    }
    if (!*procfs_) return std::nullopt;
    pollfd p{fd_, POLLPRI, 0};
    if (::poll(&p, 1, 0) < 0) return std::nullopt;
    return (p.revents & (POLLERR | POLLPRI)) != 0;
  }

 private:
  // The descriptor's path, from /proc/self/fd (errors only).
  std::string Path() const {
    const int saved = errno;
    char link[64];
    std::snprintf(link, sizeof(link), "/proc/self/fd/%d", fd_);
    char target[4096];
    const ssize_t n = ::readlink(link, target, sizeof(target));
    errno = saved;
    return n > 0 ? std::string(target, static_cast<size_t>(n))
                 : "file descriptor " + std::to_string(fd_);
  }

  int fd_;
  std::optional<bool> procfs_;  // whether the file is on procfs, once asked
};

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  Status Append(std::string_view data) override {
    while (!data.empty()) {
      ssize_t w = ::write(fd_, data.data(), data.size());
      if (w < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus("write " + path_, errno);
      }
      data.remove_prefix(static_cast<size_t>(w));
    }
    return Status::Ok();
  }

  Status Sync() override {
    if (::fdatasync(fd_) != 0) return ErrnoStatus("fdatasync " + path_, errno);
    return Status::Ok();
  }

  Status Close() override {
    if (fd_ < 0) return Status::Ok();
    int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) return ErrnoStatus("close " + path_, errno);
    return Status::Ok();
  }

 private:
  int fd_;
  std::string path_;
};

class InotifyWatcher final : public DirWatcher {
 public:
  explicit InotifyWatcher(int fd) : fd_(fd) {}
  ~InotifyWatcher() override { ::close(fd_); }

  Status Watch(const std::string& path) override {
    const int wd = ::inotify_add_watch(
        fd_, path.c_str(), IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ONLYDIR);
    if (wd < 0) return ErrnoStatus("inotify_add_watch " + path, errno);
    paths_[wd] = path;
    return Status::Ok();
  }

  Result<std::vector<std::string>> Changed(bool& all) override {
    all = false;
    std::vector<std::string> out;
    alignas(inotify_event) char buf[16384];
    for (;;) {
      const ssize_t n = ::read(fd_, buf, sizeof(buf));
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        if (errno == EINTR) continue;
        return ErrnoStatus("inotify read", errno);
      }
      if (n == 0) break;
      for (ssize_t i = 0; i < n;) {
        const auto* ev = reinterpret_cast<const inotify_event*>(buf + i);
        i += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
        if (ev->mask & IN_Q_OVERFLOW) all = true;
        auto it = paths_.find(ev->wd);
        if (it == paths_.end()) continue;
        out.push_back(it->second);
        if (ev->mask & IN_IGNORED) paths_.erase(it);  // the directory is gone
      }
    }
    return out;
  }

 private:
  int fd_;
  std::map<int, std::string> paths_;
};

class PosixFileSystem final : public FileSystem {
 public:
  Result<std::unique_ptr<ReadableFile>> OpenForRead(const std::string& path) override {
    // Reads leave the access time alone where allowed (the file's owner, or CAP_FOWNER): the
    // agent reads thousands of files a pass and tails logs; updating their atime is waste.
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOATIME);
    if (fd < 0 && errno == EPERM) fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus("open " + path, errno);
    return std::unique_ptr<ReadableFile>(new PosixReadableFile(fd));
  }

  Result<std::unique_ptr<WritableFile>> OpenForAppend(const std::string& path) override {
    return OpenWrite(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC);
  }

  Result<std::unique_ptr<WritableFile>> Create(const std::string& path) override {
    return OpenWrite(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC);
  }

  Result<FileInfo> Stat(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return ErrnoStatus("stat " + path, errno);
    return FromStat(st);
  }

  Result<std::unique_ptr<DirWatcher>> WatchDirectories() override {
    const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) return ErrnoStatus("inotify_init1", errno);
    return std::unique_ptr<DirWatcher>(new InotifyWatcher(fd));
  }

  Result<FsUsage> StatFs(const std::string& path) override {
    struct statfs st;
    if (::statfs(path.c_str(), &st) != 0) return ErrnoStatus("statfs " + path, errno);
    FsUsage u;
    u.block_size = static_cast<uint64_t>(st.f_bsize);
    u.blocks = st.f_blocks;
    u.blocks_free = st.f_bfree;
    u.blocks_available = st.f_bavail;
    u.files = st.f_files;
    u.files_free = st.f_ffree;
    return u;
  }

  Status Rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return ErrnoStatus("rename " + from + " to " + to, errno);
    }
    return Status::Ok();
  }

  Status Remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) {
      if (errno == EISDIR && ::rmdir(path.c_str()) == 0) return Status::Ok();
      return ErrnoStatus("remove " + path, errno);
    }
    return Status::Ok();
  }

  Status Truncate(const std::string& path, uint64_t size) override {
    if (::truncate(path.c_str(), static_cast<off_t>(size)) != 0) {
      return ErrnoStatus("truncate " + path, errno);
    }
    return Status::Ok();
  }

  Status CreateDirs(const std::string& path) override {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec) return IOError("create directories " + path + ": " + ec.message());
    return Status::Ok();
  }

  Result<std::vector<std::string>> ListDir(const std::string& path) override {
    return ReadDir(path, /*dirs_only=*/false);
  }

  Result<std::vector<std::string>> ListSubdirs(const std::string& path) override {
    return ReadDir(path, /*dirs_only=*/true);
  }

  // Entry names, sorted; with dirs_only, the directories by the types readdir gives (a stat
  // only where the filesystem gives none).
  static Result<std::vector<std::string>> ReadDir(const std::string& path, bool dirs_only) {
    DIR* dir = ::opendir(path.c_str());
    if (dir == nullptr) return ErrnoStatus("list " + path, errno);
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(dir)) {
      std::string_view name(e->d_name);
      if (name == "." || name == "..") continue;
      if (dirs_only) {
        bool is_dir = e->d_type == DT_DIR;
        if (e->d_type == DT_UNKNOWN) {
          struct stat st {};
          is_dir = ::fstatat(::dirfd(dir), e->d_name, &st, 0) == 0 && S_ISDIR(st.st_mode);
        }
        if (!is_dir) continue;
      }
      names.emplace_back(name);
    }
    ::closedir(dir);
    std::sort(names.begin(), names.end());
    return names;
  }

  Result<std::vector<std::string>> Glob(const std::string& pattern) override {
    glob_t g{};
    int rc = ::glob(pattern.c_str(), 0, nullptr, &g);
    std::vector<std::string> out;
    if (rc == 0) {
      for (size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
    }
    ::globfree(&g);
    if (rc != 0 && rc != GLOB_NOMATCH) return IOError("glob " + pattern + " failed");
    return out;
  }

 private:
  Result<std::unique_ptr<WritableFile>> OpenWrite(const std::string& path, int flags) {
    int fd = ::open(path.c_str(), flags, 0644);
    if (fd < 0) return ErrnoStatus("open " + path, errno);
    return std::unique_ptr<WritableFile>(new PosixWritableFile(fd, path));
  }
};

}  // namespace

std::shared_ptr<FileSystem> RealFileSystem() {
  static const std::shared_ptr<FileSystem> fs = std::make_shared<PosixFileSystem>();
  return fs;
}

// ---------------------------------------------------------------------------------------------
// In-memory filesystem.

namespace {

constexpr uint64_t kMemDevice = 0x6d656d;  // "mem"

struct Inode {
  uint64_t ino = 0;
  bool is_dir = false;
  std::string data;
  int64_t mtime_ns = 0;
};

std::string Parent(const std::string& path) {
  auto pos = path.find_last_of('/');
  if (pos == std::string::npos) return ".";
  if (pos == 0) return "/";
  return path.substr(0, pos);
}

}  // namespace

struct MemFileSystem::State {
  std::shared_ptr<Clock> clock;
  std::mutex mu;
  std::map<std::string, std::shared_ptr<Inode>> paths;
  // Every inode number handed out, for reuse once nothing holds it.
  std::map<uint64_t, std::weak_ptr<Inode>> inodes;

  int64_t NowNs() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(clock->Now().time_since_epoch())
        .count();
  }

  std::shared_ptr<Inode> NewInode(bool is_dir) {
    auto inode = std::make_shared<Inode>();
    uint64_t ino = 2;  // like ext4, the first usable number
    for (auto& [n, weak] : inodes) {
      if (n != ino) break;
      if (weak.expired()) break;
      ++ino;
    }
    inode->ino = ino;
    inode->is_dir = is_dir;
    inode->mtime_ns = NowNs();
    inodes[ino] = inode;
    return inode;
  }

  // An entry of `path`'s directory came or went: its mtime moves, as on a real filesystem, and
  // always forward (a manual clock may stand still).
  void DirChanged(const std::string& path) {
    auto it = paths.find(Parent(path));
    if (it == paths.end()) return;
    it->second->mtime_ns = std::max(NowNs(), it->second->mtime_ns + 1);
  }

  bool IsDir(const std::string& path) {
    auto it = paths.find(path);
    return it != paths.end() && it->second->is_dir;
  }

  Status CheckParent(const std::string& path) {
    if (!IsDir(Parent(path))) return NotFound("open " + path + ": No such file or directory");
    return Status::Ok();
  }

  // Opens `path` for writing, creating it in an existing directory; `truncate` empties it.
  Result<std::unique_ptr<WritableFile>> OpenWritable(const std::shared_ptr<State>& self,
                                                     const std::string& path, bool truncate);
};

namespace {

class MemReadableFile final : public ReadableFile {
 public:
  MemReadableFile(std::shared_ptr<MemFileSystem::State> state, std::shared_ptr<Inode> inode)
      : state_(std::move(state)), inode_(std::move(inode)) {}

  Result<size_t> ReadAt(uint64_t offset, char* buf, size_t n) override {
    std::lock_guard lock(state_->mu);
    if (offset >= inode_->data.size()) return size_t{0};
    size_t count = std::min<size_t>(n, inode_->data.size() - offset);
    std::copy_n(inode_->data.data() + offset, count, buf);
    return count;
  }

  Result<FileInfo> Stat() override {
    std::lock_guard lock(state_->mu);
    return FileInfo{kMemDevice, inode_->ino, inode_->data.size(), inode_->mtime_ns, inode_->is_dir};
  }

 private:
  std::shared_ptr<MemFileSystem::State> state_;
  std::shared_ptr<Inode> inode_;
};

class MemWritableFile final : public WritableFile {
 public:
  MemWritableFile(std::shared_ptr<MemFileSystem::State> state, std::shared_ptr<Inode> inode)
      : state_(std::move(state)), inode_(std::move(inode)) {}

  Status Append(std::string_view data) override {
    std::lock_guard lock(state_->mu);
    if (!inode_) return IOError("append to a closed file");
    inode_->data.append(data);
    inode_->mtime_ns = state_->NowNs();
    return Status::Ok();
  }
  Status Sync() override { return Status::Ok(); }
  Status Close() override {
    std::lock_guard lock(state_->mu);
    inode_.reset();
    return Status::Ok();
  }

 private:
  std::shared_ptr<MemFileSystem::State> state_;
  std::shared_ptr<Inode> inode_;
};

}  // namespace

Result<std::unique_ptr<WritableFile>> MemFileSystem::State::OpenWritable(
    const std::shared_ptr<State>& self, const std::string& path, bool truncate) {
  std::lock_guard lock(mu);
  auto it = paths.find(path);
  if (it == paths.end()) {
    VIGIL_RETURN_IF_ERROR(CheckParent(path));
    it = paths.emplace(path, NewInode(false)).first;
    DirChanged(path);
  }
  if (it->second->is_dir) return IOError("open " + path + ": Is a directory");
  if (truncate) {
    it->second->data.clear();
    it->second->mtime_ns = NowNs();
  }
  return std::unique_ptr<WritableFile>(new MemWritableFile(self, it->second));
}

MemFileSystem::MemFileSystem(std::shared_ptr<Clock> clock) : state_(std::make_shared<State>()) {
  state_->clock = std::move(clock);
  state_->paths["/"] = state_->NewInode(true);
}

MemFileSystem::~MemFileSystem() = default;

Result<std::unique_ptr<ReadableFile>> MemFileSystem::OpenForRead(const std::string& path) {
  std::lock_guard lock(state_->mu);
  auto it = state_->paths.find(path);
  if (it == state_->paths.end()) return NotFound("open " + path + ": No such file or directory");
  return std::unique_ptr<ReadableFile>(new MemReadableFile(state_, it->second));
}

Result<std::unique_ptr<WritableFile>> MemFileSystem::OpenForAppend(const std::string& path) {
  return state_->OpenWritable(state_, path, /*truncate=*/false);
}

Result<std::unique_ptr<WritableFile>> MemFileSystem::Create(const std::string& path) {
  return state_->OpenWritable(state_, path, /*truncate=*/true);
}

Result<FileInfo> MemFileSystem::Stat(const std::string& path) {
  std::lock_guard lock(state_->mu);
  auto it = state_->paths.find(path);
  if (it == state_->paths.end()) return NotFound("stat " + path + ": No such file or directory");
  const Inode& n = *it->second;
  return FileInfo{kMemDevice, n.ino, n.data.size(), n.mtime_ns, n.is_dir};
}

Status MemFileSystem::Rename(const std::string& from, const std::string& to) {
  std::lock_guard lock(state_->mu);
  auto it = state_->paths.find(from);
  if (it == state_->paths.end()) {
    return NotFound("rename " + from + ": No such file or directory");
  }
  if (it->second->is_dir) return Unimplemented("rename of directories in MemFileSystem");
  VIGIL_RETURN_IF_ERROR(state_->CheckParent(to));
  if (state_->IsDir(to)) return IOError("rename " + from + " to " + to + ": Is a directory");
  auto inode = it->second;
  state_->paths.erase(it);
  state_->DirChanged(from);
  state_->paths[to] = std::move(inode);
  state_->DirChanged(to);
  return Status::Ok();
}

Status MemFileSystem::Remove(const std::string& path) {
  std::lock_guard lock(state_->mu);
  auto it = state_->paths.find(path);
  if (it == state_->paths.end()) return NotFound("remove " + path + ": No such file or directory");
  if (it->second->is_dir) {
    const std::string prefix = path == "/" ? "/" : path + "/";
    auto child = state_->paths.lower_bound(prefix);
    if (child != state_->paths.end() && child->first.starts_with(prefix)) {
      return IOError("remove " + path + ": Directory not empty");
    }
  }
  state_->paths.erase(it);
  state_->DirChanged(path);
  return Status::Ok();
}

Status MemFileSystem::Truncate(const std::string& path, uint64_t size) {
  std::lock_guard lock(state_->mu);
  auto it = state_->paths.find(path);
  if (it == state_->paths.end()) {
    return NotFound("truncate " + path + ": No such file or directory");
  }
  it->second->data.resize(size, '\0');
  it->second->mtime_ns = state_->NowNs();
  return Status::Ok();
}

Status MemFileSystem::CreateDirs(const std::string& path) {
  std::lock_guard lock(state_->mu);
  std::vector<std::string> chain;
  for (std::string p = path; p != "/" && p != "." && !p.empty(); p = Parent(p)) {
    chain.push_back(p);
  }
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    auto found = state_->paths.find(*it);
    if (found == state_->paths.end()) {
      state_->paths.emplace(*it, state_->NewInode(true));
      state_->DirChanged(*it);
    } else if (!found->second->is_dir) {
      return IOError("create directories " + path + ": " + *it + " is a file");
    }
  }
  return Status::Ok();
}

Result<std::vector<std::string>> MemFileSystem::ListDir(const std::string& path) {
  std::lock_guard lock(state_->mu);
  if (!state_->IsDir(path)) return NotFound("list " + path + ": No such directory");
  const std::string prefix = path == "/" ? "/" : path + "/";
  std::vector<std::string> names;
  for (auto it = state_->paths.lower_bound(prefix);
       it != state_->paths.end() && it->first.starts_with(prefix); ++it) {
    std::string_view rest = std::string_view(it->first).substr(prefix.size());
    if (!rest.empty() && rest.find('/') == std::string_view::npos) names.emplace_back(rest);
  }
  return names;
}

Result<std::vector<std::string>> MemFileSystem::Glob(const std::string& pattern) {
  std::lock_guard lock(state_->mu);
  std::vector<std::string> out;
  for (const auto& [path, inode] : state_->paths) {
    if (::fnmatch(pattern.c_str(), path.c_str(), FNM_PATHNAME | FNM_PERIOD) == 0) {
      out.push_back(path);
    }
  }
  return out;
}

}  // namespace vigil
