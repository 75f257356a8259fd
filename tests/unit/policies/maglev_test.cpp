// Maglev table builder and the source-hash policy: even shares, weights,
// stickiness while the pool is stable, ~1/N of clients moving when one of N
// backends leaves, rebuilds only when the pool changes.
#include "balancer/policies/maglev.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <vector>

#include "balancer/policies/source_hash.hpp"
#include "unit/policies/views.hpp"

namespace fulcrum::lb::testing {
namespace {

std::vector<double> table_shares(const std::vector<uint32_t>& table, std::size_t n) {
  std::vector<double> share(n);
  for (uint32_t e : table) share.at(e) += 1.0 / static_cast<double>(table.size());
  return share;
}

TEST(Maglev, TableSizeIsAPrimeAtLeast100TimesTheBackends) {
  EXPECT_EQ(maglev::table_size_for(0), 65537u);
  EXPECT_EQ(maglev::table_size_for(3), 65537u);
  EXPECT_EQ(maglev::table_size_for(655), 65537u);
  EXPECT_EQ(maglev::table_size_for(1000), 100003u);  // smallest prime >= 100000
  EXPECT_GE(maglev::table_size_for(700), 70000u);
}

TEST(Maglev, EmptyOrAllZeroWeightGivesAnEmptyTable) {
  EXPECT_TRUE(maglev::build_table({}).empty());
  std::vector<maglev::Backend> zero{{1, 0}, {2, 0}};
  EXPECT_TRUE(maglev::build_table(zero).empty());
}

TEST(Maglev, EqualWeightsGiveNearlyEqualShares) {
  for (uint32_t n : {1u, 2u, 3u, 7u, 64u}) {
    std::vector<maglev::Backend> bs;
    for (uint32_t i = 0; i < n; ++i) bs.push_back({0x0a000000u + i, 1});
    auto table = maglev::build_table(bs);
    ASSERT_EQ(table.size(), 65537u);
    auto share = table_shares(table, n);
    for (double s : share) EXPECT_NEAR(s, 1.0 / n, 0.01 / n + 1e-4) << "n=" << n;
  }
}

TEST(Maglev, WeightsGiveProportionalShares) {
  std::vector<maglev::Backend> bs{{0x0a00000b, 1}, {0x0a00000c, 2}, {0x0a00000d, 3}, {0x0a00000e, 10}};
  auto share = table_shares(maglev::build_table(bs), bs.size());
  EXPECT_NEAR(share[0], 1.0 / 16, 0.002);
  EXPECT_NEAR(share[1], 2.0 / 16, 0.002);
  EXPECT_NEAR(share[2], 3.0 / 16, 0.002);
  EXPECT_NEAR(share[3], 10.0 / 16, 0.002);
  // Large weights work the same (credit per max weight, not turns per unit).
  std::vector<maglev::Backend> big{{1, 100000}, {2, 300000}};
  auto s2 = table_shares(maglev::build_table(big), 2);
  EXPECT_NEAR(s2[0], 0.25, 0.002);
}

TEST(Maglev, SlotOwnerDependsOnIdentityNotPosition) {
  std::vector<maglev::Backend> a{{11, 1}, {12, 1}, {13, 1}};
  std::vector<maglev::Backend> b{{13, 1}, {11, 1}, {12, 1}};
  auto ta = maglev::build_table(a);
  auto tb = maglev::build_table(b);
  std::size_t same = 0;
  for (std::size_t i = 0; i < ta.size(); ++i) same += a[ta[i]].id == b[tb[i]].id ? 1 : 0;
  // Turn order decides contested slots, so not all, but nearly all agree.
  EXPECT_GT(static_cast<double>(same) / static_cast<double>(ta.size()), 0.97);
}

ConnKey client(uint32_t i, uint16_t port = 40000) {
  return ConnKey{6, Ipv4Addr{0xc0a80000u + i * 7919u}, port, Ipv4Addr{0x0a000064}, 80};
}

std::vector<uint32_t> assign(SourceHashPolicy& p, std::span<const BackendView> pool, uint32_t clients) {
  std::vector<uint32_t> out;
  for (uint32_t i = 0; i < clients; ++i) out.push_back(p.pick(pool, client(i)).value());
  return out;
}

TEST(SourceHash, AClientKeepsItsBackendWhileThePoolIsStable) {
  SourceHashPolicy p;
  auto pool = pool_of(4);
  for (uint32_t i = 0; i < 500; ++i) {
    const auto first = p.pick(pool, client(i));
    ASSERT_TRUE(first);
    // Any port, any protocol, any time: the same backend.
    for (uint16_t port : {1024, 33333, 65535}) EXPECT_EQ(p.pick(pool, client(i, port)), first);
  }
  EXPECT_EQ(p.rebuilds(), 1u);
  // Active connection counts change nothing.
  pool[0].active_connections = 1000;
  EXPECT_EQ(assign(p, pool, 100), assign(p, pool_of(4), 100));
  EXPECT_EQ(p.rebuilds(), 1u);
}

TEST(SourceHash, RemovingOneOfNBackendsMovesAboutOneNthOfClients) {
  constexpr uint32_t kClients = 10'000;
  for (uint32_t n : {3u, 5u, 10u}) {
    SourceHashPolicy p;
    auto pool = pool_of(n);
    const auto before = assign(p, pool, kClients);
    const uint32_t removed = n / 2;
    pool[removed].available = false;
    const auto after = assign(p, pool, kClients);
    uint32_t moved = 0, of_removed = 0, others_moved = 0;
    for (uint32_t i = 0; i < kClients; ++i) {
      ASSERT_NE(after[i], removed);
      if (before[i] == removed) {
        ++of_removed;
      } else if (after[i] != before[i]) {
        ++others_moved;
      }
      moved += after[i] != before[i] ? 1 : 0;
    }
    const double frac = static_cast<double>(moved) / kClients;
    EXPECT_GT(frac, 0.8 / n) << "n=" << n;
    EXPECT_LT(frac, 1.2 / n + 0.02) << "n=" << n;
    // Clients of the remaining backends mostly stay.
    EXPECT_LT(static_cast<double>(others_moved) / (kClients - of_removed), 0.03) << "n=" << n;
    // Back again: the original mapping, from the cached table.
    pool[removed].available = true;
    EXPECT_EQ(assign(p, pool, kClients), before);
    EXPECT_EQ(p.rebuilds(), 2u);
  }
}

TEST(SourceHash, FlappingBetweenTwoStatesDoesNotRebuild) {
  SourceHashPolicy p;
  auto pool = pool_of(3);
  auto down = pool;
  down[2].available = false;
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(p.pick(pool, client(1)));
    EXPECT_NE(p.pick(down, client(2)), 2u);
  }
  EXPECT_EQ(p.rebuilds(), 2u);
}

TEST(SourceHash, WeightsShapeSharesAndAWeightChangeRebuilds) {
  SourceHashPolicy p;
  auto pool = weighted_pool({1, 2, 3});
  std::vector<uint32_t> count(3);
  constexpr uint32_t kClients = 100'000;
  for (uint32_t c : assign(p, pool, kClients)) ++count[c];
  for (uint32_t i = 0; i < 3; ++i) EXPECT_NEAR(static_cast<double>(count[i]) / kClients, (i + 1) / 6.0, 0.01) << i;
  EXPECT_EQ(p.rebuilds(), 1u);
  pool[0].weight = 3;
  (void)p.pick(pool, client(0));
  EXPECT_EQ(p.rebuilds(), 2u);
  // Weight 0 drains.
  pool[1].weight = 0;
  for (uint32_t c : assign(p, pool, 1000)) EXPECT_NE(c, 1u);
}

TEST(SourceHash, PoolOrderDoesNotMatterForTheMappingByIp) {
  SourceHashPolicy a, b;
  auto pool = pool_of(4);
  std::vector<BackendView> reversed(pool.rbegin(), pool.rend());
  uint32_t agree = 0;
  for (uint32_t i = 0; i < 2000; ++i) {
    auto ia = a.pick(pool, client(i)).value();
    auto ib = b.pick(reversed, client(i)).value();
    agree += pool[ia].ip == reversed[ib].ip ? 1 : 0;
  }
  EXPECT_GT(agree, 1940u);  // > 97 %
}

}  // namespace
}  // namespace fulcrum::lb::testing
