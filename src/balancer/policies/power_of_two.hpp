// Power of two choices (Mitzenmacher): two distinct backends drawn uniformly
// at random among the available ones; the one with the lower active/weight
// takes the connection, the first drawn on a tie. With one available
// backend it is chosen without drawing. Weight 0 drains.
#pragma once

#include "balancer/policy.hpp"

namespace fulcrum::lb {

class PowerOfTwoPolicy final : public Policy {
 public:
  explicit PowerOfTwoPolicy(Rng& rng) : rng_(rng) {}
  [[nodiscard]] PolicyKind kind() const override { return PolicyKind::PowerOfTwo; }
  std::optional<uint32_t> pick(std::span<const BackendView> pool, const ConnKey& key) override;

 private:
  Rng& rng_;
};

}  // namespace fulcrum::lb
