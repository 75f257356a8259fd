// OpenFlow 1.0 (wire version 0x01) layouts.
#include <type_traits>

#include "openflow/wire.hpp"

namespace fulcrum::of::detail {

namespace {

constexpr Version kV = Version::V10;

// Types numbered differently from 1.3.
constexpr uint8_t kStatsRequest = 16, kStatsReply = 17, kBarrierRequest = 18, kBarrierReply = 19;
constexpr uint16_t kStatsFlow = 1, kStatsPort = 4;
constexpr uint16_t kStatsReplyMore = 1;

constexpr std::size_t kMatchLen = 40, kPhyPortLen = 48, kPortStatsLen = 104, kFlowStatsFixedLen = 88;

// ofp_match wildcards.
constexpr uint32_t kWcInPort = 1u << 0, kWcDlVlan = 1u << 1, kWcDlSrc = 1u << 2, kWcDlDst = 1u << 3;
constexpr uint32_t kWcDlType = 1u << 4, kWcNwProto = 1u << 5, kWcTpSrc = 1u << 6, kWcTpDst = 1u << 7;
constexpr int kWcNwSrcShift = 8, kWcNwDstShift = 14;
constexpr uint32_t kWcDlVlanPcp = 1u << 20, kWcNwTos = 1u << 21;

// Action types.
constexpr uint16_t kActOutput = 0, kActSetDlSrc = 4, kActSetDlDst = 5, kActSetNwSrc = 6, kActSetNwDst = 7;
constexpr uint16_t kActSetTpSrc = 9, kActSetTpDst = 10;
constexpr uint16_t kActMaxKnown = 11;  // ENQUEUE; 0xffff is VENDOR

// 16-bit ports: the reserved range 0xfff8..0xffff maps onto 1.3's.
PortNo port_from10(uint16_t p) { return p >= 0xfff8 ? 0xffff0000u | p : p; }
std::optional<uint16_t> port_to10(PortNo p) {
  if (p >= 0xfffffff8u || p < 0xfff8u) return static_cast<uint16_t>(p);
  return std::nullopt;
}

// ---- match ------------------------------------------------------------------

DStatus decode_match(ByteReader& r, Match& m) {
  ByteReader f = r.take(kMatchLen);
  if (!r.ok()) return derr(Err::BadLen, "ofp_match truncated");
  uint32_t wc = f.u32();
  uint16_t in_port = f.u16();
  MacAddr dl_src = read_mac(f);
  MacAddr dl_dst = read_mac(f);
  f.skip(2 + 1 + 1);  // dl_vlan, dl_vlan_pcp, pad
  uint16_t dl_type = f.u16();
  f.skip(1);  // nw_tos
  uint8_t nw_proto = f.u8();
  f.skip(2);
  uint32_t nw_src = f.u32();
  uint32_t nw_dst = f.u32();
  uint16_t tp_src = f.u16();
  uint16_t tp_dst = f.u16();

  m = Match{};
  if (!(wc & kWcInPort)) m.in_port = port_from10(in_port);
  if (!(wc & kWcDlSrc)) m.eth_src = dl_src;
  if (!(wc & kWcDlDst)) m.eth_dst = dl_dst;
  if (!(wc & kWcDlType)) m.eth_type = dl_type;
  if (!(wc & kWcNwProto)) m.ip_proto = nw_proto;
  if (!(wc & kWcTpSrc)) m.tp_src = tp_src;
  if (!(wc & kWcTpDst)) m.tp_dst = tp_dst;
  if (!(wc & kWcDlVlan) || !(wc & kWcDlVlanPcp) || !(wc & kWcNwTos)) m.unmodelled = true;
  uint32_t src_bits = (wc >> kWcNwSrcShift) & 0x3f;
  uint32_t dst_bits = (wc >> kWcNwDstShift) & 0x3f;
  if (src_bits == 0)
    m.ipv4_src = Ipv4Addr{nw_src};
  else if (src_bits < 32)
    m.unmodelled = true;  // prefix match
  if (dst_bits == 0)
    m.ipv4_dst = Ipv4Addr{nw_dst};
  else if (dst_bits < 32)
    m.unmodelled = true;

  // A 1.0 switch ignores fields whose prerequisites are absent (and ARP
  // reuses nw_* for its own fields): keep only what means what Match says.
  auto drop = [&m](auto& field) {
    if (field) {
      field.reset();
      m.unmodelled = true;
    }
  };
  if (m.eth_type != kEthIpv4) {
    drop(m.ip_proto);
    drop(m.ipv4_src);
    drop(m.ipv4_dst);
  }
  if (!m.ip_proto) {
    drop(m.tp_src);
    drop(m.tp_dst);
  }
  return {};
}

EStatus encode_match(ByteWriter& w, const Match& m) {
  if ((m.ipv4_src || m.ipv4_dst || m.ip_proto) && !ipv4_prereq(m)) return fail(Err::BadMatchPrereq);
  if ((m.tp_src || m.tp_dst) && !m.ip_proto) return fail(Err::BadMatchPrereq);
  uint16_t in_port = 0;
  if (m.in_port) {
    auto p = port_to10(*m.in_port);
    if (!p) return fail(Err::BadMatchValue);
    in_port = *p;
  }
  uint32_t wc = kWcDlVlan | kWcDlVlanPcp | kWcNwTos;
  if (!m.in_port) wc |= kWcInPort;
  if (!m.eth_src) wc |= kWcDlSrc;
  if (!m.eth_dst) wc |= kWcDlDst;
  if (!m.eth_type) wc |= kWcDlType;
  if (!m.ip_proto) wc |= kWcNwProto;
  if (!m.tp_src) wc |= kWcTpSrc;
  if (!m.tp_dst) wc |= kWcTpDst;
  if (!m.ipv4_src) wc |= 32u << kWcNwSrcShift;
  if (!m.ipv4_dst) wc |= 32u << kWcNwDstShift;
  // ofp_match is 40 bytes, every field present: claimed once.
  const MacAddr dl_src = m.eth_src.value_or(MacAddr{}), dl_dst = m.eth_dst.value_or(MacAddr{});
  uint8_t* p = w.claim(40);
  p = put::u32(p, wc);
  p = put::u16(p, in_port);
  p = put::bytes(p, dl_src.b.data(), 6);
  p = put::bytes(p, dl_dst.b.data(), 6);
  p = put::u32(p, 0);  // dl_vlan, dl_vlan_pcp, pad
  p = put::u16(p, m.eth_type.value_or(0));
  p = put::u8(p, 0);  // nw_tos
  p = put::u8(p, m.ip_proto.value_or(0));
  p = put::u16(p, 0);  // pad
  p = put::u32(p, m.ipv4_src.value_or(Ipv4Addr{}).v);
  p = put::u32(p, m.ipv4_dst.value_or(Ipv4Addr{}).v);
  p = put::u16(p, m.tp_src.value_or(0));
  put::u16(p, m.tp_dst.value_or(0));
  return {};
}

// ---- actions ----------------------------------------------------------------

// `unmodelled` null: strict (a controller-built message must be fully
// understood); non-null: lenient (stats replies), flagging what was skipped.
DStatus decode_actions(ByteReader r, ActionList& out, bool* unmodelled) {
  while (!r.empty()) {
    if (!r.can_read(4)) return derr(Err::BadActionLen, "action header truncated");
    uint16_t type = r.peek_u16(0);
    uint16_t len = r.peek_u16(2);
    if (len < 8 || len % 8 != 0 || len > r.remaining()) return derr(Err::BadActionLen, "action length");
    ByteReader a = r.take(len);
    a.skip(4);
    std::optional<Action> act;
    std::size_t want = 8;
    switch (type) {
      case kActOutput: {
        PortNo p = port_from10(a.u16());
        act = ActOutput{p, a.u16()};
        break;
      }
      case kActSetDlSrc:
        act = ActSetEthSrc{read_mac(a)};
        want = 16;
        break;
      case kActSetDlDst:
        act = ActSetEthDst{read_mac(a)};
        want = 16;
        break;
      case kActSetNwSrc:
        act = ActSetIpv4Src{Ipv4Addr{a.u32()}};
        break;
      case kActSetNwDst:
        act = ActSetIpv4Dst{Ipv4Addr{a.u32()}};
        break;
      case kActSetTpSrc:
        act = ActSetTpSrc{a.u16()};
        break;
      case kActSetTpDst:
        act = ActSetTpDst{a.u16()};
        break;
      default:
        if (!unmodelled) {
          return derr(Err::BadActionType,
                      type <= kActMaxKnown || type == 0xffff ? "action not modelled" : "unknown action type");
        }
        *unmodelled = true;
        continue;
    }
    if (len != want) return derr(Err::BadActionLen, "action length for its type");
    if (!out.push_back(*act)) {
      if (!unmodelled) return derr(Err::BadActionLen, "too many actions");
      *unmodelled = true;
    }
  }
  return {};
}

EStatus encode_actions(ByteWriter& w, const ActionList& actions) {
  for (const Action& act : actions) {
    bool ok = std::visit(
        [&](const auto& a) {
          using T = std::decay_t<decltype(a)>;
          if constexpr (std::is_same_v<T, ActOutput>) {
            auto p = port_to10(a.port);
            if (!p) return false;
            w.u16(kActOutput), w.u16(8), w.u16(*p), w.u16(a.max_len);
          } else if constexpr (std::is_same_v<T, ActSetEthSrc> || std::is_same_v<T, ActSetEthDst>) {
            w.u16(std::is_same_v<T, ActSetEthSrc> ? kActSetDlSrc : kActSetDlDst), w.u16(16);
            write_mac(w, a.mac);
            w.zeros(6);
          } else if constexpr (std::is_same_v<T, ActSetIpv4Src> || std::is_same_v<T, ActSetIpv4Dst>) {
            w.u16(std::is_same_v<T, ActSetIpv4Src> ? kActSetNwSrc : kActSetNwDst), w.u16(8), w.u32(a.ip.v);
          } else {
            static_assert(std::is_same_v<T, ActSetTpSrc> || std::is_same_v<T, ActSetTpDst>);
            w.u16(std::is_same_v<T, ActSetTpSrc> ? kActSetTpSrc : kActSetTpDst), w.u16(8), w.u16(a.port), w.u16(0);
          }
          return true;
        },
        act);
    if (!ok) return fail(Err::BadOutPort);
  }
  return {};
}

// ---- ports ------------------------------------------------------------------

PortDesc decode_phy_port(ByteReader& r) {
  PortDesc d;
  d.port_no = port_from10(r.u16());
  d.hw_addr = read_mac(r);
  d.name = read_name(r, 16);
  d.config = r.u32();
  d.state = r.u32();
  d.curr = features_from10(r.u32());
  d.advertised = features_from10(r.u32());
  d.supported = features_from10(r.u32());
  d.peer = features_from10(r.u32());
  d.curr_speed_kbps = speed_kbps(d.curr);
  d.max_speed_kbps = speed_kbps(d.supported);
  return d;
}

EStatus encode_phy_port(ByteWriter& w, const PortDesc& d) {
  auto p = port_to10(d.port_no);
  if (!p) return fail(Err::BadOutPort);
  w.u16(*p);
  write_mac(w, d.hw_addr);
  write_name(w, d.name, 16);
  w.u32(d.config);
  w.u32(d.state);
  w.u32(features_to10(d.curr));
  w.u32(features_to10(d.advertised));
  w.u32(features_to10(d.supported));
  w.u32(features_to10(d.peer));
  return {};
}

DStatus decode_ports(ByteReader& r, std::vector<PortDesc>& out) {
  if (r.remaining() % kPhyPortLen != 0) return derr(Err::BadLen, "ports not a multiple of 48 bytes");
  out.reserve(r.remaining() / kPhyPortLen);
  while (!r.empty()) out.push_back(decode_phy_port(r));
  return {};
}

// ---- messages ---------------------------------------------------------------

DResult decode_features_reply(ByteReader& r) {
  FeaturesReply f;
  f.datapath_id = r.u64();
  f.n_buffers = r.u32();
  f.n_tables = r.u8();
  r.skip(3);
  f.capabilities = r.u32();
  r.skip(4);  // actions
  if (!r.ok()) return derr(Err::BadLen, "features reply too short");
  if (auto s = decode_ports(r, f.ports); !s) return fail(s.error());
  return Message{std::move(f)};
}

DResult decode_packet_in(ByteReader& r) {
  PacketIn p;
  p.buffer_id = r.u32();
  p.total_len = r.u16();
  p.in_port = port_from10(r.u16());
  p.reason = static_cast<PacketInReason>(r.u8());
  r.skip(1);
  if (!r.ok()) return derr(Err::BadLen, "packet-in too short");
  p.data = r.rest();
  return Message{p};
}

DResult decode_packet_out(ByteReader& r) {
  PacketOut p;
  p.buffer_id = r.u32();
  p.in_port = port_from10(r.u16());
  uint16_t actions_len = r.u16();
  if (!r.ok()) return derr(Err::BadLen, "packet-out too short");
  ByteReader acts = r.take(actions_len);
  if (!r.ok()) return derr(Err::BadLen, "packet-out actions beyond the message");
  if (auto s = decode_actions(acts, p.actions, nullptr); !s) return fail(s.error());
  p.data = r.rest();
  return Message{p};
}

DResult decode_flow_mod(ByteReader& r) {
  FlowMod f;
  if (auto s = decode_match(r, f.match); !s) return fail(s.error());
  f.cookie = r.u64();
  uint16_t command = r.u16();
  f.idle_timeout = r.u16();
  f.hard_timeout = r.u16();
  f.priority = r.u16();
  f.buffer_id = r.u32();
  f.out_port = port_from10(r.u16());
  f.flags = r.u16();
  if (!r.ok()) return derr(Err::BadLen, "flow-mod too short");
  if (command > static_cast<uint16_t>(FlowModCommand::DeleteStrict)) {
    return derr(Err::FlowModBadCommand, "unknown flow-mod command");
  }
  f.command = static_cast<FlowModCommand>(command);
  if (auto s = decode_actions(r, f.actions, nullptr); !s) return fail(s.error());
  return Message{f};
}

DResult decode_flow_removed(ByteReader& r) {
  FlowRemoved f;
  if (auto s = decode_match(r, f.match); !s) return fail(s.error());
  f.cookie = r.u64();
  f.priority = r.u16();
  f.reason = static_cast<FlowRemovedReason>(r.u8());
  r.skip(1);
  f.duration_sec = r.u32();
  f.duration_nsec = r.u32();
  f.idle_timeout = r.u16();
  r.skip(2);
  f.packet_count = r.u64();
  f.byte_count = r.u64();
  if (!r.ok() || !r.empty()) return derr(Err::BadLen, "flow-removed length");
  return Message{f};
}

DResult decode_port_status(ByteReader& r) {
  PortStatus p;
  p.reason = static_cast<PortStatusReason>(r.u8());
  r.skip(7);
  p.desc = decode_phy_port(r);
  if (!r.ok() || !r.empty()) return derr(Err::BadLen, "port-status length");
  return Message{std::move(p)};
}

DResult decode_stats_request(ByteReader& r) {
  uint16_t type = r.u16();
  r.skip(2);  // flags
  if (!r.ok()) return derr(Err::BadLen, "stats request too short");
  if (type == kStatsPort) {
    PortStatsRequest p;
    p.port_no = port_from10(r.u16());
    r.skip(6);
    if (!r.ok() || !r.empty()) return derr(Err::BadLen, "port stats request length");
    return Message{p};
  }
  if (type == kStatsFlow) {
    FlowStatsRequest f;
    if (auto s = decode_match(r, f.match); !s) return fail(s.error());
    f.table_id = r.u8();
    r.skip(1);
    f.out_port = port_from10(r.u16());
    if (!r.ok() || !r.empty()) return derr(Err::BadLen, "flow stats request length");
    return Message{f};
  }
  return derr(Err::BadMultipart, "stats request of an unsupported kind");
}

DStatus decode_flow_stats(ByteReader& r, FlowStats& s) {
  r.skip(2);  // length
  s.table_id = r.u8();
  r.skip(1);
  if (auto m = decode_match(r, s.match); !m) return m;
  s.duration_sec = r.u32();
  s.duration_nsec = r.u32();
  s.priority = r.u16();
  s.idle_timeout = r.u16();
  s.hard_timeout = r.u16();
  r.skip(6);
  s.cookie = r.u64();
  s.packet_count = r.u64();
  s.byte_count = r.u64();
  if (!r.ok()) return derr(Err::BadLen, "flow stats entry too short");
  return decode_actions(r, s.actions, &s.unmodelled_actions);
}

DResult decode_stats_reply(ByteReader& r) {
  uint16_t type = r.u16();
  bool more = (r.u16() & kStatsReplyMore) != 0;
  if (!r.ok()) return derr(Err::BadLen, "stats reply too short");
  if (type == kStatsPort) {
    PortStatsReply p;
    p.more = more;
    if (r.remaining() % kPortStatsLen != 0) return derr(Err::BadLen, "port stats not a multiple of 104 bytes");
    p.stats.reserve(r.remaining() / kPortStatsLen);
    while (!r.empty()) {
      PortStats s;
      s.port_no = port_from10(r.u16());
      r.skip(6);
      for (uint64_t* c : {&s.rx_packets, &s.tx_packets, &s.rx_bytes, &s.tx_bytes, &s.rx_dropped, &s.tx_dropped,
                          &s.rx_errors, &s.tx_errors, &s.rx_frame_err, &s.rx_over_err, &s.rx_crc_err, &s.collisions})
        *c = r.u64();
      p.stats.push_back(s);
    }
    return Message{std::move(p)};
  }
  if (type == kStatsFlow) {
    FlowStatsReply f;
    f.more = more;
    while (!r.empty()) {
      if (!r.can_read(2)) return derr(Err::BadLen, "flow stats entry truncated");
      uint16_t len = r.peek_u16(0);
      if (len < kFlowStatsFixedLen || len > r.remaining()) return derr(Err::BadLen, "flow stats entry length");
      ByteReader e = r.take(len);
      FlowStats s;
      if (auto st = decode_flow_stats(e, s); !st) return fail(st.error());
      f.stats.push_back(s);
    }
    return Message{std::move(f)};
  }
  return derr(Err::BadMultipart, "stats reply of an unsupported kind");
}

// ---- encoding ---------------------------------------------------------------

EStatus encode_port(ByteWriter& w, PortNo p) {
  auto p10 = port_to10(p);
  if (!p10) return fail(Err::BadOutPort);
  w.u16(*p10);
  return {};
}

struct Encoder {
  ByteWriter& w;
  uint32_t xid;

  EStatus operator()(const FeaturesReply& f) {
    begin_msg(w, kV, t::kFeaturesReply, xid);
    w.u64(f.datapath_id);
    w.u32(f.n_buffers);
    w.u8(f.n_tables);
    w.zeros(3);
    w.u32(f.capabilities);
    w.u32(0xfff);  // actions: every 1.0 action type
    for (const PortDesc& d : f.ports)
      if (auto s = encode_phy_port(w, d); !s) return s;
    return {};
  }
  EStatus operator()(const PacketIn& p) {
    begin_msg(w, kV, t::kPacketIn, xid);
    w.u32(p.buffer_id);
    w.u16(p.total_len);
    if (auto s = encode_port(w, p.in_port); !s) return s;
    w.u8(static_cast<uint8_t>(p.reason));
    w.u8(0);
    w.bytes(p.data);
    return {};
  }
  EStatus operator()(const PacketOut& p) {
    begin_msg(w, kV, t::kPacketOut, xid);
    w.u32(p.buffer_id);
    if (auto s = encode_port(w, p.in_port); !s) return s;
    std::size_t len_at = w.size();
    w.u16(0);
    if (auto s = encode_actions(w, p.actions); !s) return s;
    std::size_t actions_len = w.size() - len_at - 2;
    if (actions_len > 0xffff) return fail(Err::BadLen);
    w.patch_u16(len_at, static_cast<uint16_t>(actions_len));
    w.bytes(p.data);
    return {};
  }
  EStatus operator()(const FlowMod& f) {
    begin_msg(w, kV, t::kFlowMod, xid);
    if (auto s = encode_match(w, f.match); !s) return s;
    w.u64(f.cookie);
    w.u16(static_cast<uint16_t>(f.command));
    w.u16(f.idle_timeout);
    w.u16(f.hard_timeout);
    w.u16(f.priority);
    w.u32(f.buffer_id);
    if (auto s = encode_port(w, f.out_port); !s) return s;
    w.u16(f.flags);
    return encode_actions(w, f.actions);
  }
  EStatus operator()(const FlowRemoved& f) {
    begin_msg(w, kV, t::kFlowRemoved, xid);
    if (auto s = encode_match(w, f.match); !s) return s;
    w.u64(f.cookie);
    w.u16(f.priority);
    w.u8(static_cast<uint8_t>(f.reason));
    w.u8(0);
    w.u32(f.duration_sec);
    w.u32(f.duration_nsec);
    w.u16(f.idle_timeout);
    w.zeros(2);
    w.u64(f.packet_count);
    w.u64(f.byte_count);
    return {};
  }
  EStatus operator()(const PortStatus& p) {
    begin_msg(w, kV, t::kPortStatus, xid);
    w.u8(static_cast<uint8_t>(p.reason));
    w.zeros(7);
    return encode_phy_port(w, p.desc);
  }
  EStatus operator()(const BarrierRequest&) {
    begin_msg(w, kV, kBarrierRequest, xid);
    return {};
  }
  EStatus operator()(const BarrierReply&) {
    begin_msg(w, kV, kBarrierReply, xid);
    return {};
  }
  EStatus operator()(const PortStatsRequest& p) {
    stats_header(kStatsRequest, kStatsPort, false);
    if (auto s = encode_port(w, p.port_no); !s) return s;
    w.zeros(6);
    return {};
  }
  EStatus operator()(const PortStatsReply& p) {
    stats_header(kStatsReply, kStatsPort, p.more);
    for (const PortStats& s : p.stats) {
      if (auto st = encode_port(w, s.port_no); !st) return st;
      w.zeros(6);
      for (uint64_t c : {s.rx_packets, s.tx_packets, s.rx_bytes, s.tx_bytes, s.rx_dropped, s.tx_dropped, s.rx_errors,
                         s.tx_errors, s.rx_frame_err, s.rx_over_err, s.rx_crc_err, s.collisions})
        w.u64(c);
    }
    return {};
  }
  EStatus operator()(const FlowStatsRequest& f) {
    stats_header(kStatsRequest, kStatsFlow, false);
    if (auto s = encode_match(w, f.match); !s) return s;
    w.u8(f.table_id);
    w.u8(0);
    return encode_port(w, f.out_port);
  }
  EStatus operator()(const FlowStatsReply& f) {
    stats_header(kStatsReply, kStatsFlow, f.more);
    for (const FlowStats& s : f.stats) {
      std::size_t start = w.size();
      w.u16(0);
      w.u8(s.table_id);
      w.u8(0);
      if (auto st = encode_match(w, s.match); !st) return st;
      w.u32(s.duration_sec);
      w.u32(s.duration_nsec);
      w.u16(s.priority);
      w.u16(s.idle_timeout);
      w.u16(s.hard_timeout);
      w.zeros(6);
      w.u64(s.cookie);
      w.u64(s.packet_count);
      w.u64(s.byte_count);
      if (auto st = encode_actions(w, s.actions); !st) return st;
      if (w.size() - start > 0xffff) return fail(Err::BadLen);
      w.patch_u16(start, static_cast<uint16_t>(w.size() - start));
    }
    return {};
  }
  // No 1.0 form (1.0 ports come in the features reply; no roles).
  EStatus operator()(const PortDescRequest&) { return fail(Err::UnsupportedInVersion); }
  EStatus operator()(const PortDescReply&) { return fail(Err::UnsupportedInVersion); }
  EStatus operator()(const RoleRequest&) { return fail(Err::UnsupportedInVersion); }
  EStatus operator()(const RoleReply&) { return fail(Err::UnsupportedInVersion); }
  // Common messages are encoded in codec.cpp.
  template <typename T>
  EStatus operator()(const T&) {
    return fail(Err::UnsupportedInVersion);
  }

  void stats_header(uint8_t msg_type, uint16_t stats_type, bool more) {
    begin_msg(w, kV, msg_type, xid);
    w.u16(stats_type);
    w.u16(more ? kStatsReplyMore : 0);
  }
};

}  // namespace

DResult decode10(const Header& h, ByteReader& r) {
  switch (h.type) {
    case t::kFeaturesReply:
      return decode_features_reply(r);
    case t::kPacketIn:
      return decode_packet_in(r);
    case t::kFlowRemoved:
      return decode_flow_removed(r);
    case t::kPortStatus:
      return decode_port_status(r);
    case t::kPacketOut:
      return decode_packet_out(r);
    case t::kFlowMod:
      return decode_flow_mod(r);
    case kStatsRequest:
      return decode_stats_request(r);
    case kStatsReply:
      return decode_stats_reply(r);
    case kBarrierRequest:
    case kBarrierReply:
      if (!r.empty()) return derr(Err::BadLen, "barrier has a body");
      return h.type == kBarrierRequest ? Message{BarrierRequest{}} : Message{BarrierReply{}};
    default:
      return derr(Err::BadType, "unsupported OpenFlow 1.0 message type");
  }
}

EStatus encode10(uint32_t xid, const Message& m, ByteWriter& w) { return std::visit(Encoder{w, xid}, m); }

}  // namespace fulcrum::of::detail
