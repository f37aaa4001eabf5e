#pragma once

// Flat tables for the head's series. Per series that is a 16-byte id slot and two or three
// 16-byte hash slots, where node-based maps cost a node, a bucket and a pointer chase each. Not
// thread-safe: the store guards them with its own locks.

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

namespace vigil::tsdb {

// An open-addressing hash index of (64-bit hash, T*) with linear probing. It does not own the
// objects and does not hash them: callers pass a well-mixed hash and a predicate for the match.
template <class T>
class OpenHashIndex {
 public:
  // The object under `hash` for which `same(object)` holds, or nullptr.
  template <class Same>
  T* Find(uint64_t hash, Same&& same) const {
    if (slots_.empty()) return nullptr;
    const size_t mask = slots_.size() - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
      const Slot& slot = slots_[i];
      if (slot.ptr == nullptr) return nullptr;
      if (slot.ptr != Tombstone() && slot.hash == hash && same(*slot.ptr)) return slot.ptr;
    }
  }

  void Insert(uint64_t hash, T* ptr) {
    if ((used_ + 1) * 4 > slots_.size() * 3) Rehash();
    Place(hash, ptr);
    ++used_;
    ++size_;
  }

  // Removes `ptr`, inserted under `hash`; no effect if absent.
  void Erase(uint64_t hash, const T* ptr) {
    if (slots_.empty()) return;
    const size_t mask = slots_.size() - 1;
    for (size_t i = hash & mask; slots_[i].ptr != nullptr; i = (i + 1) & mask) {
      if (slots_[i].ptr == ptr) {
        slots_[i].ptr = Tombstone();  // used_ still counts it until the next rehash
        --size_;
        return;
      }
    }
  }

  // Empties the index, keeping its capacity.
  void Clear() {
    std::fill(slots_.begin(), slots_.end(), Slot{});
    used_ = size_ = 0;
  }

  size_t size() const { return size_; }

 private:
  struct Slot {
    uint64_t hash = 0;
    T* ptr = nullptr;  // nullptr: never used; Tombstone(): erased
  };
  static T* Tombstone() { return reinterpret_cast<T*>(alignof(T)); }

  void Place(uint64_t hash, T* ptr) {
    const size_t mask = slots_.size() - 1;
    size_t i = hash & mask;
    while (slots_[i].ptr != nullptr && slots_[i].ptr != Tombstone()) i = (i + 1) & mask;
    slots_[i] = Slot{hash, ptr};
  }

  void Rehash() {
    std::vector<Slot> old = std::move(slots_);
    size_t n = 16;
    while (n * 3 < (size_ + 1) * 8) n *= 2;  // live load at most 3/8 after a rehash
    slots_.assign(n, Slot{});
    used_ = 0;
    for (const Slot& slot : old) {
      if (slot.ptr != nullptr && slot.ptr != Tombstone()) {
        Place(slot.hash, slot.ptr);
        ++used_;
      }
    }
  }

  std::vector<Slot> slots_;
  size_t used_ = 0;  // live and erased slots
  size_t size_ = 0;  // live entries
};

// The head's series by id (a vector: ids are dense, handed out in order) and by label hash.
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
    return by_hash_.Find(hash, same);
  }

  // Adds `s` (its id not in the table) under `hash`.
  void Insert(std::shared_ptr<T> s, uint64_t hash) {
    by_hash_.Insert(hash, s.get());
    const uint64_t id = s->id;
    if (id >= by_id_.size()) by_id_.resize(std::max<size_t>(id + 1, by_id_.size() * 3 / 2));
    by_id_[id] = std::move(s);
  }

  // Removes `s`, inserted under `hash`.
  void Erase(const T& s, uint64_t hash) {
    if (s.id >= by_id_.size() || by_id_[s.id].get() != &s) return;
    by_hash_.Erase(hash, &s);
    by_id_[s.id].reset();
  }

  size_t size() const { return by_hash_.size(); }

  template <class Fn>
  void ForEach(Fn&& fn) const {
    for (const auto& s : by_id_) {
      if (s) fn(s);
    }
  }

 private:
  std::vector<std::shared_ptr<T>> by_id_;
  OpenHashIndex<T> by_hash_;
};

}  // namespace vigil::tsdb
