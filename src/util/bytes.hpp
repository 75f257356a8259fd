// Bounds-checked big-endian reading and writing of network bytes.
//
// ByteReader has a sticky failure flag: a read past the end returns zero,
// consumes nothing and marks the reader failed, so a decoder can read a whole
// fixed header and check ok() once. No read ever touches memory outside the
// span it was given. take(n) gives a sub-reader for a length-delimited
// element (a TLV, an OXM, an action) and advances past it.
#pragma once

#include <cstddef>
#include <cstdint>
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
class ByteWriter {
 public:
  explicit ByteWriter(std::vector<uint8_t>& out) : out_(out) {}

  [[nodiscard]] std::size_t size() const { return out_.size(); }
  void u8(uint8_t v) { out_.push_back(v); }
  void u16(uint16_t v) { put_be(v, 2); }
  void u24(uint32_t v) { put_be(v, 3); }
  void u32(uint32_t v) { put_be(v, 4); }
  void u64(uint64_t v) { put_be(v, 8); }
  void bytes(std::span<const uint8_t> b) { out_.insert(out_.end(), b.begin(), b.end()); }
  void zeros(std::size_t n) { out_.insert(out_.end(), n, 0); }
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
    std::size_t len = out_.size() - start;
    zeros((align - len % align) % align);
  }
  std::vector<uint8_t>& buffer() { return out_; }

 private:
  void put_be(uint64_t v, std::size_t n) {
    // One size change per value, not one push_back (and capacity check) per byte.
    const std::size_t pos = out_.size();
    out_.resize(pos + n);
    uint8_t* p = out_.data() + pos;
    for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(v >> (8 * (n - 1 - i)));
  }
  std::vector<uint8_t>& out_;
};

}  // namespace fulcrum
