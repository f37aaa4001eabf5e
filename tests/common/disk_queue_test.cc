#include "vigil/common/disk_queue.h"

#include <gtest/gtest.h>

#include <thread>

#include "testing.h"

namespace vigil {
namespace {

using ::vigil::testing::TempDir;

std::vector<std::string> Data(const std::vector<DiskQueue::Record>& records) {
  std::vector<std::string> out;
  for (const auto& r : records) out.push_back(r.data);
  return out;
}

// Every case runs on the real filesystem (a temp dir) and on the in-memory one.
class DiskQueueTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    fs_ = GetParam() ? RealFileSystem() : std::make_shared<MemFileSystem>();
    dir_ = GetParam() ? tmp_.Join("q") : "/q";
  }
  std::unique_ptr<DiskQueue> Open(std::vector<std::string> readers, DiskQueueOptions o = {}) {
    auto q = DiskQueue::Open(fs_, dir_, std::move(readers), std::move(o));
    EXPECT_TRUE(q.ok()) << q.status().ToString();
    return q.ok() ? std::move(*q) : nullptr;
  }
  TempDir tmp_;
  std::shared_ptr<FileSystem> fs_;
  std::string dir_;
};

TEST_P(DiskQueueTest, ReadersHaveTheirOwnCursorsAndResumeAfterReopen) {
  {
    auto q = Open({"a", "b"});
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(q->Append("r" + std::to_string(i)).ok());
    auto got = q->Read(0, 0, 3, 1 << 20);
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(Data(*got), (std::vector<std::string>{"r0", "r1", "r2"}));
    // Reading on from the last record read, without a commit.
    auto more = q->Read(0, got->back().seq + 1, 10, 1 << 20);
    EXPECT_EQ(Data(*more), (std::vector<std::string>{"r3", "r4"}));
    ASSERT_TRUE(q->Commit(0, 3).ok());
    EXPECT_EQ(Data(*q->Read(1, 0, 2, 1 << 20)), (std::vector<std::string>{"r0", "r1"}));
  }
  auto q = Open({"a", "b"});
  EXPECT_EQ(q->next_seq(), 5u);
  EXPECT_EQ(Data(*q->Read(0, 0, 10, 1 << 20)), (std::vector<std::string>{"r3", "r4"}));
  EXPECT_EQ(q->Read(1, 0, 10, 1 << 20)->size(), 5u);
}

TEST_P(DiskQueueTest, ReadStopsAtTheByteBudgetButReturnsAtLeastOne) {
  auto q = Open({"a"});
  ASSERT_TRUE(q->Append(std::string(100, 'x')).ok());
  ASSERT_TRUE(q->Append(std::string(100, 'y')).ok());
  EXPECT_EQ(q->Read(0, 0, 10, 50)->size(), 1u);
  EXPECT_EQ(q->Read(0, 0, 10, 200)->size(), 2u);
}

TEST_P(DiskQueueTest, ConsumedSegmentsAreRemoved) {
  DiskQueueOptions o;
  o.segment_bytes = 64;
  o.max_bytes = 1 << 20;
  auto q = Open({"a", "b"}, o);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(q->Append(std::string(40, 'a' + i)).ok());
  const uint64_t full = q->bytes();
  EXPECT_EQ(full, 20u * 48);
  ASSERT_TRUE(q->Commit(0, 20).ok());
  EXPECT_EQ(q->bytes(), full) << "reader b still needs every segment";
  ASSERT_TRUE(q->Commit(1, 19).ok());
  EXPECT_EQ(q->bytes(), 48u) << "only the segment holding record 19 is left";
  auto segs = fs_->ListDir(dir_);
  size_t n = 0;
  for (const auto& name : *segs) n += name.ends_with(".seg");
  EXPECT_EQ(n, 1u);
}

TEST_P(DiskQueueTest, OverTheBoundTheOldestUnreadRecordsAreDroppedAndReported) {
  DiskQueueOptions o;
  o.segment_bytes = 100;  // two 48-byte records a segment
  o.max_bytes = 300;
  std::vector<std::pair<size_t, std::string>> dropped;
  o.on_drop = [&](size_t reader, std::string_view rec) { dropped.emplace_back(reader, rec); };
  auto q = Open({"slow", "fast"}, o);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(q->Append(std::string(40, '0' + i)).ok());
    ASSERT_TRUE(q->Commit(1, q->next_seq()).ok());  // "fast" keeps up
  }
  EXPECT_LE(q->bytes(), 300u);
  // 3 segments fit: records 4..9 are kept, 0..3 were dropped for "slow" only.
  ASSERT_EQ(dropped.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(dropped[i].first, 0u);
    EXPECT_EQ(dropped[i].second, std::string(40, '0' + i));
  }
  EXPECT_EQ(q->dropped(0), 4u);
  EXPECT_EQ(q->dropped(1), 0u);
  auto rest = q->Read(0, 0, 100, 1 << 20);
  ASSERT_EQ(rest->size(), 6u);
  EXPECT_EQ(rest->front().seq, 4u);
  EXPECT_EQ(rest->front().data, std::string(40, '4'));
}

TEST_P(DiskQueueTest, ATornRecordAtTheEndIsCutOffAtOpen) {
  {
    auto q = Open({"a"});
    ASSERT_TRUE(q->Append("complete").ok());
  }
  auto file = fs_->OpenForAppend(dir_ + "/00000000000000000000.seg");
  ASSERT_TRUE(file.ok());
  // A header promising 100 bytes, then only 3 of them: a crash mid-append.
  ASSERT_TRUE((*file)->Append(std::string("\x64\0\0\0\0\0\0\0abc", 11)).ok());
  ASSERT_TRUE((*file)->Close().ok());
  auto q = Open({"a"});
  EXPECT_EQ(q->next_seq(), 1u);
  ASSERT_TRUE(q->Append("next").ok());
  EXPECT_EQ(Data(*q->Read(0, 0, 10, 1 << 20)), (std::vector<std::string>{"complete", "next"}));
}

TEST_P(DiskQueueTest, ACorruptRecordIsAnErrorNotGarbage) {
  {
    auto q = Open({"a"});
    ASSERT_TRUE(q->Append("first").ok());
    ASSERT_TRUE(q->Append("second").ok());
    // Flip a byte of "first" behind the queue's back.
    auto st = fs_->Truncate(dir_ + "/00000000000000000000.seg", 0);
    ASSERT_TRUE(st.ok());
    auto f = fs_->OpenForAppend(dir_ + "/00000000000000000000.seg");
    std::string frame("\x05\0\0\0\0\0\0\0", 8);
    ASSERT_TRUE((*f)->Append(frame + "fXrst").ok());
    ASSERT_TRUE((*f)->Close().ok());
    auto got = q->Read(0, 0, 10, 1 << 20);
    EXPECT_FALSE(got.ok());
  }
}

TEST_P(DiskQueueTest, NewReadersStartAtTheEndAndForgottenReadersReleaseSegments) {
  DiskQueueOptions o;
  o.segment_bytes = 64;
  {
    auto q = Open({"old"}, o);
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(q->Append(std::string(40, 'x')).ok());
  }
  auto q = Open({"new"}, o);
  EXPECT_EQ(q->cursor(0), 4u);
  EXPECT_TRUE(q->Read(0, 0, 10, 1 << 20)->empty());
  EXPECT_EQ(q->bytes(), 48u) << "nothing holds the old reader's segments any more";
  EXPECT_FALSE(fs_->Exists(dir_ + "/old.cursor"));
}

TEST_P(DiskQueueTest, WaitWakesOnAppendAndOnClose) {
  auto q = Open({"a"});
  std::thread writer([&] { ASSERT_TRUE(q->Append("x").ok()); });
  EXPECT_TRUE(q->Wait(0, std::chrono::seconds(30)));
  writer.join();
  std::thread closer([&] { q->Close(); });
  EXPECT_FALSE(q->Wait(1, std::chrono::seconds(30)));
  closer.join();
  EXPECT_FALSE(q->Append("after close").ok());
}

TEST_P(DiskQueueTest, OversizedRecordsAndBadOptionsAreRefused) {
  DiskQueueOptions o;
  o.max_record_bytes = 10;
  auto q = Open({"a"}, o);
  auto r = q->Append(std::string(11, 'x'));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  DiskQueueOptions bad;
  bad.max_bytes = 10;
  bad.segment_bytes = 100;
  EXPECT_FALSE(DiskQueue::Open(fs_, dir_ + "2", {"a"}, bad).ok());
}

INSTANTIATE_TEST_SUITE_P(Fs, DiskQueueTest, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "Real" : "Mem"; });

}  // namespace
}  // namespace vigil
