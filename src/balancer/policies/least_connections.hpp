// Least-connections: the available backend with the fewest active
// connections (Fulcrum's own connection table) per unit of weight, i.e. the
// smallest active/weight. Ties are broken uniformly at random through the
// injected Rng (drawn only when there is a tie), so a burst at start-up, when
// every backend has 0, spreads instead of landing on the first backend.
// Weight 0 drains: such a backend takes no new connections.
#pragma once

#include "balancer/policy.hpp"

namespace fulcrum::lb {

class LeastConnectionsPolicy final : public Policy {
 public:
  explicit LeastConnectionsPolicy(Rng& rng) : rng_(rng) {}
  [[nodiscard]] PolicyKind kind() const override { return PolicyKind::LeastConnections; }
  std::optional<uint32_t> pick(std::span<const BackendView> pool, const ConnKey& key) override;

 private:
  Rng& rng_;
};

// True when backend a carries strictly less load per unit of weight than b
// (a.active/a.weight < b.active/b.weight, exactly, in integers). Both weights
// must be > 0.
inline bool lighter(const BackendView& a, const BackendView& b) {
  return uint64_t{a.active_connections} * b.weight < uint64_t{b.active_connections} * a.weight;
}

// A backend that may take a new connection from a weighted policy.
inline bool eligible(const BackendView& b) { return b.available && b.weight > 0; }

}  // namespace fulcrum::lb
