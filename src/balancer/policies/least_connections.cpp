#include "balancer/policies/least_connections.hpp"

namespace fulcrum::lb {

std::optional<uint32_t> LeastConnectionsPolicy::pick(std::span<const BackendView> pool, const ConnKey& /*key*/) {
  const auto n = static_cast<uint32_t>(pool.size());
  std::optional<uint32_t> best;
  uint32_t ties = 0;
  for (uint32_t i = 0; i < n; ++i) {
    if (!eligible(pool[i])) continue;
    if (!best || lighter(pool[i], pool[*best])) {
      best = i;
      ties = 1;
    } else if (!lighter(pool[*best], pool[i])) {
      ++ties;
    }
  }
  if (!best || ties == 1) return best;
  // Uniform among the tied ones, in pool order.
  auto nth = static_cast<uint32_t>(rng_.uniform(ties));
  const BackendView& min = pool[*best];
  for (uint32_t i = *best; i < n; ++i) {
    if (!eligible(pool[i]) || lighter(min, pool[i])) continue;
    if (nth == 0) return i;
    --nth;
  }
  return best;  // unreachable
}

}  // namespace fulcrum::lb
