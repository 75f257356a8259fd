// Packet building. Each builder computes the full frame length first and
// returns 0 if it does not fit the caller's span (or cannot be expressed in
// an IPv4 total length); only then does it write, so nothing is ever written
// past the span. Payload views must not overlap `out`.
#include <algorithm>
#include <cstring>

#include "packet/packet.hpp"

namespace fulcrum::pkt {

namespace {

constexpr std::size_t kEthLen = 14;
constexpr std::size_t kIpLen = 20;
constexpr std::size_t kIcmpLen = 8;
constexpr std::size_t kTcpLen = 20;
constexpr std::size_t kUdpLen = 8;
constexpr std::size_t kMaxIpTotal = 0xffff;

// Unchecked big-endian writer; callers check the whole length up front.
class FrameWriter {
 public:
  explicit FrameWriter(std::span<uint8_t> out) : p_(out.data()) {}

  [[nodiscard]] std::size_t pos() const { return pos_; }
  void u8(uint8_t v) { p_[pos_++] = v; }
  void u16(uint16_t v) {
    u8(static_cast<uint8_t>(v >> 8));
    u8(static_cast<uint8_t>(v));
  }
  void u32(uint32_t v) {
    u16(static_cast<uint16_t>(v >> 16));
    u16(static_cast<uint16_t>(v));
  }
  void mac(const MacAddr& m) { bytes(m.b); }
  void ip(Ipv4Addr a) { u32(a.v); }
  void bytes(std::span<const uint8_t> b) {
    if (!b.empty()) std::memcpy(p_ + pos_, b.data(), b.size());
    pos_ += b.size();
  }
  void patch_u16(std::size_t at, uint16_t v) {
    p_[at] = static_cast<uint8_t>(v >> 8);
    p_[at + 1] = static_cast<uint8_t>(v);
  }
  [[nodiscard]] std::span<const uint8_t> range(std::size_t from, std::size_t to) const {
    return {p_ + from, to - from};
  }

 private:
  uint8_t* p_;
  std::size_t pos_ = 0;
};

void write_eth(FrameWriter& w, const EthHeader& eth, uint16_t type) {
  w.mac(eth.dst);
  w.mac(eth.src);
  w.u16(type);
}

// Writes a 20-byte IPv4 header (no options, DF clear) with its checksum.
void write_ipv4(FrameWriter& w, const IpHeader& ip, uint8_t proto, std::size_t l4_len) {
  const std::size_t start = w.pos();
  w.u8(0x45);
  w.u8(0);  // TOS
  w.u16(static_cast<uint16_t>(kIpLen + l4_len));
  w.u16(ip.id);
  w.u16(0);  // flags (DF clear), fragment offset 0
  w.u8(ip.ttl);
  w.u8(proto);
  w.u16(0);  // checksum, patched below
  w.ip(ip.src);
  w.ip(ip.dst);
  w.patch_u16(start + 10, inet_checksum(w.range(start, w.pos())));
}

// Partial (not complemented) sum of the TCP/UDP pseudo-header.
uint32_t pseudo_header_sum(const IpHeader& ip, uint8_t proto, std::size_t l4_len) {
  return (ip.src.v >> 16) + (ip.src.v & 0xffff) + (ip.dst.v >> 16) + (ip.dst.v & 0xffff) + proto +
         static_cast<uint32_t>(l4_len);
}

// Frame length for an IPv4 packet carrying l4_len bytes, or 0 if it cannot be
// built into a span of out_size bytes.
std::size_t ipv4_frame_len(std::size_t out_size, std::size_t l4_len) {
  if (l4_len > kMaxIpTotal - kIpLen) return 0;
  const std::size_t len = kEthLen + kIpLen + l4_len;
  return len <= out_size ? len : 0;
}

}  // namespace

std::size_t build_arp(std::span<uint8_t> out, const EthHeader& eth, uint16_t op, MacAddr sha, Ipv4Addr spa, MacAddr tha,
                      Ipv4Addr tpa) {
  if (out.size() < kArpFrameLen) return 0;
  FrameWriter w(out);
  write_eth(w, eth, kEthTypeArp);
  w.u16(1);  // htype Ethernet
  w.u16(kEthTypeIpv4);
  w.u8(6);
  w.u8(4);
  w.u16(op);
  w.mac(sha);
  w.ip(spa);
  w.mac(tha);
  w.ip(tpa);
  return w.pos();
}

std::size_t build_icmp_echo(std::span<uint8_t> out, const EthHeader& eth, const IpHeader& ip, uint8_t type, uint16_t id,
                            uint16_t seq, std::span<const uint8_t> payload) {
  const std::size_t l4_len = kIcmpLen + payload.size();
  const std::size_t len = ipv4_frame_len(out.size(), l4_len);
  if (len == 0) return 0;
  FrameWriter w(out);
  write_eth(w, eth, kEthTypeIpv4);
  write_ipv4(w, ip, kIpProtoIcmp, l4_len);
  const std::size_t start = w.pos();
  w.u8(type);
  w.u8(0);   // code
  w.u16(0);  // checksum, patched below
  w.u16(id);
  w.u16(seq);
  w.bytes(payload);
  w.patch_u16(start + 2, inet_checksum(w.range(start, w.pos())));
  return w.pos();
}

// Quotes the original IP header and the first 8 bytes after it (RFC 792),
// never more than the caller gave. The header length comes from the quoted
// IHL; a missing or invalid IHL is taken as 20.
std::size_t build_icmp_error(std::span<uint8_t> out, const EthHeader& eth, const IpHeader& ip, uint8_t type,
                             uint8_t code, std::span<const uint8_t> original_ip) {
  std::size_t ihl = original_ip.empty() ? kIpLen : static_cast<std::size_t>(original_ip[0] & 0x0f) * 4;
  if (ihl < kIpLen) ihl = kIpLen;
  const auto quote = original_ip.first(std::min(original_ip.size(), ihl + 8));
  const std::size_t l4_len = kIcmpLen + quote.size();
  const std::size_t len = ipv4_frame_len(out.size(), l4_len);
  if (len == 0) return 0;
  FrameWriter w(out);
  write_eth(w, eth, kEthTypeIpv4);
  write_ipv4(w, ip, kIpProtoIcmp, l4_len);
  const std::size_t start = w.pos();
  w.u8(type);
  w.u8(code);
  w.u16(0);  // checksum, patched below
  w.u32(0);  // unused
  w.bytes(quote);
  w.patch_u16(start + 2, inet_checksum(w.range(start, w.pos())));
  return w.pos();
}

std::size_t build_tcp(std::span<uint8_t> out, const EthHeader& eth, const IpHeader& ip, const TcpFields& tcp,
                      std::span<const uint8_t> payload) {
  const std::size_t l4_len = kTcpLen + payload.size();
  const std::size_t len = ipv4_frame_len(out.size(), l4_len);
  if (len == 0) return 0;
  FrameWriter w(out);
  write_eth(w, eth, kEthTypeIpv4);
  write_ipv4(w, ip, kIpProtoTcp, l4_len);
  const std::size_t start = w.pos();
  w.u16(tcp.src_port);
  w.u16(tcp.dst_port);
  w.u32(tcp.seq);
  w.u32(tcp.ack);
  w.u8(static_cast<uint8_t>((kTcpLen / 4) << 4));
  w.u8(tcp.flags);
  w.u16(tcp.window);
  w.u16(0);  // checksum, patched below
  w.u16(0);  // urgent pointer
  w.bytes(payload);
  const uint32_t pseudo = pseudo_header_sum(ip, kIpProtoTcp, l4_len);
  w.patch_u16(start + 16, inet_checksum(w.range(start, w.pos()), pseudo));
  return w.pos();
}

std::size_t build_udp(std::span<uint8_t> out, const EthHeader& eth, const IpHeader& ip, uint16_t src_port,
                      uint16_t dst_port, std::span<const uint8_t> payload) {
  const std::size_t l4_len = kUdpLen + payload.size();
  const std::size_t len = ipv4_frame_len(out.size(), l4_len);
  if (len == 0) return 0;
  FrameWriter w(out);
  write_eth(w, eth, kEthTypeIpv4);
  write_ipv4(w, ip, kIpProtoUdp, l4_len);
  const std::size_t start = w.pos();
  w.u16(src_port);
  w.u16(dst_port);
  w.u16(static_cast<uint16_t>(l4_len));
  w.u16(0);  // checksum, patched below
  w.bytes(payload);
  uint16_t sum = inet_checksum(w.range(start, w.pos()), pseudo_header_sum(ip, kIpProtoUdp, l4_len));
  if (sum == 0) sum = 0xffff;  // 0 means "no checksum" in UDP (RFC 768)
  w.patch_u16(start + 6, sum);
  return w.pos();
}

}  // namespace fulcrum::pkt
