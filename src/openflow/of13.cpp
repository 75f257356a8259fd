// OpenFlow 1.3 (wire version 0x04) layouts: OXM matches, instructions,
// multipart messages, roles.
#include <type_traits>

#include "openflow/wire.hpp"

namespace fulcrum::of::detail {

namespace {

constexpr Version kV = Version::V13;

// Types numbered differently from 1.0.
constexpr uint8_t kMultipartRequest = 18, kMultipartReply = 19, kBarrierRequest = 20, kBarrierReply = 21;
constexpr uint8_t kRoleRequest = 24, kRoleReply = 25;
constexpr uint16_t kMpFlow = 1, kMpPortStats = 4, kMpPortDesc = 13;
constexpr uint16_t kMpReplyMore = 1;

constexpr std::size_t kPortLen = 64, kPortStatsLen = 112, kFlowStatsFixedLen = 48;

// Match and OXM.
constexpr uint16_t kMatchTypeOxm = 1;
constexpr uint16_t kOxmClassBasic = 0x8000;
enum Oxm : uint8_t {
  kOxmInPort = 0,
  kOxmEthDst = 3,
  kOxmEthSrc = 4,
  kOxmEthType = 5,
  kOxmIpProto = 10,
  kOxmIpv4Src = 11,
  kOxmIpv4Dst = 12,
  kOxmTcpSrc = 13,
  kOxmTcpDst = 14,
  kOxmUdpSrc = 15,
  kOxmUdpDst = 16,
};

// Payload length of the basic fields Match models; 0 for the others.
constexpr uint8_t oxm_len(uint8_t field) {
  switch (field) {
    case kOxmInPort:
    case kOxmIpv4Src:
    case kOxmIpv4Dst:
      return 4;
    case kOxmEthDst:
    case kOxmEthSrc:
      return 6;
    case kOxmEthType:
    case kOxmTcpSrc:
    case kOxmTcpDst:
    case kOxmUdpSrc:
    case kOxmUdpDst:
      return 2;
    case kOxmIpProto:
      return 1;
    default:
      return 0;
  }
}

// class, field << 1 (no mask), payload length: one 32-bit store.
constexpr uint32_t oxm_word(uint8_t field) {
  return (uint32_t{kOxmClassBasic} << 16) | (uint32_t{field} << 9) | oxm_len(field);
}

// Actions and instructions.
constexpr uint16_t kActOutput = 0, kActSetField = 25;
constexpr uint16_t kActMaxKnown = 27;  // POP_PBB; 0xffff is EXPERIMENTER
constexpr uint16_t kInstApplyActions = 4;
constexpr uint16_t kInstMaxKnown = 6;  // METER; 0xffff is EXPERIMENTER

// ---- match ------------------------------------------------------------------

// One OXM TLV into `m`. Unknown classes/fields and masked fields flag the
// match as unmodelled; a bad length fails.
DStatus decode_oxm(uint32_t hdr, ByteReader& p, Match& m, bool& tcp, bool& udp) {
  uint16_t cls = static_cast<uint16_t>(hdr >> 16);
  uint8_t field = static_cast<uint8_t>((hdr >> 9) & 0x7f);
  bool masked = (hdr & 0x100) != 0;
  uint8_t want = oxm_len(field);
  if (cls != kOxmClassBasic || masked || want == 0) {
    m.unmodelled = true;
    return {};
  }
  if (p.remaining() != want) return derr(Err::BadMatchLen, "OXM length for its field");
  auto set = [](auto& opt, auto v) -> DStatus {
    if (opt) return derr(Err::DupMatchField, "duplicate OXM field");
    opt = v;
    return {};
  };
  switch (field) {
    case kOxmInPort:
      return set(m.in_port, p.u32());
    case kOxmEthDst:
      return set(m.eth_dst, read_mac(p));
    case kOxmEthSrc:
      return set(m.eth_src, read_mac(p));
    case kOxmEthType:
      return set(m.eth_type, p.u16());
    case kOxmIpProto:
      return set(m.ip_proto, p.u8());
    case kOxmIpv4Src:
      return set(m.ipv4_src, Ipv4Addr{p.u32()});
    case kOxmIpv4Dst:
      return set(m.ipv4_dst, Ipv4Addr{p.u32()});
    case kOxmTcpSrc:
    case kOxmTcpDst:
    case kOxmUdpSrc:
    case kOxmUdpDst: {
      (field <= kOxmTcpDst ? tcp : udp) = true;
      bool src = field == kOxmTcpSrc || field == kOxmUdpSrc;
      return set(src ? m.tp_src : m.tp_dst, p.u16());
    }
    default:
      return {};
  }
}

// ofp_match with its padding. `check_prereq`: fail on fields whose
// prerequisites are missing (a packet-in's match carries pipeline fields only).
DStatus decode_match(ByteReader& r, Match& m, bool check_prereq = true) {
  m = Match{};
  uint16_t type = r.u16();
  uint16_t len = r.u16();
  if (!r.ok()) return derr(Err::BadMatchLen, "match header truncated");
  if (type != kMatchTypeOxm) return derr(Err::BadMatchType, "match type is not OXM");
  if (len < 4) return derr(Err::BadMatchLen, "match length below its header");
  ByteReader f = r.take(len - 4u);
  r.skip(round8(len) - len);
  if (!r.ok()) return derr(Err::BadMatchLen, "match beyond its container");
  bool tcp = false, udp = false;
  while (!f.empty()) {
    uint32_t hdr = f.u32();
    if (!f.ok()) return derr(Err::BadMatchLen, "OXM header truncated");
    uint8_t plen = static_cast<uint8_t>(hdr);
    if (plen == 0) return derr(Err::BadMatchLen, "zero-length OXM");
    ByteReader p = f.take(plen);
    if (!f.ok()) return derr(Err::BadMatchLen, "OXM beyond the match");
    if (auto s = decode_oxm(hdr, p, m, tcp, udp); !s) return s;
  }
  if (!check_prereq) return {};
  if (((m.ipv4_src || m.ipv4_dst) && !ipv4_prereq(m)) || (m.ip_proto && !ip_proto_prereq(m)) ||
      (tcp && m.ip_proto != kIpTcp) || (udp && m.ip_proto != kIpUdp)) {
    return derr(Err::BadMatchPrereq, "OXM prerequisite missing");
  }
  return {};
}

// Fields in the order OVS writes them, each after its prerequisites. The
// length is known from the fields present, so the match (padding included)
// is claimed once and written through a pointer.
EStatus encode_match(ByteWriter& w, const Match& m) {
  if ((m.ipv4_src || m.ipv4_dst) && !ipv4_prereq(m)) return fail(Err::BadMatchPrereq);
  if (m.ip_proto && !ip_proto_prereq(m)) return fail(Err::BadMatchPrereq);
  const bool udp = m.ip_proto == kIpUdp;
  if ((m.tp_src || m.tp_dst) && m.ip_proto != kIpTcp && !udp) return fail(Err::BadMatchPrereq);
  const std::size_t len = 4 + (m.in_port ? 8 : 0) + (m.eth_dst ? 10 : 0) + (m.eth_src ? 10 : 0) + (m.eth_type ? 6 : 0) +
                          (m.ip_proto ? 5 : 0) + (m.ipv4_src ? 8 : 0) + (m.ipv4_dst ? 8 : 0) + (m.tp_src ? 6 : 0) +
                          (m.tp_dst ? 6 : 0);
  const std::size_t padded = round8(len);
  uint8_t* const base = w.claim(padded);
  put::u64(base + padded - 8, 0);  // the padding (fields overwrite the rest)
  uint8_t* p = put::u32(base, (uint32_t{kMatchTypeOxm} << 16) | static_cast<uint16_t>(len));
  if (m.in_port) p = put::u32(put::u32(p, oxm_word(kOxmInPort)), *m.in_port);
  if (m.eth_dst) p = put::bytes(put::u32(p, oxm_word(kOxmEthDst)), m.eth_dst->b.data(), 6);
  if (m.eth_src) p = put::bytes(put::u32(p, oxm_word(kOxmEthSrc)), m.eth_src->b.data(), 6);
  if (m.eth_type) p = put::u16(put::u32(p, oxm_word(kOxmEthType)), *m.eth_type);
  if (m.ip_proto) p = put::u8(put::u32(p, oxm_word(kOxmIpProto)), *m.ip_proto);
  if (m.ipv4_src) p = put::u32(put::u32(p, oxm_word(kOxmIpv4Src)), m.ipv4_src->v);
  if (m.ipv4_dst) p = put::u32(put::u32(p, oxm_word(kOxmIpv4Dst)), m.ipv4_dst->v);
  if (m.tp_src) p = put::u16(put::u32(p, oxm_word(udp ? kOxmUdpSrc : kOxmTcpSrc)), *m.tp_src);
  if (m.tp_dst) p = put::u16(put::u32(p, oxm_word(udp ? kOxmUdpDst : kOxmTcpDst)), *m.tp_dst);
  return {};
}

// ---- actions and instructions -------------------------------------------------

// `unmodelled` null: strict; non-null: lenient (stats replies).
DStatus decode_actions(ByteReader r, ActionList& out, bool* unmodelled) {
  while (!r.empty()) {
    if (!r.can_read(4)) return derr(Err::BadActionLen, "action header truncated");
    uint16_t type = r.peek_u16(0);
    uint16_t len = r.peek_u16(2);
    if (len < 8 || len % 8 != 0 || len > r.remaining()) return derr(Err::BadActionLen, "action length");
    ByteReader a = r.take(len);
    a.skip(4);
    std::optional<Action> act;
    if (type == kActOutput) {
      if (len != 16) return derr(Err::BadActionLen, "output action length");
      PortNo p = a.u32();
      act = ActOutput{p, a.u16()};
    } else if (type == kActSetField) {
      uint32_t hdr = a.u32();
      uint8_t plen = static_cast<uint8_t>(hdr);
      if (plen == 0 || round8(8u + plen) != len) return derr(Err::BadActionLen, "set-field length");
      ByteReader p = a.take(plen);
      uint16_t cls = static_cast<uint16_t>(hdr >> 16);
      uint8_t field = static_cast<uint8_t>((hdr >> 9) & 0x7f);
      bool masked = (hdr & 0x100) != 0;
      if (cls == kOxmClassBasic && !masked && oxm_len(field) != 0 && oxm_len(field) != plen) {
        return derr(Err::BadActionLen, "set-field OXM length for its field");
      }
      if (cls == kOxmClassBasic && !masked) {
        switch (field) {
          case kOxmEthSrc:
            act = ActSetEthSrc{read_mac(p)};
            break;
          case kOxmEthDst:
            act = ActSetEthDst{read_mac(p)};
            break;
          case kOxmIpv4Src:
            act = ActSetIpv4Src{Ipv4Addr{p.u32()}};
            break;
          case kOxmIpv4Dst:
            act = ActSetIpv4Dst{Ipv4Addr{p.u32()}};
            break;
          case kOxmTcpSrc:
          case kOxmUdpSrc:
            act = ActSetTpSrc{p.u16()};
            break;
          case kOxmTcpDst:
          case kOxmUdpDst:
            act = ActSetTpDst{p.u16()};
            break;
          default:
            break;
        }
      }
      if (!act) {
        if (!unmodelled) return derr(Err::BadActionArgument, "set-field of a field not modelled");
        *unmodelled = true;
        continue;
      }
    } else {
      if (!unmodelled) {
        return derr(Err::BadActionType,
                    type <= kActMaxKnown || type == 0xffff ? "action not modelled" : "unknown action type");
      }
      *unmodelled = true;
      continue;
    }
    if (!out.push_back(*act)) {
      if (!unmodelled) return derr(Err::BadActionLen, "too many actions");
      *unmodelled = true;
    }
  }
  return {};
}

// Action type and length, then the OXM header: one 64-bit word.
constexpr uint64_t set_field_word(uint8_t field) {
  return (uint64_t{kActSetField} << 48) | (uint64_t{round8(8u + oxm_len(field))} << 32) | oxm_word(field);
}

// Every action Fulcrum models is 16 bytes in 1.3 (output; a set-field of a
// MAC, an IPv4 address or a port, padded to 8): the list is claimed once.
// Transport set-fields use UDP OXMs when the flow matches UDP, else TCP.
void encode_actions(ByteWriter& w, const ActionList& actions, bool udp) {
  constexpr std::size_t kActionLen = 16;
  static_assert(round8(8 + 6) == kActionLen && round8(8 + 4) == kActionLen && round8(8 + 2) == kActionLen);
  uint8_t* p = w.claim(kActionLen * actions.size());
  for (const Action& act : actions) {
    put::u64(p + 8, 0);  // payload and padding (the payload overwrites its part)
    std::visit(
        [&](const auto& a) {
          using T = std::decay_t<decltype(a)>;
          if constexpr (std::is_same_v<T, ActOutput>) {
            put::u64(put::u32(put::u32(p, (uint32_t{kActOutput} << 16) | 16), a.port), uint64_t{a.max_len} << 48);
          } else if constexpr (std::is_same_v<T, ActSetEthSrc>) {
            put::bytes(put::u64(p, set_field_word(kOxmEthSrc)), a.mac.b.data(), 6);
          } else if constexpr (std::is_same_v<T, ActSetEthDst>) {
            put::bytes(put::u64(p, set_field_word(kOxmEthDst)), a.mac.b.data(), 6);
          } else if constexpr (std::is_same_v<T, ActSetIpv4Src>) {
            put::u32(put::u64(p, set_field_word(kOxmIpv4Src)), a.ip.v);
          } else if constexpr (std::is_same_v<T, ActSetIpv4Dst>) {
            put::u32(put::u64(p, set_field_word(kOxmIpv4Dst)), a.ip.v);
          } else if constexpr (std::is_same_v<T, ActSetTpSrc>) {
            put::u16(put::u64(p, set_field_word(udp ? kOxmUdpSrc : kOxmTcpSrc)), a.port);
          } else {
            static_assert(std::is_same_v<T, ActSetTpDst>);
            put::u16(put::u64(p, set_field_word(udp ? kOxmUdpDst : kOxmTcpDst)), a.port);
          }
        },
        act);
    p += kActionLen;
  }
}

// Instructions: one APPLY_ACTIONS is modelled. Strict mode (flow-mod) fails
// on anything else; lenient mode (flow stats) flags it.
DStatus decode_instructions(ByteReader r, ActionList& out, bool* unmodelled) {
  bool seen_apply = false;
  while (!r.empty()) {
    if (!r.can_read(4)) return derr(Err::BadInstructionLen, "instruction header truncated");
    uint16_t type = r.peek_u16(0);
    uint16_t len = r.peek_u16(2);
    if (len < 8 || len % 8 != 0 || len > r.remaining()) return derr(Err::BadInstructionLen, "instruction length");
    ByteReader in = r.take(len);
    if (type == kInstApplyActions && !seen_apply) {
      seen_apply = true;
      in.skip(8);
      if (auto s = decode_actions(in, out, unmodelled); !s) return s;
      continue;
    }
    if (!unmodelled) {
      return derr(Err::BadInstruction,
                  type <= kInstMaxKnown || type == 0xffff ? "instruction not modelled" : "unknown instruction type");
    }
    *unmodelled = true;
  }
  return {};
}

void encode_instructions(ByteWriter& w, const ActionList& actions, const Match& m) {
  if (actions.empty()) return;
  std::size_t start = w.size();
  put::u64(w.claim(8), uint64_t{kInstApplyActions} << 48);  // type, length (patched), pad
  encode_actions(w, actions, m.ip_proto == kIpUdp);
  w.patch_u16(start + 2, static_cast<uint16_t>(w.size() - start));
}

// ---- ports ------------------------------------------------------------------

PortDesc decode_port(ByteReader& r) {
  PortDesc d;
  d.port_no = r.u32();
  r.skip(4);
  d.hw_addr = read_mac(r);
  r.skip(2);
  d.name = read_name(r, 16);
  d.config = r.u32();
  d.state = r.u32();
  d.curr = r.u32();
  d.advertised = r.u32();
  d.supported = r.u32();
  d.peer = r.u32();
  d.curr_speed_kbps = r.u32();
  d.max_speed_kbps = r.u32();
  return d;
}

void encode_port(ByteWriter& w, const PortDesc& d) {
  w.u32(d.port_no);
  w.zeros(4);
  write_mac(w, d.hw_addr);
  w.zeros(2);
  write_name(w, d.name, 16);
  for (uint32_t v : {d.config, d.state, d.curr, d.advertised, d.supported, d.peer, d.curr_speed_kbps, d.max_speed_kbps})
    w.u32(v);
}

// ---- decoding ---------------------------------------------------------------

DResult decode_features_reply(ByteReader& r) {
  FeaturesReply f;
  f.datapath_id = r.u64();
  f.n_buffers = r.u32();
  f.n_tables = r.u8();
  f.auxiliary_id = r.u8();
  r.skip(2);
  f.capabilities = r.u32();
  r.skip(4);  // reserved
  if (!r.ok() || !r.empty()) return derr(Err::BadLen, "features reply length");
  return Message{std::move(f)};
}

DResult decode_packet_in(ByteReader& r) {
  PacketIn p;
  p.buffer_id = r.u32();
  p.total_len = r.u16();
  p.reason = static_cast<PacketInReason>(r.u8());
  p.table_id = r.u8();
  p.cookie = r.u64();
  if (!r.ok()) return derr(Err::BadLen, "packet-in too short");
  Match m;
  if (auto s = decode_match(r, m, false); !s) return fail(s.error());
  p.in_port = m.in_port.value_or(0);  // the spec requires in_port; 0 (no such port) if absent
  r.skip(2);
  if (!r.ok()) return derr(Err::BadLen, "packet-in too short");
  p.data = r.rest();
  return Message{p};
}

DResult decode_packet_out(ByteReader& r) {
  PacketOut p;
  p.buffer_id = r.u32();
  p.in_port = r.u32();
  uint16_t actions_len = r.u16();
  r.skip(6);
  if (!r.ok()) return derr(Err::BadLen, "packet-out too short");
  ByteReader acts = r.take(actions_len);
  if (!r.ok()) return derr(Err::BadLen, "packet-out actions beyond the message");
  if (auto s = decode_actions(acts, p.actions, nullptr); !s) return fail(s.error());
  p.data = r.rest();
  return Message{p};
}

DResult decode_flow_mod(ByteReader& r) {
  FlowMod f;
  f.cookie = r.u64();
  f.cookie_mask = r.u64();
  f.table_id = r.u8();
  uint8_t command = r.u8();
  f.idle_timeout = r.u16();
  f.hard_timeout = r.u16();
  f.priority = r.u16();
  f.buffer_id = r.u32();
  f.out_port = r.u32();
  f.out_group = r.u32();
  f.flags = r.u16();
  r.skip(2);
  if (!r.ok()) return derr(Err::BadLen, "flow-mod too short");
  if (command > static_cast<uint8_t>(FlowModCommand::DeleteStrict)) {
    return derr(Err::FlowModBadCommand, "unknown flow-mod command");
  }
  f.command = static_cast<FlowModCommand>(command);
  if (auto s = decode_match(r, f.match); !s) return fail(s.error());
  if (auto s = decode_instructions(r, f.actions, nullptr); !s) return fail(s.error());
  return Message{f};
}

DResult decode_flow_removed(ByteReader& r) {
  FlowRemoved f;
  f.cookie = r.u64();
  f.priority = r.u16();
  f.reason = static_cast<FlowRemovedReason>(r.u8());
  f.table_id = r.u8();
  f.duration_sec = r.u32();
  f.duration_nsec = r.u32();
  f.idle_timeout = r.u16();
  f.hard_timeout = r.u16();
  f.packet_count = r.u64();
  f.byte_count = r.u64();
  if (!r.ok()) return derr(Err::BadLen, "flow-removed too short");
  if (auto s = decode_match(r, f.match); !s) return fail(s.error());
  if (!r.empty()) return derr(Err::BadLen, "flow-removed has trailing bytes");
  return Message{f};
}

DResult decode_port_status(ByteReader& r) {
  PortStatus p;
  p.reason = static_cast<PortStatusReason>(r.u8());
  r.skip(7);
  p.desc = decode_port(r);
  if (!r.ok() || !r.empty()) return derr(Err::BadLen, "port-status length");
  return Message{std::move(p)};
}

DResult decode_multipart_request(ByteReader& r) {
  uint16_t type = r.u16();
  r.skip(2 + 4);  // flags, pad
  if (!r.ok()) return derr(Err::BadLen, "multipart request too short");
  switch (type) {
    case kMpPortDesc:
      if (!r.empty()) return derr(Err::BadLen, "port-desc request has a body");
      return Message{PortDescRequest{}};
    case kMpPortStats: {
      PortStatsRequest p;
      p.port_no = r.u32();
      r.skip(4);
      if (!r.ok() || !r.empty()) return derr(Err::BadLen, "port stats request length");
      return Message{p};
    }
    case kMpFlow: {
      FlowStatsRequest f;
      f.table_id = r.u8();
      r.skip(3);
      f.out_port = r.u32();
      f.out_group = r.u32();
      r.skip(4);
      f.cookie = r.u64();
      f.cookie_mask = r.u64();
      if (!r.ok()) return derr(Err::BadLen, "flow stats request too short");
      if (auto s = decode_match(r, f.match); !s) return fail(s.error());
      if (!r.empty()) return derr(Err::BadLen, "flow stats request has trailing bytes");
      return Message{f};
    }
    default:
      return derr(Err::BadMultipart, "multipart request of an unsupported kind");
  }
}

DStatus decode_flow_stats(ByteReader& r, FlowStats& s) {
  r.skip(2);  // length
  s.table_id = r.u8();
  r.skip(1);
  s.duration_sec = r.u32();
  s.duration_nsec = r.u32();
  s.priority = r.u16();
  s.idle_timeout = r.u16();
  s.hard_timeout = r.u16();
  s.flags = r.u16();
  r.skip(4);
  s.cookie = r.u64();
  s.packet_count = r.u64();
  s.byte_count = r.u64();
  if (!r.ok()) return derr(Err::BadLen, "flow stats entry too short");
  if (auto m = decode_match(r, s.match); !m) return m;
  return decode_instructions(r, s.actions, &s.unmodelled_actions);
}

DResult decode_multipart_reply(ByteReader& r) {
  uint16_t type = r.u16();
  bool more = (r.u16() & kMpReplyMore) != 0;
  r.skip(4);
  if (!r.ok()) return derr(Err::BadLen, "multipart reply too short");
  switch (type) {
    case kMpPortDesc: {
      PortDescReply p;
      p.more = more;
      if (r.remaining() % kPortLen != 0) return derr(Err::BadLen, "ports not a multiple of 64 bytes");
      p.ports.reserve(r.remaining() / kPortLen);
      while (!r.empty()) p.ports.push_back(decode_port(r));
      return Message{std::move(p)};
    }
    case kMpPortStats: {
      PortStatsReply p;
      p.more = more;
      if (r.remaining() % kPortStatsLen != 0) return derr(Err::BadLen, "port stats not a multiple of 112 bytes");
      p.stats.reserve(r.remaining() / kPortStatsLen);
      while (!r.empty()) {
        PortStats s;
        s.port_no = r.u32();
        r.skip(4);
        for (uint64_t* c : {&s.rx_packets, &s.tx_packets, &s.rx_bytes, &s.tx_bytes, &s.rx_dropped, &s.tx_dropped,
                            &s.rx_errors, &s.tx_errors, &s.rx_frame_err, &s.rx_over_err, &s.rx_crc_err, &s.collisions})
          *c = r.u64();
        s.duration_sec = r.u32();
        s.duration_nsec = r.u32();
        p.stats.push_back(s);
      }
      return Message{std::move(p)};
    }
    case kMpFlow: {
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
    default:
      return derr(Err::BadMultipart, "multipart reply of an unsupported kind");
  }
}

DResult decode_role(const Header& h, ByteReader& r) {
  auto role = static_cast<Role>(r.u32());
  r.skip(4);
  uint64_t gen = r.u64();
  if (!r.ok() || !r.empty()) return derr(Err::BadLen, "role message length");
  if (h.type == kRoleRequest) return Message{RoleRequest{role, gen}};
  return Message{RoleReply{role, gen}};
}

// ---- encoding ---------------------------------------------------------------

struct Encoder {
  ByteWriter& w;
  uint32_t xid;

  EStatus operator()(const FeaturesReply& f) {
    begin_msg(w, kV, t::kFeaturesReply, xid);
    w.u64(f.datapath_id);
    w.u32(f.n_buffers);
    w.u8(f.n_tables);
    w.u8(f.auxiliary_id);
    w.zeros(2);
    w.u32(f.capabilities);
    w.u32(0);  // reserved
    return {};
  }
  EStatus operator()(const PacketIn& p) {
    begin_msg(w, kV, t::kPacketIn, xid);
    w.u32(p.buffer_id);
    w.u16(p.total_len);
    w.u8(static_cast<uint8_t>(p.reason));
    w.u8(p.table_id);
    w.u64(p.cookie);
    Match m;
    m.in_port = p.in_port;
    if (auto s = encode_match(w, m); !s) return s;
    w.zeros(2);
    w.bytes(p.data);
    return {};
  }
  EStatus operator()(const PacketOut& p) {
    begin_msg(w, kV, t::kPacketOut, xid);
    w.u32(p.buffer_id);
    w.u32(p.in_port);
    std::size_t len_at = w.size();
    w.u16(0);
    w.zeros(6);
    encode_actions(w, p.actions, false);
    std::size_t actions_len = w.size() - len_at - 8;
    if (actions_len > 0xffff) return fail(Err::BadLen);
    w.patch_u16(len_at, static_cast<uint16_t>(actions_len));
    w.bytes(p.data);
    return {};
  }
  EStatus operator()(const FlowMod& f) {
    begin_msg(w, kV, t::kFlowMod, xid);
    uint8_t* p = w.claim(40);
    p = put::u64(p, f.cookie);
    p = put::u64(p, f.cookie_mask);
    p = put::u8(p, f.table_id);
    p = put::u8(p, static_cast<uint8_t>(f.command));
    p = put::u16(p, f.idle_timeout);
    p = put::u16(p, f.hard_timeout);
    p = put::u16(p, f.priority);
    p = put::u32(p, f.buffer_id);
    p = put::u32(p, f.out_port);
    p = put::u32(p, f.out_group);
    p = put::u16(p, f.flags);
    put::u16(p, 0);
    if (auto s = encode_match(w, f.match); !s) return s;
    encode_instructions(w, f.actions, f.match);
    return {};
  }
  EStatus operator()(const FlowRemoved& f) {
    begin_msg(w, kV, t::kFlowRemoved, xid);
    w.u64(f.cookie);
    w.u16(f.priority);
    w.u8(static_cast<uint8_t>(f.reason));
    w.u8(f.table_id);
    w.u32(f.duration_sec);
    w.u32(f.duration_nsec);
    w.u16(f.idle_timeout);
    w.u16(f.hard_timeout);
    w.u64(f.packet_count);
    w.u64(f.byte_count);
    return encode_match(w, f.match);
  }
  EStatus operator()(const PortStatus& p) {
    begin_msg(w, kV, t::kPortStatus, xid);
    w.u8(static_cast<uint8_t>(p.reason));
    w.zeros(7);
    encode_port(w, p.desc);
    return {};
  }
  EStatus operator()(const BarrierRequest&) {
    begin_msg(w, kV, kBarrierRequest, xid);
    return {};
  }
  EStatus operator()(const BarrierReply&) {
    begin_msg(w, kV, kBarrierReply, xid);
    return {};
  }
  EStatus operator()(const PortDescRequest&) {
    multipart_header(kMultipartRequest, kMpPortDesc, false);
    return {};
  }
  EStatus operator()(const PortDescReply& p) {
    multipart_header(kMultipartReply, kMpPortDesc, p.more);
    for (const PortDesc& d : p.ports) encode_port(w, d);
    return {};
  }
  EStatus operator()(const PortStatsRequest& p) {
    multipart_header(kMultipartRequest, kMpPortStats, false);
    w.u32(p.port_no);
    w.zeros(4);
    return {};
  }
  EStatus operator()(const PortStatsReply& p) {
    multipart_header(kMultipartReply, kMpPortStats, p.more);
    for (const PortStats& s : p.stats) {
      w.u32(s.port_no);
      w.zeros(4);
      for (uint64_t c : {s.rx_packets, s.tx_packets, s.rx_bytes, s.tx_bytes, s.rx_dropped, s.tx_dropped, s.rx_errors,
                         s.tx_errors, s.rx_frame_err, s.rx_over_err, s.rx_crc_err, s.collisions})
        w.u64(c);
      w.u32(s.duration_sec);
      w.u32(s.duration_nsec);
    }
    return {};
  }
  EStatus operator()(const FlowStatsRequest& f) {
    multipart_header(kMultipartRequest, kMpFlow, false);
    w.u8(f.table_id);
    w.zeros(3);
    w.u32(f.out_port);
    w.u32(f.out_group);
    w.zeros(4);
    w.u64(f.cookie);
    w.u64(f.cookie_mask);
    return encode_match(w, f.match);
  }
  EStatus operator()(const FlowStatsReply& f) {
    multipart_header(kMultipartReply, kMpFlow, f.more);
    for (const FlowStats& s : f.stats) {
      std::size_t start = w.size();
      w.u16(0);
      w.u8(s.table_id);
      w.u8(0);
      w.u32(s.duration_sec);
      w.u32(s.duration_nsec);
      w.u16(s.priority);
      w.u16(s.idle_timeout);
      w.u16(s.hard_timeout);
      w.u16(s.flags);
      w.zeros(4);
      w.u64(s.cookie);
      w.u64(s.packet_count);
      w.u64(s.byte_count);
      if (auto st = encode_match(w, s.match); !st) return st;
      encode_instructions(w, s.actions, s.match);
      if (w.size() - start > 0xffff) return fail(Err::BadLen);
      w.patch_u16(start, static_cast<uint16_t>(w.size() - start));
    }
    return {};
  }
  EStatus operator()(const RoleRequest& r) { return role(kRoleRequest, r.role, r.generation_id); }
  EStatus operator()(const RoleReply& r) { return role(kRoleReply, r.role, r.generation_id); }
  // Common messages are encoded in codec.cpp.
  template <typename T>
  EStatus operator()(const T&) {
    return fail(Err::UnsupportedInVersion);
  }

  void multipart_header(uint8_t msg_type, uint16_t mp_type, bool more) {
    begin_msg(w, kV, msg_type, xid);
    w.u16(mp_type);
    w.u16(more ? kMpReplyMore : 0);
    w.zeros(4);
  }
  EStatus role(uint8_t type, Role role, uint64_t generation_id) {
    begin_msg(w, kV, type, xid);
    w.u32(static_cast<uint32_t>(role));
    w.zeros(4);
    w.u64(generation_id);
    return {};
  }
};

}  // namespace

DResult decode13(const Header& h, ByteReader& r) {
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
    case kMultipartRequest:
      return decode_multipart_request(r);
    case kMultipartReply:
      return decode_multipart_reply(r);
    case kBarrierRequest:
    case kBarrierReply:
      if (!r.empty()) return derr(Err::BadLen, "barrier has a body");
      return h.type == kBarrierRequest ? Message{BarrierRequest{}} : Message{BarrierReply{}};
    case kRoleRequest:
    case kRoleReply:
      return decode_role(h, r);
    default:
      return derr(Err::BadType, "unsupported OpenFlow 1.3 message type");
  }
}

EStatus encode13(uint32_t xid, const Message& m, ByteWriter& w) { return std::visit(Encoder{w, xid}, m); }

}  // namespace fulcrum::of::detail
