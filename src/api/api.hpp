// The REST API, /metrics and the dashboard, as a pure core: a request and a
// view of the controller's state in, a response out. No sockets and no
// threads here; src/api/server.* is the HTTP edge (cpp-httplib), which runs
// handle() on shard 0's thread while every other shard's thread is parked
// (ctl::Shards::parked), so no balancer is touched by two threads at once.
//
// Changes (add/remove a backend, weight, drain/activate, policy) edit a copy
// of the running BalancerConfig and hand it to `apply` (the edge calls
// Controller::reconfigure): switches, learned backends, health and
// connections are kept, and the next connection sees the change.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "balancer/balancer.hpp"
#include "controller/controller.hpp"

namespace fulcrum::api {

struct Request {
  std::string method;         // GET, POST, PATCH, DELETE, ...
  std::string path;           // without the query string
  std::string body;           // JSON for POST/PATCH
  std::string authorization;  // the Authorization header, empty if absent
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers (Allow, WWW-Authenticate)
};

// One shard's state: its balancer and its part of the controller.
struct ShardView {
  const lb::Balancer* balancer = nullptr;
  const ctl::Controller* controller = nullptr;  // null in tests of the balancer alone
};

// What the API reads: every shard (one unless `threads` is above 1), all
// parked or owned by the calling thread while the view is used. The API shows
// them as one controller: counters summed, switches and sessions of every
// shard, latency histograms merged.
struct View {
  // One shard (tests, and threads: 1).
  View(const lb::Balancer& b, const ctl::Controller* c, lb::TimePoint now_, std::chrono::system_clock::time_point wall,
       std::chrono::system_clock::time_point started_)
      : View(std::vector<ShardView>{ShardView{&b, c}}, now_, wall, started_) {}
  // Several: not empty; the controllers all set or all null.
  View(std::vector<ShardView> shards_, lb::TimePoint now_, std::chrono::system_clock::time_point wall,
       std::chrono::system_clock::time_point started_)
      : shards(std::move(shards_)),
        balancer(*shards.front().balancer),
        controller(shards.front().controller),
        now(now_),
        wall_now(wall),
        started(started_) {}

  std::vector<ShardView> shards;
  // Shard 0's balancer: the configuration (the same on every shard) and
  // Balancer::view(). Per-switch state and counters: the helpers below.
  const lb::Balancer& balancer;
  const ctl::Controller* controller;  // shard 0's; null when there is no controller
  lb::TimePoint now;
  std::chrono::system_clock::time_point wall_now;
  std::chrono::system_clock::time_point started;

  // Every shard's switches, by dpid.
  [[nodiscard]] std::vector<const lb::SwitchState*> switches() const;
  [[nodiscard]] std::size_t switch_count() const;
  [[nodiscard]] const lb::SwitchState* find_switch(lb::Dpid dpid) const;
  [[nodiscard]] lb::Counters counters() const;
  // The controller parts (call only when `controller` is set).
  [[nodiscard]] ctl::ControllerCounters controller_counters() const;
  [[nodiscard]] std::vector<ctl::SessionInfo> sessions() const;  // by peer
  [[nodiscard]] ctl::LatencyHistogram packet_in_latency() const;
  [[nodiscard]] ctl::LatencyHistogram decision_latency() const;
};

// Applies a validated configuration (Controller::reconfigure on the edge).
using Apply = std::function<void(lb::BalancerConfig)>;

class Api {
 public:
  // `token`: required bearer token; empty = no authentication (loopback only,
  // enforced by the configuration).
  explicit Api(std::string token = {}) : token_(std::move(token)) {}

  Response handle(const Request& req, const View& view, const Apply& apply);

  void set_token(std::string token) { token_ = std::move(token); }
  [[nodiscard]] bool token_required() const { return !token_.empty(); }
  // Changes applied since the last reset (a SIGHUP reload replaces them).
  [[nodiscard]] uint64_t changes() const { return changes_; }
  void reset_changes() { changes_ = 0; }
  [[nodiscard]] uint64_t requests() const { return requests_; }

 private:
  std::string token_;
  uint64_t changes_ = 0;
  uint64_t requests_ = 0;
  std::vector<std::pair<int, uint64_t>> by_status_;  // responses by HTTP status, for /metrics
  friend std::string render_metrics(const View& view, const Api* api);
};

// The Prometheus text exposition format (version 0.0.4) of the counters,
// sessions, per-VIP and per-backend state and the latency histograms.
std::string render_metrics(const View& view, const Api* api);

// Constant-time comparison (the bearer token).
bool constant_time_equal(const std::string& a, const std::string& b);

// A backend's state on one switch, in words: unlearned, up, draining, down,
// removed (retired: gone from the configuration, connections still running).
const char* backend_status(const lb::BackendState& b);

// The dashboard page (src/api/dashboard.html, embedded at build time).
const std::string& dashboard_html();

}  // namespace fulcrum::api
