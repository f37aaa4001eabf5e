#pragma once

// Reads a small file (cgroup, /proc) into a buffer the caller reuses across a collection pass.
// A short read is taken as the end: these files hand out everything they have at once, and it
// saves a read per file when a pass reads thousands of them.

#include <string>

#include "vigil/common/file_system.h"

namespace vigil::agent {

// False when the file cannot be opened or read (it may have vanished): `buf` is then empty.
// At most `max_bytes` are read.
inline bool ReadSmallFile(FileSystem& fs, const std::string& path, std::string& buf,
                          size_t max_bytes) {
  buf.clear();
  auto f = fs.OpenForRead(path);
  if (!f.ok()) return false;
  char chunk[16384];
  for (;;) {
    auto n = (*f)->ReadAt(buf.size(), chunk, sizeof(chunk));
    if (!n.ok()) {
      buf.clear();
      return false;
    }
    buf.append(chunk, *n);
    if (*n < sizeof(chunk) || buf.size() >= max_bytes) return true;
  }
}

}  // namespace vigil::agent
