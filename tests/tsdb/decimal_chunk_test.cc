#include "decimal_chunk.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "xor_chunk.h"

namespace vigil::tsdb {
namespace {

uint64_t Bits(double v) {
  uint64_t b;
  std::memcpy(&b, &v, 8);
  return b;
}

void ExpectRoundTrip(const std::vector<Sample>& in) {
  auto enc = EncodeDecimal(in);
  ASSERT_TRUE(enc.has_value());
  std::vector<Sample> out;
  ASSERT_TRUE(DecodeDecimal(*enc, std::numeric_limits<int64_t>::min(),
                            std::numeric_limits<int64_t>::max(), out)
                  .ok());
  ASSERT_EQ(out.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(out[i].t, in[i].t) << i;
    EXPECT_EQ(Bits(out[i].v), Bits(in[i].v)) << i << ": " << in[i].v << " vs " << out[i].v;
  }
}

std::string Xor(const std::vector<Sample>& in) {
  std::string bytes;
  XorAppender a(&bytes);
  for (const auto& s : in) a.Append(s.t, s.v);
  return bytes;
}

TEST(DecimalChunkTest, RoundTripsExporterValuesBitForBit) {
  std::mt19937_64 rng(7);
  std::vector<Sample> cpu, bytes, nanos, mem, ratio;
  double c = 12345.67, b = 9.87e11, m = 5.0e8;
  uint64_t ns = 42'123'456'789;  // cAdvisor divides integer nanoseconds by 1e9
  for (int i = 0; i < 120; ++i) {
    const int64_t t = 1'700'000'000'000 + i * 15'000 + static_cast<int64_t>(rng() % 3);
    c = std::round((c + static_cast<double>(rng() % 1500) / 100) * 100) / 100;
    b += static_cast<double>(rng() % 200) * 1500;
    ns += rng() % 3'000'000'000ULL;
    const double n = static_cast<double>(ns) / 1e9;
    m += (static_cast<double>(rng() % 9) - 4) * 4096;
    cpu.push_back({t, c});
    bytes.push_back({t, b});
    nanos.push_back({t, n});
    mem.push_back({t, m});
    ratio.push_back({t, static_cast<double>(rng() % 400) / 100});
  }
  for (const auto* s : {&cpu, &bytes, &nanos, &mem, &ratio}) ExpectRoundTrip(*s);
  // Counters and page-multiple gauges are where it pays (the store keeps whichever is smaller).
  for (const auto* s : {&cpu, &bytes, &nanos, &mem}) {
    EXPECT_LT(EncodeDecimal(*s)->size(), Xor(*s).size());
  }
  ExpectRoundTrip({{0, 1}});
  ExpectRoundTrip({{-5, -1.5}, {0, 2.25}, {7, -1e13}, {9, 0}});
}

TEST(DecimalChunkTest, RefusesWhatItCannotRoundTrip) {
  for (double bad : {std::nan(""), StaleNaN(), std::numeric_limits<double>::infinity(), -0.0,
                     0.1 + 0.2, 1e300, 1.0 / 3}) {
    EXPECT_FALSE(EncodeDecimal({{0, 1}, {1, bad}}).has_value()) << bad;
  }
  EXPECT_FALSE(EncodeDecimal({}).has_value());
}

TEST(DecimalChunkTest, CorruptInputIsAnErrorNotACrash) {
  std::vector<Sample> s;
  for (int i = 0; i < 50; ++i) s.push_back({i * 1000, i * 0.25});
  auto enc = *EncodeDecimal(s);
  for (size_t cut = 0; cut < enc.size(); ++cut) {
    std::vector<Sample> out;
    EXPECT_FALSE(DecodeDecimal(std::string_view(enc).substr(0, cut), 0, 1 << 30, out).ok()) << cut;
  }
  std::vector<Sample> out;
  EXPECT_TRUE(DecodeDecimal(enc, 10'000, 20'000, out).ok());
  EXPECT_EQ(out.size(), 11u);  // only the asked range
}

}  // namespace
}  // namespace vigil::tsdb
