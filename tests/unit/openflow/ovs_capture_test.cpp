// Frames a real Open vSwitch (3.1, netdev datapath) sent to a controller,
// captured by tests/golden/openflow/capture_ovs.py, decoded by Fulcrum.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "unit/openflow/samples.hpp"

namespace fulcrum::of {
namespace {

using testing::from_hex;
using testing::msg_equal;

// Bytes of tests/golden/openflow/ovs-captures/<name>.hex ('#' lines are comments).
std::vector<uint8_t> capture(const std::string& name) {
  std::ifstream in(std::string(FULCRUM_OF_GOLDEN_DIR) + "/ovs-captures/" + name + ".hex");
  EXPECT_TRUE(in) << name;
  std::string line, hex;
  while (std::getline(in, line))
    if (!line.empty() && line[0] != '#') hex += line;
  return from_hex(hex);
}

// Decodes a capture, checks the header and that Fulcrum's re-encoding of it
// decodes to the same message.
template <typename T>
T decode_capture(const std::vector<uint8_t>& b, Version v) {
  auto d = decode(b);
  EXPECT_TRUE(d.ok()) << (d.ok() ? "" : d.error().detail);
  if (!d.ok()) return T{};
  EXPECT_EQ(d->header.version, static_cast<uint8_t>(v));
  EXPECT_TRUE(std::holds_alternative<T>(d->msg)) << message_name(d->msg);
  if (!std::holds_alternative<T>(d->msg)) return T{};
  std::vector<uint8_t> again;
  EXPECT_TRUE(encode(v, d->header.xid, d->msg, again).ok());
  auto d2 = decode(again);
  EXPECT_TRUE(d2.ok());
  if (d2.ok()) {
    EXPECT_TRUE(msg_equal(d2->msg, d->msg));
  }
  return std::get<T>(d->msg);
}

struct V {
  Version v;
  const char* tag;
};
class OvsCapture : public ::testing::TestWithParam<V> {
 protected:
  Version v() const { return GetParam().v; }
  bool v13() const { return v() == Version::V13; }
  std::vector<uint8_t> cap(const std::string& name) const { return capture(std::string(GetParam().tag) + "-" + name); }
};

TEST_P(OvsCapture, Hello) {
  auto b = cap("hello");
  auto h = decode_capture<Hello>(b, v());
  const uint32_t ours = version_bit(Version::V10) | version_bit(Version::V13);
  if (v13()) {
    EXPECT_EQ(h.version_bitmap, version_bit(Version::V13));  // OVS sends the bitmap element
  } else {
    EXPECT_EQ(h.version_bitmap, 0u);  // a 1.0-only OVS sends a bare 8-byte hello
    EXPECT_EQ(b.size(), 8u);
  }
  EXPECT_EQ(negotiate(b[0], h.version_bitmap, ours), v());
}

TEST_P(OvsCapture, FeaturesReply) {
  auto f = decode_capture<FeaturesReply>(cap("features-reply"), v());
  EXPECT_NE(f.datapath_id, 0u);
  EXPECT_EQ(f.n_tables, 254);
  EXPECT_EQ(f.n_buffers, 0u);              // OVS does not buffer packets
  EXPECT_EQ(f.capabilities & 0x7u, 0x7u);  // flow, table, port stats
  if (v13()) {
    EXPECT_TRUE(f.ports.empty());
    EXPECT_EQ(f.auxiliary_id, 0);
    return;
  }
  ASSERT_EQ(f.ports.size(), 1u);
  const PortDesc& p = f.ports[0];
  EXPECT_EQ(p.port_no, port::kLocal);
  EXPECT_EQ(p.name, "ofcap-br0");
  EXPECT_EQ(p.config & kPortConfigDown, kPortConfigDown);
  EXPECT_EQ(p.state & kPortStateLinkDown, kPortStateLinkDown);
  EXPECT_EQ(p.curr, (1u << 6) | (1u << 11));  // 10GB_FD | COPPER, converted to the 1.3 layout
  EXPECT_EQ(p.curr_speed_kbps, 10'000'000u);  // derived from `curr`
  EXPECT_EQ(p.max_speed_kbps, 0u);            // nothing in `supported`
}

TEST_P(OvsCapture, PortDescReply) {
  if (!v13()) GTEST_SKIP() << "1.0 ports come in the features reply";
  auto r = decode_capture<PortDescReply>(cap("port-desc-reply"), v());
  EXPECT_FALSE(r.more);
  ASSERT_EQ(r.ports.size(), 1u);
  EXPECT_EQ(r.ports[0].port_no, port::kLocal);
  EXPECT_EQ(r.ports[0].name, "ofcap-br0");
  EXPECT_EQ(r.ports[0].curr, (1u << 6) | (1u << 11));
  EXPECT_EQ(r.ports[0].curr_speed_kbps, 10'000'000u);
  EXPECT_EQ(r.ports[0].max_speed_kbps, 0u);
}

TEST_P(OvsCapture, GetConfigAndBarrierAndEcho) {
  auto c = decode_capture<GetConfigReply>(cap("get-config-reply"), v());
  EXPECT_EQ(c.miss_send_len, kMaxLenNoBuffer);  // what we set
  EXPECT_EQ(c.flags, 0);
  auto b = cap("barrier-reply");
  decode_capture<BarrierReply>(b, v());
  EXPECT_EQ(peek_header(b)->xid, 5u);
  auto e = cap("echo-reply");
  auto r = decode_capture<EchoReply>(e, v());
  EXPECT_EQ(std::string(r.data.begin(), r.data.end()), "fulcrum");
  EXPECT_EQ(r.data.data(), e.data() + 8);  // a view into the frame
}

TEST_P(OvsCapture, PortStatsReply) {
  auto r = decode_capture<PortStatsReply>(cap("port-stats-reply"), v());
  EXPECT_FALSE(r.more);
  ASSERT_EQ(r.stats.size(), 1u);
  EXPECT_EQ(r.stats[0].port_no, port::kLocal);
}

TEST_P(OvsCapture, FlowStatsReplyShowsFulcrumsFlow) {
  auto r = decode_capture<FlowStatsReply>(cap("flow-stats-reply"), v());
  ASSERT_EQ(r.stats.size(), 2u);
  const FlowMod want = testing::lb_forward_flow();
  const FlowStats& lb = r.stats[0];
  EXPECT_EQ(lb.match, want.match);
  EXPECT_EQ(lb.actions, want.actions);
  EXPECT_FALSE(lb.unmodelled_actions);
  EXPECT_EQ(lb.cookie, want.cookie);
  EXPECT_EQ(lb.priority, want.priority);
  EXPECT_EQ(lb.idle_timeout, want.idle_timeout);
  EXPECT_EQ(lb.flags, v13() ? kFlowSendFlowRem : 0);  // 1.0 flow stats carry no flags
  const FlowStats& miss = r.stats[1];
  EXPECT_EQ(miss.priority, 0);
  EXPECT_EQ(miss.match, Match{});
  ASSERT_EQ(miss.actions.size(), 1u);
  EXPECT_EQ(std::get<ActOutput>(miss.actions[0]), (ActOutput{port::kController, 0xffff}));
}

TEST_P(OvsCapture, ErrorForBadFlowModCommand) {
  auto b = cap("error");  // e.data is a view into b
  auto e = decode_capture<ErrorMsg>(b, v());
  EXPECT_EQ(std::pair(e.type, e.code), wire_error(v(), Err::FlowModBadCommand));
  // OVS echoes the whole offending message (not just 64 bytes); Fulcrum
  // finds the same fault in it.
  auto inner = decode(e.data);
  ASSERT_FALSE(inner.ok());
  EXPECT_EQ(inner.error().err, Err::FlowModBadCommand);
}

TEST_P(OvsCapture, PortStatus) {
  auto add = decode_capture<PortStatus>(cap("port-status-add"), v());
  EXPECT_EQ(add.reason, PortStatusReason::Add);
  EXPECT_EQ(add.desc.port_no, 1u);
  EXPECT_EQ(add.desc.name, "ofcap-v0");
  EXPECT_EQ(add.desc.curr_speed_kbps, 10'000'000u);
  auto del = decode_capture<PortStatus>(cap("port-status-delete"), v());
  EXPECT_EQ(del.reason, PortStatusReason::Delete);
  EXPECT_EQ(del.desc.port_no, 1u);
  EXPECT_EQ(del.desc.hw_addr, add.desc.hw_addr);
}

TEST_P(OvsCapture, PacketIn) {
  auto b = cap("packet-in");
  auto p = decode_capture<PacketIn>(b, v());
  EXPECT_EQ(p.in_port, 1u);
  EXPECT_EQ(p.buffer_id, kNoBuffer);
  EXPECT_EQ(p.total_len, 54);
  ASSERT_EQ(p.data.size(), 54u);
  EXPECT_EQ(p.data[12], 0x08);  // IPv4
  EXPECT_EQ(p.data[34], 0xc3);  // TCP source port 50001
  EXPECT_EQ(p.data[35], 0x51);
  EXPECT_EQ(p.data.data() + p.data.size(), b.data() + b.size());  // a view into the frame
  // The table-miss entry's output:CONTROLLER: OVS says "action" in 1.0 and
  // "no match" in 1.3 (a priority-0 match-all flow is the table-miss entry).
  EXPECT_EQ(p.reason, v13() ? PacketInReason::NoMatch : PacketInReason::Action);
  EXPECT_EQ(p.table_id, 0);
  EXPECT_EQ(p.cookie, 0u);
}

TEST_P(OvsCapture, FlowRemovedOfFulcrumsFlow) {
  auto r = decode_capture<FlowRemoved>(cap("flow-removed"), v());
  EXPECT_EQ(r.reason, FlowRemovedReason::Delete);
  EXPECT_EQ(r.match, testing::lb_forward_flow().match);
  EXPECT_FALSE(r.match.unmodelled);
  EXPECT_EQ(r.cookie, 0x1234u);
  EXPECT_EQ(r.priority, 1000);
  EXPECT_EQ(r.idle_timeout, 10);
  EXPECT_EQ(r.packet_count, 0u);
}

TEST_P(OvsCapture, RoleReply) {
  if (!v13()) GTEST_SKIP() << "no roles in 1.0";
  auto r = decode_capture<RoleReply>(cap("role-reply"), v());
  EXPECT_EQ(r.role, Role::Master);
  EXPECT_EQ(r.generation_id, 7u);
}

// Every captured frame also goes through a Framer as one TCP stream.
TEST_P(OvsCapture, AllCapturesThroughOneFramer) {
  std::vector<uint8_t> stream;
  for (const char* n :
       {"hello", "features-reply", "get-config-reply", "barrier-reply", "port-stats-reply", "flow-stats-reply",
        "echo-reply", "error", "port-status-add", "packet-in", "port-status-delete", "flow-removed"}) {
    auto b = cap(n);
    stream.insert(stream.end(), b.begin(), b.end());
  }
  Framer f;
  int frames = 0;
  for (std::size_t i = 0; i < stream.size(); i += 7) {
    f.feed(std::span(stream).subspan(i, std::min<std::size_t>(7, stream.size() - i)));
    for (auto n = f.next(); n.status == Framer::Status::Frame; n = f.next()) {
      EXPECT_TRUE(decode(n.frame).ok());
      ++frames;
    }
  }
  EXPECT_EQ(frames, 12);
}

INSTANTIATE_TEST_SUITE_P(Ovs, OvsCapture, ::testing::Values(V{Version::V10, "of10"}, V{Version::V13, "of13"}),
                         [](const ::testing::TestParamInfo<V>& i) { return std::string(i.param.tag); });

}  // namespace
}  // namespace fulcrum::of
