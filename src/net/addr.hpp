// MAC and IPv4 address value types.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace fulcrum {

struct MacAddr {
  std::array<uint8_t, 6> b{};

  static std::optional<MacAddr> parse(std::string_view s);  // "aa:bb:cc:dd:ee:ff"
  static constexpr MacAddr broadcast() { return MacAddr{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}; }
  [[nodiscard]] std::string str() const;
  [[nodiscard]] bool is_zero() const { return b == std::array<uint8_t, 6>{}; }
  [[nodiscard]] bool is_broadcast() const { return *this == broadcast(); }
  [[nodiscard]] bool is_multicast() const { return (b[0] & 1) != 0; }
  [[nodiscard]] uint64_t as_u64() const {
    uint64_t v = 0;
    for (uint8_t x : b) v = (v << 8) | x;
    return v;
  }
  friend constexpr bool operator==(const MacAddr&, const MacAddr&) = default;
  friend constexpr auto operator<=>(const MacAddr&, const MacAddr&) = default;
};

// IPv4 address in host byte order.
struct Ipv4Addr {
  uint32_t v = 0;

  static std::optional<Ipv4Addr> parse(std::string_view s);  // dotted quad
  [[nodiscard]] std::string str() const;
  friend constexpr bool operator==(const Ipv4Addr&, const Ipv4Addr&) = default;
  friend constexpr auto operator<=>(const Ipv4Addr&, const Ipv4Addr&) = default;
};

}  // namespace fulcrum

template <>
struct std::hash<fulcrum::MacAddr> {
  std::size_t operator()(const fulcrum::MacAddr& m) const noexcept { return std::hash<uint64_t>{}(m.as_u64()); }
};
template <>
struct std::hash<fulcrum::Ipv4Addr> {
  std::size_t operator()(const fulcrum::Ipv4Addr& a) const noexcept { return std::hash<uint32_t>{}(a.v); }
};
