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

uint64_t LogFollower::Fingerprint(ReadableFile& f) const {
  std::string head(opts_.fingerprint_bytes, '\0');
  size_t got = 0;
  while (got < head.size()) {
    auto n = f.ReadAt(got, head.data() + got, head.size() - got);
    if (!n.ok() || *n == 0) break;
    got += *n;
  }
  if (got < head.size()) return 0;  // too short to tell yet
  return XXH3_64bits(head.data(), head.size());
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
    const bool same = restore_->device == pos_.device && restore_->inode == pos_.inode &&
                      (restore_->fingerprint == 0 || restore_->fingerprint == pos_.fingerprint) &&
                      restore_->offset <= info.size;
    if (same) pos_.offset = restore_->offset;
    restore_.reset();
  }
  return Status::Ok();
}

Status LogFollower::Poll(std::vector<FollowedLine>& out, size_t max_bytes) {
  at_end_ = false;
  if (!file_) {
    Status st = Open();
    if (!st.ok()) return st.code() == StatusCode::kNotFound ? Status::Ok() : st;
  }
  VIGIL_ASSIGN_OR_RETURN(FileInfo info, file_->Stat());
  // copytruncate: the file shrank below what was read.
  bool restarted = false;
  if (info.size < pos_.offset) {
    ++truncations_;
    pos_.offset = 0;
    restarted = true;
  }
  // The first bytes: known once the file is long enough; different ones mean another file in
  // the same inode (deleted and made again).
  const uint64_t fp = Fingerprint(*file_);
  if (pos_.fingerprint == 0) {
    pos_.fingerprint = fp;
  } else if (fp != pos_.fingerprint) {
    if (!restarted) ++truncations_;  // rewritten in place: the same as a truncation
    pos_.fingerprint = fp;
    pos_.offset = 0;
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
  file_.reset();
  Status st = Open();
  return st.code() == StatusCode::kNotFound ? Status::Ok() : st;
}

}  // namespace vigil::agent
