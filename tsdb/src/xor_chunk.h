#pragma once

// XorChunk: the Gorilla encoding of Facebook's paper (Pelkonen et al., VLDB 2015) for one
// series' samples in time order: delta-of-delta timestamps in 1, 16, 20, 24 or 68 bits, values
// XORed with the previous one and stored as the meaningful bits only.
//
// Layout: [count: 2 bytes BE][bit stream]. The first sample is a zigzag varint timestamp and 64
// raw value bits; every later one a delta-of-delta (the second against a delta of 0) and an XOR
// value. Count is rewritten in place on each append, so the bytes are a valid chunk at any time.
//
// An XorAppender appends to a chunk's bytes it does not own; readers may copy those bytes at
// any time between appends. Not thread-safe.

#include <bit>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "vigil/common/status.h"

namespace vigil::tsdb {

class BitWriter {
 public:
  explicit BitWriter(std::string* out) : out_(out) {}
  void WriteBit(bool bit);
  void WriteBits(uint64_t value, int nbits);  // the low `nbits` of value, most significant first
  // Resumes writing a stream that ends `free_bits` short of a full last byte.
  void Resume(int free_bits) { free_ = free_bits; }
  int free_bits() const { return free_; }

 private:
  std::string* out_;
  int free_ = 0;  // unused low bits of the last byte
};

// Reads a bit stream most significant bit first. Inline, and a word at a time: chunk decoding
// is most of what a query's reads cost.
class BitReader {
 public:
  explicit BitReader(std::string_view data, size_t bit_offset = 0)
      : data_(data), pos_(bit_offset), end_(data.size() * 8) {}

  [[gnu::always_inline]] bool ReadBit(bool& bit) {
    if (pos_ >= end_) return false;
    bit = (static_cast<uint8_t>(data_[pos_ >> 3]) >> (7 - (pos_ & 7))) & 1;
    ++pos_;
    return true;
  }
  [[gnu::always_inline]] bool ReadBits(int nbits, uint64_t& value) {
    if (pos_ + static_cast<size_t>(nbits) > end_) return false;
    if (nbits == 0) {
      value = 0;
    } else if (nbits <= 56) {
      value = Window() >> (64 - nbits);
      pos_ += static_cast<size_t>(nbits);
    } else {
      const uint64_t hi = Window() >> (64 - (nbits - 32));
      pos_ += static_cast<size_t>(nbits - 32);
      const uint64_t lo = Window() >> 32;
      pos_ += 32;
      value = (hi << 32) | lo;
    }
    return true;
  }
  // Up to `max` one bits, and the zero that ends them when there are fewer: the prefix of
  // Gorilla's size classes.
  [[gnu::always_inline]] bool ReadOnes(int max, int& ones) {
    ones = std::countl_one(Window());
    if (ones > max) ones = max;
    const size_t n = static_cast<size_t>(ones) + (ones < max ? 1 : 0);
    if (pos_ + n > end_) return false;
    pos_ += n;
    return true;
  }
  size_t position() const { return pos_; }

 private:
  // The next 57 to 64 bits at the top of a word; zeros past the end of the data.
  [[gnu::always_inline]] uint64_t Window() const {
    const size_t byte = pos_ >> 3;
    uint64_t w = 0;
    if (byte + 8 <= data_.size()) {
      std::memcpy(&w, data_.data() + byte, 8);
      w = __builtin_bswap64(w);
    } else {
      for (size_t i = 0; i < 8; ++i) {
        w <<= 8;
        if (byte + i < data_.size()) w |= static_cast<uint8_t>(data_[byte + i]);
      }
    }
    return w << (pos_ & 7);
  }

  std::string_view data_;
  size_t pos_;
  size_t end_;
};

// Timestamp delta-of-delta in Gorilla's classes: '0' for 0, then '10', '110', '1110' with 14,
// 17 or 20 bits, '1111' with 64. Shared by the XOR and decimal chunk encodings.
void WriteDod(BitWriter& w, int64_t dod);

inline int64_t SignExtend(uint64_t v, int bits) {
  if (bits == 64) return static_cast<int64_t>(v);
  const uint64_t sign = 1ULL << (bits - 1);
  // A value above the positive limit wraps to negative, matching how WriteDod stores it.
  if (v > sign) return static_cast<int64_t>(v) - (int64_t{1} << bits);
  return static_cast<int64_t>(v);
}

// Inline: it runs once per sample of every chunk a query reads.
[[gnu::always_inline]] inline bool ReadDod(BitReader& r, int64_t& dod) {
  int ones = 0;
  if (!r.ReadOnes(4, ones)) return false;
  dod = 0;
  if (ones == 0) return true;
  static constexpr int kBits[] = {0, 14, 17, 20, 64};
  uint64_t raw;
  if (!r.ReadBits(kBits[ones], raw)) return false;
  dod = SignExtend(raw, kBits[ones]);
  return true;
}

inline constexpr size_t kXorHeaderBytes = 2;
inline constexpr uint16_t kMaxXorSamples = 65535;

// Appends samples to a chunk held in `bytes` (empty for a new chunk). Timestamps must not
// decrease; the caller checks (an equal timestamp is stored as given).
class XorAppender {
 public:
  // Starts a new chunk in `bytes` (whatever it held is replaced).
  explicit XorAppender(std::string* bytes);
  // Continues an existing chunk: replays it to rebuild the encoder state.
  static Result<XorAppender> Resume(std::string* bytes);

  void Append(int64_t t, double v);
  uint16_t count() const { return count_; }
  int64_t last_t() const { return t_; }
  double last_v() const;

 private:
  void WriteValue(uint64_t bits);

  std::string* bytes_;
  BitWriter w_;
  uint16_t count_ = 0;
  int64_t t_ = 0;
  int64_t delta_ = 0;
  uint64_t v_ = 0;
  uint8_t leading_ = 0xff;  // 0xff: no XOR window yet
  uint8_t trailing_ = 0;
};

// Decodes a chunk. Corrupt input ends the iteration with Err() set, never reads out of bounds.
class XorIterator {
 public:
  explicit XorIterator(std::string_view bytes);
  // Advances to the next sample; false at the end or on corruption.
  bool Next();
  int64_t t() const { return t_; }
  double v() const;
  uint64_t value_bits() const { return v_; }
  const Status& Err() const { return err_; }
  uint16_t count() const { return count_; }
  // Decoder state, for XorAppender::Resume.
  size_t bit_position() const { return r_.position(); }
  bool has_window() const { return has_window_; }
  uint8_t leading() const { return leading_; }
  uint8_t trailing() const { return trailing_; }

 private:
  bool Fail(const char* what);

  std::string_view bytes_;
  BitReader r_;
  uint16_t count_ = 0;
  uint16_t read_ = 0;
  int64_t t_ = 0;
  int64_t delta_ = 0;
  uint64_t v_ = 0;
  uint8_t leading_ = 0;
  uint8_t trailing_ = 0;
  bool has_window_ = false;
  Status err_;
};

}  // namespace vigil::tsdb
