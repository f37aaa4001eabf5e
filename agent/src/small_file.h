#pragma once

// Reading the small files a collection pass is made of (cgroup, /proc), through the FileSystem
// seam into a buffer the caller reuses.
//
// ReadSmallFile opens, reads and closes. FileCache keeps the files open between passes and reads
// them again from offset 0: the kernel generates cgroup and /proc files (seq_file) anew at each
// read from 0, so a pass costs one pread a file instead of open, pread and close; path lookups
// of deep kubepods paths go too. A file of a cgroup or process that went away fails to read
// (ENODEV, ESRCH) or reads empty; it is then opened again once by path, which tells.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "vigil/common/file_system.h"

namespace vigil::agent {

// False when the file cannot be opened or read (it may have vanished): `buf` is then empty.
// At most `max_bytes` are read. A short read is taken as the end: these files hand out
// everything they have at once.
bool ReadSmallFile(FileSystem& fs, const std::string& path, std::string& buf, size_t max_bytes);
// The same from a file already open, from offset 0.
bool ReadAll(ReadableFile& file, std::string& buf, size_t max_bytes);

// Calls fn(line) for each line of `text` (without its "\n"), for the line-oriented files of
// /proc and cgroupfs.
template <typename Fn>
void ForEachLine(std::string_view text, Fn&& fn) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    fn(text.substr(pos, end - pos));
    pos = end + 1;
  }
}

// Files are kept in groups (a cgroup's, the node's), each looked up once per pass, and in slots
// the caller numbers within a group. Not thread-safe: one per collecting thread.
class FileCache {
 public:
  // A group lives in the cache (GroupFor) or with its owner (a cgroup the reader keeps); either
  // way its files count against the cache's budget until the group goes.
  class Group {
   public:
    Group() = default;
    Group(const Group&) = delete;
    Group& operator=(const Group&) = delete;
    ~Group();

   private:
    friend class FileCache;
    FileCache* cache = nullptr;                        // set when a file is first kept open
    std::vector<std::unique_ptr<ReadableFile>> files;  // by slot
    uint64_t pass = 0;
  };

  // Keeps at most `max_open` files open (beyond that, files are read by path each time).
  FileCache(std::shared_ptr<FileSystem> fs, size_t max_open);

  // The group of `key` (created empty), marked as used in this pass.
  Group& GroupFor(const std::string& key);
  // As ReadSmallFile, from the group's open file in `slot` when there is one. A slot stands for
  // one path: a caller that points it elsewhere calls Forget first.
  bool Read(Group& group, size_t slot, const std::string& path, std::string& buf, size_t max_bytes);
  void Forget(Group& group, size_t slot);
  // Closes the groups of GroupFor not used since the last EndPass (their cgroups are gone).
  void EndPass();

  size_t open_files() const { return open_; }

  // The open-file budget this process can afford: RLIMIT_NOFILE raised (to 2^20 where the
  // process may raise the hard limit, as root can up to fs.nr_open; else the soft one to the
  // hard), less a reserve for sockets and the rest.
  static size_t Budget();

 private:
  std::shared_ptr<FileSystem> fs_;
  size_t max_open_;
  size_t open_ = 0;
  uint64_t pass_ = 1;
  std::unordered_map<std::string, Group> groups_;
};

}  // namespace vigil::agent
