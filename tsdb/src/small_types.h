#pragma once

// Small replacements for std types in the per-series state of the head, where every byte is
// multiplied by the number of series (the budget is 1 KiB per series, all included).

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <utility>

namespace vigil::tsdb {

// A mutex in 4 bytes (std::mutex is 40): Drepper's futex mutex on std::atomic wait/notify.
// States: 0 free, 1 locked, 2 locked with waiters. Meets Lockable for std::lock_guard.
class SmallMutex {
 public:
  void lock() {
    uint32_t c = 0;
    if (state_.compare_exchange_strong(c, 1, std::memory_order_acquire)) return;
    if (c != 2) c = state_.exchange(2, std::memory_order_acquire);
    while (c != 0) {
      state_.wait(2, std::memory_order_relaxed);
      c = state_.exchange(2, std::memory_order_acquire);
    }
  }
  bool try_lock() {
    uint32_t c = 0;
    return state_.compare_exchange_strong(c, 1, std::memory_order_acquire);
  }
  void unlock() {
    if (state_.exchange(0, std::memory_order_release) == 2) state_.notify_one();
  }

 private:
  std::atomic<uint32_t> state_{0};
};

// A sorted set of series ids: one id inline (most label values of a large head belong to one
// series: ids, uids, names), more on the heap. 16 bytes, against a vector's 24 plus a heap block.
class IdList {
 public:
  IdList() : one_(0) {}
  IdList(IdList&& o) noexcept : size_(o.size_), cap_(o.cap_), one_(0) {
    if (cap_ > 1) {
      many_ = o.many_;
    } else {
      one_ = o.one_;
    }
    o.size_ = o.cap_ = 0;
  }
  IdList& operator=(IdList&& o) noexcept {
    if (this != &o) {
      Free();
      size_ = o.size_;
      cap_ = o.cap_;
      if (cap_ > 1) {
        many_ = o.many_;
      } else {
        one_ = o.one_;
      }
      o.size_ = o.cap_ = 0;
    }
    return *this;
  }
  IdList(const IdList&) = delete;
  IdList& operator=(const IdList&) = delete;
  ~IdList() { Free(); }

  const uint64_t* begin() const { return cap_ > 1 ? many_ : &one_; }
  const uint64_t* end() const { return begin() + size_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  uint64_t front() const { return *begin(); }

  // Adds `id` in order (no effect if present).
  void Insert(uint64_t id) {
    const uint64_t* pos = std::lower_bound(begin(), end(), id);
    if (pos != end() && *pos == id) return;
    const size_t at = static_cast<size_t>(pos - begin());
    if (size_ == 0 && cap_ <= 1) {
      one_ = id;
      cap_ = 1;
      size_ = 1;
      return;
    }
    if (size_ + 1 > Capacity()) Grow();
    uint64_t* data = many_;
    std::memmove(data + at + 1, data + at, (size_ - at) * sizeof(uint64_t));
    data[at] = id;
    ++size_;
  }
  void Erase(uint64_t id) {
    uint64_t* data = cap_ > 1 ? many_ : &one_;
    uint64_t* pos = std::lower_bound(data, data + size_, id);
    if (pos == data + size_ || *pos != id) return;
    std::memmove(pos, pos + 1, (data + size_ - pos - 1) * sizeof(uint64_t));
    --size_;
  }

 private:
  size_t Capacity() const { return cap_ == 0 ? 1 : cap_; }
  void Grow() {
    const uint32_t cap = cap_ <= 1 ? 4 : cap_ * 2;
    auto* data = new uint64_t[cap];
    std::copy(begin(), end(), data);
    Free();
    many_ = data;
    cap_ = cap;
  }
  void Free() {
    if (cap_ > 1) delete[] many_;
  }

  uint32_t size_ = 0;
  uint32_t cap_ = 0;  // 0 or 1: inline
  union {
    uint64_t one_;
    uint64_t* many_;
  };
};

}  // namespace vigil::tsdb
