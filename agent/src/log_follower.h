#pragma once

// LogFollower: reads one log path line by line as it grows, through rotations, losing nothing:
// - rename-and-create: the renamed file (still open) is read to its end, and `rotate_wait`
//   after the path changed hands, the follower moves to the new file at offset 0;
// - copytruncate: the open file shrinking below the offset read restarts at 0;
// - inode reuse: a file is known by device, inode and a fingerprint of its first bytes; a file
//   at the same inode whose first bytes differ is a new file, read from 0.
// Each time the follower loses sight of lines it did not read, it says so with a Handover
// (TakeHandover) and returns before reading on, so its owner can read them first from the path's
// rotated files (LogTailer's catch-up):
// - it moved to the path's new file after a rename: files rotated in between were never open;
// - its file was truncated or rewritten: what was past the offset may be in a rotated copy;
// - a restored position names another file (rotated, or copytruncated, while the agent was
//   down).
//
// A line is handed out only once its newline is there (or once it reaches `max_line_bytes`, cut
// there). The position (device, inode, fingerprint, offset) is of the last line handed out; a
// saved position is resumed only when it still names the same file.
//
// Not thread-safe: one follower per path, polled by one thread.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "vigil/common/clock.h"
#include "vigil/common/file_system.h"

namespace vigil::agent {

struct FilePosition {
  uint64_t device = 0;
  uint64_t inode = 0;
  uint64_t fingerprint = 0;  // hash of the first fingerprint_bytes (0: the file was shorter)
  uint64_t offset = 0;
};

struct FollowedLine {
  std::string text;  // without its newline
  FilePosition end;  // the position just past this line
  bool cut = false;  // reached max_line_bytes without a newline
};

// Where a follower lost sight of a file: the position it had, and how to find that file among
// the rotated ones.
struct Handover {
  FilePosition from;
  // Renamed away (find it by device and inode), or its content was replaced in place (find the
  // copy: another file that starts with the same bytes and reaches from.offset).
  bool replaced = false;
  std::string head;  // the file's first bytes as last read (empty after a restart: use the hash)
};

class LogFollower {
 public:
  struct Options {
    size_t fingerprint_bytes = 256;
    size_t max_line_bytes = 256 << 10;
    std::chrono::milliseconds rotate_wait{5000};
  };
  LogFollower(std::shared_ptr<FileSystem> fs, std::shared_ptr<Clock> clock, std::string path,
              Options options);

  // Resumes at a saved position when the file at the path (or the one open) is the same file.
  void Restore(const FilePosition& saved);
  // Appends the complete lines that are new, at most about `max_bytes` of them. Counts what
  // happened (rotations, truncations) in the follower's counters.
  Status Poll(std::vector<FollowedLine>& out, size_t max_bytes);

  const std::string& path() const { return path_; }
  FilePosition position() const { return pos_; }
  uint64_t rotations() const { return rotations_; }
  uint64_t truncations() const { return truncations_; }
  // Whether the last Poll read the open file to its end with no line under way.
  bool at_end() const { return at_end_; }
  // Whether the open file has nothing past what was handed out, now (a fresh fstat).
  bool Drained();
  bool is_open() const { return file_ != nullptr; }
  // The last handover, once.
  std::optional<Handover> TakeHandover() {
    auto h = std::move(handover_);
    handover_.reset();
    return h;
  }
  // Whether the file at `path` can be where `h.from` went: for a rename, the same device and
  // inode; for a replaced file, a different file at least from.offset long that starts with the
  // same bytes.
  static bool Holds(FileSystem& fs, const std::string& path, const Handover& h,
                    size_t fingerprint_bytes);
  // Whether the file at `path` is the open file (renamed), or a copy of what it holds now (a
  // later copytruncate, or one still being copied): its lines come through this follower's own
  // handovers.
  bool IsOrCopies(const std::string& path) const;

 private:
  Status Open();
  // Reads the file's first bytes into head_; their hash, or 0 while the file is shorter.
  uint64_t Fingerprint(ReadableFile& f);

  std::shared_ptr<FileSystem> fs_;
  std::shared_ptr<Clock> clock_;
  std::string path_;
  Options opts_;
  std::unique_ptr<ReadableFile> file_;
  FilePosition pos_;
  std::optional<FilePosition> restore_;
  std::string head_;
  std::optional<Handover> handover_;
  std::optional<Clock::SteadyTime> rotated_at_;  // when the path stopped naming the open file
  uint64_t rotations_ = 0, truncations_ = 0;
  bool at_end_ = false;
};

}  // namespace vigil::agent
