#include "balancer/policies/source_hash.hpp"

namespace fulcrum::lb {

uint64_t SourceHashPolicy::fingerprint(std::span<const BackendView> pool) {
  uint64_t h = maglev::hash(pool.size(), 0);
  for (const auto& b : pool) {
    const uint64_t word = (uint64_t{b.ip.v} << 32) ^ (uint64_t{b.weight} << 1) ^ (b.available ? 1u : 0u);
    h = maglev::hash(h ^ word, 0x736f75726365ULL);
  }
  return h;
}

const SourceHashPolicy::Table& SourceHashPolicy::table_for(std::span<const BackendView> pool) {
  const uint64_t fp = fingerprint(pool);
  for (std::size_t k = 0; k < tables_.size(); ++k) {
    const std::size_t i = (newest_ + k) % tables_.size();
    const Table& t = tables_[i];
    if (t.valid && t.fingerprint == fp && t.pool_size == pool.size()) return t;
  }
  // Build over the eligible backends, replacing the older table.
  scratch_.clear();
  scratch_index_.clear();
  for (uint32_t i = 0; i < pool.size(); ++i) {
    if (!pool[i].available || pool[i].weight == 0) continue;
    scratch_.push_back(maglev::Backend{pool[i].ip.v, pool[i].weight});
    scratch_index_.push_back(i);
  }
  newest_ = (newest_ + 1) % tables_.size();
  Table& t = tables_[newest_];
  t.slots = maglev::build_table(scratch_, maglev::table_size_for(scratch_.size()));
  for (auto& s : t.slots) s = scratch_index_[s];
  t.valid = true;
  t.fingerprint = fp;
  t.pool_size = pool.size();
  ++rebuilds_;
  return t;
}

std::optional<uint32_t> SourceHashPolicy::pick(std::span<const BackendView> pool, const ConnKey& key) {
  const Table& t = table_for(pool);
  if (t.slots.empty()) return std::nullopt;
  return t.slots[maglev::hash(key.client_ip.v, maglev::kLookupSeed) % t.slots.size()];
}

}  // namespace fulcrum::lb
