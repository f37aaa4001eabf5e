#pragma once

// Byte layouts of the store's keys and values. Integers in keys are big-endian so RocksDB's
// byte order is numeric order; signed times in keys are biased (sign bit flipped) for the same
// reason. Every layout here is format version 2 (see kFormatVersion); a change needs a new
// version and a migration or a refusal.

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/common/labels.h"
#include "vigil/common/status.h"

namespace vigil::tsdb {

inline constexpr std::string_view kFormatVersion = "2";

// The first byte of a closed chunk's bytes (after its min time): how it is encoded.
enum class ChunkEncoding : uint8_t { kXor = 0, kDecimal = 1 };
inline constexpr int64_t kBucketMs = 24LL * 3600 * 1000;  // chunks are grouped by day

inline void PutFixed32BE(std::string& out, uint32_t v) {
  for (int i = 3; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
inline void PutFixed64BE(std::string& out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
inline uint64_t GetFixed64BE(std::string_view in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}
inline uint32_t GetFixed32BE(std::string_view in) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}
inline uint64_t BiasTime(int64_t t) { return static_cast<uint64_t>(t) ^ (1ULL << 63); }
inline int64_t UnbiasTime(uint64_t b) { return static_cast<int64_t>(b ^ (1ULL << 63)); }

inline void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
// Reads a varint from the front of `in`, advancing it; false if truncated or too long.
inline bool GetVarint(std::string_view& in, uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64 && !in.empty(); shift += 7) {
    auto b = static_cast<uint8_t>(in[0]);
    in.remove_prefix(1);
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return true;
  }
  return false;
}
inline uint64_t ZigZag64(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
inline int64_t UnZigZag64(uint64_t v) {
  return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
}

// The day bucket of a time (floor division, also for negative times).
inline int64_t BucketOf(int64_t t) {
  return t >= 0 ? t / kBucketMs : -((-t + kBucketMs - 1) / kBucketMs);
}
// Buckets as unsigned key prefixes, ordered like the signed numbers.
inline uint32_t BucketKey(int64_t bucket) {
  return static_cast<uint32_t>(static_cast<int32_t>(bucket)) ^ 0x80000000u;
}

// chunks: [bucket 4][series 8][maxt 8][n 4] -> [mint zigzag varint][encoding 1][chunk bytes]
inline std::string ChunkKeyPrefix(int64_t bucket, uint64_t series) {
  std::string k;
  PutFixed32BE(k, BucketKey(bucket));
  PutFixed64BE(k, series);
  return k;
}
inline std::string ChunkKey(int64_t bucket, uint64_t series, int64_t maxt, uint32_t n) {
  std::string k = ChunkKeyPrefix(bucket, series);
  PutFixed64BE(k, BiasTime(maxt));
  PutFixed32BE(k, n);
  return k;
}

// series: [id 8] -> [persisted seq 8][persisted index 4][closed max t 8][labels]
inline std::string SeriesKey(uint64_t id) {
  std::string k;
  PutFixed64BE(k, id);
  return k;
}
void EncodeLabels(std::string& out, const Labels& labels);
Result<Labels> DecodeLabels(std::string_view in);
// Whether `enc` (EncodeLabels' form) holds exactly `labels`, without decoding.
bool EncodedEquals(std::string_view enc, const Labels& labels);
bool EncodedEquals(std::string_view enc, std::span<const LabelView> labels);
// The pairs of `enc` as views into it; false if `enc` is malformed.
bool DecodeLabelViews(std::string_view enc, std::vector<LabelView>& out);
// The value of label `name` in `enc`, or "" if absent (as Labels::Get).
std::string_view LabelValue(std::string_view enc, std::string_view name);

// postings: [varint len][name][varint len][value][id 8] -> ""
std::string PostingKey(std::string_view name, std::string_view value, uint64_t id);

// wal: [seq 8] -> repeated [series id varint][t zigzag varint][value 8 bytes LE]
inline std::string WalKey(uint64_t seq) {
  std::string k;
  PutFixed64BE(k, seq);
  return k;
}

}  // namespace vigil::tsdb
