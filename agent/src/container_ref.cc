#include "container_ref.h"

#include <algorithm>
#include <vector>

namespace vigil::agent {
namespace {

bool IsHexId(std::string_view s) {
  return s.size() >= 12 && s.size() <= 128 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

bool IsUid(std::string_view s) {
  return s.size() >= 32 && s.size() <= 40 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '-' || c == '_';
         });
}

std::string Dashed(std::string_view uid) {
  std::string out(uid);
  std::replace(out.begin(), out.end(), '_', '-');
  return out;
}

// "cri-containerd-<id>.scope" → ("containerd", id); a bare id → ("", id).
std::optional<std::pair<std::string, std::string>> ContainerSegment(std::string_view seg) {
  if (seg.ends_with(".scope")) {
    seg.remove_suffix(6);
    static constexpr std::pair<std::string_view, std::string_view> kPrefixes[] = {
        {"cri-containerd-", "containerd"},
        {"crio-", "crio"},
        {"docker-", "docker"},
        {"containerd-", "containerd"},
    };
    if (seg.starts_with("crio-conmon-")) return std::nullopt;
    for (auto [prefix, runtime] : kPrefixes) {
      if (seg.starts_with(prefix) && IsHexId(seg.substr(prefix.size()))) {
        return std::pair<std::string, std::string>(runtime, seg.substr(prefix.size()));
      }
    }
    return std::nullopt;
  }
  if (IsHexId(seg)) return std::pair<std::string, std::string>("", seg);
  return std::nullopt;
}

// A pod segment: "kubepods-burstable-pod<uid>.slice", "kubepods-pod<uid>.slice", "pod<uid>".
std::optional<std::pair<std::string, std::string>> PodSegment(std::string_view seg) {
  std::string qos = "guaranteed";
  if (seg.ends_with(".slice")) {
    seg.remove_suffix(6);
    if (!seg.starts_with("kubepods-")) return std::nullopt;
    seg.remove_prefix(9);
    for (std::string_view q : {"burstable-", "besteffort-"}) {
      if (seg.starts_with(q)) {
        qos = std::string(q.substr(0, q.size() - 1));
        seg.remove_prefix(q.size());
      }
    }
  }
  if (!seg.starts_with("pod") || !IsUid(seg.substr(3))) return std::nullopt;
  return std::pair<std::string, std::string>(qos, Dashed(seg.substr(3)));
}

}  // namespace

std::optional<ContainerRef> ParseCgroupPath(std::string_view path) {
  std::vector<std::string_view> segs;
  for (size_t start = 0; start < path.size();) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (end > start) segs.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  if (segs.empty()) return std::nullopt;
  // Kubernetes: a pod segment somewhere below a kubepods level, then maybe a container.
  for (size_t i = 0; i < segs.size(); ++i) {
    auto pod = PodSegment(segs[i]);
    if (!pod) continue;
    const bool under_kubepods =
        std::any_of(segs.begin(), segs.begin() + static_cast<std::ptrdiff_t>(i),
                    [](std::string_view s) { return s.starts_with("kubepods"); });
    if (!under_kubepods) continue;
    ContainerRef ref;
    ref.qos = pod->first;
    // cgroupfs names the QoS level in the parent directory instead.
    if (i > 0 && (segs[i - 1] == "burstable" || segs[i - 1] == "besteffort")) {
      ref.qos = std::string(segs[i - 1]);
    }
    ref.pod_uid = pod->second;
    if (i + 1 == segs.size()) return ref;  // the pod's own cgroup
    if (i + 2 != segs.size()) return std::nullopt;
    auto c = ContainerSegment(segs[i + 1]);
    if (!c) return std::nullopt;
    ref.runtime = c->first;
    ref.id = c->second;
    return ref;
  }
  // Plain docker.
  if (segs.size() == 2 && (segs[0] == "docker" || segs[0] == "system.slice")) {
    auto c = ContainerSegment(segs[1]);
    if (!c || (segs[0] == "system.slice" && c->first.empty())) return std::nullopt;
    ContainerRef ref;
    ref.runtime = c->first.empty() ? "docker" : c->first;
    ref.id = c->second;
    return ref;
  }
  return std::nullopt;
}

std::optional<PodLogDir> ParsePodLogDir(std::string_view name) {
  const size_t a = name.find('_');
  const size_t b = name.rfind('_');
  if (a == std::string_view::npos || a == b || a == 0 || b + 1 == name.size()) return std::nullopt;
  return PodLogDir{std::string(name.substr(0, a)), std::string(name.substr(a + 1, b - a - 1)),
                   std::string(name.substr(b + 1))};
}

}  // namespace vigil::agent
