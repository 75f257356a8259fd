// The I/O edge: accepts switch connections (Asio, one thread), runs the
// OpenFlow handshake and keepalive per switch, decodes messages into events
// for the balancer core and encodes the core's replies into one batched write
// per burst. Only this module and src/openflow/ see sockets and versions.
#pragma once

#include <array>
#include <asio.hpp>
#include <chrono>
#include <cstdint>
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
};

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
  void stop();
  // Applies a new balancer configuration (SIGHUP) and sends what it implies.
  void reconfigure(lb::BalancerConfig config);
  [[nodiscard]] uint16_t bound_port() const { return bound_port_; }
  [[nodiscard]] const ControllerCounters& counters() const { return counters_; }
  [[nodiscard]] std::size_t switches_up() const { return by_dpid_.size(); }
  // Every open switch connection, handshake included, ordered by peer.
  [[nodiscard]] std::vector<SessionInfo> sessions() const;
  // Time the balancer took per packet-in (all of them) and per packet-in that
  // assigned a new connection (a decision), measured with steady_clock.
  [[nodiscard]] const LatencyHistogram& packet_in_latency() const { return packet_in_latency_; }
  [[nodiscard]] const LatencyHistogram& decision_latency() const { return decision_latency_; }

 private:
  friend class Session;
  void accept();
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
};

}  // namespace fulcrum::ctl
