// The balancer core: a functional core in the style of faucet's Valve.
//
// Events (switch up/down, packet-in, flow-removed, port-status, timer tick)
// come in with the current time; OpenFlow messages to send go out through an
// Outbox. No sockets, no clocks, no versions: the I/O edge owns those. All
// state is owned per switch (SwitchState), so a later sharding of switches
// across threads, or across Fulcrum instances, moves whole SwitchStates.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "balancer/outbox.hpp"
#include "balancer/policy.hpp"
#include "balancer/rng.hpp"
#include "balancer/types.hpp"
#include "openflow/messages.hpp"

namespace fulcrum::pkt {
struct ParsedPacket;
}

namespace fulcrum::lb {

struct Counters {
  uint64_t packet_ins = 0;
  uint64_t parse_errors = 0;
  uint64_t connections_assigned = 0;
  uint64_t connections_ended = 0;
  uint64_t duplicate_packet_ins = 0;  // packet-ins for a connection already assigned
  uint64_t return_reinstalled = 0;
  uint64_t no_backend_drops = 0;
  uint64_t vip_unhandled_drops = 0;  // to a VIP but not a balanced protocol/port
  uint64_t stray_drops = 0;          // backend traffic for no known connection
  uint64_t arp_replies = 0;
  uint64_t arp_spoof_drops = 0;  // ARP claiming a VIP's or backend's IP from the wrong port
  uint64_t mac_spoof_drops = 0;  // frames sourced from a fake MAC
  uint64_t icmp_echo_replies = 0;
  uint64_t discovery_probes = 0;
  uint64_t backends_learned = 0;
  uint64_t l2_flows = 0;
  uint64_t l2_floods = 0;
  uint64_t flow_removed_unknown = 0;  // not ours (another instance, or before a restart)
};

struct BackendState {
  BackendSpec spec;
  bool learned = false;
  MacAddr mac;
  of::PortNo port = 0;
  uint32_t active = 0;  // connections with flow entries in the switch
  uint64_t total = 0;   // connections ever assigned
  TimePoint next_probe{};
  Duration backoff{};
};

struct Connection {
  uint32_t backend = 0;  // index into VipState::backends
  uint64_t cookie = 0;   // forward entry's cookie; the return entry's is cookie | 1
  of::PortNo client_port_no = 0;
  MacAddr client_mac;
  bool return_installed = false;
};

struct VipState {
  const VipSpec* spec = nullptr;
  MacAddr fake_mac;
  std::vector<BackendState> backends;
  std::unique_ptr<Policy> policy;
  std::unordered_map<ConnKey, Connection> connections;
  std::vector<BackendView> views;  // scratch for policy calls, reused
};

struct HostRecord {
  MacAddr mac;
  of::PortNo port = 0;
};

struct SwitchState {
  Dpid dpid = 0;
  std::vector<of::PortDesc> ports;
  std::vector<VipState> vips;
  std::unordered_map<Ipv4Addr, HostRecord> clients;  // hosts that talked to a VIP
  std::unordered_set<of::PortNo> client_ports;
  std::unordered_map<MacAddr, of::PortNo> l2;  // learning switch table
  // cookie (without the direction bit) -> (vip index, connection key)
  std::unordered_map<uint64_t, std::pair<uint32_t, ConnKey>> by_cookie;
};

class Balancer {
 public:
  Balancer(BalancerConfig config, Rng& rng);

  void switch_up(Dpid dpid, std::span<const of::PortDesc> ports, TimePoint now, Outbox& out);
  void switch_down(Dpid dpid);
  void packet_in(Dpid dpid, const of::PacketIn& pin, TimePoint now, Outbox& out);
  void flow_removed(Dpid dpid, const of::FlowRemoved& fr, TimePoint now, Outbox& out);
  void port_status(Dpid dpid, const of::PortStatus& ps, TimePoint now, Outbox& out);
  // Periodic work (discovery retries). Call at least every 100 ms.
  void tick(TimePoint now, Outbox& out);

  [[nodiscard]] const SwitchState* find_switch(Dpid dpid) const;
  [[nodiscard]] const Counters& counters() const { return counters_; }
  [[nodiscard]] const BalancerConfig& config() const { return config_; }
  // Cookies of this instance's flow entries carry this in their top 24 bits.
  [[nodiscard]] uint64_t cookie_epoch() const { return epoch_; }

 private:
  SwitchState* find(Dpid dpid);
  void handle_arp(SwitchState& sw, const of::PacketIn& pin, const pkt::ParsedPacket& p, TimePoint now, Outbox& out);
  bool handle_ipv4(SwitchState& sw, const of::PacketIn& pin, const pkt::ParsedPacket& p, Outbox& out);
  void handle_vip_packet(SwitchState& sw, uint32_t vip_index, const of::PacketIn& pin, const pkt::ParsedPacket& p,
                         Outbox& out);
  bool handle_backend_packet(SwitchState& sw, const of::PacketIn& pin, const pkt::ParsedPacket& p, Outbox& out);
  void assign(SwitchState& sw, uint32_t vip_index, const ConnKey& key, const of::PacketIn& pin,
              const pkt::ParsedPacket& p, Outbox& out);
  void l2_forward(SwitchState& sw, const of::PacketIn& pin, const pkt::ParsedPacket& p, Outbox& out);
  void learn_backend(SwitchState& sw, VipState& vip, BackendState& b, MacAddr mac, of::PortNo port);
  void unlearn_port(SwitchState& sw, of::PortNo port, TimePoint now, Outbox& out);
  void probe(SwitchState& sw, const VipState& vip, const BackendState& b, Outbox& out);

  of::FlowMod forward_flow(const VipState& vip, const ConnKey& key, const Connection& c) const;
  of::FlowMod return_flow(const VipState& vip, const ConnKey& key, const Connection& c) const;
  void packet_out(Dpid dpid, const of::PacketIn& pin, of::ActionList actions, Outbox& out) const;
  void send_frame(Dpid dpid, std::span<const uint8_t> frame, of::PortNo port, Outbox& out) const;

  BalancerConfig config_;
  Rng& rng_;
  uint64_t epoch_ = 0;
  uint64_t next_cookie_ = 0;
  std::unordered_map<Dpid, SwitchState> switches_;
  Counters counters_;
};

}  // namespace fulcrum::lb
