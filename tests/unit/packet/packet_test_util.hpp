// Small helpers shared by the packet tests.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "net/addr.hpp"

namespace fulcrum::pkt::testing {

inline MacAddr mac(std::string_view s) { return MacAddr::parse(s).value(); }
inline Ipv4Addr ip(std::string_view s) { return Ipv4Addr::parse(s).value(); }

// True when `inner` lies entirely inside `outer` (an empty view anywhere in
// or at the end of `outer` counts).
inline bool within(std::span<const uint8_t> inner, std::span<const uint8_t> outer) {
  if (inner.empty()) return true;
  const uint8_t* b = outer.data();
  const uint8_t* e = outer.data() + outer.size();
  return inner.data() >= b && inner.data() + inner.size() <= e;
}

}  // namespace fulcrum::pkt::testing
