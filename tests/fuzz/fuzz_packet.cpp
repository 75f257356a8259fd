// libFuzzer target for the packet parser and builders.
//
// Every input goes through parse(); every view it returns must lie inside the
// input. When the input parses as ARP, ICMP echo, TCP or UDP, the fields are
// rebuilt with the matching builder into a stack buffer, and the rebuilt frame
// must parse back to the same fields with valid checksums. Any IPv4 packet is
// also quoted into an ICMP error, which must parse.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

#include "packet/packet.hpp"

namespace {

using namespace fulcrum;
using namespace fulcrum::pkt;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

bool within(std::span<const uint8_t> inner, std::span<const uint8_t> outer) {
  if (inner.empty()) return true;
  return inner.data() >= outer.data() && inner.data() + inner.size() <= outer.data() + outer.size();
}

uint16_t be16(std::span<const uint8_t> b, std::size_t at) { return static_cast<uint16_t>(b[at] << 8 | b[at + 1]); }

// TCP/UDP checksum over the pseudo-header of a frame we built (no VLAN, IHL 5).
bool l4_checksum_ok(std::span<const uint8_t> frame, uint8_t proto) {
  const auto l4 = frame.subspan(34, be16(frame, 16) - 20u);
  uint32_t pseudo = be16(frame, 26) + be16(frame, 28) + be16(frame, 30) + be16(frame, 32) + proto;
  pseudo += static_cast<uint32_t>(l4.size());
  return inet_checksum(l4, pseudo) == 0;
}

// Parses a frame we built and checks what every builder guarantees.
ParsedPacket reparse(std::span<const uint8_t> frame, const EthHeader& eth) {
  auto r = parse(frame);
  check(r.ok());
  check(r->eth_src == eth.src && r->eth_dst == eth.dst && !r->vlan_tci);
  if (r->l3 == L3::Ipv4) {
    check(r->ipv4.checksum_ok && r->ipv4.header_len == 20 && r->ipv4.frag_offset == 0 && !r->ipv4.more_fragments);
    check(r->ipv4.total_len + 14u == frame.size());
  }
  return *r;
}

bool same(std::span<const uint8_t> a, std::span<const uint8_t> b) { return std::ranges::equal(a, b); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::span<const uint8_t> in(data, size);
  auto r = parse(in);
  if (!r.ok()) {
    check(parse_error_name(r.error()) != nullptr);
    return 0;
  }
  const ParsedPacket& p = *r;
  check(within(p.l3_bytes, in));
  if (p.l4 == L4::Icmp) check(within(p.icmp.payload, in));
  if (p.l4 == L4::Tcp) check(within(p.tcp.payload, in));
  if (p.l4 == L4::Udp) check(within(p.udp.payload, in));

  const EthHeader eth{p.eth_src, p.eth_dst};
  const IpHeader ip{p.ipv4.src, p.ipv4.dst, p.ipv4.ttl, p.ipv4.id};
  uint8_t buf[14 + 65535];  // the largest frame any builder can write
  const std::span<uint8_t> out(buf);
  std::size_t n = 0;

  if (p.l3 == L3::Arp) {
    n = build_arp(out, eth, p.arp.op, p.arp.sha, p.arp.spa, p.arp.tha, p.arp.tpa);
    check(n == kArpFrameLen);
    auto q = reparse(out.first(n), eth);
    check(q.l3 == L3::Arp && q.arp.op == p.arp.op && q.arp.sha == p.arp.sha && q.arp.spa == p.arp.spa &&
          q.arp.tha == p.arp.tha && q.arp.tpa == p.arp.tpa);
    return 0;
  }
  if (p.l3 != L3::Ipv4) return 0;

  switch (p.l4) {
    case L4::Icmp:
      if (p.icmp.type == kIcmpEchoRequest || p.icmp.type == kIcmpEchoReply) {
        n = build_icmp_echo(out, eth, ip, p.icmp.type, p.icmp.id, p.icmp.seq, p.icmp.payload);
        check(n != 0);
        auto q = reparse(out.first(n), eth);
        check(q.l4 == L4::Icmp && q.icmp.type == p.icmp.type && q.icmp.code == 0 && q.icmp.id == p.icmp.id &&
              q.icmp.seq == p.icmp.seq && same(q.icmp.payload, p.icmp.payload));
        check(inet_checksum(out.subspan(34, n - 34)) == 0);
      }
      break;
    case L4::Tcp: {
      const TcpFields t{p.tcp.src_port, p.tcp.dst_port, p.tcp.seq, p.tcp.ack, p.tcp.flags, p.tcp.window};
      n = build_tcp(out, eth, ip, t, p.tcp.payload);
      check(n != 0);
      auto q = reparse(out.first(n), eth);
      check(q.l4 == L4::Tcp && q.tcp.src_port == t.src_port && q.tcp.dst_port == t.dst_port && q.tcp.seq == t.seq &&
            q.tcp.ack == t.ack && q.tcp.flags == t.flags && q.tcp.window == t.window && q.tcp.header_len == 20 &&
            same(q.tcp.payload, p.tcp.payload));
      check(l4_checksum_ok(out.first(n), kIpProtoTcp));
      break;
    }
    case L4::Udp: {
      n = build_udp(out, eth, ip, p.udp.src_port, p.udp.dst_port, p.udp.payload);
      check(n != 0);
      auto q = reparse(out.first(n), eth);
      check(q.l4 == L4::Udp && q.udp.src_port == p.udp.src_port && q.udp.dst_port == p.udp.dst_port &&
            q.udp.length == p.udp.payload.size() + 8 && same(q.udp.payload, p.udp.payload));
      check(be16(out, 40) != 0 && l4_checksum_ok(out.first(n), kIpProtoUdp));
      break;
    }
    default:
      break;
  }

  // Quote whatever IPv4 packet this was into a destination unreachable.
  n = build_icmp_error(out, eth, ip, kIcmpDestUnreachable, 1, p.l3_bytes);
  check(n != 0);
  auto q = reparse(out.first(n), eth);
  const std::size_t quote = std::min<std::size_t>(p.l3_bytes.size(), p.ipv4.header_len + 8u);
  check(q.l4 == L4::Icmp && q.icmp.type == kIcmpDestUnreachable && q.icmp.code == 1 &&
        same(q.icmp.payload, p.l3_bytes.first(quote)));
  check(inet_checksum(out.subspan(34, n - 34)) == 0);
  return 0;
}
