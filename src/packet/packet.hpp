// Packet parsing and building: Ethernet (with one 802.1Q tag), ARP, IPv4,
// ICMP, TCP, UDP.
//
// parse() fills a ParsedPacket of plain values and views into the frame: no
// allocation, every read bounds-checked, malformed input is an error value.
// Builders write a complete frame into a caller-provided buffer and return its
// length (0 when the buffer is too small); they compute every checksum.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "net/addr.hpp"
#include "util/result.hpp"

namespace fulcrum::pkt {

constexpr uint16_t kEthTypeIpv4 = 0x0800;
constexpr uint16_t kEthTypeArp = 0x0806;
constexpr uint16_t kEthTypeVlan = 0x8100;
constexpr uint16_t kEthTypeIpv6 = 0x86dd;
constexpr uint8_t kIpProtoIcmp = 1;
constexpr uint8_t kIpProtoTcp = 6;
constexpr uint8_t kIpProtoUdp = 17;
constexpr uint16_t kArpRequest = 1;
constexpr uint16_t kArpReply = 2;
constexpr uint8_t kIcmpEchoReply = 0;
constexpr uint8_t kIcmpDestUnreachable = 3;
constexpr uint8_t kIcmpEchoRequest = 8;
constexpr uint8_t kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04, kTcpPsh = 0x08, kTcpAck = 0x10;

enum class L3 : uint8_t { None, Arp, Ipv4, Other };
enum class L4 : uint8_t { None, Icmp, Tcp, Udp, Other };

struct Arp {
  uint16_t op = 0;
  MacAddr sha;
  Ipv4Addr spa;
  MacAddr tha;
  Ipv4Addr tpa;
};

struct Ipv4 {
  Ipv4Addr src, dst;
  uint8_t proto = 0;
  uint8_t ttl = 0;
  uint8_t tos = 0;
  uint16_t total_len = 0;
  uint16_t id = 0;
  uint8_t header_len = 0;  // bytes
  bool more_fragments = false;
  uint16_t frag_offset = 0;  // in 8-byte units; non-zero: no L4 header here
  bool checksum_ok = false;
};

struct Icmp {
  uint8_t type = 0, code = 0;
  uint16_t id = 0, seq = 0;          // echo request/reply
  std::span<const uint8_t> payload;  // after the 8-byte ICMP header
};

struct Tcp {
  uint16_t src_port = 0, dst_port = 0;
  uint32_t seq = 0, ack = 0;
  uint8_t flags = 0;
  uint16_t window = 0;
  uint8_t header_len = 0;  // bytes
  std::span<const uint8_t> payload;
};

// In the first fragment of a fragmented datagram (MF set, offset 0) `length`
// covers the whole datagram and may exceed what this fragment carries; the
// payload is then the part that is here. Otherwise length <= the IP payload.
struct Udp {
  uint16_t src_port = 0, dst_port = 0;
  uint16_t length = 0;
  std::span<const uint8_t> payload;
};

struct ParsedPacket {
  MacAddr eth_dst, eth_src;
  std::optional<uint16_t> vlan_tci;
  uint16_t eth_type = 0;  // after the VLAN tag, if any
  L3 l3 = L3::None;
  L4 l4 = L4::None;
  Arp arp;                            // valid when l3 == Arp
  Ipv4 ipv4;                          // valid when l3 == Ipv4
  Icmp icmp;                          // valid when l4 == Icmp
  Tcp tcp;                            // valid when l4 == Tcp
  Udp udp;                            // valid when l4 == Udp
  std::span<const uint8_t> l3_bytes;  // from the L3 header to the end of the frame
};

enum class ParseError : uint8_t {
  TruncatedEthernet,
  TruncatedVlan,
  TruncatedArp,
  BadArp,  // not Ethernet/IPv4 ARP (htype 1, ptype 0x0800, hlen 6, plen 4)
  TruncatedIpv4,
  BadIpv4Version,
  BadIpv4HeaderLen,  // IHL < 5 or beyond the frame
  BadIpv4TotalLen,   // total length < header length or beyond the frame
  TruncatedIcmp,
  TruncatedTcp,
  BadTcpHeaderLen,
  TruncatedUdp,
  BadUdpLen,
};
const char* parse_error_name(ParseError e);

// Parses a frame. An L3 or L4 protocol it does not know is not an error
// (l3/l4 = Other); a header that is truncated or inconsistent is.
Result<ParsedPacket, ParseError> parse(std::span<const uint8_t> frame);

// RFC 1071 Internet checksum (ones' complement of the ones' complement sum).
uint16_t inet_checksum(std::span<const uint8_t> bytes, uint32_t initial = 0);

// ---- builders ---------------------------------------------------------------

constexpr std::size_t kArpFrameLen = 42;

struct EthHeader {
  MacAddr src, dst;
};

// ARP frame (no VLAN tag).
std::size_t build_arp(std::span<uint8_t> out, const EthHeader& eth, uint16_t op, MacAddr sha, Ipv4Addr spa, MacAddr tha,
                      Ipv4Addr tpa);

struct IpHeader {
  Ipv4Addr src, dst;
  uint8_t ttl = 64;
  uint16_t id = 0;
};

// ICMP echo request or reply (type kIcmpEchoRequest / kIcmpEchoReply).
std::size_t build_icmp_echo(std::span<uint8_t> out, const EthHeader& eth, const IpHeader& ip, uint8_t type, uint16_t id,
                            uint16_t seq, std::span<const uint8_t> payload);

// ICMP error (for example destination unreachable) quoting `original_ip`
// (the offending IPv4 header and at least 8 bytes after it, per RFC 792).
// The quote is cut to the IHL-given header + 8 bytes (RFC 792, not RFC 1812's
// 576-byte quote), or all of `original_ip` if shorter. The 4-byte field after
// the checksum is zero.
std::size_t build_icmp_error(std::span<uint8_t> out, const EthHeader& eth, const IpHeader& ip, uint8_t type,
                             uint8_t code, std::span<const uint8_t> original_ip);

struct TcpFields {
  uint16_t src_port = 0, dst_port = 0;
  uint32_t seq = 0, ack = 0;
  uint8_t flags = 0;
  uint16_t window = 0;
};
// TCP segment without options.
std::size_t build_tcp(std::span<uint8_t> out, const EthHeader& eth, const IpHeader& ip, const TcpFields& tcp,
                      std::span<const uint8_t> payload);

std::size_t build_udp(std::span<uint8_t> out, const EthHeader& eth, const IpHeader& ip, uint16_t src_port,
                      uint16_t dst_port, std::span<const uint8_t> payload);

}  // namespace fulcrum::pkt
