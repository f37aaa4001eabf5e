#pragma once

// The head's series, by id and by label hash, in two flat tables: a vector indexed by id (ids
// are dense, handed out in order) and an open-addressing hash table of (hash, series) with
// linear probing. Per series that is a 16-byte id slot and two or three 16-byte hash slots, where
// node-based maps cost a node, a bucket and a pointer chase each. Not thread-safe: the store
// guards it with its series lock.

#include <cstdint>
#include <memory>
#include <vector>

namespace vigil::tsdb {

template <class T>
class SeriesTable {
 public:
  // The series with this id, or nullptr.
  const std::shared_ptr<T>& Get(uint64_t id) const {
    static const std::shared_ptr<T> kNone;
    return id < by_id_.size() ? by_id_[id] : kNone;
  }

  // The series with this label hash for which `same(series)` holds, or nullptr.
  template <class Same>
  T* Find(uint64_t hash, Same&& same) const {
    if (slots_.empty()) return nullptr;
    const size_t mask = slots_.size() - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
      const Slot& slot = slots_[i];
      if (slot.series == nullptr) return nullptr;
      if (slot.series != Tombstone() && slot.hash == hash && same(*slot.series)) {
        return slot.series;
      }
    }
  }

  // Adds `s` (its id not in the table) under `hash`.
  void Insert(std::shared_ptr<T> s, uint64_t hash) {
    if ((used_ + 1) * 4 > slots_.size() * 3) Rehash();
    Place(hash, s.get());
    ++used_;
    const uint64_t id = s->id;
    if (id >= by_id_.size()) by_id_.resize(std::max<size_t>(id + 1, by_id_.size() * 3 / 2));
    by_id_[id] = std::move(s);
    ++size_;
  }

  // Removes `s`, inserted under `hash`.
  void Erase(const T& s, uint64_t hash) {
    if (s.id >= by_id_.size() || by_id_[s.id].get() != &s) return;
    const size_t mask = slots_.size() - 1;
    for (size_t i = hash & mask; slots_[i].series != nullptr; i = (i + 1) & mask) {
      if (slots_[i].series == &s) {
        slots_[i].series = Tombstone();  // used_ still counts it until the next rehash
        break;
      }
    }
    by_id_[s.id].reset();
    --size_;
  }

  size_t size() const { return size_; }
  // One past the largest id ever inserted (ids below it may be empty).
  uint64_t id_bound() const { return by_id_.size(); }

  template <class Fn>
  void ForEach(Fn&& fn) const {
    for (const auto& s : by_id_) {
      if (s) fn(s);
    }
  }

 private:
  struct Slot {
    uint64_t hash = 0;
    T* series = nullptr;  // nullptr: never used; Tombstone(): erased
  };
  static T* Tombstone() { return reinterpret_cast<T*>(alignof(T)); }

  void Place(uint64_t hash, T* s) {
    const size_t mask = slots_.size() - 1;
    size_t i = hash & mask;
    while (slots_[i].series != nullptr && slots_[i].series != Tombstone()) i = (i + 1) & mask;
    slots_[i] = Slot{hash, s};
  }

  void Rehash() {
    std::vector<Slot> old = std::move(slots_);
    size_t n = 16;
    while (n * 3 < (size_ + 1) * 8) n *= 2;  // live load at most 3/8 after a rehash
    slots_.assign(n, Slot{});
    used_ = 0;
    for (const Slot& slot : old) {
      if (slot.series != nullptr && slot.series != Tombstone()) {
        Place(slot.hash, slot.series);
        ++used_;
      }
    }
  }

  std::vector<std::shared_ptr<T>> by_id_;
  std::vector<Slot> slots_;
  size_t used_ = 0;  // live and erased slots
  size_t size_ = 0;  // live series
};

}  // namespace vigil::tsdb
