// The balancer core: a functional core in the style of faucet's Valve.
//
// Events (switch up/down, packet-in, flow-removed, port-status, timer tick)
// come in with the current time; OpenFlow messages to send go out through an
// Outbox. No sockets, no clocks, no versions: the I/O edge owns those. All
// state is owned per switch (SwitchState), so a later sharding of switches
// across threads, or across Fulcrum instances, moves whole SwitchStates.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "agent/report.hpp"
#include "balancer/conn_table.hpp"
#include "balancer/health.hpp"
#include "balancer/outbox.hpp"
#include "balancer/policy.hpp"
#include "balancer/rng.hpp"
#include "balancer/types.hpp"
#include "openflow/messages.hpp"
#include "packet/packet.hpp"

namespace fulcrum::lb {

struct Counters {
  uint64_t packet_ins = 0;
  uint64_t parse_errors = 0;
  uint64_t connections_assigned = 0;
  uint64_t connections_ended = 0;
  uint64_t duplicate_packet_ins = 0;  // packet-ins for a connection already assigned
  uint64_t connections_resumed = 0;   // dormant connections whose entries were re-installed
  uint64_t return_reinstalled = 0;
  uint64_t no_backend_drops = 0;
  uint64_t vip_unhandled_drops = 0;     // to a VIP but not a balanced protocol/port
  uint64_t stray_drops = 0;             // backend traffic for no known connection
  uint64_t stray_resets = 0;            // ...from a failed backend: both ends reset
  uint64_t reset_tuple_resets = 0;      // client segments on a connection on_down: reset ended, answered with a RST
  uint64_t icmp_errors_translated = 0;  // backend ICMP errors about a connection, sent on from the VIP
  uint64_t arp_replies = 0;
  uint64_t arp_spoof_drops = 0;  // ARP claiming a VIP's or backend's IP from the wrong port
  uint64_t mac_spoof_drops = 0;  // frames sourced from a fake MAC
  uint64_t icmp_echo_replies = 0;
  uint64_t discovery_probes = 0;
  uint64_t backends_learned = 0;
  uint64_t l2_flows = 0;
  uint64_t l2_floods = 0;
  uint64_t flow_removed_unknown = 0;  // not ours (another instance, or before a restart)
  // Health checking and failover.
  uint64_t health_checks_sent = 0;
  uint64_t health_check_failures = 0;
  uint64_t backend_down_events = 0;
  uint64_t backend_up_events = 0;
  uint64_t tcp_resets_sent = 0;         // to clients of a VIP with no available backend
  uint64_t icmp_unreachables_sent = 0;  // likewise for UDP
  uint64_t connections_reset_on_down = 0;
  // Measurements.
  uint64_t latency_probes_sent = 0;
  uint64_t latency_probes_lost = 0;
  uint64_t port_stats_requests = 0;
  uint64_t port_stats_replies = 0;
  // Agent reports, accepted and rejected by reason.
  uint64_t agent_reports_accepted = 0;
  uint64_t agent_reports_malformed = 0;
  uint64_t agent_reports_bad_mac = 0;
  uint64_t agent_reports_replayed = 0;
  uint64_t agent_reports_stale = 0;
  uint64_t agent_reports_not_backend = 0;

  // Sums another shard's counters into these (the API shows one total).
  Counters& operator+=(const Counters& o) {
    packet_ins += o.packet_ins;
    parse_errors += o.parse_errors;
    connections_assigned += o.connections_assigned;
    connections_ended += o.connections_ended;
    duplicate_packet_ins += o.duplicate_packet_ins;
    connections_resumed += o.connections_resumed;
    return_reinstalled += o.return_reinstalled;
    no_backend_drops += o.no_backend_drops;
    vip_unhandled_drops += o.vip_unhandled_drops;
    stray_drops += o.stray_drops;
    stray_resets += o.stray_resets;
    reset_tuple_resets += o.reset_tuple_resets;
    icmp_errors_translated += o.icmp_errors_translated;
    arp_replies += o.arp_replies;
    arp_spoof_drops += o.arp_spoof_drops;
    mac_spoof_drops += o.mac_spoof_drops;
    icmp_echo_replies += o.icmp_echo_replies;
    discovery_probes += o.discovery_probes;
    backends_learned += o.backends_learned;
    l2_flows += o.l2_flows;
    l2_floods += o.l2_floods;
    flow_removed_unknown += o.flow_removed_unknown;
    health_checks_sent += o.health_checks_sent;
    health_check_failures += o.health_check_failures;
    backend_down_events += o.backend_down_events;
    backend_up_events += o.backend_up_events;
    tcp_resets_sent += o.tcp_resets_sent;
    icmp_unreachables_sent += o.icmp_unreachables_sent;
    connections_reset_on_down += o.connections_reset_on_down;
    latency_probes_sent += o.latency_probes_sent;
    latency_probes_lost += o.latency_probes_lost;
    port_stats_requests += o.port_stats_requests;
    port_stats_replies += o.port_stats_replies;
    agent_reports_accepted += o.agent_reports_accepted;
    agent_reports_malformed += o.agent_reports_malformed;
    agent_reports_bad_mac += o.agent_reports_bad_mac;
    agent_reports_replayed += o.agent_reports_replayed;
    agent_reports_stale += o.agent_reports_stale;
    agent_reports_not_backend += o.agent_reports_not_backend;
    return *this;
  }
};
// Every field is a counter summed by operator+= above: a new one must be added there too.
static_assert(sizeof(Counters) == 39 * sizeof(uint64_t));

// Latest agent report of a backend.
struct AgentSample {
  double cpu_pct = 0;
  double memory_pct = 0;
  uint32_t established = 0;
  std::optional<double> cpu_capacity;  // CPUs cpu_pct is relative to, when the agent says
  bool healthy = true;
  TimePoint at{};
};

// An outstanding probe (health check or latency probe).
struct Probe {
  bool outstanding = false;
  uint32_t token = 0;  // ICMP sequence number or TCP source port
  uint32_t tcp_seq = 0;
  TimePoint sent{};
  TimePoint next{};
};

struct BackendState {
  BackendSpec spec;
  bool learned = false;
  MacAddr mac;
  of::PortNo port = 0;
  uint32_t active = 0;  // connections with flow entries in the switch
  uint64_t total = 0;   // connections ever assigned
  // Discovery (ARP until learned).
  TimePoint next_probe{};
  Duration backoff{};
  TimePoint learned_at{};
  // Health: active checks (rise/fall), and passive signals.
  HealthState health{2, 3, true};
  Probe check;
  bool agent_unhealthy = false;  // the agent's own service check fails
  bool agent_silent = false;     // no report for AgentConfig::silence_timeout
  bool retired = false;          // removed from the configuration; kept until its connections end
  // Measurements.
  Probe latency;
  std::optional<double> rtt_ms;
  TimePoint rtt_at{};
  std::optional<AgentSample> agent;
  uint32_t assigned_since_report = 0;
  // For combined: accepted reports so far, and the connections sent in the
  // interval the latest report measured with that interval's length (unset
  // after the first report or a missed one).
  uint64_t reports = 0;
  std::optional<uint32_t> assigned_last_interval;
  double report_interval_s = 0;
  std::optional<double> tx_kbps;  // switch port transmit rate toward the backend
  TimePoint tx_at{};
  uint64_t capacity_kbps = 0;  // from the port description or the config

  [[nodiscard]] bool available() const {
    return learned && !retired && health.up() && spec.mode == BackendMode::Active && !agent_unhealthy && !agent_silent;
  }
  // Down by a health check or its agent (not drained, not removed): what it
  // still sends is for connections that on_down: reset has ended.
  [[nodiscard]] bool failed() const { return !health.up() || agent_unhealthy || agent_silent; }
};

// 28 bytes, 4-aligned: with its 20-byte key a table entry is 48 bytes.
struct Connection {
  uint32_t backend = 0;  // index into VipState::backends
  of::PortNo client_port_no = 0;
  // The forward entry's cookie (the return entry's is cookie | 1), in two
  // halves so the struct needs no 8-byte alignment.
  uint32_t cookie_hi = 0;
  uint32_t cookie_lo = 0;
  MacAddr client_mac;
  bool return_installed = false;
  // The forward entry idled out: no entries in the switch, but the backend is
  // kept for BalancerConfig::connection_linger in case the connection resumes.
  bool dormant = false;
  uint32_t sleep = 0;  // which idle period: names its entry in SwitchState::dormant

  [[nodiscard]] uint64_t cookie() const { return (uint64_t{cookie_hi} << 32) | cookie_lo; }
  void set_cookie(uint64_t c) {
    cookie_hi = static_cast<uint32_t>(c >> 32);
    cookie_lo = static_cast<uint32_t>(c);
  }
};

// Connections of one VIP on one switch (src/balancer/conn_table.hpp).
using ConnTable = FlatTable<ConnKey, Connection>;

// How many connections ended by on_down: reset a VIP remembers, and for how
// long (see VipState::reset_tuples).
inline constexpr std::size_t kMaxResetTuples = 65536;
inline constexpr std::chrono::seconds kResetTupleMemory{60};

struct VipState {
  const VipSpec* spec = nullptr;
  MacAddr fake_mac;
  std::vector<BackendState> backends;
  std::unique_ptr<Policy> policy;
  ConnTable connections;
  std::vector<BackendView> views;  // scratch for policy calls, reused
  bool refusing = false;           // no backend was available for the last new connection
  // Connections that on_down: reset ended, until when they are remembered:
  // the client's next segment on one (an ACK, a window update, a challenge
  // ACK for an inexact reset) is answered with a RST at exactly its ack
  // number, rather than balanced as a new connection. A SYN on the 5-tuple
  // is a new connection and forgets it. Bounded by kMaxResetTuples.
  std::unordered_map<ConnKey, TimePoint> reset_tuples;
};

struct HostRecord {
  MacAddr mac;
  of::PortNo port = 0;
};

struct PortCounters {
  uint64_t tx_bytes = 0;
  TimePoint at{};
};

struct SwitchState {
  Dpid dpid = 0;
  std::unordered_map<of::PortNo, PortCounters> port_counters;
  uint16_t next_probe_port = 0;  // rotates through the TCP health-check source ports
  uint16_t next_icmp_seq = 0;
  TimePoint next_port_stats{};
  std::vector<of::PortDesc> ports;
  std::vector<VipState> vips;
  std::unordered_map<Ipv4Addr, HostRecord> clients;  // hosts that talked to a VIP
  std::unordered_set<of::PortNo> client_ports;
  std::unordered_map<MacAddr, of::PortNo> l2;  // learning switch table
  // Dormant connections in the order they went idle.
  struct Dormant {
    ConnKey key;
    TimePoint since;
    uint32_t sleep = 0;  // Connection::sleep when it went idle
  };
  std::deque<Dormant> dormant;
};

class Balancer {
 public:
  Balancer(BalancerConfig config, Rng& rng);

  void switch_up(Dpid dpid, std::span<const of::PortDesc> ports, TimePoint now, Outbox& out);
  void switch_down(Dpid dpid);
  // `parsed`, when given, is pkt::parse(pin.data) (what look_ahead
  // returned): the packet is not parsed again.
  void packet_in(Dpid dpid, const of::PacketIn& pin, TimePoint now, Outbox& out,
                 const pkt::ParsedPacket* parsed = nullptr);
  // Before packet_in(dpid, pin, ...): the parse of pin (nullopt for an
  // unknown switch or an unparsable packet), and where in the connection
  // table packet_in will probe for it (empty when nowhere). No effect (no
  // counters, no state); any bytes are safe. The session takes a batch of
  // packet-ins ahead and prefetches all their hints together, so that their
  // misses overlap; the hint is valid until the next packet_in.
  struct LookAhead {
    std::optional<pkt::ParsedPacket> parsed;
    ConnTable::ProbeHint hint;
  };
  [[nodiscard]] LookAhead look_ahead(Dpid dpid, const of::PacketIn& pin) const;
  void flow_removed(Dpid dpid, const of::FlowRemoved& fr, TimePoint now, Outbox& out);
  void port_status(Dpid dpid, const of::PortStatus& ps, TimePoint now, Outbox& out);
  void port_stats(Dpid dpid, const of::PortStatsReply& reply, TimePoint now);
  // Periodic work: discovery retries, health checks, probes, port statistics
  // requests, agent silence. Call at least every 100 ms.
  void tick(TimePoint now, Outbox& out);
  // Applies a new configuration without dropping switches, learned backends,
  // health or connections (SIGHUP). Backends removed from a pool keep their
  // existing connections until those end.
  void reconfigure(BalancerConfig config, TimePoint now, Outbox& out);
  // Wall clock minus steady clock, in ms: agent report timestamps are wall
  // clock. The I/O edge keeps it current; tests set it.
  void set_wall_offset_ms(int64_t offset) { wall_offset_ms_ = offset; }

  // The fresh view of a backend that policies see (also for logs and the API).
  [[nodiscard]] BackendView view(const VipState& vip, const BackendState& b, TimePoint now) const;
  // The same, written over `v` (the per-decision views are reused).
  void fill_view(BackendView& v, const VipState& vip, const BackendState& b, TimePoint now) const;

  [[nodiscard]] const SwitchState* find_switch(Dpid dpid) const;
  // Every switch's state, for the API and metrics (read on the controller's thread).
  [[nodiscard]] const std::unordered_map<Dpid, SwitchState>& switches() const { return switches_; }
  [[nodiscard]] const Counters& counters() const { return counters_; }
  [[nodiscard]] const BalancerConfig& config() const { return config_; }
  // Cookies of this instance's flow entries carry this in their top 24 bits.
  [[nodiscard]] uint64_t cookie_epoch() const { return epoch_; }

 private:
  SwitchState* find(Dpid dpid);
  void handle_packet(SwitchState& sw, const of::PacketIn& pin, const pkt::ParsedPacket& p, TimePoint now, Outbox& out);
  void handle_arp(SwitchState& sw, const of::PacketIn& pin, const pkt::ParsedPacket& p, TimePoint now, Outbox& out);
  bool handle_ipv4(SwitchState& sw, const of::PacketIn& pin, const pkt::ParsedPacket& p, TimePoint now, Outbox& out);
  void handle_vip_packet(SwitchState& sw, uint32_t vip_index, const of::PacketIn& pin, const pkt::ParsedPacket& p,
                         TimePoint now, Outbox& out);
  bool handle_backend_packet(SwitchState& sw, const of::PacketIn& pin, const pkt::ParsedPacket& p, Outbox& out);
  bool translate_icmp_error(SwitchState& sw, const pkt::ParsedPacket& p, Outbox& out);
  void assign(SwitchState& sw, uint32_t vip_index, const ConnKey& key, const of::PacketIn& pin,
              const pkt::ParsedPacket& p, TimePoint now, Outbox& out);
  void l2_forward(SwitchState& sw, const of::PacketIn& pin, const pkt::ParsedPacket& p, Outbox& out);
  void learn_backend(SwitchState& sw, VipState& vip, BackendState& b, MacAddr mac, of::PortNo port, TimePoint now,
                     Outbox& out);
  void unlearn_port(SwitchState& sw, of::PortNo port, TimePoint now, Outbox& out);
  void probe(SwitchState& sw, const VipState& vip, const BackendState& b, Outbox& out);
  // Health and measurements (monitor.cpp).
  void build_vips(SwitchState& sw, TimePoint now, std::vector<VipState>* old);
  void monitor_tick(SwitchState& sw, TimePoint now, Outbox& out);
  void send_health_check(SwitchState& sw, VipState& vip, BackendState& b, TimePoint now, Outbox& out);
  void send_latency_probe(SwitchState& sw, VipState& vip, BackendState& b, TimePoint now, Outbox& out);
  bool handle_probe_reply(SwitchState& sw, VipState& vip, const of::PacketIn& pin, const pkt::ParsedPacket& p,
                          TimePoint now, Outbox& out);
  void handle_agent_report(SwitchState& sw, VipState& vip, const pkt::ParsedPacket& p, TimePoint now, Outbox& out);
  void health_result(SwitchState& sw, VipState& vip, BackendState& b, bool ok, const char* why, TimePoint now,
                     Outbox& out);
  // Logs a change of b.available() and, for a failure with OnDown::RemoveFlows,
  // removes the backend's connections.
  void on_availability_change(SwitchState& sw, VipState& vip, BackendState& b, bool was_available, const char* reason,
                              bool failure, TimePoint now, Outbox& out);
  void reset_connections_of(SwitchState& sw, VipState& vip, uint32_t backend_index, TimePoint now, Outbox& out);
  // A TCP segment from a client on a connection in vip.reset_tuples: answered
  // with a RST (true), or a SYN or an expired entry, to balance (false).
  bool answer_reset_tuple(SwitchState& sw, VipState& vip, const ConnKey& key, const of::PacketIn& pin,
                          const pkt::ParsedPacket& p, TimePoint now, Outbox& out);
  void expire_reset_tuples(VipState& vip, TimePoint now);
  // A RST from the VIP and fake MAC to the sender of TCP segment p (to its
  // port), at exactly p's ack number.
  void reset_sender(SwitchState& sw, const VipState& vip, const of::PacketIn& pin, const pkt::ParsedPacket& p,
                    Outbox& out);
  void refuse(SwitchState& sw, VipState& vip, const of::PacketIn& pin, const pkt::ParsedPacket& p, Outbox& out);
  void reset_stray(SwitchState& sw, const VipState& vip, const of::PacketIn& pin, const pkt::ParsedPacket& p,
                   Outbox& out);
  void end_connection(VipState& vip, ConnTable::iterator it);
  void expire_dormant(SwitchState& sw, TimePoint now);

  void install(SwitchState& sw, const VipState& vip, const ConnKey& key, Connection& c, const of::PacketIn& pin,
               const pkt::ParsedPacket& p, Outbox& out) const;
  of::ActionList forward_actions(const VipState& vip, const BackendState& b) const;
  of::FlowMod forward_flow(const VipState& vip, const ConnKey& key, const Connection& c) const;
  of::FlowMod return_flow(const VipState& vip, const ConnKey& key, const Connection& c) const;
  void packet_out(Dpid dpid, const of::PacketIn& pin, of::ActionList actions, Outbox& out) const;
  void send_frame(Dpid dpid, std::span<const uint8_t> frame, of::PortNo port, Outbox& out) const;

  BalancerConfig config_;
  Rng& rng_;
  uint64_t epoch_ = 0;
  uint64_t next_cookie_ = 0;
  uint32_t next_sleep_ = 0;
  int64_t wall_offset_ms_ = 0;
  agent::ReplayGuard replay_;
  TimePoint next_metrics_log_{};
  std::unordered_map<Dpid, SwitchState> switches_;
  Counters counters_;
};

}  // namespace fulcrum::lb
