// combined-paper (argmax of the score, as the paper) and combined (least
// expected time with a virtual queue): deterministic picks with a fake clock,
// the queue draining, the service-time estimate, no bursts between reports,
// ties, weights, unavailable backends and unknown metrics.
#include "balancer/policies/combined.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <vector>

#include "balancer/policies/combined_paper.hpp"
#include "unit/balancer/scripted_rng.hpp"
#include "unit/policies/views.hpp"

namespace fulcrum::lb::testing {
namespace {

// Only CPU weighs, so a backend's score is 100 - cpu: easy numbers.
ScoringConfig cpu_only() {
  ScoringConfig c;
  c.weight_cpu = 1;
  c.weight_memory = c.weight_latency = c.weight_bandwidth = 0;
  return c;
}

BackendView with_cpu(uint32_t index, std::optional<double> cpu, uint32_t weight = 1) {
  BackendView v = backend(index, true, weight);
  v.cpu_pct = cpu;
  return v;
}

// Picks `n` connections with the metrics frozen (no report in between) and
// the clock stopped, the core counting each one in assigned_since_report and
// active_connections.
template <typename P>
std::vector<uint32_t> frozen_picks(P& p, std::vector<BackendView>& pool, int n) {
  std::vector<uint32_t> out;
  for (int i = 0; i < n; ++i) {
    auto c = p.pick(pool, kKey);
    EXPECT_TRUE(c.has_value());
    if (!c) break;
    out.push_back(*c);
    ++pool[*c].assigned_since_report;
    ++pool[*c].active_connections;
  }
  return out;
}

// ---- combined-paper -------------------------------------------------------------

TEST(CombinedPaper, PicksTheBestScoreNow) {
  CombinedPaperPolicy p(cpu_only());
  std::vector<BackendView> pool{with_cpu(0, 50), with_cpu(1, 20), with_cpu(2, 70)};
  EXPECT_EQ(p.pick(pool, kKey), 1u);
  pool[1].available = false;
  EXPECT_EQ(p.pick(pool, kKey), 0u);
  // An unknown (or too old) metric is worst: 0 points.
  pool[0].cpu_pct.reset();
  EXPECT_EQ(p.pick(pool, kKey), 2u);
}

TEST(CombinedPaper, TiesGoToTheLowestIndex) {
  CombinedPaperPolicy p(cpu_only());
  std::vector<BackendView> pool{with_cpu(0, 90), with_cpu(1, 30), with_cpu(2, 30)};
  EXPECT_EQ(picks(p, pool, 3), (std::vector<uint32_t>{1, 1, 1}));
  // No metrics at all: every score is 0, the first available one.
  std::vector<BackendView> blind{backend(0, false), backend(1), backend(2)};
  EXPECT_EQ(p.pick(blind, kKey), 1u);
}

TEST(CombinedPaper, IgnoresWeightsAsThePaperDoes) {
  CombinedPaperPolicy p(cpu_only());
  std::vector<BackendView> pool{with_cpu(0, 30, 1), with_cpu(1, 40, 100)};
  EXPECT_EQ(p.pick(pool, kKey), 0u);
}

// ---- herding: the paper's policy and ours between two reports -------------------

TEST(Herding, PaperSendsEveryConnectionBetweenTwoReportsToOneBackend) {
  CombinedPaperPolicy p(ScoringConfig{});
  std::vector<BackendView> pool{with_cpu(0, 30), with_cpu(1, 35), with_cpu(2, 40)};
  for (auto& b : pool) b.memory_pct = 40, b.rtt_ms = 1, b.avail_bw_kbps = 90000;
  auto got = frozen_picks(p, pool, 100);
  EXPECT_EQ(std::count(got.begin(), got.end(), 0u), 100);
}

TEST(Herding, CombinedSpreadsConnectionsBetweenTwoReports) {
  Xoshiro256 rng(5);
  CombinedPolicy p(ScoringConfig{}, rng);
  std::vector<BackendView> pool{with_cpu(0, 30), with_cpu(1, 35), with_cpu(2, 40)};
  for (auto& b : pool) b.memory_pct = 40, b.rtt_ms = 1, b.avail_bw_kbps = 90000;
  auto got = frozen_picks(p, pool, 100);
  std::vector<int> count(3);
  for (uint32_t c : got) ++count[c];
  // Every connection lengthens the virtual queue of the backend that takes
  // it, so equal backends take turns: each round of three covers all three
  // (the order within a round is drawn), 34/33/33 in all.
  for (int c : count) EXPECT_GE(c, 33);
  for (std::size_t i = 0; i + 3 <= got.size(); i += 3) {
    EXPECT_EQ(std::set<uint32_t>(got.begin() + static_cast<std::ptrdiff_t>(i),
                                 got.begin() + static_cast<std::ptrdiff_t>(i) + 3)
                  .size(),
              3u);
  }
}

// ---- combined: exact behaviour with a fake clock --------------------------------

const TimePoint kT0 = TimePoint{} + std::chrono::seconds(1000);

// No near-tie band: every pick below is the exact least cost, nothing drawn.
// A service prior of 20 ms keeps the arithmetic in the comments round.
ScoringConfig exact_cfg() {
  ScoringConfig c;
  c.tie_band = 0;
  c.tie_ms = 0;
  c.service_prior_ms = 20;
  return c;
}

Duration ms(double v) { return std::chrono::duration_cast<Duration>(std::chrono::duration<double, std::milli>(v)); }

// The paper's delayed scenario as the policy sees it: b0 near, b1 and b2
// 100 and 160 ms of RTT away, idle, memory 40 %, 90 Mb/s free.
std::vector<BackendView> delayed_pool(TimePoint now = kT0) {
  std::vector<BackendView> pool;
  const double rtts[] = {1, 100, 160};
  for (uint32_t i = 0; i < 3; ++i) {
    BackendView v = with_cpu(i, 10);
    v.rtt_ms = rtts[i];
    v.memory_pct = 40;
    v.avail_bw_kbps = 90000;
    v.now = now;
    pool.push_back(v);
  }
  return pool;
}

// A report as the core passes it: the sequence number moves, the CPU of the
// interval and the connections sent in it.
void report(BackendView& v, double cpu, std::optional<uint32_t> sent, std::optional<uint32_t> established = 0) {
  ++v.report_seq;
  v.cpu_pct = cpu;
  v.assigned_last_interval = sent;
  v.report_interval_s = 1.0;
  v.established = established;
}

TEST(Combined, ExactPicksByLeastExpectedTime) {
  ScriptedRng rng;  // no tie: nothing drawn
  CombinedPolicy p(exact_cfg(), rng);
  auto pool = delayed_pool();
  // Prior service 20 ms. With the clock stopped, b0's cost after k picks is
  // 2.09 ms (path, transfer) + 20 ms + 2 x 20 ms k (its wait, paid by it and
  // added to those in service) + 20 ms (1 / (1 - rho)^2 - 1), rho = 0.02 k
  // (k sent in the last second): 22.1, 62.9, 103.8, 144.7, 185.7, 226.8,
  // 267.9, 309.1, 350.4 ms. b1's is the same plus 198 ms (220.1, 260.9,
  // 301.8, 344.7), b2's plus 318 ms (340.1). In order of cost: b0 five
  // times, then b1 220.1 < b0 226.8, b0, b1 260.9 < 267.9, b0, b1 301.8 <
  // 309.1, b0, b2 340.1 < 344.7, 350.4.
  EXPECT_EQ(frozen_picks(p, pool, 12), (std::vector<uint32_t>{0, 0, 0, 0, 0, 1, 0, 1, 0, 1, 0, 2}));
  EXPECT_EQ(rng.consumed(), 0u);
  const auto e = p.estimate(pool[0]);
  EXPECT_FALSE(e.measured);
  EXPECT_DOUBLE_EQ(e.service_s, 0.020);
  EXPECT_NEAR(e.wait_s, 8 * 0.020, 1e-9);  // 8 picks, none served yet
  EXPECT_NEAR(e.path_s, 0.002, 1e-12);
  EXPECT_NEAR(e.transfer_s, 8.0 / 90000, 1e-12);
  EXPECT_NEAR(e.rho, 8 * 0.020, 1e-9);  // 8 sent with the clock stopped: 8/s
  EXPECT_NEAR(e.cost_s, 0.002 + 8.0 / 90000 + 0.020 + 2 * 0.16 + 0.020 * (1 / (0.84 * 0.84) - 1), 1e-9);
}

TEST(Combined, VirtualQueueDrainsWithTime) {
  ScriptedRng rng;
  CombinedPolicy p(exact_cfg(), rng);
  auto pool = delayed_pool();
  EXPECT_EQ(frozen_picks(p, pool, 3), (std::vector<uint32_t>{0, 0, 0}));
  // The request reaches b0 1.5 RTT after the pick; 3 x 20 ms queued from then.
  EXPECT_NEAR(p.estimate(pool[0]).wait_s, 0.060, 1e-9);
  for (auto& b : pool) b.now = kT0 + ms(25);
  EXPECT_NEAR(p.estimate(pool[0]).wait_s, 0.035, 1e-9);
  for (auto& b : pool) b.now = kT0 + ms(60);
  EXPECT_NEAR(p.estimate(pool[0]).wait_s, 0.0, 1e-9);
  // Drained: b0 again, then its queue restarts from the new arrival.
  EXPECT_EQ(p.pick(pool, kKey), 0u);
  EXPECT_NEAR(p.estimate(pool[0]).wait_s, 0.020, 1e-9);
  // Far backends queue in their own time: b1's request arrives 150 ms after
  // the pick, so a pick now is not waiting behind it until then.
  std::vector<BackendView> far{pool[1]};
  far[0].ip = Ipv4Addr{0x0a000021};
  EXPECT_EQ(p.pick(far, kKey), 0u);
  EXPECT_NEAR(p.estimate(far[0]).wait_s, 0.020, 1e-9);
  far[0].now += ms(10);
  EXPECT_NEAR(p.estimate(far[0]).wait_s, 0.010, 1e-9);
}

// A backend next to the switch (RTT 0): no connection is ever on its way when
// a report arrives, so the served are exactly those the reports say.
std::vector<BackendView> local_one() {
  std::vector<BackendView> one{delayed_pool()[0]};
  one[0].rtt_ms = 0;
  return one;
}

TEST(Combined, ServiceTimeIsMeasuredFromReportsAndSmoothed) {
  ScriptedRng rng;
  CombinedPolicy p(exact_cfg(), rng);
  std::vector<BackendView> one = local_one();
  auto service = [&] {
    EXPECT_EQ(p.pick(one, kKey), 0u);  // a pick takes the report in
    return p.estimate(one[0]).service_s;
  };
  EXPECT_DOUBLE_EQ(service(), 0.020);  // prior
  // 50 % of the quota busy for 1 s with 10 connections: 50 ms each.
  report(one[0], 50, 10);
  EXPECT_DOUBLE_EQ(service(), 0.050);
  EXPECT_TRUE(p.estimate(one[0]).measured);
  // Then smoothed: the busy time and the connections served are each decayed
  // by 0.7 and the interval's added, and their ratio is the estimate. 30 % /
  // 10: (0.7 x 0.5 s + 0.3 s) / (0.7 x 10 + 10) = 0.65 / 17 = 38.2 ms.
  report(one[0], 30, 10);
  EXPECT_NEAR(service(), 0.65 / 17, 1e-12);
  // Saturated, and no established count (served = sent): 100 % / 50 = 20 ms
  // is only a lower bound; no decrease.
  report(one[0], 100, 50, std::nullopt);
  EXPECT_NEAR(service(), 0.65 / 17, 1e-12);
  // ... but an increase is taken: 100 % / 10 = 100 ms ->
  // (0.7 x 0.65 + 1) / (0.7 x 17 + 10) = 1.455 / 21.9 = 66.4 ms.
  report(one[0], 100, 10, std::nullopt);
  EXPECT_NEAR(service(), 1.455 / 21.9, 1e-12);
  // No sample from fewer than 2 connections, an unknown interval count
  // (first report, a missed one), or a stale report (no CPU).
  report(one[0], 90, 1);
  EXPECT_NEAR(service(), 1.455 / 21.9, 1e-12);
  report(one[0], 90, std::nullopt);
  EXPECT_NEAR(service(), 1.455 / 21.9, 1e-12);
  report(one[0], 90, 20);
  one[0].cpu_pct.reset();
  EXPECT_NEAR(service(), 1.455 / 21.9, 1e-12);
  // The same report seen twice counts once: (0.7 x 1.455 + 0.2) / (0.7 x 21.9 + 10).
  report(one[0], 20, 10);
  EXPECT_NEAR(service(), 1.2185 / 25.33, 1e-12);
  EXPECT_NEAR(service(), 1.2185 / 25.33, 1e-12);
}

// With the agent's established counts at both ends of the interval the
// served are counted, not guessed: a saturated sample may lower the estimate.
TEST(Combined, SaturatedSampleWithEstablishedCountsIsTakenBothWays) {
  ScriptedRng rng;
  CombinedPolicy p(exact_cfg(), rng);
  std::vector<BackendView> one = local_one();
  auto service = [&] {
    EXPECT_EQ(p.pick(one, kKey), 0u);
    return p.estimate(one[0]).service_s;
  };
  report(one[0], 50, 10, 0);
  EXPECT_DOUBLE_EQ(service(), 0.050);
  // 40 % busy, 10 sent, 5 still in progress at the end: 5 served, 80 ms
  // each -> (0.7 x 0.5 + 0.4) / (0.7 x 10 + 5) = 0.75 / 12 = 62.5 ms.
  report(one[0], 40, 10, 5);
  EXPECT_NEAR(service(), 0.0625, 1e-12);
  // 100 % busy; 40 sent, 5 in progress at the start, 15 at the end: 30
  // served, 33.3 ms each, below the estimate, and taken:
  // (0.7 x 0.75 + 1) / (0.7 x 12 + 30) = 1.525 / 38.4 = 39.7 ms.
  const double before = p.estimate(one[0]).service_s;
  report(one[0], 100, 40, 15);
  EXPECT_NEAR(service(), 1.525 / 38.4, 1e-12);
  EXPECT_LT(p.estimate(one[0]).service_s, before);
}

TEST(Combined, ServiceSampleCountsTheConnectionsServedNotSent) {
  ScriptedRng rng;
  CombinedPolicy p(exact_cfg(), rng);
  std::vector<BackendView> one = local_one();
  // A first report (none in progress; no sample: nothing to compare with).
  report(one[0], 5, std::nullopt, 0);
  EXPECT_EQ(p.pick(one, kKey), 0u);
  // 10 sent, 4 of them still in progress at the report (0 at the one before):
  // the interval's 60 % served 6, 100 ms each.
  report(one[0], 60, 10, 4);
  EXPECT_EQ(p.pick(one, kKey), 0u);
  EXPECT_DOUBLE_EQ(p.estimate(one[0]).service_s, 0.100);
  // Next: 3 sent, and the 4 in progress finished (1 left): 6 served at 30 %,
  // 50 ms -> (0.7 x 0.6 + 0.3) / (0.7 x 6 + 6) = 0.72 / 10.2 = 70.6 ms.
  report(one[0], 30, 3, 1);
  EXPECT_EQ(p.pick(one, kKey), 0u);
  EXPECT_NEAR(p.estimate(one[0]).service_s, 0.72 / 10.2, 1e-12);
  // 1 sent, 0 left: 2 served, a sample of 150 ms (30 %), which weighs as 2
  // connections, not as a whole interval: (0.7 x 0.72 + 0.3) / (0.7 x 10.2 +
  // 2) = 0.804 / 9.14 = 88.0 ms (a mean of the ratios would give 94.4).
  report(one[0], 30, 1, 0);
  EXPECT_EQ(p.pick(one, kKey), 0u);
  EXPECT_NEAR(p.estimate(one[0]).service_s, 0.804 / 9.14, 1e-12);
}

TEST(Combined, EstablishedConnectionsResetTheVirtualQueueBothWays) {
  ScriptedRng rng;
  ScoringConfig cfg = exact_cfg();
  cfg.service_prior_ms = 50;
  CombinedPolicy p(cfg, rng);
  std::vector<BackendView> one{delayed_pool()[0]};
  one[0].rtt_ms = 0;
  EXPECT_EQ(p.pick(one, kKey), 0u);
  EXPECT_NEAR(p.estimate(one[0]).wait_s, 0.050, 1e-9);
  // The agent sees 6 connections in progress (work Fulcrum did not send, or
  // slower service than estimated): 6 x 50 ms; then this pick adds one.
  // (No service sample from these reports: the interval's count is unknown.)
  report(one[0], 10, std::nullopt, 6);
  EXPECT_EQ(p.pick(one, kKey), 0u);
  EXPECT_NEAR(p.estimate(one[0]).wait_s, 0.350, 1e-9);
  // A later report of fewer shortens it (the virtual queue overestimated:
  // a cold start's prior, say): 1 x 50 ms, then this pick.
  report(one[0], 10, std::nullopt, 1);
  EXPECT_EQ(p.pick(one, kKey), 0u);
  EXPECT_NEAR(p.estimate(one[0]).wait_s, 0.100, 1e-9);
  // Far away, the connections sent in the last 2 RTT are not counted yet:
  // with an RTT of 40 ms, the 3 picks above (the clock stopped) are all on
  // their way, so the queue ends (2 + 3) x 50 = 250 ms from now. This pick
  // arrives 60 ms from now and queues behind it: 300 ms, 240 ms after the
  // next one's arrival.
  one[0].rtt_ms = 40;
  report(one[0], 10, std::nullopt, 2);
  EXPECT_EQ(p.pick(one, kKey), 0u);
  EXPECT_NEAR(p.estimate(one[0]).in_flight, 3, 1e-9);
  EXPECT_NEAR(p.estimate(one[0]).wait_s, 0.240, 1e-9);
}

// The burst the previous method made (the near server took ~14 connections
// back to back at the start of every report interval): with reports frozen
// and connections arriving at 50/s, above the near server's 1 / 35 ms = 28.6/s,
// the near server takes less than its service rate and never a long run.
TEST(Combined, NoBurstsAtAnArrivalRateAboveTheNearServersRate) {
  ScriptedRng rng;
  CombinedPolicy p(exact_cfg(), rng);
  auto pool = delayed_pool();
  for (auto& b : pool) report(b, 35, 10);  // 35 ms per request, measured
  std::vector<uint32_t> got;
  for (int i = 0; i < 500; ++i) {  // 10 s at 50/s, one report for all of it
    for (auto& b : pool) b.now = kT0 + ms(20.0 * i);
    auto c = p.pick(pool, kKey);
    ASSERT_TRUE(c.has_value());
    got.push_back(*c);
  }
  EXPECT_NEAR(p.estimate(pool[0]).service_s, 0.035, 1e-12);
  int longest = 0, run = 0;
  std::vector<int> count(3);
  for (std::size_t i = 0; i < got.size(); ++i) {
    ++count[got[i]];
    run = got[i] == 0 ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  // The longest run is the first: after k picks in 20k ms b0 has 15k ms
  // queued and rho ~ 0.035 k, so its cost 37 + 30k + 35 (1 / (1 - 0.035k)^2
  // - 1) ms passes b1's 235 ms at k = 6 (203 ms at k = 5, 238 at k = 6).
  EXPECT_LE(longest, 6);
  // The utilisation term keeps each backend below saturation: the shares
  // settle where the marginal costs 2 rtt + s / (1 - rho)^2 are equal, which
  // for 50/s, s = 35 ms and 2, 200 and 320 ms of path is 20.4, 17.4 and
  // 12.3/s (rho 0.71, 0.61, 0.43): 204, 174 and 123 in 10 s.
  EXPECT_NEAR(count[0], 204, 20);
  EXPECT_NEAR(count[1], 174, 20);
  EXPECT_NEAR(count[2], 123, 20);
  // In every second, no more than the near server can serve in it (+ 3).
  for (int sec = 0; sec < 10; ++sec) {
    const auto first = got.begin() + 50 * sec;
    EXPECT_LE(std::count(first, first + 50, 0u), 29 + 3) << "second " << sec;
  }
  EXPECT_EQ(rng.consumed(), 0u);
}

TEST(Combined, TiesGoToTheLeastRecentlyPickedNothingIsDrawn) {
  ScriptedRng rng;
  CombinedPolicy p(exact_cfg(), rng);
  // No metrics anywhere: equal costs (prior, worst latency and bandwidth).
  std::vector<BackendView> blind{backend(0), backend(1, false), backend(2), backend(3)};
  EXPECT_EQ(p.pick(blind, kKey), 0u);  // 0, 2, 3 tie, none picked yet: the first
  EXPECT_EQ(p.pick(blind, kKey), 2u);  // 2 and 3 tie (0 has a queue): the first
  EXPECT_EQ(p.pick(blind, kKey), 3u);  // the only one with an empty queue
  // All three queued alike now: the least recently picked of the tie.
  EXPECT_EQ(p.pick(blind, kKey), 0u);
  EXPECT_EQ(p.pick(blind, kKey), 2u);
  EXPECT_EQ(rng.consumed(), 0u);
}

TEST(Combined, WeightsMultiplyTheServiceRate) {
  ScriptedRng rng;
  CombinedPolicy p(exact_cfg(), rng);
  std::vector<BackendView> pool{with_cpu(0, 10, 1), with_cpu(1, 10, 3)};
  for (auto& b : pool) b.rtt_ms = 1, b.memory_pct = 40, b.avail_bw_kbps = 90000;
  pool[1].ip = Ipv4Addr{0x0a00000c};
  // Capacities 50/s and 150/s (20 ms / weight); 180/s arriving for 10 s.
  std::vector<int> count(2);
  for (int i = 0; i < 1800; ++i) {
    for (auto& b : pool) b.now = kT0 + ms(1000.0 * i / 180);
    ++count[p.pick(pool, kKey).value()];
  }
  EXPECT_DOUBLE_EQ(p.estimate(pool[1]).s, 0.020 / 3);
  // The marginal costs s / (1 - rho)^2 meet where (x - 30) / 150 =
  // sqrt(1/3) (1 - 0.02 x) for x/s to the slower: x = 42.7/s, so 427 of
  // 1800 to it (rho 0.85), 1373 to the faster (rho 0.92).
  EXPECT_NEAR(count[0], 427, 15);
  EXPECT_NEAR(count[1], 1373, 15);
  // Weight 0 drains; unavailable backends are skipped; none: nullopt.
  std::vector<BackendView> drain{with_cpu(0, 0, 0), with_cpu(1, 90, 1)};
  EXPECT_EQ(p.pick(drain, kKey), 1u);
  drain[1].available = false;
  EXPECT_EQ(p.pick(drain, kKey), std::nullopt);
  EXPECT_EQ(rng.consumed(), 0u);
}

TEST(Combined, UnknownLatencyAndBandwidthCountAsWorstUnknownMemoryAsNoSlowdown) {
  ScriptedRng rng;
  CombinedPolicy p(exact_cfg(), rng);
  BackendView known = delayed_pool()[1];  // 100 ms RTT, memory 40 %, 90 Mb/s
  BackendView v = known;
  v.rtt_ms.reset();  // latency: the range's worst, 150 ms
  EXPECT_NEAR(p.estimate(v).path_s, 0.300, 1e-12);
  v = known;
  v.avail_bw_kbps.reset();  // bandwidth: 0, floored at 100 kb/s
  EXPECT_NEAR(p.estimate(v).transfer_s, 8.0 / 100, 1e-12);
  v = known;
  // Memory: unknown does not slow service. Unknown means no report yet (the
  // core passes a report until max_age, and a silent agent fails the backend
  // at silence_timeout) or no agent at all. Counted as 100 % (x 10, until
  // this change) it made the first backend to report look 10 times faster
  // than the others, and it took every connection until they reported.
  v.memory_pct.reset();
  EXPECT_NEAR(p.estimate(v).s, 0.020, 1e-12);
  v.memory_pct = 95;  // knee 90 %: (100 - 90) / (100 - 95) = x 2
  EXPECT_NEAR(p.estimate(v).s, 0.040, 1e-12);
  v.memory_pct = 90;
  EXPECT_NEAR(p.estimate(v).s, 0.020, 1e-12);
  // So a backend with a fresh report beats one whose metrics went stale.
  std::vector<BackendView> pool{delayed_pool()[0], known};
  pool[0].memory_pct.reset();
  pool[0].cpu_pct.reset();
  pool[0].rtt_ms.reset();
  EXPECT_EQ(p.pick(pool, kKey), 1u);
}

TEST(Combined, StateFollowsTheBackendWhenThePoolChanges) {
  ScriptedRng rng;
  CombinedPolicy p(exact_cfg(), rng);
  auto pool = delayed_pool();
  report(pool[0], 50, 10);  // b0: 50 ms
  EXPECT_EQ(frozen_picks(p, pool, 1), (std::vector<uint32_t>{0}));
  EXPECT_DOUBLE_EQ(p.estimate(pool[0]).service_s, 0.050);
  // Reordered (a reconfiguration): b0 is now last and keeps its estimate and
  // its queue.
  std::vector<BackendView> moved{pool[2], pool[1], pool[0]};
  EXPECT_EQ(frozen_picks(p, moved, 1), (std::vector<uint32_t>{2}));
  EXPECT_DOUBLE_EQ(p.estimate(moved[2]).service_s, 0.050);
  EXPECT_NEAR(p.estimate(moved[2]).wait_s, 0.100, 1e-9);
  // b2, still unmeasured, is assumed as fast as the fastest measured (b0).
  EXPECT_FALSE(p.estimate(moved[0]).measured);
  EXPECT_DOUBLE_EQ(p.estimate(moved[0]).service_s, 0.050);
}

// The pool below: idle, next to the switch (RTT 0: nothing is on its way when
// a report arrives), with 2, 4 and 6 ms to put a response on what is left of
// their links, so that costs never tie exactly.
std::vector<BackendView> near_pool() {
  auto pool = delayed_pool();
  for (uint32_t i = 0; i < 3; ++i) {
    pool[i].rtt_ms = 0;
    pool[i].avail_bw_kbps = 4000.0 / (1 + i);
  }
  return pool;
}

TEST(Combined, UnmeasuredBackendsAreAssumedAsFastAsTheFastestMeasured) {
  ScriptedRng rng;
  CombinedPolicy p(exact_cfg(), rng);
  auto pool = near_pool();
  EXPECT_EQ(p.pick(pool, kKey), 0u);  // none measured: the prior, 20 ms, for all
  EXPECT_DOUBLE_EQ(p.estimate(pool[1]).service_s, 0.020);
  // b0 measured at 40 ms, nothing in progress (its queue emptied by the
  // report), costs 2 + 40 + 3.4 (utilisation: 1/s sent) = 45.5 ms; b1 and
  // b2 are assumed 40 ms: 4 + 40 and 6 + 40.
  report(pool[0], 40, 10);
  EXPECT_EQ(p.pick(pool, kKey), 1u);
  EXPECT_DOUBLE_EQ(p.estimate(pool[1]).service_s, 0.040);
  EXPECT_FALSE(p.estimate(pool[1]).measured);
  // b2 measured at 5 ms becomes the reference: b1 (40 ms queued) 4 + 5 +
  // 2 x 40, b2 6 + 5, b0 45.5.
  report(pool[2], 5, 10);
  EXPECT_EQ(p.pick(pool, kKey), 2u);
  EXPECT_DOUBLE_EQ(p.estimate(pool[1]).service_s, 0.005);
  EXPECT_EQ(rng.consumed(), 0u);
}

TEST(Combined, SlowerEstimateIsDroppedWhenTheBackendReportsIdleAndUnused) {
  ScriptedRng rng;
  CombinedPolicy p(exact_cfg(), rng);
  auto pool = near_pool();
  report(pool[0], 20, 10);  // 20 ms
  report(pool[1], 100, 2);  // saturated (say, by work that is not ours): 500 ms
  report(pool[2], 60, 4);   // slow: 150 ms
  EXPECT_EQ(p.pick(pool, kKey), 0u);
  EXPECT_DOUBLE_EQ(p.estimate(pool[1]).service_s, 0.5);
  // b1 and b2 idle now, and neither got a connection: nothing can refresh
  // their estimates while we avoid them, so both are dropped (assumed as fast
  // as b0 again) and measured afresh by the connections they now get.
  report(pool[1], 3, 0);
  report(pool[2], 3, 0);
  EXPECT_EQ(p.pick(pool, kKey), 1u);  // b0: 2 + 20 + 2 x 20 queued (+ 0.8 utilisation) = 63 ms; b1: 4 + 20
  EXPECT_FALSE(p.estimate(pool[1]).measured);
  EXPECT_DOUBLE_EQ(p.estimate(pool[1]).service_s, 0.020);
  EXPECT_FALSE(p.estimate(pool[2]).measured);
  EXPECT_DOUBLE_EQ(p.estimate(pool[2]).service_s, 0.020);
  // The fastest is never dropped (nothing is faster). Its report shows
  // nothing in progress, which empties its queue: b0 2 + 20 + 0.8 = 23 ms,
  // b1 (20 ms queued) 65 ms, b2 26 ms.
  report(pool[0], 3, 0);
  EXPECT_EQ(p.pick(pool, kKey), 0u);
  EXPECT_TRUE(p.estimate(pool[0]).measured);
  // Loaded again: b1 measured at 500 ms; a report at >= 50 % CPU with no
  // connection keeps that.
  report(pool[1], 100, 2);
  EXPECT_EQ(p.pick(pool, kKey), 2u);  // b0 (20 ms queued) 64 ms, b2 26, b1 > 1 s
  report(pool[1], 80, 0);
  EXPECT_EQ(p.pick(pool, kKey), 0u);  // b0 64, b2 (20 ms queued) 67
  EXPECT_TRUE(p.estimate(pool[1]).measured);
  EXPECT_DOUBLE_EQ(p.estimate(pool[1]).service_s, 0.5);
  EXPECT_EQ(rng.consumed(), 0u);
}

// Near ties go to the least recently picked, not to the cheapest: costs
// that close are within the estimates' noise, and rotating among them keeps
// equal backends interleaved (a random draw bunches them, which costs at high
// load: docs/POLICIES.md).
TEST(Combined, CostsWithinTheTieBandGoToTheLeastRecentlyPicked) {
  ScriptedRng rng;
  CombinedPolicy p(ScoringConfig{}, rng);  // band: max(half the least service time, 10 ms)
  auto pool = delayed_pool();
  pool[0].rtt_ms = 3;  // b0's two round trips cost 4 ms more than b1's: within 10 ms
  pool[1].rtt_ms = 1;
  report(pool[0], 20, 10);
  report(pool[1], 20, 10);
  report(pool[2], 20, 10);  // b2: 320 ms of path, outside
  // b0 26 ms, b1 22 ms: tied, neither picked yet: the first.
  EXPECT_EQ(p.pick(pool, kKey), 0u);
  // b0 now has 20 ms queued (6 + 20 + 2 x 20 + 0.8 = 67 ms): b1 alone.
  EXPECT_EQ(p.pick(pool, kKey), 1u);
  // Both queued alike: b0 67, b1 63 ms, tied: b0, the least recently picked.
  EXPECT_EQ(p.pick(pool, kKey), 0u);
  ScoringConfig narrow;
  narrow.tie_band = 0.1;  // 2 ms ...
  narrow.tie_ms = 0;      // ... and no absolute band: b1, the cheapest, alone
  CombinedPolicy q(narrow, rng);
  EXPECT_EQ(q.pick(pool, kKey), 1u);
  narrow.tie_ms = 5;  // 5 ms: b0 and b1 tie again
  CombinedPolicy r(narrow, rng);
  EXPECT_EQ(r.pick(pool, kKey), 0u);
  EXPECT_EQ(rng.consumed(), 0u);
}

// ---- connections on their way, and capacities ------------------------------------

TEST(RecentPicks, CountsThePicksWithinAWindowByWholeBuckets) {
  RecentPicks r;
  EXPECT_EQ(r.within(1000, 1), 0);  // nothing picked yet
  r.add(1000.000);
  r.add(1000.005);
  r.add(1000.030);  // the next 20 ms bucket
  r.add(1000.100);
  EXPECT_EQ(r.within(1000.100, 0), 0);  // an empty window
  EXPECT_EQ(r.within(1000.100, 0.001), 1);
  // The bucket holding now - window counts in full: 1000.045 is in the
  // bucket [1000.040, 1000.060), which holds nothing; 1000.025 in the one
  // holding 1000.030.
  EXPECT_EQ(r.within(1000.100, 0.055), 1);
  EXPECT_EQ(r.within(1000.100, 0.075), 2);
  EXPECT_EQ(r.within(1000.100, 0.100), 4);
  // Time passes: the old picks leave the window, then the span.
  EXPECT_EQ(r.within(1000.500, 0.300), 0);
  EXPECT_EQ(r.within(1000.500, 0.450), 1);
  EXPECT_EQ(r.within(1000.500, 10), 4);  // the window is capped at the span, 1.28 s
  EXPECT_EQ(r.within(1002.000, 10), 0);
  // A pick after more than the span clears the older ones.
  r.add(1003.000);
  EXPECT_EQ(r.within(1003.000, 10), 1);
  // A clock that went back counts in the latest bucket.
  r.add(1002.990);
  EXPECT_EQ(r.within(1003.000, 0.001), 2);
}

// The first report of a far backend, 1 s into a run at 30 connections/s: the
// 6 sent in the last 2 RTT (200 ms) had not reached it when the agent counted
// (the request arrives 1.5 RTT after the pick, the report takes 0.5 RTT
// back). Counting them as served made a far backend look cheaper per request
// by the share of the interval its requests spent on the way: the delayed
// testbed's first report (80 / 57 / 42 % CPU after an even split) then sent
// most of the next second to the farthest backend.
TEST(Combined, ConnectionsOnTheirWayAreNotCountedAsServed) {
  ScriptedRng rng;
  CombinedPolicy p(exact_cfg(), rng);
  std::vector<BackendView> one{delayed_pool()[1]};  // RTT 100 ms
  report(one[0], 1, std::nullopt, 0);               // the report before the run
  const TimePoint start = kT0;
  for (int i = 0; i < 30; ++i) {
    one[0].now = start + ms(1000.0 * i / 30);
    EXPECT_EQ(p.pick(one, kKey), 0u);
  }
  one[0].now = start + ms(1000);
  // 30 sent, 60 % of the quota busy, nothing in progress at either end: the
  // 24 that arrived took 25 ms each, not 20 ms.
  report(one[0], 60, 30, 0);
  EXPECT_EQ(p.pick(one, kKey), 0u);
  EXPECT_NEAR(p.estimate(one[0]).in_flight, 6, 1e-9);
  EXPECT_NEAR(p.estimate(one[0]).service_s, 0.6 / 24, 1e-12);
  // The next interval at the same rate: the 6 on their way at the previous
  // report arrived in it, and 7 others are on their way now (the 20 ms
  // bucket holding now - 2 RTT, 1.801 s, counts in full, and holds the pick
  // at 1.800 s): of the 31 sent since, 30 served.
  for (int i = 0; i < 30; ++i) {
    one[0].now = start + ms(1000 + 1000.0 * (i + 1) / 30);
    EXPECT_EQ(p.pick(one, kKey), 0u);
  }
  one[0].now = start + ms(2000 + 1);
  report(one[0], 75, 31, 0);  // the 31 picks since the last report
  EXPECT_EQ(p.pick(one, kKey), 0u);
  EXPECT_NEAR(p.estimate(one[0]).in_flight, 7, 1e-9);
  EXPECT_NEAR(p.estimate(one[0]).service_s, (0.7 * 0.6 + 0.75) / (0.7 * 24 + 30), 1e-12);
}

// Agents that report their CPU capacity (the quota the CPU figure is
// relative to) make the unmeasured assumption scale: a backend with half the
// CPU is assumed half as fast as the least CPU time per request measured, or,
// before any measurement, than the prior for the largest capacity.
TEST(Combined, UnmeasuredBackendsAreAssumedToScaleWithTheirCapacity) {
  ScriptedRng rng;
  CombinedPolicy p(exact_cfg(), rng);  // prior 20 ms
  auto pool = near_pool();
  pool[0].cpu_capacity = 0.4;
  pool[1].cpu_capacity = 0.2;
  pool[2].cpu_capacity = std::nullopt;  // an agent that does not say
  EXPECT_EQ(p.pick(pool, kKey), 0u);
  EXPECT_DOUBLE_EQ(p.estimate(pool[0]).service_s, 0.020);
  EXPECT_DOUBLE_EQ(p.estimate(pool[1]).service_s, 0.040);
  EXPECT_DOUBLE_EQ(p.estimate(pool[2]).service_s, 0.020);  // no capacity: the prior
  // b0 measured: 50 % of 0.4 CPU for 1 s over 10 requests = 20 ms of CPU
  // each, 50 ms per request at its quota. b1 (0.2 CPU) is assumed 100 ms,
  // b2 (no capacity) as fast as the fastest measured, 50 ms.
  report(pool[0], 50, 10);
  pool[0].cpu_capacity = 0.4;
  EXPECT_EQ(p.pick(pool, kKey), 2u);
  EXPECT_DOUBLE_EQ(p.estimate(pool[0]).service_s, 0.050);
  EXPECT_FALSE(p.estimate(pool[1]).measured);
  EXPECT_NEAR(p.estimate(pool[1]).service_s, 0.100, 1e-12);
  EXPECT_DOUBLE_EQ(p.estimate(pool[2]).service_s, 0.050);
  EXPECT_EQ(rng.consumed(), 0u);
}

// With capacities, each backend's CPU time per request is shrunk toward the
// pool's, as if the pool's were pool_requests (20) connections of its own: a
// first estimate from a handful of connections (noise: one request's demand
// varies by as much as its mean) no longer decides the split on its own.
TEST(Combined, FewConnectionsAreShrunkTowardThePoolWhenCapacitiesAreKnown) {
  ScriptedRng rng;
  CombinedPolicy p(exact_cfg(), rng);
  auto pool = near_pool();
  for (auto& b : pool) b.cpu_capacity = 0.2;
  EXPECT_EQ(p.pick(pool, kKey), 0u);
  // b0: 75 % over 30 connections (25 ms each); b1: 7.5 % over 5 (15 ms).
  report(pool[0], 75, 30);
  report(pool[1], 7.5, 5);
  ASSERT_TRUE(p.pick(pool, kKey).has_value());
  // The pool: (0.75 + 0.075) s x 0.2 CPU over 35 connections = 4.71 ms of
  // CPU per connection, 23.57 ms at 0.2 CPU.
  const double pool_s = (0.75 + 0.075) / 35;
  EXPECT_NEAR(p.estimate(pool[0]).service_s, (0.75 + 20 * pool_s) / (30 + 20), 1e-12);  // 24.4 ms
  EXPECT_NEAR(p.estimate(pool[1]).service_s, (0.075 + 20 * pool_s) / (5 + 20), 1e-12);  // 21.9 ms, not 15
  // An agent that does not report its capacity: nothing to compare b1 with,
  // so its own; the pool is b0 alone.
  auto unsized = near_pool();
  unsized[0].cpu_capacity = 0.2;
  CombinedPolicy q(exact_cfg(), rng);
  EXPECT_EQ(q.pick(unsized, kKey), 0u);
  report(unsized[0], 75, 30);
  report(unsized[1], 7.5, 5);
  ASSERT_TRUE(q.pick(unsized, kKey).has_value());
  EXPECT_NEAR(q.estimate(unsized[1]).service_s, 0.015, 1e-12);
  EXPECT_NEAR(q.estimate(unsized[0]).service_s, 0.025, 1e-12);
  // pool_requests 0: each its own.
  ScoringConfig cfg = exact_cfg();
  cfg.pool_requests = 0;
  CombinedPolicy own(cfg, rng);
  ASSERT_TRUE(own.pick(pool, kKey).has_value());
  EXPECT_NEAR(own.estimate(pool[0]).service_s, 0.025, 1e-12);
  EXPECT_NEAR(own.estimate(pool[1]).service_s, 0.015, 1e-12);
}

// The virtual queue is kept in requests, repriced at the service time in
// force: a new estimate moves a queue that was built at the old one. (Kept
// in seconds, a queue built at the 50 ms prior stayed at the prior's price on
// the backends that had not reported yet, while the one that reported was
// reset at its measured 20 ms, and looked empty beside them.)
TEST(Combined, TheQueueIsRepricedWhenTheServiceEstimateChanges) {
  ScriptedRng rng;
  CombinedPolicy p(exact_cfg(), rng);  // prior 20 ms
  std::vector<BackendView> one = local_one();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(p.pick(one, kKey), 0u);  // the clock stopped
  EXPECT_NEAR(p.estimate(one[0]).wait_s, 5 * 0.020, 1e-12);
  // 40 % over 10 connections: 40 ms each; no established count, so no reset.
  report(one[0], 40, 10, std::nullopt);
  EXPECT_EQ(p.pick(one, kKey), 0u);
  EXPECT_NEAR(p.estimate(one[0]).service_s, 0.040, 1e-12);
  // Six requests queued, at 40 ms (in seconds it would be 5 x 20 + 40).
  EXPECT_NEAR(p.estimate(one[0]).wait_s, 6 * 0.040, 1e-12);
  // It drains at the new price: 100 ms later, 3.5 requests are left.
  one[0].now += ms(100);
  EXPECT_NEAR(p.estimate(one[0]).wait_s, 0.240 - 0.100, 1e-12);
}

// Beyond rho = 0.99 the utilisation term goes on growing along its tangent:
// capped, every backend past the cap cost the same 10^4 s, so connections
// went to whichever had the least service estimate, however many it had just
// been sent (in an overloaded pool, all of them).
TEST(Combined, EveryConnectionSentCostsMoreBeyondTheUtilisationCap) {
  ScriptedRng rng;
  CombinedPolicy p(exact_cfg(), rng);  // 20 ms: rho = 0.02 per connection sent with the clock stopped
  std::vector<BackendView> one = local_one();
  auto queueing = [&] {
    const auto e = p.estimate(one[0]);
    return e.cost_s - e.path_s - e.transfer_s - e.s - 2 * e.wait_s;
  };
  for (int i = 0; i < 50; ++i) EXPECT_EQ(p.pick(one, kKey), 0u);
  EXPECT_NEAR(p.estimate(one[0]).rho, 1.0, 1e-9);
  double before = queueing();
  EXPECT_NEAR(before, 0.020 * (1e4 - 1 + 2e6 * 0.01), 1e-6);  // the tangent at 0.99, 0.01 past it
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(p.pick(one, kKey), 0u);
    EXPECT_GT(queueing(), before + 0.020 * 2e6 * 0.019);
    before = queueing();
  }
}

}  // namespace
}  // namespace fulcrum::lb::testing
