#include "net/addr.hpp"

#include <charconv>
#include <cstdio>

namespace fulcrum {

namespace {
std::optional<uint32_t> parse_uint(std::string_view s, int base, uint32_t max) {
  if (s.empty()) return std::nullopt;
  uint32_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (ec != std::errc() || p != s.data() + s.size() || v > max) return std::nullopt;
  return v;
}
}  // namespace

std::optional<MacAddr> MacAddr::parse(std::string_view s) {
  MacAddr m;
  for (std::size_t i = 0; i < 6; ++i) {
    std::string_view part = s.substr(0, 2);
    if (part.size() != 2) return std::nullopt;
    auto v = parse_uint(part, 16, 0xff);
    if (!v) return std::nullopt;
    m.b[i] = static_cast<uint8_t>(*v);
    s.remove_prefix(2);
    if (i < 5) {
      if (s.empty() || (s[0] != ':' && s[0] != '-')) return std::nullopt;
      s.remove_prefix(1);
    }
  }
  if (!s.empty()) return std::nullopt;
  return m;
}

std::string MacAddr::str() const {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
  return buf;
}

std::optional<Ipv4Addr> Ipv4Addr::parse(std::string_view s) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) {
    std::size_t dot = s.find('.');
    std::string_view part = (i < 3) ? s.substr(0, dot) : s;
    if (i < 3 && dot == std::string_view::npos) return std::nullopt;
    if (part.size() > 3 || (part.size() > 1 && part[0] == '0')) return std::nullopt;
    auto octet = parse_uint(part, 10, 255);
    if (!octet) return std::nullopt;
    v = (v << 8) | *octet;
    if (i < 3) s.remove_prefix(dot + 1);
  }
  return Ipv4Addr{v};
}

std::string Ipv4Addr::str() const {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", v >> 24, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff);
  return buf;
}

}  // namespace fulcrum
