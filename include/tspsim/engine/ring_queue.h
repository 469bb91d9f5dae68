// A FIFO in one array used as a ring, which doubles when full. Unlike std::deque, which
// allocates and frees a block every few elements, it allocates nothing once it has grown to its
// largest size: an ICU queue's text passes through its buffer this way.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

namespace tsp {

template <typename T> class RingQueue {
public:
  RingQueue() = default;
  // A full ring of `elements`, taken without a copy.
  explicit RingQueue(std::vector<T> elements) : slots_(std::move(elements)), size_(slots_.size()) {}

  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  const T& front() const { return slots_[head_]; }
  const T& back() const { return slots_[slot(size_ - 1)]; }
  // The i-th element from the front.
  const T& operator[](size_t i) const { return slots_[slot(i)]; }

  // Appends `count` elements from `first` on, in at most two block copies.
  void append(const T* first, size_t count) {
    if (size_ + count > slots_.size()) grow(size_ + count);
    const size_t tail = slot(size_);
    const size_t before_wrap = std::min(count, slots_.size() - tail);
    std::copy(first, first + before_wrap, slots_.begin() + static_cast<std::ptrdiff_t>(tail));
    std::copy(first + before_wrap, first + count, slots_.begin());
    size_ += count;
  }
  void pop_front() {
    if (++head_ == slots_.size()) head_ = 0;
    --size_;
  }

private:
  // The slot of the i-th element from the front (i <= size_).
  size_t slot(size_t i) const {
    const size_t at = head_ + i;
    return at >= slots_.size() ? at - slots_.size() : at;
  }
  // At least twice the slots (and 16), and at least `count`, the elements moved to the front in
  // order.
  void grow(size_t count) {
    std::vector<T> slots(std::max({count, 2 * slots_.size(), size_t{16}}));
    for (size_t i = 0; i < size_; ++i) slots[i] = std::move(slots_[slot(i)]);
    slots_ = std::move(slots);
    head_ = 0;
  }

  std::vector<T> slots_;
  size_t head_ = 0;
  size_t size_ = 0;
};

} // namespace tsp
