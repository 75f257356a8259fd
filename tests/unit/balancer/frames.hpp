// Frame builders and addresses shared by the balancer tests.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "net/addr.hpp"
#include "packet/packet.hpp"

namespace fulcrum::lb::testing {

inline MacAddr mac(std::string_view s) { return MacAddr::parse(s).value(); }
inline Ipv4Addr ip(std::string_view s) { return Ipv4Addr::parse(s).value(); }

using Frame = std::vector<uint8_t>;

inline Frame arp_frame(MacAddr eth_src, MacAddr eth_dst, uint16_t op, MacAddr sha, Ipv4Addr spa, MacAddr tha,
                       Ipv4Addr tpa) {
  Frame f(pkt::kArpFrameLen);
  f.resize(pkt::build_arp(f, {eth_src, eth_dst}, op, sha, spa, tha, tpa));
  return f;
}

// "Who has `tpa`? Tell `spa`", broadcast.
inline Frame arp_request(MacAddr sha, Ipv4Addr spa, Ipv4Addr tpa) {
  return arp_frame(sha, MacAddr::broadcast(), pkt::kArpRequest, sha, spa, MacAddr{}, tpa);
}

// "`spa` is at `sha`", unicast to `tha`.
inline Frame arp_reply(MacAddr sha, Ipv4Addr spa, MacAddr tha, Ipv4Addr tpa) {
  return arp_frame(sha, tha, pkt::kArpReply, sha, spa, tha, tpa);
}

inline Frame tcp_frame(MacAddr eth_src, MacAddr eth_dst, Ipv4Addr src, Ipv4Addr dst, uint16_t sport, uint16_t dport,
                       uint8_t flags = pkt::kTcpSyn, std::span<const uint8_t> payload = {}) {
  Frame f(14 + 20 + 20 + payload.size());
  f.resize(pkt::build_tcp(f, {eth_src, eth_dst}, {src, dst}, {sport, dport, 1000, 0, flags, 65535}, payload));
  return f;
}

inline Frame udp_frame(MacAddr eth_src, MacAddr eth_dst, Ipv4Addr src, Ipv4Addr dst, uint16_t sport, uint16_t dport,
                       std::span<const uint8_t> payload = {}) {
  Frame f(14 + 20 + 8 + payload.size());
  f.resize(pkt::build_udp(f, {eth_src, eth_dst}, {src, dst}, sport, dport, payload));
  return f;
}

inline Frame icmp_echo_request(MacAddr eth_src, MacAddr eth_dst, Ipv4Addr src, Ipv4Addr dst, uint16_t id, uint16_t seq,
                               std::span<const uint8_t> payload) {
  Frame f(14 + 20 + 8 + payload.size());
  f.resize(pkt::build_icmp_echo(f, {eth_src, eth_dst}, {src, dst, 64, 7}, pkt::kIcmpEchoRequest, id, seq, payload));
  return f;
}

}  // namespace fulcrum::lb::testing
