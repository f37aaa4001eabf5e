#include "vigil/common/labels.h"

#include <xxhash.h>

#include <algorithm>
#include <cassert>

namespace vigil {
namespace {

// One implementation for Labels and views: pairs are anything with .name and .value.
template <class Pairs>
uint64_t HashPairs(const Pairs& pairs) {
  thread_local std::string buf;
  buf.clear();
  for (const auto& l : pairs) {
    buf += l.name;
    buf += '\xff';
    buf += l.value;
    buf += '\xff';
  }
  return XXH3_64bits(buf.data(), buf.size());
}

template <class Pairs>
std::string PairsToString(const Pairs& pairs) {
  std::string out = "{";
  bool first = true;
  for (const auto& l : pairs) {
    if (!first) out += ", ";
    first = false;
    out += l.name;
    out += '=';
    AppendQuoted(out, l.value);
  }
  out += '}';
  return out;
}

template <class Pairs>
Status ValidatePairs(const Pairs& pairs, bool require_name) {
  if (require_name && std::none_of(pairs.begin(), pairs.end(), [](const auto& l) {
        return l.name == kMetricNameLabel && !l.value.empty();
      })) {
    return InvalidArgument("series " + PairsToString(pairs) + " has no metric name");
  }
  for (const auto& l : pairs) {
    // The context is built only on failure: this runs for every new series on the ingest path.
    Status st =
        l.name == kMetricNameLabel ? ValidateMetricName(l.value) : ValidateLabelName(l.name);
    if (!st.ok()) return st.WithContext(PairsToString(pairs));
    if (l.value.empty()) {
      return InvalidArgument("label \"" + std::string(l.name) + "\" has an empty value in " +
                             PairsToString(pairs));
    }
    VIGIL_RETURN_IF_ERROR(ValidateLabelValue(l.name, l.value));
  }
  return Status::Ok();
}

}  // namespace

Labels::Labels(std::vector<Label> sorted) {
  if (sorted.empty()) return;
  auto rep = std::make_shared<Rep>();
  rep->pairs = std::move(sorted);
  rep_ = std::move(rep);
}

const std::vector<Label>& Labels::EmptyPairs() {
  static const std::vector<Label> kEmpty;
  return kEmpty;
}

Labels::Labels(std::initializer_list<Label> pairs) {
  std::vector<Label> v(pairs);
  std::sort(v.begin(), v.end());
  assert(std::adjacent_find(v.begin(), v.end(), [](const Label& a, const Label& b) {
           return a.name == b.name;
         }) == v.end());
  *this = Labels(std::move(v));
}

Result<Labels> Labels::FromPairs(std::vector<Label> pairs) {
  std::sort(pairs.begin(), pairs.end());
  auto dup = std::adjacent_find(pairs.begin(), pairs.end(),
                                [](const Label& a, const Label& b) { return a.name == b.name; });
  if (dup != pairs.end()) return InvalidArgument("duplicate label name \"" + dup->name + "\"");
  return Labels(std::move(pairs));
}

Labels Labels::FromSorted(std::vector<Label> pairs) {
  assert(std::is_sorted(pairs.begin(), pairs.end(),
                        [](const Label& a, const Label& b) { return a.name < b.name; }));
  return Labels(std::move(pairs));
}

std::string_view Labels::Get(std::string_view name) const {
  const auto& p = pairs();
  auto it = std::lower_bound(p.begin(), p.end(), name,
                             [](const Label& l, std::string_view n) { return l.name < n; });
  if (it != p.end() && it->name == name) return it->value;
  return {};
}

bool Labels::Has(std::string_view name) const {
  const auto& p = pairs();
  auto it = std::lower_bound(p.begin(), p.end(), name,
                             [](const Label& l, std::string_view n) { return l.name < n; });
  return it != p.end() && it->name == name;
}

uint64_t Labels::Hash() const {
  if (!rep_) return HashPairs(EmptyPairs());
  if (rep_->hashed.load(std::memory_order_acquire)) {
    return rep_->hash.load(std::memory_order_relaxed);
  }
  const uint64_t h = HashPairs(rep_->pairs);
  rep_->hash.store(h, std::memory_order_relaxed);
  rep_->hashed.store(true, std::memory_order_release);
  return h;
}

std::string Labels::ToString() const { return PairsToString(pairs()); }

uint64_t HashLabels(std::span<const LabelView> labels) { return HashPairs(labels); }
std::string LabelsToString(std::span<const LabelView> labels) { return PairsToString(labels); }

Labels ToLabels(std::span<const LabelView> labels) {
  std::vector<Label> pairs;
  pairs.reserve(labels.size());
  for (const LabelView& l : labels)
    pairs.push_back(Label{std::string(l.name), std::string(l.value)});
  return Labels::FromSorted(std::move(pairs));
}

Status SortLabels(std::span<LabelView> labels) {
  auto by_name = [](const LabelView& a, const LabelView& b) { return a.name < b.name; };
  if (!std::is_sorted(labels.begin(), labels.end(), by_name)) {
    std::stable_sort(labels.begin(), labels.end(), by_name);
  }
  auto dup = std::adjacent_find(labels.begin(), labels.end(),
                                [](const auto& a, const auto& b) { return a.name == b.name; });
  if (dup != labels.end()) {
    return InvalidArgument("duplicate label name \"" + std::string(dup->name) + "\"");
  }
  return Status::Ok();
}

LabelsBuilder::LabelsBuilder(const Labels& base) : pairs_(base.pairs()) {}

LabelsBuilder& LabelsBuilder::Set(std::string_view name, std::string_view value) {
  if (value.empty()) return Del(name);
  auto it = std::lower_bound(pairs_.begin(), pairs_.end(), name,
                             [](const Label& l, std::string_view n) { return l.name < n; });
  if (it != pairs_.end() && it->name == name) {
    it->value = value;
  } else {
    pairs_.insert(it, Label{std::string(name), std::string(value)});
  }
  return *this;
}

LabelsBuilder& LabelsBuilder::Del(std::string_view name) {
  auto it = std::lower_bound(pairs_.begin(), pairs_.end(), name,
                             [](const Label& l, std::string_view n) { return l.name < n; });
  if (it != pairs_.end() && it->name == name) pairs_.erase(it);
  return *this;
}

std::string_view LabelsBuilder::Get(std::string_view name) const {
  auto it = std::lower_bound(pairs_.begin(), pairs_.end(), name,
                             [](const Label& l, std::string_view n) { return l.name < n; });
  return it != pairs_.end() && it->name == name ? std::string_view(it->value) : std::string_view();
}

Labels LabelsBuilder::Build() const { return Labels::FromSorted(pairs_); }

namespace {

bool IsNameStart(char c, bool colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
}
bool IsNameChar(char c, bool colon) { return IsNameStart(c, colon) || (c >= '0' && c <= '9'); }

bool IsValidName(std::string_view name, bool colon) {
  if (name.empty() || !IsNameStart(name[0], colon)) return false;
  for (char c : name.substr(1)) {
    if (!IsNameChar(c, colon)) return false;
  }
  return true;
}

// Index of the first byte that is not part of valid UTF-8, or npos.
size_t FirstInvalidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      len = 2;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return i;
    }
    if (i + len > s.size()) return i;
    for (size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return i;
      cp = (cp << 6) | (cc & 0x3f);
    }
    // Overlong forms, surrogates and values past U+10FFFF are invalid, as in Go.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) {
      return i;
    }
    i += len;
  }
  return std::string_view::npos;
}

}  // namespace

bool IsValidLabelName(std::string_view name) { return IsValidName(name, false); }
bool IsValidMetricName(std::string_view name) { return IsValidName(name, true); }
bool IsValidUtf8(std::string_view s) { return FirstInvalidUtf8(s) == std::string_view::npos; }

size_t Utf8SequenceAt(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  const size_t n = c < 0x80           ? 1
                   : (c >> 5) == 0x6  ? 2
                   : (c >> 4) == 0xe  ? 3
                   : (c >> 3) == 0x1e ? 4
                                      : 0;
  return n > 0 && i + n <= s.size() && (n == 1 || IsValidUtf8(s.substr(i, n))) ? n : 0;
}

std::string ToValidUtf8(std::string_view s) {
  if (IsValidUtf8(s)) return std::string(s);
  std::string out;
  out.reserve(s.size() + 8);
  size_t i = 0;
  while (i < s.size()) {
    if (const size_t n = Utf8SequenceAt(s, i); n > 0) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

Status ValidateLabelName(std::string_view name) {
  if (IsValidLabelName(name)) return Status::Ok();
  std::string m = "invalid label name ";
  AppendQuoted(m, name);
  return InvalidArgument(std::move(m));
}

Status ValidateMetricName(std::string_view name) {
  if (IsValidMetricName(name)) return Status::Ok();
  std::string m = "invalid metric name ";
  AppendQuoted(m, name);
  return InvalidArgument(std::move(m));
}

Status ValidateLabelValue(std::string_view name, std::string_view value) {
  size_t bad = FirstInvalidUtf8(value);
  if (bad == std::string_view::npos) return Status::Ok();
  return InvalidArgument("invalid UTF-8 in the value of label \"" + std::string(name) +
                         "\" at byte " + std::to_string(bad));
}

Status ValidateLabels(const Labels& labels, bool require_name) {
  return ValidatePairs(labels, require_name);
}

Status ValidateLabels(std::span<const LabelView> labels, bool require_name) {
  return ValidatePairs(labels, require_name);
}

void AppendQuoted(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          out += "\\x";
          out += kHex[(static_cast<unsigned char>(c) >> 4) & 0xf];
          out += kHex[static_cast<unsigned char>(c) & 0xf];
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

}  // namespace vigil
