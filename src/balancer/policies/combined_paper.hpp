// combined-paper: the paper's policy (3.6) exactly. Every new connection goes
// to the available backend with the best combined score (equations 4 and 5)
// at that instant; on a tie, the lowest pool index. Deterministic, draws no
// random numbers and ignores per-backend weights, as the paper does.
//
// Its known weakness: between two agent reports the scores do not change, so
// every connection in between goes to the same backend (herding). See
// CombinedPolicy for Fulcrum's correction.
#pragma once

#include "balancer/policy.hpp"
#include "balancer/scoring.hpp"

namespace fulcrum::lb {

class CombinedPaperPolicy final : public Policy {
 public:
  explicit CombinedPaperPolicy(const ScoringConfig& cfg) : scorer_(cfg) {}
  [[nodiscard]] PolicyKind kind() const override { return PolicyKind::CombinedPaper; }
  std::optional<uint32_t> pick(std::span<const BackendView> pool, const ConnKey& key) override;
  [[nodiscard]] const Scorer& scorer() const { return scorer_; }

 private:
  Scorer scorer_;
};

}  // namespace fulcrum::lb
