// Backend selection policies and Rng::uniform.
#include "balancer/policy.hpp"

#include <gtest/gtest.h>

#include <array>
#include <limits>
#include <vector>

#include "balancer/rng.hpp"
#include "unit/balancer/scripted_rng.hpp"

namespace fulcrum::lb::testing {
namespace {

BackendView view(bool available) {
  BackendView v;
  v.available = available;
  return v;
}

std::vector<BackendView> pool_of(std::initializer_list<bool> available) {
  std::vector<BackendView> pool;
  for (bool a : available) pool.push_back(view(a));
  return pool;
}

const ConnKey kKey{6, Ipv4Addr{0x0a000101}, 40000, Ipv4Addr{0x0a000064}, 80};

std::vector<uint32_t> picks(Policy& p, std::span<const BackendView> pool, int n) {
  std::vector<uint32_t> out;
  for (int i = 0; i < n; ++i) {
    auto c = p.pick(pool, kKey);
    EXPECT_TRUE(c.has_value());
    out.push_back(c.value_or(999));
  }
  return out;
}

// Pearson's chi-square statistic of `counts` against a uniform expectation.
double chi_square(std::span<const uint64_t> counts) {
  uint64_t total = 0;
  for (uint64_t c : counts) total += c;
  const double expected = static_cast<double>(total) / static_cast<double>(counts.size());
  double chi = 0;
  for (uint64_t c : counts) chi += (static_cast<double>(c) - expected) * (static_cast<double>(c) - expected) / expected;
  return chi;
}

// ---- names and factory ------------------------------------------------------

TEST(Policy, NamesParseAndFactoryBuildsTheKind) {
  EXPECT_EQ(parse_policy("round-robin"), PolicyKind::RoundRobin);
  EXPECT_EQ(parse_policy("rr"), PolicyKind::RoundRobin);
  EXPECT_EQ(parse_policy("random"), PolicyKind::Random);
  EXPECT_EQ(parse_policy("least-conn"), std::nullopt);
  for (PolicyKind k : {PolicyKind::RoundRobin, PolicyKind::Random}) {
    EXPECT_EQ(parse_policy(policy_name(k)), k);
    ScriptedRng rng;
    auto p = make_policy(k, rng);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p->kind(), k);
  }
}

// ---- round-robin --------------------------------------------------------------

TEST(RoundRobin, CyclesInConfigurationOrder) {
  RoundRobinPolicy rr;
  auto pool = pool_of({true, true, true});
  EXPECT_EQ(picks(rr, pool, 7), (std::vector<uint32_t>{0, 1, 2, 0, 1, 2, 0}));
}

TEST(RoundRobin, SkipsUnavailableBackends) {
  RoundRobinPolicy rr;
  auto pool = pool_of({true, false, true, false});
  EXPECT_EQ(picks(rr, pool, 5), (std::vector<uint32_t>{0, 2, 0, 2, 0}));
  // Availability changing between picks: the cycle carries on from where it was.
  pool[1].available = true;
  EXPECT_EQ(picks(rr, pool, 4), (std::vector<uint32_t>{1, 2, 0, 1}));
  pool[2].available = false;
  EXPECT_EQ(picks(rr, pool, 3), (std::vector<uint32_t>{0, 1, 0}));
}

TEST(RoundRobin, ExactlyEvenOverKTimesNPicks) {
  for (uint32_t n : {1u, 2u, 3u, 5u, 7u}) {
    RoundRobinPolicy rr;
    std::vector<BackendView> pool(n, view(true));
    // Unavailable backends in between change nothing.
    pool.insert(pool.begin() + 1, view(false));
    pool.push_back(view(false));
    constexpr int kRounds = 1000;
    // Start mid-cycle: any k*n consecutive picks are even, not only aligned ones.
    (void)rr.pick(pool, kKey);
    std::vector<int> count(pool.size());
    for (int i = 0; i < kRounds * static_cast<int>(n); ++i) ++count[rr.pick(pool, kKey).value()];
    for (std::size_t i = 0; i < pool.size(); ++i) {
      EXPECT_EQ(count[i], pool[i].available ? kRounds : 0) << "n=" << n << " backend " << i;
    }
  }
}

TEST(RoundRobin, NoneAvailableIsNullopt) {
  RoundRobinPolicy rr;
  EXPECT_EQ(rr.pick(pool_of({false, false, false}), kKey), std::nullopt);
  EXPECT_EQ(rr.pick(std::span<const BackendView>{}, kKey), std::nullopt);
  // And it recovers when one comes back.
  EXPECT_EQ(rr.pick(pool_of({false, false, true}), kKey), 2u);
}

TEST(RoundRobin, SingleBackend) {
  RoundRobinPolicy rr;
  auto pool = pool_of({true});
  EXPECT_EQ(picks(rr, pool, 4), (std::vector<uint32_t>{0, 0, 0, 0}));
}

// ---- random -----------------------------------------------------------------

TEST(Random, ScriptedRngMakesPicksExact) {
  ScriptedRng rng;
  for (uint64_t i : {2, 0, 3, 1, 3}) rng.push_choice(i, 4);
  RandomPolicy p(rng);
  auto pool = pool_of({true, true, true, true});
  EXPECT_EQ(picks(p, pool, 5), (std::vector<uint32_t>{2, 0, 3, 1, 3}));
  EXPECT_EQ(rng.remaining(), 0u);
}

TEST(Random, ChoosesAmongAvailableOnlyInPoolOrder) {
  ScriptedRng rng;
  // Three available (indices 1, 3, 4): the n-th available one is picked.
  for (uint64_t i : {0, 1, 2}) rng.push_choice(i, 3);
  RandomPolicy p(rng);
  auto pool = pool_of({false, true, false, true, true});
  EXPECT_EQ(picks(p, pool, 3), (std::vector<uint32_t>{1, 3, 4}));
}

TEST(Random, NoneAvailableIsNulloptWithoutDrawing) {
  ScriptedRng rng;  // empty: any draw is a failure
  RandomPolicy p(rng);
  EXPECT_EQ(p.pick(pool_of({false, false}), kKey), std::nullopt);
  EXPECT_EQ(p.pick(std::span<const BackendView>{}, kKey), std::nullopt);
  EXPECT_EQ(rng.consumed(), 0u);
}

TEST(Random, SingleAvailableBackend) {
  ScriptedRng rng({0, std::numeric_limits<uint64_t>::max()});
  RandomPolicy p(rng);
  auto pool = pool_of({false, true, false});
  EXPECT_EQ(picks(p, pool, 2), (std::vector<uint32_t>{1, 1}));
}

TEST(Random, DistributionOver300kPicksIsUniform) {
  constexpr int kPicks = 300'000;
  for (uint32_t n : {3u, 5u}) {
    Xoshiro256 rng(0x5eed0000 + n);
    RandomPolicy p(rng);
    std::vector<BackendView> pool(n, view(true));
    std::vector<uint64_t> count(n);
    for (int i = 0; i < kPicks; ++i) ++count[p.pick(pool, kKey).value()];
    for (uint32_t i = 0; i < n; ++i) {
      EXPECT_NEAR(static_cast<double>(count[i]) / kPicks, 1.0 / n, 0.005) << "n=" << n << " backend " << i;
    }
    // Critical values at p = 0.001: 13.82 (2 degrees of freedom), 18.47 (4).
    EXPECT_LT(chi_square(count), n == 3 ? 13.82 : 18.47) << "n=" << n;
  }
}

// ---- Rng::uniform -------------------------------------------------------------

TEST(RngUniform, NoModuloBiasAtThree) {
  constexpr int kDraws = 300'000;
  Xoshiro256 rng(42);
  std::array<uint64_t, 3> count{};
  for (int i = 0; i < kDraws; ++i) {
    uint64_t v = rng.uniform(3);
    ASSERT_LT(v, 3u);
    ++count[v];
  }
  for (uint64_t c : count) EXPECT_NEAR(static_cast<double>(c) / kDraws, 1.0 / 3, 0.005);
  EXPECT_LT(chi_square(count), 13.82);
}

TEST(RngUniform, ThreeBucketsAreContiguousThirdsAndTheExcessIsRejected) {
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  // 2^64 = 3 * 6148914691236517205 + 1: one input value in 2^64 is the excess
  // that plain modulo would hand to 0. Lemire's method rejects exactly one
  // (x = 0, whose low word 0 is below the threshold 2^64 mod 3 = 1) and draws
  // again.
  constexpr uint64_t kThird = 6148914691236517205ULL;  // floor(2^64 / 3)
  ScriptedRng rng({0, 5, kThird, kThird + 1, 2 * kThird, 2 * kThird + 1, kMax});
  EXPECT_EQ(rng.uniform(3), 0u);  // 0 rejected, then 5 -> 0
  EXPECT_EQ(rng.consumed(), 2u);
  EXPECT_EQ(rng.uniform(3), 0u);  // last value of bucket 0
  EXPECT_EQ(rng.uniform(3), 1u);
  EXPECT_EQ(rng.uniform(3), 1u);  // last value of bucket 1
  EXPECT_EQ(rng.uniform(3), 2u);
  EXPECT_EQ(rng.uniform(3), 2u);
  EXPECT_EQ(rng.remaining(), 0u);
}

TEST(RngUniform, OneAlwaysZeroWithOneDraw) {
  ScriptedRng rng({0, 1, 0x8000000000000000ULL, std::numeric_limits<uint64_t>::max()});
  for (int i = 0; i < 4; ++i) EXPECT_EQ(rng.uniform(1), 0u);
  EXPECT_EQ(rng.remaining(), 0u);
  Xoshiro256 x(7);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(x.uniform(1), 0u);
}

TEST(RngUniform, Xoshiro256IsReproducibleFromItsSeed) {
  Xoshiro256 a(123), b(123), c(124);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    uint64_t va = a.next_u64();
    EXPECT_EQ(va, b.next_u64());
    differs |= va != c.next_u64();
  }
  EXPECT_TRUE(differs);
}

}  // namespace
}  // namespace fulcrum::lb::testing
