// combined: Fulcrum's combined-criteria policy. Each new connection goes to
// the backend where it adds the least expected time, measured in seconds
// rather than in score points, with a virtual queue per backend so that the
// decision moves with every connection sent, not only with every report.
//
// For an available backend b with weight w > 0 (docs/POLICIES.md has the
// derivation and the alternatives):
//
//   s      = service(b) * memory_factor(b) / w   time per request
//   arrive = now + 1.5 rtt                       the request reaches b
//   wait   = max(0, queued(b) * s - 1.5 rtt)     virtual queue ahead of it
//   rho    = rate(b) * s                         utilisation by what we send
//   cost   = round_trips * rtt + response_kbit / avail_bw
//            + s + 2 wait + s f(rho)
//   f(rho) = 1 / (1 - rho)^2 - 1, continued along its tangent beyond 0.99
//
// and the backend of least cost takes the connection; then its queue grows
// to (max(1.5 rtt, queued(b) * s) + s) / s requests, and rate(b), the rate of
// connections sent to b (exponentially decayed over rate_window_s), grows by
// one. The queue terms are marginal costs: what one more request adds to the
// sum of all response times, not only its own. s + 2 wait is that of a
// processor-sharing server (a threaded web server on a CPU quota) with
// L = wait / s requests in it: its own s (1 + L), plus s for each of the L
// it shares the CPU with; s / (1 - rho)^2 is that of an M/M/1
// queue at utilisation rho, the waiting that a deterministic virtual queue
// does not see when arrivals and service times vary (without it, the near
// server is loaded to rho ~ 1 and its real queue explodes). Ranking by a
// request's own time alone is the selfish choice: it fills the near server
// until its wait equals the far servers' extra round trips, which costs the
// mean.
//
// The four criteria of the paper, in seconds:
// - CPU: service(b) is measured from the agent reports: busy time over the
//   report's interval (CPU relative to the backend's quota) divided by the
//   connections it served in that interval (those Fulcrum sent it, corrected
//   by the agent's established counts and by the connections on their way,
//   RecentPicks, at both ends), only from intervals with at least 2
//   connections, smoothed as a ratio of sums (busy time and connections
//   served each decayed by 0.7 per report: an interval counts by its
//   connections), and shrunk toward the pool's CPU time per request as if
//   that were pool_requests connections of its own, where the agents report
//   their CPU capacity; when the agent gives no
//   established counts (served = sent), it can only rise while the backend
//   reports >= 95 % CPU (there the sent outnumber the served). Until
//   measured, a backend is assumed as fast as the fastest measured one of the
//   pool (optimism: it gets connections, so it gets measured), or
//   ScoringConfig::service_prior_ms when none is; when agents report their
//   CPU capacity, in CPU time per request, scaled by each one's capacity. An estimate slower than the
//   fastest other is dropped when the backend reports itself idle (< 50 %
//   CPU, no connection from us in the interval): while we avoid it, nothing
//   can refresh it, and the contention it measured may be gone; the backend
//   is then re-measured with real connections. A report resets the virtual
//   queue, both ways, to (the agent's count of established connections + the
//   connections sent within 2 RTT, not yet counted) x s.
// - latency: the smoothed probe RTT, round_trips times (a connection pays the
//   handshake and the request/response); unknown: the range's worst (150 ms).
// - bandwidth: the time to put a response on what is left of the link,
//   response_kbit / max(avail_bw, 100 kb/s); unknown counts as 0 kb/s.
// - memory: above memory_knee_pct, service slows by (100 - knee) / (100 - mem),
//   at most 10 times; unknown memory does not slow it (no report yet, or no
//   agent: as 100 %, the first backend to report looked 10 times faster).
// Costs within tie_band service times of the least (ScoringConfig, default
// half the least s), or within tie_ms (10 ms), count as ties: differences that small are within the
// estimates' noise, and equal backends then share instead of the one with
// the luckiest estimate taking every connection of a light load. Ties go to
// the least recently picked (rotation keeps equal backends evenly
// interleaved; random draws bunch them, which costs at high load). Weight 0
// drains. Deterministic given the views (the time comes in
// BackendView::now), so tests pin every pick with a fake clock.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "balancer/policy.hpp"

namespace fulcrum::lb {

// The picks of one backend over the last ~1.3 s, counted in 20 ms buckets:
// how many of the connections sent to it cannot have reached it yet when a
// report arrives (those sent within the last 2 RTT). A decayed rate answers
// that badly at the start of a run, when it has not caught up with the
// arrivals: it made a far backend that had 8 connections on their way look
// empty at the first report. Fixed size; no allocation.
class RecentPicks {
 public:
  static constexpr double kBucketS = 0.02;
  static constexpr std::size_t kBuckets = 64;
  static constexpr double kSpanS = kBucketS * kBuckets;

  void add(double now_s);
  // Picks in the last window_s (at most kSpanS) before now_s, by whole
  // buckets: the bucket holding now_s - window_s counts in full.
  [[nodiscard]] double within(double now_s, double window_s) const;

 private:
  [[nodiscard]] static int64_t bucket_of(double t_s);
  std::array<uint32_t, kBuckets> count_{};
  int64_t head_ = INT64_MIN;  // bucket of the latest pick
};

class CombinedPolicy final : public Policy {
 public:
  static constexpr double kSmoothing = 0.3;         // EWMA weight of a new service sample
  static constexpr uint32_t kMinSample = 2;         // connections in an interval to measure service
  static constexpr double kSaturatedPct = 95;       // CPU at which a sample is only a lower bound
  static constexpr double kMinBandwidthKbps = 100;  // floor of the transfer term (and unknown bandwidth)
  static constexpr double kMaxMemoryFactor = 10;
  static constexpr double kMaxRho = 0.99;     // f(rho) goes on along its tangent beyond (cost x 10^4 there)
  static constexpr double kIdlePct = 50;      // below, with no connection from us: the report is idle
  static constexpr double kInFlightRtts = 2;  // a connection reaches the agent's count 2 RTT after the pick

  // Deterministic: it draws nothing from the Rng (near ties go to the least
  // recently picked), which the signature keeps for symmetry with the others.
  CombinedPolicy(const ScoringConfig& cfg, Rng& /*rng*/) : cfg_(cfg), unmeasured_s_(cfg.service_prior_ms / 1000.0) {}
  [[nodiscard]] PolicyKind kind() const override { return PolicyKind::Combined; }
  std::optional<uint32_t> pick(std::span<const BackendView> pool, const ConnKey& key) override;

  // How the policy sees a backend now (seconds), for tests and logs.
  struct Estimate {
    double service_s = 0;  // measured (or assumed) time per request, before memory and weight
    bool measured = false;
    double in_flight = 0;  // sent within 2 RTT of the latest report: not yet in its counts
    double s = 0;          // service_s * memory factor / weight
    double wait_s = 0;
    double rho = 0;  // utilisation by the connections sent (rate x s)
    double path_s = 0;
    double transfer_s = 0;
    double cost_s = 0;
  };
  // The estimate for `b` given the state the policy keeps for b.ip; a backend
  // it has never seen gets the unmeasured assumption and an empty queue. Does not take a
  // report in `b` into account until the next pick().
  [[nodiscard]] Estimate estimate(const BackendView& b) const;

 private:
  struct Track {
    Ipv4Addr ip;
    uint64_t report_seq = 0;
    bool measured = false;
    bool idle_unused = false;        // the latest report: idle, and no connection from us in its interval
    std::optional<double> capacity;  // CPUs the reported CPU is relative to (latest report)
    // Virtual queue: queue_reqs requests at queue_at_s, draining at one per
    // queue_s (the service time when it was last set).
    double queue_reqs = 0, queue_at_s = 0, queue_s = 0;
    std::optional<uint32_t> established;  // in the previous report
    std::optional<double> queue_reset;    // a report's connections in progress and on their way, to apply
    double rate = 0;                      // connections/s sent to it, decayed, as of rate_at_s
    double rate_at_s = 0;
    // Busy time and connections served over the reports, decayed (kSmoothing)
    // alike: their ratio weighs each interval by its connections (a mean of
    // per-interval ratios let 6 connections count as much as 40).
    double busy_sum = 0, served_sum = 0;
    uint64_t last_pick = 0;  // picks_ when it was last chosen (0: never)
    RecentPicks recent;
    double in_flight = 0;  // connections on their way at the previous report

    // Its own measured time per request (while measured: served_sum >= 2).
    [[nodiscard]] double own_s() const { return busy_sum / served_sum; }
    [[nodiscard]] bool sized() const { return capacity && *capacity > 0; }
  };
  struct Terms {
    double s, arrive_s, wait_s, rho, path_s, transfer_s, cost_s;
  };
  Track& track(const BackendView& b, uint32_t index);
  void observe_report(Track& t, const BackendView& b, bool consecutive) const;
  // The service time the policy uses: measured, or the reference below
  // (scaled by the backend's capacity when the agents report capacities).
  [[nodiscard]] double service_of(const Track& t) const;
  // s: the service time with the memory factor and the weight.
  [[nodiscard]] double per_request_s(const Track& t, const BackendView& b) const;
  [[nodiscard]] Terms terms(const Track& t, const BackendView& b) const;
  // Connections/s sent to the backend, decayed to now_s.
  [[nodiscard]] double rate_at(const Track& t, double now_s) const;
  // Requests in the virtual queue at now_s.
  [[nodiscard]] static double queued(const Track& t, double now_s);
  // What an unmeasured backend is assumed to take: the least measured
  // service time among the tracked backends, or the prior; and, from the
  // backends whose agents report their capacity, the least CPU time per
  // request (service x capacity), which scales by each backend's capacity.
  void update_reference();

  ScoringConfig cfg_;
  std::vector<Track> tracks_;    // by pool index, re-matched by address when the pool changes
  std::vector<Terms> terms_;     // scratch, by pool index (cost infinite when not eligible)
  double unmeasured_s_ = 0;      // what an unmeasured backend is assumed to take per request
  double unmeasured_cpu_s_ = 0;  // ... in CPU-seconds, for backends of known capacity (0: none known)
  uint64_t picks_ = 0;
  double pool_cpu_s_ = 0;  // CPU-seconds per request over the backends of known capacity (0: none)
};

}  // namespace fulcrum::lb
