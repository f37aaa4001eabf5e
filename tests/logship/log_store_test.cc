// The log store on RocksDB on disk: order, blocks and heads, the out-of-order window, the label
// index, recovery of what a killed process had written, retention.

#include "vigil/logship/log_store.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testing.h"

namespace vigil::logship {
namespace {

constexpr int64_t kSec = 1'000'000'000;

loki::Stream S(Labels labels, std::vector<std::pair<int64_t, std::string>> entries) {
  loki::Stream s;
  s.labels = std::move(labels);
  for (auto& [ts, line] : entries) s.entries.push_back({ts, std::move(line), {}});
  return s;
}

std::vector<std::pair<int64_t, std::string>> Read(const LogStore& store, uint64_t id,
                                                  int64_t start = INT64_MIN,
                                                  int64_t end = INT64_MAX) {
  std::vector<std::pair<int64_t, std::string>> out;
  Status st = store.ForEachEntry(id, start, end, [&](const LogEntry& e) {
    out.emplace_back(e.ts_ns, std::string(e.line));
    return true;
  });
  EXPECT_TRUE(st.ok()) << st.ToString();
  return out;
}

Matcher M(MatchType t, std::string name, std::string value) {
  auto m = Matcher::Make(t, std::move(name), std::move(value));
  EXPECT_TRUE(m.ok());
  return *m;
}

TEST(LogStoreTest, EntriesComeBackInOrderAcrossBlocksAndHead) {
  testing::TempDir dir;
  LogStoreOptions o;
  o.dir = dir.Join("store");
  o.block_bytes = 100;  // a block every few lines
  auto store = LogStore::Open(o);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  const Labels web{{"app", "web"}, {"namespace", "prod"}};
  const Labels db{{"app", "db"}, {"namespace", "prod"}};
  std::vector<std::pair<int64_t, std::string>> want;
  for (int batch = 0; batch < 20; ++batch) {
    std::vector<std::pair<int64_t, std::string>> lines;
    for (int i = 0; i < 5; ++i) {
      const int64_t ts = (batch * 5 + i) * kSec;
      lines.emplace_back(ts, "web line " + std::to_string(batch * 5 + i));
    }
    want.insert(want.end(), lines.begin(), lines.end());
    ASSERT_TRUE((*store)
                    ->Write({S(web, lines), S(db, {{batch * kSec, "db " + std::to_string(batch)}})})
                    .ok());
  }
  auto streams = (*store)->Select({M(MatchType::kEqual, "app", "web")});
  ASSERT_EQ(streams.size(), 1u);
  EXPECT_EQ(streams[0].labels, web);
  EXPECT_EQ(Read(**store, streams[0].id), want);
  // A range: start inclusive, end exclusive.
  auto part = Read(**store, streams[0].id, 10 * kSec, 13 * kSec);
  ASSERT_EQ(part.size(), 3u);
  EXPECT_EQ(part.front().second, "web line 10");
  EXPECT_EQ(part.back().second, "web line 12");

  EXPECT_EQ((*store)->Select({M(MatchType::kEqual, "namespace", "prod")}).size(), 2u);
  EXPECT_EQ((*store)
                ->Select({M(MatchType::kRegexMatch, "app", "w.*|d.*"),
                          M(MatchType::kNotEqual, "app", "db")})
                .size(),
            1u);
  EXPECT_TRUE((*store)->Select({M(MatchType::kEqual, "app", "nope")}).empty());
  EXPECT_EQ((*store)->LabelNames(), (std::vector<std::string>{"app", "namespace"}));
  EXPECT_EQ((*store)->LabelValues("app"), (std::vector<std::string>{"db", "web"}));
}

TEST(LogStoreTest, OutOfOrderWithinTheWindowIsKeptInOrderAndOlderIsRefused) {
  testing::TempDir dir;
  LogStoreOptions o;
  o.dir = dir.Join("store");
  o.block_bytes = 10;  // each write is cut into a block: the later ones overlap the first
  o.out_of_order_window_ns = 100 * kSec;
  auto store = LogStore::Open(o);
  ASSERT_TRUE(store.ok());
  const Labels l{{"app", "x"}};
  ASSERT_TRUE(
      (*store)
          ->Write({S(l, {{200 * kSec, "a200"}, {210 * kSec, "a210"}, {220 * kSec, "a220"}})})
          .ok());
  // Older than what is already in a block, still within the window; and one too old.
  ASSERT_TRUE(
      (*store)
          ->Write({S(l, {{205 * kSec, "b205"}, {50 * kSec, "too old"}, {230 * kSec, "b230"}})})
          .ok());
  ASSERT_TRUE((*store)->Write({S(l, {{200 * kSec, "c200"}})}).ok());  // same time as a200: after it
  auto id = (*store)->Select({M(MatchType::kEqual, "app", "x")})[0].id;
  ASSERT_TRUE((*store)->Flush().ok());  // nothing left in the head: three overlapping blocks
  std::vector<std::string> lines;
  for (auto& [ts, line] : Read(**store, id)) lines.push_back(line);
  EXPECT_EQ(lines, (std::vector<std::string>{"a200", "c200", "b205", "a210", "a220", "b230"}));
}

TEST(LogStoreTest, WhatAKilledProcessWroteIsThereAfterRestart) {
  testing::TempDir dir;
  LogStoreOptions o;
  o.dir = dir.Join("store");
  o.block_bytes = 64;
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Written, some into blocks and some left in the head, then gone without closing anything.
    auto store = LogStore::Open(o);
    if (!store.ok()) ::_exit(2);
    for (int i = 0; i < 50; ++i) {
      if (!(*store)
               ->Write({S(Labels{{"app", "k"}}, {{i * kSec, "line " + std::to_string(i)}})})
               .ok()) {
        ::_exit(3);
      }
    }
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  auto store = LogStore::Open(o);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto streams = (*store)->Select({M(MatchType::kEqual, "app", "k")});
  ASSERT_EQ(streams.size(), 1u);
  auto got = Read(**store, streams[0].id);
  ASSERT_EQ(got.size(), 50u);
  for (int i = 0; i < 50; ++i)
    EXPECT_EQ(got[static_cast<size_t>(i)].second, "line " + std::to_string(i));
  // New writes after the restart go on without clashing with what was recovered.
  ASSERT_TRUE((*store)->Write({S(Labels{{"app", "k"}}, {{60 * kSec, "after"}})}).ok());
  ASSERT_TRUE((*store)->Flush().ok());
  got = Read(**store, streams[0].id);
  ASSERT_EQ(got.size(), 51u);
  EXPECT_EQ(got.back().second, "after");
}

TEST(LogStoreTest, RetentionDropsWholeOldBlocks) {
  testing::TempDir dir;
  LogStoreOptions o;
  o.dir = dir.Join("store");
  o.block_bytes = 1;  // a block per write
  o.retention_ns = 100 * kSec;
  o.out_of_order_window_ns = 1000 * kSec;
  auto store = LogStore::Open(o);
  ASSERT_TRUE(store.ok());
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(
        (*store)
            ->Write({S(Labels{{"app", "r"}}, {{i * 50 * kSec, "t" + std::to_string(i * 50)}})})
            .ok());
  }
  auto dropped = (*store)->EnforceRetention(500 * kSec);  // keeps what is at or after 400 s
  ASSERT_TRUE(dropped.ok());
  EXPECT_EQ(*dropped, 8u);
  auto got = Read(**store, (*store)->Select({M(MatchType::kEqual, "app", "r")})[0].id);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].second, "t400");
}

}  // namespace
}  // namespace vigil::logship
