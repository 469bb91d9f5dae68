// A FIFO in one array used as a ring, a power of two of slots that doubles when full. Unlike
// std::deque, which allocates and frees a block every few elements, it allocates nothing once it
// has grown to its largest size: an ICU queue's text passes through its buffer this way.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

namespace tsp {

template <typename T> class RingQueue {
public:
  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  const T& front() const { return slots_[head_]; }
  const T& back() const { return slots_[(head_ + size_ - 1) & mask()]; }
  // The i-th element from the front.
  const T& operator[](size_t i) const { return slots_[(head_ + i) & mask()]; }

  // Room for `count` elements without growing.
  void reserve(size_t count) {
    size_t slots = slots_.empty() ? 16 : slots_.size();
    while (slots < count) slots *= 2;
    if (slots != slots_.size()) resize(slots);
  }
  void push_back(const T& value) {
    if (size_ == slots_.size()) resize(slots_.empty() ? 16 : 2 * slots_.size());
    slots_[(head_ + size_) & mask()] = value;
    ++size_;
  }
  // Appends `count` elements from `first` on, in at most two block copies.
  void append(const T* first, size_t count) {
    reserve(size_ + count);
    const size_t tail = (head_ + size_) & mask();
    const size_t before_wrap = std::min(count, slots_.size() - tail);
    std::copy(first, first + before_wrap, slots_.begin() + static_cast<std::ptrdiff_t>(tail));
    std::copy(first + before_wrap, first + count, slots_.begin());
    size_ += count;
  }
  void pop_front() {
    head_ = (head_ + 1) & mask();
    --size_;
  }

private:
  size_t mask() const { return slots_.size() - 1; }
  // `count` slots (a power of two, at least size_), the elements moved to the front in order.
  void resize(size_t count) {
    std::vector<T> slots(count);
    for (size_t i = 0; i < size_; ++i) slots[i] = std::move(slots_[(head_ + i) & mask()]);
    slots_ = std::move(slots);
    head_ = 0;
  }

  std::vector<T> slots_;
  size_t head_ = 0;
  size_t size_ = 0;
};

} // namespace tsp
