// Golden tests: parse byte arrays of real frames and check every field.
#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "packet/packet.hpp"
#include "unit/packet/golden_packets.hpp"
#include "unit/packet/packet_test_util.hpp"

namespace fulcrum::pkt {
namespace {

using testing::ip;
using testing::mac;

std::span<const uint8_t> frame_of(std::span<const uint8_t> f) { return f; }

TEST(PacketParse, ArpRequestPadded) {
  auto r = parse(golden::kArpRequest);
  ASSERT_TRUE(r.ok()) << parse_error_name(r.error());
  EXPECT_EQ(r->eth_dst, MacAddr::broadcast());
  EXPECT_EQ(r->eth_src, mac("00:1a:2b:3c:4d:5e"));
  EXPECT_FALSE(r->vlan_tci.has_value());
  EXPECT_EQ(r->eth_type, kEthTypeArp);
  EXPECT_EQ(r->l3, L3::Arp);
  EXPECT_EQ(r->l4, L4::None);
  EXPECT_EQ(r->arp.op, kArpRequest);
  EXPECT_EQ(r->arp.sha, mac("00:1a:2b:3c:4d:5e"));
  EXPECT_EQ(r->arp.spa, ip("192.168.1.100"));
  EXPECT_TRUE(r->arp.tha.is_zero());
  EXPECT_EQ(r->arp.tpa, ip("192.168.1.1"));
  // l3_bytes runs to the end of the frame, padding included.
  EXPECT_EQ(r->l3_bytes.data(), golden::kArpRequest + 14);
  EXPECT_EQ(r->l3_bytes.size(), 46u);
}

TEST(PacketParse, ArpReply) {
  auto r = parse(golden::kArpReply);
  ASSERT_TRUE(r.ok()) << parse_error_name(r.error());
  EXPECT_EQ(r->eth_dst, mac("00:1a:2b:3c:4d:5e"));
  EXPECT_EQ(r->eth_src, mac("00:11:22:33:44:55"));
  EXPECT_EQ(r->eth_type, kEthTypeArp);
  EXPECT_EQ(r->l3, L3::Arp);
  EXPECT_EQ(r->l4, L4::None);
  EXPECT_EQ(r->arp.op, kArpReply);
  EXPECT_EQ(r->arp.sha, mac("00:11:22:33:44:55"));
  EXPECT_EQ(r->arp.spa, ip("192.168.1.1"));
  EXPECT_EQ(r->arp.tha, mac("00:1a:2b:3c:4d:5e"));
  EXPECT_EQ(r->arp.tpa, ip("192.168.1.100"));
  EXPECT_EQ(r->l3_bytes.size(), 28u);
}

TEST(PacketParse, IcmpEchoRequest) {
  auto r = parse(golden::kIcmpEchoRequest);
  ASSERT_TRUE(r.ok()) << parse_error_name(r.error());
  EXPECT_EQ(r->eth_dst, mac("00:11:22:33:44:55"));
  EXPECT_EQ(r->eth_src, mac("00:1a:2b:3c:4d:5e"));
  EXPECT_FALSE(r->vlan_tci.has_value());
  EXPECT_EQ(r->eth_type, kEthTypeIpv4);
  EXPECT_EQ(r->l3, L3::Ipv4);
  EXPECT_EQ(r->l4, L4::Icmp);
  const Ipv4& v4 = r->ipv4;
  EXPECT_EQ(v4.src, ip("192.168.1.100"));
  EXPECT_EQ(v4.dst, ip("192.168.1.1"));
  EXPECT_EQ(v4.proto, kIpProtoIcmp);
  EXPECT_EQ(v4.ttl, 64);
  EXPECT_EQ(v4.tos, 0);
  EXPECT_EQ(v4.total_len, 84);
  EXPECT_EQ(v4.id, 0x3c1f);
  EXPECT_EQ(v4.header_len, 20);
  EXPECT_FALSE(v4.more_fragments);
  EXPECT_EQ(v4.frag_offset, 0);
  EXPECT_TRUE(v4.checksum_ok);
  EXPECT_EQ(r->icmp.type, kIcmpEchoRequest);
  EXPECT_EQ(r->icmp.code, 0);
  EXPECT_EQ(r->icmp.id, 0x1234);
  EXPECT_EQ(r->icmp.seq, 1);
  ASSERT_EQ(r->icmp.payload.size(), 56u);
  EXPECT_EQ(r->icmp.payload.data(), golden::kIcmpEchoRequest + 42);
  EXPECT_EQ(r->icmp.payload[0], 0xc8);
  EXPECT_EQ(r->icmp.payload[16], 0x10);
  EXPECT_EQ(r->icmp.payload[55], 0x37);
  EXPECT_EQ(r->l3_bytes.size(), 84u);
}

TEST(PacketParse, TcpSynWithOptions) {
  auto r = parse(golden::kTcpSyn);
  ASSERT_TRUE(r.ok()) << parse_error_name(r.error());
  EXPECT_EQ(r->l3, L3::Ipv4);
  EXPECT_EQ(r->l4, L4::Tcp);
  EXPECT_EQ(r->ipv4.src, ip("10.0.0.5"));
  EXPECT_EQ(r->ipv4.dst, ip("10.0.0.80"));
  EXPECT_EQ(r->ipv4.proto, kIpProtoTcp);
  EXPECT_EQ(r->ipv4.ttl, 64);
  EXPECT_EQ(r->ipv4.total_len, 60);
  EXPECT_EQ(r->ipv4.id, 0xb1c7);
  EXPECT_EQ(r->ipv4.header_len, 20);
  EXPECT_FALSE(r->ipv4.more_fragments);  // DF is set, MF is not
  EXPECT_EQ(r->ipv4.frag_offset, 0);
  EXPECT_TRUE(r->ipv4.checksum_ok);
  const Tcp& t = r->tcp;
  EXPECT_EQ(t.src_port, 51234);
  EXPECT_EQ(t.dst_port, 80);
  EXPECT_EQ(t.seq, 0x9a3b1c2du);
  EXPECT_EQ(t.ack, 0u);
  EXPECT_EQ(t.flags, kTcpSyn);
  EXPECT_EQ(t.window, 64240);
  EXPECT_EQ(t.header_len, 40);
  EXPECT_TRUE(t.payload.empty());
}

TEST(PacketParse, UdpDnsQuery) {
  auto r = parse(golden::kUdpDns);
  ASSERT_TRUE(r.ok()) << parse_error_name(r.error());
  EXPECT_EQ(r->l3, L3::Ipv4);
  EXPECT_EQ(r->l4, L4::Udp);
  EXPECT_EQ(r->ipv4.src, ip("10.0.0.5"));
  EXPECT_EQ(r->ipv4.dst, ip("8.8.8.8"));
  EXPECT_EQ(r->ipv4.proto, kIpProtoUdp);
  EXPECT_EQ(r->ipv4.total_len, 57);
  EXPECT_EQ(r->ipv4.id, 0x5e21);
  EXPECT_TRUE(r->ipv4.checksum_ok);
  EXPECT_EQ(r->udp.src_port, 53124);
  EXPECT_EQ(r->udp.dst_port, 53);
  EXPECT_EQ(r->udp.length, 37);
  ASSERT_EQ(r->udp.payload.size(), 29u);
  EXPECT_EQ(r->udp.payload[0], 0xab);  // DNS id 0xabcd
  EXPECT_EQ(r->udp.payload[1], 0xcd);
  EXPECT_EQ(r->udp.payload.data() + r->udp.payload.size(), golden::kUdpDns + sizeof golden::kUdpDns);
}

TEST(PacketParse, VlanTaggedIcmpReply) {
  auto r = parse(golden::kVlanIcmpReply);
  ASSERT_TRUE(r.ok()) << parse_error_name(r.error());
  EXPECT_EQ(r->eth_dst, mac("00:1a:2b:3c:4d:5e"));
  EXPECT_EQ(r->eth_src, mac("00:11:22:33:44:55"));
  ASSERT_TRUE(r->vlan_tci.has_value());
  EXPECT_EQ(*r->vlan_tci, (5u << 13) | 100u);
  EXPECT_EQ(*r->vlan_tci & 0x0fff, 100);
  EXPECT_EQ(r->eth_type, kEthTypeIpv4);
  EXPECT_EQ(r->l3, L3::Ipv4);
  EXPECT_EQ(r->l4, L4::Icmp);
  EXPECT_EQ(r->l3_bytes.data(), golden::kVlanIcmpReply + 18);
  EXPECT_EQ(r->l3_bytes.size(), 84u);
  EXPECT_EQ(r->ipv4.src, ip("192.168.1.1"));
  EXPECT_EQ(r->ipv4.dst, ip("192.168.1.100"));
  EXPECT_EQ(r->ipv4.id, 0x8d02);
  EXPECT_TRUE(r->ipv4.checksum_ok);
  EXPECT_EQ(r->icmp.type, kIcmpEchoReply);
  EXPECT_EQ(r->icmp.code, 0);
  EXPECT_EQ(r->icmp.id, 0x1234);
  EXPECT_EQ(r->icmp.seq, 1);
  EXPECT_EQ(r->icmp.payload.size(), 56u);
}

TEST(PacketParse, PaddingAfterTotalLengthIsIgnored) {
  auto r = parse(golden::kTcpAckPadded);
  ASSERT_TRUE(r.ok()) << parse_error_name(r.error());
  EXPECT_EQ(r->l4, L4::Tcp);
  EXPECT_EQ(r->ipv4.total_len, 40);
  EXPECT_EQ(r->l3_bytes.size(), 46u);  // frame end, trailer included
  EXPECT_EQ(r->tcp.seq, 0x9a3b1c2eu);
  EXPECT_EQ(r->tcp.ack, 0x5f00a001u);
  EXPECT_EQ(r->tcp.flags, kTcpAck);
  EXPECT_EQ(r->tcp.window, 502);
  EXPECT_EQ(r->tcp.header_len, 20);
  EXPECT_TRUE(r->tcp.payload.empty());  // the de ad be ef trailer is not payload
}

TEST(PacketParse, FirstFragmentParsesL4Header) {
  auto r = parse(golden::kFragFirst);
  ASSERT_TRUE(r.ok()) << parse_error_name(r.error());
  EXPECT_EQ(r->ipv4.id, 0x7777);
  EXPECT_TRUE(r->ipv4.more_fragments);
  EXPECT_EQ(r->ipv4.frag_offset, 0);
  EXPECT_EQ(r->ipv4.total_len, 44);
  EXPECT_TRUE(r->ipv4.checksum_ok);
  ASSERT_EQ(r->l4, L4::Udp);
  EXPECT_EQ(r->udp.src_port, 40000);
  EXPECT_EQ(r->udp.dst_port, 9999);
  EXPECT_EQ(r->udp.length, 48);  // the whole datagram, more than this fragment holds
  ASSERT_EQ(r->udp.payload.size(), 16u);
  EXPECT_EQ(r->udp.payload[0], 0x41);
  EXPECT_EQ(r->udp.payload[15], 0x50);
}

TEST(PacketParse, LaterFragmentHasNoL4) {
  auto r = parse(golden::kFragSecond);
  ASSERT_TRUE(r.ok()) << parse_error_name(r.error());
  EXPECT_EQ(r->l3, L3::Ipv4);
  EXPECT_EQ(r->l4, L4::None);
  EXPECT_EQ(r->ipv4.proto, kIpProtoUdp);
  EXPECT_EQ(r->ipv4.id, 0x7777);
  EXPECT_FALSE(r->ipv4.more_fragments);
  EXPECT_EQ(r->ipv4.frag_offset, 3);
  EXPECT_EQ(r->ipv4.total_len, 44);
  EXPECT_TRUE(r->ipv4.checksum_ok);
  EXPECT_EQ(r->l3_bytes.size(), 46u);
}

TEST(PacketParse, UnknownEthertypeIsOther) {
  std::vector<uint8_t> f(std::begin(golden::kUdpDns), std::end(golden::kUdpDns));
  f[12] = 0x86;
  f[13] = 0xdd;
  auto r = parse(f);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->eth_type, kEthTypeIpv6);
  EXPECT_EQ(r->l3, L3::Other);
  EXPECT_EQ(r->l4, L4::None);
  EXPECT_EQ(r->l3_bytes.size(), f.size() - 14);
}

TEST(PacketParse, DoubleTagIsOther) {
  std::vector<uint8_t> f(std::begin(golden::kVlanIcmpReply), std::end(golden::kVlanIcmpReply));
  f[16] = 0x81;  // inner ethertype 0x8100: Q-in-Q, not supported
  f[17] = 0x00;
  auto r = parse(f);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->eth_type, kEthTypeVlan);
  EXPECT_EQ(r->l3, L3::Other);
}

TEST(PacketParse, UnknownIpProtocolIsOther) {
  std::vector<uint8_t> f(std::begin(golden::kUdpDns), std::end(golden::kUdpDns));
  f[14 + 9] = 47;  // GRE
  auto r = parse(f);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->l3, L3::Ipv4);
  EXPECT_EQ(r->l4, L4::Other);
  EXPECT_EQ(r->ipv4.proto, 47);
  EXPECT_FALSE(r->ipv4.checksum_ok);  // we changed the header, not its checksum
}

TEST(PacketParse, BadHeaderChecksumIsReportedNotRejected) {
  std::vector<uint8_t> f(std::begin(golden::kIcmpEchoRequest), std::end(golden::kIcmpEchoRequest));
  f[14 + 8] = 1;  // TTL
  auto r = parse(f);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->ipv4.checksum_ok);
  EXPECT_EQ(r->ipv4.ttl, 1);
  EXPECT_EQ(r->l4, L4::Icmp);
}

TEST(PacketParse, Ipv4OptionsAreSkipped) {
  // The DNS query with a Router Alert option (94 04 00 00) inserted.
  std::vector<uint8_t> f(std::begin(golden::kUdpDns), std::end(golden::kUdpDns));
  const std::array<uint8_t, 4> ra{0x94, 0x04, 0x00, 0x00};
  f.insert(f.begin() + 34, ra.begin(), ra.end());
  f[14] = 0x46;
  f[16] = 0;
  f[17] = 61;
  f[24] = f[25] = 0;
  const uint16_t sum = inet_checksum(std::span(f).subspan(14, 24));
  f[24] = static_cast<uint8_t>(sum >> 8);
  f[25] = static_cast<uint8_t>(sum);
  auto r = parse(f);
  ASSERT_TRUE(r.ok()) << parse_error_name(r.error());
  EXPECT_EQ(r->ipv4.header_len, 24);
  EXPECT_EQ(r->ipv4.total_len, 61);
  EXPECT_TRUE(r->ipv4.checksum_ok);
  ASSERT_EQ(r->l4, L4::Udp);
  EXPECT_EQ(r->udp.src_port, 53124);
  EXPECT_EQ(r->udp.dst_port, 53);
  EXPECT_EQ(r->udp.payload.size(), 29u);
}

TEST(PacketParse, NonEchoIcmpHasNoIdSeq) {
  std::vector<uint8_t> f(std::begin(golden::kIcmpEchoRequest), std::end(golden::kIcmpEchoRequest));
  f[34] = kIcmpDestUnreachable;
  f[35] = 3;
  auto r = parse(f);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->l4, L4::Icmp);
  EXPECT_EQ(r->icmp.type, kIcmpDestUnreachable);
  EXPECT_EQ(r->icmp.code, 3);
  EXPECT_EQ(r->icmp.id, 0);
  EXPECT_EQ(r->icmp.seq, 0);
  EXPECT_EQ(r->icmp.payload.size(), 56u);
}

TEST(PacketParse, ErrorNamesAreDistinct) {
  for (int i = 0; i <= static_cast<int>(ParseError::BadUdpLen); ++i) {
    for (int j = 0; j < i; ++j) {
      EXPECT_STRNE(parse_error_name(static_cast<ParseError>(i)), parse_error_name(static_cast<ParseError>(j)));
    }
  }
}

TEST(InetChecksum, Rfc1071Example) {
  // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
  const std::array<uint8_t, 8> b{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(inet_checksum(b), static_cast<uint16_t>(~0xddf2));
  EXPECT_EQ(inet_checksum({}), 0xffff);
  const std::array<uint8_t, 1> odd{0x12};  // padded with a zero byte
  EXPECT_EQ(inet_checksum(odd), static_cast<uint16_t>(~0x1200));
  EXPECT_EQ(inet_checksum(b, 0x220d), 0);  // the initial value is added in
}

TEST(InetChecksum, GoldenHeadersVerify) {
  for (auto f : {frame_of(golden::kIcmpEchoRequest), frame_of(golden::kTcpSyn), frame_of(golden::kUdpDns)}) {
    EXPECT_EQ(inet_checksum(f.subspan(14, 20)), 0);
  }
}

}  // namespace
}  // namespace fulcrum::pkt
