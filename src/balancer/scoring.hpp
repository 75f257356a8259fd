// Combined-criteria scoring (paper 3.5, equations 4 and 5), as pure functions.
//
// Each metric is min-max normalised to 0..100 between its configured `worst`
// (-> 0) and `best` (-> 100) and clamped, so higher is better whichever way
// the raw metric runs (CPU: 100 % is worst; bandwidth: 0 kb/s is worst). The
// score is the mean of the normalised metrics weighted by the configured
// weights divided by their sum, so it is 0..100 as well. A metric the core
// passes as nullopt (unknown, or older than ScoringConfig::max_age) scores 0
// points, the same as its worst value. See docs/POLICIES.md.
#pragma once

#include <optional>
#include <string>

#include "balancer/policy.hpp"
#include "balancer/types.hpp"

namespace fulcrum::lb {

// Equation 4: 100 * (value - worst) / (best - worst), clamped to 0..100.
// Works for worst > best (CPU, memory, latency) and worst < best
// (bandwidth). A degenerate range (worst == best) is rejected by validate();
// here it answers 100 at or beyond `best` and 0 before it. NaN gives 0.
double normalise(double value, MetricRange range);

// nullopt when `cfg` is usable; otherwise a message naming the bad field, e.g.
// "weight_cpu: must be a finite number >= 0 (got -1)". Checks: weights finite
// and >= 0, not all zero; each range finite and non-degenerate; max_age > 0.
std::optional<std::string> validate(const ScoringConfig& cfg);

// Per-metric normalised values (0..100, nullopt metric -> 0) and the combined
// score, for logs and the API.
struct ScoreBreakdown {
  double cpu = 0;
  double memory = 0;
  double latency = 0;
  double bandwidth = 0;
  double total = 0;  // equation 5, 0..100
  friend bool operator==(const ScoreBreakdown&, const ScoreBreakdown&) = default;
};

// A ScoringConfig with the weights normalised once, so scoring a backend is a
// handful of multiplications. Build it from a valid config; with all-zero
// weights every score is 0.
class Scorer {
 public:
  explicit Scorer(const ScoringConfig& cfg);
  [[nodiscard]] ScoreBreakdown breakdown(const BackendView& b) const;
  [[nodiscard]] double score(const BackendView& b) const;
  [[nodiscard]] const ScoringConfig& config() const { return cfg_; }

 private:
  // Equation 4 with the division done once: 100 * (v - worst) / (best - worst)
  // as (v - worst) * scale, clamped.
  struct Metric {
    MetricRange range;
    double scale = 0;  // 100 / (best - worst); 0 for a degenerate range
    [[nodiscard]] double points(const std::optional<double>& v) const;
  };
  ScoringConfig cfg_;
  Metric cpu_, memory_, latency_, bandwidth_;
  double w_cpu_ = 0, w_memory_ = 0, w_latency_ = 0, w_bandwidth_ = 0;  // sum to 1 (or all 0)
};

// Equation 5 for one backend: 0..100.
double score(const BackendView& b, const ScoringConfig& cfg);
ScoreBreakdown score_breakdown(const BackendView& b, const ScoringConfig& cfg);

}  // namespace fulcrum::lb
