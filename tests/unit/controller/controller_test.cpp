// Drives the controller's switch sessions over real loopback TCP with a
// scripted switch built on the codec: handshake in both versions, echo,
// errors for malformed input, keepalive timeout, and a reconnecting datapath
// replacing its old session.
#include "controller/controller.hpp"

#include <gtest/gtest.h>

#include <asio.hpp>
#include <chrono>
#include <thread>

#include "balancer/balancer.hpp"
#include "openflow/codec.hpp"
#include "packet/packet.hpp"
#include "unit/controller/scripted_switch.hpp"

namespace fulcrum::ctl {
namespace {

using namespace std::chrono_literals;
using testing::ScriptedSwitch;

class ControllerTest : public ::testing::Test {
 protected:
  void start(ControllerConfig cc = {}) {
    lb::BalancerConfig bc;
    lb::VipSpec vip;
    vip.ip = *Ipv4Addr::parse("10.0.0.100");
    vip.backends = {lb::BackendSpec{*Ipv4Addr::parse("10.0.0.11"), 1}};
    bc.vips = {vip};
    bc.discovery_retry_min = 10s;  // one probe per switch-up, so scripts stay predictable
    // No health checks, latency probes or statistics requests: these tests
    // script the session, not the monitoring.
    bc.vips[0].health.kind = lb::HealthCheckKind::None;
    bc.monitor.latency_probe_interval = lb::Duration::zero();
    bc.monitor.port_stats_interval = lb::Duration::zero();
    balancer_ = std::make_unique<lb::Balancer>(bc, rng_);
    cc.listen_host = "127.0.0.1";
    cc.listen_port = 0;
    controller_ = std::make_unique<Controller>(io_, cc, *balancer_);
    controller_->start();
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    if (controller_) asio::post(io_, [this] { controller_->stop(); });
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }
  uint16_t port() const { return controller_->bound_port(); }
  // Reads the controller's state on its own thread.
  template <typename F>
  auto on_loop(F f) {
    std::promise<decltype(f())> p;
    asio::post(io_, [&] { p.set_value(f()); });
    return p.get_future().get();
  }

  lb::Xoshiro256 rng_{1};
  asio::io_context io_;
  std::unique_ptr<lb::Balancer> balancer_;
  std::unique_ptr<Controller> controller_;
  std::thread thread_;
};

TEST_F(ControllerTest, HandshakeOpenFlow13) {
  start();
  ScriptedSwitch sw(port(), of::Version::V13);
  ASSERT_TRUE(sw.handshake(0x42));
  EXPECT_EQ(on_loop([&] { return controller_->switches_up(); }), 1u);
  EXPECT_NE(on_loop([&] { return balancer_->find_switch(0x42) != nullptr; }), false);
}

TEST_F(ControllerTest, HandshakeOpenFlow10) {
  start();
  ScriptedSwitch sw(port(), of::Version::V10);
  ASSERT_TRUE(sw.handshake(0x10));
  EXPECT_TRUE(on_loop([&] { return balancer_->find_switch(0x10) != nullptr; }));
}

TEST_F(ControllerTest, HelloCarriesBothVersions) {
  start();
  ScriptedSwitch sw(port(), of::Version::V13);
  auto hello = sw.expect<of::Hello>();
  ASSERT_TRUE(hello);
  EXPECT_EQ(hello->first.version, 0x04);
  EXPECT_EQ(hello->second.version_bitmap, of::version_bit(of::Version::V10) | of::version_bit(of::Version::V13));
}

TEST_F(ControllerTest, IncompatibleVersionGetsHelloFailedAndClose) {
  ControllerConfig cc;
  cc.version_bitmap = of::version_bit(of::Version::V13);
  start(cc);
  ScriptedSwitch sw(port(), of::Version::V10);
  ASSERT_TRUE(sw.expect<of::Hello>());
  sw.send(of::Hello{});  // a 1.0-only switch
  auto err = sw.expect<of::ErrorMsg>();
  ASSERT_TRUE(err);
  EXPECT_EQ(err->second.type, 0);  // OFPET_HELLO_FAILED
  EXPECT_TRUE(sw.wait_closed(2s));
}

TEST_F(ControllerTest, EchoRequestIsAnsweredWithSameXidAndData) {
  start();
  ScriptedSwitch sw(port(), of::Version::V13);
  ASSERT_TRUE(sw.handshake(1));
  const std::array<uint8_t, 3> data{1, 2, 3};
  sw.send(of::EchoRequest{data}, 777);
  auto reply = sw.expect<of::EchoReply>();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->first.xid, 777u);
  ASSERT_EQ(reply->second.data.size(), 3u);
  EXPECT_EQ(reply->second.data[2], 3);
}

TEST_F(ControllerTest, UnknownTypeGetsErrorAndSessionSurvives) {
  start();
  ScriptedSwitch sw(port(), of::Version::V13);
  ASSERT_TRUE(sw.handshake(1));
  const std::array<uint8_t, 8> bogus{0x04, 0xee, 0x00, 0x08, 0, 0, 0, 9};
  sw.send_raw(bogus);
  auto err = sw.expect<of::ErrorMsg>();
  ASSERT_TRUE(err);
  EXPECT_EQ(err->second.type, 1);  // OFPET_BAD_REQUEST
  EXPECT_EQ(err->second.code, 1);  // OFPBRC_BAD_TYPE
  sw.send(of::EchoRequest{}, 5);
  EXPECT_TRUE(sw.expect<of::EchoReply>());
}

TEST_F(ControllerTest, BrokenFramingClosesOnlyThatSwitch) {
  start();
  ScriptedSwitch good(port(), of::Version::V13);
  ASSERT_TRUE(good.handshake(1));
  ScriptedSwitch bad(port(), of::Version::V13);
  ASSERT_TRUE(bad.handshake(2));
  const std::array<uint8_t, 8> short_len{0x04, 0x02, 0x00, 0x04, 0, 0, 0, 1};  // length 4 < header
  bad.send_raw(short_len);
  EXPECT_TRUE(bad.wait_closed(2s));
  good.send(of::EchoRequest{}, 9);
  EXPECT_TRUE(good.expect<of::EchoReply>());
  EXPECT_TRUE(on_loop([&] { return balancer_->find_switch(1) != nullptr && balancer_->find_switch(2) == nullptr; }));
}

TEST_F(ControllerTest, GarbageFloodIsDropped) {
  start();
  ScriptedSwitch sw(port(), of::Version::V13);
  ASSERT_TRUE(sw.handshake(1));
  // 100 well-framed messages of an unknown type: each earns an error, then the switch is dropped.
  std::vector<uint8_t> flood;
  for (int i = 0; i < 100; ++i) flood.insert(flood.end(), {0x04, 0xee, 0x00, 0x08, 0, 0, 0, 1});
  sw.send_raw(flood);
  EXPECT_TRUE(sw.wait_closed(3s));
}

TEST_F(ControllerTest, SilentSwitchIsProbedThenDropped) {
  ControllerConfig cc;
  cc.echo_interval = 200ms;
  cc.echo_timeout = 600ms;
  start(cc);
  ScriptedSwitch sw(port(), of::Version::V13);
  ASSERT_TRUE(sw.handshake(1));
  auto echo = sw.expect<of::EchoRequest>(2s);
  EXPECT_TRUE(echo.has_value());
  EXPECT_TRUE(sw.wait_closed(3s));
}

TEST_F(ControllerTest, HandshakeTimeout) {
  ControllerConfig cc;
  cc.handshake_timeout = 300ms;
  start(cc);
  ScriptedSwitch sw(port(), of::Version::V13);
  ASSERT_TRUE(sw.expect<of::Hello>());
  EXPECT_TRUE(sw.wait_closed(3s));  // never answers the hello
}

TEST_F(ControllerTest, ReconnectingDatapathReplacesOldSession) {
  start();
  ScriptedSwitch first(port(), of::Version::V13);
  ASSERT_TRUE(first.handshake(7));
  ScriptedSwitch second(port(), of::Version::V13);
  ASSERT_TRUE(second.handshake(7));
  EXPECT_TRUE(first.wait_closed(2s));
  EXPECT_EQ(on_loop([&] { return controller_->switches_up(); }), 1u);
  second.send(of::EchoRequest{}, 3);
  EXPECT_TRUE(second.expect<of::EchoReply>());
}

TEST_F(ControllerTest, ClientArpPacketInIsAnsweredThroughTheBalancer) {
  start();
  ScriptedSwitch sw(port(), of::Version::V13);
  ASSERT_TRUE(sw.handshake(1));
  // Client ARP for the VIP: Fulcrum answers with a packet-out.
  std::array<uint8_t, 64> frame{};
  auto client_mac = *MacAddr::parse("00:00:00:00:00:01");
  std::size_t n = pkt::build_arp(frame, {client_mac, MacAddr::broadcast()}, pkt::kArpRequest, client_mac,
                                 *Ipv4Addr::parse("10.0.0.1"), MacAddr{}, *Ipv4Addr::parse("10.0.0.100"));
  of::PacketIn pin;
  pin.in_port = 1;
  pin.total_len = static_cast<uint16_t>(n);
  pin.data = std::span<const uint8_t>(frame.data(), n);
  sw.send(pin);
  auto po = sw.expect<of::PacketOut>();
  ASSERT_TRUE(po);
  auto parsed = pkt::parse(po->second.data);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->arp.op, pkt::kArpReply);
  EXPECT_EQ(parsed->arp.sha.str(), "02:00:00:00:00:fe");
}

// The session takes the frames of one read in batches (packet-ins decoded,
// parsed and their connection slots prefetched before the first is handled):
// a burst of 20 packet-ins and 7 echo requests in one write, across three
// batches, is answered in full and in order.
TEST_F(ControllerTest, ABurstInOneWriteIsAnsweredInOrderAcrossLookAheadBatches) {
  start();
  ScriptedSwitch sw(port(), of::Version::V13);
  ASSERT_TRUE(sw.handshake(1));
  constexpr uint32_t kArps = 20;
  std::vector<uint8_t> burst;
  std::vector<uint32_t> echo_xids;
  for (uint32_t i = 0; i < kArps; ++i) {
    std::array<uint8_t, 64> frame{};
    const MacAddr mac{{0, 0, 0, 0, 1, static_cast<uint8_t>(i + 1)}};
    const Ipv4Addr ip{0x0a000101u + i};  // 10.0.1.1, 10.0.1.2, ...
    const std::size_t n = pkt::build_arp(frame, {mac, MacAddr::broadcast()}, pkt::kArpRequest, mac, ip, MacAddr{},
                                         *Ipv4Addr::parse("10.0.0.100"));
    of::PacketIn pin;
    pin.in_port = 1;
    pin.total_len = static_cast<uint16_t>(n);
    pin.data = std::span<const uint8_t>(frame.data(), n);
    std::vector<uint8_t> bytes;
    ASSERT_TRUE(of::encode(of::Version::V13, 100 + i, of::Message{pin}, bytes).ok());
    burst.insert(burst.end(), bytes.begin(), bytes.end());
    if (i % 3 == 0) {
      bytes.clear();
      ASSERT_TRUE(of::encode(of::Version::V13, 1000 + i, of::Message{of::EchoRequest{}}, bytes).ok());
      burst.insert(burst.end(), bytes.begin(), bytes.end());
      echo_xids.push_back(1000 + i);
    }
  }
  sw.send_raw(burst);
  std::vector<uint32_t> answered_ips, answered_echoes;
  while (answered_ips.size() < kArps || answered_echoes.size() < echo_xids.size()) {
    auto d = sw.recv();
    ASSERT_TRUE(d) << answered_ips.size() << " ARP replies and " << answered_echoes.size() << " echo replies";
    if (const auto* po = std::get_if<of::PacketOut>(&d->msg)) {
      auto parsed = pkt::parse(po->data);
      ASSERT_TRUE(parsed.ok());
      ASSERT_EQ(parsed->arp.op, pkt::kArpReply);
      answered_ips.push_back(parsed->arp.tpa.v);
    } else if (std::holds_alternative<of::EchoReply>(d->msg)) {
      answered_echoes.push_back(d->header.xid);
    } else {
      ADD_FAILURE() << "unexpected " << of::message_name(d->msg);
    }
  }
  for (uint32_t i = 0; i < kArps; ++i) EXPECT_EQ(answered_ips[i], 0x0a000101u + i) << i;
  EXPECT_EQ(answered_echoes, echo_xids);
}

}  // namespace
}  // namespace fulcrum::ctl
