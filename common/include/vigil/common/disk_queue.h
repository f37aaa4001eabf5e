#pragma once

// DiskQueue: a bounded, durable FIFO of records on disk with one cursor per reader, the form of
// the agent's remote_write queue (one reader per URL) and of logship's spool (one per sink).
//
// Records are appended to segment files named by the sequence number of their first record
// (`00000000000000000042.seg`); each record is framed as [u32 length][u32 crc32][bytes]. A reader
// reads from its cursor and commits how far it got; the cursor is saved on disk (`<name>.cursor`,
// written atomically), so after a crash a reader resumes from its last commit and sees again only
// what it had not committed (at-least-once). A segment every reader has passed is removed.
//
// The bound: when an append would take the queue past `max_bytes`, the oldest segments are
// removed until it fits, and the records a reader had not read yet are reported to `on_drop`
// (counted and logged by the owner, never silent). A torn record at the end of the newest segment
// (a crash mid-append) is cut off at open.
//
// Thread safety: all methods may be called from any thread; one mutex guards the state. Wait()
// blocks without it.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/common/file_system.h"
#include "vigil/common/status.h"

namespace vigil {

struct DiskQueueOptions {
  uint64_t max_bytes = 1ULL << 30;      // all segments together
  uint64_t segment_bytes = 8ULL << 20;  // a segment is closed once it is this large
  uint32_t max_record_bytes = 64U << 20;
  bool sync = true;  // fdatasync after each append (what makes an append durable)
  // Called (under the queue's lock) for each record dropped unread past max_bytes, once per
  // reader that had not read it.
  std::function<void(size_t reader, std::string_view record)> on_drop;
};

class DiskQueue {
 public:
  struct Record {
    uint64_t seq = 0;
    std::string data;
  };

  // Opens (creating `dir` if needed) with the named readers. A reader without a saved cursor
  // starts at the end of what is there (it gets what is appended from now on); cursors of names
  // no longer listed are removed and no longer hold segments.
  static Result<std::unique_ptr<DiskQueue>> Open(std::shared_ptr<FileSystem> fs, std::string dir,
                                                 std::vector<std::string> readers,
                                                 DiskQueueOptions options = {});
  ~DiskQueue();

  // Appends one record (durably when options.sync). Returns its sequence number. InvalidArgument
  // for a record over max_record_bytes.
  Result<uint64_t> Append(std::string_view record);

  // Up to `max_records` records from the reader's cursor, and more only while their total stays
  // within `max_bytes` (at least one record is returned when any is there). Reading does not move
  // the cursor; Commit does. Reading again without a commit reads past what was read before, so
  // a reader keeps its own position between reads: pass `from` = the seq after the last record it
  // has (0: from the cursor).
  Result<std::vector<Record>> Read(size_t reader, uint64_t from, size_t max_records,
                                   size_t max_bytes);
  // Saves that the reader is done with every record before `next_seq`.
  Status Commit(size_t reader, uint64_t next_seq);
  // Waits until a record at or after `from` exists, Close() is called or `timeout` passes.
  // True when a record is there.
  bool Wait(uint64_t from, std::chrono::milliseconds timeout);
  // Wakes every Wait(); later Waits return at once.
  void Close();

  uint64_t next_seq() const;              // the seq the next Append gets
  uint64_t cursor(size_t reader) const;   // the reader's committed position
  uint64_t bytes() const;                 // on disk, all segments
  uint64_t dropped(size_t reader) const;  // records dropped unread, since open

 private:
  struct Segment {
    uint64_t first_seq = 0;
    uint64_t bytes = 0;
  };
  DiskQueue(std::shared_ptr<FileSystem> fs, std::string dir, DiskQueueOptions options);
  Status Recover(const std::vector<std::string>& readers);
  std::string SegmentPath(uint64_t first_seq) const;
  std::string CursorPath(const std::string& reader) const;
  Status SaveCursor(size_t reader);
  Status StartSegment();
  Status DropOldestLocked();
  Status RemoveConsumedLocked();
  struct Frame {
    uint64_t offset;
    uint32_t length;
  };
  // Scans a segment: the records' offsets and lengths, stopping at the first bad frame.
  Result<std::vector<Frame>> ScanSegment(const Segment& seg, uint64_t* valid_bytes);
  Status ReadFrame(ReadableFile& file, const Frame& frame, std::string& out);

  std::shared_ptr<FileSystem> fs_;
  std::string dir_;
  DiskQueueOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool closed_ = false;
  std::vector<Segment> segments_;  // oldest first; the last one is being appended to
  // The frames of every segment, kept in memory so a read finds a record without scanning: 12
  // bytes a record, a few thousand records for a full queue of remote_write batches.
  std::vector<std::vector<Frame>> frames_;
  std::unique_ptr<WritableFile> active_;
  uint64_t next_seq_ = 0;
  uint64_t total_bytes_ = 0;
  std::vector<std::string> reader_names_;
  std::vector<uint64_t> cursors_;
  std::vector<uint64_t> dropped_;
};

}  // namespace vigil
