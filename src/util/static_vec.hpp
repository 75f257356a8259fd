// StaticVec<T, N>: a fixed-capacity vector stored inline. Used where a message
// carries a short list (actions of a flow entry) so that building and decoding
// such a message never allocates. The slots past size() are left
// uninitialised and never read or copied: building a list of 4 actions, or
// copying it, touches 4 elements, not N.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <new>
#include <span>
#include <type_traits>

namespace fulcrum {

template <typename T, std::size_t N>
class StaticVec {
  static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>,
                "elements are copied and dropped without constructors or destructors");

 public:
  StaticVec() {}  // NOLINT(modernize-use-equals-default): the storage stays uninitialised
  StaticVec(std::initializer_list<T> init) {
    for (const T& v : init) push_back(v);
  }
  StaticVec(const StaticVec& o) : size_(o.size_) {
    for (std::size_t i = 0; i < size_; ++i) ::new (static_cast<void*>(&s_.items[i])) T(o.s_.items[i]);
  }
  StaticVec& operator=(const StaticVec& o) {
    if (this != &o) {
      size_ = o.size_;
      for (std::size_t i = 0; i < size_; ++i) ::new (static_cast<void*>(&s_.items[i])) T(o.s_.items[i]);
    }
    return *this;
  }
  ~StaticVec() = default;

  // Returns false (and stores nothing) when full.
  bool push_back(const T& v) {
    if (size_ >= N) return false;
    ::new (static_cast<void*>(&s_.items[size_++])) T(v);
    return true;
  }
  void clear() { size_ = 0; }

  [[nodiscard]] std::size_t size() const { return size_; }
  [[nodiscard]] bool empty() const { return size_ == 0; }
  [[nodiscard]] bool full() const { return size_ == N; }
  static constexpr std::size_t capacity() { return N; }

  T& operator[](std::size_t i) { return s_.items[i]; }
  const T& operator[](std::size_t i) const { return s_.items[i]; }
  T* begin() { return s_.items; }
  T* end() { return s_.items + size_; }
  const T* begin() const { return s_.items; }
  const T* end() const { return s_.items + size_; }
  std::span<const T> span() const { return {s_.items, size_}; }

  friend bool operator==(const StaticVec& a, const StaticVec& b) {
    if (a.size_ != b.size_) return false;
    for (std::size_t i = 0; i < a.size_; ++i)
      if (!(a.s_.items[i] == b.s_.items[i])) return false;
    return true;
  }

 private:
  union Storage {
    Storage() {}  // NOLINT(modernize-use-equals-default): no element is constructed
    T items[N];
  };
  Storage s_;
  std::size_t size_ = 0;
};

}  // namespace fulcrum
