#include "balancer/policies/combined.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "balancer/policies/least_connections.hpp"

namespace fulcrum::lb {

namespace {

double seconds(TimePoint t) { return std::chrono::duration<double>(t.time_since_epoch()).count(); }

}  // namespace

CombinedPolicy::Track& CombinedPolicy::track(const BackendView& b, uint32_t index) {
  if (index < tracks_.size() && tracks_[index].ip == b.ip) return tracks_[index];
  // The pool changed (or first sight): keep the state of backends still in
  // it, matched by address, wherever they moved.
  if (tracks_.size() <= index) tracks_.resize(index + 1);
  for (std::size_t j = 0; j < tracks_.size(); ++j) {
    if (j != index && tracks_[j].ip == b.ip) {
      std::swap(tracks_[index], tracks_[j]);
      return tracks_[index];
    }
  }
  Track fresh;
  fresh.ip = b.ip;
  tracks_[index] = fresh;
  return tracks_[index];
}

void CombinedPolicy::observe_report(Track& t, const BackendView& b) const {
  const uint32_t sent = b.assigned_last_interval.value_or(0);
  // The connections the interval's CPU served: those sent in it, plus those
  // in progress at its start, minus those still in progress at its end (the
  // agent's established count at both reports; just `sent` when unknown).
  // Sent alone overstates it while a queue builds, and the CPU of requests
  // sent late in the interval falls in the next one.
  int64_t served = sent;
  const bool counted = t.established && b.established;
  if (counted) served += int64_t{*t.established} - int64_t{*b.established};
  if (b.cpu_pct && b.assigned_last_interval && served >= int64_t{kMinSample} && b.report_interval_s > 0) {
    const double cpu = std::clamp(*b.cpu_pct, 0.0, 100.0);
    const double sample = std::clamp(cpu / 100.0 * b.report_interval_s / static_cast<double>(served), 1e-4, 10.0);
    // Saturated and counted by `sent` alone: more were sent than served, so
    // the sample is only a lower bound. With the established counts the
    // served are counted, and the sample stands either way (a ratchet there
    // only drifts up with the noise: it left the near server of the delayed
    // scenario the slowest-looking one at 100 connections/s).
    const bool saturated = cpu >= kSaturatedPct && !counted;
    if (!t.measured) {
      t.service_s = sample;
      t.measured = true;
    } else {
      const double next = t.service_s + kSmoothing * (sample - t.service_s);
      t.service_s = saturated ? std::max(t.service_s, next) : next;
    }
  } else if (t.measured && b.cpu_pct && *b.cpu_pct < kIdlePct && sent == 0) {
    // Idle now, and nothing of ours ran: the estimate cannot be refreshed
    // while we avoid the backend. pick() drops it if it is slower than the
    // fastest other (the contention it measured may be gone).
    t.idle_unused = true;
  }
  if (b.established) {
    // The report's count of connections in progress replaces the virtual
    // queue, both ways, plus those sent that had not arrived when it was
    // measured (about 2 RTT of the rate sent: on their way there, and the
    // report's way back).
    const Terms now = terms(t, b);
    const double now_s = seconds(b.now);
    const double rtt_s = b.rtt_ms ? std::max(0.0, *b.rtt_ms) / 1000.0 : 0.0;
    const double in_flight = rate_at(t, now_s) * 2 * rtt_s;
    t.busy_until_s = now_s + (static_cast<double>(*b.established) + in_flight) * now.s;
  }
  t.established = b.established;
}

CombinedPolicy::Terms CombinedPolicy::terms(const Track& t, const BackendView& b) const {
  Terms r{};
  double memory_factor = 1;
  const double knee = cfg_.memory_knee_pct;
  const double mem = b.memory_pct ? std::clamp(*b.memory_pct, 0.0, 100.0) : 100.0;
  if (mem > knee) memory_factor = std::min(kMaxMemoryFactor, (100 - knee) / std::max(100 - mem, 1e-9));
  const double w = b.weight > 0 ? static_cast<double>(b.weight) : 1.0;
  r.s = service_of(t) * memory_factor / w;
  const double rtt_s =
      (b.rtt_ms ? std::max(0.0, *b.rtt_ms) : std::max(cfg_.latency_ms.worst, cfg_.latency_ms.best)) / 1000.0;
  const double now_s = seconds(b.now);
  r.arrive_s = now_s + 1.5 * rtt_s;
  r.wait_s = std::max(0.0, t.busy_until_s - r.arrive_s);
  r.path_s = cfg_.round_trips * rtt_s;
  const double bw = std::max(b.avail_bw_kbps ? *b.avail_bw_kbps : 0.0, kMinBandwidthKbps);
  r.transfer_s = cfg_.response_kbit / bw;
  r.rho = std::min(kMaxRho, rate_at(t, now_s) * r.s);
  r.cost_s = r.path_s + r.transfer_s + r.s + 2 * r.wait_s + r.s * (1 / ((1 - r.rho) * (1 - r.rho)) - 1);
  return r;
}

double CombinedPolicy::rate_at(const Track& t, double now_s) const {
  return t.rate * std::exp(-std::max(0.0, now_s - t.rate_at_s) / cfg_.rate_window_s);
}

void CombinedPolicy::update_reference() {
  double least = 0;
  bool any = false;
  for (const Track& t : tracks_) {
    if (t.measured && (!any || t.service_s < least)) least = t.service_s, any = true;
  }
  unmeasured_s_ = any ? least : cfg_.service_prior_ms / 1000.0;
}

CombinedPolicy::Estimate CombinedPolicy::estimate(const BackendView& b) const {
  Track t;
  t.ip = b.ip;
  for (const Track& k : tracks_) {
    if (k.ip == b.ip) t = k;
  }
  const Terms r = terms(t, b);
  return Estimate{service_of(t), t.measured, r.s, r.wait_s, r.rho, r.path_s, r.transfer_s, r.cost_s};
}

std::optional<uint32_t> CombinedPolicy::pick(std::span<const BackendView> pool, const ConnKey& /*key*/) {
  // Take in new reports first: they may change the reference that
  // unmeasured backends are assumed to have.
  bool any = false;
  for (uint32_t i = 0; i < pool.size(); ++i) {
    const BackendView& b = pool[i];
    if (!eligible(b)) continue;
    any = true;
    Track& t = track(b, i);
    if (b.report_seq != t.report_seq) {
      t.report_seq = b.report_seq;
      observe_report(t, b);
    }
  }
  if (!any) return std::nullopt;
  // Tracks of backends no longer in the pool must not set the reference.
  if (tracks_.size() > pool.size()) tracks_.resize(pool.size());
  for (Track& t : tracks_) {
    if (!t.idle_unused) continue;
    t.idle_unused = false;
    for (const Track& o : tracks_) {
      if (&o != &t && o.measured && o.service_s < t.service_s) {
        t.measured = false;  // back to the unmeasured assumption: it gets connections, so it gets measured
        break;
      }
    }
  }
  update_reference();
  Terms ineligible{};
  ineligible.cost_s = INFINITY;
  terms_.assign(pool.size(), ineligible);
  uint32_t best = 0;
  double best_cost = INFINITY, least_s = INFINITY;
  for (uint32_t i = 0; i < pool.size(); ++i) {
    if (!eligible(pool[i])) continue;
    terms_[i] = terms(tracks_[i], pool[i]);
    if (terms_[i].cost_s < best_cost) best = i, best_cost = terms_[i].cost_s;
    least_s = std::min(least_s, terms_[i].s);
  }
  // Near ties: within tie_band of the least service time, or tie_ms.
  const double limit = best_cost + std::max(cfg_.tie_band * least_s, cfg_.tie_ms / 1000.0);
  const auto tied = [&](uint32_t i) { return terms_[i].cost_s <= limit; };
  uint32_t ties = 0;
  for (uint32_t i = 0; i < pool.size(); ++i) ties += tied(i) ? 1 : 0;
  uint32_t chosen = best;
  if (ties > 1) {
    // Least recently picked among the tied.
    uint64_t oldest = UINT64_MAX;
    for (uint32_t i = 0; i < pool.size(); ++i) {
      if (tied(i) && tracks_[i].last_pick < oldest) oldest = tracks_[i].last_pick, chosen = i;
    }
  }
  tracks_[chosen].last_pick = ++picks_;
  Track& t = tracks_[chosen];
  const Terms& r = terms_[chosen];
  t.busy_until_s = std::max(r.arrive_s, t.busy_until_s) + r.s;
  const double now_s = seconds(pool[chosen].now);
  t.rate = rate_at(t, now_s) + 1 / cfg_.rate_window_s;
  t.rate_at_s = now_s;
  return chosen;
}

}  // namespace fulcrum::lb
