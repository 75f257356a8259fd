// The I/O edge: accepts switch connections (Asio, one thread), runs the
// OpenFlow handshake and keepalive per switch, decodes messages into events
// for the balancer core and encodes the core's replies into one batched write
// per burst. Only this module and src/openflow/ see sockets and versions.
#pragma once

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
  std::vector<Session*> dirty_;  // sessions with encoded, unwritten messages
  uint16_t bound_port_ = 0;
  bool stopped_ = false;
};

}  // namespace fulcrum::ctl
