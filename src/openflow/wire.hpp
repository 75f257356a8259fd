// Internal to src/openflow/: wire constants and helpers shared by the 1.0 and
// 1.3 codecs. Nothing outside this directory includes it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "openflow/codec.hpp"
#include "util/bytes.hpp"

namespace fulcrum::of::detail {

using DStatus = Result<void, DecodeError>;
using DResult = Result<Message, DecodeError>;
using EStatus = Result<void, Err>;

inline Unexpected<DecodeError> derr(Err e, const char* detail) {
  return Unexpected<DecodeError>{DecodeError{e, detail}};
}

// Message types numbered alike in 1.0 and 1.3.
namespace t {
constexpr uint8_t kHello = 0, kError = 1, kEchoRequest = 2, kEchoReply = 3, kExperimenter = 4;
constexpr uint8_t kFeaturesRequest = 5, kFeaturesReply = 6, kGetConfigRequest = 7, kGetConfigReply = 8;
constexpr uint8_t kSetConfig = 9, kPacketIn = 10, kFlowRemoved = 11, kPortStatus = 12, kPacketOut = 13;
constexpr uint8_t kFlowMod = 14;
}  // namespace t

constexpr std::size_t round8(std::size_t n) { return (n + 7) / 8 * 8; }

// Writes a header with a zero length (encode() patches it); returns its offset.
inline std::size_t begin_msg(ByteWriter& w, Version v, uint8_t type, uint32_t xid) {
  std::size_t start = w.size();
  // version, type, length (patched later), xid: one 64-bit store.
  w.u64((uint64_t{static_cast<uint8_t>(v)} << 56) | (uint64_t{type} << 48) | xid);
  return start;
}

inline MacAddr read_mac(ByteReader& r) {
  MacAddr m;
  r.copy(m.b.data(), m.b.size());
  return m;
}
inline void write_mac(ByteWriter& w, const MacAddr& m) { w.bytes(m.b); }

// Fixed-width NUL-padded name field.
inline std::string read_name(ByteReader& r, std::size_t n) {
  auto s = r.bytes(n);
  std::string out;
  for (uint8_t c : s) {
    if (c == 0) break;
    out.push_back(static_cast<char>(c));
  }
  return out;
}
inline void write_name(ByteWriter& w, const std::string& s, std::size_t n) {
  std::size_t len = s.size() < n ? s.size() : n - 1;
  for (std::size_t i = 0; i < len; ++i) w.u8(static_cast<uint8_t>(s[i]));
  w.zeros(n - len);
}

// Port feature bits: 1.3 layout; 1.0 lacks 40GB/100GB/1TB/OTHER (bits 7-10),
// so its COPPER..PAUSE_ASYM bits (7-11) sit four places lower.
inline uint32_t features_from10(uint32_t f) { return (f & 0x7fu) | ((f & 0xf80u) << 4); }
inline uint32_t features_to10(uint32_t f) { return (f & 0x7fu) | ((f >> 4) & 0xf80u); }
// Highest speed named by a 1.3-layout feature bitmap, in kbps.
inline uint32_t speed_kbps(uint32_t f) {
  if (f & (1u << 9)) return 1'000'000'000;
  if (f & (1u << 8)) return 100'000'000;
  if (f & (1u << 7)) return 40'000'000;
  if (f & (1u << 6)) return 10'000'000;
  if (f & (3u << 4)) return 1'000'000;
  if (f & (3u << 2)) return 100'000;
  if (f & 3u) return 10'000;
  return 0;
}

// Match prerequisites (the 1.3 spec's table, applied to what Match models).
constexpr uint16_t kEthIpv4 = 0x0800, kEthIpv6 = 0x86dd;
constexpr uint8_t kIpTcp = 6, kIpUdp = 17;
inline bool ipv4_prereq(const Match& m) { return m.eth_type == kEthIpv4; }
inline bool ip_proto_prereq(const Match& m) { return m.eth_type == kEthIpv4 || m.eth_type == kEthIpv6; }

// Version-specific halves: decode the body after the 8-byte header of a type
// not handled in codec.cpp; encode a whole message (header included).
DResult decode10(const Header& h, ByteReader& body);
DResult decode13(const Header& h, ByteReader& body);
EStatus encode10(uint32_t xid, const Message& m, ByteWriter& w);
EStatus encode13(uint32_t xid, const Message& m, ByteWriter& w);

}  // namespace fulcrum::of::detail
