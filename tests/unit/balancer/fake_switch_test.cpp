// The fake flow table itself: the balancer tests are only as good as it is.
#include "unit/balancer/fake_switch.hpp"

#include <gtest/gtest.h>

#include "unit/balancer/frames.hpp"

namespace fulcrum::lb::testing {
namespace {

using std::chrono::seconds;

const auto kT0 = TimePoint{} + seconds(100);
const MacAddr kMacA = mac("02:00:00:00:00:0a");
const MacAddr kMacB = mac("02:00:00:00:00:0b");
const MacAddr kMacX = mac("02:00:00:00:00:99");
const Ipv4Addr kIpA = ip("192.168.0.1");
const Ipv4Addr kIpB = ip("192.168.0.2");
const Ipv4Addr kIpX = ip("192.168.0.99");

of::FlowMod add(uint16_t prio, of::Match m, of::ActionList actions, uint64_t cookie = 0) {
  of::FlowMod fm;
  fm.priority = prio;
  fm.match = m;
  fm.actions = actions;
  fm.cookie = cookie;
  return fm;
}

of::Match tcp_match(of::PortNo in_port, Ipv4Addr src, Ipv4Addr dst) {
  of::Match m;
  m.in_port = in_port;
  m.eth_type = pkt::kEthTypeIpv4;
  m.ip_proto = pkt::kIpProtoTcp;
  m.ipv4_src = src;
  m.ipv4_dst = dst;
  return m;
}

TEST(FakeFlowTable, HighestPriorityMatchWinsAndSetFieldsApplyInOrder) {
  FakeFlowTable t;
  (void)t.apply(add(0, {}, {of::ActOutput{of::port::kController, of::kMaxLenNoBuffer}}), kT0);
  (void)t.apply(add(100, tcp_match(1, kIpA, kIpB),
                    {of::ActSetEthDst{kMacX}, of::ActOutput{2, 0}, of::ActSetIpv4Dst{kIpX}, of::ActOutput{3, 0}}),
                kT0);
  Headers h = headers_of(1, tcp_frame(kMacA, kMacB, kIpA, kIpB, 1000, 80));
  const FlowEntry* e = t.lookup(h);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->priority, 100);
  auto outs = apply_actions(e->actions.span(), h);
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_EQ(outs[0].port, 2u);
  EXPECT_EQ(outs[0].headers.eth_dst, kMacX);
  EXPECT_EQ(outs[0].headers.ipv4_dst, kIpB);  // set after this output
  EXPECT_EQ(outs[1].port, 3u);
  EXPECT_EQ(outs[1].headers.ipv4_dst, kIpX);
  EXPECT_EQ(outs[1].headers.ipv4_src, kIpA);

  // Other in_port or an ARP frame (no IPv4 fields): only the table-miss.
  EXPECT_EQ(t.lookup(headers_of(2, tcp_frame(kMacA, kMacB, kIpA, kIpB, 1000, 80)))->priority, 0);
  EXPECT_EQ(t.lookup(headers_of(1, arp_request(kMacA, kIpA, kIpB)))->priority, 0);
}

TEST(FakeFlowTable, OutputToIngressPortIsDropped) {
  Headers h = headers_of(4, udp_frame(kMacA, kMacB, kIpA, kIpB, 1, 2));
  EXPECT_TRUE(apply_actions(std::vector<of::Action>{of::ActOutput{4, 0}}, h).empty());
  auto outs = apply_actions(std::vector<of::Action>{of::ActOutput{of::port::kInPort, 0}}, h);
  ASSERT_EQ(outs.size(), 1u);
  EXPECT_EQ(outs[0].port, 4u);
}

TEST(FakeFlowTable, AddWithSameMatchAndPriorityReplaces) {
  FakeFlowTable t;
  (void)t.apply(add(10, tcp_match(1, kIpA, kIpB), {of::ActOutput{2, 0}}, 1), kT0);
  (void)t.apply(add(20, tcp_match(1, kIpA, kIpB), {of::ActOutput{3, 0}}, 2), kT0);
  auto rm = t.apply(add(10, tcp_match(1, kIpA, kIpB), {of::ActOutput{4, 0}}, 3), kT0);
  EXPECT_TRUE(rm.empty());
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t.entries()[0].cookie, 3u);
  EXPECT_TRUE(t.entries()[0].outputs_to(4));
}

TEST(FakeFlowTable, DeleteIsWildcardWithOutPortFilterAndReportsFlowRemoved) {
  FakeFlowTable t;
  auto with_rem = [](of::FlowMod fm) {
    fm.flags = of::kFlowSendFlowRem;
    return fm;
  };
  (void)t.apply(with_rem(add(100, tcp_match(1, kIpA, kIpB), {of::ActOutput{2, 0}}, 1)), kT0);
  (void)t.apply(with_rem(add(100, tcp_match(2, kIpB, kIpA), {of::ActOutput{1, 0}}, 2)), kT0);
  of::Match l2;
  l2.eth_dst = kMacB;
  (void)t.apply(add(10, l2, {of::ActOutput{2, 0}}, 3), kT0);
  (void)t.apply(add(0, {}, {of::ActOutput{of::port::kController, 0}}), kT0);

  of::FlowMod del;
  del.command = of::FlowModCommand::Delete;
  del.out_port = 2;
  auto rm = t.apply(del, kT0 + seconds(3));
  ASSERT_EQ(rm.size(), 1u);  // the L2 entry went too, without a message
  EXPECT_EQ(rm[0].cookie, 1u);
  EXPECT_EQ(rm[0].reason, of::FlowRemovedReason::Delete);
  EXPECT_EQ(rm[0].duration_sec, 3u);
  ASSERT_EQ(t.size(), 2u);

  // A more specific delete match leaves less specific entries alone.
  del.out_port = of::port::kAny;
  del.match = tcp_match(2, kIpB, kIpA);
  del.match.tp_src = 80;
  EXPECT_TRUE(t.apply(del, kT0).empty());
  EXPECT_EQ(t.size(), 2u);
}

TEST(FakeFlowTable, DeleteStrictNeedsMatchAndPriority) {
  FakeFlowTable t;
  (void)t.apply(add(100, tcp_match(1, kIpA, kIpB), {of::ActOutput{2, 0}}), kT0);
  (void)t.apply(add(50, tcp_match(1, kIpA, kIpB), {of::ActOutput{2, 0}}), kT0);
  of::FlowMod del = add(100, tcp_match(1, kIpA, kIpB), {});
  del.command = of::FlowModCommand::DeleteStrict;
  del.match.ipv4_dst.reset();  // wildcard: strict needs identical, so nothing goes
  (void)t.apply(del, kT0);
  EXPECT_EQ(t.size(), 2u);
  del.match = tcp_match(1, kIpA, kIpB);
  (void)t.apply(del, kT0);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t.entries()[0].priority, 50);
}

TEST(FakeFlowTable, IdleAndHardTimeoutsAgainstTheInjectedClock) {
  FakeFlowTable t;
  of::FlowMod idle = add(100, tcp_match(1, kIpA, kIpB), {of::ActOutput{2, 0}}, 7);
  idle.idle_timeout = 10;
  idle.flags = of::kFlowSendFlowRem;
  of::FlowMod hard = add(100, tcp_match(2, kIpB, kIpA), {of::ActOutput{1, 0}}, 8);
  hard.hard_timeout = 15;
  hard.flags = of::kFlowSendFlowRem;
  (void)t.apply(idle, kT0);
  (void)t.apply(hard, kT0);

  Headers h = headers_of(1, tcp_frame(kMacA, kMacB, kIpA, kIpB, 1000, 80));
  EXPECT_NE(t.hit(h, 60, kT0 + seconds(5)), nullptr);
  EXPECT_TRUE(t.expire(kT0 + seconds(14)).empty());
  auto rm = t.expire(kT0 + seconds(15));
  ASSERT_EQ(rm.size(), 2u);
  EXPECT_EQ(rm[0].cookie, 7u);
  EXPECT_EQ(rm[0].reason, of::FlowRemovedReason::IdleTimeout);
  EXPECT_EQ(rm[0].packet_count, 1u);
  EXPECT_EQ(rm[0].byte_count, 60u);
  EXPECT_EQ(rm[0].match, idle.match);
  EXPECT_EQ(rm[1].cookie, 8u);
  EXPECT_EQ(rm[1].reason, of::FlowRemovedReason::HardTimeout);
  EXPECT_EQ(t.size(), 0u);
}

}  // namespace
}  // namespace fulcrum::lb::testing
