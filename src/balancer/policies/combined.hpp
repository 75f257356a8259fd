// combined: Fulcrum's correction of the paper's policy against herding.
//
// The score of a backend is measured at its latest agent report and does not
// change until the next one, while the connections keep coming. The paper's
// argmax therefore sends every connection of that interval to one backend,
// and the next report shows it overloaded (herding, then oscillation). This
// policy debits the stale score with the connections Fulcrum itself has sent
// to the backend since that report, which it knows exactly
// (BackendView::assigned_since_report):
//
//   corrected = score - debit_points * assigned_since_report / weight
//
// and picks the backend with the best corrected score. Between two reports
// this is water-filling: the best backend takes connections until its
// corrected score comes down to the next one's, then they share, each in
// proportion to its weight (a backend of weight w absorbs w connections per
// debit). When a report arrives, the measured score replaces the estimate.
// Exact ties (e.g. identical backends, or all scores 0 when no agent reports)
// are broken uniformly at random through the injected Rng, drawn only on a
// tie. Weight 0 drains. See docs/POLICIES.md for the choice of method and of
// the default debit, one point (1 % of the score scale) per connection.
#pragma once

#include "balancer/policy.hpp"
#include "balancer/scoring.hpp"

namespace fulcrum::lb {

class CombinedPolicy final : public Policy {
 public:
  static constexpr double kDefaultDebitPoints = 1.0;

  CombinedPolicy(const ScoringConfig& cfg, Rng& rng, double debit_points = kDefaultDebitPoints)
      : scorer_(cfg), rng_(rng), debit_points_(debit_points) {}
  [[nodiscard]] PolicyKind kind() const override { return PolicyKind::Combined; }
  std::optional<uint32_t> pick(std::span<const BackendView> pool, const ConnKey& key) override;

  [[nodiscard]] const Scorer& scorer() const { return scorer_; }
  // The score the policy ranks by (for logs and the API).
  [[nodiscard]] double corrected_score(const BackendView& b) const;

 private:
  Scorer scorer_;
  Rng& rng_;
  double debit_points_;
};

}  // namespace fulcrum::lb
