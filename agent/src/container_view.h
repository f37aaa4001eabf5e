#pragma once

// ContainerView: one pass of the container collector, kept compact. Each cgroup's labels
// (container, id, image, name, namespace, pod) are held once, with a value per family and, for
// the families with a label of their own (cpu, device, interface), that label's value. 49k
// series take ~2 MiB this way instead of a label set each (~40 MiB).
//
// The view writes itself as exposition (text or OpenMetrics) and hands each series to a callback
// as sorted label views for remote_write; ToFamilies() builds the ordinary form (tests, top).
// Immutable once built; share it as shared_ptr<const ContainerView>.

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "vigil/common/exposition.h"
#include "vigil/common/labels.h"

namespace vigil::agent {

struct ContainerFamily {
  const char* name;
  expo::MetricType type;
  const char* help;
  const char* extra_label;  // the family's own label, or nullptr
};

struct ContainerView {
  struct Entry {
    uint32_t family;
    uint32_t extra;  // index into Cgroup::extras: the value of the family's own label
    double value;
  };
  struct Cgroup {
    Labels base;  // without __name__
    // base as the text formats write it: container="app",id="...", shared with the collector's
    // record of the cgroup and the other passes' views (never null once filled).
    std::shared_ptr<const std::string> text;
    uint64_t hash = 0;           // of base
    std::vector<Entry> entries;  // in family order
    // The own-label values the entries use ("total", devices, interfaces), each once; index 0
    // is "" for the families without one.
    std::vector<std::string> extras = {""};
    // The index of `value` in extras, added if new.
    uint32_t Extra(std::string_view value);
    std::string_view extra(const Entry& e) const { return extras[e.extra]; }
  };

  const std::vector<ContainerFamily>* families = nullptr;
  std::vector<Cgroup> cgroups;

  size_t series() const;
  // Every family with samples, HELP and TYPE first, as expo::Write writes families (no # EOF).
  void AppendTo(std::string& out, expo::Format format) const;
  // Each series: its labels sorted by name (__name__ first), value, and a key that stays the same
  // for the same series across passes.
  void ForEachSeries(
      const std::function<void(std::span<const LabelView>, double, uint64_t)>& fn) const;
  std::vector<expo::Family> ToFamilies() const;

  // A cgroup's base labels rendered for Cgroup::text.
  static std::string RenderBase(const Labels& base);
};

}  // namespace vigil::agent
