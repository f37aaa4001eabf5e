#include "series_table.h"

#include "small_types.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <thread>

namespace vigil::tsdb {
namespace {

struct Item {
  uint64_t id;
  int key;
};

TEST(SeriesTableTest, FindsInsertsAndErasesLikeAMap) {
  SeriesTable<Item> table;
  std::map<uint64_t, int> model;  // id -> key
  std::mt19937_64 rng(7);
  // Few distinct hashes, so collisions and long probe runs are exercised; keys tell items apart.
  auto hash_of = [](int key) { return static_cast<uint64_t>(key % 61) * 0x9E3779B97F4A7C15ULL; };
  uint64_t next_id = 1;
  for (int round = 0; round < 20000; ++round) {
    const int key = static_cast<int>(rng() % 3000);
    Item* found = table.Find(hash_of(key), [&](const Item& i) { return i.key == key; });
    auto it = std::find_if(model.begin(), model.end(), [&](auto& e) { return e.second == key; });
    ASSERT_EQ(found != nullptr, it != model.end()) << "round " << round;
    if (found) {
      ASSERT_EQ(found->id, it->first);
      ASSERT_EQ(table.Get(found->id).get(), found);
      if (rng() % 2) {
        const uint64_t id = found->id;
        table.Erase(*found, hash_of(key));
        model.erase(it);
        ASSERT_EQ(table.Get(id), nullptr);
      }
    } else {
      table.Insert(std::make_shared<Item>(Item{next_id, key}), hash_of(key));
      model[next_id++] = key;
    }
    ASSERT_EQ(table.size(), model.size());
  }
  size_t seen = 0;
  table.ForEach([&](const std::shared_ptr<Item>& i) {
    ASSERT_EQ(model.at(i->id), i->key);
    ++seen;
  });
  EXPECT_EQ(seen, model.size());
  EXPECT_EQ(table.Get(next_id + 100), nullptr);
}

TEST(IdListTest, KeepsASortedSet) {
  std::mt19937_64 rng(3);
  IdList list;
  std::set<uint64_t> model;
  for (int i = 0; i < 5000; ++i) {
    const uint64_t id = rng() % 200;
    if (rng() % 3 == 0) {
      list.Erase(id);
      model.erase(id);
    } else {
      list.Insert(id);
      model.insert(id);
    }
    ASSERT_EQ(std::vector<uint64_t>(list.begin(), list.end()),
              std::vector<uint64_t>(model.begin(), model.end()));
  }
  IdList moved = std::move(list);
  EXPECT_EQ(moved.size(), model.size());
  EXPECT_TRUE(list.empty());  // NOLINT(bugprone-use-after-move): moved-from is empty
  IdList one;
  one.Insert(42);
  IdList other = std::move(one);
  EXPECT_EQ(other.front(), 42u);
  EXPECT_EQ(sizeof(IdList), 16u);
}

TEST(SmallMutexTest, ExcludesUnderContention) {
  SmallMutex mu;
  int64_t counter = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100000; ++i) {
        std::lock_guard lock(mu);
        ++counter;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(counter, 400000);
  EXPECT_EQ(sizeof(SmallMutex), 4u);
}

}  // namespace
}  // namespace vigil::tsdb
