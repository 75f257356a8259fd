// Health checking, failover, draining and measurements, driven through the
// fake switch with the fake clock: the HealthState machine alone, then TCP /
// ICMP / ARP checks, timeouts, on_down keep|reset, refusal, draining by
// reconfiguration, agent reports and silence, latency probes and port
// statistics. Every check and reply is a real frame through the fake table.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <memory>
#include <optional>
#include <vector>

#include "agent/report.hpp"
#include "balancer/balancer.hpp"
#include "balancer/health.hpp"
#include "packet/packet.hpp"
#include "unit/balancer/fake_switch.hpp"
#include "unit/balancer/frames.hpp"

namespace fulcrum::lb::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// ---- HealthState alone --------------------------------------------------------------

TEST(HealthState, UpGoesDownAfterFallConsecutiveFailuresOnly) {
  HealthState h(2, 3, true);
  EXPECT_EQ(h.failure(), HealthTransition::None);
  EXPECT_EQ(h.failure(), HealthTransition::None);
  EXPECT_EQ(h.success(), HealthTransition::None);  // breaks the run
  EXPECT_EQ(h.consecutive_failures(), 0u);
  EXPECT_EQ(h.failure(), HealthTransition::None);
  EXPECT_EQ(h.failure(), HealthTransition::None);
  EXPECT_TRUE(h.up());
  EXPECT_EQ(h.failure(), HealthTransition::WentDown);
  EXPECT_FALSE(h.up());
  EXPECT_EQ(h.failure(), HealthTransition::None);  // already down: no second transition
}

TEST(HealthState, DownComesBackAfterRiseConsecutiveSuccessesOnly) {
  HealthState h(2, 3, false);
  EXPECT_EQ(h.success(), HealthTransition::None);
  EXPECT_EQ(h.failure(), HealthTransition::None);  // breaks the run
  EXPECT_EQ(h.consecutive_successes(), 0u);
  EXPECT_EQ(h.success(), HealthTransition::None);
  EXPECT_FALSE(h.up());
  EXPECT_EQ(h.success(), HealthTransition::WentUp);
  EXPECT_TRUE(h.up());
  EXPECT_EQ(h.success(), HealthTransition::None);
}

TEST(HealthState, ForcedDownNeedsRiseSuccessesAndForceUpIsImmediate) {
  HealthState h(3, 2, true);
  h.failure();  // one failure counted...
  EXPECT_EQ(h.force_down(), HealthTransition::WentDown);
  EXPECT_EQ(h.consecutive_failures(), 0u);  // ...and forgotten
  EXPECT_EQ(h.force_down(), HealthTransition::None);
  EXPECT_EQ(h.success(), HealthTransition::None);
  EXPECT_EQ(h.success(), HealthTransition::None);
  EXPECT_EQ(h.success(), HealthTransition::WentUp);
  EXPECT_EQ(h.force_down(), HealthTransition::WentDown);
  EXPECT_EQ(h.force_up(), HealthTransition::WentUp);
  EXPECT_EQ(h.force_up(), HealthTransition::None);
}

TEST(HealthState, RiseAndFallOfOneActOnTheFirstResult) {
  HealthState h(1, 1, true);
  EXPECT_EQ(h.failure(), HealthTransition::WentDown);
  EXPECT_EQ(h.success(), HealthTransition::WentUp);
}

// ---- through the balancer -------------------------------------------------------------

constexpr Dpid kDpid = 1;
constexpr uint32_t kPorts = 6;  // 1-3 backends, 4-5 clients
const Ipv4Addr kVip = ip("10.0.0.100");
const MacAddr kFake = BalancerConfig{}.fake_mac;
const std::array<Ipv4Addr, 3> kBackendIp = {ip("10.0.0.11"), ip("10.0.0.12"), ip("10.0.0.13")};
const std::array<MacAddr, 3> kBackendMac = {mac("02:00:00:00:01:01"), mac("02:00:00:00:01:02"),
                                            mac("02:00:00:00:01:03")};
of::PortNo backend_port(std::size_t i) { return static_cast<of::PortNo>(i + 1); }
const Ipv4Addr kClientIp = ip("10.0.1.1");
const MacAddr kClientMac = mac("02:00:00:00:02:01");
constexpr of::PortNo kClientPort = 4;
const std::vector<uint8_t> kKey(32, 0x5a);
constexpr int64_t kWallOffsetMs = 1'800'000'000'000;  // bench time 0 is this unix time

// A TCP segment with explicit sequence numbers.
Frame tcp_seg(MacAddr esrc, MacAddr edst, Ipv4Addr src, Ipv4Addr dst, uint16_t sport, uint16_t dport, uint8_t flags,
              uint32_t seq, uint32_t ack, std::size_t payload_len = 0) {
  std::vector<uint8_t> payload(payload_len, 'x');
  Frame f(14 + 20 + 20 + payload_len);
  f.resize(pkt::build_tcp(f, {esrc, edst}, {src, dst}, {sport, dport, seq, ack, flags, 65535}, payload));
  return f;
}

struct Seen {
  pkt::ParsedPacket p;
  std::vector<Output> outputs;
};

class MonitorTest : public ::testing::Test {
 protected:
  static BalancerConfig config(HealthCheckKind kind = HealthCheckKind::Tcp, OnDown on_down = OnDown::KeepFlows) {
    BalancerConfig cfg;
    VipSpec vip;
    vip.name = "web";
    vip.ip = kVip;
    vip.port = 80;
    for (Ipv4Addr b : kBackendIp) vip.backends.push_back(BackendSpec{b, 1});
    vip.health.kind = kind;
    vip.health.interval = seconds(2);
    vip.health.timeout = seconds(1);
    vip.health.rise = 2;
    vip.health.fall = 3;
    vip.on_down = on_down;
    cfg.monitor.latency_probe_interval = Duration::zero();
    cfg.monitor.port_stats_interval = Duration::zero();
    cfg.monitor.metrics_log_interval = Duration::zero();
    cfg.vips.push_back(vip);
    return cfg;
  }

  void start(BalancerConfig cfg) {
    bench_ = std::make_unique<Bench>(std::move(cfg));
    bench_->balancer().set_wall_offset_ms(kWallOffsetMs);
    sw_ = &bench_->add_switch(kDpid, kPorts);
    for (std::size_t i = 0; i < kBackendIp.size(); ++i) {
      sw_->inject(backend_port(i), arp_reply(kBackendMac[i], kBackendIp[i], kFake, kVip));
    }
    sw_->inject(kClientPort, arp_request(kClientMac, kClientIp, kVip));
    sw_->forget_log();
  }

  Bench& bench() { return *bench_; }
  FakeSwitch& sw() { return *sw_; }
  const VipState& vip() { return bench_->balancer().find_switch(kDpid)->vips.at(0); }
  const BackendState& backend(std::size_t i) { return vip().backends.at(i); }

  // Frames the balancer sent (packet-outs since the last forget_log) that
  // parse and satisfy pred.
  template <typename Pred>
  std::vector<Seen> sent(Pred pred) {
    std::vector<Seen> out;
    for (const SentPacket& sp : sw().packet_outs) {
      auto p = pkt::parse(sp.frame);
      if (p && pred(*p)) out.push_back({*p, sp.outputs});
    }
    return out;
  }
  std::vector<Seen> syns_to(std::size_t b) {
    return sent([&](const pkt::ParsedPacket& p) {
      return p.l4 == pkt::L4::Tcp && p.ipv4.dst == kBackendIp[b] && p.tcp.flags == pkt::kTcpSyn;
    });
  }
  std::vector<Seen> echoes_to(std::size_t b, uint16_t id) {
    return sent([&](const pkt::ParsedPacket& p) {
      return p.l4 == pkt::L4::Icmp && p.ipv4.dst == kBackendIp[b] && p.icmp.type == pkt::kIcmpEchoRequest &&
             p.icmp.id == id;
    });
  }

  // Backend b answers the newest TCP check it got: SYN-ACK (listening) or RST.
  Injection answer_check(std::size_t b, bool listening) {
    auto syns = syns_to(b);
    EXPECT_FALSE(syns.empty());
    if (syns.empty()) return {};
    const pkt::ParsedPacket& syn = syns.back().p;
    const uint8_t flags = listening ? (pkt::kTcpSyn | pkt::kTcpAck) : (pkt::kTcpRst | pkt::kTcpAck);
    return sw().inject(backend_port(b), tcp_seg(kBackendMac[b], kFake, kBackendIp[b], kVip, syn.tcp.dst_port,
                                                syn.tcp.src_port, flags, 7000, syn.tcp.seq + 1));
  }
  // Every backend answers each check for `d`, listening or not.
  void run_checks(Duration d, std::array<bool, 3> listening) {
    for (auto end = bench().now() + d; bench().now() < end;) {
      sw().forget_log();
      bench().advance(milliseconds(100));
      for (std::size_t b = 0; b < 3; ++b) {
        if (!syns_to(b).empty()) answer_check(b, listening[b]);
      }
    }
  }

  // on_down: reset, a connection from client port 40000 on backend 0, then
  // backend 0 fails its checks; returns the check answers (0 refusing).
  std::array<bool, 3> connect_then_fail_backend0() {
    start(config(HealthCheckKind::Tcp, OnDown::RemoveFlows));
    std::array<bool, 3> listening{true, true, true};
    run_checks(seconds(1), listening);
    EXPECT_EQ(connect(40000), 0u);
    listening[0] = false;
    for (int i = 0; i < 100 && backend(0).available(); ++i) run_checks(milliseconds(100), listening);
    EXPECT_FALSE(backend(0).available());
    return listening;
  }

  // A new connection from the client; the backend index it went to.
  std::optional<std::size_t> connect(uint16_t sport) {
    Injection r = sw().inject(kClientPort, tcp_seg(kClientMac, kFake, kClientIp, kVip, sport, 80, pkt::kTcpSyn, 1, 0));
    auto outs = r.outputs();
    if (outs.size() != 1 || outs[0].port < 1 || outs[0].port > 3) return std::nullopt;
    return outs[0].port - 1;
  }

  std::unique_ptr<Bench> bench_;
  FakeSwitch* sw_ = nullptr;
};

TEST_F(MonitorTest, TcpCheckIsASynFromTheVipAndASynAckIsClosedWithAReset) {
  start(config());
  bench().advance(milliseconds(100));
  for (std::size_t b = 0; b < 3; ++b) {
    auto syns = syns_to(b);
    ASSERT_EQ(syns.size(), 1u) << "backend " << b;
    const Seen& s = syns[0];
    EXPECT_EQ(s.p.eth_src, kFake);
    EXPECT_EQ(s.p.eth_dst, kBackendMac[b]);
    EXPECT_EQ(s.p.ipv4.src, kVip);
    EXPECT_EQ(s.p.tcp.dst_port, 80);
    EXPECT_GE(s.p.tcp.src_port, 61000);
    EXPECT_LT(s.p.tcp.src_port, 62000);
    ASSERT_EQ(s.outputs.size(), 1u);
    EXPECT_EQ(s.outputs[0].port, backend_port(b));
  }
  const uint32_t syn_seq = syns_to(1)[0].p.tcp.seq;
  Injection r = answer_check(1, true);
  ASSERT_TRUE(r.packet_in);
  EXPECT_TRUE(r.outputs().empty());  // the SYN-ACK goes nowhere
  ASSERT_EQ(r.packet_outs.size(), 1u);
  auto rst = pkt::parse(r.packet_outs[0].frame);
  ASSERT_TRUE(rst);
  EXPECT_EQ(rst->tcp.flags, pkt::kTcpRst);
  EXPECT_EQ(rst->tcp.seq, syn_seq + 1);  // the backend's ack: in its window
  EXPECT_EQ(rst->ipv4.src, kVip);
  EXPECT_EQ(rst->ipv4.dst, kBackendIp[1]);
  EXPECT_EQ(r.packet_outs[0].outputs.at(0).port, backend_port(1));
  EXPECT_EQ(bench().counters().health_checks_sent, 3u);
  EXPECT_EQ(bench().counters().health_check_failures, 0u);
  // Next check one interval later, not before.
  sw().forget_log();
  bench().advance(milliseconds(1800));
  EXPECT_TRUE(syns_to(1).empty());
  bench().advance(milliseconds(200));
  EXPECT_EQ(syns_to(1).size(), 1u);
}

TEST_F(MonitorTest, RefusedChecksTakeABackendDownAfterFallAndItRejoinsAfterRise) {
  start(config());
  std::array<bool, 3> listening{true, true, true};
  run_checks(seconds(3), listening);
  EXPECT_TRUE(backend(1).available());

  listening[1] = false;  // its server stops: RST to every check
  const TimePoint t0 = bench().now();
  std::optional<TimePoint> down_at;
  for (int i = 0; i < 100 && !down_at; ++i) {
    run_checks(milliseconds(100), listening);
    if (!backend(1).available()) down_at = bench().now();
  }
  ASSERT_TRUE(down_at);
  // Three checks, two intervals apart: within (fall - 1) * interval + one interval.
  EXPECT_LE(*down_at - t0, seconds(6));
  EXPECT_GE(*down_at - t0, seconds(4) - milliseconds(200));
  EXPECT_EQ(bench().counters().backend_down_events, 1u);
  EXPECT_GE(bench().counters().health_check_failures, 3u);

  // From that moment no new connection goes to it.
  for (uint16_t i = 0; i < 12; ++i) {
    auto b = connect(static_cast<uint16_t>(40000 + i));
    ASSERT_TRUE(b);
    EXPECT_NE(*b, 1u);
  }

  const uint64_t ups = bench().counters().backend_up_events;  // one per backend learned, so far
  listening[1] = true;                                        // back: two SYN-ACKs bring it up
  run_checks(milliseconds(2100), listening);
  EXPECT_FALSE(backend(1).available());  // one success is not enough
  run_checks(milliseconds(2000), listening);
  EXPECT_TRUE(backend(1).available());
  EXPECT_EQ(bench().counters().backend_up_events, ups + 1);
  std::array<int, 3> per{};
  for (uint16_t i = 0; i < 9; ++i) ++per.at(connect(static_cast<uint16_t>(41000 + i)).value_or(0));
  EXPECT_EQ(per, (std::array<int, 3>{3, 3, 3}));
}

TEST_F(MonitorTest, UnansweredChecksTimeOutAndCountAsFailures) {
  start(config());
  std::array<bool, 3> listening{true, true, true};
  run_checks(seconds(1), listening);
  // Backend 2 goes silent (a dead host: no SYN-ACK, no RST).
  std::optional<TimePoint> down_at;
  const TimePoint t0 = bench().now();
  for (int i = 0; i < 100 && !down_at; ++i) {
    sw().forget_log();
    bench().advance(milliseconds(100));
    for (std::size_t b = 0; b < 2; ++b) {
      if (!syns_to(b).empty()) answer_check(b, true);
    }
    if (!backend(2).available()) down_at = bench().now();
  }
  ASSERT_TRUE(down_at);
  // Checks at ~2, 4, 6 s after the first, each failing 1 s (timeout) later.
  EXPECT_LE(*down_at - t0, seconds(7));
  EXPECT_GE(*down_at - t0, seconds(5) - milliseconds(200));
  EXPECT_TRUE(backend(0).available());
  EXPECT_TRUE(backend(1).available());
}

TEST_F(MonitorTest, IcmpAndArpChecksAreAnsweredByEchoReplyAndArpReply) {
  start(config(HealthCheckKind::Icmp));
  bench().advance(milliseconds(100));
  auto echoes = echoes_to(0, 0xf1c0);
  ASSERT_EQ(echoes.size(), 1u);
  EXPECT_EQ(echoes[0].p.ipv4.src, kVip);
  // Two missed checks, then a reply: the failure run is broken.
  for (int i = 0; i < 2; ++i) {
    sw().forget_log();
    bench().advance(seconds(2));
  }
  EXPECT_EQ(backend(0).health.consecutive_failures(), 2u);
  auto last = echoes_to(0, 0xf1c0);
  ASSERT_FALSE(last.empty());
  Frame reply(14 + 20 + 8);
  reply.resize(pkt::build_icmp_echo(reply, {kBackendMac[0], kFake}, {kBackendIp[0], kVip}, pkt::kIcmpEchoReply, 0xf1c0,
                                    last.back().p.icmp.seq, {}));
  Injection r = sw().inject(backend_port(0), reply);
  EXPECT_TRUE(r.outputs().empty());  // consumed, never forwarded
  EXPECT_EQ(backend(0).health.consecutive_failures(), 0u);
  EXPECT_TRUE(backend(0).available());

  start(config(HealthCheckKind::Arp));
  bench().advance(milliseconds(100));
  auto arps = sent([](const pkt::ParsedPacket& p) {
    return p.l3 == pkt::L3::Arp && p.arp.op == pkt::kArpRequest && p.arp.tpa == kBackendIp[1];
  });
  ASSERT_EQ(arps.size(), 1u);
  EXPECT_EQ(arps[0].p.eth_dst, kBackendMac[1]);  // unicast to the learned MAC
  EXPECT_EQ(arps[0].p.arp.spa, kVip);
  const uint64_t failures = bench().counters().health_check_failures;
  sw().inject(backend_port(1), arp_reply(kBackendMac[1], kBackendIp[1], kFake, kVip));
  bench().advance(seconds(2));
  EXPECT_EQ(backend(1).health.consecutive_failures(), 0u);
  EXPECT_GT(bench().counters().health_check_failures, failures);  // the others did not answer
}

// on_down: keep leaves a failed backend's connection entries in the switch;
// reset deletes them, and when the backend then sends on the dead connection
// both ends get a reset.
TEST_F(MonitorTest, OnDownKeepLeavesTheEntriesOnDownResetRemovesThemAndResetsBothEnds) {
  for (OnDown mode : {OnDown::KeepFlows, OnDown::RemoveFlows}) {
    SCOPED_TRACE(mode == OnDown::KeepFlows ? "keep" : "reset");
    start(config(HealthCheckKind::Tcp, mode));
    std::array<bool, 3> listening{true, true, true};
    run_checks(seconds(1), listening);
    ASSERT_EQ(connect(40000), 0u);
    ASSERT_EQ(connect(40001), 1u);
    ASSERT_EQ(connect(40002), 2u);
    const std::size_t entries = sw().table().size();
    listening[0] = false;
    for (int i = 0; i < 100 && backend(0).available(); ++i) run_checks(milliseconds(100), listening);
    ASSERT_FALSE(backend(0).available());

    // The backend sends data on its connection (to client port 40000).
    Frame data = tcp_seg(kBackendMac[0], kFake, kBackendIp[0], kClientIp, 80, 40000, pkt::kTcpAck | pkt::kTcpPsh, 5000,
                         900, 100);
    sw().forget_log();
    Injection r = sw().inject(backend_port(0), data);
    if (mode == OnDown::KeepFlows) {
      EXPECT_EQ(sw().table().size(), entries);
      EXPECT_EQ(backend(0).active, 1u);
      EXPECT_FALSE(r.packet_in);  // the return entry still carries it
      auto outs = r.outputs();
      ASSERT_EQ(outs.size(), 1u);
      EXPECT_EQ(outs[0].port, kClientPort);
      EXPECT_EQ(outs[0].headers.ipv4_src, kVip);
      continue;
    }
    EXPECT_EQ(sw().table().size(), entries - 2);
    EXPECT_EQ(backend(0).active, 0u);
    EXPECT_EQ(vip().connections.size(), 2u);
    EXPECT_EQ(bench().counters().connections_reset_on_down, 1u);
    for (const FlowEntry& e : sw().table().entries()) EXPECT_FALSE(e.outputs_to(backend_port(0)));
    ASSERT_TRUE(r.packet_in);
    EXPECT_TRUE(r.outputs().empty());  // the data itself goes nowhere
    auto to_client = sent([](const pkt::ParsedPacket& p) { return p.l4 == pkt::L4::Tcp && p.ipv4.dst == kClientIp; });
    ASSERT_EQ(to_client.size(), 1u);
    const pkt::ParsedPacket& rc = to_client[0].p;
    EXPECT_EQ(rc.tcp.flags, pkt::kTcpRst);
    EXPECT_EQ(rc.tcp.seq, 5000u);  // what the client expects next from the backend
    EXPECT_EQ(rc.ipv4.src, kVip);  // from the VIP and the fake MAC, never the backend
    EXPECT_EQ(rc.eth_src, kFake);
    EXPECT_EQ(rc.eth_dst, kClientMac);
    EXPECT_EQ(rc.tcp.src_port, 80);
    EXPECT_EQ(rc.tcp.dst_port, 40000);
    EXPECT_EQ(to_client[0].outputs.at(0).port, kClientPort);
    auto to_backend = sent([](const pkt::ParsedPacket& p) {
      return p.l4 == pkt::L4::Tcp && p.ipv4.dst == kBackendIp[0] && (p.tcp.flags & pkt::kTcpRst);
    });
    ASSERT_EQ(to_backend.size(), 1u);
    const pkt::ParsedPacket& rb = to_backend[0].p;
    EXPECT_EQ(rb.tcp.seq, 900u);  // the backend's ack
    EXPECT_EQ(rb.ipv4.src, kClientIp);
    EXPECT_EQ(rb.tcp.src_port, 40000);
    EXPECT_EQ(rb.tcp.dst_port, 80);
    EXPECT_EQ(bench().counters().stray_resets, 1u);
    // A reset from the backend is never answered.
    sw().forget_log();
    sw().inject(backend_port(0),
                tcp_seg(kBackendMac[0], kFake, kBackendIp[0], kClientIp, 80, 40000, pkt::kTcpRst, 5100, 0));
    EXPECT_TRUE(sw().packet_outs.empty());
    // A healthy backend's stray packet is only dropped, as before.
    sw().inject(backend_port(1),
                tcp_seg(kBackendMac[1], kFake, kBackendIp[1], kClientIp, 80, 45555, pkt::kTcpAck, 1, 1, 10));
    EXPECT_TRUE(sw().packet_outs.empty());
    EXPECT_EQ(bench().counters().stray_resets, 1u);
  }
}

// After on_down: reset the client's next segment on the connection (an ACK,
// a window update) is answered with a RST at exactly its ack number, not
// balanced to another backend; the failed backend's packets stay strays; a
// SYN on the same 5-tuple is a new connection again.
TEST_F(MonitorTest, AfterAResetTheClientsNextSegmentIsResetExactlyAndASynStartsAfresh) {
  connect_then_fail_backend0();
  ASSERT_FALSE(HasFailure());
  const uint64_t assigned = bench().counters().connections_assigned;
  EXPECT_EQ(vip().reset_tuples.size(), 1u);

  sw().forget_log();
  Injection r =
      sw().inject(kClientPort, tcp_seg(kClientMac, kFake, kClientIp, kVip, 40000, 80, pkt::kTcpAck, 900, 5000));
  EXPECT_TRUE(r.outputs().empty()) << "the client's segment reached a backend";
  EXPECT_TRUE(r.flow_mods.empty());
  EXPECT_EQ(bench().counters().connections_assigned, assigned);
  auto to_client = sent([](const pkt::ParsedPacket& p) { return p.l4 == pkt::L4::Tcp && p.ipv4.dst == kClientIp; });
  ASSERT_EQ(to_client.size(), 1u);
  const pkt::ParsedPacket& rst = to_client[0].p;
  EXPECT_EQ(rst.tcp.flags, pkt::kTcpRst);
  EXPECT_EQ(rst.tcp.seq, 5000u);  // the client's ack: the one number it accepts a reset at
  EXPECT_EQ(rst.ipv4.src, kVip);
  EXPECT_EQ(rst.eth_src, kFake);
  EXPECT_EQ(rst.tcp.src_port, 80);
  EXPECT_EQ(rst.tcp.dst_port, 40000);
  EXPECT_EQ(to_client[0].outputs.at(0).port, kClientPort);
  EXPECT_EQ(bench().counters().reset_tuple_resets, 1u);

  // The failed backend's late data is a stray: reset, never forwarded.
  sw().forget_log();
  Frame late = tcp_seg(kBackendMac[0], kFake, kBackendIp[0], kClientIp, 80, 40000, pkt::kTcpAck, 5000, 900, 50);
  Injection l = sw().packet_in(backend_port(0), late);
  EXPECT_TRUE(l.outputs().empty()) << "the failed backend's data reached the client";
  EXPECT_EQ(bench().counters().stray_resets, 1u);

  // The client's own reset is dropped and forgets the connection.
  sw().forget_log();
  sw().inject(kClientPort, tcp_seg(kClientMac, kFake, kClientIp, kVip, 40000, 80, pkt::kTcpRst, 5000, 0));
  EXPECT_TRUE(sw().packet_outs.empty());
  EXPECT_TRUE(vip().reset_tuples.empty());

  // A SYN on the 5-tuple: a new connection, balanced to an available backend.
  auto again = connect(40000);
  ASSERT_TRUE(again);
  EXPECT_NE(*again, 0u);
  EXPECT_EQ(bench().counters().connections_assigned, assigned + 1);
}

// A reset connection is remembered for kResetTupleMemory: after that the
// client's segment is balanced as before (and the new backend resets it).
TEST_F(MonitorTest, AResetConnectionIsForgottenAfterItsMemory) {
  auto listening = connect_then_fail_backend0();
  ASSERT_FALSE(HasFailure());
  ASSERT_EQ(vip().reset_tuples.size(), 1u);
  run_checks(kResetTupleMemory + seconds(1), listening);
  EXPECT_TRUE(vip().reset_tuples.empty());
  Injection r =
      sw().inject(kClientPort, tcp_seg(kClientMac, kFake, kClientIp, kVip, 40000, 80, pkt::kTcpAck, 900, 5000));
  auto outs = r.outputs();
  ASSERT_EQ(outs.size(), 1u);
  EXPECT_NE(outs[0].port, backend_port(0));
  EXPECT_EQ(bench().counters().reset_tuple_resets, 0u);
}

// A zero-window (or keep-alive) probe carries one below what the client
// expects: the stray reset goes out at both numbers, so one is exact.
TEST_F(MonitorTest, AStrayProbeFromTheFailedBackendIsResetAtBothNumbers) {
  connect_then_fail_backend0();
  ASSERT_FALSE(HasFailure());
  sw().forget_log();
  sw().inject(backend_port(0),
              tcp_seg(kBackendMac[0], kFake, kBackendIp[0], kClientIp, 80, 40000, pkt::kTcpAck, 4999, 900));
  auto to_client = sent([](const pkt::ParsedPacket& p) { return p.l4 == pkt::L4::Tcp && p.ipv4.dst == kClientIp; });
  ASSERT_EQ(to_client.size(), 2u);
  std::vector<uint32_t> seqs;
  for (const auto& s : to_client) {
    EXPECT_EQ(s.p.tcp.flags, pkt::kTcpRst);
    seqs.push_back(s.p.tcp.seq);
  }
  std::sort(seqs.begin(), seqs.end());
  EXPECT_EQ(seqs, (std::vector<uint32_t>{4999u, 5000u}));
  // A data segment gives one reset, at its own number.
  sw().forget_log();
  sw().inject(backend_port(0), tcp_seg(kBackendMac[0], kFake, kBackendIp[0], kClientIp, 80, 40000,
                                       pkt::kTcpAck | pkt::kTcpPsh, 5000, 900, 10));
  EXPECT_EQ(sent([](const pkt::ParsedPacket& p) { return p.l4 == pkt::L4::Tcp && p.ipv4.dst == kClientIp; }).size(),
            1u);
}

TEST_F(MonitorTest, NoHealthyBackendRefusesTcpWithAResetAndUdpWithPortUnreachable) {
  BalancerConfig cfg = config();
  cfg.vips[0].port.reset();
  start(cfg);
  run_checks(seconds(8), {false, false, false});
  for (std::size_t b = 0; b < 3; ++b) ASSERT_FALSE(backend(b).available());
  sw().forget_log();
  Injection r = sw().inject(kClientPort, tcp_seg(kClientMac, kFake, kClientIp, kVip, 40000, 80, pkt::kTcpSyn, 77, 0));
  EXPECT_TRUE(r.flow_mods.empty());
  ASSERT_EQ(r.packet_outs.size(), 1u);
  auto rst = pkt::parse(r.packet_outs[0].frame);
  ASSERT_TRUE(rst);
  EXPECT_EQ(rst->tcp.flags, pkt::kTcpRst | pkt::kTcpAck);
  EXPECT_EQ(rst->tcp.ack, 78u);
  EXPECT_EQ(rst->ipv4.src, kVip);
  Injection u = sw().inject(kClientPort, udp_frame(kClientMac, kFake, kClientIp, kVip, 5353, 53));
  ASSERT_EQ(u.packet_outs.size(), 1u);
  auto icmp = pkt::parse(u.packet_outs[0].frame);
  ASSERT_TRUE(icmp);
  EXPECT_EQ(icmp->icmp.type, pkt::kIcmpDestUnreachable);
  EXPECT_EQ(icmp->icmp.code, 3);
  EXPECT_EQ(bench().counters().tcp_resets_sent, 1u);
  EXPECT_EQ(bench().counters().icmp_unreachables_sent, 1u);
}

// Draining through a reload: no new connections, the open one keeps its
// entries and its backend; activating it again brings new connections back.
TEST_F(MonitorTest, DrainKeepsOpenConnectionsAndTakesNoNewOnesUntilActivated) {
  start(config(HealthCheckKind::None));
  ASSERT_EQ(connect(40000), 0u);
  ASSERT_EQ(connect(40001), 1u);
  const std::size_t entries = sw().table().size();
  BalancerConfig cfg = config(HealthCheckKind::None);
  cfg.vips[0].backends[0].mode = BackendMode::Drain;
  bench().balancer().reconfigure(cfg, bench().now(), bench().outbox());
  bench().dispatch();
  EXPECT_EQ(sw().table().size(), entries);
  EXPECT_EQ(backend(0).active, 1u);
  for (uint16_t i = 0; i < 10; ++i) EXPECT_NE(connect(static_cast<uint16_t>(41000 + i)), std::optional<std::size_t>{0});
  // The drained backend's open connection still flows both ways.
  Injection fwd =
      sw().inject(kClientPort, tcp_seg(kClientMac, kFake, kClientIp, kVip, 40000, 80, pkt::kTcpAck, 2, 1, 10));
  ASSERT_EQ(fwd.outputs().size(), 1u);
  EXPECT_EQ(fwd.outputs()[0].port, backend_port(0));
  // Its entries idle out: the connection is dormant and resumes on the same
  // drained backend (drain lets existing connections finish).
  bench().advance(seconds(11));
  Injection again =
      sw().inject(kClientPort, tcp_seg(kClientMac, kFake, kClientIp, kVip, 40000, 80, pkt::kTcpAck, 3, 1, 10));
  ASSERT_EQ(again.outputs().size(), 1u);
  EXPECT_EQ(again.outputs()[0].port, backend_port(0));

  cfg.vips[0].backends[0].mode = BackendMode::Active;
  bench().balancer().reconfigure(cfg, bench().now(), bench().outbox());
  bench().dispatch();
  std::array<int, 3> per{};
  for (uint16_t i = 0; i < 9; ++i) ++per.at(connect(static_cast<uint16_t>(42000 + i)).value_or(0));
  EXPECT_EQ(per, (std::array<int, 3>{3, 3, 3}));
}

// ---- agents ----------------------------------------------------------------------------

class AgentTest : public MonitorTest {
 protected:
  static BalancerConfig agent_config(OnDown on_down = OnDown::KeepFlows) {
    BalancerConfig cfg = config(HealthCheckKind::None, on_down);
    cfg.agent.enabled = true;
    cfg.agent.key = kKey;
    cfg.agent.silence_timeout = seconds(5);
    cfg.vips[0].port.reset();
    return cfg;
  }
  int64_t wall_ms() {
    return std::chrono::duration_cast<milliseconds>(bench().now().time_since_epoch()).count() + kWallOffsetMs;
  }
  agent::Report report(std::size_t b, double cpu, double mem, bool healthy = true) {
    agent::Report r;
    r.healthy = healthy;
    r.seq = ++seq_;
    r.timestamp_ms = static_cast<uint64_t>(wall_ms());
    r.cpu_pct_x100 = static_cast<uint16_t>(cpu * 100);
    r.mem_pct_x100 = static_cast<uint16_t>(mem * 100);
    r.interval_ms = 1000;
    r.sender_ip = kBackendIp[b];
    return r;
  }
  Injection send(std::size_t b, const agent::Report& r, std::span<const uint8_t> key = kKey,
                 std::optional<Ipv4Addr> src = std::nullopt) {
    std::array<uint8_t, agent::kReportLen> payload{};
    EXPECT_EQ(agent::encode(r, key, payload), agent::kReportLen);
    return sw().inject(backend_port(b),
                       udp_frame(kBackendMac[b], kFake, src.value_or(kBackendIp[b]), kVip, 40123, 7070, payload));
  }
  uint64_t seq_ = 0;
};

TEST_F(AgentTest, ReportsFeedTheViewAndAreNeverForwarded) {
  start(agent_config());
  Injection r = send(1, report(1, 42.5, 30));
  EXPECT_TRUE(r.packet_in);
  EXPECT_TRUE(r.outputs().empty());
  EXPECT_TRUE(r.flow_mods.empty());  // not a connection
  EXPECT_EQ(bench().counters().agent_reports_accepted, 1u);
  BackendView v = bench().balancer().view(vip(), backend(1), bench().now());
  ASSERT_TRUE(v.cpu_pct);
  EXPECT_DOUBLE_EQ(*v.cpu_pct, 42.5);
  EXPECT_DOUBLE_EQ(*v.memory_pct, 30);
  // A view reused for another backend (the core's per-decision views) keeps
  // nothing of the one before: backend 0 has sent no report.
  BackendView reused = v;
  bench().balancer().fill_view(reused, vip(), backend(0), bench().now());
  EXPECT_EQ(reused, bench().balancer().view(vip(), backend(0), bench().now()));
  EXPECT_FALSE(reused.cpu_pct);
  bench().balancer().fill_view(reused, vip(), backend(1), bench().now());
  EXPECT_EQ(reused, v);
  // Older than scoring.max_age (5 s): the view no longer has it.
  bench().advance(milliseconds(5100));
  v = bench().balancer().view(vip(), backend(1), bench().now());
  EXPECT_FALSE(v.cpu_pct);
}

TEST_F(AgentTest, BadMacReplayStaleFutureAndForeignSendersAreRejectedAndCounted) {
  start(agent_config());
  const std::vector<uint8_t> other_key(32, 0x11);
  send(0, report(0, 10, 10), other_key);
  EXPECT_EQ(bench().counters().agent_reports_bad_mac, 1u);
  agent::Report good = report(0, 10, 10);
  send(0, good);
  send(0, good);  // replayed
  EXPECT_EQ(bench().counters().agent_reports_accepted, 1u);
  EXPECT_EQ(bench().counters().agent_reports_replayed, 1u);
  agent::Report stale = report(0, 10, 10);
  stale.timestamp_ms -= 60'000;
  send(0, stale);
  agent::Report future = report(0, 10, 10);
  future.timestamp_ms += 60'000;
  send(0, future);
  EXPECT_EQ(bench().counters().agent_reports_stale, 2u);
  // Signed by backend 2's agent, but sent from another address.
  agent::Report spoofed = report(2, 10, 10);
  send(2, spoofed, kKey, ip("10.0.0.99"));
  EXPECT_EQ(bench().counters().agent_reports_not_backend, 1u);
  agent::Report wrong_sender = report(2, 10, 10);
  wrong_sender.sender_ip = kBackendIp[1];
  send(2, wrong_sender);
  EXPECT_EQ(bench().counters().agent_reports_replayed, 2u);  // WrongSender is counted with replays
  EXPECT_FALSE(backend(2).agent);
  EXPECT_EQ(bench().counters().agent_reports_accepted, 1u);
}

TEST_F(AgentTest, SilenceAndUnhealthyReportsTakeABackendOutAndReportsBringItBack) {
  start(agent_config(OnDown::RemoveFlows));
  auto all_report = [&] {
    for (std::size_t b = 0; b < 3; ++b) send(b, report(b, 10, 10));
  };
  all_report();
  ASSERT_EQ(connect(40000), 0u);
  ASSERT_EQ(connect(40001), 1u);
  ASSERT_EQ(connect(40002), 2u);
  // Backend 0's agent reports its service unhealthy: out at once, and its
  // connection's entries removed (on_down: reset).
  send(0, report(0, 10, 10, false));
  EXPECT_FALSE(backend(0).available());
  EXPECT_TRUE(backend(0).agent_unhealthy);
  EXPECT_EQ(backend(0).active, 0u);
  EXPECT_EQ(bench().counters().connections_reset_on_down, 1u);
  for (uint16_t i = 0; i < 6; ++i) EXPECT_NE(connect(static_cast<uint16_t>(41000 + i)), std::optional<std::size_t>{0});
  send(0, report(0, 10, 10, true));
  EXPECT_TRUE(backend(0).available());

  // Backend 2's agent goes quiet: unavailable once silence_timeout passes.
  for (int i = 0; i < 4; ++i) {
    bench().advance(seconds(1));
    send(0, report(0, 10, 10));
    send(1, report(1, 10, 10));
    send(2, report(2, 10, 10));
  }
  for (int i = 0; i < 6; ++i) {
    bench().advance(seconds(1));
    send(0, report(0, 10, 10));
    send(1, report(1, 10, 10));
  }
  EXPECT_TRUE(backend(2).agent_silent);
  EXPECT_FALSE(backend(2).available());
  EXPECT_EQ(backend(2).active, 0u);  // a silent agent is a failure: reset too
  send(2, report(2, 10, 10));
  bench().advance(milliseconds(100));
  EXPECT_FALSE(backend(2).agent_silent);
  EXPECT_TRUE(backend(2).available());
}

// ---- latency probes and port statistics -----------------------------------------------

TEST_F(MonitorTest, LatencyProbesGiveASmoothedRttAndALostProbeCountsAsTheTimeout) {
  BalancerConfig cfg = config(HealthCheckKind::None);
  cfg.monitor.latency_probe_interval = seconds(1);
  cfg.monitor.latency_probe_timeout = milliseconds(500);
  cfg.monitor.rtt_smoothing = 0.5;
  start(cfg);
  auto reply_to = [&](std::size_t b) {
    auto probes = echoes_to(b, 0xf1c1);
    ASSERT_FALSE(probes.empty());
    Frame reply(14 + 20 + 8);
    reply.resize(pkt::build_icmp_echo(reply, {kBackendMac[b], kFake}, {kBackendIp[b], kVip}, pkt::kIcmpEchoReply,
                                      0xf1c1, probes.back().p.icmp.seq, {}));
    Injection r = sw().inject(backend_port(b), reply);
    EXPECT_TRUE(r.outputs().empty());
  };
  bench().advance(milliseconds(100));
  ASSERT_EQ(echoes_to(0, 0xf1c1).size(), 1u);
  EXPECT_EQ(echoes_to(0, 0xf1c1)[0].p.ipv4.src, kVip);
  bench().advance(milliseconds(20));
  reply_to(0);
  ASSERT_TRUE(backend(0).rtt_ms);
  EXPECT_NEAR(*backend(0).rtt_ms, 20.0, 1e-6);
  // Next probe one second after the first; answered after 60 ms: EWMA 0.5.
  sw().forget_log();
  bench().advance(milliseconds(980));
  bench().advance(milliseconds(60));
  reply_to(0);
  EXPECT_NEAR(*backend(0).rtt_ms, 40.0, 1e-6);
  // The next one is lost: a 500 ms sample.
  sw().forget_log();
  bench().advance(milliseconds(1500));
  EXPECT_GE(bench().counters().latency_probes_lost, 1u);
  EXPECT_NEAR(*backend(0).rtt_ms, 270.0, 1e-6);
  // A late reply to an old probe changes nothing.
  const double before = *backend(0).rtt_ms;
  Frame stale(14 + 20 + 8);
  stale.resize(pkt::build_icmp_echo(stale, {kBackendMac[0], kFake}, {kBackendIp[0], kVip}, pkt::kIcmpEchoReply, 0xf1c1,
                                    0x7777, {}));
  sw().inject(backend_port(0), stale);
  EXPECT_DOUBLE_EQ(*backend(0).rtt_ms, before);
}

TEST_F(MonitorTest, PortStatisticsGiveTheTransmitRateAndAvailableBandwidth) {
  BalancerConfig cfg = config(HealthCheckKind::None);
  cfg.monitor.port_stats_interval = seconds(1);
  cfg.vips[0].backends[0].capacity_kbps = 10'000;
  start(cfg);
  bench().advance(seconds(1));
  size_t requests = 0;
  for (const of::Message& m : sw().other) requests += std::holds_alternative<of::PortStatsRequest>(m) ? 1 : 0;
  EXPECT_GE(requests, 1u);
  auto reply = [&](uint64_t tx_bytes) {
    of::PortStatsReply r;
    of::PortStats st;
    st.port_no = backend_port(0);
    st.tx_bytes = tx_bytes;
    r.stats.push_back(st);
    bench().balancer().port_stats(kDpid, r, bench().now());
  };
  reply(1'000'000);
  EXPECT_FALSE(backend(0).tx_kbps);  // one sample is no rate
  bench().advance(seconds(2));
  reply(1'000'000 + 500'000);  // 500 kB in 2 s = 2000 kb/s
  ASSERT_TRUE(backend(0).tx_kbps);
  EXPECT_NEAR(*backend(0).tx_kbps, 2000.0, 1e-6);
  BackendView v = bench().balancer().view(vip(), backend(0), bench().now());
  ASSERT_TRUE(v.avail_bw_kbps);
  EXPECT_NEAR(*v.avail_bw_kbps, 8000.0, 1e-6);
  // Reused for a backend with no port statistics, the view drops the figure.
  BackendView reused = v;
  bench().balancer().fill_view(reused, vip(), backend(1), bench().now());
  EXPECT_FALSE(reused.avail_bw_kbps);
  EXPECT_EQ(reused, bench().balancer().view(vip(), backend(1), bench().now()));
  // A counter that went backwards (port reset) gives no rate.
  bench().advance(seconds(1));
  reply(10);
  EXPECT_NEAR(*backend(0).tx_kbps, 2000.0, 1e-6);
}

}  // namespace
}  // namespace fulcrum::lb::testing
