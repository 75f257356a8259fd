// Source hash: Maglev consistent hashing on the client's IPv4 address only,
// so every connection of a client goes to the same backend while the pool is
// stable, and when a backend leaves or joins only about 1/N of the clients
// move (those of the backend that left, or the share the newcomer takes).
//
// The table is built over the eligible backends (available, weight > 0) with
// their weights and rebuilt when that set changes, detected by a 64-bit
// fingerprint over (ip, weight, available) of the pool computed on each pick
// (a few nanoseconds per backend). The two most recent tables are kept, so a
// pool that flips between two states (the core marks the client itself
// unavailable when a backend connects to its own VIP) does not rebuild on
// every pick. A table is 4 bytes per slot (65537 slots: 256 KiB).
#pragma once

#include <array>
#include <vector>

#include "balancer/policies/maglev.hpp"
#include "balancer/policy.hpp"

namespace fulcrum::lb {

class SourceHashPolicy final : public Policy {
 public:
  [[nodiscard]] PolicyKind kind() const override { return PolicyKind::SourceHash; }
  std::optional<uint32_t> pick(std::span<const BackendView> pool, const ConnKey& key) override;

  // For tests and stats: how many tables have been built.
  [[nodiscard]] uint64_t rebuilds() const { return rebuilds_; }

  static uint64_t fingerprint(std::span<const BackendView> pool);

 private:
  struct Table {
    bool valid = false;
    uint64_t fingerprint = 0;
    std::size_t pool_size = 0;
    std::vector<uint32_t> slots;  // pool indices; empty: no eligible backend
  };
  const Table& table_for(std::span<const BackendView> pool);

  std::array<Table, 2> tables_;
  std::size_t newest_ = 0;
  uint64_t rebuilds_ = 0;
  std::vector<maglev::Backend> scratch_;
  std::vector<uint32_t> scratch_index_;
};

}  // namespace fulcrum::lb
