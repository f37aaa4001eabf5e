#include "encoding.h"

namespace vigil::tsdb {

void EncodeLabels(std::string& out, const Labels& labels) {
  PutVarint(out, labels.size());
  for (const Label& l : labels) {
    PutVarint(out, l.name.size());
    out += l.name;
    PutVarint(out, l.value.size());
    out += l.value;
  }
}

Result<Labels> DecodeLabels(std::string_view in) {
  uint64_t n;
  if (!GetVarint(in, n) || n > 10'000) return Corruption("series labels: bad count");
  std::vector<Label> pairs;
  pairs.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t len;
    Label l;
    if (!GetVarint(in, len) || len > in.size()) return Corruption("series labels: bad name");
    l.name = std::string(in.substr(0, len));
    in.remove_prefix(len);
    if (!GetVarint(in, len) || len > in.size()) return Corruption("series labels: bad value");
    l.value = std::string(in.substr(0, len));
    in.remove_prefix(len);
    pairs.push_back(std::move(l));
  }
  return Labels::FromPairs(std::move(pairs));
}

namespace {
// Reads one length-prefixed string from the front of `in`.
bool GetString(std::string_view& in, std::string_view& out) {
  uint64_t len;
  if (!GetVarint(in, len) || len > in.size()) return false;
  out = in.substr(0, len);
  in.remove_prefix(len);
  return true;
}

template <class Pairs>
bool EncodedEqualsPairs(std::string_view enc, const Pairs& labels) {
  uint64_t n;
  if (!GetVarint(enc, n) || n != labels.size()) return false;
  for (const auto& l : labels) {
    std::string_view name, value;
    if (!GetString(enc, name) || !GetString(enc, value)) return false;
    if (name != l.name || value != l.value) return false;
  }
  return enc.empty();
}

}  // namespace

bool EncodedEquals(std::string_view enc, const Labels& labels) {
  return EncodedEqualsPairs(enc, labels);
}
bool EncodedEquals(std::string_view enc, std::span<const LabelView> labels) {
  return EncodedEqualsPairs(enc, labels);
}

bool DecodeLabelViews(std::string_view enc, std::vector<LabelView>& out) {
  out.clear();
  uint64_t n;
  if (!GetVarint(enc, n) || n > enc.size()) return false;
  for (uint64_t i = 0; i < n; ++i) {
    LabelView l;
    if (!GetString(enc, l.name) || !GetString(enc, l.value)) return false;
    out.push_back(l);
  }
  return enc.empty();
}

std::string_view LabelValue(std::string_view enc, std::string_view name) {
  uint64_t n;
  if (!GetVarint(enc, n)) return {};
  for (uint64_t i = 0; i < n; ++i) {
    std::string_view k, v;
    if (!GetString(enc, k) || !GetString(enc, v)) return {};
    if (k == name) return v;
  }
  return {};
}

std::string PostingKey(std::string_view name, std::string_view value, uint64_t id) {
  std::string k;
  PutVarint(k, name.size());
  k += name;
  PutVarint(k, value.size());
  k += value;
  PutFixed64BE(k, id);
  return k;
}

}  // namespace vigil::tsdb
