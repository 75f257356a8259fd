// A fake OpenFlow datapath for balancer tests, in the spirit of faucet's
// tests/unit/faucet/fakeoftable.py.
//
// FakeFlowTable applies FlowMods the way a switch does (the subset of
// OpenFlow the core uses), ages entries against an injected clock, and
// answers "where does this frame go?" by matching header fields and applying
// set-field actions to a copy of them. Frames themselves are never rewritten:
// tests look at the header fields a frame leaves with.
//
// Bench drives one Balancer (with a fake clock) and any number of FakeSwitch
// datapaths. Everything the balancer sends is routed to its switch: FlowMods
// go into the table (their flow-removed replies go straight back to the
// balancer), PacketOuts are recorded with where they end up.
//
//   lb::BalancerConfig cfg = ...;
//   Bench bench(cfg);
//   FakeSwitch& sw = bench.add_switch(1, 8);  // switch_up with ports 1..8
//   Injection r = sw.inject(4, frame);       // through the table
//   bench.advance(std::chrono::seconds(10)); // ticks, idle expiry
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "balancer/balancer.hpp"
#include "balancer/outbox.hpp"
#include "balancer/rng.hpp"
#include "balancer/types.hpp"
#include "openflow/messages.hpp"

namespace fulcrum::lb::testing {

// The header fields the table matches on and actions rewrite. Fields the
// frame does not have (no IPv4 in an ARP frame, no ports in ICMP) are unset,
// and an entry matching on an unset field does not match.
struct Headers {
  of::PortNo in_port = 0;
  MacAddr eth_src, eth_dst;
  uint16_t eth_type = 0;
  std::optional<uint8_t> ip_proto;
  std::optional<Ipv4Addr> ipv4_src, ipv4_dst;
  std::optional<uint16_t> tp_src, tp_dst;
  friend bool operator==(const Headers&, const Headers&) = default;
};

// Headers of a frame as it enters on `in_port`. An unparsable frame has only
// in_port (and the Ethernet addresses if it is long enough).
Headers headers_of(of::PortNo in_port, std::span<const uint8_t> frame);

bool matches(const of::Match& m, const Headers& h);

// A frame leaving through `port` (as the action named it: a number, or
// FLOOD/CONTROLLER/...) with the header fields it has at that point.
struct Output {
  of::PortNo port = 0;
  Headers headers;
};

// Applies an action list to `h`. Outputs to the ingress port are dropped, as
// a switch does (only OFPP_IN_PORT may send a frame back where it came from).
std::vector<Output> apply_actions(std::span<const of::Action> actions, Headers h);

struct FlowEntry {
  uint64_t cookie = 0;
  uint16_t priority = 0;
  uint16_t idle_timeout = 0, hard_timeout = 0;
  uint16_t flags = 0;
  of::Match match;
  of::ActionList actions;
  TimePoint installed{};
  TimePoint last_used{};
  uint64_t packet_count = 0, byte_count = 0;

  [[nodiscard]] bool outputs_to(of::PortNo port) const;
};

class FakeFlowTable {
 public:
  // Add replaces an entry with identical match and priority (no
  // flow-removed); Modify/ModifyStrict replace the actions of the matching
  // entries; Delete removes every entry whose match is at least as specific
  // as the FlowMod's (out_port filters); DeleteStrict removes the entry with
  // identical match and priority. Returns the flow-removed messages for
  // deleted entries that have send-flow-removed set.
  std::vector<of::FlowRemoved> apply(const of::FlowMod& fm, TimePoint now);
  // Removes entries idle for idle_timeout or older than hard_timeout.
  std::vector<of::FlowRemoved> expire(TimePoint now);

  // The highest-priority entry matching `h` (the earliest installed among
  // equals), or nullptr. Does not count as use.
  [[nodiscard]] const FlowEntry* lookup(const Headers& h) const;
  // lookup() that also updates the entry's counters and idle time.
  FlowEntry* hit(const Headers& h, std::size_t bytes, TimePoint now);

  [[nodiscard]] const std::vector<FlowEntry>& entries() const { return entries_; }
  [[nodiscard]] std::size_t size() const { return entries_.size(); }
  [[nodiscard]] const FlowEntry* find_cookie(uint64_t cookie) const;

 private:
  std::vector<of::FlowRemoved> remove_if(const std::function<bool(const FlowEntry&)>& pred, TimePoint now,
                                         of::FlowRemovedReason reason);
  std::vector<FlowEntry> entries_;  // in installation order
};

// A packet-out the balancer sent, with the frame it carried (or that its
// buffer held) and where that frame went.
struct SentPacket {
  TimePoint at{};
  uint32_t buffer_id = of::kNoBuffer;
  of::PortNo in_port = 0;
  of::ActionList actions;
  bool carried_data = false;   // the message itself had frame bytes
  std::vector<uint8_t> frame;  // carried, or resolved from the switch's buffer
  std::vector<Output> outputs;
};

// What happened to one injected frame.
struct Injection {
  std::vector<uint8_t> frame;           // what was injected
  bool packet_in = false;               // it reached the balancer
  std::vector<Output> forwarded;        // where the flow table sent it (no packet-in)
  std::vector<of::FlowMod> flow_mods;   // what the balancer sent in response
  std::vector<SentPacket> packet_outs;  // ditto

  // Every place the injected frame itself went: the table's outputs, or the
  // outputs of the packet-outs that released it (by data or buffer).
  [[nodiscard]] std::vector<Output> outputs() const;
};

class Bench;

class FakeSwitch {
 public:
  FakeSwitch(Bench& bench, Dpid dpid, std::vector<of::PortDesc> ports);

  // A frame arriving on `in_port`: the table forwards it, or sends it to the
  // balancer as a packet-in (full frame, no buffer). No entry: dropped.
  Injection inject(of::PortNo in_port, std::span<const uint8_t> frame);
  // A packet-in for `frame` regardless of the table, as when a packet misses
  // before the balancer's entries land. With `buffered`, the switch keeps the
  // frame and sends a buffer id and the first 128 bytes.
  Injection packet_in(of::PortNo in_port, std::span<const uint8_t> frame, bool buffered = false);
  // Port status change (link up/down) reported to the balancer.
  void set_link(of::PortNo port, bool up);
  void delete_port(of::PortNo port);

  [[nodiscard]] Dpid dpid() const { return dpid_; }
  [[nodiscard]] const std::vector<of::PortDesc>& ports() const { return ports_; }
  FakeFlowTable& table() { return table_; }
  [[nodiscard]] const FakeFlowTable& table() const { return table_; }

  // Everything the balancer sent this switch, in order.
  std::vector<of::FlowMod> flow_mods;
  std::vector<SentPacket> packet_outs;
  std::vector<of::FlowRemoved> flow_removed;  // what the switch reported
  std::vector<of::Message> other;             // anything else

  void forget_log();
  // Called by Bench: one message from the balancer; flow-removed messages it
  // causes are appended to `removed`.
  void receive(const of::Message& msg, std::vector<of::FlowRemoved>& removed);

 private:
  Bench& bench_;
  Dpid dpid_;
  std::vector<of::PortDesc> ports_;
  FakeFlowTable table_;
  std::map<uint32_t, std::vector<uint8_t>> buffers_;
  uint32_t next_buffer_ = 0x100;
};

class Bench {
 public:
  static constexpr Duration kTick = std::chrono::milliseconds(100);

  // Uses `rng` if given, else a Xoshiro256 seeded with 1.
  explicit Bench(BalancerConfig config, Rng* rng = nullptr);

  // A datapath with ports 1..n_ports, all up; calls switch_up.
  FakeSwitch& add_switch(Dpid dpid, uint32_t n_ports);
  FakeSwitch& sw(Dpid dpid) { return *switches_.at(dpid); }

  // Moves the clock forward in kTick steps; at each step every table ages its
  // entries (flow-removed goes to the balancer) and the balancer ticks.
  void advance(Duration d);
  [[nodiscard]] TimePoint now() const { return now_; }
  [[nodiscard]] Duration elapsed() const { return now_ - start_; }

  Balancer& balancer() { return balancer_; }
  Outbox& outbox() { return out_; }
  [[nodiscard]] const Counters& counters() const { return balancer_.counters(); }

  // Routes the outbox to the switches until nothing is left (flow-removed
  // caused by the balancer's own deletes goes back to it).
  void dispatch();
  void flow_removed(Dpid dpid, const of::FlowRemoved& fr);

  std::vector<Dpid> unrouted;  // dpids of messages for switches that do not exist

 private:
  std::unique_ptr<Rng> owned_rng_;
  Rng& rng_;
  Balancer balancer_;
  Outbox out_;
  TimePoint start_;
  TimePoint now_;
  std::map<Dpid, std::unique_ptr<FakeSwitch>> switches_;
};

}  // namespace fulcrum::lb::testing
