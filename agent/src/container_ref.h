#pragma once

// Which pod and container a cgroup belongs to, from its path alone, for the layouts the kubelet
// and the runtimes create:
//   systemd driver:  /kubepods.slice/kubepods-burstable.slice/
//                      kubepods-burstable-pod<uid with _>.slice/cri-containerd-<id>.scope
//                    (also crio-<id>.scope and docker-<id>.scope; guaranteed pods sit directly
//                    under kubepods.slice as kubepods-pod<uid>.slice)
//   cgroupfs driver: /kubepods/burstable/pod<uid>/<id>   (guaranteed: /kubepods/pod<uid>/<id>)
//   plain docker:    /docker/<id>, /system.slice/docker-<id>.scope
// CRI-O's conmon cgroups (crio-conmon-<id>.scope) are not containers.

#include <optional>
#include <string>
#include <string_view>

namespace vigil::agent {

struct ContainerRef {
  std::string pod_uid;  // with dashes, as in the API; empty outside Kubernetes
  std::string qos;      // "guaranteed", "burstable", "besteffort"; empty outside Kubernetes
  std::string id;       // the runtime's container id; empty for a pod's own cgroup
  std::string runtime;  // "containerd", "crio", "docker"; empty when the path does not say
};

// The pod or container of a cgroup path relative to its hierarchy's root (starting with "/"),
// or nullopt for any other cgroup (slices, system services, the QoS levels).
std::optional<ContainerRef> ParseCgroupPath(std::string_view path);

// A pod's log directory name in the kubelet's layout, /var/log/pods/<namespace>_<pod>_<uid>/
// (namespaces and pod names have no "_"), or nullopt for another name.
struct PodLogDir {
  std::string ns, pod, uid;
};
std::optional<PodLogDir> ParsePodLogDir(std::string_view name);

}  // namespace vigil::agent
