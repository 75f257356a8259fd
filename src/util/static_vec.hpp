// StaticVec<T, N>: a fixed-capacity vector stored inline. Used where a message
// carries a short list (actions of a flow entry) so that building and decoding
// such a message never allocates.
#pragma once

#include <array>
#include <cstddef>
#include <initializer_list>
#include <span>

namespace fulcrum {

template <typename T, std::size_t N>
class StaticVec {
 public:
  StaticVec() = default;
  StaticVec(std::initializer_list<T> init) {
    for (const T& v : init) push_back(v);
  }

  // Returns false (and stores nothing) when full.
  bool push_back(const T& v) {
    if (size_ >= N) return false;
    items_[size_++] = v;
    return true;
  }
  void clear() { size_ = 0; }

  [[nodiscard]] std::size_t size() const { return size_; }
  [[nodiscard]] bool empty() const { return size_ == 0; }
  [[nodiscard]] bool full() const { return size_ == N; }
  static constexpr std::size_t capacity() { return N; }

  T& operator[](std::size_t i) { return items_[i]; }
  const T& operator[](std::size_t i) const { return items_[i]; }
  T* begin() { return items_.data(); }
  T* end() { return items_.data() + size_; }
  const T* begin() const { return items_.data(); }
  const T* end() const { return items_.data() + size_; }
  std::span<const T> span() const { return {items_.data(), size_}; }

  friend bool operator==(const StaticVec& a, const StaticVec& b) {
    if (a.size_ != b.size_) return false;
    for (std::size_t i = 0; i < a.size_; ++i)
      if (!(a.items_[i] == b.items_[i])) return false;
    return true;
  }

 private:
  std::array<T, N> items_{};
  std::size_t size_ = 0;
};

}  // namespace fulcrum
