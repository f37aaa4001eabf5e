#include "small_file.h"

#include <sys/resource.h>

#include <algorithm>

namespace vigil::agent {

bool ReadAll(ReadableFile& file, std::string& buf, size_t max_bytes) {
  buf.clear();
  char chunk[16384];
  // No more than the caller wants at once: procfs allocates a kernel buffer of the size asked.
  const size_t want = std::min(sizeof(chunk), std::max<size_t>(max_bytes, 1));
  for (;;) {
    auto n = file.ReadAt(buf.size(), chunk, want);
    if (!n.ok()) {
      buf.clear();
      return false;
    }
    buf.append(chunk, *n);
    if (*n < want || buf.size() >= max_bytes) return true;
  }
}

bool ReadSmallFile(FileSystem& fs, const std::string& path, std::string& buf, size_t max_bytes) {
  buf.clear();
  auto f = fs.OpenForRead(path);
  if (!f.ok()) return false;
  return ReadAll(**f, buf, max_bytes);
}

FileCache::FileCache(std::shared_ptr<FileSystem> fs, size_t max_open)
    : fs_(std::move(fs)), max_open_(max_open) {}

size_t FileCache::Budget() {
  // Root may raise the hard limit up to fs.nr_open; anyone may raise the soft one to the hard.
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  const rlim_t want = 1 << 20;
  if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) {
    rlimit raised{want, want};
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
  }
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
  }
  const uint64_t soft = rl.rlim_cur == RLIM_INFINITY ? (1u << 20) : rl.rlim_cur;
  return soft > 512 ? static_cast<size_t>(std::min<uint64_t>(soft - 512, 1u << 20)) : 0;
}

FileCache::Group& FileCache::GroupFor(const std::string& key) {
  Group& g = groups_[key];
  g.pass = pass_;
  return g;
}

FileCache::Group::~Group() {
  if (cache == nullptr) return;
  for (const auto& f : files) cache->open_ -= f ? 1 : 0;
}

void FileCache::Forget(Group& group, size_t slot) {
  if (slot < group.files.size() && group.files[slot]) {
    group.files[slot].reset();
    --open_;
  }
}

bool FileCache::Read(Group& group, size_t slot, const std::string& path, std::string& buf,
                     size_t max_bytes) {
  if (slot >= group.files.size()) group.files.resize(slot + 1);
  if (auto& f = group.files[slot]) {
    if (ReadAll(*f, buf, max_bytes) && !buf.empty()) return true;
    Forget(group, slot);  // gone, or empty: ask the path again
  }
  auto f = fs_->OpenForRead(path);
  if (!f.ok()) {
    buf.clear();
    return false;
  }
  if (!ReadAll(**f, buf, max_bytes)) return false;
  if (open_ < max_open_) {
    group.files[slot] = std::move(*f);
    group.cache = this;
    ++open_;
  }
  return true;
}

void FileCache::EndPass() {
  for (auto it = groups_.begin(); it != groups_.end();) {
    if (it->second.pass == pass_) {
      ++it;
      continue;
    }
    it = groups_.erase(it);  // the group gives its files back
  }
  ++pass_;
}

}  // namespace vigil::agent
