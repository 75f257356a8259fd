#include "balancer/policies/combined.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "balancer/policies/least_connections.hpp"

namespace fulcrum::lb {

namespace {

double seconds(TimePoint t) { return std::chrono::duration<double>(t.time_since_epoch()).count(); }

}  // namespace

int64_t RecentPicks::bucket_of(double t_s) { return static_cast<int64_t>(std::floor(t_s / kBucketS)); }

void RecentPicks::add(double now_s) {
  const int64_t k = bucket_of(now_s);
  if (head_ == INT64_MIN || k - head_ >= static_cast<int64_t>(kBuckets)) {
    count_.fill(0);
    head_ = k;
  } else {
    // Buckets between the latest pick and now are empty (a clock that went
    // back counts in the latest bucket).
    for (; head_ < k; ++head_) count_[static_cast<std::size_t>(head_ + 1) % kBuckets] = 0;
  }
  ++count_[static_cast<std::size_t>(head_) % kBuckets];
}

double RecentPicks::within(double now_s, double window_s) const {
  if (head_ == INT64_MIN || window_s <= 0) return 0;
  const int64_t oldest =
      std::max(bucket_of(now_s - std::min(window_s, kSpanS)), bucket_of(now_s) - static_cast<int64_t>(kBuckets) + 1);
  double n = 0;
  for (int64_t k = std::max(oldest, head_ - static_cast<int64_t>(kBuckets) + 1); k <= head_; ++k) {
    n += count_[static_cast<std::size_t>(k) % kBuckets];
  }
  return n;
}

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

void CombinedPolicy::observe_report(Track& t, const BackendView& b, bool consecutive) const {
  const uint32_t sent = b.assigned_last_interval.value_or(0);
  const double now_s = seconds(b.now);
  const double rtt_s = b.rtt_ms ? std::max(0.0, *b.rtt_ms) / 1000.0 : 0.0;
  // Sent within the last 2 RTT: not yet arrived when the agent counted (the
  // request arrives 1.5 RTT after the pick, the report takes 0.5 RTT back).
  const double in_flight = t.recent.within(now_s, kInFlightRtts * rtt_s);
  const double in_flight_before = consecutive ? t.in_flight : in_flight;
  // The connections the interval's CPU served: those sent in it, plus those
  // on their way or in progress at its start, minus those on their way or
  // still in progress at its end (the agent's established count at both
  // reports; without it, only the ones on their way). Sent alone overstates
  // it while a queue builds or while connections are on a long way there
  // (the start of a run: a far backend looked cheaper per request by the
  // share of the interval its first requests spent on the way), and the CPU
  // of requests sent late in the interval falls in the next one.
  double served = static_cast<double>(sent) + in_flight_before - in_flight;
  const bool counted = t.established && b.established;
  if (counted) served += static_cast<double>(int64_t{*t.established} - int64_t{*b.established});
  t.in_flight = in_flight;
  if (b.cpu_pct && b.assigned_last_interval && served >= double{kMinSample} && b.report_interval_s > 0) {
    const double cpu = std::clamp(*b.cpu_pct, 0.0, 100.0);
    const double sample = std::clamp(cpu / 100.0 * b.report_interval_s / served, 1e-4, 10.0);
    // Saturated and counted by `sent` alone: more were sent than served, so
    // the sample is only a lower bound. With the established counts the
    // served are counted, and the sample stands either way (a ratchet there
    // only drifts up with the noise: it left the near server of the delayed
    // scenario the slowest-looking one at 100 connections/s).
    const bool saturated = cpu >= kSaturatedPct && !counted;
    const double busy = sample * served;
    if (!t.measured) {
      t.busy_sum = busy;
      t.served_sum = served;
      t.measured = true;
    } else if (!(saturated && sample < t.own_s())) {
      t.busy_sum = (1 - kSmoothing) * t.busy_sum + busy;
      t.served_sum = (1 - kSmoothing) * t.served_sum + served;
    }
  } else if (t.measured && b.cpu_pct && *b.cpu_pct < kIdlePct && sent == 0) {
    // Idle now, and nothing of ours ran: the estimate cannot be refreshed
    // while we avoid the backend. pick() drops it if it is slower than the
    // fastest other (the contention it measured may be gone).
    t.idle_unused = true;
  }
  // The report's count of connections in progress replaces the virtual
  // queue, both ways, plus those sent that had not arrived when it was
  // measured: pick() resets it once every report is in and the pool is
  // updated, so that the queue is in the service time the costs use.
  if (b.established) t.queue_reset = static_cast<double>(*b.established) + in_flight;
  t.established = b.established;
}

double CombinedPolicy::per_request_s(const Track& t, const BackendView& b) const {
  double memory_factor = 1;
  const double knee = cfg_.memory_knee_pct;
  const double mem = b.memory_pct ? std::clamp(*b.memory_pct, 0.0, 100.0) : 0.0;
  if (mem > knee) memory_factor = std::min(kMaxMemoryFactor, (100 - knee) / std::max(100 - mem, 1e-9));
  const double w = b.weight > 0 ? static_cast<double>(b.weight) : 1.0;
  return service_of(t) * memory_factor / w;
}

CombinedPolicy::Terms CombinedPolicy::terms(const Track& t, const BackendView& b) const {
  Terms r{};
  r.s = per_request_s(t, b);
  const double rtt_s =
      (b.rtt_ms ? std::max(0.0, *b.rtt_ms) : std::max(cfg_.latency_ms.worst, cfg_.latency_ms.best)) / 1000.0;
  const double now_s = seconds(b.now);
  r.arrive_s = now_s + 1.5 * rtt_s;
  // The queue is kept in requests: repriced at the service time in force,
  // so that a new estimate (or a new reference for the unmeasured) moves
  // every backend's queue alike, not only the one just reset by a report.
  r.wait_s = std::max(0.0, queued(t, now_s) * r.s - (r.arrive_s - now_s));
  r.path_s = cfg_.round_trips * rtt_s;
  const double bw = std::max(b.avail_bw_kbps ? *b.avail_bw_kbps : 0.0, kMinBandwidthKbps);
  r.transfer_s = cfg_.response_kbit / bw;
  r.rho = rate_at(t, now_s) * r.s;
  double queueing = 0;
  if (r.rho <= kMaxRho) {
    queueing = 1 / ((1 - r.rho) * (1 - r.rho)) - 1;
  } else {
    const double gap = 1 - kMaxRho;
    queueing = 1 / (gap * gap) - 1 + 2 / (gap * gap * gap) * (r.rho - kMaxRho);
  }
  r.cost_s = r.path_s + r.transfer_s + r.s + 2 * r.wait_s + r.s * queueing;
  return r;
}

double CombinedPolicy::queued(const Track& t, double now_s) {
  if (t.queue_s <= 0) return 0;
  return std::max(0.0, t.queue_reqs - (now_s - t.queue_at_s) / t.queue_s);
}

double CombinedPolicy::rate_at(const Track& t, double now_s) const {
  return t.rate * std::exp(-std::max(0.0, now_s - t.rate_at_s) / cfg_.rate_window_s);
}

double CombinedPolicy::service_of(const Track& t) const {
  if (t.measured) {
    if (!t.sized() || pool_cpu_s_ <= 0) return t.own_s();
    const double k = cfg_.pool_requests;
    return (t.busy_sum + k * pool_cpu_s_ / *t.capacity) / (t.served_sum + k);
  }
  if (t.sized() && unmeasured_cpu_s_ > 0) return unmeasured_cpu_s_ / *t.capacity;
  return unmeasured_s_;
}

void CombinedPolicy::update_reference() {
  const double prior_s = cfg_.service_prior_ms / 1000.0;
  double least = 0, least_cpu = 0, most_capacity = 0, pool_busy_cpu = 0, pool_served = 0;
  bool any = false, any_cpu = false;
  for (const Track& t : tracks_) {
    if (t.sized()) most_capacity = std::max(most_capacity, *t.capacity);
    if (!t.measured) continue;
    const double own = t.own_s();
    if (!any || own < least) least = own, any = true;
    if (!t.sized()) continue;
    if (!any_cpu || own * *t.capacity < least_cpu) least_cpu = own * *t.capacity, any_cpu = true;
    pool_busy_cpu += t.busy_sum * *t.capacity;
    pool_served += t.served_sum;
  }
  pool_cpu_s_ = pool_served > 0 ? pool_busy_cpu / pool_served : 0;
  unmeasured_s_ = any ? least : prior_s;
  // With capacities, a backend of half the CPU is assumed half as fast: as
  // the least CPU time per request measured, or, before any measurement, the
  // prior for the largest capacity of the pool.
  unmeasured_cpu_s_ = any_cpu ? least_cpu : (any ? 0 : prior_s * most_capacity);
}

CombinedPolicy::Estimate CombinedPolicy::estimate(const BackendView& b) const {
  Track t;
  t.ip = b.ip;
  for (const Track& k : tracks_) {
    if (k.ip == b.ip) t = k;
  }
  const Terms r = terms(t, b);
  return Estimate{service_of(t), t.measured, t.in_flight, r.s, r.wait_s, r.rho, r.path_s, r.transfer_s, r.cost_s};
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
    if (b.cpu_capacity) t.capacity = b.cpu_capacity;
    if (b.report_seq != t.report_seq) {
      const bool consecutive = b.report_seq == t.report_seq + 1;
      t.report_seq = b.report_seq;
      observe_report(t, b, consecutive);
    }
  }
  if (!any) return std::nullopt;
  // Tracks of backends no longer in the pool must not set the reference.
  if (tracks_.size() > pool.size()) tracks_.resize(pool.size());
  for (Track& t : tracks_) {
    if (!t.idle_unused) continue;
    t.idle_unused = false;
    for (const Track& o : tracks_) {
      if (&o != &t && o.measured && o.own_s() < t.own_s()) {
        t.measured = false;  // back to the unmeasured assumption: it gets connections, so it gets measured
        t.busy_sum = t.served_sum = 0;
        break;
      }
    }
  }
  update_reference();
  for (uint32_t i = 0; i < pool.size(); ++i) {
    if (!eligible(pool[i])) continue;
    Track& t = tracks_[i];
    if (!t.queue_reset) continue;
    t.queue_at_s = seconds(pool[i].now);
    t.queue_reqs = *t.queue_reset;
    t.queue_s = per_request_s(t, pool[i]);
    t.queue_reset.reset();
  }
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
  const double now_s = seconds(pool[chosen].now);
  const double ahead_s = queued(t, now_s) * r.s;
  t.queue_reqs = (std::max(r.arrive_s - now_s, ahead_s) + r.s) / r.s;
  t.queue_at_s = now_s;
  t.queue_s = r.s;
  t.rate = rate_at(t, now_s) + 1 / cfg_.rate_window_s;
  t.rate_at_s = now_s;
  t.recent.add(now_s);
  return chosen;
}

}  // namespace fulcrum::lb
