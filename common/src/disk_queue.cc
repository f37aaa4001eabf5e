#include "vigil/common/disk_queue.h"

#include <spdlog/spdlog.h>
#include <zlib.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace vigil {
namespace {

constexpr size_t kFrameHeader = 8;
constexpr std::string_view kSegmentSuffix = ".seg";
constexpr std::string_view kCursorSuffix = ".cursor";

uint32_t Crc(std::string_view data) {
  return static_cast<uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size())));
}

void PutU32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}

uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v |= static_cast<uint32_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

bool ParseU64(std::string_view s, uint64_t& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() > suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// A reader name as a file name: anything but [A-Za-z0-9_.-] becomes '_'.
std::string FileSafe(std::string_view name) {
  std::string out(name);
  for (char& c : out) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') c = '_';
  }
  return out;
}

}  // namespace

DiskQueue::DiskQueue(std::shared_ptr<FileSystem> fs, std::string dir, DiskQueueOptions options)
    : fs_(std::move(fs)), dir_(std::move(dir)), options_(std::move(options)) {}

DiskQueue::~DiskQueue() {
  Close();
  if (active_) (void)active_->Close();
}

Result<std::unique_ptr<DiskQueue>> DiskQueue::Open(std::shared_ptr<FileSystem> fs, std::string dir,
                                                   std::vector<std::string> readers,
                                                   DiskQueueOptions options) {
  if (options.segment_bytes == 0 || options.max_bytes < options.segment_bytes) {
    return Status(StatusCode::kInvalidArgument, "disk queue " + dir +
                                                    ": max_bytes must be at least segment_bytes (" +
                                                    std::to_string(options.segment_bytes) + ")");
  }
  std::unique_ptr<DiskQueue> q(new DiskQueue(std::move(fs), std::move(dir), std::move(options)));
  VIGIL_RETURN_IF_ERROR(q->Recover(readers).WithContext("disk queue " + q->dir_));
  return q;
}

std::string DiskQueue::SegmentPath(uint64_t first_seq) const {
  char name[32];
  std::snprintf(name, sizeof(name), "%020llu", static_cast<unsigned long long>(first_seq));
  return dir_ + "/" + name + std::string(kSegmentSuffix);
}

std::string DiskQueue::CursorPath(const std::string& reader) const {
  return dir_ + "/" + FileSafe(reader) + std::string(kCursorSuffix);
}

Result<std::vector<DiskQueue::Frame>> DiskQueue::ScanSegment(const Segment& seg,
                                                             uint64_t* valid_bytes) {
  std::vector<Frame> frames;
  VIGIL_ASSIGN_OR_RETURN(auto file, fs_->OpenForRead(SegmentPath(seg.first_seq)));
  VIGIL_ASSIGN_OR_RETURN(FileInfo info, file->Stat());
  uint64_t off = 0;
  std::string data;
  while (off + kFrameHeader <= info.size) {
    char header[kFrameHeader];
    VIGIL_ASSIGN_OR_RETURN(size_t n, file->ReadAt(off, header, kFrameHeader));
    if (n != kFrameHeader) break;
    const uint32_t length = GetU32(header);
    if (length > options_.max_record_bytes || off + kFrameHeader + length > info.size) break;
    Frame frame{off, length};
    if (!ReadFrame(*file, frame, data).ok()) break;
    frames.push_back(frame);
    off += kFrameHeader + length;
  }
  *valid_bytes = off;
  return frames;
}

Status DiskQueue::ReadFrame(ReadableFile& file, const Frame& frame, std::string& out) {
  char header[kFrameHeader];
  VIGIL_ASSIGN_OR_RETURN(size_t n, file.ReadAt(frame.offset, header, kFrameHeader));
  if (n != kFrameHeader || GetU32(header) != frame.length) {
    return Status(StatusCode::kCorruption,
                  "record header at offset " + std::to_string(frame.offset) + " changed");
  }
  out.resize(frame.length);
  size_t got = 0;
  while (got < frame.length) {
    VIGIL_ASSIGN_OR_RETURN(size_t m, file.ReadAt(frame.offset + kFrameHeader + got,
                                                 out.data() + got, frame.length - got));
    if (m == 0) break;
    got += m;
  }
  if (got != frame.length || Crc(out) != GetU32(header + 4)) {
    return Status(StatusCode::kCorruption,
                  "record at offset " + std::to_string(frame.offset) + " fails its checksum");
  }
  return Status::Ok();
}

Status DiskQueue::Recover(const std::vector<std::string>& readers) {
  VIGIL_RETURN_IF_ERROR(fs_->CreateDirs(dir_));
  VIGIL_ASSIGN_OR_RETURN(auto names, fs_->ListDir(dir_));
  std::vector<uint64_t> firsts;
  std::vector<std::string> cursor_files;
  for (const auto& name : names) {
    uint64_t first = 0;
    if (EndsWith(name, kSegmentSuffix) &&
        ParseU64(std::string_view(name).substr(0, name.size() - kSegmentSuffix.size()), first)) {
      firsts.push_back(first);
    } else if (EndsWith(name, kCursorSuffix)) {
      cursor_files.push_back(name);
    }
  }
  std::sort(firsts.begin(), firsts.end());
  // Every segment but the newest was complete when the next one was started; the newest may end
  // in a torn record, cut off here.
  for (size_t i = 0; i < firsts.size(); ++i) {
    Segment seg{firsts[i], 0};
    uint64_t valid = 0;
    VIGIL_ASSIGN_OR_RETURN(auto frames, ScanSegment(seg, &valid));
    const bool last = i + 1 == firsts.size();
    const uint64_t expected_next = last ? seg.first_seq + frames.size() : firsts[i + 1];
    if (seg.first_seq + frames.size() != expected_next) {
      return Status(StatusCode::kCorruption, SegmentPath(seg.first_seq) + " holds " +
                                                 std::to_string(frames.size()) +
                                                 " valid records, the next segment starts at " +
                                                 std::to_string(expected_next));
    }
    VIGIL_ASSIGN_OR_RETURN(FileInfo info, fs_->Stat(SegmentPath(seg.first_seq)));
    if (last && valid != info.size) {
      spdlog::warn("disk queue {}: cutting a torn record off {} at offset {} (of {} bytes)", dir_,
                   SegmentPath(seg.first_seq), valid, info.size);
      VIGIL_RETURN_IF_ERROR(fs_->Truncate(SegmentPath(seg.first_seq), valid));
    }
    seg.bytes = valid;
    segments_.push_back(seg);
    frames_.push_back(std::move(frames));
    total_bytes_ += valid;
  }
  next_seq_ = segments_.empty() ? 0 : segments_.back().first_seq + frames_.back().size();
  const uint64_t oldest = segments_.empty() ? next_seq_ : segments_.front().first_seq;

  reader_names_ = readers;
  cursors_.assign(readers.size(), next_seq_);
  dropped_.assign(readers.size(), 0);
  for (size_t r = 0; r < readers.size(); ++r) {
    const std::string path = CursorPath(readers[r]);
    auto text = fs_->ReadFile(path, 64);
    uint64_t seq = 0;
    if (text.ok() && ParseU64(*text, seq)) {
      cursors_[r] = std::clamp(seq, oldest, next_seq_);
    } else {
      if (text.ok()) spdlog::warn("disk queue {}: ignoring unreadable cursor {}", dir_, path);
      VIGIL_RETURN_IF_ERROR(SaveCursor(r));
    }
  }
  for (const auto& name : cursor_files) {
    bool known = false;
    for (const auto& r : readers) known = known || FileSafe(r) + std::string(kCursorSuffix) == name;
    if (!known) {
      spdlog::info("disk queue {}: removing the cursor of a reader no longer configured: {}", dir_,
                   name);
      (void)fs_->Remove(dir_ + "/" + name);
    }
  }
  VIGIL_RETURN_IF_ERROR(RemoveConsumedLocked());
  if (segments_.empty()) return StartSegment();
  VIGIL_ASSIGN_OR_RETURN(active_, fs_->OpenForAppend(SegmentPath(segments_.back().first_seq)));
  return Status::Ok();
}

Status DiskQueue::StartSegment() {
  if (active_) VIGIL_RETURN_IF_ERROR(active_->Close());
  active_.reset();
  VIGIL_ASSIGN_OR_RETURN(active_, fs_->Create(SegmentPath(next_seq_)));
  segments_.push_back({next_seq_, 0});
  frames_.emplace_back();
  return Status::Ok();
}

Status DiskQueue::SaveCursor(size_t reader) {
  return fs_->WriteFileAtomic(CursorPath(reader_names_[reader]), std::to_string(cursors_[reader]));
}

Result<uint64_t> DiskQueue::Append(std::string_view record) {
  if (record.size() > options_.max_record_bytes) {
    return Status(StatusCode::kInvalidArgument, "record of " + std::to_string(record.size()) +
                                                    " bytes is over the limit of " +
                                                    std::to_string(options_.max_record_bytes));
  }
  const uint64_t need = kFrameHeader + record.size();
  std::unique_lock lock(mu_);
  if (closed_) return Status(StatusCode::kCancelled, "disk queue " + dir_ + " is closed");
  if (segments_.back().bytes > 0 && segments_.back().bytes + need > options_.segment_bytes) {
    VIGIL_RETURN_IF_ERROR(StartSegment());
  }
  while (total_bytes_ + need > options_.max_bytes && segments_.size() > 1) {
    VIGIL_RETURN_IF_ERROR(DropOldestLocked());
  }
  char header[kFrameHeader];
  PutU32(header, static_cast<uint32_t>(record.size()));
  PutU32(header + 4, Crc(record));
  Segment& seg = segments_.back();
  Status st = active_->Append(std::string_view(header, kFrameHeader));
  if (st.ok()) st = active_->Append(record);
  if (st.ok() && options_.sync) st = active_->Sync();
  if (!st.ok()) {
    // Leave no partial frame behind for the next append to follow.
    (void)fs_->Truncate(SegmentPath(seg.first_seq), seg.bytes);
    return st;
  }
  frames_.back().push_back({seg.bytes, static_cast<uint32_t>(record.size())});
  seg.bytes += need;
  total_bytes_ += need;
  const uint64_t seq = next_seq_++;
  lock.unlock();
  cv_.notify_all();
  return seq;
}

Status DiskQueue::DropOldestLocked() {
  const Segment seg = segments_.front();
  const uint64_t end = segments_.size() > 1 ? segments_[1].first_seq : next_seq_;
  std::unique_ptr<ReadableFile> file;
  std::string data;
  for (size_t r = 0; r < cursors_.size(); ++r) {
    if (cursors_[r] >= end) continue;
    dropped_[r] += end - cursors_[r];
    if (options_.on_drop) {
      if (!file) {
        VIGIL_ASSIGN_OR_RETURN(file, fs_->OpenForRead(SegmentPath(seg.first_seq)));
      }
      for (uint64_t s = cursors_[r]; s < end; ++s) {
        if (ReadFrame(*file, frames_.front()[s - seg.first_seq], data).ok()) {
          options_.on_drop(r, data);
        } else {
          options_.on_drop(r, {});
        }
      }
    }
    cursors_[r] = end;
    VIGIL_RETURN_IF_ERROR(SaveCursor(r));
  }
  file.reset();
  VIGIL_RETURN_IF_ERROR(fs_->Remove(SegmentPath(seg.first_seq)));
  total_bytes_ -= seg.bytes;
  segments_.erase(segments_.begin());
  frames_.erase(frames_.begin());
  return Status::Ok();
}

Status DiskQueue::RemoveConsumedLocked() {
  uint64_t min_cursor = next_seq_;
  for (uint64_t c : cursors_) min_cursor = std::min(min_cursor, c);
  while (segments_.size() > 1 && segments_[1].first_seq <= min_cursor) {
    VIGIL_RETURN_IF_ERROR(fs_->Remove(SegmentPath(segments_.front().first_seq)));
    total_bytes_ -= segments_.front().bytes;
    segments_.erase(segments_.begin());
    frames_.erase(frames_.begin());
  }
  return Status::Ok();
}

Result<std::vector<DiskQueue::Record>> DiskQueue::Read(size_t reader, uint64_t from,
                                                       size_t max_records, size_t max_bytes) {
  std::lock_guard lock(mu_);
  std::vector<Record> out;
  uint64_t seq = std::max({from, cursors_.at(reader), segments_.front().first_seq});
  size_t bytes = 0;
  while (seq < next_seq_ && out.size() < max_records) {
    // The segment holding seq: the last one starting at or before it.
    auto it = std::upper_bound(segments_.begin(), segments_.end(), seq,
                               [](uint64_t s, const Segment& g) { return s < g.first_seq; });
    const size_t si = static_cast<size_t>(it - segments_.begin()) - 1;
    VIGIL_ASSIGN_OR_RETURN(auto file, fs_->OpenForRead(SegmentPath(segments_[si].first_seq)));
    const auto& frames = frames_[si];
    for (uint64_t i = seq - segments_[si].first_seq; i < frames.size(); ++i, ++seq) {
      if (out.size() >= max_records || (!out.empty() && bytes + frames[i].length > max_bytes)) {
        return out;
      }
      Record rec{seq, {}};
      VIGIL_RETURN_IF_ERROR(
          ReadFrame(*file, frames[i], rec.data).WithContext(SegmentPath(segments_[si].first_seq)));
      bytes += rec.data.size();
      out.push_back(std::move(rec));
    }
  }
  return out;
}

Status DiskQueue::Commit(size_t reader, uint64_t next_seq) {
  std::lock_guard lock(mu_);
  if (next_seq <= cursors_.at(reader)) return Status::Ok();
  cursors_[reader] = std::min(next_seq, next_seq_);
  VIGIL_RETURN_IF_ERROR(SaveCursor(reader));
  return RemoveConsumedLocked();
}

bool DiskQueue::Wait(uint64_t from, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return closed_ || next_seq_ > from; });
  return next_seq_ > from;
}

void DiskQueue::Close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

uint64_t DiskQueue::next_seq() const {
  std::lock_guard lock(mu_);
  return next_seq_;
}

uint64_t DiskQueue::cursor(size_t reader) const {
  std::lock_guard lock(mu_);
  return cursors_.at(reader);
}

uint64_t DiskQueue::bytes() const {
  std::lock_guard lock(mu_);
  return total_bytes_;
}

uint64_t DiskQueue::dropped(size_t reader) const {
  std::lock_guard lock(mu_);
  return dropped_.at(reader);
}

}  // namespace vigil
