#include "balancer/policies/weighted_round_robin.hpp"

#include "balancer/policies/least_connections.hpp"

namespace fulcrum::lb {

std::optional<uint32_t> WeightedRoundRobinPolicy::pick(std::span<const BackendView> pool, const ConnKey& /*key*/) {
  if (current_.size() != pool.size()) current_.assign(pool.size(), 0);
  std::optional<uint32_t> best;
  int64_t total = 0;
  for (uint32_t i = 0; i < pool.size(); ++i) {
    if (!eligible(pool[i])) continue;
    current_[i] += pool[i].weight;
    total += pool[i].weight;
    if (!best || current_[i] > current_[*best]) best = i;
  }
  if (best) current_[*best] -= total;
  return best;
}

}  // namespace fulcrum::lb
