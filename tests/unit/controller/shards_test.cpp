// ctl::Shards over real loopback TCP with scripted switches: with two
// threads, two switches land on different shards and each shard's balancer
// makes the decisions for its own switch; the API's parked read sees both; a
// configuration change reaches every shard; a datapath reconnecting onto the
// other shard replaces its old connection there, whichever comes up first.
#include "controller/shards.hpp"

#include <gtest/gtest.h>

#include <asio.hpp>
#include <chrono>
#include <future>
#include <thread>

#include "packet/packet.hpp"
#include "unit/balancer/frames.hpp"
#include "unit/controller/scripted_switch.hpp"

namespace fulcrum::ctl {
namespace {

using namespace std::chrono_literals;
using lb::testing::arp_reply;
using lb::testing::ip;
using lb::testing::mac;
using lb::testing::tcp_frame;
using testing::ScriptedSwitch;

lb::BalancerConfig balancer_config() {
  lb::BalancerConfig bc;
  lb::VipSpec vip;
  vip.ip = ip("10.0.0.100");
  vip.backends = {lb::BackendSpec{ip("10.0.0.11"), 1}};
  bc.vips = {vip};
  bc.discovery_retry_min = 10s;
  bc.vips[0].health.kind = lb::HealthCheckKind::None;
  bc.monitor.latency_probe_interval = lb::Duration::zero();
  bc.monitor.port_stats_interval = lb::Duration::zero();
  return bc;
}

class ShardsTest : public ::testing::Test {
 protected:
  void start(std::size_t threads) {
    ControllerConfig cc;
    cc.listen_host = "127.0.0.1";
    cc.listen_port = 0;
    shards_ = std::make_unique<Shards>(threads, cc, balancer_config(), 1);
    shards_->start();
    thread_ = std::thread([this] { shards_->run(); });
  }
  void TearDown() override {
    if (shards_) asio::post(shards_->io(), [this] { shards_->stop(); });
    if (thread_.joinable()) thread_.join();
  }
  // Runs f on shard 0's thread with every other shard parked, as the API does.
  template <typename F>
  auto parked(F f) {
    std::promise<decltype(f())> p;
    asio::post(shards_->io(), [&] { shards_->parked([&] { p.set_value(f()); }); });
    return p.get_future().get();
  }
  // The shard whose balancer has `dpid`, or -1.
  int shard_of(lb::Dpid dpid) {
    return parked([&] {
      for (std::size_t i = 0; i < shards_->size(); ++i) {
        if (shards_->balancer(i).find_switch(dpid) != nullptr) return static_cast<int>(i);
      }
      return -1;
    });
  }

  std::unique_ptr<Shards> shards_;
  std::thread thread_;
};

// Answers the discovery probe (backend 10.0.0.11 on port 2), then sends a
// client's SYN to the VIP on port 1 and expects the decision: flow entries
// and the packet-out of the SYN.
void decide(ScriptedSwitch& sw, uint16_t sport) {
  auto probe = pkt::parse(sw.probe());
  ASSERT_TRUE(probe.ok());
  const MacAddr backend = mac("00:00:00:00:00:11");
  auto reply = arp_reply(backend, ip("10.0.0.11"), probe->arp.sha, probe->arp.spa);
  of::PacketIn arp;
  arp.in_port = 2;
  arp.total_len = static_cast<uint16_t>(reply.size());
  arp.data = reply;
  sw.send(arp);
  auto syn = tcp_frame(mac("00:00:00:00:00:01"), mac("02:00:00:00:00:fe"), ip("10.1.0.1"), ip("10.0.0.100"), sport, 80);
  of::PacketIn pin;
  pin.in_port = 1;
  pin.total_len = static_cast<uint16_t>(syn.size());
  pin.data = syn;
  sw.send(pin);
  // The learned backend's L2 entry may come first; the decision ends with
  // the SYN's packet-out to port 2.
  for (int i = 0; i < 8; ++i) {
    auto d = sw.recv();
    ASSERT_TRUE(d.has_value()) << "no decision";
    if (std::holds_alternative<of::PacketOut>(d->msg)) return;
  }
  FAIL() << "no packet-out for the SYN";
}

TEST_F(ShardsTest, TwoSwitchesLandOnDifferentShardsAndBothGetDecisions) {
  start(2);
  ScriptedSwitch a(shards_->bound_port(), of::Version::V13);
  ASSERT_TRUE(a.handshake(1, 2));
  ScriptedSwitch b(shards_->bound_port(), of::Version::V13);
  ASSERT_TRUE(b.handshake(2, 2));
  const int sa = shard_of(1);
  const int sb = shard_of(2);
  ASSERT_NE(sa, -1);
  ASSERT_NE(sb, -1);
  EXPECT_NE(sa, sb);

  decide(a, 40000);
  decide(b, 40001);
  // Each decision was made by the shard that owns the switch.
  auto assigned = parked([&] {
    return std::make_pair(shards_->balancer(static_cast<std::size_t>(sa)).counters().connections_assigned,
                          shards_->balancer(static_cast<std::size_t>(sb)).counters().connections_assigned);
  });
  EXPECT_EQ(assigned.first, 1u);
  EXPECT_EQ(assigned.second, 1u);
  auto accepted = parked([&] {
    return std::make_pair(shards_->controller(0).counters().sessions_accepted,
                          shards_->controller(1).counters().sessions_accepted);
  });
  EXPECT_EQ(accepted.first, 1u);
  EXPECT_EQ(accepted.second, 1u);
}

TEST_F(ShardsTest, OneThreadKeepsEverythingOnShardZero) {
  start(1);
  ScriptedSwitch a(shards_->bound_port(), of::Version::V13);
  ASSERT_TRUE(a.handshake(1, 2));
  ScriptedSwitch b(shards_->bound_port(), of::Version::V13);
  ASSERT_TRUE(b.handshake(2, 2));
  EXPECT_EQ(shard_of(1), 0);
  EXPECT_EQ(shard_of(2), 0);
  decide(a, 40000);
  decide(b, 40001);
  EXPECT_EQ(parked([&] { return shards_->balancer(0).counters().connections_assigned; }), 2u);
}

TEST_F(ShardsTest, ParkedReconfigureReachesEveryShard) {
  start(3);
  auto bc = balancer_config();
  bc.vips[0].backends.push_back(lb::BackendSpec{ip("10.0.0.12"), 1});
  parked([&] {
    shards_->reconfigure_parked(bc);
    return 0;
  });
  auto sizes = parked([&] {
    std::vector<std::size_t> n;
    for (std::size_t i = 0; i < shards_->size(); ++i)
      n.push_back(shards_->balancer(i).config().vips[0].backends.size());
    return n;
  });
  EXPECT_EQ(sizes, (std::vector<std::size_t>{2, 2, 2}));
  // The posted path (SIGHUP) too.
  bc.vips[0].backends.pop_back();
  std::promise<void> done;
  asio::post(shards_->io(), [&] {
    shards_->reconfigure(bc);
    done.set_value();
  });
  done.get_future().get();
  for (int tries = 0; tries < 100; ++tries) {
    sizes = parked([&] {
      std::vector<std::size_t> n;
      for (std::size_t i = 0; i < shards_->size(); ++i) {
        n.push_back(shards_->balancer(i).config().vips[0].backends.size());
      }
      return n;
    });
    if (sizes == std::vector<std::size_t>{1, 1, 1}) break;
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(sizes, (std::vector<std::size_t>{1, 1, 1}));
}

TEST_F(ShardsTest, ReconnectOnAnotherShardReplacesTheOldConnection) {
  start(2);
  ScriptedSwitch first(shards_->bound_port(), of::Version::V13);
  ASSERT_TRUE(first.handshake(7, 2));
  const int s_first = shard_of(7);
  // The second connection goes to the other shard (fewest connections).
  ScriptedSwitch second(shards_->bound_port(), of::Version::V13);
  ASSERT_TRUE(second.handshake(7, 2));
  EXPECT_TRUE(first.wait_closed(2s));
  auto where = parked([&] {
    std::vector<std::size_t> n;
    for (std::size_t i = 0; i < shards_->size(); ++i) n.push_back(shards_->controller(i).switches_up());
    return n;
  });
  std::vector<std::size_t> expected{1, 1};
  expected[static_cast<std::size_t>(s_first)] = 0;
  EXPECT_EQ(where, expected);
  EXPECT_EQ(shard_of(7), 1 - s_first);
  second.send(of::EchoRequest{}, 3);
  EXPECT_TRUE(second.expect<of::EchoReply>());
}

TEST_F(ShardsTest, OlderConnectionCompletingItsHandshakeLastGivesWay) {
  start(2);
  // Both connect (shard 0, then shard 1); the newer one completes its
  // handshake first, so the older one, coming up later, is closed.
  ScriptedSwitch older(shards_->bound_port(), of::Version::V13);
  ScriptedSwitch newer(shards_->bound_port(), of::Version::V13);
  ASSERT_TRUE(newer.handshake(9, 2));
  EXPECT_FALSE(older.handshake(9, 2));
  EXPECT_TRUE(older.wait_closed(2s));
  auto up = parked([&] { return shards_->controller(0).switches_up() + shards_->controller(1).switches_up(); });
  EXPECT_EQ(up, 1u);
  newer.send(of::EchoRequest{}, 3);
  EXPECT_TRUE(newer.expect<of::EchoReply>());
}

}  // namespace
}  // namespace fulcrum::ctl
