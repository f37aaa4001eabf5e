#include "alert_codec.h"

#include <bit>

namespace vigil::alertd {

void PutU64(std::string& out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out += static_cast<char>((v >> (i * 8)) & 0xff);
}

namespace {

constexpr char kVersion = 1;

bool GetU64(std::string_view& in, uint64_t& v) {
  if (in.size() < 8) return false;
  v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  in.remove_prefix(8);
  return true;
}
void PutString(std::string& out, std::string_view s) {
  PutU64(out, s.size());
  out += s;
}
bool GetString(std::string_view& in, std::string& s) {
  uint64_t n;
  if (!GetU64(in, n) || n > in.size()) return false;
  s.assign(in.substr(0, n));
  in.remove_prefix(n);
  return true;
}
void PutLabels(std::string& out, const Labels& l) {
  PutU64(out, l.size());
  for (const Label& x : l) {
    PutString(out, x.name);
    PutString(out, x.value);
  }
}
// Labels as EncodeAlert writes them: sorted by name, each name once; anything else is damage.
bool GetLabels(std::string_view& in, Labels& l) {
  uint64_t n;
  if (!GetU64(in, n) || n > in.size()) return false;
  std::vector<Label> pairs(n);
  for (size_t i = 0; i < pairs.size(); ++i) {
    if (!GetString(in, pairs[i].name) || !GetString(in, pairs[i].value)) return false;
    if (i > 0 && !(pairs[i - 1].name < pairs[i].name)) return false;
  }
  l = Labels::FromSorted(std::move(pairs));
  return true;
}

}  // namespace

std::string EncodeAlert(const Alert& a) {
  std::string out(1, kVersion);
  PutLabels(out, a.labels);
  PutLabels(out, a.annotations);
  out += static_cast<char>(a.state);
  PutU64(out, std::bit_cast<uint64_t>(a.value));
  for (int64_t t : {a.active_at, a.fired_at, a.resolved_at, a.last_sent_at, a.valid_until,
                    a.keep_firing_since}) {
    PutU64(out, static_cast<uint64_t>(t));
  }
  return out;
}

Result<Alert> DecodeAlert(std::string_view in) {
  Alert a;
  if (in.empty() || in[0] != kVersion) return Corruption("alert state: unknown version");
  in.remove_prefix(1);
  if (!GetLabels(in, a.labels) || !GetLabels(in, a.annotations) || in.empty()) {
    return Corruption("alert state: truncated labels");
  }
  const auto state = static_cast<uint8_t>(in[0]);
  in.remove_prefix(1);
  if (state > static_cast<uint8_t>(AlertState::kFiring))
    return Corruption("alert state: bad state");
  a.state = static_cast<AlertState>(state);
  uint64_t v;
  if (!GetU64(in, v)) return Corruption("alert state: truncated");
  a.value = std::bit_cast<double>(v);
  for (int64_t* t : {&a.active_at, &a.fired_at, &a.resolved_at, &a.last_sent_at, &a.valid_until,
                     &a.keep_firing_since}) {
    if (!GetU64(in, v)) return Corruption("alert state: truncated times");
    *t = static_cast<int64_t>(v);
  }
  if (!in.empty()) return Corruption("alert state: trailing bytes");
  return a;
}

}  // namespace vigil::alertd
