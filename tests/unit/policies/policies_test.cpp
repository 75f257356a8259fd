// Least-connections, power-of-two, smooth weighted round-robin and the
// factory: deterministic picks with a scripted Rng, no available backend,
// ties, weights, and distributions over 100,000+ picks.
#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "balancer/policies/least_connections.hpp"
#include "balancer/policies/power_of_two.hpp"
#include "balancer/policies/weighted_round_robin.hpp"
#include "balancer/policy.hpp"
#include "unit/balancer/scripted_rng.hpp"
#include "unit/policies/views.hpp"

namespace fulcrum::lb::testing {
namespace {

constexpr std::array kAllKinds{PolicyKind::RoundRobin,         PolicyKind::Random,     PolicyKind::LeastConnections,
                               PolicyKind::WeightedRoundRobin, PolicyKind::PowerOfTwo, PolicyKind::SourceHash,
                               PolicyKind::CombinedPaper,      PolicyKind::Combined};

// ---- names and factory --------------------------------------------------------

TEST(PolicyFactory, EveryKindHasANameAndIsBuilt) {
  for (PolicyKind k : kAllKinds) {
    EXPECT_EQ(parse_policy(policy_name(k)), k) << policy_name(k);
    ScriptedRng rng;
    auto p = make_policy(k, ScoringConfig{}, rng);
    ASSERT_NE(p, nullptr) << policy_name(k);
    EXPECT_EQ(p->kind(), k);
  }
  EXPECT_EQ(parse_policy("least-connections"), PolicyKind::LeastConnections);
  EXPECT_EQ(parse_policy("weighted-round-robin"), PolicyKind::WeightedRoundRobin);
  EXPECT_EQ(parse_policy("power-of-two"), PolicyKind::PowerOfTwo);
  EXPECT_EQ(parse_policy("source-hash"), PolicyKind::SourceHash);
  EXPECT_EQ(parse_policy("combined-paper"), PolicyKind::CombinedPaper);
  EXPECT_EQ(parse_policy("combined"), PolicyKind::Combined);
  EXPECT_EQ(parse_policy("Combined"), std::nullopt);
  EXPECT_EQ(parse_policy(""), std::nullopt);
}

TEST(PolicyFactory, EveryPolicyAnswersNulloptWithoutABackendAndDrawsNothing) {
  for (PolicyKind k : kAllKinds) {
    ScriptedRng rng;  // empty: any draw fails the test
    auto p = make_policy(k, ScoringConfig{}, rng);
    std::vector<BackendView> none{backend(0, false), backend(1, false), backend(2, false)};
    EXPECT_EQ(p->pick(none, kKey), std::nullopt) << policy_name(k);
    EXPECT_EQ(p->pick(std::span<const BackendView>{}, kKey), std::nullopt) << policy_name(k);
    EXPECT_EQ(rng.consumed(), 0u) << policy_name(k);
    // And each recovers when one comes back (one available: only random
    // draws, uniform(1)).
    none[1].available = true;
    if (k == PolicyKind::Random) rng.push(0x8000000000000000ULL);
    EXPECT_EQ(p->pick(none, kKey), 1u) << policy_name(k);
    EXPECT_EQ(rng.remaining(), 0u) << policy_name(k);
  }
}

// ---- least-connections --------------------------------------------------------

TEST(LeastConnections, PicksFewestActiveWithoutDrawing) {
  ScriptedRng rng;
  LeastConnectionsPolicy p(rng);
  std::vector<BackendView> pool{backend(0, true, 1, 5), backend(1, true, 1, 2), backend(2, true, 1, 7)};
  EXPECT_EQ(p.pick(pool, kKey), 1u);
  // Unavailable backends are skipped even when idle.
  pool.push_back(backend(3, false, 1, 0));
  EXPECT_EQ(p.pick(pool, kKey), 1u);
  EXPECT_EQ(rng.consumed(), 0u);
}

TEST(LeastConnections, TiesAreBrokenUniformlyThroughTheRng) {
  ScriptedRng rng;
  // Backends 0, 2 and 3 tie at 1 active; 1 has more, 4 is down.
  std::vector<BackendView> pool{backend(0, true, 1, 1), backend(1, true, 1, 4), backend(2, true, 1, 1),
                                backend(3, true, 1, 1), backend(4, false, 1, 0)};
  for (uint64_t i : {2, 0, 1}) rng.push_choice(i, 3);
  LeastConnectionsPolicy p(rng);
  EXPECT_EQ(picks(p, pool, 3), (std::vector<uint32_t>{3, 0, 2}));
  EXPECT_EQ(rng.remaining(), 0u);
}

TEST(LeastConnections, WeightsCompareActivePerWeight) {
  ScriptedRng rng;
  LeastConnectionsPolicy p(rng);
  // 6/3 = 2 < 3/1 = 3: the heavier backend wins despite more connections.
  std::vector<BackendView> pool{backend(0, true, 1, 3), backend(1, true, 3, 6)};
  EXPECT_EQ(p.pick(pool, kKey), 1u);
  pool[1].active_connections = 10;  // 10/3 > 3
  EXPECT_EQ(p.pick(pool, kKey), 0u);
  pool[1].active_connections = 9;  // 9/3 == 3/1: a tie, drawn
  rng.push_choice(1, 2);
  EXPECT_EQ(p.pick(pool, kKey), 1u);
  // Weight 0 drains: never chosen, even idle.
  std::vector<BackendView> drain{backend(0, true, 0, 0), backend(1, true, 1, 50)};
  EXPECT_EQ(p.pick(drain, kKey), 1u);
  EXPECT_EQ(rng.remaining(), 0u);
}

// Closed loop: each pick adds a connection to the chosen backend (none end),
// as the core's table would. Shares converge to the weights.
template <typename P>
std::vector<double> closed_loop_shares(P& p, std::vector<BackendView> pool, int n) {
  std::vector<uint64_t> count(pool.size());
  for (int i = 0; i < n; ++i) {
    auto c = p.pick(pool, kKey);
    EXPECT_TRUE(c.has_value());
    if (!c) return {};
    ++count[*c];
    ++pool[*c].active_connections;
  }
  std::vector<double> share;
  for (uint64_t c : count) share.push_back(static_cast<double>(c) / n);
  return share;
}

TEST(LeastConnections, DistributionFollowsWeightsOver100kPicks) {
  Xoshiro256 rng(11);
  LeastConnectionsPolicy p(rng);
  auto share = closed_loop_shares(p, weighted_pool({1, 2, 3, 4}), 100'000);
  ASSERT_EQ(share.size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(share[i], (i + 1) / 10.0, 0.001) << i;
}

// ---- power of two choices -----------------------------------------------------

TEST(PowerOfTwo, TheLighterOfTwoDistinctDrawsWins) {
  ScriptedRng rng;
  PowerOfTwoPolicy p(rng);
  std::vector<BackendView> pool{backend(0, true, 1, 5), backend(1, false, 1, 0), backend(2, true, 1, 1),
                                backend(3, true, 1, 9)};
  // Available: 0, 2, 3. Draw the 1st (backend 2) then the 1st of the others
  // (0, 3 -> backend 3): 2 wins with 1 active.
  rng.push_choice(1, 3);
  rng.push_choice(1, 2);
  EXPECT_EQ(p.pick(pool, kKey), 2u);
  // Draw backend 3 then backend 0 (second draw 0 of {0, 2}): 0 wins, 5 < 9.
  rng.push_choice(2, 3);
  rng.push_choice(0, 2);
  EXPECT_EQ(p.pick(pool, kKey), 0u);
  // Draw backend 0 then "the same index" 0 of the remaining -> backend 2.
  rng.push_choice(0, 3);
  rng.push_choice(0, 2);
  EXPECT_EQ(p.pick(pool, kKey), 2u);
  EXPECT_EQ(rng.remaining(), 0u);
}

TEST(PowerOfTwo, TieGoesToTheFirstDrawAndWeightsScaleLoad) {
  ScriptedRng rng;
  PowerOfTwoPolicy p(rng);
  std::vector<BackendView> pool{backend(0, true, 1, 4), backend(1, true, 1, 4)};
  rng.push_choice(1, 2);
  rng.push_choice(0, 1);
  EXPECT_EQ(p.pick(pool, kKey), 1u);
  rng.push_choice(0, 2);
  rng.push_choice(0, 1);
  EXPECT_EQ(p.pick(pool, kKey), 0u);
  // Weight 4 with 12 active (3 each) beats weight 1 with 4.
  std::vector<BackendView> weighted{backend(0, true, 1, 4), backend(1, true, 4, 12)};
  rng.push_choice(0, 2);
  rng.push_choice(0, 1);
  EXPECT_EQ(p.pick(weighted, kKey), 1u);
  EXPECT_EQ(rng.remaining(), 0u);
}

TEST(PowerOfTwo, SingleAvailableBackendNeedsNoDraw) {
  ScriptedRng rng;
  PowerOfTwoPolicy p(rng);
  std::vector<BackendView> pool{backend(0, false), backend(1, true, 1, 100), backend(2, true, 0)};
  EXPECT_EQ(picks(p, pool, 3), (std::vector<uint32_t>{1, 1, 1}));
  EXPECT_EQ(rng.consumed(), 0u);
}

TEST(PowerOfTwo, DistributionOver100kPicks) {
  // Equal load, equal weights: each backend is in the pair 2/n of the time
  // and wins half of those (ties to the first draw): uniform.
  {
    Xoshiro256 rng(21);
    PowerOfTwoPolicy p(rng);
    auto pool = pool_of(5);
    std::vector<uint64_t> count(5);
    for (int i = 0; i < 100'000; ++i) ++count[p.pick(pool, kKey).value()];
    for (uint64_t c : count) EXPECT_NEAR(static_cast<double>(c) / 100'000, 0.2, 0.006);
  }
  // Closed loop with weights: shares follow the weights.
  {
    Xoshiro256 rng(22);
    PowerOfTwoPolicy p(rng);
    auto share = closed_loop_shares(p, weighted_pool({1, 2, 3, 4}), 100'000);
    ASSERT_EQ(share.size(), 4u);
    for (int i = 0; i < 4; ++i) EXPECT_NEAR(share[i], (i + 1) / 10.0, 0.005) << i;
  }
}

// ---- smooth weighted round-robin ----------------------------------------------

TEST(WeightedRoundRobin, SmoothSequenceAsNginx) {
  WeightedRoundRobinPolicy p;
  auto pool = weighted_pool({5, 1, 1});
  // nginx's documented example: a a b a c a a.
  EXPECT_EQ(picks(p, pool, 14), (std::vector<uint32_t>{0, 0, 1, 0, 2, 0, 0, 0, 0, 1, 0, 2, 0, 0}));
}

TEST(WeightedRoundRobin, EqualWeightsIsRoundRobinAndTiesGoToPoolOrder) {
  WeightedRoundRobinPolicy p;
  auto pool = pool_of(3);
  EXPECT_EQ(picks(p, pool, 6), (std::vector<uint32_t>{0, 1, 2, 0, 1, 2}));
}

TEST(WeightedRoundRobin, ExactSharesOverEachCycleAndUnavailableSkipped) {
  WeightedRoundRobinPolicy p;
  auto pool = weighted_pool({3, 2, 4, 1});
  pool[3].available = false;
  std::vector<int> count(4);
  for (int i = 0; i < 9 * 1000; ++i) ++count[p.pick(pool, kKey).value()];
  EXPECT_EQ(count, (std::vector<int>{3000, 2000, 4000, 0}));
  // Weight 0 drains.
  pool[1].weight = 0;
  for (int i = 0; i < 70; ++i) EXPECT_NE(p.pick(pool, kKey), 1u);
}

TEST(WeightedRoundRobin, DistributionOver100kPicks) {
  WeightedRoundRobinPolicy p;
  auto pool = weighted_pool({1, 2, 3, 4});
  std::vector<uint64_t> count(4);
  for (int i = 0; i < 100'000; ++i) ++count[p.pick(pool, kKey).value()];
  EXPECT_EQ(count, (std::vector<uint64_t>{10'000, 20'000, 30'000, 40'000}));
}

// ---- round-robin and random keep their exact behaviour --------------------------

TEST(Unweighted, RoundRobinAndRandomDistributionsOver100kPicks) {
  auto pool = weighted_pool({1, 5, 9});  // weights are ignored by both
  Xoshiro256 rng(31);
  for (PolicyKind k : {PolicyKind::RoundRobin, PolicyKind::Random}) {
    auto p = make_policy(k, ScoringConfig{}, rng);
    std::vector<uint64_t> count(3);
    for (int i = 0; i < 120'000; ++i) ++count[p->pick(pool, kKey).value()];
    for (uint64_t c : count) EXPECT_NEAR(static_cast<double>(c) / 120'000, 1.0 / 3, 0.005) << policy_name(k);
  }
}

}  // namespace
}  // namespace fulcrum::lb::testing
