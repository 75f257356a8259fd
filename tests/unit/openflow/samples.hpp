// Sample messages shared by the OpenFlow tests: one or more of every message
// kind, in the form a load balancer builds them.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "openflow/codec.hpp"

namespace fulcrum::of::testing {

inline MacAddr mac(std::string_view s) { return *MacAddr::parse(s); }
inline Ipv4Addr ip(std::string_view s) { return *Ipv4Addr::parse(s); }

inline std::string to_hex(std::span<const uint8_t> b) {
  static const char* kDigits = "0123456789abcdef";
  std::string s;
  for (uint8_t c : b) s += {kDigits[c >> 4], kDigits[c & 15]};
  return s;
}
// Hex digits; everything else (spaces, newlines) is skipped.
inline std::vector<uint8_t> from_hex(std::string_view s) {
  std::vector<uint8_t> out;
  int hi = -1;
  for (char c : s) {
    int v = (c >= '0' && c <= '9')   ? c - '0'
            : (c >= 'a' && c <= 'f') ? c - 'a' + 10
            : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                     : -1;
    if (v < 0) continue;
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<uint8_t>(hi << 4 | v));
      hi = -1;
    }
  }
  return out;
}

inline bool same_bytes(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end());
}

// Field-wise equality; spans compare by content.
inline bool msg_equal(const Message& a, const Message& b) {
  if (a.index() != b.index()) return false;
  return std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        const T& y = std::get<T>(b);
        if constexpr (std::is_same_v<T, ErrorMsg>) {
          return x.type == y.type && x.code == y.code && same_bytes(x.data, y.data);
        } else if constexpr (std::is_same_v<T, EchoRequest> || std::is_same_v<T, EchoReply>) {
          return same_bytes(x.data, y.data);
        } else if constexpr (std::is_same_v<T, PacketIn>) {
          return x.buffer_id == y.buffer_id && x.total_len == y.total_len && x.in_port == y.in_port &&
                 x.reason == y.reason && x.table_id == y.table_id && x.cookie == y.cookie && same_bytes(x.data, y.data);
        } else if constexpr (std::is_same_v<T, PacketOut>) {
          return x.buffer_id == y.buffer_id && x.in_port == y.in_port && x.actions == y.actions &&
                 same_bytes(x.data, y.data);
        } else {
          return x == y;
        }
      },
      a);
}

// A short TCP SYN from a client to the VIP (Ethernet + IPv4 + TCP).
inline std::span<const uint8_t> sample_frame() {
  static const std::vector<uint8_t> kFrame = from_hex(
      "0200000000fe 020000000001 0800"
      "4500 0028 0001 0000 4006 0000 0a000001 0a0000fe"
      "c350 0050 00000001 00000000 5002 ffff 0000 0000");
  return kFrame;
}

// The load balancer's forward entry: client -> VIP rewritten to a backend.
inline FlowMod lb_forward_flow() {
  FlowMod f;
  f.cookie = 0x1234;
  f.command = FlowModCommand::Add;
  f.idle_timeout = 10;
  f.hard_timeout = 0;
  f.priority = 1000;
  f.flags = kFlowSendFlowRem;
  f.match.in_port = 1;
  f.match.eth_type = 0x0800;
  f.match.ip_proto = 6;
  f.match.ipv4_src = ip("10.0.0.1");
  f.match.ipv4_dst = ip("10.0.0.254");
  f.match.tp_src = 50000;
  f.match.tp_dst = 80;
  f.actions.push_back(ActSetEthSrc{mac("02:00:00:00:00:fe")});
  f.actions.push_back(ActSetEthDst{mac("02:00:00:00:00:03")});
  f.actions.push_back(ActSetIpv4Dst{ip("10.0.0.3")});
  f.actions.push_back(ActOutput{3, 0});
  return f;
}

inline PortDesc sample_port(PortNo no, const char* name) {
  PortDesc d;
  d.port_no = no;
  d.hw_addr = mac("02:00:00:00:01:02");
  d.name = name;
  d.config = 0;
  d.state = kPortStateLinkDown;
  d.curr = (1u << 5) | (1u << 11);  // 1GB_FD, COPPER (1.3 layout)
  d.advertised = d.curr | (1u << 13);
  d.supported = (1u << 6) | (1u << 5) | (1u << 11);  // 10GB_FD, 1GB_FD, COPPER
  d.peer = 0;
  d.curr_speed_kbps = 1'000'000;
  d.max_speed_kbps = 10'000'000;
  return d;
}

struct Sample {
  std::string name;
  Version version;
  Message msg;
};

// Every message kind that has a form in `v`, with fields set to non-default
// values so a dropped or swapped field shows.
inline std::vector<Sample> samples(Version v) {
  const bool v13 = v == Version::V13;
  std::vector<Sample> out;
  auto add = [&](std::string name, Message m) { out.push_back({std::move(name), v, std::move(m)}); };
  static const std::array<uint8_t, 5> kEcho = {1, 2, 3, 4, 5};
  static const std::array<uint8_t, 12> kErrData = {0x01, 0x0e, 0x00, 0x48, 0, 0, 0, 9, 1, 2, 3, 4};

  add("hello", Hello{version_bit(Version::V10) | version_bit(Version::V13)});
  add("hello-no-bitmap", Hello{});
  add("error", ErrorMsg{1, 6, kErrData});
  add("echo-request", EchoRequest{kEcho});
  add("echo-reply", EchoReply{kEcho});
  add("echo-request-empty", EchoRequest{});
  add("features-request", FeaturesRequest{});
  {
    FeaturesReply f;
    f.datapath_id = 0x0000020000000001;
    f.n_buffers = 256;
    f.n_tables = 254;
    f.capabilities = 0xc7;
    if (v13) {
      f.auxiliary_id = 0;
    } else {
      f.ports.push_back(sample_port(1, "eth1"));
      f.ports.push_back(sample_port(port::kLocal, "br0"));
    }
    add("features-reply", f);
  }
  add("get-config-request", GetConfigRequest{});
  add("get-config-reply", GetConfigReply{0, 128});
  add("set-config", SetConfig{0, kMaxLenNoBuffer});
  {
    PacketIn p;
    p.buffer_id = kNoBuffer;
    p.total_len = static_cast<uint16_t>(sample_frame().size());
    p.in_port = 2;
    p.reason = PacketInReason::NoMatch;
    if (v13) {
      p.table_id = 0;
      p.cookie = 0xffffffffffffffff;
    }
    p.data = sample_frame();
    add("packet-in", p);
  }
  {
    PacketOut p;
    p.buffer_id = kNoBuffer;
    p.in_port = port::kController;
    p.actions.push_back(ActOutput{2, 0});
    p.data = sample_frame();
    add("packet-out", p);
  }
  {
    PacketOut p;
    p.buffer_id = 77;
    p.in_port = 1;
    p.actions.push_back(ActOutput{port::kFlood, 0});
    add("packet-out-buffered", p);
  }
  {
    FlowMod f = lb_forward_flow();
    if (v13) {
      f.table_id = 0;
      f.cookie_mask = 0;
    }
    add("flow-mod", f);
  }
  {
    // Reverse entry: backend -> client, rewritten to look like the VIP; UDP.
    FlowMod f;
    f.command = FlowModCommand::ModifyStrict;
    f.priority = 900;
    f.hard_timeout = 300;
    f.match.in_port = 3;
    f.match.eth_src = mac("02:00:00:00:00:03");
    f.match.eth_dst = mac("02:00:00:00:00:fe");
    f.match.eth_type = 0x0800;
    f.match.ip_proto = 17;
    f.match.ipv4_src = ip("10.0.0.3");
    f.match.tp_src = 53;
    f.actions.push_back(ActSetIpv4Src{ip("10.0.0.254")});
    f.actions.push_back(ActSetTpSrc{5353});
    f.actions.push_back(ActSetTpDst{53});
    f.actions.push_back(ActOutput{port::kController, 128});
    add("flow-mod-udp", f);
  }
  {
    FlowMod f;
    f.command = FlowModCommand::Delete;
    f.priority = 0;
    if (v13) {
      f.cookie = 0x1200;
      f.cookie_mask = 0xff00;
      f.table_id = 0xff;  // OFPTT_ALL
    }
    add("flow-mod-delete-all", f);
  }
  {
    FlowRemoved r;
    r.cookie = 0x1234;
    r.priority = 1000;
    r.reason = FlowRemovedReason::IdleTimeout;
    r.duration_sec = 12;
    r.duration_nsec = 500;
    r.idle_timeout = 10;
    if (v13) {
      r.table_id = 0;
      r.hard_timeout = 30;
    }
    r.packet_count = 7;
    r.byte_count = 4200;
    r.match = lb_forward_flow().match;
    add("flow-removed", r);
  }
  add("port-status", PortStatus{PortStatusReason::Modify, sample_port(1, "eth1")});
  add("barrier-request", BarrierRequest{});
  add("barrier-reply", BarrierReply{});
  if (v13) {
    add("port-desc-request", PortDescRequest{});
    add("port-desc-reply", PortDescReply{{sample_port(1, "eth1"), sample_port(port::kLocal, "br0")}, false});
  }
  add("port-stats-request", PortStatsRequest{port::kAny});
  {
    PortStatsReply r;
    r.more = true;
    for (PortNo p : {1u, 2u}) {
      PortStats s;
      s.port_no = p;
      s.rx_packets = 100 + p, s.tx_packets = 200 + p, s.rx_bytes = 3000 + p, s.tx_bytes = 4000 + p;
      s.rx_dropped = 1, s.tx_dropped = 2, s.rx_errors = 3, s.tx_errors = 4;
      s.rx_frame_err = 5, s.rx_over_err = 6, s.rx_crc_err = 7, s.collisions = 8;
      if (v13) s.duration_sec = 60, s.duration_nsec = 9;
      r.stats.push_back(s);
    }
    add("port-stats-reply", r);
  }
  {
    FlowStatsRequest r;
    r.table_id = 0xff;
    r.out_port = port::kAny;
    if (v13) r.cookie = 0x1200, r.cookie_mask = 0xff00;
    r.match.eth_type = 0x0800;
    r.match.ipv4_dst = ip("10.0.0.254");
    add("flow-stats-request", r);
  }
  {
    FlowStatsReply r;
    FlowStats s;
    s.table_id = 0;
    s.duration_sec = 5, s.duration_nsec = 6;
    s.priority = 1000, s.idle_timeout = 10, s.hard_timeout = 0;
    if (v13) s.flags = kFlowSendFlowRem;
    s.cookie = 0x1234, s.packet_count = 3, s.byte_count = 180;
    s.match = lb_forward_flow().match;
    s.actions = lb_forward_flow().actions;
    r.stats.push_back(s);
    FlowStats empty;  // a table-miss entry with no actions (drop)
    empty.priority = 0;
    r.stats.push_back(empty);
    add("flow-stats-reply", r);
  }
  if (v13) {
    add("role-request", RoleRequest{Role::Master, 42});
    add("role-reply", RoleReply{Role::Master, 42});
  }
  return out;
}

inline std::vector<Sample> all_samples() {
  auto a = samples(Version::V10);
  auto b = samples(Version::V13);
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

inline std::vector<uint8_t> encode_or_die(Version v, uint32_t xid, const Message& m) {
  std::vector<uint8_t> out;
  auto r = encode(v, xid, m, out);
  if (!r) std::abort();
  return out;
}

}  // namespace fulcrum::of::testing
