#pragma once

// FileSystem: the one seam for files (leveldb's Env, RocksDB's FileSystem). Production code
// opens, stats, renames and lists files only through it, so tests can rotate, truncate and
// reuse inodes deterministically with MemFileSystem.
//
// Semantics follow POSIX: an open ReadableFile keeps reading its inode after the path is renamed
// or removed; Rename atomically replaces the target; a removed file's inode number can be given
// to the next new file once nothing references it (what the log tailer must survive).
//
// Thread safety: FileSystem methods are safe from any thread. A ReadableFile or WritableFile is
// used by one thread at a time.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/common/clock.h"
#include "vigil/common/status.h"

namespace vigil {

struct FileInfo {
  uint64_t device = 0;
  uint64_t inode = 0;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  bool is_dir = false;
};

// A filesystem's capacity (statfs(2)): sizes in blocks of block_size bytes.
struct FsUsage {
  uint64_t block_size = 0;
  uint64_t blocks = 0, blocks_free = 0, blocks_available = 0;  // available: to unprivileged users
  uint64_t files = 0, files_free = 0;
};

class ReadableFile {
 public:
  virtual ~ReadableFile() = default;
  // Reads up to `n` bytes at `offset` into `buf`; returns the count, 0 at end of file.
  virtual Result<size_t> ReadAt(uint64_t offset, char* buf, size_t n) = 0;
  // The identity and size of the open inode (fstat), whatever its path is now.
  virtual Result<FileInfo> Stat() = 0;
  // For a mount table open from procfs (/proc/<pid>/mounts): whether the mount namespace
  // changed since the file was opened or this was last asked (poll(2)'s POLLPRI). nullopt when
  // the file cannot tell (any other file, a fixture): read it again to know.
  virtual std::optional<bool> MountTableChanged() { return std::nullopt; }
};

class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual Status Append(std::string_view data) = 0;
  // Makes everything appended durable (fdatasync).
  virtual Status Sync() = 0;
  virtual Status Close() = 0;
};

// Tells which directories had entries made or removed since it was last asked (inotify on the
// real filesystem), so a walker lists only those again. Not thread-safe.
class DirWatcher {
 public:
  virtual ~DirWatcher() = default;
  // Starts watching `path`. Watch before listing: what is made after the call is reported.
  virtual Status Watch(const std::string& path) = 0;
  // The watched directories changed since the last call, without blocking. `all` is set when
  // the kernel dropped events (its queue overflowed): then everything must be listed again.
  virtual Result<std::vector<std::string>> Changed(bool& all) = 0;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  virtual Result<std::unique_ptr<ReadableFile>> OpenForRead(const std::string& path) = 0;
  // Opens for appending, creating the file if absent. The parent directory must exist.
  virtual Result<std::unique_ptr<WritableFile>> OpenForAppend(const std::string& path) = 0;
  // Creates the file, or truncates it to 0 if present.
  virtual Result<std::unique_ptr<WritableFile>> Create(const std::string& path) = 0;

  virtual Result<FileInfo> Stat(const std::string& path) = 0;
  // Atomically moves `from` to `to`, replacing `to` if it exists.
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  virtual Status Remove(const std::string& path) = 0;
  virtual Status Truncate(const std::string& path, uint64_t size) = 0;
  // Creates `path` and its missing parents; OK if it exists as a directory.
  virtual Status CreateDirs(const std::string& path) = 0;
  // Names (not paths) of the entries of a directory, sorted.
  virtual Result<std::vector<std::string>> ListDir(const std::string& path) = 0;
  // The names of the directories in `path`, sorted. The default stats every entry; the real
  // filesystem reads the entry types readdir gives (a cgroup directory holds dozens of files).
  virtual Result<std::vector<std::string>> ListSubdirs(const std::string& path);
  // Paths matching a shell glob (`*`, `?`, `[...]`; `*` does not cross `/`), sorted.
  virtual Result<std::vector<std::string>> Glob(const std::string& pattern) = 0;
  // The capacity of the filesystem holding `path`. The default: Unimplemented (MemFileSystem).
  virtual Result<FsUsage> StatFs(const std::string& path);
  // A watcher of directory entries. The default: Unimplemented (callers list every time).
  virtual Result<std::unique_ptr<DirWatcher>> WatchDirectories();

  // Helpers built on the methods above.
  Result<std::string> ReadFile(const std::string& path, size_t max_bytes = 64 << 20);
  // Writes `path.tmp`, syncs it and renames it over `path`: readers see the old or new content.
  Status WriteFileAtomic(const std::string& path, std::string_view data);
  bool Exists(const std::string& path) { return Stat(path).ok(); }
};

// The operating system's filesystem.
std::shared_ptr<FileSystem> RealFileSystem();

// An in-memory filesystem with POSIX-like inodes, for tests. Paths are plain strings ("/a/b");
// "/" always exists. New inode numbers are the lowest ones no path or open file references, so
// remove-then-create reuses an inode as ext4 often does.
class MemFileSystem final : public FileSystem {
 public:
  explicit MemFileSystem(std::shared_ptr<Clock> clock = RealClock());
  ~MemFileSystem() override;

  Result<std::unique_ptr<ReadableFile>> OpenForRead(const std::string& path) override;
  Result<std::unique_ptr<WritableFile>> OpenForAppend(const std::string& path) override;
  Result<std::unique_ptr<WritableFile>> Create(const std::string& path) override;
  Result<FileInfo> Stat(const std::string& path) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status Remove(const std::string& path) override;
  Status Truncate(const std::string& path, uint64_t size) override;
  Status CreateDirs(const std::string& path) override;
  Result<std::vector<std::string>> ListDir(const std::string& path) override;
  Result<std::vector<std::string>> Glob(const std::string& pattern) override;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace vigil
