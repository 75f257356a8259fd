// Builder tests: byte-exact output against golden frames, build -> parse
// round trips for every builder, checksums verified independently with
// inet_checksum, and buffer-size handling.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "packet/packet.hpp"
#include "unit/packet/golden_packets.hpp"
#include "unit/packet/packet_test_util.hpp"

namespace fulcrum::pkt {
namespace {

using testing::ip;
using testing::mac;

const EthHeader kEth{mac("00:1a:2b:3c:4d:5e"), mac("00:11:22:33:44:55")};
const IpHeader kIp{ip("10.0.0.5"), ip("10.0.0.80"), 61, 0x4242};

uint16_t be16(std::span<const uint8_t> b, std::size_t at) { return static_cast<uint16_t>(b[at] << 8 | b[at + 1]); }

// Verifies a TCP/UDP checksum over the pseudo-header; true when it sums to 0.
bool l4_checksum_ok(std::span<const uint8_t> frame, uint8_t proto) {
  auto ipb = frame.subspan(14, 20);
  const uint16_t total = be16(ipb, 2);
  auto l4 = frame.subspan(34, total - 20u);
  uint32_t pseudo = be16(ipb, 12) + be16(ipb, 14) + be16(ipb, 16) + be16(ipb, 18) + proto;
  pseudo += static_cast<uint32_t>(l4.size());
  return inet_checksum(l4, pseudo) == 0;
}

void expect_ipv4_header(const ParsedPacket& p, const IpHeader& want, uint8_t proto, std::size_t l4_len) {
  EXPECT_EQ(p.l3, L3::Ipv4);
  EXPECT_EQ(p.ipv4.src, want.src);
  EXPECT_EQ(p.ipv4.dst, want.dst);
  EXPECT_EQ(p.ipv4.ttl, want.ttl);
  EXPECT_EQ(p.ipv4.id, want.id);
  EXPECT_EQ(p.ipv4.proto, proto);
  EXPECT_EQ(p.ipv4.tos, 0);
  EXPECT_EQ(p.ipv4.header_len, 20);
  EXPECT_EQ(p.ipv4.total_len, 20 + l4_len);
  EXPECT_FALSE(p.ipv4.more_fragments);
  EXPECT_EQ(p.ipv4.frag_offset, 0);
  EXPECT_TRUE(p.ipv4.checksum_ok);
}

// ---- byte-exact against golden frames -----------------------------------

TEST(PacketBuild, ArpReplyMatchesGolden) {
  std::array<uint8_t, 64> buf{};
  const std::size_t n =
      build_arp(buf, EthHeader{mac("00:11:22:33:44:55"), mac("00:1a:2b:3c:4d:5e")}, kArpReply, mac("00:11:22:33:44:55"),
                ip("192.168.1.1"), mac("00:1a:2b:3c:4d:5e"), ip("192.168.1.100"));
  ASSERT_EQ(n, kArpFrameLen);
  EXPECT_TRUE(std::equal(buf.begin(), buf.begin() + n, std::begin(golden::kArpReply), std::end(golden::kArpReply)));
}

TEST(PacketBuild, UdpMatchesGolden) {
  // The golden DNS query has DF clear, TTL 64, id 0x5e21: exactly what build_udp writes.
  auto dns = std::span(golden::kUdpDns).subspan(42);
  std::array<uint8_t, 128> buf{};
  const std::size_t n = build_udp(buf, EthHeader{mac("00:1a:2b:3c:4d:5e"), mac("00:11:22:33:44:55")},
                                  IpHeader{ip("10.0.0.5"), ip("8.8.8.8"), 64, 0x5e21}, 53124, 53, dns);
  ASSERT_EQ(n, sizeof golden::kUdpDns);
  EXPECT_TRUE(std::equal(buf.begin(), buf.begin() + n, std::begin(golden::kUdpDns), std::end(golden::kUdpDns)));
}

TEST(PacketBuild, IcmpEchoReplyMatchesGoldenWithoutTag) {
  // The golden VLAN-tagged reply minus its 4-byte tag.
  std::vector<uint8_t> want(std::begin(golden::kVlanIcmpReply), std::end(golden::kVlanIcmpReply));
  want.erase(want.begin() + 12, want.begin() + 16);
  auto payload = std::span(golden::kVlanIcmpReply).subspan(46);
  std::array<uint8_t, 128> buf{};
  const std::size_t n =
      build_icmp_echo(buf, EthHeader{mac("00:11:22:33:44:55"), mac("00:1a:2b:3c:4d:5e")},
                      IpHeader{ip("192.168.1.1"), ip("192.168.1.100"), 64, 0x8d02}, kIcmpEchoReply, 0x1234, 1, payload);
  ASSERT_EQ(n, want.size());
  EXPECT_TRUE(std::equal(buf.begin(), buf.begin() + n, want.begin(), want.end()));
}

// ---- round trips -----------------------------------------------------------

TEST(PacketBuild, ArpRoundTrip) {
  std::array<uint8_t, kArpFrameLen> buf{};
  const EthHeader eth{mac("02:00:00:00:00:01"), MacAddr::broadcast()};
  ASSERT_EQ(build_arp(buf, eth, kArpRequest, mac("02:00:00:00:00:01"), ip("10.1.2.3"), MacAddr{}, ip("10.1.2.254")),
            kArpFrameLen);
  auto p = parse(buf);
  ASSERT_TRUE(p.ok()) << parse_error_name(p.error());
  EXPECT_EQ(p->eth_src, eth.src);
  EXPECT_EQ(p->eth_dst, eth.dst);
  EXPECT_EQ(p->eth_type, kEthTypeArp);
  EXPECT_EQ(p->l3, L3::Arp);
  EXPECT_EQ(p->arp.op, kArpRequest);
  EXPECT_EQ(p->arp.sha, mac("02:00:00:00:00:01"));
  EXPECT_EQ(p->arp.spa, ip("10.1.2.3"));
  EXPECT_TRUE(p->arp.tha.is_zero());
  EXPECT_EQ(p->arp.tpa, ip("10.1.2.254"));
}

TEST(PacketBuild, IcmpEchoRoundTrip) {
  const std::array<uint8_t, 5> payload{1, 2, 3, 4, 5};  // odd length exercises checksum padding
  std::array<uint8_t, 256> buf{};
  const std::size_t n = build_icmp_echo(buf, kEth, kIp, kIcmpEchoRequest, 0xbeef, 0x0102, payload);
  ASSERT_EQ(n, 14u + 20 + 8 + payload.size());
  auto frame = std::span<const uint8_t>(buf).first(n);
  EXPECT_EQ(inet_checksum(frame.subspan(34)), 0);
  auto p = parse(frame);
  ASSERT_TRUE(p.ok()) << parse_error_name(p.error());
  EXPECT_EQ(p->eth_src, kEth.src);
  EXPECT_EQ(p->eth_dst, kEth.dst);
  EXPECT_FALSE(p->vlan_tci.has_value());
  expect_ipv4_header(*p, kIp, kIpProtoIcmp, 8 + payload.size());
  ASSERT_EQ(p->l4, L4::Icmp);
  EXPECT_EQ(p->icmp.type, kIcmpEchoRequest);
  EXPECT_EQ(p->icmp.code, 0);
  EXPECT_EQ(p->icmp.id, 0xbeef);
  EXPECT_EQ(p->icmp.seq, 0x0102);
  EXPECT_TRUE(std::ranges::equal(p->icmp.payload, payload));
}

TEST(PacketBuild, DontFragmentIsClear) {
  std::array<uint8_t, 64> buf{};
  ASSERT_NE(build_icmp_echo(buf, kEth, kIp, kIcmpEchoReply, 1, 1, {}), 0u);
  EXPECT_EQ(be16(buf, 14 + 6), 0);  // flags + fragment offset
}

TEST(PacketBuild, TcpRoundTrip) {
  const std::array<uint8_t, 3> payload{'G', 'E', 'T'};
  const TcpFields t{51234, 8080, 0xfffffff0u, 0x12345678u, kTcpPsh | kTcpAck, 29200};
  std::array<uint8_t, 128> buf{};
  const std::size_t n = build_tcp(buf, kEth, kIp, t, payload);
  ASSERT_EQ(n, 14u + 20 + 20 + payload.size());
  auto frame = std::span<const uint8_t>(buf).first(n);
  EXPECT_TRUE(l4_checksum_ok(frame, kIpProtoTcp));
  auto p = parse(frame);
  ASSERT_TRUE(p.ok()) << parse_error_name(p.error());
  expect_ipv4_header(*p, kIp, kIpProtoTcp, 20 + payload.size());
  ASSERT_EQ(p->l4, L4::Tcp);
  EXPECT_EQ(p->tcp.src_port, t.src_port);
  EXPECT_EQ(p->tcp.dst_port, t.dst_port);
  EXPECT_EQ(p->tcp.seq, t.seq);
  EXPECT_EQ(p->tcp.ack, t.ack);
  EXPECT_EQ(p->tcp.flags, t.flags);
  EXPECT_EQ(p->tcp.window, t.window);
  EXPECT_EQ(p->tcp.header_len, 20);
  EXPECT_TRUE(std::ranges::equal(p->tcp.payload, payload));
}

TEST(PacketBuild, TcpRstNoPayloadRoundTrip) {
  const TcpFields t{80, 51234, 0, 0x9a3b1c2eu, kTcpRst | kTcpAck, 0};
  std::array<uint8_t, 54> buf{};
  ASSERT_EQ(build_tcp(buf, kEth, kIp, t, {}), 54u);
  EXPECT_TRUE(l4_checksum_ok(buf, kIpProtoTcp));
  auto p = parse(buf);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->tcp.flags, kTcpRst | kTcpAck);
  EXPECT_TRUE(p->tcp.payload.empty());
}

TEST(PacketBuild, UdpRoundTrip) {
  const std::array<uint8_t, 7> payload{'h', 'e', 'l', 'l', 'o', '\n', 0};
  std::array<uint8_t, 128> buf{};
  const std::size_t n = build_udp(buf, kEth, kIp, 5353, 53, payload);
  ASSERT_EQ(n, 14u + 20 + 8 + payload.size());
  auto frame = std::span<const uint8_t>(buf).first(n);
  EXPECT_TRUE(l4_checksum_ok(frame, kIpProtoUdp));
  EXPECT_NE(be16(frame, 34 + 6), 0);
  auto p = parse(frame);
  ASSERT_TRUE(p.ok()) << parse_error_name(p.error());
  expect_ipv4_header(*p, kIp, kIpProtoUdp, 8 + payload.size());
  ASSERT_EQ(p->l4, L4::Udp);
  EXPECT_EQ(p->udp.src_port, 5353);
  EXPECT_EQ(p->udp.dst_port, 53);
  EXPECT_EQ(p->udp.length, 8 + payload.size());
  EXPECT_TRUE(std::ranges::equal(p->udp.payload, payload));
}

TEST(PacketBuild, UdpZeroChecksumIsSentAsFfff) {
  // Build once with a zero word as payload; the checksum C it gets is the
  // ones' complement of the rest of the sum, so a payload word equal to C
  // makes the computed checksum 0, which must go out as 0xffff.
  std::array<uint8_t, 2> payload{0, 0};
  std::array<uint8_t, 64> buf{};
  ASSERT_NE(build_udp(buf, kEth, kIp, 1000, 2000, payload), 0u);
  const uint16_t c = be16(buf, 40);
  payload = {static_cast<uint8_t>(c >> 8), static_cast<uint8_t>(c)};
  const std::size_t n = build_udp(buf, kEth, kIp, 1000, 2000, payload);
  ASSERT_EQ(n, 44u);
  EXPECT_EQ(be16(buf, 40), 0xffff);
  EXPECT_TRUE(l4_checksum_ok(std::span<const uint8_t>(buf).first(n), kIpProtoUdp));
}

TEST(PacketBuild, IcmpErrorQuotesHeaderPlus8) {
  // Quote the golden TCP SYN's IP packet (60 bytes): RFC 792 keeps 20 + 8.
  auto original = std::span(golden::kTcpSyn).subspan(14);
  std::array<uint8_t, 256> buf{};
  const std::size_t n = build_icmp_error(buf, kEth, kIp, kIcmpDestUnreachable, 3, original);
  ASSERT_EQ(n, 14u + 20 + 8 + 28);
  auto frame = std::span<const uint8_t>(buf).first(n);
  EXPECT_EQ(inet_checksum(frame.subspan(34)), 0);
  auto p = parse(frame);
  ASSERT_TRUE(p.ok()) << parse_error_name(p.error());
  expect_ipv4_header(*p, kIp, kIpProtoIcmp, 8 + 28);
  ASSERT_EQ(p->l4, L4::Icmp);
  EXPECT_EQ(p->icmp.type, kIcmpDestUnreachable);
  EXPECT_EQ(p->icmp.code, 3);
  EXPECT_EQ(p->icmp.id, 0);
  EXPECT_EQ(p->icmp.seq, 0);
  EXPECT_EQ(be16(frame, 38), 0);  // unused word
  EXPECT_EQ(be16(frame, 40), 0);
  EXPECT_TRUE(std::ranges::equal(p->icmp.payload, original.first(28)));
  // The quote itself parses as the start of the original packet.
  EXPECT_EQ(inet_checksum(p->icmp.payload.first(20)), 0);
}

TEST(PacketBuild, IcmpErrorQuoteFollowsIhl) {
  std::vector<uint8_t> original(std::begin(golden::kUdpDns) + 14, std::end(golden::kUdpDns));
  original[0] = 0x46;  // pretend 4 bytes of options: quote 24 + 8
  std::array<uint8_t, 256> buf{};
  const std::size_t n = build_icmp_error(buf, kEth, kIp, kIcmpDestUnreachable, 1, original);
  ASSERT_EQ(n, 14u + 20 + 8 + 32);
  auto p = parse(std::span<const uint8_t>(buf).first(n));
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(std::ranges::equal(p->icmp.payload, std::span(original).first(32)));
}

TEST(PacketBuild, IcmpErrorShortOriginalIsQuotedWhole) {
  const std::array<uint8_t, 10> original{0x45, 0, 0, 10, 0, 0, 0, 0, 64, 6};
  std::array<uint8_t, 128> buf{};
  const std::size_t n = build_icmp_error(buf, kEth, kIp, kIcmpDestUnreachable, 0, original);
  ASSERT_EQ(n, 14u + 20 + 8 + 10);
  auto p = parse(std::span<const uint8_t>(buf).first(n));
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(std::ranges::equal(p->icmp.payload, original));
  EXPECT_EQ(build_icmp_error(buf, kEth, kIp, kIcmpDestUnreachable, 0, {}), 42u);
}

// ---- buffer sizes ----------------------------------------------------------

// Calls `build` with every span shorter than `need`: each must return 0 and
// leave every byte (inside and past the span) untouched. Then exactly `need`.
template <typename Build>
void expect_exact_fit(std::size_t need, Build build) {
  std::vector<uint8_t> buf(need + 16);
  for (std::size_t len = 0; len < need; ++len) {
    std::fill(buf.begin(), buf.end(), 0xa5);
    EXPECT_EQ(build(std::span<uint8_t>(buf.data(), len)), 0u) << "len " << len;
    EXPECT_TRUE(std::all_of(buf.begin(), buf.end(), [](uint8_t b) { return b == 0xa5; })) << "len " << len;
  }
  std::fill(buf.begin(), buf.end(), 0xa5);
  EXPECT_EQ(build(std::span<uint8_t>(buf.data(), need)), need);
  EXPECT_TRUE(
      std::all_of(buf.begin() + static_cast<std::ptrdiff_t>(need), buf.end(), [](uint8_t b) { return b == 0xa5; }));
}

TEST(PacketBuild, TooSmallBufferWritesNothing) {
  const std::array<uint8_t, 9> payload{1, 2, 3, 4, 5, 6, 7, 8, 9};
  expect_exact_fit(kArpFrameLen, [](std::span<uint8_t> out) {
    return build_arp(out, kEth, kArpReply, kEth.src, kIp.src, kEth.dst, kIp.dst);
  });
  expect_exact_fit(
      51, [&](std::span<uint8_t> out) { return build_icmp_echo(out, kEth, kIp, kIcmpEchoRequest, 1, 2, payload); });
  expect_exact_fit(70, [](std::span<uint8_t> out) {
    return build_icmp_error(out, kEth, kIp, kIcmpDestUnreachable, 3, std::span(golden::kTcpSyn).subspan(14));
  });
  expect_exact_fit(63, [&](std::span<uint8_t> out) { return build_tcp(out, kEth, kIp, TcpFields{}, payload); });
  expect_exact_fit(51, [&](std::span<uint8_t> out) { return build_udp(out, kEth, kIp, 1, 2, payload); });
}

TEST(PacketBuild, LargestIpv4PacketFitsAndOneMoreDoesNot) {
  std::vector<uint8_t> payload(0xffff - 28, 0x5a);
  std::vector<uint8_t> buf(14 + 0xffff + 64);
  const std::size_t n = build_udp(buf, kEth, kIp, 1, 2, payload);
  ASSERT_EQ(n, 14u + 0xffff);
  auto p = parse(std::span<const uint8_t>(buf).first(n));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->ipv4.total_len, 0xffff);
  EXPECT_EQ(p->udp.payload.size(), payload.size());
  EXPECT_TRUE(l4_checksum_ok(std::span<const uint8_t>(buf).first(n), kIpProtoUdp));

  payload.push_back(0);
  EXPECT_EQ(build_udp(buf, kEth, kIp, 1, 2, payload), 0u);
  EXPECT_EQ(build_icmp_echo(buf, kEth, kIp, kIcmpEchoRequest, 1, 1, payload), 0u);
  payload.resize(0xffff - 40 + 1);
  EXPECT_EQ(build_tcp(buf, kEth, kIp, TcpFields{}, payload), 0u);
}

}  // namespace
}  // namespace fulcrum::pkt
