// Maglev consistent hashing (Eisenbud et al., NSDI 2016), as pure logic: a
// lookup table builder with no I/O and no state, in the manner of katran's
// lib/MaglevBase.
//
// Each backend's preference list over the table's M slots is the permutation
// (offset + j * skip) mod M, with offset and skip from two independent hashes
// of the backend's identity (its IPv4 address), so it does not depend on the
// backend's position or on the other backends. Backends take turns claiming
// their next free preferred slot until the table is full. A backend's weight
// gives it proportionally many turns: each round every backend adds its weight
// to a credit and takes one turn per max-weight of credit (katran's weighted
// variant), so shares follow weights even when the weights are large.
//
// M is a prime (so every skip is coprime to it and each preference list is a
// full permutation) at least 100 times the number of backends, which keeps
// each backend's share within about 1 % of its ideal.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace fulcrum::lb::maglev {

constexpr uint32_t kDefaultTableSize = 65537;

struct Backend {
  uint32_t id = 0;  // stable identity, hashed: the IPv4 address
  uint32_t weight = 1;
};

// The table size for n backends: 65537, or the smallest prime >= 100 * n when
// that is larger.
uint32_t table_size_for(std::size_t n);

// The lookup table: `table_size` entries, each an index into `backends`.
// Empty when no backend has weight > 0 (weight-0 backends never appear).
// `table_size` must be prime.
std::vector<uint32_t> build_table(std::span<const Backend> backends, uint32_t table_size = kDefaultTableSize);

// The hashes used for the permutations and for the lookup key: a 64-bit
// finaliser (splitmix64) of the value mixed with a seed.
uint64_t hash(uint64_t value, uint64_t seed);
constexpr uint64_t kOffsetSeed = 0x6d61676c65764f66ULL;  // "maglevOf"
constexpr uint64_t kSkipSeed = 0x6d61676c65765368ULL;    // "maglevSh"
constexpr uint64_t kLookupSeed = 0x6d61676c65764c6bULL;  // "maglevLk"

}  // namespace fulcrum::lb::maglev
