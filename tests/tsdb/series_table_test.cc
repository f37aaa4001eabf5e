#include "series_table.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

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

}  // namespace
}  // namespace vigil::tsdb
