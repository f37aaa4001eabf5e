#include "vigil/tsdb/rocksdb_store.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <cmath>
#include <cstring>
#include <map>
#include <thread>

#include "testing.h"

namespace vigil::tsdb {
namespace {

using namespace std::chrono_literals;

constexpr int64_t kT0 = 1'700'000'000'000;
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

Matcher M(MatchType t, const char* n, const char* v) { return *Matcher::Make(t, n, v); }
Matcher Eq(const char* n, const char* v) { return M(MatchType::kEqual, n, v); }

std::map<std::string, std::vector<Sample>> Query(Queryable& q, int64_t mint, int64_t maxt,
                                                 std::vector<Matcher> ms) {
  std::map<std::string, std::vector<Sample>> out;
  auto set = q.NewQuerier()->Select(mint, maxt, ms);
  std::string prev;
  while (set->Next()) {
    std::string key = set->labels().ToString();
    EXPECT_LT(prev, key) << "series not in label order";
    prev = key;
    out[key] = set->samples();
  }
  EXPECT_TRUE(set->Err().ok()) << set->Err().ToString();
  return out;
}

Labels Series(const std::string& name, const std::string& pod) {
  return Labels{{"__name__", name}, {"pod", pod}, {"namespace", "default"}};
}

class StoreTest : public ::testing::Test {
 protected:
  void Open() {
    store_.reset();
    StoreOptions opts;
    opts.dir = dir_.Join("db");
    opts.clock = clock_;
    opts.sync_wal = false;  // tests do not need the fsync; durability is the crash test's job
    auto s = RocksDbStore::Open(opts);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
  }
  void SetUp() override { Open(); }

  // Appends `n` samples per pod of a counter, one commit per step.
  void Fill(int pods, int steps, int64_t start = kT0) {
    for (int i = 0; i < steps; ++i) {
      auto app = store_->NewAppender();
      for (int p = 0; p < pods; ++p) {
        auto r = app->Append(0, Series("requests_total", "pod-" + std::to_string(p)),
                             start + i * 15'000, i * 1.5 + p);
        ASSERT_TRUE(r.ok()) << r.status().ToString();
      }
      ASSERT_TRUE(app->Commit().ok());
    }
  }

  void ExpectFilled(int pods, int steps, int64_t start = kT0) {
    auto got = Query(*store_, std::numeric_limits<int64_t>::min(),
                     std::numeric_limits<int64_t>::max(), {Eq("__name__", "requests_total")});
    ASSERT_EQ(got.size(), static_cast<size_t>(pods));
    for (int p = 0; p < pods; ++p) {
      const auto& samples = got[Series("requests_total", "pod-" + std::to_string(p)).ToString()];
      ASSERT_EQ(samples.size(), static_cast<size_t>(steps)) << "pod " << p;
      for (int i = 0; i < steps; ++i) {
        ASSERT_EQ(samples[i].t, start + i * 15'000);
        ASSERT_EQ(samples[i].v, i * 1.5 + p);
      }
    }
  }

  testing::TempDir dir_;
  std::shared_ptr<ManualClock> clock_ =
      std::make_shared<ManualClock>(Clock::SystemTime(std::chrono::milliseconds(kT0)));
  std::unique_ptr<RocksDbStore> store_;
};

TEST_F(StoreTest, AppendsAndSelectsByMatchers) {
  auto app = store_->NewAppender();
  ASSERT_TRUE(app->Append(0, Series("cpu", "a"), kT0, 1).ok());
  ASSERT_TRUE(app->Append(0, Series("cpu", "b"), kT0, 2).ok());
  ASSERT_TRUE(app->Append(0, Series("cpu", "c"), kT0, 3).ok());
  ASSERT_TRUE(app->Append(0, Series("mem", "a"), kT0, 4).ok());
  // Nothing is visible before the commit.
  EXPECT_TRUE(Query(*store_, kT0, kT0, {Eq("__name__", "cpu")}).empty());
  ASSERT_TRUE(app->Commit().ok());

  EXPECT_EQ(Query(*store_, kT0, kT0, {Eq("__name__", "cpu")}).size(), 3u);
  EXPECT_EQ(Query(*store_, kT0, kT0, {Eq("pod", "a")}).size(), 2u);
  EXPECT_EQ(
      Query(*store_, kT0, kT0, {Eq("__name__", "cpu"), M(MatchType::kNotEqual, "pod", "a")}).size(),
      2u);
  EXPECT_EQ(Query(*store_, kT0, kT0, {M(MatchType::kRegexMatch, "pod", "a|c")}).size(), 3u);
  EXPECT_EQ(Query(*store_, kT0, kT0, {M(MatchType::kRegexMatch, "pod", "[bc]")}).size(), 2u);
  EXPECT_EQ(
      Query(*store_, kT0, kT0, {Eq("__name__", "cpu"), M(MatchType::kRegexNoMatch, "pod", "a|b")})
          .size(),
      1u);
  EXPECT_TRUE(Query(*store_, kT0, kT0, {Eq("pod", "zzz")}).empty());
  // Absent label matches "".
  EXPECT_EQ(Query(*store_, kT0, kT0, {Eq("__name__", "cpu"), Eq("absent", "")}).size(), 3u);
  // Outside the time range: nothing.
  EXPECT_TRUE(Query(*store_, kT0 + 1, kT0 + 100, {Eq("__name__", "cpu")}).empty());

  auto q = store_->NewQuerier();
  EXPECT_EQ(*q->LabelNames(kMin, kMax, {}),
            (std::vector<std::string>{"__name__", "namespace", "pod"}));
  EXPECT_EQ(*q->LabelValues("pod", kMin, kMax, {Eq("__name__", "mem")}),
            (std::vector<std::string>{"a"}));
  EXPECT_EQ(*q->LabelValues("__name__", kMin, kMax, {}), (std::vector<std::string>{"cpu", "mem"}));
}

TEST_F(StoreTest, LabelsOnlyOfSeriesWithSamplesInTheRange) {
  auto app = store_->NewAppender();
  ASSERT_TRUE(app->Append(0, Series("old", "a"), kT0, 1).ok());
  ASSERT_TRUE(app->Append(0, Labels{{"__name__", "new"}, {"zone", "b"}}, kT0 + 3'600'000, 2).ok());
  ASSERT_TRUE(app->Commit().ok());
  auto q = store_->NewQuerier();
  // After the old series' last sample: only the new one.
  EXPECT_EQ(*q->LabelValues("__name__", kT0 + 1, kMax, {}), (std::vector<std::string>{"new"}));
  EXPECT_EQ(*q->LabelNames(kT0 + 1, kMax, {}), (std::vector<std::string>{"__name__", "zone"}));
  EXPECT_EQ(*q->LabelValues("__name__", kT0, kT0 + 1, {}),
            (std::vector<std::string>{"new", "old"}));  // coarse before the newest sample
  EXPECT_TRUE(q->LabelNames(kT0 + 3'600'001, kMax, {})->empty());  // after the store's newest
  EXPECT_TRUE(q->LabelNames(kMin, kT0 - 1, {})->empty());          // before the oldest
}

TEST_F(StoreTest, RefsSkipTheLabelLookup) {
  auto app = store_->NewAppender();
  auto ref = app->Append(0, Series("x", "a"), kT0, 1);
  ASSERT_TRUE(ref.ok());
  ASSERT_TRUE(app->Append(*ref, Labels(), kT0 + 1000, 2).ok());
  ASSERT_TRUE(app->Commit().ok());
  auto app2 = store_->NewAppender();
  EXPECT_EQ(*app2->Append(0, Series("x", "a"), kT0 + 2000, 3), *ref);
  ASSERT_TRUE(app2->Commit().ok());
  EXPECT_EQ(Query(*store_, kT0, kT0 + 5000, {Eq("__name__", "x")}).begin()->second.size(), 3u);
}

TEST_F(StoreTest, InvalidLabelsAreRejected) {
  auto app = store_->NewAppender();
  auto r = app->Append(0, Labels{{"__name__", "ok"}, {"bad-name", "v"}}, kT0, 1);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("invalid label name"), std::string::npos);
  EXPECT_FALSE(app->Append(0, Labels{{"job", "x"}}, kT0, 1).ok());  // no metric name
}

TEST_F(StoreTest, DuplicatesOutOfOrderAndTooOld) {
  auto app = store_->NewAppender();
  ASSERT_TRUE(app->Append(0, Series("g", "a"), kT0, 1).ok());
  ASSERT_TRUE(app->Commit().ok());
  // The same sample again (a sender's retry): accepted, stored once.
  ASSERT_TRUE(app->Append(0, Series("g", "a"), kT0, 1).ok());
  ASSERT_TRUE(app->Commit().ok());
  // Another value at the same time: refused as Prometheus does.
  auto dup = app->Append(0, Series("g", "a"), kT0, 2);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.status().message(), kErrDuplicate);
  // Out of order within the window (1h): accepted and returned in order.
  ASSERT_TRUE(app->Append(0, Series("g", "a"), kT0 + 60'000, 3).ok());
  ASSERT_TRUE(app->Append(0, Series("g", "a"), kT0 - 30'000, 0.5).ok());
  ASSERT_TRUE(app->Commit().ok());
  ASSERT_TRUE(app->Append(0, Series("g", "a"), kT0 + 30'000, 2.5).ok());
  ASSERT_TRUE(app->Commit().ok());
  // Beyond the window: refused.
  auto old = app->Append(0, Series("g", "a"), kT0 - 2 * 3600'000, 9);
  ASSERT_FALSE(old.ok());
  EXPECT_EQ(old.status().message(), kErrTooOld);
  // A different value at an out-of-order time already stored.
  auto ooo_dup = app->Append(0, Series("g", "a"), kT0 - 30'000, 7);
  EXPECT_EQ(ooo_dup.status().message(), kErrDuplicate);
  app->Rollback();

  auto got = Query(*store_, 0, kT0 * 2, {Eq("__name__", "g")});
  ASSERT_EQ(got.size(), 1u);
  const auto& s = got.begin()->second;
  ASSERT_EQ(s.size(), 4u);
  EXPECT_EQ(s[0].t, kT0 - 30'000);
  EXPECT_EQ(s[0].v, 0.5);
  EXPECT_EQ(s[1].v, 1);
  EXPECT_EQ(s[2].v, 2.5);
  EXPECT_EQ(s[3].v, 3);
}

// The newest_only hint may shorten a series to its newest sample in the range, never change
// which sample that is or which series match; unsorted, the same series in another order.
TEST_F(StoreTest, SelectHintsKeepTheNewestSampleAndTheSeries) {
  Fill(3, 300);  // 300 samples: two closed chunks and an open one per series
  auto app = store_->NewAppender();
  ASSERT_TRUE(app->Append(0, Series("requests_total", "pod-0"), kT0 + 100 * 15'000 + 1, 7).ok());
  ASSERT_TRUE(app->Commit().ok());  // an out-of-order sample, older than the newest
  const int64_t last = kT0 + 299 * 15'000;
  const std::vector<std::pair<int64_t, int64_t>> ranges = {
      {kMin, kMax},
      {last - 300'000, last},
      {last - 300'000, last + 60'000},
      {kT0, kT0},
      {kT0 + 100 * 15'000, kT0 + 100 * 15'000 + 1},
      {last + 1, kMax}};
  for (auto [mint, maxt] : ranges) {
    SCOPED_TRACE(std::to_string(mint) + ".." + std::to_string(maxt));
    auto full = Query(*store_, mint, maxt, {Eq("__name__", "requests_total")});
    std::map<std::string, std::vector<Sample>> newest;
    auto set = store_->NewQuerier()->Select(mint, maxt, {Eq("__name__", "requests_total")},
                                            {.sorted = false, .newest_only = true});
    while (set->Next()) newest[set->labels().ToString()] = set->samples();
    ASSERT_TRUE(set->Err().ok());
    ASSERT_EQ(newest.size(), full.size());
    for (const auto& [key, samples] : full) {
      ASSERT_TRUE(newest.count(key)) << key;
      const auto& got = newest[key];
      ASSERT_FALSE(got.empty());
      EXPECT_EQ(got.back().t, samples.back().t) << key;
      EXPECT_EQ(got.back().v, samples.back().v) << key;
    }
  }
}

TEST_F(StoreTest, StaleMarkersAreStoredBitExact) {
  auto app = store_->NewAppender();
  ASSERT_TRUE(app->Append(0, Series("up", "a"), kT0, 1).ok());
  ASSERT_TRUE(app->Append(0, Series("up", "a"), kT0 + 15'000, StaleNaN()).ok());
  ASSERT_TRUE(app->Append(0, Series("up", "a"), kT0 + 30'000, std::nan("")).ok());
  ASSERT_TRUE(app->Commit().ok());
  auto s = Query(*store_, kT0, kT0 + 30'000, {Eq("__name__", "up")}).begin()->second;
  ASSERT_EQ(s.size(), 3u);
  EXPECT_TRUE(IsStaleNaN(s[1].v));
  EXPECT_TRUE(std::isnan(s[2].v));
  EXPECT_FALSE(IsStaleNaN(s[2].v));
}

TEST_F(StoreTest, RestartReplaysTheLog) {
  Fill(5, 300);  // 300 samples per series: two closed chunks and an open one
  Open();
  ExpectFilled(5, 300);
  // And again after a checkpoint closed what was open and dropped the log.
  ASSERT_TRUE(store_->Checkpoint().ok());
  ASSERT_TRUE(store_->Checkpoint().ok());
  ASSERT_TRUE(store_->Checkpoint().ok());
  Fill(5, 10, kT0 + 300 * 15'000);
  Open();
  auto got = Query(*store_, kT0, kT0 + 310 * 15'000, {Eq("pod", "pod-3")});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got.begin()->second.size(), 310u);
  // Series ids are stable: the same labels get the same ref.
  auto app = store_->NewAppender();
  auto ref1 = app->Append(0, Series("requests_total", "pod-0"), kT0 + 400 * 15'000, 1);
  app->Rollback();
  Open();
  auto app2 = store_->NewAppender();
  EXPECT_EQ(*app2->Append(0, Series("requests_total", "pod-0"), kT0 + 400 * 15'000, 1), *ref1);
}

TEST_F(StoreTest, ReplayIsExactAcrossChunkCutsInsideACommit) {
  // One commit with 500 samples of one series: chunks are cut in the middle of the log record.
  auto app = store_->NewAppender();
  for (int i = 0; i < 500; ++i) {
    ASSERT_TRUE(app->Append(0, Series("c", "x"), kT0 + i * 1000, i).ok());
  }
  ASSERT_TRUE(app->Commit().ok());
  for (int round = 0; round < 2; ++round) {
    Open();
    auto s = Query(*store_, kT0, kT0 + 600'000, {Eq("__name__", "c")}).begin()->second;
    ASSERT_EQ(s.size(), 500u) << "round " << round;
    for (int i = 0; i < 500; ++i) ASSERT_EQ(s[i].v, i);
  }
}

TEST_F(StoreTest, RetentionDropsOldDaysAndForgetsSeries) {
  Fill(2, 10, kT0 - 20LL * 24 * 3600 * 1000);  // 20 days ago
  Fill(2, 10, kT0);                            // now
  auto app = store_->NewAppender();
  ASSERT_TRUE(app->Append(0, Series("old_only", "a"), kT0 - 20LL * 24 * 3600 * 1000, 1).ok());
  ASSERT_TRUE(app->Commit().ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(store_->Checkpoint().ok());  // close every chunk
  ASSERT_EQ(Query(*store_, 0, kT0 * 2, {Eq("__name__", "old_only")}).size(), 1u);
  ASSERT_TRUE(store_->ApplyRetention().ok());
  ExpectFilled(2, 10, kT0);
  EXPECT_TRUE(Query(*store_, 0, kT0 * 2, {Eq("__name__", "old_only")}).empty());
  EXPECT_EQ(*store_->NewQuerier()->LabelValues("__name__", kMin, kMax, {}),
            (std::vector<std::string>{"requests_total"}));
  Open();
  ExpectFilled(2, 10, kT0);
}

TEST_F(StoreTest, ASeriesForgottenWhileStagedComesBack) {
  auto app = store_->NewAppender();
  ASSERT_TRUE(app->Append(0, Series("late", "a"), kT0 - 20LL * 24 * 3600 * 1000, 1).ok());
  ASSERT_TRUE(app->Commit().ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(store_->Checkpoint().ok());
  // Staged, then retention forgets the series, then the commit lands.
  ASSERT_TRUE(app->Append(0, Series("late", "a"), kT0, 2).ok());
  ASSERT_TRUE(store_->ApplyRetention().ok());
  ASSERT_TRUE(app->Commit().ok());
  EXPECT_EQ(Query(*store_, kT0, kT0, {Eq("__name__", "late")}).size(), 1u);
  Open();  // and the log replay knows it
  auto got = Query(*store_, kT0, kT0, {Eq("__name__", "late")});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got.begin()->second[0].v, 2);
}

TEST_F(StoreTest, DeleteSeries) {
  Fill(3, 200);
  ASSERT_TRUE(store_->Checkpoint().ok());
  auto n = store_->DeleteSeries({Eq("pod", "pod-1")});
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1u);
  auto got = Query(*store_, 0, kT0 * 2, {Eq("__name__", "requests_total")});
  EXPECT_EQ(got.size(), 2u);
  Open();
  EXPECT_EQ(Query(*store_, 0, kT0 * 2, {Eq("__name__", "requests_total")}).size(), 2u);
}

TEST_F(StoreTest, DeleteSeriesInATimeRange) {
  // 200 samples per pod: one closed chunk of 120, 80 in the head (and in log records).
  Fill(3, 200);
  const int64_t from = kT0 + 100 * 15'000, to = kT0 + 150 * 15'000;  // 51 samples, both kinds
  auto n = store_->DeleteSeries({Eq("pod", "pod-1")}, from, to);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 1u);
  auto check = [&] {
    auto got = Query(*store_, kMin, kMax, {Eq("__name__", "requests_total")});
    ASSERT_EQ(got.size(), 3u);
    for (int p = 0; p < 3; ++p) {
      const auto& samples = got[Series("requests_total", "pod-" + std::to_string(p)).ToString()];
      ASSERT_EQ(samples.size(), p == 1 ? 149u : 200u) << p;
      for (const Sample& x : samples) {
        if (p == 1) {
          EXPECT_TRUE(x.t < from || x.t > to) << x.t;
        }
        EXPECT_EQ(x.v, (x.t - kT0) / 15'000 * 1.5 + p);
      }
    }
  };
  check();
  // New samples still go in after the delete, and nothing deleted comes back from the log.
  auto app = store_->NewAppender();
  ASSERT_TRUE(app->Append(0, Series("requests_total", "pod-1"), kT0 + 200 * 15'000, 301).ok());
  ASSERT_TRUE(app->Commit().ok());
  Open();
  auto got = Query(*store_, kMin, kMax, {Eq("pod", "pod-1")});
  ASSERT_EQ(got.begin()->second.size(), 150u);
  EXPECT_EQ(got.begin()->second.back().v, 301);
  EXPECT_EQ(Query(*store_, from, to, {Eq("pod", "pod-1")}).size(), 0u);
  // Nothing in the range: the samples outside are kept.
  ASSERT_EQ(*store_->DeleteSeries({Eq("pod", "pod-2")}, kT0 - 10, kT0 - 1), 0u);
  EXPECT_EQ(Query(*store_, kMin, kMax, {Eq("pod", "pod-2")}).begin()->second.size(), 200u);
}

TEST_F(StoreTest, ConcurrentAppenders) {
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&, w] {
      auto app = store_->NewAppender();
      for (int i = 0; i < 200; ++i) {
        ASSERT_TRUE(app->Append(0, Series("w", std::to_string(w)), kT0 + i * 1000, i).ok());
        if (i % 10 == 9) {
          ASSERT_TRUE(app->Commit().ok());
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  auto got = Query(*store_, 0, kT0 * 2, {Eq("__name__", "w")});
  ASSERT_EQ(got.size(), 4u);
  for (auto& [k, s] : got) EXPECT_EQ(s.size(), 200u) << k;
}

TEST_F(StoreTest, StatsShowCardinality) {
  Fill(4, 2);
  auto st = store_->Stats(3);
  EXPECT_EQ(st.num_series, 4u);
  ASSERT_FALSE(st.series_count_by_metric_name.empty());
  EXPECT_EQ(st.series_count_by_metric_name[0],
            (std::pair<std::string, uint64_t>{"requests_total", 4}));
  EXPECT_EQ(st.label_value_count_by_label_name[0], (std::pair<std::string, uint64_t>{"pod", 4}));
  EXPECT_EQ(st.min_time, kT0);
  EXPECT_EQ(st.max_time, kT0 + 15'000);
}

TEST(StoreFormatTest, UnknownFormatVersionIsRefused) {
  testing::TempDir dir;
  StoreOptions opts;
  opts.dir = dir.Join("db");
  ASSERT_TRUE(RocksDbStore::Open(opts).ok());
  {
    rocksdb::DB* db;
    std::vector<rocksdb::ColumnFamilyHandle*> cfs;
    std::vector<rocksdb::ColumnFamilyDescriptor> descs;
    for (const char* n : {"default", "series", "postings", "chunks", "wal"}) {
      descs.emplace_back(n, rocksdb::ColumnFamilyOptions());
    }
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), opts.dir, descs, &cfs, &db).ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cfs[0], "format_version", "99").ok());
    for (auto* cf : cfs) db->DestroyColumnFamilyHandle(cf);
    delete db;
  }
  auto r = RocksDbStore::Open(opts);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("has format version 99; this vigil reads version 2"),
            std::string::npos)
      << r.status().message();
}

}  // namespace
}  // namespace vigil::tsdb
