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

struct BackendSpec {
  Ipv4Addr ip;
  uint32_t weight = 1;
  friend bool operator==(const BackendSpec&, const BackendSpec&) = default;
};

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
  std::vector<BackendSpec> backends;
};

struct BalancerConfig {
  MacAddr fake_mac = MacAddr{{0x02, 0x00, 0x00, 0x00, 0x00, 0xfe}};
  uint16_t idle_timeout_s = 10;  // per-connection flow entries
  uint16_t hard_timeout_s = 0;
  bool learning_switch = true;
  uint16_t l2_idle_timeout_s = 60;
  // Backend discovery: first ARP at switch-up, then retries with backoff from
  // discovery_retry_min up to discovery_retry_max until the backend answers.
  Duration discovery_retry_min = std::chrono::milliseconds(500);
  Duration discovery_retry_max = std::chrono::seconds(8);
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
