#include "xor_chunk.h"

#include <bit>
#include <cstring>

namespace vigil::tsdb {

void BitWriter::WriteBit(bool bit) {
  if (free_ == 0) {
    out_->push_back('\0');
    free_ = 8;
  }
  --free_;
  if (bit) out_->back() = static_cast<char>(static_cast<uint8_t>(out_->back()) | (1u << free_));
}

void BitWriter::WriteBits(uint64_t value, int nbits) {
  while (nbits > 0) {
    if (free_ == 0) {
      out_->push_back('\0');
      free_ = 8;
    }
    const int take = nbits < free_ ? nbits : free_;
    const uint64_t chunk = (value >> (nbits - take)) & ((1ULL << take) - 1);
    out_->back() =
        static_cast<char>(static_cast<uint8_t>(out_->back()) | (chunk << (free_ - take)));
    free_ -= take;
    nbits -= take;
  }
}

namespace {

uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

}  // namespace

void WriteDod(BitWriter& w, int64_t dod) {
  auto fits = [&](int bits) {
    const int64_t lim = int64_t{1} << (bits - 1);
    return dod >= -lim + 1 && dod <= lim;
  };
  if (dod == 0) {
    w.WriteBit(false);
  } else if (fits(14)) {
    w.WriteBits(0b10, 2);
    w.WriteBits(static_cast<uint64_t>(dod), 14);
  } else if (fits(17)) {
    w.WriteBits(0b110, 3);
    w.WriteBits(static_cast<uint64_t>(dod), 17);
  } else if (fits(20)) {
    w.WriteBits(0b1110, 4);
    w.WriteBits(static_cast<uint64_t>(dod), 20);
  } else {
    w.WriteBits(0b1111, 4);
    w.WriteBits(static_cast<uint64_t>(dod), 64);
  }
}

XorAppender::XorAppender(std::string* bytes) : bytes_(bytes), w_(bytes) {
  bytes_->assign(kXorHeaderBytes, '\0');
}

Result<XorAppender> XorAppender::Resume(std::string* bytes) {
  std::string copy = *bytes;
  XorAppender a(bytes);
  *bytes = std::move(copy);
  XorIterator it(*bytes);
  // Replays the chunk to recover the encoder state and where the bit stream ends.
  while (it.Next()) {
    a.delta_ = a.count_ == 0 ? 0 : it.t() - a.t_;
    a.t_ = it.t();
    a.v_ = it.value_bits();
    ++a.count_;
  }
  if (!it.Err().ok()) return it.Err();
  const size_t free_bits = bytes->size() * 8 - it.bit_position();
  if (free_bits >= 8) return Corruption("XOR chunk: bytes after the last sample");
  a.leading_ = it.has_window() ? it.leading() : 0xff;
  a.trailing_ = it.trailing();
  a.w_.Resume(static_cast<int>(free_bits));
  return a;
}

double XorAppender::last_v() const {
  double d;
  std::memcpy(&d, &v_, sizeof(d));
  return d;
}

void XorAppender::Append(int64_t t, double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  if (count_ == 0) {
    uint64_t zz = ZigZag(t);
    // Varint of the timestamp, byte-aligned at the start of the stream.
    while (zz >= 0x80) {
      w_.WriteBits((zz & 0x7f) | 0x80, 8);
      zz >>= 7;
    }
    w_.WriteBits(zz, 8);
    w_.WriteBits(bits, 64);
    delta_ = 0;
  } else {
    const int64_t delta = t - t_;
    WriteDod(w_, delta - delta_);
    delta_ = delta;
    WriteValue(bits ^ v_);
  }
  t_ = t;
  v_ = bits;
  ++count_;
  (*bytes_)[0] = static_cast<char>(count_ >> 8);
  (*bytes_)[1] = static_cast<char>(count_ & 0xff);
}

void XorAppender::WriteValue(uint64_t x) {
  if (x == 0) {
    w_.WriteBit(false);
    return;
  }
  w_.WriteBit(true);
  uint8_t leading = static_cast<uint8_t>(std::countl_zero(x));
  const uint8_t trailing = static_cast<uint8_t>(std::countr_zero(x));
  if (leading > 31) leading = 31;  // 5 bits
  if (leading_ != 0xff && leading >= leading_ && trailing >= trailing_) {
    // Fits the previous window: reuse it.
    w_.WriteBit(false);
    w_.WriteBits(x >> trailing_, 64 - leading_ - trailing_);
    return;
  }
  leading_ = leading;
  trailing_ = trailing;
  const int sigbits = 64 - leading - trailing;
  w_.WriteBit(true);
  w_.WriteBits(leading, 5);
  w_.WriteBits(static_cast<uint64_t>(sigbits & 63), 6);  // 64 is stored as 0
  w_.WriteBits(x >> trailing, sigbits);
}

XorIterator::XorIterator(std::string_view bytes) : bytes_(bytes), r_(bytes, kXorHeaderBytes * 8) {
  if (bytes.size() < kXorHeaderBytes) {
    Fail("chunk shorter than its header");
    return;
  }
  count_ =
      static_cast<uint16_t>((static_cast<uint8_t>(bytes[0]) << 8) | static_cast<uint8_t>(bytes[1]));
}

bool XorIterator::Fail(const char* what) {
  if (err_.ok()) {
    err_ = Corruption(std::string("XOR chunk: ") + what + " at sample " + std::to_string(read_) +
                      " of " + std::to_string(count_));
  }
  read_ = count_;
  return false;
}

double XorIterator::v() const {
  double d;
  std::memcpy(&d, &v_, sizeof(d));
  return d;
}

bool XorIterator::Next() {
  if (!err_.ok() || read_ >= count_) return false;
  if (read_ == 0) {
    uint64_t zz = 0;
    for (int shift = 0;; shift += 7) {
      uint64_t byte;
      if (shift > 63 || !r_.ReadBits(8, byte)) return Fail("truncated first timestamp");
      zz |= (byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) break;
    }
    t_ = UnZigZag(zz);
    if (!r_.ReadBits(64, v_)) return Fail("truncated first value");
    ++read_;
    return true;
  }
  int64_t dod;
  if (!ReadDod(r_, dod)) return Fail("truncated timestamp");
  // Wrapping arithmetic: corrupt input must not be undefined behaviour.
  delta_ = static_cast<int64_t>(static_cast<uint64_t>(delta_) + static_cast<uint64_t>(dod));
  t_ = static_cast<int64_t>(static_cast<uint64_t>(t_) + static_cast<uint64_t>(delta_));
  bool bit;
  if (!r_.ReadBit(bit)) return Fail("truncated value");
  if (bit) {
    bool new_window;
    if (!r_.ReadBit(new_window)) return Fail("truncated value");
    if (new_window) {
      uint64_t leading, sig;
      if (!r_.ReadBits(5, leading) || !r_.ReadBits(6, sig)) return Fail("truncated value");
      if (sig == 0) sig = 64;
      if (leading + sig > 64) return Fail("invalid XOR window");
      leading_ = static_cast<uint8_t>(leading);
      trailing_ = static_cast<uint8_t>(64 - leading - sig);
      has_window_ = true;
    } else if (!has_window_) {
      return Fail("XOR window reused before one was set");
    }
    const int sigbits = 64 - leading_ - trailing_;
    uint64_t x;
    if (!r_.ReadBits(sigbits, x)) return Fail("truncated value");
    v_ ^= x << trailing_;
  }
  ++read_;
  return true;
}

}  // namespace vigil::tsdb
