#include "decimal_chunk.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "encoding.h"
#include "xor_chunk.h"

namespace vigil::tsdb {
namespace {

constexpr double kPow10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
constexpr double kMaxExact = 9007199254740992.0;  // 2^53

// The integer v * 10^k if it round-trips exactly to v.
std::optional<int64_t> Scale(double v, int k) {
  if (!std::isfinite(v) || (v == 0 && std::signbit(v))) return std::nullopt;
  const double r = std::nearbyint(v * kPow10[k]);
  if (std::fabs(r) >= kMaxExact) return std::nullopt;
  const double back = r / kPow10[k];
  uint64_t a, b;
  std::memcpy(&a, &back, 8);
  std::memcpy(&b, &v, 8);
  if (a != b) return std::nullopt;
  return static_cast<int64_t>(r);
}

// Value deltas (zigzag, divided by the chunk's gcd) in a unary-prefixed class: '0' is zero,
// then 1 to 7 ones and a zero (none after seven) select 4, 8, 12, 16, 24, 32 or 64 bits.
constexpr int kClassBits[] = {4, 8, 12, 16, 24, 32, 64};
constexpr int kClasses = 7;

void WriteDelta(BitWriter& w, uint64_t zz) {
  if (zz == 0) {
    w.WriteBit(false);
    return;
  }
  for (int c = 0; c < kClasses; ++c) {
    if (c == kClasses - 1 || zz < (1ULL << kClassBits[c])) {
      const int ones = c + 1;
      if (ones < kClasses) {
        w.WriteBits(((1ULL << ones) - 1) << 1, ones + 1);  // ones, then a zero
      } else {
        w.WriteBits((1ULL << ones) - 1, ones);
      }
      w.WriteBits(zz, kClassBits[c]);
      return;
    }
  }
}

[[gnu::always_inline]] inline bool ReadDelta(BitReader& r, uint64_t& zz) {
  int ones = 0;
  if (!r.ReadOnes(kClasses, ones)) return false;
  if (ones == 0) {
    zz = 0;
    return true;
  }
  return r.ReadBits(kClassBits[ones - 1], zz);
}

}  // namespace

std::optional<std::string> EncodeDecimal(const std::vector<Sample>& samples) {
  if (samples.empty() || samples.size() > 65535) return std::nullopt;
  int k = 0;
  std::vector<int64_t> ints(samples.size());
  for (; k <= 9; ++k) {
    bool all = true;
    for (size_t i = 0; i < samples.size() && all; ++i) {
      auto s = Scale(samples[i].v, k);
      if (!s) {
        all = false;
      } else {
        ints[i] = *s;
      }
    }
    if (all) break;
  }
  if (k > 9) return std::nullopt;
  uint64_t gcd = 0;
  for (size_t i = 1; i < ints.size(); ++i) {
    const int64_t d = ints[i] - ints[i - 1];  // |ints| < 2^53: no overflow
    gcd = std::gcd(gcd, static_cast<uint64_t>(d < 0 ? -d : d));
  }
  if (gcd == 0) gcd = 1;
  std::string out;
  PutVarint(out, samples.size());
  out.push_back(static_cast<char>(k));
  PutVarint(out, gcd);
  std::string bits;
  BitWriter w(&bits);
  w.WriteBits(ZigZag64(samples[0].t), 64);
  w.WriteBits(ZigZag64(ints[0]), 64);
  int64_t prev_delta = 0;
  for (size_t i = 1; i < samples.size(); ++i) {
    const int64_t delta = samples[i].t - samples[i - 1].t;
    WriteDod(w, delta - prev_delta);
    prev_delta = delta;
    WriteDelta(w, ZigZag64((ints[i] - ints[i - 1]) / static_cast<int64_t>(gcd)));
  }
  out += bits;
  return out;
}

Status DecodeDecimal(std::string_view in, int64_t mint, int64_t maxt, std::vector<Sample>& out) {
  uint64_t count, gcd;
  if (!GetVarint(in, count) || count == 0 || count > 65535 || in.empty()) {
    return Corruption("decimal chunk: bad header");
  }
  const int k = static_cast<uint8_t>(in[0]);
  in.remove_prefix(1);
  if (k > 9 || !GetVarint(in, gcd) || gcd == 0) return Corruption("decimal chunk: bad header");
  BitReader r(in);
  uint64_t t0, v0;
  if (!r.ReadBits(64, t0) || !r.ReadBits(64, v0)) return Corruption("decimal chunk: truncated");
  int64_t t = UnZigZag64(t0);
  int64_t v = UnZigZag64(v0);
  int64_t delta = 0;
  if (out.capacity() < out.size() + count) {
    out.reserve(std::max<size_t>(out.size() + count, 2 * out.capacity()));
  }
  for (uint64_t i = 0;; ++i) {
    if (t > maxt) break;  // times only grow within a chunk
    if (t >= mint) {
      // Integers (k = 0: byte counts, most gauges) skip the division, which costs the most here.
      const double d = static_cast<double>(v);
      out.push_back({t, k == 0 ? d : d / kPow10[k]});
    }
    if (i + 1 == count) break;
    int64_t dod;
    uint64_t zz;
    if (!ReadDod(r, dod) || !ReadDelta(r, zz)) {
      return Corruption("decimal chunk: truncated at sample " + std::to_string(i + 1));
    }
    delta = static_cast<int64_t>(static_cast<uint64_t>(delta) + static_cast<uint64_t>(dod));
    t = static_cast<int64_t>(static_cast<uint64_t>(t) + static_cast<uint64_t>(delta));
    // Unsigned: corrupt input may overflow, which must not be undefined behaviour.
    v = static_cast<int64_t>(static_cast<uint64_t>(v) +
                             static_cast<uint64_t>(UnZigZag64(zz)) * gcd);
  }
  return Status::Ok();
}

}  // namespace vigil::tsdb
