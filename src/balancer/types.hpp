// Version-neutral types shared by the balancer core and its policies.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "net/addr.hpp"

namespace fulcrum::lb {

using Dpid = uint64_t;
using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Duration = Clock::duration;

enum class PolicyKind : uint8_t {
  RoundRobin,
  Random,
  LeastConnections,
  WeightedRoundRobin,
  PowerOfTwo,
  SourceHash,
  CombinedPaper,
  Combined,
};
const char* policy_name(PolicyKind k);
std::optional<PolicyKind> parse_policy(const std::string& s);

// An operator's intent for a backend: `drain` takes no new connection while
// its existing ones run until idle.
enum class BackendMode : uint8_t { Active, Drain };

struct BackendSpec {
  Ipv4Addr ip;
  uint32_t weight = 1;
  BackendMode mode = BackendMode::Active;
  // Link capacity for available-bandwidth scoring when the switch reports no
  // port speed (OVS veth ports report a nominal 10 Gb/s); 0 = use the port's.
  uint64_t capacity_kbps = 0;
  friend bool operator==(const BackendSpec&, const BackendSpec&) = default;
};

// Active health checks (per VIP), in the spirit of HAProxy/keepalived.
enum class HealthCheckKind : uint8_t { None, Arp, Icmp, Tcp };
struct HealthCheckConfig {
  HealthCheckKind kind = HealthCheckKind::Tcp;
  Duration interval = std::chrono::seconds(2);
  Duration timeout = std::chrono::seconds(1);
  uint32_t rise = 2;                 // consecutive successes for a down backend to come back
  uint32_t fall = 3;                 // consecutive failures for an up backend to go down
  std::optional<uint16_t> tcp_port;  // default: the VIP's port, else 80
  friend bool operator==(const HealthCheckConfig&, const HealthCheckConfig&) = default;
};

// What happens to a backend's existing connections when it goes down.
enum class OnDown : uint8_t { KeepFlows, RemoveFlows };

// Combined-criteria scoring (paper 3.5). Each metric is min-max normalised
// to 0..100 between `worst` (-> 0) and `best` (-> 100), clamped, so higher is
// better whichever way the raw metric runs; the score is the weighted sum.
struct MetricRange {
  double worst = 0;
  double best = 100;
  friend bool operator==(const MetricRange&, const MetricRange&) = default;
};
struct ScoringConfig {
  double weight_cpu = 0.35;
  double weight_memory = 0.25;
  double weight_latency = 0.20;
  double weight_bandwidth = 0.20;
  MetricRange cpu_pct{100, 0};
  MetricRange memory_pct{100, 0};
  MetricRange latency_ms{150, 0};
  MetricRange bandwidth_kbps{0, 100000};
  // Metrics older than this count as worst (the core passes them as unknown).
  Duration max_age = std::chrono::seconds(5);
  // combined only (expected response time, docs/POLICIES.md); combined-paper
  // uses the weights and ranges above.
  double service_prior_ms = 50;  // a backend's time per request until its reports measure it
  double round_trips = 2;        // path round trips per connection: TCP handshake, request/response
  double response_kbit = 8;      // what a response puts on the backend's link (transfer time term)
  double memory_knee_pct = 90;   // memory use above this slows service by (100 - knee) / (100 - use)
  double rate_window_s = 1;      // time constant of the sent-rate estimate (utilisation term)
  double tie_ms = 10;            // ... or within this many ms: below what a client notices
  double tie_band = 0.5;         // costs within this many (least) service times of the best are ties
  // A backend's CPU time per request is shrunk toward the pool's, as if the
  // pool's figure were this many requests of its own (only where the agents
  // report their CPU capacity: otherwise speeds may differ by anything).
  double pool_requests = 20;
  friend bool operator==(const ScoringConfig&, const ScoringConfig&) = default;
};

struct VipSpec {
  std::string name;
  Ipv4Addr ip;
  uint8_t ip_proto = 0;          // 0: TCP and UDP; 6: TCP only; 17: UDP only
  std::optional<uint16_t> port;  // unset: every port of the VIP
  std::optional<MacAddr> fake_mac;
  PolicyKind policy = PolicyKind::RoundRobin;
  ScoringConfig scoring;
  HealthCheckConfig health;
  OnDown on_down = OnDown::KeepFlows;
  std::vector<BackendSpec> backends;
};

// Backend agents (fulcrum-agent) report CPU/memory/health in UDP datagrams
// sent to a VIP; the switch hands them to Fulcrum as packet-ins.
struct AgentConfig {
  bool enabled = false;
  uint16_t port = 7070;
  std::vector<uint8_t> key;                    // HMAC-SHA256 key
  Duration max_age = std::chrono::seconds(5);  // older reports are stale
  // A backend whose agent has been silent this long is down (0: never).
  Duration silence_timeout = std::chrono::seconds(5);
};

// Measurements for combined scoring: ICMP latency probes and port statistics.
struct MonitorConfig {
  Duration latency_probe_interval = std::chrono::seconds(1);
  Duration latency_probe_timeout = std::chrono::seconds(1);
  double rtt_smoothing = 0.3;  // EWMA weight of a new RTT sample
  Duration port_stats_interval = std::chrono::seconds(1);
  Duration metrics_log_interval = std::chrono::seconds(10);  // 0: no periodic metrics log
};

struct BalancerConfig {
  MacAddr fake_mac = MacAddr{{0x02, 0x00, 0x00, 0x00, 0x00, 0xfe}};
  uint16_t idle_timeout_s = 10;  // per-connection flow entries
  uint16_t hard_timeout_s = 0;
  // How long Fulcrum remembers a connection's backend after its entries idled
  // out, so that a keep-alive connection quiet for longer than the idle
  // timeout resumes on the same backend. 0: forget at once.
  Duration connection_linger = std::chrono::seconds(300);
  bool learning_switch = true;
  uint16_t l2_idle_timeout_s = 60;
  // Backend discovery: first ARP at switch-up, then retries with backoff from
  // discovery_retry_min up to discovery_retry_max until the backend answers.
  Duration discovery_retry_min = std::chrono::milliseconds(500);
  Duration discovery_retry_max = std::chrono::seconds(8);
  AgentConfig agent;
  MonitorConfig monitor;
  std::vector<VipSpec> vips;
};

// Flow priorities (higher wins).
namespace priority {
constexpr uint16_t kTableMiss = 0;
constexpr uint16_t kL2 = 10;
constexpr uint16_t kConnection = 100;
}  // namespace priority

// A connection as the client sees it: client -> VIP.
struct ConnKey {
  uint8_t proto = 0;
  Ipv4Addr client_ip;
  uint16_t client_port = 0;
  Ipv4Addr vip;
  uint16_t vip_port = 0;
  friend bool operator==(const ConnKey&, const ConnKey&) = default;
};

}  // namespace fulcrum::lb

template <>
struct std::hash<fulcrum::lb::ConnKey> {
  std::size_t operator()(const fulcrum::lb::ConnKey& k) const noexcept {
    uint64_t a = (uint64_t{k.client_ip.v} << 32) | k.vip.v;
    uint64_t b = (uint64_t{k.client_port} << 24) | (uint64_t{k.vip_port} << 8) | k.proto;
    // splitmix-style mixing of the two words
    uint64_t h = a * 0x9e3779b97f4a7c15ULL ^ (b + 0x632be59bd9b4e019ULL + (a << 6) + (a >> 2));
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 29;
    return static_cast<std::size_t>(h);
  }
};
