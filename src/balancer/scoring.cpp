#include "balancer/scoring.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <sstream>

namespace fulcrum::lb {

double normalise(double value, MetricRange range) {
  if (std::isnan(value)) return 0;
  const double span = range.best - range.worst;
  if (span == 0) {
    // Degenerate (validate() rejects it): all or nothing at `best`.
    return value == range.best ? 100.0 : 0.0;
  }
  const double v = 100.0 * (value - range.worst) / span;
  if (!(v > 0)) return 0;  // also catches NaN from infinities
  return v < 100 ? v : 100;
}

namespace {

std::string num(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

std::optional<std::string> check_weight(const char* field, double w) {
  if (!std::isfinite(w) || w < 0) return std::string(field) + ": must be a finite number >= 0 (got " + num(w) + ")";
  return std::nullopt;
}

std::optional<std::string> check_range(const char* field, MetricRange r) {
  if (!std::isfinite(r.worst) || !std::isfinite(r.best)) {
    return std::string(field) + ": worst and best must be finite (got worst " + num(r.worst) + ", best " + num(r.best) +
           ")";
  }
  if (r.worst == r.best) {
    return std::string(field) + ": worst and best must differ (both " + num(r.best) + ")";
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> validate(const ScoringConfig& cfg) {
  if (auto e = check_weight("weight_cpu", cfg.weight_cpu)) return e;
  if (auto e = check_weight("weight_memory", cfg.weight_memory)) return e;
  if (auto e = check_weight("weight_latency", cfg.weight_latency)) return e;
  if (auto e = check_weight("weight_bandwidth", cfg.weight_bandwidth)) return e;
  if (cfg.weight_cpu + cfg.weight_memory + cfg.weight_latency + cfg.weight_bandwidth <= 0) {
    return std::string("weight_cpu, weight_memory, weight_latency, weight_bandwidth: at least one must be > 0");
  }
  if (auto e = check_range("cpu_pct", cfg.cpu_pct)) return e;
  if (auto e = check_range("memory_pct", cfg.memory_pct)) return e;
  if (auto e = check_range("latency_ms", cfg.latency_ms)) return e;
  if (auto e = check_range("bandwidth_kbps", cfg.bandwidth_kbps)) return e;
  if (cfg.max_age <= Duration::zero()) {
    return "max_age: must be > 0 (got " + num(std::chrono::duration<double>(cfg.max_age).count()) + " s)";
  }
  if (!std::isfinite(cfg.service_prior_ms) || cfg.service_prior_ms <= 0 || cfg.service_prior_ms > 60'000) {
    return "service_prior_ms: must be > 0 and <= 60000 (got " + num(cfg.service_prior_ms) + ")";
  }
  if (!std::isfinite(cfg.round_trips) || cfg.round_trips < 0 || cfg.round_trips > 100) {
    return "round_trips: must be in 0..100 (got " + num(cfg.round_trips) + ")";
  }
  if (!std::isfinite(cfg.response_kbit) || cfg.response_kbit < 0 || cfg.response_kbit > 1e9) {
    return "response_kbit: must be in 0..1e9 (got " + num(cfg.response_kbit) + ")";
  }
  if (!std::isfinite(cfg.memory_knee_pct) || cfg.memory_knee_pct < 0 || cfg.memory_knee_pct >= 100) {
    return "memory_knee_pct: must be >= 0 and < 100 (got " + num(cfg.memory_knee_pct) + ")";
  }
  if (!std::isfinite(cfg.rate_window_s) || cfg.rate_window_s < 0.01 || cfg.rate_window_s > 3600) {
    return "rate_window_s: must be in 0.01..3600 (got " + num(cfg.rate_window_s) + ")";
  }
  if (!std::isfinite(cfg.tie_ms) || cfg.tie_ms < 0 || cfg.tie_ms > 10'000) {
    return "tie_ms: must be in 0..10000 (got " + num(cfg.tie_ms) + ")";
  }
  if (!std::isfinite(cfg.tie_band) || cfg.tie_band < 0 || cfg.tie_band > 10) {
    return "tie_band: must be in 0..10 (got " + num(cfg.tie_band) + ")";
  }
  if (!std::isfinite(cfg.pool_requests) || cfg.pool_requests < 0 || cfg.pool_requests > 1e6) {
    return "pool_requests: must be in 0..1e6 (got " + num(cfg.pool_requests) + ")";
  }
  return std::nullopt;
}

double Scorer::Metric::points(const std::optional<double>& v) const {
  if (scale == 0) return v ? normalise(*v, range) : 0;  // degenerate range (invalid config)
  // Branch-free (the values are unpredictable): unknown or too old counts as
  // worst, 0 points; std::max(0, NaN) is 0.
  const double value = v.has_value() ? *v : range.worst;
  return std::min(100.0, std::max(0.0, (value - range.worst) * scale));
}

Scorer::Scorer(const ScoringConfig& cfg) : cfg_(cfg) {
  auto metric = [](MetricRange r) {
    const double span = r.best - r.worst;
    return Metric{r, span != 0 && std::isfinite(span) ? 100.0 / span : 0.0};
  };
  cpu_ = metric(cfg.cpu_pct);
  memory_ = metric(cfg.memory_pct);
  latency_ = metric(cfg.latency_ms);
  bandwidth_ = metric(cfg.bandwidth_kbps);
  auto clean = [](double w) { return std::isfinite(w) && w > 0 ? w : 0.0; };
  const double sum =
      clean(cfg.weight_cpu) + clean(cfg.weight_memory) + clean(cfg.weight_latency) + clean(cfg.weight_bandwidth);
  if (sum > 0) {
    w_cpu_ = clean(cfg.weight_cpu) / sum;
    w_memory_ = clean(cfg.weight_memory) / sum;
    w_latency_ = clean(cfg.weight_latency) / sum;
    w_bandwidth_ = clean(cfg.weight_bandwidth) / sum;
  }
}

ScoreBreakdown Scorer::breakdown(const BackendView& b) const {
  ScoreBreakdown r;
  r.cpu = cpu_.points(b.cpu_pct);
  r.memory = memory_.points(b.memory_pct);
  r.latency = latency_.points(b.rtt_ms);
  r.bandwidth = bandwidth_.points(b.avail_bw_kbps);
  const double t = w_cpu_ * r.cpu + w_memory_ * r.memory + w_latency_ * r.latency + w_bandwidth_ * r.bandwidth;
  r.total = t < 100 ? t : 100;  // rounding
  return r;
}

double Scorer::score(const BackendView& b) const { return breakdown(b).total; }

double score(const BackendView& b, const ScoringConfig& cfg) { return Scorer(cfg).score(b); }
ScoreBreakdown score_breakdown(const BackendView& b, const ScoringConfig& cfg) { return Scorer(cfg).breakdown(b); }

}  // namespace fulcrum::lb
