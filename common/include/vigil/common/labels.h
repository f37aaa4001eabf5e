#pragma once

// Labels: the identity of a series, as in Prometheus. A Labels is a set of (name, value) pairs
// sorted by name with unique names; the metric name is the label "__name__". Immutable after
// construction; thread-compatible.

#include <atomic>
#include <compare>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/common/status.h"

namespace vigil {

inline constexpr std::string_view kMetricNameLabel = "__name__";

struct Label {
  std::string name;
  std::string value;
  friend auto operator<=>(const Label&, const Label&) = default;
};

class Labels {
 public:
  Labels() = default;
  // Sorts the pairs. Duplicate names are a programming error here (asserted); use FromPairs for
  // input that may contain them.
  Labels(std::initializer_list<Label> pairs);

  // Sorts `pairs`; fails with InvalidArgument naming the label if a name appears twice.
  static Result<Labels> FromPairs(std::vector<Label> pairs);
  // For pairs already sorted by name and unique (checked with an assert only).
  static Labels FromSorted(std::vector<Label> pairs);

  // The value of `name`, or "" if absent (Prometheus treats absent and empty alike).
  std::string_view Get(std::string_view name) const;
  bool Has(std::string_view name) const;
  std::string_view MetricName() const { return Get(kMetricNameLabel); }

  // A stable 64-bit hash (XXH3 over name 0xff value 0xff ...): the same on every run, build and
  // machine, so it may be persisted.
  uint64_t Hash() const;

  // {__name__="up", job="node"} as Prometheus prints label sets.
  std::string ToString() const;

  size_t size() const { return pairs().size(); }
  bool empty() const { return pairs().empty(); }
  std::vector<Label>::const_iterator begin() const { return pairs().begin(); }
  std::vector<Label>::const_iterator end() const { return pairs().end(); }
  const Label& operator[](size_t i) const { return pairs()[i]; }
  const std::vector<Label>& pairs() const { return rep_ ? rep_->pairs : EmptyPairs(); }
  // The same object for copies of one Labels (for caches keyed by label set identity).
  const void* identity() const { return rep_.get(); }

  friend std::strong_ordering operator<=>(const Labels& a, const Labels& b) {
    if (a.rep_ == b.rep_) return std::strong_ordering::equal;
    return a.pairs() <=> b.pairs();
  }
  friend bool operator==(const Labels& a, const Labels& b) {
    return a.rep_ == b.rep_ || a.pairs() == b.pairs();
  }

 private:
  // Immutable and shared: copying a Labels is a reference count, not a copy of every string
  // (queries copy label sets per sample and step). The hash is computed once, on first use.
  struct Rep {
    std::vector<Label> pairs;
    mutable std::atomic<uint64_t> hash{0};
    mutable std::atomic<bool> hashed{false};
  };
  static const std::vector<Label>& EmptyPairs();
  explicit Labels(std::vector<Label> sorted);
  std::shared_ptr<const Rep> rep_;  // nullptr: no labels
};

// A label pair that points into someone else's bytes (a request being decoded), for the ingest
// path, which looks series up without copying their labels.
struct LabelView {
  std::string_view name;
  std::string_view value;
};
// The same hash as Labels::Hash of the same pairs. `labels` sorted by name.
uint64_t HashLabels(std::span<const LabelView> labels);
// {__name__="up", job="node"}, as Labels::ToString.
std::string LabelsToString(std::span<const LabelView> labels);
// Copies views into a Labels. `labels` sorted by name, names unique.
Labels ToLabels(std::span<const LabelView> labels);
// Sorts `labels` by name (stable; cheap when already sorted, as senders send them); fails with
// InvalidArgument naming a label that appears twice.
Status SortLabels(std::span<LabelView> labels);

// Builds a Labels from a base set with additions and removals.
class LabelsBuilder {
 public:
  LabelsBuilder() = default;
  explicit LabelsBuilder(const Labels& base);
  // Sets `name` to `value`; an empty value removes the label, as in Prometheus.
  LabelsBuilder& Set(std::string_view name, std::string_view value);
  LabelsBuilder& Del(std::string_view name);
  // The value of `name`, empty when absent.
  std::string_view Get(std::string_view name) const;
  // The current pairs, sorted by name (for relabeling, which walks them).
  const std::vector<Label>& pairs() const { return pairs_; }
  Labels Build() const;

 private:
  std::vector<Label> pairs_;  // sorted, unique
};

// Label names: [a-zA-Z_][a-zA-Z0-9_]*. Metric names: [a-zA-Z_:][a-zA-Z0-9_:]*. Values: valid
// UTF-8. Errors name the offending label and the position of the first bad byte.
bool IsValidLabelName(std::string_view name);
bool IsValidMetricName(std::string_view name);
bool IsValidUtf8(std::string_view s);
// The length of the valid UTF-8 sequence at s[i] (1 to 4), or 0 if the byte there starts none.
size_t Utf8SequenceAt(std::string_view s, size_t i);
// `s` with each byte that is not part of valid UTF-8 replaced by U+FFFD.
std::string ToValidUtf8(std::string_view s);
Status ValidateLabelName(std::string_view name);
Status ValidateMetricName(std::string_view name);
Status ValidateLabelValue(std::string_view name, std::string_view value);
// All of the above for a whole set, plus: no empty values (Prometheus drops them), a metric name
// present when `require_name` is set.
Status ValidateLabels(const Labels& labels, bool require_name);
Status ValidateLabels(std::span<const LabelView> labels, bool require_name);  // sorted

// Appends `s` to `out` with Go's strconv.Quote escaping for ", \ and control characters.
void AppendQuoted(std::string& out, std::string_view s);

}  // namespace vigil
