// Malformed input: every decoder fails cleanly with the right neutral error,
// never reads past the frame (run under ASan), never loops.
#include <gtest/gtest.h>

#include "unit/openflow/samples.hpp"

namespace fulcrum::of {
namespace {

using testing::all_samples;
using testing::encode_or_die;
using testing::from_hex;
using testing::Sample;
using testing::to_hex;

void set_len(std::vector<uint8_t>& b) {
  if (b.size() < 4) return;
  b[2] = static_cast<uint8_t>(b.size() >> 8);
  b[3] = static_cast<uint8_t>(b.size());
}

Err decode_err(std::vector<uint8_t> b) {
  set_len(b);
  auto d = decode(b);
  EXPECT_FALSE(d.ok()) << to_hex(b);
  return d.ok() ? Err::UnsupportedInVersion : d.error().err;
}

class Truncation : public ::testing::TestWithParam<Sample> {};

// Every prefix, with the header length patched to match: either decoding
// fails, or what it decoded re-encodes to exactly those bytes (a truncation
// that lands on an element boundary is a valid, shorter message).
TEST_P(Truncation, EveryPrefixFailsOrIsCanonical) {
  const Sample& s = GetParam();
  const auto full = encode_or_die(s.version, 7, s.msg);
  for (std::size_t n = 0; n < full.size(); ++n) {
    std::vector<uint8_t> b(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
    if (n >= 4) set_len(b);
    auto d = decode(b);
    if (n < kHeaderLen) {
      ASSERT_FALSE(d.ok()) << n;
      EXPECT_EQ(d.error().err, Err::BadLen);
      continue;
    }
    if (!d.ok()) continue;
    if (std::holds_alternative<Hello>(s.msg)) {
      EXPECT_EQ(std::get<Hello>(d->msg).version_bitmap, 0u) << "prefix " << n;
      continue;
    }
    EXPECT_EQ(to_hex(encode_or_die(s.version, 7, d->msg)), to_hex(b))
        << "prefix " << n << " decoded as " << message_name(d->msg);
  }
  // The header length must match the frame exactly.
  auto longer = full;
  longer.push_back(0);
  auto d = decode(longer);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().err, Err::BadLen);
  auto b = full;
  b[2] = 0, b[3] = 7;
  ASSERT_FALSE(decode(b).ok());
  EXPECT_FALSE(decode(std::span(full).first(full.size() - 1)).ok());
}

INSTANTIATE_TEST_SUITE_P(AllMessages, Truncation, ::testing::ValuesIn(all_samples()),
                         [](const ::testing::TestParamInfo<Sample>& i) {
                           std::string n = (i.param.version == Version::V10 ? "of10_" : "of13_") + i.param.name;
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

// Fixed-size messages fail at every shorter length, and with a byte too many.
TEST(Malformed, FixedSizeMessagesRejectAnyOtherLength) {
  for (const Sample& s : all_samples()) {
    if (std::holds_alternative<Hello>(s.msg) || std::holds_alternative<EchoRequest>(s.msg) ||
        std::holds_alternative<EchoReply>(s.msg) || std::holds_alternative<ErrorMsg>(s.msg) ||
        std::holds_alternative<PacketIn>(s.msg) || std::holds_alternative<PacketOut>(s.msg) ||
        std::holds_alternative<FlowMod>(s.msg) || std::holds_alternative<FeaturesReply>(s.msg) ||
        std::holds_alternative<PortStatsReply>(s.msg) || std::holds_alternative<FlowStatsReply>(s.msg) ||
        std::holds_alternative<PortDescReply>(s.msg))
      continue;
    auto full = encode_or_die(s.version, 7, s.msg);
    auto plus = full;
    plus.push_back(0);
    EXPECT_EQ(decode_err(plus), Err::BadLen) << s.name;
    for (std::size_t n = kHeaderLen; n < full.size(); ++n) {
      std::vector<uint8_t> b(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
      set_len(b);
      EXPECT_FALSE(decode(b).ok()) << s.name << " prefix " << n;
    }
  }
}

TEST(Malformed, HeaderOnly) {
  EXPECT_EQ(decode_err(from_hex("04")), Err::BadLen);
  EXPECT_EQ(decode_err({}), Err::BadLen);
  // Length below the header.
  auto d = decode(from_hex("0405000400000001"));
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().err, Err::BadLen);
}

TEST(Malformed, UnknownVersion) {
  for (uint8_t v : {0x00, 0x02, 0x03, 0x05, 0x06, 0xff}) {
    EXPECT_EQ(decode_err({v, 5, 0, 8, 0, 0, 0, 1}), Err::BadVersion) << int(v);
    EXPECT_EQ(decode_err({v, 2, 0, 8, 0, 0, 0, 1}), Err::BadVersion) << int(v);
  }
}

TEST(Malformed, UnknownOrUnmodelledType) {
  for (uint8_t t : {4, 15, 20, 21, 22, 23, 200, 255}) EXPECT_EQ(decode_err({1, t, 0, 8, 0, 0, 0, 1}), Err::BadType);
  for (uint8_t t : {4, 15, 16, 17, 22, 26, 29, 30, 255}) EXPECT_EQ(decode_err({4, t, 0, 8, 0, 0, 0, 1}), Err::BadType);
  // 1.3-only numbers mean nothing (or something else) in 1.0: role request.
  EXPECT_EQ(decode_err(from_hex("0118000000000001 00000002 00000000 0000000000000001")), Err::BadType);
}

TEST(Malformed, HelloElements) {
  EXPECT_EQ(decode_err(from_hex("0400000000000001 0001 0000 00000012")), Err::BadLen);  // element length 0
  EXPECT_EQ(decode_err(from_hex("0400000000000001 0001 0003 00000012")), Err::BadLen);  // below header
  EXPECT_EQ(decode_err(from_hex("0400000000000001 0001 0010 00000012")), Err::BadLen);  // beyond message
  EXPECT_EQ(decode_err(from_hex("0400000000000001 0001 0007 00000012")), Err::BadLen);  // bitmap not 4n
  EXPECT_EQ(decode_err(from_hex("0400000000000001 0009 0000 00000000")), Err::BadLen);  // unknown type, len 0
}

TEST(Malformed, UnknownMultipartAndStatsKinds) {
  EXPECT_EQ(decode_err(from_hex("0412000000000001 0000 0000 00000000")), Err::BadMultipart);  // OFPMP_DESC
  EXPECT_EQ(decode_err(from_hex("0412000000000001 0063 0000 00000000")), Err::BadMultipart);
  EXPECT_EQ(decode_err(from_hex("0413000000000001 ffff 0000 00000000")), Err::BadMultipart);
  EXPECT_EQ(decode_err(from_hex("0110000000000001 0000 0000")), Err::BadMultipart);  // OFPST_DESC
  EXPECT_EQ(decode_err(from_hex("0111000000000001 0007 0000")), Err::BadMultipart);
}

// The 1.3 load-balancer flow-mod, with a byte changed at `at`.
std::vector<uint8_t> lb13_with(std::size_t at, std::initializer_list<uint8_t> bytes) {
  auto b = encode_or_die(Version::V13, 1, testing::lb_forward_flow());
  for (uint8_t x : bytes) b[at++] = x;
  return b;
}

TEST(Malformed, Of13FlowMod) {
  // Layout: header 8, fixed 40 -> match at 48 (len 0x33, 56 padded) ->
  // instruction at 104 -> first action at 112 -> first OXM at 52.
  EXPECT_EQ(decode_err(lb13_with(48, {0x00, 0x00})), Err::BadMatchType);               // OFPMT_STANDARD
  EXPECT_EQ(decode_err(lb13_with(50, {0x00, 0x03})), Err::BadMatchLen);                // below header
  EXPECT_EQ(decode_err(lb13_with(50, {0x01, 0x00})), Err::BadMatchLen);                // beyond message
  EXPECT_EQ(decode_err(lb13_with(55, {0x00})), Err::BadMatchLen);                      // zero-length OXM
  EXPECT_EQ(decode_err(lb13_with(55, {0x05})), Err::BadMatchLen);                      // in_port of 5 bytes
  EXPECT_EQ(decode_err(lb13_with(55, {0x40})), Err::BadMatchLen);                      // OXM beyond match
  EXPECT_EQ(decode_err(lb13_with(60, {0x80, 0x00, 0x00, 0x04})), Err::DupMatchField);  // in_port twice
  EXPECT_EQ(decode_err(lb13_with(64, {0x86, 0xdd})), Err::BadMatchPrereq);             // ipv4 on eth_type IPv6
  EXPECT_EQ(decode_err(lb13_with(70, {0x11})), Err::BadMatchPrereq);                   // tcp ports, ip_proto UDP
  EXPECT_EQ(decode_err(lb13_with(106, {0x00, 0x00})), Err::BadInstructionLen);         // zero-length instruction
  EXPECT_EQ(decode_err(lb13_with(106, {0x00, 0x04})), Err::BadInstructionLen);
  EXPECT_EQ(decode_err(lb13_with(106, {0x10, 0x00})), Err::BadInstructionLen);  // beyond message
  EXPECT_EQ(decode_err(lb13_with(104, {0x00, 0x63})), Err::BadInstruction);     // unknown type
  EXPECT_EQ(decode_err(lb13_with(104, {0x00, 0x01})), Err::BadInstruction);     // goto-table: not modelled
  EXPECT_EQ(decode_err(lb13_with(114, {0x00, 0x00})), Err::BadActionLen);       // zero-length action
  EXPECT_EQ(decode_err(lb13_with(114, {0x00, 0x0c})), Err::BadActionLen);       // not a multiple of 8
  EXPECT_EQ(decode_err(lb13_with(114, {0x00, 0x18})), Err::BadActionLen);       // set-field pads wrong
  EXPECT_EQ(decode_err(lb13_with(119, {0x00})), Err::BadActionLen);             // set-field OXM length 0
  EXPECT_EQ(decode_err(lb13_with(112, {0x00, 0x1a})), Err::BadActionType);      // PUSH_PBB: not modelled
  EXPECT_EQ(decode_err(lb13_with(112, {0x00, 0x63})), Err::BadActionType);
  EXPECT_EQ(decode_err(lb13_with(118, {0x0e})), Err::BadActionArgument);  // set-field vlan_vid
  EXPECT_EQ(decode_err(lb13_with(25, {0x05})), Err::FlowModBadCommand);
}

TEST(Malformed, Of10FlowMod) {
  auto base = encode_or_die(Version::V10, 1, testing::lb_forward_flow());
  // Actions start at 72.
  auto b = base;
  b[74] = 0, b[75] = 0;
  EXPECT_EQ(decode_err(b), Err::BadActionLen);  // zero-length action
  b = base;
  b[75] = 0x0c;
  EXPECT_EQ(decode_err(b), Err::BadActionLen);
  b = base;
  b[75] = 0xf0;
  EXPECT_EQ(decode_err(b), Err::BadActionLen);  // beyond message
  b = base;
  b[75] = 0x08;
  EXPECT_EQ(decode_err(b), Err::BadActionLen);  // SET_DL_SRC is 16 bytes
  b = base;
  b[73] = 0x03;
  EXPECT_EQ(decode_err(b), Err::BadActionType);  // STRIP_VLAN: not modelled
  b = base;
  b[73] = 0x42;
  EXPECT_EQ(decode_err(b), Err::BadActionType);
  b = base;
  b[57] = 0x09;
  EXPECT_EQ(decode_err(b), Err::FlowModBadCommand);
  b.resize(60);
  EXPECT_EQ(decode_err(b), Err::BadLen);
}

TEST(Malformed, Of13PacketOutActionsLenBeyondMessage) {
  PacketOut p;
  p.actions.push_back(ActOutput{1, 0});
  auto b = encode_or_die(Version::V13, 1, p);
  b[16] = 0x01;  // actions_len 0x110
  EXPECT_EQ(decode_err(b), Err::BadLen);
  b[16] = 0, b[17] = 8;  // an action shorter than its own length field says
  EXPECT_EQ(decode_err(b), Err::BadActionLen);
}

TEST(Malformed, Of10FeaturesReplyPortsNotWhole) {
  FeaturesReply f;
  f.ports.push_back(testing::sample_port(1, "p1"));
  auto b = encode_or_die(Version::V10, 1, f);
  b.pop_back();
  EXPECT_EQ(decode_err(b), Err::BadLen);
}

TEST(Malformed, FlowStatsEntryLength) {
  for (Version v : {Version::V10, Version::V13}) {
    FlowStatsReply r;
    r.stats.resize(1);
    auto b = encode_or_die(v, 1, r);
    std::size_t at = v == Version::V10 ? 12 : 16;
    b[at] = 0, b[at + 1] = 0;
    EXPECT_EQ(decode_err(b), Err::BadLen);  // zero-length entry
    b[at + 1] = 200;
    EXPECT_EQ(decode_err(b), Err::BadLen);  // beyond message
  }
}

// Lenient parsing in stats replies: what cannot be modelled is flagged.
TEST(Lenient, FlowStatsFlagsUnmodelledInstructionsAndActions) {
  FlowStatsReply r;
  FlowStats s;
  s.match.eth_type = 0x0800;
  s.actions.push_back(ActOutput{1, 0});
  r.stats.push_back(s);
  auto b = encode_or_die(Version::V13, 1, r);
  // Entry at 16: fixed 48, match (eth_type: 4 + 6 -> 16) -> instruction at 80,
  // action at 88. Make the output action a PUSH_VLAN (type 17) of 16 bytes.
  std::vector<uint8_t> c = b;
  c[88] = 0, c[89] = 17;
  auto d = decode(c);
  ASSERT_TRUE(d.ok()) << d.error().detail;
  const FlowStats& got = std::get<FlowStatsReply>(d->msg).stats.at(0);
  EXPECT_TRUE(got.unmodelled_actions);
  EXPECT_EQ(got.actions.size(), 0u);
  c[91] = 8;  // now the last 8 bytes are a zero-length action: malformed, even here
  d = decode(c);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().err, Err::BadActionLen);
  c = b;
  c[80] = 0, c[81] = 1;  // GOTO_TABLE
  d = decode(c);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(std::get<FlowStatsReply>(d->msg).stats.at(0).unmodelled_actions);
}

}  // namespace
}  // namespace fulcrum::of
