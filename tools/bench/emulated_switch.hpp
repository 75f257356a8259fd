// One emulated OpenFlow switch for fulcrum-bench: a TCP connection to the
// controller under test, the switch side of the handshake, the hosts behind
// its ports (clients that open connections to a VIP, backends that answer
// ARP, ping and TCP health checks), and the load: packet-ins of TCP SYNs of
// new connections, each one a "decision" that completes when the controller
// forwards it.
//
// A decision for connection (client ip, client port) -> (VIP, VIP port)
// completes at the first message from the controller that names its 5-tuple:
//   - a packet-out whose data is that SYN (possibly already rewritten), or
//   - a flow-mod (add) whose match has ipv4_src = client ip and tp_src =
//     client port (the forward direction; a controller that installs the
//     flow and sends no packet-out, or sends the packet-out later).
// The backend is read from that message's actions: set ipv4_dst names it;
// otherwise the output port (a backend's port, flood/all, another port) or,
// for a packet-out, the frame's own destination IP. No output action = drop.
//
// Everything runs on the io_context given to the switch (one thread); the
// orchestrator talks to it only through post()ed calls and the atomics in
// Shared.
#pragma once

#include <asio.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "net/addr.hpp"
#include "openflow/codec.hpp"
#include "openflow/messages.hpp"
#include "packet/packet.hpp"

namespace fulcrum::bench {

using Clock = std::chrono::steady_clock;

struct BackendHost {
  Ipv4Addr ip;
  MacAddr mac;
  of::PortNo port = 0;
};

struct SwitchParams {
  std::string host = "127.0.0.1";
  uint16_t port = 6653;
  of::Version version = of::Version::V13;
  uint64_t dpid = 1;
  Ipv4Addr vip;
  uint16_t vip_port = 80;
  MacAddr vip_mac_fallback;  // destination MAC of SYNs when the VIP's ARP gets no reply
  uint32_t clients = 8;      // client ports 1..clients
  Ipv4Addr client_ip_base;   // client address j = base + j, behind port 1 + j % clients
  uint32_t client_ips = 4096;
  std::vector<BackendHost> backends;
  uint32_t window = 64;
  std::chrono::milliseconds settle{1000};  // after the handshake: wait for discovery of every backend, at most this
  std::chrono::milliseconds vip_arp_wait{1000};
  uint32_t echo_samples = 1000;  // baseline: echo request/reply round trips before the load
  std::chrono::milliseconds decision_timeout{2000};
};

// Index of the spread counters after the backends.
enum SpreadExtra : uint32_t { kSpreadFlood = 0, kSpreadOtherPort = 1, kSpreadDrop = 2, kSpreadExtras = 3 };

struct ErrorSeen {
  uint16_t type = 0, code = 0;
  int offending_type = -1;  // type of the message quoted in the error's data, when present
};

// What one switch measured. Merged across switches by the orchestrator.
struct SwitchResult {
  // setup
  bool connected = false;
  bool handshake_done = false;
  std::string failure;             // non-empty: the switch could not run
  std::string version;             // negotiated
  uint32_t backends_answered = 0;  // distinct backends whose discovery ARP we answered
  uint64_t arp_probes_answered = 0, icmp_probes_answered = 0, tcp_probes_answered = 0;
  std::string vip_arp;  // "reply", "flooded", "none"
  std::string vip_mac;  // the MAC the controller answered for the VIP
  std::vector<uint32_t> echo_rtt_ns;
  // measured window
  uint64_t decisions = 0;
  uint64_t flow_mods = 0, packet_outs = 0, messages_in = 0, packet_ins_sent = 0;
  uint64_t completed_by_flow_mod = 0, completed_by_packet_out = 0;
  std::vector<uint64_t> per_second;   // decisions completed in each second of the window
  std::vector<uint32_t> latency_ns;   // one per decision sent inside the window
  std::vector<uint64_t> spread;       // backends..., flood, other port, drop
  std::vector<uint64_t> other_ports;  // not used for output; kept small
  // whole run
  uint64_t decisions_total = 0;
  uint64_t timeouts = 0;  // decisions never answered within decision_timeout
  uint64_t errors = 0;
  std::vector<ErrorSeen> first_errors;
  uint64_t undecodable = 0;
  uint64_t stats_requests = 0, barrier_requests = 0, role_requests = 0;
};

class EmulatedSwitch {
 public:
  // `on_ready` runs (on the switch's thread) once setup is over (or failed).
  EmulatedSwitch(asio::io_context& io, SwitchParams params, std::function<void()> on_ready);

  void start();  // connect and handshake
  // Begin the load; decisions completing in [measure_start, measure_end) are
  // counted. Post to the switch's io_context.
  void begin_load(Clock::time_point measure_start, Clock::time_point measure_end);
  void stop_load();  // stop sending new SYNs (outstanding ones may still complete)
  void close();
  [[nodiscard]] const SwitchResult& result() const { return result_; }

 private:
  enum class Phase { Connecting, Handshake, Settle, VipArp, Echo, Ready, Load, Stopped };

  void set_failure(std::string why);
  void read();
  void on_bytes(std::size_t n);
  void on_frame(std::span<const uint8_t> frame, const of::Decoded& d, Clock::time_point now);
  void handshake_step(const of::Decoded& d);
  void on_packet_out(const of::PacketOut& po, Clock::time_point now);
  void on_flow_mod(const of::FlowMod& fm, Clock::time_point now);
  void on_error(const of::ErrorMsg& e);
  void reply_stats(const of::Decoded& d);
  void enter_settle();
  void enter_vip_arp();
  void enter_echo();
  void send_echo();
  void enter_ready();
  void arm_timer(std::chrono::milliseconds after, void (EmulatedSwitch::*fn)());
  void on_settle_timeout();
  void on_vip_arp_timeout();
  void on_tick();

  void send(const of::Message& m, uint32_t xid = 0);
  void send_packet_in(of::PortNo in_port, std::span<const uint8_t> frame);
  void flush();

  // Load.
  void build_templates();
  void fill_window();
  void send_syn(uint64_t seq, Clock::time_point now);
  // Sequence number of the outstanding decision for (client ip, port), or -1.
  int64_t find_outstanding(Ipv4Addr client, uint16_t sport) const;
  void complete(uint64_t seq, uint32_t spread_index, Clock::time_point now, bool by_flow_mod);
  uint32_t spread_of(const of::ActionList& actions, std::optional<Ipv4Addr> frame_dst) const;
  int backend_by_ip(Ipv4Addr ip) const;
  int backend_by_port(of::PortNo p) const;
  [[nodiscard]] bool in_window(Clock::time_point t) const { return t >= measure_start_ && t < measure_end_; }

  asio::io_context& io_;
  SwitchParams p_;
  std::function<void()> on_ready_;
  asio::ip::tcp::socket sock_;
  asio::steady_timer timer_;
  asio::steady_timer tick_timer_;
  std::vector<uint8_t> rbuf_;
  std::vector<uint8_t> wbuf_, inflight_;
  bool writing_ = false;
  bool closed_ = false;
  of::Framer framer_;
  Phase phase_ = Phase::Connecting;
  bool hello_seen_ = false;
  of::Version version_;
  uint32_t xid_ = 1;
  std::vector<of::PortDesc> ports_;
  std::vector<bool> backend_answered_;
  MacAddr vip_mac_;
  std::vector<uint8_t> vip_arp_frame_;
  uint32_t echo_sent_ = 0;
  Clock::time_point echo_t0_;
  Clock::time_point handshake_at_;
  SwitchResult result_;

  // Port counters for port-stats replies.
  std::vector<uint64_t> port_rx_, port_tx_;
  // Recent flow-mods for flow-stats replies (recorded once asked).
  bool record_flows_ = false;
  std::vector<std::pair<of::FlowMod, Clock::time_point>> flows_;
  std::size_t flows_next_ = 0;

  // Load state. Decision seq -> client address j = seq % client_ips, source
  // port 1024 + (seq / client_ips) % kPorts: a unique 5-tuple for
  // client_ips * kPorts decisions.
  static constexpr uint32_t kPorts = 64512;
  static constexpr std::size_t kRing = 1u << 16;
  struct Slot {
    uint64_t seq = UINT64_MAX;
    Clock::time_point sent;
  };
  struct Template {
    std::vector<uint8_t> bytes;  // an encoded packet-in of a SYN
    std::size_t data_off = 0;    // where the Ethernet frame starts
  };
  std::vector<Template> templates_;  // one per client port
  std::vector<Slot> ring_;
  uint64_t next_seq_ = 0;
  uint32_t outstanding_ = 0;
  bool loading_ = false;
  Clock::time_point measure_start_{Clock::time_point::max()}, measure_end_{Clock::time_point::max()};
};

}  // namespace fulcrum::bench
