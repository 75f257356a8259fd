// encode -> decode -> equal, for every message kind in both versions, plus
// field-level checks of the encodings that matter to a load balancer.
#include <gtest/gtest.h>

#include "unit/openflow/samples.hpp"

namespace fulcrum::of {
namespace {

using testing::all_samples;
using testing::encode_or_die;
using testing::from_hex;
using testing::msg_equal;
using testing::Sample;
using testing::to_hex;

class RoundTrip : public ::testing::TestWithParam<Sample> {};

TEST_P(RoundTrip, EncodeDecodeEqualAndReencodeIdentical) {
  const Sample& s = GetParam();
  std::vector<uint8_t> out = {0xaa, 0xbb};  // encode appends
  ASSERT_TRUE(encode(s.version, 0x01020304, s.msg, out).ok());
  ASSERT_EQ(out[0], 0xaa);
  std::span<const uint8_t> frame(out.data() + 2, out.size() - 2);
  auto h = peek_header(frame);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->version, static_cast<uint8_t>(s.version));
  EXPECT_EQ(h->length, frame.size());
  EXPECT_EQ(h->xid, 0x01020304u);

  auto d = decode(frame);
  ASSERT_TRUE(d.ok()) << err_name(d.error().err) << ": " << d.error().detail << "\n" << to_hex(frame);
  EXPECT_EQ(d->header.xid, 0x01020304u);
  EXPECT_TRUE(msg_equal(d->msg, s.msg)) << message_name(s.msg) << " " << to_hex(frame);
  EXPECT_STREQ(message_name(d->msg), message_name(s.msg));
  EXPECT_EQ(encode_or_die(s.version, 0x01020304, d->msg), std::vector<uint8_t>(frame.begin(), frame.end()));
}

INSTANTIATE_TEST_SUITE_P(AllMessages, RoundTrip, ::testing::ValuesIn(all_samples()),
                         [](const ::testing::TestParamInfo<Sample>& i) {
                           std::string n = (i.param.version == Version::V10 ? "of10_" : "of13_") + i.param.name;
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

TEST(Encode, NoFormInVersionLeavesBufferUntouched) {
  for (const Message& m : {Message{RoleRequest{Role::Master, 1}}, Message{RoleReply{}}, Message{PortDescRequest{}},
                           Message{PortDescReply{}}}) {
    std::vector<uint8_t> out = {1, 2, 3};
    auto r = encode(Version::V10, 1, m, out);
    ASSERT_FALSE(r.ok()) << message_name(m);
    EXPECT_EQ(r.error(), Err::UnsupportedInVersion);
    EXPECT_EQ(out, (std::vector<uint8_t>{1, 2, 3}));
  }
}

TEST(Encode, FailureMidMessageTruncatesBack) {
  FlowMod f = testing::lb_forward_flow();
  f.actions.push_back(ActOutput{0x10000, 0});  // no 16-bit form
  std::vector<uint8_t> out = {9};
  auto r = encode(Version::V10, 1, f, out);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), Err::BadOutPort);
  EXPECT_EQ(out, std::vector<uint8_t>{9});
  EXPECT_TRUE(encode(Version::V13, 1, f, out).ok());  // 32-bit ports are fine
}

TEST(Encode, MissingPrerequisiteFails) {
  for (Version v : {Version::V10, Version::V13}) {
    FlowMod f;
    f.match.ipv4_dst = testing::ip("10.0.0.1");  // no eth_type
    std::vector<uint8_t> out;
    auto r = encode(v, 1, f, out);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Err::BadMatchPrereq);
    EXPECT_TRUE(out.empty());
    f.match = {};
    f.match.eth_type = 0x0800;
    f.match.tp_dst = 80;  // no ip_proto
    EXPECT_FALSE(encode(v, 1, f, out).ok());
  }
  FlowMod icmp;  // 1.0 carries ICMP type/code in tp_src/tp_dst; 1.3 models no ICMP fields
  icmp.match.eth_type = 0x0800;
  icmp.match.ip_proto = 1;
  icmp.match.tp_src = 8;
  std::vector<uint8_t> out;
  EXPECT_TRUE(encode(Version::V10, 1, icmp, out).ok());
  EXPECT_FALSE(encode(Version::V13, 1, icmp, out).ok());
}

TEST(Encode, TooLargeFails) {
  std::vector<uint8_t> big(70000);
  std::vector<uint8_t> out;
  auto r = encode(Version::V13, 1, EchoRequest{big}, out);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), Err::BadLen);
  EXPECT_TRUE(out.empty());
}

TEST(Encode, SeveralMessagesAppendToOneBuffer) {
  std::vector<uint8_t> out;
  ASSERT_TRUE(encode(Version::V13, 1, FeaturesRequest{}, out).ok());
  ASSERT_TRUE(encode(Version::V13, 2, BarrierRequest{}, out).ok());
  EXPECT_EQ(to_hex(out), "04050008000000010414000800000002");
}

// Byte-level checks of the 1.0 ofp_match: wildcards and the nw_src/nw_dst
// count fields.
TEST(Of10Match, WildcardsForUnsetFields) {
  FlowMod f;
  f.match.in_port = 1;
  f.match.eth_type = 0x0800;
  f.match.ipv4_dst = testing::ip("10.0.0.254");
  auto b = encode_or_die(Version::V10, 0, f);
  // All bits but IN_PORT(0) and DL_TYPE(4); nw_src count 32, nw_dst count 0.
  uint32_t wc = uint32_t(b[8]) << 24 | uint32_t(b[9]) << 16 | uint32_t(b[10]) << 8 | b[11];
  EXPECT_EQ(
      wc, (1u << 1) | (1u << 2) | (1u << 3) | (1u << 5) | (1u << 6) | (1u << 7) | (32u << 8) | (1u << 20) | (1u << 21));
  FlowMod none;
  b = encode_or_die(Version::V10, 0, none);
  wc = uint32_t(b[8]) << 24 | uint32_t(b[9]) << 16 | uint32_t(b[10]) << 8 | b[11];
  EXPECT_EQ(wc, 0x003820ffu);
}

TEST(Of10Match, DecodeFlagsWhatItCannotModel) {
  auto b = encode_or_die(Version::V10, 0, FlowMod{});
  // Exact dl_vlan match: not modelled.
  auto v = b;
  v[11] &= static_cast<uint8_t>(~(1u << 1));
  auto d = decode(v);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(std::get<FlowMod>(d->msg).match.unmodelled);
  // nw_src /24 prefix (count 8) with dl_type IP: not modelled, not exact.
  FlowMod ipf;
  ipf.match.eth_type = 0x0800;
  v = encode_or_die(Version::V10, 0, ipf);
  v[10] = static_cast<uint8_t>((v[10] & ~0x3f) | 8);
  d = decode(v);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(std::get<FlowMod>(d->msg).match.unmodelled);
  EXPECT_FALSE(std::get<FlowMod>(d->msg).match.ipv4_src);
  // nw_src exact without dl_type: a 1.0 switch ignores it; so do we.
  v = encode_or_die(Version::V10, 0, FlowMod{});
  v[10] = static_cast<uint8_t>(v[10] & ~0x3f);
  d = decode(v);
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(std::get<FlowMod>(d->msg).match.ipv4_src);
  EXPECT_TRUE(std::get<FlowMod>(d->msg).match.unmodelled);
}

TEST(Of10Ports, ReservedPortsMapTo32Bit) {
  for (auto [p32, p16] : {std::pair<PortNo, uint16_t>{port::kController, 0xfffd},
                          {port::kAny, 0xffff},
                          {port::kInPort, 0xfff8},
                          {port::kLocal, 0xfffe},
                          {7, 7}}) {
    PacketOut p;
    p.in_port = p32;
    auto b = encode_or_die(Version::V10, 0, p);
    EXPECT_EQ(uint16_t(b[12] << 8 | b[13]), p16);
    auto d = decode(b);
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(std::get<PacketOut>(d->msg).in_port, p32);
  }
}

TEST(Of10Ports, FeatureBitsConvertAndSpeedDerived) {
  // 1.0 phy port: curr = 100MB_FD | FIBER(1.0 bit 8) | AUTONEG(1.0 bit 9).
  auto b = from_hex(
      "010c 0040 00000000 02 00000000 000000"
      "0005 020000000001 65746833000000000000000000000000 00000000 00000000"
      "00000308 00000000 00000048 00000000");
  auto d = decode(b);
  ASSERT_TRUE(d.ok()) << d.error().detail;
  const PortDesc& p = std::get<PortStatus>(d->msg).desc;
  EXPECT_EQ(p.port_no, 5u);
  EXPECT_EQ(p.name, "eth3");
  EXPECT_EQ(p.curr, (1u << 3) | (1u << 12) | (1u << 13));
  EXPECT_EQ(p.supported, (1u << 3) | (1u << 6));
  EXPECT_EQ(p.curr_speed_kbps, 100'000u);
  EXPECT_EQ(p.max_speed_kbps, 10'000'000u);
}

TEST(Of13Match, OxmOrderAndPadding) {
  FlowMod f = testing::lb_forward_flow();
  auto b = encode_or_die(Version::V13, 0, f);
  // ofp_match at offset 48: type OXM, length 4 + in_port(8) + eth_type(6) +
  // ip_proto(5) + ipv4_src(8) + ipv4_dst(8) + tcp_src(6) + tcp_dst(6) = 51,
  // padded to 56.
  EXPECT_EQ(to_hex(std::span(b).subspan(48, 56)), to_hex(from_hex("00010033"
                                                                  "80000004 00000001"
                                                                  "80000a02 0800"
                                                                  "80001401 06"
                                                                  "80001604 0a000001"
                                                                  "80001804 0a0000fe"
                                                                  "80001a02 c350"
                                                                  "80001c02 0050"
                                                                  "0000000000")));
}

TEST(Of13Match, DecodeUnknownAndMaskedFieldsFlagUnmodelled) {
  // Match: in_port=1, vlan_vid=0x1005 (unknown to Match), eth_dst masked.
  auto b = from_hex(
      "040e 0070 00000000 0000000000000000 0000000000000000 00 00 0000 0000 8000 ffffffff ffffffff"
      "ffffffff 0000 0000"
      "0001 0022 80000004 00000001 80000c02 1005 8000070c 020000000001 ffffffffff00"
      "000000000000");
  // Header length: 8 + 48 - 8 (body fixed 40) ... recomputed below.
  b[2] = static_cast<uint8_t>(b.size() >> 8);
  b[3] = static_cast<uint8_t>(b.size());
  auto d = decode(b);
  ASSERT_TRUE(d.ok()) << err_name(d.error().err) << " " << d.error().detail;
  const Match& m = std::get<FlowMod>(d->msg).match;
  EXPECT_EQ(m.in_port, 1u);
  EXPECT_FALSE(m.eth_dst);
  EXPECT_TRUE(m.unmodelled);
}

TEST(Of13Actions, TransportSetFieldFollowsIpProto) {
  FlowMod udp;
  udp.match.eth_type = 0x0800;
  udp.match.ip_proto = 17;
  udp.actions.push_back(ActSetTpDst{53});
  auto b = encode_or_die(Version::V13, 0, udp);
  // match: 4 + 6 + 5 = 15 -> 16; instruction at 48+16 = 64: 0004 0018 00000000,
  // then set-field 0019 0010 80002002 0035.
  EXPECT_EQ(to_hex(std::span(b).subspan(64, 24)),
            "0004001800000000"
            "0019001080002002"
            "0035000000000000");
  FlowMod tcp = udp;
  tcp.match.ip_proto = 6;
  b = encode_or_die(Version::V13, 0, tcp);
  EXPECT_EQ(to_hex(std::span(b).subspan(72, 8)), "0019001080001c02");
}

TEST(Of13PacketIn, InPortComesFromTheMatch) {
  auto s = testing::samples(Version::V13);
  auto it = std::find_if(s.begin(), s.end(), [](const Sample& x) { return x.name == "packet-in"; });
  auto b = encode_or_die(Version::V13, 5, it->msg);
  // buffer_id, total_len, reason, table_id, cookie; match with in_port=2.
  EXPECT_EQ(to_hex(std::span(b).subspan(8, 32)),
            "ffffffff00360000ffffffffffffffff"
            "0001000c800000040000000200000000");
  EXPECT_EQ(b[40], 0);  // two pad bytes before the frame
  EXPECT_EQ(b[41], 0);
  auto d = decode(b);
  ASSERT_TRUE(d.ok());
  const PacketIn& p = std::get<PacketIn>(d->msg);
  EXPECT_EQ(p.in_port, 2u);
  EXPECT_EQ(p.data.data(), b.data() + 42);  // a view into the frame, not a copy
}

TEST(Hello, DecodesAnyVersionAndIgnoresUnknownElements) {
  // Version 0x06 hello: unknown element type 7 (len 5, padded to 8), then a
  // bitmap with two words.
  auto b = from_hex("0600 0020 00000001 0007 0005 aa000000 0001 000c 00000052 00000001 00000000");
  auto d = decode(b);
  ASSERT_TRUE(d.ok()) << d.error().detail;
  EXPECT_EQ(d->header.version, 6);
  EXPECT_EQ(std::get<Hello>(d->msg).version_bitmap, 0x52u);
}

TEST(Negotiate, Rules) {
  const uint32_t ours = version_bit(Version::V10) | version_bit(Version::V13);
  EXPECT_EQ(negotiate(6, 0x52, ours), Version::V13);  // 1.0, 1.3, 1.5
  EXPECT_EQ(negotiate(6, 0x42, ours), Version::V10);  // 1.0 and 1.5 only
  EXPECT_EQ(negotiate(6, 0x40, ours), std::nullopt);
  EXPECT_EQ(negotiate(1, 0, ours), Version::V10);
  EXPECT_EQ(negotiate(4, 0, ours), Version::V13);
  EXPECT_EQ(negotiate(5, 0, ours), Version::V13);
  EXPECT_EQ(negotiate(3, 0, ours), Version::V10);
  EXPECT_EQ(negotiate(4, 0, version_bit(Version::V10)), Version::V10);
  EXPECT_EQ(negotiate(1, 0, version_bit(Version::V13)), std::nullopt);
  EXPECT_EQ(negotiate(0xff, 0, ours), Version::V13);
}

TEST(Errors, WireCodesPerVersion) {
  EXPECT_EQ(wire_error(Version::V10, Err::BadLen), (std::pair<uint16_t, uint16_t>{1, 6}));
  EXPECT_EQ(wire_error(Version::V13, Err::BadMatchPrereq), (std::pair<uint16_t, uint16_t>{4, 9}));
  EXPECT_EQ(wire_error(Version::V10, Err::BadMatchPrereq), (std::pair<uint16_t, uint16_t>{1, 6}));
  EXPECT_EQ(wire_error(Version::V13, Err::BadInstructionLen), (std::pair<uint16_t, uint16_t>{3, 7}));
  EXPECT_EQ(wire_error(Version::V10, Err::FlowModBadCommand), (std::pair<uint16_t, uint16_t>{3, 4}));
  EXPECT_EQ(wire_error(Version::V13, Err::FlowModBadCommand), (std::pair<uint16_t, uint16_t>{5, 6}));
  EXPECT_EQ(wire_error(Version::V13, Err::HelloIncompatible), (std::pair<uint16_t, uint16_t>{0, 0}));
  EXPECT_STREQ(err_name(Err::BadMultipart), "OFPBRC_BAD_MULTIPART");
  EXPECT_STREQ(err_name(Err::BadActionLen), "OFPBAC_BAD_LEN");
}

}  // namespace
}  // namespace fulcrum::of
