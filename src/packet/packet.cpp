// Packet parsing. Every read goes through ByteReader; each layer gets a
// sub-reader cut to the length its header declares, so a view never reaches
// past the layer it belongs to (Ethernet padding after the IPv4 total length
// never shows up in an L4 payload).
#include "packet/packet.hpp"

#include "util/bytes.hpp"

namespace fulcrum::pkt {

namespace {

MacAddr read_mac(ByteReader& r) {
  MacAddr m;
  r.copy(m.b.data(), m.b.size());
  return m;
}

Ipv4Addr read_ip(ByteReader& r) { return Ipv4Addr{r.u32()}; }

Result<Arp, ParseError> parse_arp(ByteReader r) {
  // Fixed 28-byte Ethernet/IPv4 ARP body; anything after it is padding.
  if (!r.can_read(28)) return fail(ParseError::TruncatedArp);
  const uint16_t htype = r.u16();
  const uint16_t ptype = r.u16();
  const uint8_t hlen = r.u8();
  const uint8_t plen = r.u8();
  if (htype != 1 || ptype != kEthTypeIpv4 || hlen != 6 || plen != 4) return fail(ParseError::BadArp);
  Arp a;
  a.op = r.u16();
  a.sha = read_mac(r);
  a.spa = read_ip(r);
  a.tha = read_mac(r);
  a.tpa = read_ip(r);
  return a;
}

bool is_echo(uint8_t type) { return type == kIcmpEchoRequest || type == kIcmpEchoReply; }

Result<Icmp, ParseError> parse_icmp(ByteReader r) {
  if (!r.can_read(8)) return fail(ParseError::TruncatedIcmp);
  Icmp icmp;
  icmp.type = r.u8();
  icmp.code = r.u8();
  r.skip(2);  // checksum
  if (is_echo(icmp.type)) {
    icmp.id = r.u16();
    icmp.seq = r.u16();
  } else {
    r.skip(4);  // rest of header: unused / pointer / gateway / next-hop MTU
  }
  icmp.payload = r.rest();
  return icmp;
}

Result<Tcp, ParseError> parse_tcp(ByteReader r) {
  if (!r.can_read(20)) return fail(ParseError::TruncatedTcp);
  const std::size_t avail = r.remaining();
  Tcp tcp;
  tcp.src_port = r.u16();
  tcp.dst_port = r.u16();
  tcp.seq = r.u32();
  tcp.ack = r.u32();
  const uint8_t off_byte = r.u8();
  tcp.flags = r.u8();
  tcp.window = r.u16();
  const std::size_t header_len = static_cast<std::size_t>(off_byte >> 4) * 4;
  if (header_len < 20 || header_len > avail) return fail(ParseError::BadTcpHeaderLen);
  tcp.header_len = static_cast<uint8_t>(header_len);
  r.skip(4);                // checksum, urgent pointer
  r.skip(header_len - 20);  // options
  tcp.payload = r.rest();
  return tcp;
}

// `fragment` is true for the first fragment of a fragmented datagram: the UDP
// length then covers the whole datagram, so it may exceed what is here and
// the payload is whatever this fragment carries.
Result<Udp, ParseError> parse_udp(ByteReader r, bool fragment) {
  if (!r.can_read(8)) return fail(ParseError::TruncatedUdp);
  const std::size_t avail = r.remaining();
  Udp udp;
  udp.src_port = r.u16();
  udp.dst_port = r.u16();
  udp.length = r.u16();
  r.skip(2);  // checksum
  if (udp.length < 8) return fail(ParseError::BadUdpLen);
  if (udp.length > avail) {
    if (!fragment) return fail(ParseError::BadUdpLen);
    udp.payload = r.rest();
  } else {
    udp.payload = r.bytes(udp.length - 8u);
  }
  return udp;
}

// Parses the IPv4 header into p.ipv4 and the L4 header into p; `r` spans
// from the IPv4 header to the end of the frame.
Result<void, ParseError> parse_ipv4(ByteReader r, ParsedPacket& p) {
  if (!r.can_read(1)) return fail(ParseError::TruncatedIpv4);
  const uint8_t vihl = r.peek_u8();
  if ((vihl >> 4) != 4) return fail(ParseError::BadIpv4Version);
  if (!r.can_read(20)) return fail(ParseError::TruncatedIpv4);
  const std::size_t header_len = static_cast<std::size_t>(vihl & 0x0f) * 4;
  const std::size_t avail = r.remaining();
  if (header_len < 20 || header_len > avail) return fail(ParseError::BadIpv4HeaderLen);

  Ipv4& ip = p.ipv4;
  ip.header_len = static_cast<uint8_t>(header_len);
  ByteReader header = r;  // a copy: reads the header bytes without consuming them
  ip.checksum_ok = inet_checksum(header.bytes(header_len)) == 0;
  r.skip(1);
  ip.tos = r.u8();
  ip.total_len = r.u16();
  if (ip.total_len < header_len || ip.total_len > avail) return fail(ParseError::BadIpv4TotalLen);
  ip.id = r.u16();
  const uint16_t frag = r.u16();
  ip.more_fragments = (frag & 0x2000) != 0;
  ip.frag_offset = frag & 0x1fff;
  ip.ttl = r.u8();
  ip.proto = r.u8();
  r.skip(2);  // checksum, verified above
  ip.src = read_ip(r);
  ip.dst = read_ip(r);
  r.skip(header_len - 20);  // options

  p.l3 = L3::Ipv4;
  if (ip.frag_offset != 0) {
    p.l4 = L4::None;
    return {};
  }
  ByteReader l4 = r.take(ip.total_len - header_len);  // drops Ethernet padding
  switch (ip.proto) {
    case kIpProtoIcmp: {
      auto icmp = parse_icmp(l4);
      if (!icmp) return fail(icmp.error());
      p.icmp = *icmp;
      p.l4 = L4::Icmp;
      break;
    }
    case kIpProtoTcp: {
      auto tcp = parse_tcp(l4);
      if (!tcp) return fail(tcp.error());
      p.tcp = *tcp;
      p.l4 = L4::Tcp;
      break;
    }
    case kIpProtoUdp: {
      auto udp = parse_udp(l4, ip.more_fragments);
      if (!udp) return fail(udp.error());
      p.udp = *udp;
      p.l4 = L4::Udp;
      break;
    }
    default:
      p.l4 = L4::Other;
      break;
  }
  return {};
}

}  // namespace

const char* parse_error_name(ParseError e) {
  switch (e) {
    case ParseError::TruncatedEthernet:
      return "truncated Ethernet header";
    case ParseError::TruncatedVlan:
      return "truncated 802.1Q tag";
    case ParseError::TruncatedArp:
      return "truncated ARP";
    case ParseError::BadArp:
      return "not Ethernet/IPv4 ARP";
    case ParseError::TruncatedIpv4:
      return "truncated IPv4 header";
    case ParseError::BadIpv4Version:
      return "IPv4 version is not 4";
    case ParseError::BadIpv4HeaderLen:
      return "bad IPv4 header length";
    case ParseError::BadIpv4TotalLen:
      return "bad IPv4 total length";
    case ParseError::TruncatedIcmp:
      return "truncated ICMP header";
    case ParseError::TruncatedTcp:
      return "truncated TCP header";
    case ParseError::BadTcpHeaderLen:
      return "bad TCP data offset";
    case ParseError::TruncatedUdp:
      return "truncated UDP header";
    case ParseError::BadUdpLen:
      return "bad UDP length";
  }
  return "unknown parse error";
}

Result<ParsedPacket, ParseError> parse(std::span<const uint8_t> frame) {
  ByteReader r(frame);
  ParsedPacket p;
  if (!r.can_read(14)) return fail(ParseError::TruncatedEthernet);
  p.eth_dst = read_mac(r);
  p.eth_src = read_mac(r);
  p.eth_type = r.u16();
  if (p.eth_type == kEthTypeVlan) {
    if (!r.can_read(4)) return fail(ParseError::TruncatedVlan);
    p.vlan_tci = r.u16();
    p.eth_type = r.u16();
  }
  p.l3_bytes = frame.subspan(r.position());

  switch (p.eth_type) {
    case kEthTypeArp: {
      auto arp = parse_arp(r);
      if (!arp) return fail(arp.error());
      p.arp = *arp;
      p.l3 = L3::Arp;
      break;
    }
    case kEthTypeIpv4: {
      auto ip = parse_ipv4(r, p);
      if (!ip) return fail(ip.error());
      break;
    }
    default:
      p.l3 = L3::Other;
      break;
  }
  return p;
}

uint16_t inet_checksum(std::span<const uint8_t> bytes, uint32_t initial) {
  uint64_t sum = initial;
  std::size_t i = 0;
  for (; i + 1 < bytes.size(); i += 2) sum += static_cast<uint32_t>(bytes[i] << 8 | bytes[i + 1]);
  if (i < bytes.size()) sum += static_cast<uint32_t>(bytes[i] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum & 0xffff);
}

}  // namespace fulcrum::pkt
