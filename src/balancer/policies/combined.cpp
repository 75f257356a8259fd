#include "balancer/policies/combined.hpp"

#include "balancer/policies/least_connections.hpp"

namespace fulcrum::lb {

double CombinedPolicy::corrected_score(const BackendView& b) const {
  const double w = b.weight > 0 ? static_cast<double>(b.weight) : 1.0;
  return scorer_.score(b) - debit_points_ * static_cast<double>(b.assigned_since_report) / w;
}

std::optional<uint32_t> CombinedPolicy::pick(std::span<const BackendView> pool, const ConnKey& /*key*/) {
  std::optional<uint32_t> best;
  double best_score = 0;
  uint32_t ties = 0;
  for (uint32_t i = 0; i < pool.size(); ++i) {
    if (!eligible(pool[i])) continue;
    const double s = corrected_score(pool[i]);
    if (!best || s > best_score) {
      best = i;
      best_score = s;
      ties = 1;
    } else if (s == best_score) {
      ++ties;
    }
  }
  if (!best || ties == 1) return best;
  auto nth = static_cast<uint32_t>(rng_.uniform(ties));
  for (uint32_t i = *best; i < pool.size(); ++i) {
    if (!eligible(pool[i]) || corrected_score(pool[i]) != best_score) continue;
    if (nth == 0) return i;
    --nth;
  }
  return best;  // unreachable
}

}  // namespace fulcrum::lb
