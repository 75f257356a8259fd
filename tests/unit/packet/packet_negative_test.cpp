// Negative tests: every truncation of every golden frame, and each header
// field that can make a frame inconsistent.
#include <gtest/gtest.h>

#include <optional>
#include <vector>

#include "packet/packet.hpp"
#include "unit/packet/golden_packets.hpp"
#include "unit/packet/packet_test_util.hpp"

namespace fulcrum::pkt {
namespace {

using testing::within;

struct Golden {
  const char* name;
  std::span<const uint8_t> frame;
};

const Golden kGoldens[] = {
    {"ArpRequest", golden::kArpRequest},
    {"ArpReply", golden::kArpReply},
    {"IcmpEchoRequest", golden::kIcmpEchoRequest},
    {"TcpSyn", golden::kTcpSyn},
    {"UdpDns", golden::kUdpDns},
    {"VlanIcmpReply", golden::kVlanIcmpReply},
    {"TcpAckPadded", golden::kTcpAckPadded},
    {"FragFirst", golden::kFragFirst},
    {"FragSecond", golden::kFragSecond},
};

// The error parse() must give for the first n bytes of `full`, or nullopt
// when those bytes still hold the whole packet (only padding was cut).
std::optional<ParseError> expected_truncation_error(std::span<const uint8_t> full, std::size_t n) {
  if (n < 14) return ParseError::TruncatedEthernet;
  std::size_t l2 = 14;
  uint16_t type = static_cast<uint16_t>(full[12] << 8 | full[13]);
  if (type == kEthTypeVlan) {
    if (n < 18) return ParseError::TruncatedVlan;
    l2 = 18;
    type = static_cast<uint16_t>(full[16] << 8 | full[17]);
  }
  if (type == kEthTypeArp) {
    if (n < l2 + 28) return ParseError::TruncatedArp;
    return std::nullopt;
  }
  // IPv4 (every other golden frame), all with a 20-byte header.
  if (n < l2 + 20) return ParseError::TruncatedIpv4;
  const std::size_t total = static_cast<std::size_t>(full[l2 + 2] << 8 | full[l2 + 3]);
  if (n < l2 + total) return ParseError::BadIpv4TotalLen;
  return std::nullopt;
}

void expect_views_inside(const ParsedPacket& p, std::span<const uint8_t> frame) {
  EXPECT_TRUE(within(p.l3_bytes, frame));
  if (p.l4 == L4::Icmp) {
    EXPECT_TRUE(within(p.icmp.payload, frame));
  }
  if (p.l4 == L4::Tcp) {
    EXPECT_TRUE(within(p.tcp.payload, frame));
  }
  if (p.l4 == L4::Udp) {
    EXPECT_TRUE(within(p.udp.payload, frame));
  }
}

TEST(PacketNegative, EveryTruncationOfEveryGolden) {
  for (const Golden& g : kGoldens) {
    SCOPED_TRACE(g.name);
    auto full = parse(g.frame);
    ASSERT_TRUE(full.ok());
    for (std::size_t n = 0; n <= g.frame.size(); ++n) {
      SCOPED_TRACE(n);
      // An exact-size heap copy, so ASan sees any read past the end.
      std::vector<uint8_t> cut(g.frame.begin(), g.frame.begin() + static_cast<std::ptrdiff_t>(n));
      auto r = parse(cut);
      auto want = expected_truncation_error(g.frame, n);
      if (want) {
        ASSERT_FALSE(r.ok()) << "parsed, expected " << parse_error_name(*want);
        EXPECT_EQ(r.error(), *want) << parse_error_name(r.error()) << " vs " << parse_error_name(*want);
        continue;
      }
      // Only padding was cut: the same packet, views inside the shorter frame.
      ASSERT_TRUE(r.ok()) << parse_error_name(r.error());
      expect_views_inside(*r, cut);
      EXPECT_EQ(r->l3, full->l3);
      EXPECT_EQ(r->l4, full->l4);
      EXPECT_EQ(r->eth_type, full->eth_type);
      EXPECT_EQ(r->arp.tpa, full->arp.tpa);
      EXPECT_EQ(r->ipv4.total_len, full->ipv4.total_len);
      EXPECT_EQ(r->ipv4.checksum_ok, full->ipv4.checksum_ok);
      EXPECT_EQ(r->tcp.payload.size(), full->tcp.payload.size());
      EXPECT_EQ(r->udp.payload.size(), full->udp.payload.size());
      EXPECT_EQ(r->icmp.payload.size(), full->icmp.payload.size());
    }
  }
}

// Cuts the IPv4 total length of an IPv4 golden frame to `total` (and fixes
// the header checksum), so that only L4 truncation is tested.
std::vector<uint8_t> with_total_len(std::span<const uint8_t> frame, uint16_t total) {
  std::vector<uint8_t> f(frame.begin(), frame.end());
  f[16] = static_cast<uint8_t>(total >> 8);
  f[17] = static_cast<uint8_t>(total);
  f[24] = f[25] = 0;
  const uint16_t sum = inet_checksum(std::span(f).subspan(14, 20));
  f[24] = static_cast<uint8_t>(sum >> 8);
  f[25] = static_cast<uint8_t>(sum);
  return f;
}

TEST(PacketNegative, L4TruncatedByIpTotalLength) {
  for (uint16_t l4 = 0; l4 < 8; ++l4) {
    auto r = parse(with_total_len(golden::kIcmpEchoRequest, static_cast<uint16_t>(20 + l4)));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), ParseError::TruncatedIcmp);
  }
  for (uint16_t l4 = 0; l4 < 20; ++l4) {
    auto r = parse(with_total_len(golden::kTcpSyn, static_cast<uint16_t>(20 + l4)));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), ParseError::TruncatedTcp);
  }
  for (uint16_t l4 = 20; l4 < 40; ++l4) {  // header present, options cut
    auto r = parse(with_total_len(golden::kTcpSyn, static_cast<uint16_t>(20 + l4)));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), ParseError::BadTcpHeaderLen);
  }
  for (uint16_t l4 = 0; l4 < 8; ++l4) {
    auto r = parse(with_total_len(golden::kUdpDns, static_cast<uint16_t>(20 + l4)));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), ParseError::TruncatedUdp);
  }
  for (uint16_t l4 = 8; l4 < 37; ++l4) {  // UDP length 37 > what the IP packet holds
    auto r = parse(with_total_len(golden::kUdpDns, static_cast<uint16_t>(20 + l4)));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), ParseError::BadUdpLen);
  }
  // An ICMP payload is cut at the total length: the rest is padding.
  auto r = parse(with_total_len(golden::kIcmpEchoRequest, 30));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->icmp.payload.size(), 2u);
  EXPECT_TRUE(r->ipv4.checksum_ok);
}

std::vector<uint8_t> copy(std::span<const uint8_t> f) { return {f.begin(), f.end()}; }

ParseError error_of(std::span<const uint8_t> f) {
  auto r = parse(f);
  EXPECT_FALSE(r.ok());
  return r.ok() ? ParseError{} : r.error();
}

TEST(PacketNegative, BadIpVersion) {
  auto f = copy(golden::kUdpDns);
  f[14] = 0x65;
  EXPECT_EQ(error_of(f), ParseError::BadIpv4Version);
  f[14] = 0x05;
  EXPECT_EQ(error_of(f), ParseError::BadIpv4Version);
  // An IPv4 ethertype with one byte of "header": the version is checked first.
  auto one = copy(std::span(golden::kUdpDns).first(15));
  one[14] = 0x60;
  EXPECT_EQ(error_of(one), ParseError::BadIpv4Version);
}

TEST(PacketNegative, BadIhl) {
  auto f = copy(golden::kUdpDns);  // 57-byte IP packet
  for (uint8_t ihl = 0; ihl < 5; ++ihl) {
    f[14] = static_cast<uint8_t>(0x40 | ihl);
    EXPECT_EQ(error_of(f), ParseError::BadIpv4HeaderLen) << int{ihl};
  }
  f[14] = 0x4f;  // 60 bytes, beyond the 57 in the frame
  EXPECT_EQ(error_of(f), ParseError::BadIpv4HeaderLen);
  f[14] = 0x4e;  // 56 bytes: fits the frame and the total length 57, leaving 1 byte of UDP
  EXPECT_EQ(error_of(f), ParseError::TruncatedUdp);
}

TEST(PacketNegative, BadTotalLength) {
  for (uint16_t total : {0, 1, 19}) {
    EXPECT_EQ(error_of(with_total_len(golden::kUdpDns, total)), ParseError::BadIpv4TotalLen) << total;
  }
  EXPECT_EQ(error_of(with_total_len(golden::kUdpDns, 58)), ParseError::BadIpv4TotalLen);
  EXPECT_EQ(error_of(with_total_len(golden::kUdpDns, 0xffff)), ParseError::BadIpv4TotalLen);
  // Total length = header length: an empty L4 payload.
  auto f = copy(golden::kUdpDns);
  f[14] = 0x46;
  auto g = with_total_len(f, 23);  // IHL 24 > total 23
  EXPECT_EQ(error_of(g), ParseError::BadIpv4TotalLen);
}

TEST(PacketNegative, BadTcpDataOffset) {
  auto f = copy(golden::kTcpSyn);  // 40-byte TCP header, nothing after it
  for (uint8_t off = 0; off < 5; ++off) {
    f[46] = static_cast<uint8_t>(off << 4);
    EXPECT_EQ(error_of(f), ParseError::BadTcpHeaderLen) << int{off};
  }
  for (uint8_t off = 11; off < 16; ++off) {
    f[46] = static_cast<uint8_t>(off << 4);
    EXPECT_EQ(error_of(f), ParseError::BadTcpHeaderLen) << int{off};
  }
  // Offset 5 is fine: the options become payload.
  f[46] = 0x50;
  auto r = parse(f);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->tcp.header_len, 20);
  EXPECT_EQ(r->tcp.payload.size(), 20u);
}

TEST(PacketNegative, TcpDataOffsetCannotReachPadding) {
  // 20-byte TCP header + 6 bytes of Ethernet trailer: offset 6 would need 4
  // more bytes, which exist in the frame but not in the IP packet.
  auto f = copy(golden::kTcpAckPadded);
  f[46] = 0x60;
  EXPECT_EQ(error_of(f), ParseError::BadTcpHeaderLen);
}

TEST(PacketNegative, BadUdpLength) {
  auto f = copy(golden::kUdpDns);  // UDP length 37 = IP payload
  for (uint16_t len : {0, 1, 7}) {
    f[38] = 0;
    f[39] = static_cast<uint8_t>(len);
    EXPECT_EQ(error_of(f), ParseError::BadUdpLen) << len;
  }
  f[39] = 38;
  EXPECT_EQ(error_of(f), ParseError::BadUdpLen);
  f[38] = 0xff;
  f[39] = 0xff;
  EXPECT_EQ(error_of(f), ParseError::BadUdpLen);
  // A UDP length shorter than the IP payload cuts the UDP payload.
  f[38] = 0;
  f[39] = 20;
  auto r = parse(f);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->udp.length, 20);
  EXPECT_EQ(r->udp.payload.size(), 12u);
  f[39] = 8;
  r = parse(f);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->udp.payload.empty());
}

TEST(PacketNegative, UdpLengthBeyondPacketIsFineOnlyInFirstFragment) {
  auto f = copy(golden::kFragFirst);
  ASSERT_TRUE(parse(f).ok());
  f[20] = 0;  // clear MF: now the UDP length 48 claims more than the packet holds
  f[24] = f[25] = 0;
  const uint16_t sum = inet_checksum(std::span(f).subspan(14, 20));
  f[24] = static_cast<uint8_t>(sum >> 8);
  f[25] = static_cast<uint8_t>(sum);
  EXPECT_EQ(error_of(f), ParseError::BadUdpLen);
  // Still an error in a fragment when the length is below 8.
  auto g = copy(golden::kFragFirst);
  g[38] = 0;
  g[39] = 4;
  EXPECT_EQ(error_of(g), ParseError::BadUdpLen);
}

TEST(PacketNegative, BadArp) {
  const auto base = copy(golden::kArpReply);
  auto f = base;
  f[18] = 0x08;  // hlen 8
  EXPECT_EQ(error_of(f), ParseError::BadArp);
  f = base;
  f[18] = 0;  // hlen 0
  EXPECT_EQ(error_of(f), ParseError::BadArp);
  f = base;
  f[19] = 16;  // plen 16
  EXPECT_EQ(error_of(f), ParseError::BadArp);
  f = base;
  f[15] = 6;  // htype IEEE 802
  EXPECT_EQ(error_of(f), ParseError::BadArp);
  f = base;
  f[16] = 0x86;  // ptype IPv6
  f[17] = 0xdd;
  EXPECT_EQ(error_of(f), ParseError::BadArp);
  // A bad ARP header in a frame too short for the body is reported as truncated.
  auto shortf = copy(std::span(golden::kArpReply).first(30));
  shortf[18] = 8;
  EXPECT_EQ(error_of(shortf), ParseError::TruncatedArp);
}

TEST(PacketNegative, VlanTagTruncated) {
  auto f = copy(std::span(golden::kVlanIcmpReply).first(17));
  EXPECT_EQ(error_of(f), ParseError::TruncatedVlan);
  auto g = copy(std::span(golden::kVlanIcmpReply).first(18));  // tag and inner type, no L3
  EXPECT_EQ(error_of(g), ParseError::TruncatedIpv4);
}

TEST(PacketNegative, FragmentWithGarbageL4IsNotParsed) {
  // A later fragment's payload is not an L4 header, whatever it looks like.
  auto f = copy(golden::kFragSecond);
  f[23] = kIpProtoTcp;  // a "TCP" fragment of 24 bytes would have a bad data offset
  auto r = parse(f);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->l4, L4::None);
}

}  // namespace
}  // namespace fulcrum::pkt
