#include "log_follower.h"

#include <xxhash.h>

#include <algorithm>

namespace vigil::agent {

LogFollower::LogFollower(std::shared_ptr<FileSystem> fs, std::shared_ptr<Clock> clock,
                         std::string path, Options options)
    : fs_(std::move(fs)), clock_(std::move(clock)), path_(std::move(path)), opts_(options) {}

void LogFollower::Restore(const FilePosition& saved) { restore_ = saved; }

bool LogFollower::Drained() {
  if (!file_) return true;
  auto info = file_->Stat();
  return !info.ok() || info->size <= pos_.offset;
}

namespace {

// The first `bytes` of `f` (fewer if it is shorter).
std::string ReadHead(ReadableFile& f, size_t bytes) {
  std::string head(bytes, '\0');
  size_t got = 0;
  while (got < head.size()) {
    auto n = f.ReadAt(got, head.data() + got, head.size() - got);
    if (!n.ok() || *n == 0) break;
    got += *n;
  }
  head.resize(got);
  return head;
}

}  // namespace

uint64_t LogFollower::Fingerprint(ReadableFile& f) {
  head_ = ReadHead(f, opts_.fingerprint_bytes);
  if (head_.size() < opts_.fingerprint_bytes) return 0;  // too short to tell yet
  return XXH3_64bits(head_.data(), head_.size());
}

bool LogFollower::Holds(FileSystem& fs, const std::string& path, const Handover& h,
                        size_t fingerprint_bytes) {
  auto f = fs.OpenForRead(path);
  if (!f.ok()) return false;
  auto info = (*f)->Stat();
  if (!info.ok()) return false;
  const bool same_file = info->device == h.from.device && info->inode == h.from.inode;
  if (!h.replaced) return same_file;
  if (same_file || info->size < h.from.offset) return false;
  if (!h.head.empty()) {
    return ReadHead(**f, h.head.size()) == h.head;  // what we read before it was replaced
  }
  if (h.from.fingerprint == 0) return false;  // too short to tell
  const std::string head = ReadHead(**f, fingerprint_bytes);
  return head.size() == fingerprint_bytes &&
         XXH3_64bits(head.data(), head.size()) == h.from.fingerprint;
}

bool LogFollower::IsOrCopies(const std::string& path) const {
  if (!file_) return false;
  auto f = fs_->OpenForRead(path);
  if (!f.ok()) return false;
  auto info = (*f)->Stat();
  if (!info.ok()) return false;
  if (info->device == pos_.device && info->inode == pos_.inode) return true;
  if (head_.empty()) return false;
  // A copy still being written is a prefix of it.
  const std::string head = ReadHead(**f, head_.size());
  return head_.starts_with(head);
}

Status LogFollower::Open() {
  auto f = fs_->OpenForRead(path_);
  if (!f.ok()) return f.status();
  VIGIL_ASSIGN_OR_RETURN(FileInfo info, (*f)->Stat());
  file_ = std::move(*f);
  pos_ = FilePosition{info.device, info.inode, Fingerprint(*file_), 0};
  rotated_at_.reset();
  if (restore_) {
    // The saved position counts only for the same file: same inode, and the same first bytes
    // when both were long enough to have them.
    const bool same_inode = restore_->device == pos_.device && restore_->inode == pos_.inode;
    const bool same = same_inode &&
                      (restore_->fingerprint == 0 || restore_->fingerprint == pos_.fingerprint) &&
                      restore_->offset <= info.size;
    if (same) {
      pos_.offset = restore_->offset;
    } else if (restore_->offset > 0 || !same_inode) {
      // Rotated (another inode here) or replaced (copytruncate) while the agent was down.
      handover_ = Handover{*restore_, same_inode, {}};
    }
    restore_.reset();
  }
  return Status::Ok();
}

Status LogFollower::Poll(std::vector<FollowedLine>& out, size_t max_bytes) {
  at_end_ = false;
  if (!file_) {
    Status st = Open();
    if (!st.ok()) return st.code() == StatusCode::kNotFound ? Status::Ok() : st;
    if (handover_) return Status::Ok();  // the owner reads the rotated files first
  }
  VIGIL_ASSIGN_OR_RETURN(FileInfo info, file_->Stat());
  const FilePosition before = pos_;
  std::string head_before = head_;  // as of the last Poll
  // copytruncate: the file shrank below what was read.
  bool replaced = info.size < pos_.offset;
  // The first bytes: known once the file is long enough; different ones mean another file in
  // the same inode (deleted and made again), or one truncated and grown past the offset.
  const uint64_t fp = Fingerprint(*file_);
  if (pos_.fingerprint == 0) {
    // Short until now: compare what there was of it.
    replaced |= !head_before.empty() && !head_.starts_with(head_before);
    pos_.fingerprint = fp;
  } else if (fp != pos_.fingerprint) {
    replaced = true;
    pos_.fingerprint = fp;
  }
  if (replaced) {
    ++truncations_;
    pos_.offset = 0;
    handover_ = Handover{before, true, std::move(head_before)};
    return Status::Ok();  // the owner looks for the copy first
  }
  // Complete lines from the offset.
  std::string buf;
  const size_t want = std::max<size_t>(max_bytes, opts_.max_line_bytes + 1);
  bool eof_reached = false;
  while (buf.size() < want) {
    char chunk[65536];
    auto n =
        file_->ReadAt(pos_.offset + buf.size(), chunk, std::min(sizeof(chunk), want - buf.size()));
    if (!n.ok()) return n.status();
    if (*n == 0) {
      eof_reached = true;
      break;
    }
    buf.append(chunk, *n);
  }
  // Truncated and written again while we read? Then the bytes may be the new content's, read at
  // the old offset: drop them, and hand over, so the copy is read from the offset instead.
  if (!buf.empty() && !head_.empty() && ReadHead(*file_, head_.size()) != head_) {
    ++truncations_;
    handover_ = Handover{before, true, head_};
    pos_ = FilePosition{before.device, before.inode, 0, 0};
    head_.clear();
    return Status::Ok();
  }
  size_t start = 0, taken = 0;
  for (;;) {
    const size_t nl = buf.find('\n', start);
    FollowedLine line;
    if (nl != std::string::npos && nl - start <= opts_.max_line_bytes) {
      line.text = buf.substr(start, nl - start);
      start = nl + 1;
    } else if (buf.size() - start >= opts_.max_line_bytes) {
      line.text = buf.substr(start, opts_.max_line_bytes);
      line.cut = true;
      start += opts_.max_line_bytes;
    } else {
      break;
    }
    if (!line.text.empty() && line.text.back() == '\r') line.text.pop_back();
    line.end = pos_;
    line.end.offset = pos_.offset + start;
    taken += line.text.size() + 1;
    out.push_back(std::move(line));
    if (taken >= max_bytes) break;
  }
  pos_.offset += start;
  at_end_ = eof_reached && start == buf.size();
  if (!at_end_) return Status::Ok();  // more to read (or a line under way)

  // At the end of the open file: has the path moved on to another file?
  auto now_info = fs_->Stat(path_);
  const bool same =
      now_info.ok() && now_info->device == pos_.device && now_info->inode == pos_.inode;
  if (same) {
    rotated_at_.reset();
    return Status::Ok();
  }
  if (!rotated_at_) rotated_at_ = clock_->SteadyNow();
  // The old file is read to its end; wait rotate_wait for late writes to it, then follow the
  // path (if the new file is there yet).
  if (clock_->SteadyNow() - *rotated_at_ < opts_.rotate_wait || !now_info.ok()) return Status::Ok();
  ++rotations_;
  handover_ = Handover{pos_, false, head_};
  file_.reset();
  Status st = Open();
  return st.code() == StatusCode::kNotFound ? Status::Ok() : st;
}

}  // namespace vigil::agent
