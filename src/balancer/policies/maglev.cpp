#include "balancer/policies/maglev.hpp"

#include <algorithm>
#include <limits>

namespace fulcrum::lb::maglev {

namespace {

bool is_prime(uint64_t n) {
  if (n < 2) return false;
  for (uint64_t d = 2; d * d <= n; ++d) {
    if (n % d == 0) return false;
  }
  return true;
}

constexpr uint32_t kEmpty = std::numeric_limits<uint32_t>::max();

}  // namespace

uint64_t hash(uint64_t value, uint64_t seed) {
  uint64_t z = value + seed + 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint32_t table_size_for(std::size_t n) {
  const uint64_t want = uint64_t{100} * n;
  if (want <= kDefaultTableSize) return kDefaultTableSize;
  uint64_t m = want;
  while (!is_prime(m)) ++m;
  return static_cast<uint32_t>(m);
}

std::vector<uint32_t> build_table(std::span<const Backend> backends, uint32_t table_size) {
  uint32_t max_weight = 0;
  for (const auto& b : backends) max_weight = std::max(max_weight, b.weight);
  if (max_weight == 0 || table_size == 0) return {};

  const uint64_t m = table_size;
  struct Cursor {
    uint64_t offset, skip, next = 0, credit = 0;
  };
  std::vector<Cursor> cursors;
  cursors.reserve(backends.size());
  for (const auto& b : backends) {
    const uint64_t offset = hash(b.id, kOffsetSeed) % m;
    const uint64_t skip = m > 1 ? hash(b.id, kSkipSeed) % (m - 1) + 1 : 1;
    cursors.push_back(Cursor{offset, skip});
  }

  std::vector<uint32_t> table(table_size, kEmpty);
  uint64_t filled = 0;
  for (;;) {
    for (uint32_t i = 0; i < backends.size(); ++i) {
      Cursor& c = cursors[i];
      c.credit += backends[i].weight;
      if (c.credit < max_weight) continue;
      c.credit -= max_weight;
      uint64_t slot = (c.offset + c.next * c.skip) % m;
      while (table[slot] != kEmpty) {
        ++c.next;
        slot = (c.offset + c.next * c.skip) % m;
      }
      table[slot] = i;
      ++c.next;
      if (++filled == m) return table;
    }
  }
}

}  // namespace fulcrum::lb::maglev
