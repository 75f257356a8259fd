// combined-paper (argmax of the score, as the paper) and combined (argmax of
// the score debited by connections sent since the backend's last report):
// deterministic picks, ties, weights, and herding between two reports.
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

// Picks `n` connections with the metrics frozen (no report in between), the
// core counting each one in assigned_since_report and active_connections.
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
  ScriptedRng rng;  // exact ties are drawn; see the scripted values below
  CombinedPolicy p(ScoringConfig{}, rng);
  std::vector<BackendView> pool{with_cpu(0, 30), with_cpu(1, 35), with_cpu(2, 40)};
  for (auto& b : pool) b.memory_pct = 40, b.rtt_ms = 1, b.avail_bw_kbps = 90000;
  for (int i = 0; i < 100; ++i) rng.push(uint64_t{0x9e3779b97f4a7c15ULL} * (i + 1));
  auto got = frozen_picks(p, pool, 100);
  std::vector<int> count(3);
  for (uint32_t c : got) ++count[c];
  EXPECT_LT(count[0], 100);
  for (int c : count) EXPECT_GT(c, 20);
  // Water-filling: the scores differ by 1.75 points per 5 % CPU (0.35 x 5),
  // so with a debit of 1 point per connection the best takes 2 first, then
  // the first two share, then all three; over 100 picks the counts differ
  // by the score gaps (about 1.75 and 3.5 connections).
  EXPECT_EQ(got[0], 0u);
  EXPECT_EQ(got[1], 0u);
  EXPECT_GE(count[0], count[1]);
  EXPECT_GE(count[1], count[2]);
  EXPECT_LE(count[0] - count[2], 5);
  // Then a report arrives (assigned_since_report back to 0): fresh scores
  // rank again.
  for (auto& b : pool) b.assigned_since_report = 0;
  pool[2].cpu_pct = 5;
  EXPECT_EQ(p.pick(pool, kKey), 2u);
}

// ---- combined: exact behaviour --------------------------------------------------

TEST(Combined, ExactWaterFillingSequence) {
  ScriptedRng rng;
  CombinedPolicy p(cpu_only(), rng);
  // Scores 80, 77.5, 70: backend 0 leads by 2.5 points, so it takes 3
  // connections (80, 79, 78 > 77.5), then 0 and 1 alternate (77.5 vs 77, ...).
  std::vector<BackendView> pool{with_cpu(0, 20), with_cpu(1, 22.5), with_cpu(2, 30)};
  EXPECT_EQ(frozen_picks(p, pool, 7), (std::vector<uint32_t>{0, 0, 0, 1, 0, 1, 0}));
  EXPECT_EQ(rng.consumed(), 0u);
}

TEST(Combined, ExactTiesAreDrawnFromTheRng) {
  ScriptedRng rng;
  CombinedPolicy p(cpu_only(), rng);
  std::vector<BackendView> pool{with_cpu(0, 40), with_cpu(1, 40), with_cpu(2, 60), with_cpu(3, 40)};
  pool[1].available = false;
  // 0 and 3 tie at 60: draw the second, then the first.
  rng.push_choice(1, 2);
  rng.push_choice(0, 2);
  EXPECT_EQ(p.pick(pool, kKey), 3u);
  EXPECT_EQ(p.pick(pool, kKey), 0u);
  EXPECT_EQ(rng.remaining(), 0u);
  // No agent anywhere: all scores 0, spread at random rather than all to the
  // first.
  std::vector<BackendView> blind{backend(0), backend(1), backend(2)};
  rng.push_choice(2, 3);
  EXPECT_EQ(p.pick(blind, kKey), 2u);
}

TEST(Combined, WeightsScaleTheDebit) {
  Xoshiro256 rng(3);  // levels meet exactly every 4 picks (50 - 1 = 50 - 3/3): drawn
  CombinedPolicy p(cpu_only(), rng);
  // Equal scores; weight 3 absorbs 3 connections per debit point.
  std::vector<BackendView> pool{with_cpu(0, 50, 1), with_cpu(1, 50, 3)};
  auto got = frozen_picks(p, pool, 400);
  std::vector<int> count(2);
  for (uint32_t c : got) ++count[c];
  EXPECT_NEAR(count[1], 300, 2);
  EXPECT_NEAR(count[0], 100, 2);
  // Weight 0 drains.
  std::vector<BackendView> drain{with_cpu(0, 0, 0), with_cpu(1, 90, 1)};
  EXPECT_EQ(p.pick(drain, kKey), 1u);
}

TEST(Combined, DebitIsConfigurableAndUnknownMetricsAreWorst) {
  ScriptedRng rng;
  CombinedPolicy steep(cpu_only(), rng, 10.0);
  std::vector<BackendView> pool{with_cpu(0, 20), with_cpu(1, 25)};
  // 80 vs 75: one connection (debit 10) is enough to switch.
  EXPECT_EQ(frozen_picks(steep, pool, 4), (std::vector<uint32_t>{0, 1, 0, 1}));
  CombinedPolicy p(cpu_only(), rng);
  std::vector<BackendView> stale{with_cpu(0, std::nullopt), with_cpu(1, 95)};
  EXPECT_EQ(p.pick(stale, kKey), 1u);
  EXPECT_DOUBLE_EQ(p.corrected_score(stale[1]), 5);
  stale[1].assigned_since_report = 4;
  EXPECT_DOUBLE_EQ(p.corrected_score(stale[1]), 1);
}

TEST(Combined, DistributionWithFrozenMetricsFollowsTheScoresOver100kPicks) {
  // 100,000 picks in rounds of 50 between reports: each round starts from
  // assigned_since_report = 0. Shares are equalised water levels, so
  // backends separated by less than the round's debit share nearly evenly
  // and a backend far below gets nothing.
  Xoshiro256 rng(41);
  CombinedPolicy p(cpu_only(), rng);
  std::vector<BackendView> pool{with_cpu(0, 10), with_cpu(1, 20), with_cpu(2, 90)};
  std::vector<uint64_t> count(3);
  for (int round = 0; round < 2000; ++round) {
    for (auto& b : pool) b.assigned_since_report = 0;
    for (uint32_t c : frozen_picks(p, pool, 50)) ++count[c];
  }
  // Per round: 0 takes 10 alone, then 0 and 1 share 40 (20 each) -> 30/20/0.
  EXPECT_NEAR(static_cast<double>(count[0]) / 100'000, 0.6, 0.02);
  EXPECT_NEAR(static_cast<double>(count[1]) / 100'000, 0.4, 0.02);
  EXPECT_EQ(count[2], 0u);
}

}  // namespace
}  // namespace fulcrum::lb::testing
