#include "cgroup_mounts.h"

#include <vector>

namespace vigil::agent {
namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string Unescape(std::string_view s) {
  const auto octal = [](char c) { return c >= '0' && c <= '7'; };
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && octal(s[i + 1]) && octal(s[i + 2]) && octal(s[i + 3])) {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
      continue;
    }
    out += s[i];
  }
  return out;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    const size_t end = s.find(sep, start);
    out.push_back(s.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return out;
    start = end + 1;
  }
}

// The longest directory that contains every path ("/sys/fs/cgroup" for /sys/fs/cgroup/cpu and
// /sys/fs/cgroup/memory; the path itself when there is one).
std::string CommonDir(const std::vector<std::string>& paths) {
  std::string common = paths.front();
  for (const std::string& p : paths) {
    while (
        !(p == common || (p.starts_with(common) && (common == "/" || p[common.size()] == '/')))) {
      const size_t slash = common.rfind('/');
      common = slash == 0 ? "/" : common.substr(0, slash);
    }
  }
  return common;
}

}  // namespace

const std::string& CgroupMounts::Controller(std::string_view name) const {
  static const std::string kNone;
  auto it = controllers.find(name);
  return it == controllers.end() ? kNone : it->second;
}

std::string_view ModeName(CgroupMounts::Mode mode) {
  switch (mode) {
    case CgroupMounts::Mode::kV1:
      return "v1";
    case CgroupMounts::Mode::kV2:
      return "v2";
    case CgroupMounts::Mode::kHybrid:
      return "hybrid";
  }
  return "?";
}

Result<CgroupMounts> ParseCgroupMounts(std::string_view mountinfo, const std::string& cgroup_root) {
  struct Mount {
    std::string point;
    bool v2 = false;
    std::vector<std::string> controllers;
  };
  std::vector<Mount> mounts;
  size_t line_no = 0;
  for (std::string_view line : Split(mountinfo, '\n')) {
    ++line_no;
    if (line.empty()) continue;
    // id parent major:minor root mount-point options [optional...] - fstype source super-options
    const size_t dash = line.find(" - ");
    if (dash == std::string_view::npos) {
      return InvalidArgument("mountinfo line " + std::to_string(line_no) +
                             ": no \" - \" separator");
    }
    const auto head = Split(line.substr(0, dash), ' ');
    const auto tail = Split(line.substr(dash + 3), ' ');
    if (head.size() < 6 || tail.size() < 3) {
      return InvalidArgument("mountinfo line " + std::to_string(line_no) + ": too few fields");
    }
    const std::string_view fstype = tail[0];
    if (fstype != "cgroup" && fstype != "cgroup2") continue;
    Mount m;
    m.point = Unescape(head[4]);
    m.v2 = fstype == "cgroup2";
    if (!m.v2) {
      for (std::string_view opt : Split(tail[2], ',')) {
        // Super options mix controllers with flags (rw, relatime, name=systemd, ...).
        if (opt == "rw" || opt == "ro" || opt.find('=') != std::string_view::npos ||
            opt.starts_with("no") || opt == "relatime" || opt == "clone_children" ||
            opt == "xattr") {
          continue;
        }
        m.controllers.emplace_back(opt);
      }
    }
    mounts.push_back(std::move(m));
  }
  if (mounts.empty()) return NotFound("no cgroup or cgroup2 mount in mountinfo");
  std::vector<std::string> points;
  for (const Mount& m : mounts) points.push_back(m.point);
  const std::string base = CommonDir(points);
  auto mapped = [&](const std::string& point) {
    std::string rest = point.substr(base == "/" ? 0 : base.size());
    std::string root = cgroup_root;
    while (root.size() > 1 && root.back() == '/') root.pop_back();
    return rest.empty() ? root : root + rest;
  };
  CgroupMounts out;
  for (const Mount& m : mounts) {
    if (m.v2) {
      out.unified = mapped(m.point);
    } else {
      for (const std::string& c : m.controllers) out.controllers.emplace(c, mapped(m.point));
    }
  }
  out.mode = out.controllers.empty() ? CgroupMounts::Mode::kV2
             : out.unified.empty()   ? CgroupMounts::Mode::kV1
                                     : CgroupMounts::Mode::kHybrid;
  return out;
}

}  // namespace vigil::agent
