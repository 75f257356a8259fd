#include "balancer/policy.hpp"

#include <array>

#include "balancer/policies/combined.hpp"
#include "balancer/policies/combined_paper.hpp"
#include "balancer/policies/least_connections.hpp"
#include "balancer/policies/power_of_two.hpp"
#include "balancer/policies/source_hash.hpp"
#include "balancer/policies/weighted_round_robin.hpp"

namespace fulcrum::lb {

const char* policy_name(PolicyKind k) {
  switch (k) {
    case PolicyKind::RoundRobin:
      return "round-robin";
    case PolicyKind::Random:
      return "random";
    case PolicyKind::LeastConnections:
      return "least-connections";
    case PolicyKind::WeightedRoundRobin:
      return "weighted-round-robin";
    case PolicyKind::PowerOfTwo:
      return "power-of-two";
    case PolicyKind::SourceHash:
      return "source-hash";
    case PolicyKind::CombinedPaper:
      return "combined-paper";
    case PolicyKind::Combined:
      return "combined";
  }
  return "?";
}

std::optional<PolicyKind> parse_policy(const std::string& s) {
  if (s == "round-robin" || s == "roundrobin" || s == "rr") return PolicyKind::RoundRobin;
  if (s == "random") return PolicyKind::Random;
  for (PolicyKind k : {PolicyKind::LeastConnections, PolicyKind::WeightedRoundRobin, PolicyKind::PowerOfTwo,
                       PolicyKind::SourceHash, PolicyKind::CombinedPaper, PolicyKind::Combined}) {
    if (s == policy_name(k)) return k;
  }
  return std::nullopt;
}

std::optional<uint32_t> RoundRobinPolicy::pick(std::span<const BackendView> pool, const ConnKey& /*key*/) {
  const auto n = static_cast<uint32_t>(pool.size());
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t idx = (next_ + i) % n;
    if (pool[idx].available) {
      next_ = (idx + 1) % n;
      return idx;
    }
  }
  return std::nullopt;
}

std::optional<uint32_t> RandomPolicy::pick(std::span<const BackendView> pool, const ConnKey& /*key*/) {
  uint32_t available = 0;
  for (const auto& b : pool) available += b.available ? 1 : 0;
  if (available == 0) return std::nullopt;
  auto nth = static_cast<uint32_t>(rng_.uniform(available));
  for (uint32_t i = 0; i < pool.size(); ++i) {
    if (!pool[i].available) continue;
    if (nth == 0) return i;
    --nth;
  }
  return std::nullopt;  // unreachable
}

std::unique_ptr<Policy> make_policy(PolicyKind kind, Rng& rng) { return make_policy(kind, ScoringConfig{}, rng); }

std::unique_ptr<Policy> make_policy(PolicyKind kind, const ScoringConfig& scoring, Rng& rng) {
  switch (kind) {
    case PolicyKind::RoundRobin:
      return std::make_unique<RoundRobinPolicy>();
    case PolicyKind::Random:
      return std::make_unique<RandomPolicy>(rng);
    case PolicyKind::LeastConnections:
      return std::make_unique<LeastConnectionsPolicy>(rng);
    case PolicyKind::WeightedRoundRobin:
      return std::make_unique<WeightedRoundRobinPolicy>();
    case PolicyKind::PowerOfTwo:
      return std::make_unique<PowerOfTwoPolicy>(rng);
    case PolicyKind::SourceHash:
      return std::make_unique<SourceHashPolicy>();
    case PolicyKind::CombinedPaper:
      return std::make_unique<CombinedPaperPolicy>(scoring);
    case PolicyKind::Combined:
      return std::make_unique<CombinedPolicy>(scoring, rng);
  }
  return nullptr;
}

}  // namespace fulcrum::lb
