// Rise/fall health state of one backend, as HAProxy counts it: an up backend
// goes down after `fall` consecutive failed checks, a down one comes back
// after `rise` consecutive successes. Passive signals (port down, agent
// silent or unhealthy) force it down at once; it then needs `rise` successes.
#pragma once

#include <cstdint>

namespace fulcrum::lb {

enum class HealthTransition : uint8_t { None, WentUp, WentDown };

class HealthState {
 public:
  HealthState(uint32_t rise, uint32_t fall, bool initially_up) : rise_(rise), fall_(fall), up_(initially_up) {}

  HealthTransition success() {
    fails_ = 0;
    if (up_) return HealthTransition::None;
    if (++oks_ >= rise_) {
      up_ = true;
      oks_ = 0;
      return HealthTransition::WentUp;
    }
    return HealthTransition::None;
  }

  HealthTransition failure() {
    oks_ = 0;
    if (!up_) return HealthTransition::None;
    if (++fails_ >= fall_) {
      up_ = false;
      fails_ = 0;
      return HealthTransition::WentDown;
    }
    return HealthTransition::None;
  }

  HealthTransition force_down() {
    oks_ = fails_ = 0;
    if (!up_) return HealthTransition::None;
    up_ = false;
    return HealthTransition::WentDown;
  }

  // Passes every state to up (used when no active check is configured).
  HealthTransition force_up() {
    oks_ = fails_ = 0;
    if (up_) return HealthTransition::None;
    up_ = true;
    return HealthTransition::WentUp;
  }

  [[nodiscard]] bool up() const { return up_; }
  [[nodiscard]] uint32_t consecutive_successes() const { return oks_; }
  [[nodiscard]] uint32_t consecutive_failures() const { return fails_; }

 private:
  uint32_t rise_;
  uint32_t fall_;
  bool up_;
  uint32_t oks_ = 0;
  uint32_t fails_ = 0;
};

}  // namespace fulcrum::lb
