#include "container_view.h"

#include <algorithm>

namespace vigil::agent {
namespace {

uint64_t Key(uint64_t cgroup, uint32_t family, std::string_view extra) {
  return (cgroup * 1099511628211ULL) ^ (uint64_t{family} * 0x9E3779B97F4A7C15ULL) ^
         (std::hash<std::string_view>{}(extra)*31);
}

// Calls fn(family index, [begin, end)) for each family, with each cgroup's entries of it.
template <typename Fn>
void ByFamily(const ContainerView& v, Fn fn) {
  std::vector<size_t> cursor(v.cgroups.size(), 0);
  for (uint32_t f = 0; f < v.families->size(); ++f) {
    fn(f, [&](const auto& each) {
      for (size_t c = 0; c < v.cgroups.size(); ++c) {
        const auto& entries = v.cgroups[c].entries;
        while (cursor[c] < entries.size() && entries[cursor[c]].family == f) {
          each(v.cgroups[c], entries[cursor[c]]);
          ++cursor[c];
        }
      }
    });
  }
}

}  // namespace

uint32_t ContainerView::Cgroup::Extra(std::string_view value) {
  for (uint32_t i = 0; i < extras.size(); ++i) {
    if (extras[i] == value) return i;
  }
  extras.emplace_back(value);
  return static_cast<uint32_t>(extras.size() - 1);
}

std::string ContainerView::RenderBase(const Labels& base) {
  std::string out;
  for (const Label& l : base) {
    if (!out.empty()) out += ',';
    out += l.name;
    out += "=\"";
    expo::AppendEscapedLabelValue(out, l.value);
    out += '"';
  }
  return out;
}

size_t ContainerView::series() const {
  size_t n = 0;
  for (const auto& c : cgroups) n += c.entries.size();
  return n;
}

void ContainerView::AppendTo(std::string& out, expo::Format format) const {
  ByFamily(*this, [&](uint32_t f, const auto& for_each) {
    const ContainerFamily& fam = (*families)[f];
    bool header = false;
    for_each([&](const Cgroup& c, const Entry& e) {
      if (!header) {
        expo::AppendFamilyHeader(out, fam.name, fam.type, fam.help, "", format);
        header = true;
      }
      out += fam.name;
      out += '{';
      out += *c.text;
      if (fam.extra_label != nullptr) {
        if (!c.text->empty()) out += ',';
        out += fam.extra_label;
        out += "=\"";
        expo::AppendEscapedLabelValue(out, c.extra(e));
        out += '"';
      }
      out += "} ";
      expo::AppendValue(out, e.value);
      out += '\n';
    });
  });
}

void ContainerView::ForEachSeries(
    const std::function<void(std::span<const LabelView>, double, uint64_t)>& fn) const {
  std::vector<LabelView> labels;
  for (const Cgroup& c : cgroups) {
    for (const Entry& e : c.entries) {
      const ContainerFamily& fam = (*families)[e.family];
      labels.clear();
      labels.push_back({kMetricNameLabel, fam.name});
      bool extra_done = fam.extra_label == nullptr;
      for (const Label& l : c.base) {
        if (!extra_done && std::string_view(fam.extra_label) < l.name) {
          labels.push_back({fam.extra_label, c.extra(e)});
          extra_done = true;
        }
        labels.push_back({l.name, l.value});
      }
      if (!extra_done) labels.push_back({fam.extra_label, c.extra(e)});
      fn(labels, e.value, Key(c.hash, e.family, c.extra(e)));
    }
  }
}

std::vector<expo::Family> ContainerView::ToFamilies() const {
  std::vector<expo::Family> out;
  ByFamily(*this, [&](uint32_t f, const auto& for_each) {
    const ContainerFamily& fam = (*families)[f];
    expo::Family family{fam.name, fam.type, fam.help, "", {}};
    for_each([&](const Cgroup& c, const Entry& e) {
      LabelsBuilder b(c.base);
      b.Set(kMetricNameLabel, fam.name);
      if (fam.extra_label != nullptr) b.Set(fam.extra_label, c.extra(e));
      family.samples.push_back({b.Build(), e.value, {}});
    });
    if (!family.samples.empty()) out.push_back(std::move(family));
  });
  return out;
}

}  // namespace vigil::agent
