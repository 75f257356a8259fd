// Microbenchmarks of Fulcrum's hot path (Google Benchmark).
//
//   codec:    decode a packet-in (60-byte TCP SYN), encode the load balancer's
//             forward flow-mod and its packet-out, in OpenFlow 1.0 and 1.3;
//             frame a stream of 64 packet-ins
//   packet:   parse ARP / TCP SYN / UDP, build an ARP reply
//   policies: pick() of round-robin and random over 3 and 64 backends
//   core:     one full decision (Balancer::packet_in for a new connection +
//             encoding of the messages it emits), with a growing connection
//             table and with the connection ended by flow_removed each time
//             (stable table); also wire-to-wire (decode + decide + encode)
//
// Run: build/release/bin/fulcrum-micro [--benchmark_filter=Decision]
// items_per_second is the figure to read (messages, frames, picks, decisions).
#include <benchmark/benchmark.h>
#include <spdlog/spdlog.h>

#include <array>
#include <chrono>
#include <cstring>
#include <vector>

#include "balancer/balancer.hpp"
#include "balancer/outbox.hpp"
#include "balancer/policy.hpp"
#include "balancer/rng.hpp"
#include "openflow/codec.hpp"
#include "packet/packet.hpp"

namespace {

using namespace fulcrum;

MacAddr mac(const char* s) { return MacAddr::parse(s).value(); }
Ipv4Addr ip(const char* s) { return Ipv4Addr::parse(s).value(); }

const MacAddr kClientMac = mac("00:00:00:00:00:01");
const Ipv4Addr kClientIp = ip("10.0.0.1");
const Ipv4Addr kVip = ip("10.0.0.100");
const MacAddr kFakeMac = mac("02:00:00:00:00:fe");

constexpr std::size_t kSynLen = 60;  // 54-byte SYN padded to the Ethernet minimum

// Client SYN to the VIP, padded with zeros to 60 bytes as a NIC would.
std::vector<uint8_t> syn_frame(Ipv4Addr src, uint16_t sport) {
  std::vector<uint8_t> f(kSynLen, 0);
  std::size_t n =
      pkt::build_tcp(f, {kClientMac, kFakeMac}, {src, kVip}, {sport, 80, 12345, 0, pkt::kTcpSyn, 64240}, {});
  (void)n;  // 54: the rest stays as Ethernet padding
  return f;
}

// Writes client IP and source port into a SYN built by syn_frame() (the
// checksums go stale; nothing on the decision path verifies them).
void set_tuple(std::span<uint8_t> f, uint32_t client_ip, uint16_t sport) {
  f[26] = static_cast<uint8_t>(client_ip >> 24);
  f[27] = static_cast<uint8_t>(client_ip >> 16);
  f[28] = static_cast<uint8_t>(client_ip >> 8);
  f[29] = static_cast<uint8_t>(client_ip);
  f[34] = static_cast<uint8_t>(sport >> 8);
  f[35] = static_cast<uint8_t>(sport);
}

of::Version version_arg(const benchmark::State& st) { return st.range(0) == 10 ? of::Version::V10 : of::Version::V13; }

std::vector<uint8_t> encode_one(of::Version v, const of::Message& m) {
  std::vector<uint8_t> out;
  if (!of::encode(v, 1, m, out)) std::abort();
  return out;
}

of::FlowMod forward_flow_mod() {
  of::FlowMod fm;
  fm.cookie = 0x0000ab0000000002ULL;
  fm.priority = 100;
  fm.idle_timeout = 10;
  fm.flags = of::kFlowSendFlowRem;
  fm.match.in_port = 1;
  fm.match.eth_type = pkt::kEthTypeIpv4;
  fm.match.ip_proto = pkt::kIpProtoTcp;
  fm.match.ipv4_src = kClientIp;
  fm.match.ipv4_dst = kVip;
  fm.match.tp_src = 40000;
  fm.match.tp_dst = 80;
  fm.actions = {of::ActSetEthSrc{kFakeMac}, of::ActSetEthDst{mac("00:00:00:00:00:11")},
                of::ActSetIpv4Dst{ip("10.0.0.11")}, of::ActOutput{11, 0}};
  return fm;
}

// ---- codec ------------------------------------------------------------------

void BM_DecodePacketIn(benchmark::State& st) {
  auto frame = syn_frame(kClientIp, 40000);
  of::PacketIn pin;
  pin.in_port = 1;
  pin.total_len = kSynLen;
  pin.data = frame;
  auto wire = encode_one(version_arg(st), pin);
  for (auto _ : st) {
    auto d = of::decode(wire);
    benchmark::DoNotOptimize(d);
  }
  st.SetItemsProcessed(st.iterations());
  st.SetBytesProcessed(st.iterations() * static_cast<int64_t>(wire.size()));
}
BENCHMARK(BM_DecodePacketIn)->Arg(10)->Arg(13);

void BM_EncodeFlowMod(benchmark::State& st) {
  const of::Version v = version_arg(st);
  const of::Message m{forward_flow_mod()};
  Bytes out;  // as the controller's session buffer
  out.reserve(256);
  for (auto _ : st) {
    out.clear();
    auto r = of::encode(v, 7, m, out);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(out.data());
  }
  st.SetItemsProcessed(st.iterations());
  st.counters["bytes"] = static_cast<double>(out.size());
}
BENCHMARK(BM_EncodeFlowMod)->Arg(10)->Arg(13);

void BM_EncodePacketOut(benchmark::State& st) {
  const of::Version v = version_arg(st);
  auto frame = syn_frame(kClientIp, 40000);
  of::PacketOut po;
  po.in_port = 1;
  po.data = frame;
  po.actions = {of::ActSetEthSrc{kFakeMac}, of::ActSetEthDst{mac("00:00:00:00:00:11")},
                of::ActSetIpv4Dst{ip("10.0.0.11")}, of::ActOutput{11, 0}};
  const of::Message m{po};
  Bytes out;
  out.reserve(256);
  for (auto _ : st) {
    out.clear();
    auto r = of::encode(v, 7, m, out);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(out.data());
  }
  st.SetItemsProcessed(st.iterations());
  st.counters["bytes"] = static_cast<double>(out.size());
}
BENCHMARK(BM_EncodePacketOut)->Arg(10)->Arg(13);

// Framer over one read of 64 back-to-back packet-ins (framing only, then
// framing + decode of each).
void framer_stream(benchmark::State& st, bool decode) {
  const of::Version v = version_arg(st);
  std::vector<uint8_t> stream;
  for (uint16_t i = 0; i < 64; ++i) {
    auto frame = syn_frame(kClientIp, static_cast<uint16_t>(40000 + i));
    of::PacketIn pin;
    pin.in_port = 1;
    pin.total_len = kSynLen;
    pin.data = frame;
    if (!of::encode(v, i, pin, stream)) std::abort();
  }
  of::Framer framer;
  for (auto _ : st) {
    framer.feed(stream);
    int frames = 0;
    while (true) {
      auto n = framer.next();
      if (n.status != of::Framer::Status::Frame) break;
      ++frames;
      if (decode) {
        auto d = of::decode(n.frame);
        benchmark::DoNotOptimize(d);
      }
    }
    if (frames != 64) st.SkipWithError("framer lost frames");
  }
  st.SetItemsProcessed(st.iterations() * 64);
  st.SetBytesProcessed(st.iterations() * static_cast<int64_t>(stream.size()));
}
void BM_Framer64PacketIns(benchmark::State& st) { framer_stream(st, false); }
void BM_Framer64PacketInsDecode(benchmark::State& st) { framer_stream(st, true); }
BENCHMARK(BM_Framer64PacketIns)->Arg(10)->Arg(13);
BENCHMARK(BM_Framer64PacketInsDecode)->Arg(10)->Arg(13);

// ---- packet -----------------------------------------------------------------

void parse_bench(benchmark::State& st, const std::vector<uint8_t>& frame) {
  for (auto _ : st) {
    auto p = pkt::parse(frame);
    benchmark::DoNotOptimize(p);
  }
  st.SetItemsProcessed(st.iterations());
}

void BM_ParseArp(benchmark::State& st) {
  std::vector<uint8_t> f(pkt::kArpFrameLen);
  pkt::build_arp(f, {kClientMac, MacAddr::broadcast()}, pkt::kArpRequest, kClientMac, kClientIp, MacAddr{}, kVip);
  parse_bench(st, f);
}
BENCHMARK(BM_ParseArp);

void BM_ParseTcpSyn(benchmark::State& st) { parse_bench(st, syn_frame(kClientIp, 40000)); }
BENCHMARK(BM_ParseTcpSyn);

void BM_ParseUdp(benchmark::State& st) {
  std::array<uint8_t, 32> payload{};
  std::vector<uint8_t> f(14 + 20 + 8 + payload.size());
  pkt::build_udp(f, {kClientMac, kFakeMac}, {kClientIp, kVip}, 40000, 53, payload);
  parse_bench(st, f);
}
BENCHMARK(BM_ParseUdp);

void BM_BuildArp(benchmark::State& st) {
  std::array<uint8_t, pkt::kArpFrameLen> buf{};
  for (auto _ : st) {
    auto n = pkt::build_arp(buf, {kFakeMac, kClientMac}, pkt::kArpReply, kFakeMac, kVip, kClientMac, kClientIp);
    benchmark::DoNotOptimize(n);
    benchmark::DoNotOptimize(buf.data());
  }
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_BuildArp);

// ---- policies -----------------------------------------------------------------

void policy_bench(benchmark::State& st, lb::PolicyKind kind) {
  lb::Xoshiro256 rng(42);
  auto policy = lb::make_policy(kind, rng);
  lb::BackendView view;
  view.weight = 1;
  view.available = true;
  std::vector<lb::BackendView> pool(static_cast<std::size_t>(st.range(0)), view);
  lb::ConnKey key{pkt::kIpProtoTcp, kClientIp, 40000, kVip, 80};
  for (auto _ : st) {
    ++key.client_port;
    auto idx = policy->pick(pool, key);
    benchmark::DoNotOptimize(idx);
  }
  st.SetItemsProcessed(st.iterations());
}
void BM_PolicyRoundRobin(benchmark::State& st) { policy_bench(st, lb::PolicyKind::RoundRobin); }
void BM_PolicyRandom(benchmark::State& st) { policy_bench(st, lb::PolicyKind::Random); }
BENCHMARK(BM_PolicyRoundRobin)->Arg(3)->Arg(64);
BENCHMARK(BM_PolicyRandom)->Arg(3)->Arg(64);

// ---- core: one full decision --------------------------------------------------

// A balancer with one switch (dpid 1, ports 1..13), one VIP and three
// learned backends (10.0.0.11-13 on ports 11-13), as after discovery.
struct Core {
  lb::Xoshiro256 rng{1};
  lb::Balancer balancer;
  lb::Outbox out;
  Bytes wire;  // as the controller's session buffer
  lb::TimePoint now = lb::Clock::now();

  static lb::BalancerConfig config(lb::PolicyKind policy) {
    lb::BalancerConfig c;
    lb::VipSpec v;
    v.name = "bench";
    v.ip = kVip;
    v.policy = policy;
    v.backends = {{ip("10.0.0.11"), 1}, {ip("10.0.0.12"), 1}, {ip("10.0.0.13"), 1}};
    c.vips = {v};
    c.idle_timeout_s = 60;
    // An idled-out connection ends at once (the default keeps it dormant for
    // 300 s, and the *Stable variants' table would grow like the others').
    c.connection_linger = std::chrono::seconds(0);
    return c;
  }

  explicit Core(lb::PolicyKind policy) : balancer(config(policy), rng) {
    std::vector<of::PortDesc> ports;
    for (of::PortNo p : {1u, 2u, 3u, 11u, 12u, 13u}) {
      of::PortDesc d;
      d.port_no = p;
      d.name = "p" + std::to_string(p);
      ports.push_back(d);
    }
    balancer.switch_up(1, ports, now, out);
    out.clear();
    for (int i = 0; i < 3; ++i) {
      MacAddr bmac{{0, 0, 0, 0, 0, static_cast<uint8_t>(0x11 + i)}};
      Ipv4Addr bip{kVip.v - 100 + 11 + static_cast<uint32_t>(i)};
      std::vector<uint8_t> f(pkt::kArpFrameLen);
      pkt::build_arp(f, {bmac, kFakeMac}, pkt::kArpReply, bmac, bip, kFakeMac, kVip);
      of::PacketIn pin;
      pin.in_port = 11 + static_cast<of::PortNo>(i);
      pin.total_len = static_cast<uint16_t>(f.size());
      pin.data = f;
      balancer.packet_in(1, pin, now, out);
    }
    out.clear();
    wire.reserve(64 * 1024);
  }

  // Encodes what the core emitted, as the controller's session would; returns
  // the number of messages.
  std::size_t encode_all(of::Version v) {
    std::size_t n = 0;
    for (const auto& item : out.items()) {
      if (!of::encode(v, 1, item.msg, wire)) std::abort();
      ++n;
    }
    return n;
  }
};

enum class EndMode { Keep, FlowRemoved };

void decision_bench(benchmark::State& st, lb::PolicyKind policy, EndMode end, bool from_wire) {
  spdlog::set_level(spdlog::level::warn);
  const of::Version v = version_arg(st);
  Core core(policy);
  auto frame = syn_frame(kClientIp, 1);
  uint32_t client = kClientIp.v;
  uint16_t sport = 1024;
  std::vector<uint8_t> pin_wire;
  std::size_t messages = 0;
  for (auto _ : st) {
    // A new 5-tuple every iteration: 64512 source ports per client IP.
    if (++sport == 0) {
      sport = 1024;
      ++client;
    }
    set_tuple(frame, client, sport);
    core.out.clear();
    core.wire.clear();
    if (from_wire) {
      of::PacketIn pin;
      pin.in_port = 1;
      pin.total_len = kSynLen;
      pin.data = frame;
      pin_wire.clear();
      if (!of::encode(v, 1, pin, pin_wire)) std::abort();
      auto d = of::decode(pin_wire);
      core.balancer.packet_in(1, std::get<of::PacketIn>(d->msg), core.now, core.out);
    } else {
      of::PacketIn pin;
      pin.in_port = 1;
      pin.total_len = kSynLen;
      pin.data = frame;
      core.balancer.packet_in(1, pin, core.now, core.out);
    }
    if (end == EndMode::FlowRemoved) {
      // The forward entry idles out: the switch reports it, the core ends the
      // connection and deletes the return entry.
      const auto& fm = std::get<of::FlowMod>(core.out.items().front().msg);
      of::FlowRemoved fr;
      fr.cookie = fm.cookie;
      fr.priority = fm.priority;
      fr.match = fm.match;
      core.balancer.flow_removed(1, fr, core.now, core.out);
    }
    messages += core.encode_all(v);
    benchmark::DoNotOptimize(core.wire.data());
  }
  st.SetItemsProcessed(st.iterations());
  st.counters["msgs_per_iter"] =
      st.iterations() ? static_cast<double>(messages) / static_cast<double>(st.iterations()) : 0;
  const auto* sw = core.balancer.find_switch(1);
  st.counters["connections"] = sw ? static_cast<double>(sw->vips[0].connections.size()) : 0;
  if (core.balancer.counters().connections_assigned == 0) st.SkipWithError("no connection assigned");
}

void BM_DecisionRoundRobin(benchmark::State& st) {
  decision_bench(st, lb::PolicyKind::RoundRobin, EndMode::Keep, false);
}
void BM_DecisionRandom(benchmark::State& st) { decision_bench(st, lb::PolicyKind::Random, EndMode::Keep, false); }
void BM_DecisionRoundRobinStable(benchmark::State& st) {
  decision_bench(st, lb::PolicyKind::RoundRobin, EndMode::FlowRemoved, false);
}
void BM_DecisionWireToWire(benchmark::State& st) {
  decision_bench(st, lb::PolicyKind::RoundRobin, EndMode::FlowRemoved, true);
}
BENCHMARK(BM_DecisionRoundRobin)->Arg(10)->Arg(13);
BENCHMARK(BM_DecisionRandom)->Arg(10)->Arg(13);
BENCHMARK(BM_DecisionRoundRobinStable)->Arg(10)->Arg(13);
BENCHMARK(BM_DecisionWireToWire)->Arg(10)->Arg(13);

}  // namespace

BENCHMARK_MAIN();
