// Backend selection policies. A policy sees the pool of one VIP on one switch
// and answers which backend takes the next connection; it owns no I/O and no
// clock (the core passes the time in the views), and takes its randomness from
// an injected Rng.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "balancer/rng.hpp"
#include "balancer/types.hpp"

namespace fulcrum::lb {

struct BackendView {
  uint32_t weight = 1;
  uint32_t active_connections = 0;
  bool available = false;  // learned (MAC and port known), healthy and not draining
  Ipv4Addr ip;             // stable identity (for hashing policies)
  // Fresh measurements; the core passes nullopt for a metric that is unknown
  // or older than ScoringConfig::max_age, which scoring counts as worst.
  std::optional<double> cpu_pct;        // agent report, 0..100
  std::optional<double> cpu_capacity;   // agent report: the CPUs cpu_pct is relative to (quota)
  std::optional<double> memory_pct;     // agent report, 0..100
  std::optional<double> rtt_ms;         // smoothed ICMP probe RTT
  std::optional<double> avail_bw_kbps;  // port capacity minus measured transmit rate
  uint32_t assigned_since_report = 0;   // new connections sent to it since its latest agent report
  // For policies that model time (combined). Policies read no clock: the core
  // passes the time the view was built.
  TimePoint now{};
  uint64_t report_seq = 0;              // agent reports accepted so far: changes when one arrives
  std::optional<uint32_t> established;  // latest fresh agent report: established TCP connections
  // Connections sent to it in the interval the latest report measures (between
  // its previous report and this one), and that interval in seconds; nullopt
  // when unknown (first report, a report missed, or too old).
  std::optional<uint32_t> assigned_last_interval;
  double report_interval_s = 0;

  friend bool operator==(const BackendView&, const BackendView&) = default;
};

class Policy {
 public:
  virtual ~Policy() = default;
  [[nodiscard]] virtual PolicyKind kind() const = 0;
  // Index into `pool` of the chosen backend, or nullopt when no backend is
  // available.
  virtual std::optional<uint32_t> pick(std::span<const BackendView> pool, const ConnKey& key) = 0;
};

// Cycles through the pool in configuration order, skipping unavailable
// backends: over any k*n consecutive picks with a stable pool of n available
// backends, each gets exactly k.
class RoundRobinPolicy final : public Policy {
 public:
  [[nodiscard]] PolicyKind kind() const override { return PolicyKind::RoundRobin; }
  std::optional<uint32_t> pick(std::span<const BackendView> pool, const ConnKey& key) override;

 private:
  uint32_t next_ = 0;
};

// Uniform among available backends.
class RandomPolicy final : public Policy {
 public:
  explicit RandomPolicy(Rng& rng) : rng_(rng) {}
  [[nodiscard]] PolicyKind kind() const override { return PolicyKind::Random; }
  std::optional<uint32_t> pick(std::span<const BackendView> pool, const ConnKey& key) override;

 private:
  Rng& rng_;
};

std::unique_ptr<Policy> make_policy(PolicyKind kind, Rng& rng);
std::unique_ptr<Policy> make_policy(PolicyKind kind, const ScoringConfig& scoring, Rng& rng);

}  // namespace fulcrum::lb
