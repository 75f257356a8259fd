// Bounds-checked big-endian reading and writing of network bytes.
//
// ByteReader has a sticky failure flag: a read past the end returns zero,
// consumes nothing and marks the reader failed, so a decoder can read a whole
// fixed header and check ok() once. No read ever touches memory outside the
// span it was given. take(n) gives a sub-reader for a length-delimited
// element (a TLV, an OXM, an action) and advances past it.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

namespace fulcrum {

// Network (big-endian) to host order and back: the same swap both ways.
template <typename T>
constexpr T swap_be(T v) {
  static_assert(sizeof(T) == 1 || sizeof(T) == 2 || sizeof(T) == 4 || sizeof(T) == 8);
  if constexpr (std::endian::native == std::endian::big || sizeof(T) == 1) {
    return v;
  } else if constexpr (sizeof(T) == 2) {
    return __builtin_bswap16(v);
  } else if constexpr (sizeof(T) == 4) {
    return __builtin_bswap32(v);
  } else {
    return __builtin_bswap64(v);
  }
}

class ByteReader {
 public:
  ByteReader() = default;
  explicit ByteReader(std::span<const uint8_t> bytes) : buf_(bytes) {}

  [[nodiscard]] std::size_t remaining() const { return ok_ ? buf_.size() - pos_ : 0; }
  [[nodiscard]] std::size_t position() const { return pos_; }
  [[nodiscard]] bool can_read(std::size_t n) const { return ok_ && n <= buf_.size() - pos_; }
  [[nodiscard]] bool ok() const { return ok_; }
  [[nodiscard]] bool empty() const { return remaining() == 0; }
  // Marks the reader failed (for a semantic error found by the caller).
  void fail() { ok_ = false; }

  uint8_t u8() { return read_fixed<uint8_t>(); }
  uint16_t u16() { return read_fixed<uint16_t>(); }
  uint32_t u24() { return static_cast<uint32_t>(read_be(3)); }
  uint32_t u32() { return read_fixed<uint32_t>(); }
  uint64_t u64() { return read_fixed<uint64_t>(); }

  // Peeks without consuming; returns 0 when out of range (does not fail).
  [[nodiscard]] uint8_t peek_u8(std::size_t offset = 0) const { return static_cast<uint8_t>(peek_be(offset, 1)); }
  [[nodiscard]] uint16_t peek_u16(std::size_t offset = 0) const { return static_cast<uint16_t>(peek_be(offset, 2)); }
  [[nodiscard]] uint32_t peek_u32(std::size_t offset = 0) const { return static_cast<uint32_t>(peek_be(offset, 4)); }

  // Returns the next n bytes as a view (empty and failed if fewer remain).
  std::span<const uint8_t> bytes(std::size_t n) {
    if (!can_read(n)) {
      ok_ = false;
      return {};
    }
    auto s = buf_.subspan(pos_, n);
    pos_ += n;
    return s;
  }
  // Copies n bytes into out (zero-filled and failed if fewer remain).
  void copy(uint8_t* out, std::size_t n) {
    auto s = bytes(n);
    if (s.size() == n) {
      if (n != 0) std::memcpy(out, s.data(), n);
    } else {
      std::memset(out, 0, n);
    }
  }
  void skip(std::size_t n) { (void)bytes(n); }
  // Sub-reader over the next n bytes; this reader advances past them.
  ByteReader take(std::size_t n) {
    auto s = bytes(n);
    ByteReader r(s);
    if (!ok_) r.ok_ = false;
    return r;
  }
  // The rest of the bytes, consumed.
  std::span<const uint8_t> rest() { return bytes(remaining()); }

 private:
  // One load and a byte swap for the fixed widths.
  template <typename T>
  T read_fixed() {
    if (!can_read(sizeof(T))) {
      ok_ = false;
      return 0;
    }
    T v;
    std::memcpy(&v, buf_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return swap_be(v);
  }
  uint64_t read_be(std::size_t n) {
    if (!can_read(n)) {
      ok_ = false;
      return 0;
    }
    uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v = (v << 8) | buf_[pos_ + i];
    pos_ += n;
    return v;
  }
  [[nodiscard]] uint64_t peek_be(std::size_t offset, std::size_t n) const {
    if (!ok_ || offset > buf_.size() - pos_ || n > buf_.size() - pos_ - offset) return 0;
    uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v = (v << 8) | buf_[pos_ + offset + i];
    return v;
  }

  std::span<const uint8_t> buf_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

// An allocator that leaves new elements uninitialised (default-init, not
// value-init). A byte buffer that a writer is about to fill gains nothing from
// being zeroed first: with std::allocator, every vector::resize() of the
// writer's slack wrote 256 zero bytes per encoded message (about 5 % of a
// decision's instructions, callgrind).
template <typename T>
struct DefaultInitAllocator : std::allocator<T> {
  template <typename U>
  struct rebind {
    using other = DefaultInitAllocator<U>;
  };
  DefaultInitAllocator() = default;
  template <typename U>
  DefaultInitAllocator(const DefaultInitAllocator<U>&) noexcept {}  // NOLINT(google-explicit-constructor)
  template <typename U>
  void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>) {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    std::allocator_traits<std::allocator<T>>::construct(static_cast<std::allocator<T>&>(*this), p,
                                                        std::forward<Args>(args)...);
  }
};

// A byte buffer for the hot write path (a session's pending writes): grows
// without zeroing what a writer will overwrite anyway.
using Bytes = std::vector<uint8_t, DefaultInitAllocator<uint8_t>>;

// Appends big-endian values to a caller-owned, reused buffer: a
// std::vector<uint8_t> or a Bytes.
//
// The writer keeps its own pointer, cursor and end, and grows the vector in
// slabs of at least kSlab bytes, so a value is one capacity test and one store
// rather than a vector::resize per field. While the writer lives, the vector
// may hold up to a slab of slack past size(); the destructor (or finish())
// trims it, so the caller sees exactly the bytes written. Trimming keeps the
// capacity, so a reused buffer stops allocating once it has grown.
class ByteWriter {
 public:
  static constexpr std::size_t kSlab = 256;

  explicit ByteWriter(std::vector<uint8_t>& out) { bind(out); }
  explicit ByteWriter(Bytes& out) { bind(out); }
  ByteWriter(const ByteWriter&) = delete;
  ByteWriter& operator=(const ByteWriter&) = delete;
  ~ByteWriter() { finish(); }

  [[nodiscard]] std::size_t size() const { return pos_; }
  void u8(uint8_t v) {
    ensure(1);
    data_[pos_++] = v;
  }
  void u16(uint16_t v) { store(swap_be(v)); }
  void u24(uint32_t v) {
    ensure(3);
    data_[pos_] = static_cast<uint8_t>(v >> 16);
    data_[pos_ + 1] = static_cast<uint8_t>(v >> 8);
    data_[pos_ + 2] = static_cast<uint8_t>(v);
    pos_ += 3;
  }
  void u32(uint32_t v) { store(swap_be(v)); }
  void u64(uint64_t v) { store(swap_be(v)); }
  void bytes(std::span<const uint8_t> b) {
    if (b.empty()) return;
    ensure(b.size());
    std::memcpy(data_ + pos_, b.data(), b.size());
    pos_ += b.size();
  }
  void zeros(std::size_t n) {
    if (n <= 8) {
      // Padding is short: one 8-byte store into the slack, not a memset
      // call. Bytes past n are slack, overwritten or trimmed later.
      ensure(8);
      const uint64_t z = 0;
      std::memcpy(data_ + pos_, &z, 8);
      pos_ += n;
      return;
    }
    ensure(n);
    std::memset(data_ + pos_, 0, n);
    pos_ += n;
  }
  // Claims the next n bytes and returns where they start, for a run of
  // fixed-size fields written through the pointer with the put_* helpers
  // below: one capacity test for the run, and stores the compiler need not
  // reload the writer's own fields after. The bytes are uninitialised.
  uint8_t* claim(std::size_t n) {
    ensure(n);
    uint8_t* p = data_ + pos_;
    pos_ += n;
    return p;
  }
  // Overwrites an already-written big-endian u16 (length back-patching).
  void patch_u16(std::size_t pos, uint16_t v) {
    data_[pos] = static_cast<uint8_t>(v >> 8);
    data_[pos + 1] = static_cast<uint8_t>(v);
  }
  void patch_u32(std::size_t pos, uint32_t v) {
    for (int i = 0; i < 4; ++i) data_[pos + static_cast<std::size_t>(i)] = static_cast<uint8_t>(v >> (24 - 8 * i));
  }
  // Pads with zeros to a multiple of `align` counted from `start`.
  void pad_to(std::size_t start, std::size_t align) {
    std::size_t len = pos_ - start;
    zeros((align - len % align) % align);
  }
  // Drops everything written from `pos` on (pos <= size()).
  void truncate(std::size_t pos) { pos_ = pos; }
  // Trims the slack: the vector then holds exactly what was written.
  void finish() {
    if (end_ != pos_) resize_(vec_, pos_, data_, end_);
  }

 private:
  using Resize = void (*)(void* vec, std::size_t n, uint8_t*& data, std::size_t& end);
  template <typename Vec>
  void bind(Vec& out) {
    vec_ = &out;
    data_ = out.data();
    pos_ = end_ = out.size();
    resize_ = [](void* vec, std::size_t n, uint8_t*& data, std::size_t& end) {
      auto& v = *static_cast<Vec*>(vec);
      v.resize(n);
      data = v.data();
      end = n;
    };
  }
  void ensure(std::size_t n) {
    if (n > end_ - pos_) [[unlikely]]
      resize_(vec_, pos_ + (n > kSlab ? n : kSlab), data_, end_);
  }
  template <typename T>
  void store(T be) {
    ensure(sizeof(T));
    std::memcpy(data_ + pos_, &be, sizeof(T));
    pos_ += sizeof(T);
  }

  void* vec_ = nullptr;
  Resize resize_ = nullptr;
  uint8_t* data_ = nullptr;
  std::size_t pos_ = 0;
  std::size_t end_ = 0;  // the vector's size: writable up to here
};

// Big-endian stores through a pointer from ByteWriter::claim(); each returns
// the pointer past what it wrote.
namespace put {
inline uint8_t* u8(uint8_t* p, uint8_t v) {
  *p = v;
  return p + 1;
}
template <typename T>
inline uint8_t* be(uint8_t* p, T v) {
  v = swap_be(v);
  std::memcpy(p, &v, sizeof(T));
  return p + sizeof(T);
}
inline uint8_t* u16(uint8_t* p, uint16_t v) { return be(p, v); }
inline uint8_t* u32(uint8_t* p, uint32_t v) { return be(p, v); }
inline uint8_t* u64(uint8_t* p, uint64_t v) { return be(p, v); }
inline uint8_t* bytes(uint8_t* p, const uint8_t* b, std::size_t n) {
  std::memcpy(p, b, n);
  return p + n;
}
}  // namespace put

}  // namespace fulcrum
