#include "balancer/conn_table.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <unordered_map>
#include <vector>

#include "balancer/types.hpp"

namespace fulcrum::lb {
namespace {

struct Value {
  uint32_t a = 0;
  uint64_t b = 0;
  friend bool operator==(const Value&, const Value&) = default;
};

// Every key hashes alike: one probe path for all, so groups fill up and
// erasures must leave tombstones.
struct SameHash {
  std::size_t operator()(uint32_t) const { return 0x1234; }
};

ConnKey key(uint32_t n) {
  return ConnKey{6, Ipv4Addr{0x0a000000u + (n >> 16)}, static_cast<uint16_t>(n), Ipv4Addr{0x0a000064u}, 80};
}

template <typename Table>
std::map<uint32_t, uint64_t> contents(const Table& t) {
  std::map<uint32_t, uint64_t> m;
  for (const auto& e : t) EXPECT_TRUE(m.emplace(e.first, e.second.b).second) << "visited twice: " << e.first;
  return m;
}

TEST(FlatTable, EmptyTableFindsNothing) {
  FlatTable<uint32_t, Value> t;
  EXPECT_EQ(t.size(), 0u);
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(t.find(7), t.end());
  EXPECT_EQ(t.begin(), t.end());
  EXPECT_EQ(t.erase(7u), 0u);
  EXPECT_EQ(t.capacity(), 0u);
}

TEST(FlatTable, InsertFindAndDuplicate) {
  FlatTable<uint32_t, Value> t;
  auto [it, inserted] = t.emplace(5, Value{1, 50});
  EXPECT_TRUE(inserted);
  EXPECT_EQ(it->first, 5u);
  auto [again, inserted_again] = t.emplace(5, Value{2, 99});
  EXPECT_FALSE(inserted_again);
  EXPECT_EQ(again, it);
  EXPECT_EQ(again->second, (Value{1, 50}));  // not overwritten
  EXPECT_EQ(t.size(), 1u);
  ASSERT_NE(t.find(5), t.end());
  t.find(5)->second.a = 3;
  EXPECT_EQ(t.find(5)->second.a, 3u);
  EXPECT_EQ(t.find(6), t.end());
}

TEST(FlatTable, ConnKeysAndThe48ByteConnectionEntry) {
  FlatTable<ConnKey, Value> t;
  for (uint32_t n = 0; n < 1000; ++n) t.emplace(key(n), Value{n, n});
  for (uint32_t n = 0; n < 1000; ++n) {
    auto it = t.find(key(n));
    ASSERT_NE(it, t.end());
    EXPECT_EQ(it->second.a, n);
  }
  ConnKey other = key(3);
  other.vip_port = 443;  // differs in one field only
  EXPECT_EQ(t.find(other), t.end());
}

TEST(FlatTable, EraseReturnsTheNextEntryAndIterationCanContinue) {
  FlatTable<uint32_t, Value> t(2);
  for (uint32_t n = 0; n < 500; ++n) t.emplace(n, Value{n, n});
  // As Balancer::reset_connections_of does: erase some while iterating.
  std::size_t visited = 0;
  for (auto it = t.begin(); it != t.end();) {
    ++visited;
    it = it->first % 3 == 0 ? t.erase(it) : std::next(it);
  }
  EXPECT_EQ(visited, 500u);
  EXPECT_EQ(t.size(), 500u - 167u);
  auto m = contents(t);
  EXPECT_EQ(m.size(), t.size());
  for (uint32_t n = 0; n < 500; ++n) EXPECT_EQ(t.find(n) != t.end(), n % 3 != 0) << n;
  // Erasing everything through the returned iterators empties the table.
  for (auto it = t.begin(); it != t.end();) it = t.erase(it);
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(t.begin(), t.end());
}

TEST(FlatTable, TombstonesKeepLaterKeysOnTheProbePathReachable) {
  FlatTable<uint32_t, Value, SameHash> t(0);
  for (uint32_t n = 0; n < 60; ++n) ASSERT_TRUE(t.emplace(n, Value{n, n}).second);
  const std::size_t cap = t.capacity();
  ASSERT_EQ(cap, 80u);  // 1 -> 2 -> 3 -> 5 groups, all on one probe path
  // 60 keys on one path of 5 groups: the first three groups are full, so
  // most of these erasures land in a group without an empty slot and must
  // leave tombstones, or the keys further along become unreachable.
  for (uint32_t n = 0; n < 40; ++n) EXPECT_EQ(t.erase(n), 1u);
  for (uint32_t n = 40; n < 60; ++n) ASSERT_NE(t.find(n), t.end()) << n;
  for (uint32_t n = 0; n < 40; ++n) EXPECT_EQ(t.find(n), t.end()) << n;
  // Re-inserting fills the freed slots: no growth.
  for (uint32_t n = 100; n < 140; ++n) ASSERT_TRUE(t.emplace(n, Value{n, n}).second);
  EXPECT_EQ(t.capacity(), cap);
  EXPECT_EQ(t.size(), 60u);
  for (uint32_t n = 40; n < 60; ++n) ASSERT_NE(t.find(n), t.end()) << n;
  for (uint32_t n = 100; n < 140; ++n) ASSERT_NE(t.find(n), t.end()) << n;
  EXPECT_EQ(contents(t).size(), 60u);
}

TEST(FlatTable, ChurnDoesNotGrowTheTable) {
  // 100 live connections, a million opened and closed: tombstones are purged
  // or reused, the table stays small.
  FlatTable<uint32_t, Value> t(0);
  for (uint32_t n = 0; n < 100; ++n) t.emplace(n, Value{});
  const std::size_t cap = t.capacity();
  for (uint32_t n = 100; n < 1'000'100; ++n) {
    ASSERT_TRUE(t.emplace(n, Value{}).second);
    ASSERT_EQ(t.erase(n - 100), 1u);
  }
  EXPECT_EQ(t.size(), 100u);
  EXPECT_LE(t.capacity(), 2 * cap);
  for (uint32_t n = 1'000'000; n < 1'000'100; ++n) ASSERT_NE(t.find(n), t.end()) << n;
}

TEST(FlatTable, GrowthKeepsEveryEntryAndTheLoadBetween7_12And7_8) {
  FlatTable<ConnKey, Value> t;
  constexpr uint32_t kN = 300'000;
  for (uint32_t n = 0; n < kN; ++n) {
    ASSERT_TRUE(t.emplace(key(n), Value{n, n}).second);
    if (n % 50'000 == 49'999) {
      const double load = static_cast<double>(t.size()) / static_cast<double>(t.capacity());
      // Every shard is between 7/12 and 7/8 full once it has a few groups.
      EXPECT_GE(load, 7.0 / 12 * 0.97) << n;
      EXPECT_LE(load, 7.0 / 8) << n;
    }
  }
  EXPECT_EQ(t.size(), kN);
  for (uint32_t n = 0; n < kN; ++n) ASSERT_NE(t.find(key(n)), t.end()) << n;
  std::size_t visited = 0;
  for (const auto& e : t) visited += e.second.a < kN ? 1 : 0;
  EXPECT_EQ(visited, kN);
  // A connection costs at most (entry + control byte) / (7/12) bytes.
  EXPECT_EQ(sizeof(FlatTable<ConnKey, Value>::Entry), 40u);
  EXPECT_LE(static_cast<double>(t.memory_bytes()) / kN, 41.0 * 12 / 7 / 0.97);
}

TEST(FlatTable, OneGrowthRehashesOneShardNotTheTable) {
  constexpr uint32_t kN = 200'000;
  FlatTable<uint32_t, Value> sharded;
  FlatTable<uint32_t, Value> single(0);
  for (uint32_t n = 0; n < kN; ++n) {
    sharded.emplace(n, Value{});
    single.emplace(n, Value{});
  }
  // The longest stall is about kN / 64 entries moved (a shard is at most 7/8
  // full when it grows), against most of the table with one shard.
  EXPECT_LE(sharded.max_rehash_moved(), 2 * kN / sharded.shard_count());
  EXPECT_GE(single.max_rehash_moved(), kN / 2);
}

TEST(FlatTable, MoveLeavesAnEmptyUsableTable) {
  FlatTable<uint32_t, Value> a;
  for (uint32_t n = 0; n < 100; ++n) a.emplace(n, Value{n, n});
  FlatTable<uint32_t, Value> b(std::move(a));
  EXPECT_EQ(b.size(), 100u);
  EXPECT_EQ(a.size(), 0u);  // NOLINT(bugprone-use-after-move): moved-from is valid and empty
  EXPECT_EQ(a.find(5), a.end());
  EXPECT_TRUE(a.emplace(5, Value{}).second);
  FlatTable<uint32_t, Value> c;
  c = std::move(b);
  EXPECT_EQ(c.size(), 100u);
  for (uint32_t n = 0; n < 100; ++n) EXPECT_EQ(c.find(n)->second.b, n);
}

TEST(FlatTable, PrefetchIsOnlyAHint) {
  // Empty: no shards allocated yet, then shards allocated but empty.
  FlatTable<ConnKey, Value> t;
  t.probe_hint(key(1)).prefetch();
  EXPECT_EQ(t.capacity(), 0u);
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(t.begin(), t.end());
  t.emplace(key(0), Value{0, 0});
  t.erase(key(0));
  t.probe_hint(key(1)).prefetch();
  EXPECT_TRUE(t.empty());
  // Enough keys that every one of the 64 shards has entries; prefetch keys
  // present and absent (which land in every shard too).
  for (uint32_t n = 0; n < 5000; ++n) t.emplace(key(n), Value{n, n});
  // Entries in iteration order.
  auto listing = [&t] {
    std::vector<std::pair<uint32_t, uint64_t>> v;
    for (const auto& e : t) v.emplace_back(e.second.a, e.second.b);
    return v;
  };
  const auto before = listing();
  const std::size_t capacity = t.capacity();
  for (uint32_t n = 0; n < 10'000; ++n) t.probe_hint(key(n)).prefetch();
  EXPECT_EQ(t.size(), 5000u);
  EXPECT_EQ(t.capacity(), capacity);
  EXPECT_EQ(listing(), before);
  for (uint32_t n = 0; n < 10'000; ++n) EXPECT_EQ(t.find(key(n)) != t.end(), n < 5000) << n;
  // One shard, and a table whose every key shares one probe path.
  FlatTable<uint32_t, Value> single(0);
  single.probe_hint(3).prefetch();
  single.emplace(3, Value{3, 3});
  single.probe_hint(3).prefetch();
  single.probe_hint(4).prefetch();
  EXPECT_EQ(single.size(), 1u);
  FlatTable<uint32_t, Value, SameHash> same(0);
  for (uint32_t n = 0; n < 100; ++n) same.emplace(n, Value{n, n});
  same.probe_hint(7).prefetch();
  EXPECT_EQ(same.size(), 100u);
  EXPECT_EQ(same.find(7)->second.b, 7u);
}

// Random inserts, lookups and erasures (by key and through iteration) against
// std::unordered_map, over a key space small enough for many hits.
template <typename Hash>
void randomized_against_oracle(unsigned shard_bits, uint32_t key_space, uint32_t seed) {
  FlatTable<uint32_t, Value, Hash> t(shard_bits);
  std::unordered_map<uint32_t, uint64_t> oracle;
  std::mt19937 rng(seed);
  for (int step = 0; step < 200'000; ++step) {
    const uint32_t k = rng() % key_space;
    const uint32_t op = rng() % 100;
    if (op < 45) {
      const uint64_t v = rng();
      const bool inserted = t.emplace(k, Value{k, v}).second;
      ASSERT_EQ(inserted, oracle.emplace(k, v).second) << "step " << step;
    } else if (op < 80) {
      ASSERT_EQ(t.erase(k), oracle.erase(k)) << "step " << step;
    } else if (op < 99) {
      auto it = t.find(k);
      auto o = oracle.find(k);
      ASSERT_EQ(it == t.end(), o == oracle.end()) << "step " << step;
      if (o != oracle.end()) {
        ASSERT_EQ(it->second.b, o->second);
      }
    } else {
      // Sweep: erase every entry with a given low bit while iterating.
      const uint32_t bit = rng() % 2;
      for (auto it = t.begin(); it != t.end();) {
        if ((it->first & 1) == bit) {
          ASSERT_EQ(oracle.erase(it->first), 1u);
          it = t.erase(it);
        } else {
          ++it;
        }
      }
    }
    ASSERT_EQ(t.size(), oracle.size()) << "step " << step;
    if (step % 10'000 == 0) {
      auto m = contents(t);
      ASSERT_EQ(m, (std::map<uint32_t, uint64_t>(oracle.begin(), oracle.end()))) << "step " << step;
    }
  }
  auto m = contents(t);
  EXPECT_EQ(m, (std::map<uint32_t, uint64_t>(oracle.begin(), oracle.end())));
}

TEST(FlatTable, RandomizedAgainstUnorderedMap) {
  randomized_against_oracle<std::hash<uint32_t>>(FlatTable<uint32_t, Value>::kDefaultShardBits, 5000, 1);
  randomized_against_oracle<std::hash<uint32_t>>(0, 300, 2);
  randomized_against_oracle<std::hash<uint32_t>>(3, 100'000, 3);
}

TEST(FlatTable, RandomizedAgainstUnorderedMapWithOneProbePath) { randomized_against_oracle<SameHash>(0, 200, 4); }

}  // namespace
}  // namespace fulcrum::lb
