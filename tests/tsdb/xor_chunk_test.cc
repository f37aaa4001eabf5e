#include "xor_chunk.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "vigil/tsdb/storage.h"

namespace vigil::tsdb {
namespace {

uint64_t Bits(double v) {
  uint64_t b;
  std::memcpy(&b, &v, sizeof(b));
  return b;
}

void RoundTrip(const std::vector<std::pair<int64_t, double>>& samples) {
  std::string bytes;
  XorAppender a(&bytes);
  for (auto [t, v] : samples) a.Append(t, v);
  XorIterator it(bytes);
  size_t i = 0;
  while (it.Next()) {
    ASSERT_LT(i, samples.size());
    EXPECT_EQ(it.t(), samples[i].first) << "sample " << i;
    EXPECT_EQ(it.value_bits(), Bits(samples[i].second)) << "sample " << i;  // bit-exact
    ++i;
  }
  EXPECT_TRUE(it.Err().ok()) << it.Err().ToString();
  EXPECT_EQ(i, samples.size());
  EXPECT_EQ(it.count(), samples.size());
}

TEST(XorChunkTest, RoundTripsSpecialValues) {
  const double inf = std::numeric_limits<double>::infinity();
  RoundTrip({{1000, 1.0},
             {2000, std::nan("")},
             {3000, StaleNaN()},
             {4000, inf},
             {5000, -inf},
             {6000, -0.0},
             {7000, 0.0},
             {8000, std::numeric_limits<double>::denorm_min()},
             {9000, std::numeric_limits<double>::max()},
             {10000, -1e-300}});
}

TEST(XorChunkTest, RoundTripsTimestampJumps) {
  RoundTrip({{std::numeric_limits<int64_t>::min() / 2, 1},
             {-5, 2},
             {0, 3},
             {0, 3},  // equal timestamps are stored as given
             {1, 4},
             {1'700'000'000'000, 5},
             {1'700'000'000'001, 6},
             {std::numeric_limits<int64_t>::max() / 2, 7}});
  // Every delta-of-delta class boundary.
  std::vector<std::pair<int64_t, double>> s;
  int64_t t = 0;
  for (int64_t dod : {0LL, 8191LL, 8192LL, 8193LL, -8191LL, -8192LL, 65536LL, 65537LL, -65535LL,
                      524288LL, 524289LL, -524287LL, 1LL << 40, -(1LL << 40)}) {
    t += 15000 + dod;
    s.emplace_back(t, 1.0);
  }
  RoundTrip(s);
}

TEST(XorChunkTest, RoundTripsRandomSeries) {
  std::mt19937_64 rng(42);
  std::vector<std::pair<int64_t, double>> s;
  int64_t t = 1'700'000'000'000;
  double counter = 0;
  for (int i = 0; i < 5000; ++i) {
    t += 15000 + static_cast<int64_t>(rng() % 7) - 3;
    counter += static_cast<double>(rng() % 1000) / 7.0;
    s.emplace_back(t, (i % 3 == 0) ? counter : std::ldexp(static_cast<double>(rng()), -40));
  }
  RoundTrip(s);
}

TEST(XorChunkTest, RegularSeriesCompressWell) {
  std::string bytes;
  XorAppender a(&bytes);
  for (int i = 0; i < 120; ++i) a.Append(1'700'000'000'000 + i * 15000, 42.0);
  // Constant value at a constant interval: 2 bits per sample after the first two.
  EXPECT_LT(bytes.size(), 50u);
}

TEST(XorChunkTest, ResumeContinuesTheStream) {
  std::string bytes;
  {
    XorAppender a(&bytes);
    for (int i = 0; i < 50; ++i) a.Append(i * 1000, i * 0.5);
  }
  auto resumed = XorAppender::Resume(&bytes);
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  EXPECT_EQ(resumed->count(), 50);
  EXPECT_EQ(resumed->last_t(), 49000);
  for (int i = 50; i < 100; ++i) resumed->Append(i * 1000, i * 0.5);
  XorIterator it(bytes);
  int i = 0;
  while (it.Next()) {
    EXPECT_EQ(it.t(), i * 1000);
    EXPECT_EQ(it.v(), i * 0.5);
    ++i;
  }
  EXPECT_EQ(i, 100);
}

TEST(XorChunkTest, CorruptChunksEndWithAnErrorNotACrash) {
  std::string bytes;
  XorAppender a(&bytes);
  for (int i = 0; i < 20; ++i) a.Append(i * 1000 + (i % 3), i * 1.25);
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    XorIterator it(std::string_view(bytes).substr(0, cut));
    while (it.Next()) {
    }
    EXPECT_FALSE(it.Err().ok()) << "cut at " << cut;
  }
  std::string lying = bytes;
  lying[0] = '\x7f';  // claims 32k samples
  XorIterator it(lying);
  int n = 0;
  while (it.Next()) ++n;
  EXPECT_FALSE(it.Err().ok());
  EXPECT_NE(it.Err().message().find("truncated"), std::string::npos);
}

}  // namespace
}  // namespace vigil::tsdb
