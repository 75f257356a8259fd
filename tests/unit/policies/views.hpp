// Helpers for policy tests: pools of BackendViews and picking loops.
#pragma once

#include <gtest/gtest.h>

#include <initializer_list>
#include <span>
#include <vector>

#include "balancer/policy.hpp"

namespace fulcrum::lb::testing {

inline const ConnKey kKey{6, Ipv4Addr{0x0a000101}, 40000, Ipv4Addr{0x0a000064}, 80};

inline BackendView backend(uint32_t index, bool available = true, uint32_t weight = 1, uint32_t active = 0) {
  BackendView v;
  v.ip = Ipv4Addr{0x0a00000bu + index};
  v.available = available;
  v.weight = weight;
  v.active_connections = active;
  return v;
}

// n available backends of weight 1, ips 10.0.0.11...
inline std::vector<BackendView> pool_of(uint32_t n) {
  std::vector<BackendView> pool;
  for (uint32_t i = 0; i < n; ++i) pool.push_back(backend(i));
  return pool;
}

inline std::vector<BackendView> weighted_pool(std::initializer_list<uint32_t> weights) {
  std::vector<BackendView> pool;
  uint32_t i = 0;
  for (uint32_t w : weights) pool.push_back(backend(i++, true, w));
  return pool;
}

inline std::vector<uint32_t> picks(Policy& p, std::span<const BackendView> pool, int n) {
  std::vector<uint32_t> out;
  for (int i = 0; i < n; ++i) {
    auto c = p.pick(pool, kKey);
    EXPECT_TRUE(c.has_value());
    out.push_back(c.value_or(999));
  }
  return out;
}

}  // namespace fulcrum::lb::testing
