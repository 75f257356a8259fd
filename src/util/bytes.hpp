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
#include <span>
#include <vector>

namespace fulcrum {

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

  uint8_t u8() { return static_cast<uint8_t>(read_be(1)); }
  uint16_t u16() { return static_cast<uint16_t>(read_be(2)); }
  uint32_t u24() { return static_cast<uint32_t>(read_be(3)); }
  uint32_t u32() { return static_cast<uint32_t>(read_be(4)); }
  uint64_t u64() { return read_be(8); }

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
    for (std::size_t i = 0; i < n; ++i) out[i] = s.empty() ? 0 : s[i];
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

// Appends big-endian values to a caller-owned, reused buffer.
//
// The writer keeps its own cursor and grows the vector in slabs of at least
// kSlab bytes, so a value is one capacity test and one store rather than a
// vector::resize (value-initialising, out of line) per field. While the writer
// lives, the vector may hold up to a slab of slack past size(); the destructor
// (or finish()) trims it, so the caller sees exactly the bytes written.
class ByteWriter {
 public:
  static constexpr std::size_t kSlab = 256;

  explicit ByteWriter(std::vector<uint8_t>& out) : out_(out), pos_(out.size()) {}
  ByteWriter(const ByteWriter&) = delete;
  ByteWriter& operator=(const ByteWriter&) = delete;
  ~ByteWriter() { finish(); }

  [[nodiscard]] std::size_t size() const { return pos_; }
  void u8(uint8_t v) {
    ensure(1);
    out_[pos_++] = v;
  }
  void u16(uint16_t v) { store(to_be(v)); }
  void u24(uint32_t v) {
    ensure(3);
    out_[pos_] = static_cast<uint8_t>(v >> 16);
    out_[pos_ + 1] = static_cast<uint8_t>(v >> 8);
    out_[pos_ + 2] = static_cast<uint8_t>(v);
    pos_ += 3;
  }
  void u32(uint32_t v) { store(to_be(v)); }
  void u64(uint64_t v) { store(to_be(v)); }
  void bytes(std::span<const uint8_t> b) {
    if (b.empty()) return;
    ensure(b.size());
    std::memcpy(out_.data() + pos_, b.data(), b.size());
    pos_ += b.size();
  }
  void zeros(std::size_t n) {
    if (n == 0) return;
    ensure(n);
    std::memset(out_.data() + pos_, 0, n);
    pos_ += n;
  }
  // Overwrites an already-written big-endian u16 (length back-patching).
  void patch_u16(std::size_t pos, uint16_t v) {
    out_[pos] = static_cast<uint8_t>(v >> 8);
    out_[pos + 1] = static_cast<uint8_t>(v);
  }
  void patch_u32(std::size_t pos, uint32_t v) {
    for (int i = 0; i < 4; ++i) out_[pos + static_cast<std::size_t>(i)] = static_cast<uint8_t>(v >> (24 - 8 * i));
  }
  // Pads with zeros to a multiple of `align` counted from `start`.
  void pad_to(std::size_t start, std::size_t align) {
    std::size_t len = pos_ - start;
    zeros((align - len % align) % align);
  }
  // Drops everything written from `pos` on (pos <= size()).
  void truncate(std::size_t pos) { pos_ = pos; }
  // Trims the slack: the vector then holds exactly what was written.
  void finish() { out_.resize(pos_); }

 private:
  void ensure(std::size_t n) {
    if (n > out_.size() - pos_) [[unlikely]]
      out_.resize(pos_ + (n > kSlab ? n : kSlab));
  }
  template <typename T>
  static T to_be(T v) {
    if constexpr (std::endian::native == std::endian::big) {
      return v;
    } else if constexpr (sizeof(T) == 2) {
      return __builtin_bswap16(v);
    } else if constexpr (sizeof(T) == 4) {
      return __builtin_bswap32(v);
    } else {
      return __builtin_bswap64(v);
    }
  }
  template <typename T>
  void store(T be) {
    ensure(sizeof(T));
    std::memcpy(out_.data() + pos_, &be, sizeof(T));
    pos_ += sizeof(T);
  }

  std::vector<uint8_t>& out_;
  std::size_t pos_;
};

}  // namespace fulcrum
