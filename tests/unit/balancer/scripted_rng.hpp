// An Rng that returns a fixed script, so a test can pin every random choice.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "balancer/rng.hpp"

namespace fulcrum::lb::testing {

class ScriptedRng final : public Rng {
 public:
  explicit ScriptedRng(std::vector<uint64_t> script = {}) : script_(std::move(script)) {}

  uint64_t next_u64() override {
    if (pos_ >= script_.size()) {
      ADD_FAILURE() << "ScriptedRng: script exhausted after " << script_.size() << " values";
      return 0;
    }
    return script_[pos_++];
  }
  void push(uint64_t v) { script_.push_back(v); }
  // Appends the value for which uniform(n) returns i (the middle of i's
  // bucket: no rejection).
  void push_choice(uint64_t i, uint64_t n) { push(choice(i, n)); }
  [[nodiscard]] std::size_t consumed() const { return pos_; }
  [[nodiscard]] std::size_t remaining() const { return script_.size() - pos_; }

  static uint64_t choice(uint64_t i, uint64_t n) {
    return static_cast<uint64_t>((static_cast<u128>(2 * i + 1) << 64) / (2 * static_cast<u128>(n)));
  }

 private:
  std::vector<uint64_t> script_;
  std::size_t pos_ = 0;
};

}  // namespace fulcrum::lb::testing
