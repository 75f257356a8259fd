// OpenFlow 1.0 and 1.3 wire codec: framing, decoding, encoding.
//
// decode() reads one complete frame through a bounds-checked ByteReader and
// returns a version-neutral Message or a DecodeError; it never throws, never
// reads outside the frame and always terminates (every TLV/OXM/action loop
// rejects an element shorter than its header). encode() appends one message
// to a caller-owned buffer, so a session can batch a burst of messages into a
// single write.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "openflow/errors.hpp"
#include "openflow/messages.hpp"
#include "util/bytes.hpp"
#include "util/result.hpp"

namespace fulcrum::of {

constexpr std::size_t kHeaderLen = 8;
constexpr std::size_t kMaxMessageLen = 0xffff;

struct Header {
  uint8_t version = 0;
  uint8_t type = 0;
  uint16_t length = 0;
  uint32_t xid = 0;
};

// Reads the 8-byte header without checking version or type.
std::optional<Header> peek_header(std::span<const uint8_t> bytes);

// True when the header says packet-in (OFPT_PACKET_IN, 10 in 1.0 and 1.3):
// a cheap test before a full decode.
bool is_packet_in(const Header& h);

struct Decoded {
  Header header;
  Message msg;
};

// Decodes one complete frame (length == header.length). OFPT_HELLO is decoded
// for any version number (needed for negotiation); everything else must be
// version 0x01 or 0x04.
Result<Decoded, DecodeError> decode(std::span<const uint8_t> frame);

// Appends the encoding of `m` for version `v` to `out`. Fails (appending
// nothing) when `m` has no form in `v` (RoleRequest in 1.0, for example) or
// would exceed 64 KiB.
Result<void, Err> encode(Version v, uint32_t xid, const Message& m, std::vector<uint8_t>& out);
// The same into a Bytes buffer (grows without zeroing: the session's writes).
Result<void, Err> encode(Version v, uint32_t xid, const Message& m, Bytes& out);

// Version negotiation (1.3 spec 6.3.1): the highest version both sides
// support, using the bitmap when the peer sent one, else the lower header
// version. nullopt when there is none.
std::optional<Version> negotiate(uint8_t peer_header_version, uint32_t peer_bitmap, uint32_t our_bitmap);

// Splits a TCP byte stream into frames. Bytes are appended with feed();
// next() hands out complete frames, valid until the next feed(): next()
// leaves the buffered bytes in place, so a caller may take several frames
// before handling the first.
class Framer {
 public:
  enum class Status { Frame, NeedMore, Error };
  struct Next {
    Status status = Status::NeedMore;
    std::span<const uint8_t> frame;
  };

  void feed(std::span<const uint8_t> bytes);
  // Error when a header announces a length below 8: framing is lost and the
  // connection must be closed.
  Next next();
  [[nodiscard]] std::size_t buffered() const { return buf_.size() - start_; }

 private:
  std::vector<uint8_t> buf_;
  std::size_t start_ = 0;
};

}  // namespace fulcrum::of
