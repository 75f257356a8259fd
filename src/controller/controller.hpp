// The I/O edge: accepts switch connections (Asio), runs the OpenFlow
// handshake and keepalive per switch, decodes messages into events for the
// balancer core and encodes the core's replies into one batched write per
// burst. Only this module and src/openflow/ see sockets and versions.
//
// Threads: a Controller, its sessions, outbox, counters, histograms and its
// Balancer belong to the one thread that runs its io_context. With `threads`
// above 1 there are several (src/controller/shards.hpp): one per shard, each
// serving the switch connections the acceptor handed to it.
#pragma once

#include <array>
#include <asio.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "balancer/balancer.hpp"
#include "balancer/outbox.hpp"
#include "openflow/messages.hpp"

namespace fulcrum::ctl {

struct ControllerConfig {
  std::string listen_host = "0.0.0.0";
  uint16_t listen_port = 6653;
  uint32_t version_bitmap = of::version_bit(of::Version::V10) | of::version_bit(of::Version::V13);
  std::chrono::milliseconds echo_interval{5000};
  std::chrono::milliseconds echo_timeout{15000};
  std::chrono::milliseconds handshake_timeout{10000};
  std::chrono::milliseconds tick_interval{100};
  std::size_t max_pending_write = 16 * 1024 * 1024;  // a switch that stops reading is dropped
  uint32_t max_consecutive_errors = 64;              // a switch sending only garbage is dropped
};

struct ControllerCounters {
  uint64_t sessions_accepted = 0;
  uint64_t switches_up = 0;
  uint64_t decode_errors = 0;
  uint64_t errors_sent = 0;
  uint64_t errors_received = 0;
  uint64_t messages_in = 0;
  uint64_t messages_out = 0;
  uint64_t bytes_out = 0;
  uint64_t flow_mods_out = 0;    // sent by the balancer (connection, L2 and table-miss entries, deletions)
  uint64_t packet_outs_out = 0;  // sent by the balancer

  // Sums another shard's counters into these.
  ControllerCounters& operator+=(const ControllerCounters& o) {
    sessions_accepted += o.sessions_accepted;
    switches_up += o.switches_up;
    decode_errors += o.decode_errors;
    errors_sent += o.errors_sent;
    errors_received += o.errors_received;
    messages_in += o.messages_in;
    messages_out += o.messages_out;
    bytes_out += o.bytes_out;
    flow_mods_out += o.flow_mods_out;
    packet_outs_out += o.packet_outs_out;
    return *this;
  }
};
static_assert(sizeof(ControllerCounters) == 10 * sizeof(uint64_t), "add a new counter to operator+= too");

// A latency histogram with fixed buckets (upper bounds in microseconds), in
// the shape Prometheus exposes: counts per bucket (not cumulative; the last
// is +Inf), the number of observations and their sum.
struct LatencyHistogram {
  static constexpr std::array<uint32_t, 14> kBoundsUs = {1,   2,   5,    10,   20,   50,    100,
                                                         200, 500, 1000, 2000, 5000, 10000, 100000};
  std::array<uint64_t, kBoundsUs.size() + 1> buckets{};
  uint64_t count = 0;
  double sum_s = 0;

  void observe(std::chrono::nanoseconds d) {
    const auto us = static_cast<double>(d.count()) / 1000.0;
    std::size_t i = 0;
    while (i < kBoundsUs.size() && us > kBoundsUs[i]) ++i;
    ++buckets[i];
    ++count;
    sum_s += us / 1e6;
  }
  // Merges another shard's observations (same buckets).
  LatencyHistogram& operator+=(const LatencyHistogram& o) {
    for (std::size_t i = 0; i < buckets.size(); ++i) buckets[i] += o.buckets[i];
    count += o.count;
    sum_s += o.sum_s;
    return *this;
  }
};

// One switch connection as the API shows it.
struct SessionInfo {
  std::string peer;
  std::string state;  // hello, features, port-desc, up
  lb::Dpid dpid = 0;  // 0 before the features reply
  std::string version;
  std::size_t ports = 0;
  std::chrono::system_clock::time_point connected_at;
  uint64_t messages_in = 0;
};

class Session;

class Controller {
 public:
  Controller(asio::io_context& io, ControllerConfig config, lb::Balancer& balancer);
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Binds and listens; throws std::system_error at start-up when it cannot.
  void start();
  // Without an acceptor: a shard that only serves the connections handed to
  // it with adopt().
  void start_shard();
  void stop();
  // Applies a new balancer configuration (SIGHUP) and sends what it implies.
  void reconfigure(lb::BalancerConfig config);
  // The same, called from another thread while this controller's thread is
  // parked (Shards::parked): the balancer and the sessions' buffers are
  // changed now, the writes start on this controller's thread afterwards.
  void reconfigure_parked(lb::BalancerConfig config);

  // Sharding (threads > 1). The acceptor's controller calls `handoff` with
  // each accepted socket; it passes the socket on (to this controller's
  // adopt() or another shard's, by posting) and returns nothing.
  using Handoff = std::function<void(asio::ip::tcp::socket, uint64_t seq)>;
  void set_handoff(Handoff handoff) { handoff_ = std::move(handoff); }
  // Serves a connected socket released from another io_context (its native
  // handle). Runs on this controller's thread. `seq` orders connections
  // across shards (acceptance order), for replace_older().
  void adopt(asio::ip::tcp::socket::protocol_type protocol, asio::ip::tcp::socket::native_handle_type fd, uint64_t seq);
  // Called on this controller's thread when one of its switches completes
  // the handshake: the shards tell each other, so that an older connection
  // of the same datapath on another shard is closed (as on one shard).
  using SwitchUpHook = std::function<void(lb::Dpid dpid, uint64_t seq)>;
  void set_switch_up_hook(SwitchUpHook hook) { switch_up_hook_ = std::move(hook); }
  // Closes this controller's connection of `dpid` if it was accepted before
  // `seq` (another shard has a newer one).
  void replace_older(lb::Dpid dpid, uint64_t seq);
  // Open connections (handshakes included) as the acceptor counts them to
  // balance the shards: raised by the acceptor when it hands a socket over,
  // lowered here when one closes. Touched once per connection, never per
  // message.
  [[nodiscard]] std::atomic<uint32_t>& load() { return load_; }
  [[nodiscard]] uint16_t bound_port() const { return bound_port_; }
  [[nodiscard]] const ControllerCounters& counters() const { return counters_; }
  [[nodiscard]] std::size_t switches_up() const { return by_dpid_.size(); }
  // Every open switch connection, handshake included, ordered by peer.
  [[nodiscard]] std::vector<SessionInfo> sessions() const;
  // Controller time per packet-in (all of them) and per packet-in that
  // assigned a new connection (a decision), measured with steady_clock from
  // the frame taken from the read buffer to its messages encoded.
  [[nodiscard]] const LatencyHistogram& packet_in_latency() const { return packet_in_latency_; }
  [[nodiscard]] const LatencyHistogram& decision_latency() const { return decision_latency_; }

 private:
  friend class Session;
  void accept();
  void serve(asio::ip::tcp::socket sock, uint64_t seq);
  void on_tick();
  // Called by sessions.
  void session_up(const std::shared_ptr<Session>& s);
  void session_closed(Session* s);
  // Encodes the outbox into the sessions it names and clears it.
  void dispatch();
  void flush_dirty();

  asio::io_context& io_;
  ControllerConfig config_;
  lb::Balancer& balancer_;
  asio::ip::tcp::acceptor acceptor_;
  asio::steady_timer tick_timer_;
  lb::Outbox outbox_;
  std::unordered_set<std::shared_ptr<Session>> sessions_;
  std::unordered_map<lb::Dpid, std::shared_ptr<Session>> by_dpid_;
  ControllerCounters counters_;
  LatencyHistogram packet_in_latency_, decision_latency_;
  std::vector<Session*> dirty_;  // sessions with encoded, unwritten messages
  uint16_t bound_port_ = 0;
  bool stopped_ = false;
  Handoff handoff_;              // set on the acceptor's shard when threads > 1
  SwitchUpHook switch_up_hook_;  // set when threads > 1
  uint64_t next_seq_ = 0;        // acceptance order (the acceptor's thread)
  // Newest connection seq per datapath that came up on another shard.
  std::unordered_map<lb::Dpid, uint64_t> newest_elsewhere_;
  std::atomic<uint32_t> load_{0};
};

}  // namespace fulcrum::ctl
