#include "balancer/policies/power_of_two.hpp"

#include "balancer/policies/least_connections.hpp"

namespace fulcrum::lb {

namespace {

// Index in `pool` of the nth (from 0) eligible backend.
uint32_t nth_eligible(std::span<const BackendView> pool, uint32_t nth) {
  for (uint32_t i = 0; i < pool.size(); ++i) {
    if (!eligible(pool[i])) continue;
    if (nth == 0) return i;
    --nth;
  }
  return 0;  // unreachable when nth < count
}

}  // namespace

std::optional<uint32_t> PowerOfTwoPolicy::pick(std::span<const BackendView> pool, const ConnKey& /*key*/) {
  uint32_t count = 0;
  uint32_t only = 0;
  for (uint32_t i = 0; i < pool.size(); ++i) {
    if (eligible(pool[i])) {
      ++count;
      only = i;
    }
  }
  if (count == 0) return std::nullopt;
  if (count == 1) return only;
  auto first = static_cast<uint32_t>(rng_.uniform(count));
  auto second = static_cast<uint32_t>(rng_.uniform(count - 1));
  if (second >= first) ++second;  // distinct, uniform over the others
  const uint32_t a = nth_eligible(pool, first);
  const uint32_t b = nth_eligible(pool, second);
  return lighter(pool[b], pool[a]) ? b : a;
}

}  // namespace fulcrum::lb
