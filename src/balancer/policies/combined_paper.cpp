#include "balancer/policies/combined_paper.hpp"

namespace fulcrum::lb {

std::optional<uint32_t> CombinedPaperPolicy::pick(std::span<const BackendView> pool, const ConnKey& /*key*/) {
  std::optional<uint32_t> best;
  double best_score = 0;
  for (uint32_t i = 0; i < pool.size(); ++i) {
    if (!pool[i].available) continue;
    const double s = scorer_.score(pool[i]);
    if (!best || s > best_score) {
      best = i;
      best_score = s;
    }
  }
  return best;
}

}  // namespace fulcrum::lb
