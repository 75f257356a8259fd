// Smooth weighted round-robin, as nginx does it: on every pick each eligible
// backend's current weight grows by its weight, the largest current weight
// wins (the first in pool order on a tie) and loses the sum of the weights.
// Over any sum(weights) consecutive picks with a stable pool each backend gets
// exactly its weight, interleaved rather than in runs (weights 5,1,1 give
// a a b a c a a). A backend that becomes unavailable keeps its current weight
// and is skipped; a change in the pool's size restarts the sequence. Weight 0
// drains.
#pragma once

#include <vector>

#include "balancer/policy.hpp"

namespace fulcrum::lb {

class WeightedRoundRobinPolicy final : public Policy {
 public:
  [[nodiscard]] PolicyKind kind() const override { return PolicyKind::WeightedRoundRobin; }
  std::optional<uint32_t> pick(std::span<const BackendView> pool, const ConnKey& key) override;

 private:
  std::vector<int64_t> current_;
};

}  // namespace fulcrum::lb
