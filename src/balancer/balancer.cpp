#include "balancer/balancer.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "packet/packet.hpp"

namespace fulcrum::lb {

namespace {

constexpr uint64_t kCookieEpochShift = 40;
constexpr uint64_t kCookieReturnBit = 1;
constexpr std::size_t kMaxL2Entries = 65536;
constexpr std::size_t kMaxOutputsPerPacketOut = 11;
// Memory per tracked connection is (entry + 1 control byte) / load factor
// (conn_table.hpp): keep the entry at 48 bytes.
static_assert(sizeof(ConnTable::Entry) == 48);

std::string dpid_str(Dpid dpid) { return fmt::format("{:016x}", dpid); }

bool port_usable(const of::PortDesc& p) {
  return (p.config & of::kPortConfigDown) == 0 && (p.state & of::kPortStateLinkDown) == 0;
}

// The connection a TCP or UDP packet to the VIP belongs to; nullopt for other
// protocols, non-first fragments, and protocols or ports the VIP does not
// balance.
std::optional<ConnKey> connection_key(const VipSpec& spec, const pkt::ParsedPacket& p) {
  uint16_t sport = 0, dport = 0;
  if (p.l4 == pkt::L4::Tcp) {
    sport = p.tcp.src_port;
    dport = p.tcp.dst_port;
  } else if (p.l4 == pkt::L4::Udp) {
    sport = p.udp.src_port;
    dport = p.udp.dst_port;
  } else {
    return std::nullopt;
  }
  if ((spec.ip_proto != 0 && spec.ip_proto != p.ipv4.proto) || (spec.port && *spec.port != dport)) return std::nullopt;
  return ConnKey{p.ipv4.proto, p.ipv4.src, sport, spec.ip, dport};
}

}  // namespace

Balancer::Balancer(BalancerConfig config, Rng& rng) : config_(std::move(config)), rng_(rng) {
  // A random epoch in the cookie's top 24 bits tells this instance's flow
  // entries from those a previous instance left in the switch.
  epoch_ = (rng_.next_u64() & 0xffffff) | 1;
}

SwitchState* Balancer::find(Dpid dpid) {
  auto it = switches_.find(dpid);
  return it == switches_.end() ? nullptr : &it->second;
}

const SwitchState* Balancer::find_switch(Dpid dpid) const {
  auto it = switches_.find(dpid);
  return it == switches_.end() ? nullptr : &it->second;
}

void Balancer::switch_up(Dpid dpid, std::span<const of::PortDesc> ports, TimePoint now, Outbox& out) {
  SwitchState& sw = switches_[dpid];
  sw = SwitchState{};
  sw.dpid = dpid;
  sw.ports.assign(ports.begin(), ports.end());
  sw.next_port_stats = now;
  build_vips(sw, now, nullptr);

  // Table-miss entry: OpenFlow 1.3 switches drop misses by default. The
  // connection entries a previous instance installed are left to idle out,
  // so connections in flight across a controller restart keep their backend.
  of::FlowMod miss;
  miss.priority = priority::kTableMiss;
  miss.actions.push_back(of::ActOutput{of::port::kController, of::kMaxLenNoBuffer});
  out.send(dpid, miss);
  tick(now, out);
}

void Balancer::switch_down(Dpid dpid) { switches_.erase(dpid); }

void Balancer::tick(TimePoint now, Outbox& out) {
  for (auto& [dpid, sw] : switches_) {
    for (VipState& vip : sw.vips) {
      for (BackendState& b : vip.backends) {
        if (b.learned || b.retired || now < b.next_probe) continue;
        probe(sw, vip, b, out);
        b.next_probe = now + b.backoff;
        b.backoff = std::min(b.backoff * 2, config_.discovery_retry_max);
      }
    }
    expire_dormant(sw, now);
    for (VipState& vip : sw.vips) {
      if (!vip.reset_tuples.empty()) expire_reset_tuples(vip, now);
    }
    monitor_tick(sw, now, out);
  }
}

void Balancer::probe(SwitchState& sw, const VipState& vip, const BackendState& b, Outbox& out) {
  ++counters_.discovery_probes;
  auto buf = out.alloc(pkt::kArpFrameLen);
  std::size_t n = pkt::build_arp(buf, {vip.fake_mac, MacAddr::broadcast()}, pkt::kArpRequest, vip.fake_mac,
                                 vip.spec->ip, MacAddr{}, b.spec.ip);
  auto frame = out.shrink_last(buf, n);
  // Before any client is known, flood. After, send out of every other port
  // only, so clients never see a backend's address in a discovery request.
  if (sw.client_ports.empty()) {
    send_frame(sw.dpid, frame, of::port::kFlood, out);
    return;
  }
  of::PacketOut po;
  po.data = frame;
  for (const of::PortDesc& p : sw.ports) {
    if (p.port_no > of::port::kMax || sw.client_ports.contains(p.port_no) || !port_usable(p)) continue;
    po.actions.push_back(of::ActOutput{p.port_no, 0});
    if (po.actions.size() == kMaxOutputsPerPacketOut) {
      out.send(sw.dpid, po);
      po.actions.clear();
    }
  }
  if (!po.actions.empty()) out.send(sw.dpid, po);
}

void Balancer::send_frame(Dpid dpid, std::span<const uint8_t> frame, of::PortNo port, Outbox& out) const {
  of::PacketOut po;
  po.data = frame;
  po.actions.push_back(of::ActOutput{port, 0});
  out.send(dpid, po);
}

void Balancer::packet_out(Dpid dpid, const of::PacketIn& pin, of::ActionList actions, Outbox& out) const {
  of::PacketOut po;
  po.in_port = pin.in_port;
  po.actions = actions;
  if (pin.buffer_id != of::kNoBuffer) {
    po.buffer_id = pin.buffer_id;
  } else {
    po.data = pin.data;
  }
  out.send(dpid, po);
}

void Balancer::packet_in(Dpid dpid, const of::PacketIn& pin, TimePoint now, Outbox& out,
                         const pkt::ParsedPacket* parsed) {
  ++counters_.packet_ins;
  SwitchState* sw = find(dpid);
  if (sw == nullptr) return;
  if (parsed != nullptr) {
    handle_packet(*sw, pin, *parsed, now, out);
    return;
  }
  auto own = pkt::parse(pin.data);
  if (!own) {
    ++counters_.parse_errors;
    spdlog::debug("dropping unparsable packet-in dpid={} in_port={}: {}", dpid_str(dpid), pin.in_port,
                  pkt::parse_error_name(own.error()));
    return;
  }
  handle_packet(*sw, pin, *own, now, out);
}

void Balancer::handle_packet(SwitchState& sw, const of::PacketIn& pin, const pkt::ParsedPacket& p, TimePoint now,
                             Outbox& out) {
  // Nobody but Fulcrum may send from a fake MAC.
  for (const VipState& vip : sw.vips) {
    if (p.eth_src == vip.fake_mac) {
      ++counters_.mac_spoof_drops;
      return;
    }
  }
  if (p.l3 == pkt::L3::Arp) {
    handle_arp(sw, pin, p, now, out);
    return;
  }
  if (p.l3 == pkt::L3::Ipv4 && handle_ipv4(sw, pin, p, now, out)) return;
  if (config_.learning_switch) l2_forward(sw, pin, p, out);
}

Balancer::LookAhead Balancer::look_ahead(Dpid dpid, const of::PacketIn& pin) const {
  LookAhead a;
  const SwitchState* sw = find_switch(dpid);
  if (sw == nullptr) return a;
  auto parsed = pkt::parse(pin.data);
  if (!parsed) return a;
  a.parsed = *parsed;
  const pkt::ParsedPacket& p = *parsed;
  if (p.l3 != pkt::L3::Ipv4) return a;
  for (const VipState& vip : sw->vips) {
    if (p.ipv4.dst != vip.spec->ip) continue;
    if (auto key = connection_key(*vip.spec, p)) a.hint = vip.connections.probe_hint(*key);
    break;
  }
  return a;
}

void Balancer::learn_backend(SwitchState& sw, VipState& vip, BackendState& b, MacAddr mac, of::PortNo port,
                             TimePoint now, Outbox& out) {
  if (b.learned && b.mac == mac && b.port == port) return;
  const bool was_available = b.available();
  b.learned = true;
  b.mac = mac;
  b.port = port;
  b.learned_at = now;
  b.capacity_kbps = b.spec.capacity_kbps;
  if (b.capacity_kbps == 0) {
    for (const of::PortDesc& pd : sw.ports) {
      if (pd.port_no == port) b.capacity_kbps = pd.curr_speed_kbps;
    }
  }
  // Without active checks, being reachable is all a backend has to show.
  if (vip.spec->health.kind == HealthCheckKind::None) b.health.force_up();
  ++counters_.backends_learned;
  spdlog::info("backend learned vip={} backend={} mac={} port={} dpid={}", vip.spec->ip.str(), b.spec.ip.str(),
               mac.str(), port, dpid_str(sw.dpid));
  on_availability_change(sw, vip, b, was_available, "learned", false, now, out);
}

void Balancer::handle_arp(SwitchState& sw, const of::PacketIn& pin, const pkt::ParsedPacket& p, TimePoint now,
                          Outbox& out) {
  const pkt::Arp& a = p.arp;
  const bool from_client_port = sw.client_ports.contains(pin.in_port);

  // Nobody may claim a VIP.
  for (const VipState& vip : sw.vips) {
    if (a.spa == vip.spec->ip) {
      ++counters_.arp_spoof_drops;
      spdlog::warn("ignoring ARP claiming VIP {} from mac={} port={} dpid={}", a.spa.str(), a.sha.str(), pin.in_port,
                   dpid_str(sw.dpid));
      return;
    }
  }

  // From a backend: learn it (discovery reply, or its own request), and
  // answer its requests for clients with the fake MAC.
  bool is_backend = false;
  bool spoofed = false;
  const VipState* backend_vip = nullptr;
  for (VipState& vip : sw.vips) {
    for (BackendState& b : vip.backends) {
      if (b.spec.ip != a.spa) continue;
      is_backend = true;
      if (from_client_port || a.sha != p.eth_src || (b.learned && b.port != pin.in_port)) {
        spoofed = true;
        continue;
      }
      learn_backend(sw, vip, b, a.sha, pin.in_port, now, out);
      if (vip.spec->health.kind == HealthCheckKind::Arp && b.check.outstanding) {
        b.check.outstanding = false;
        health_result(sw, vip, b, true, "ARP reply", now, out);
      }
      if (backend_vip == nullptr) backend_vip = &vip;
    }
  }
  if (spoofed) {
    ++counters_.arp_spoof_drops;
    spdlog::warn("ignoring ARP claiming backend {} from mac={} port={} dpid={}", a.spa.str(), a.sha.str(), pin.in_port,
                 dpid_str(sw.dpid));
    return;
  }
  if (is_backend) {
    // Agents on backends report to a VIP, so backends may ask for one too.
    bool for_vip = std::any_of(sw.vips.begin(), sw.vips.end(), [&](const VipState& v) { return v.spec->ip == a.tpa; });
    if (a.op == pkt::kArpRequest && backend_vip != nullptr && (for_vip || sw.clients.contains(a.tpa))) {
      auto buf = out.alloc(pkt::kArpFrameLen);
      std::size_t n = pkt::build_arp(buf, {backend_vip->fake_mac, a.sha}, pkt::kArpReply, backend_vip->fake_mac, a.tpa,
                                     a.sha, a.spa);
      send_frame(sw.dpid, out.shrink_last(buf, n), pin.in_port, out);
      ++counters_.arp_replies;
      return;
    }
    // A reply to our own discovery request ends here; other ARP (to or for
    // hosts that are not clients) goes through the learning switch.
    for (const VipState& vip : sw.vips) {
      if (p.eth_dst == vip.fake_mac || a.tha == vip.fake_mac) return;
    }
    if (config_.learning_switch) l2_forward(sw, pin, p, out);
    return;
  }

  // A client asking for a VIP.
  if (a.op == pkt::kArpRequest) {
    for (const VipState& vip : sw.vips) {
      if (a.tpa != vip.spec->ip) continue;
      sw.clients[a.spa] = HostRecord{a.sha, pin.in_port};
      sw.client_ports.insert(pin.in_port);
      auto buf = out.alloc(pkt::kArpFrameLen);
      std::size_t n =
          pkt::build_arp(buf, {vip.fake_mac, a.sha}, pkt::kArpReply, vip.fake_mac, vip.spec->ip, a.sha, a.spa);
      send_frame(sw.dpid, out.shrink_last(buf, n), pin.in_port, out);
      ++counters_.arp_replies;
      return;
    }
  }
  // Replies addressed to a fake MAC are for Fulcrum only.
  for (const VipState& vip : sw.vips) {
    if (p.eth_dst == vip.fake_mac) return;
  }
  if (config_.learning_switch) l2_forward(sw, pin, p, out);
}

bool Balancer::handle_ipv4(SwitchState& sw, const of::PacketIn& pin, const pkt::ParsedPacket& p, TimePoint now,
                           Outbox& out) {
  for (uint32_t i = 0; i < sw.vips.size(); ++i) {
    if (p.ipv4.dst == sw.vips[i].spec->ip) {
      handle_vip_packet(sw, i, pin, p, now, out);
      return true;
    }
  }
  if (handle_backend_packet(sw, pin, p, out)) return true;
  // Addressed to a fake MAC but not to a VIP: a host that learned the fake
  // MAC for another host's IP (a backend's ARP for a client). Deliver it like
  // a router would, if the learning switch is on.
  for (const VipState& vip : sw.vips) {
    if (p.eth_dst != vip.fake_mac) continue;
    auto host = sw.clients.find(p.ipv4.dst);
    if (!config_.learning_switch || host == sw.clients.end()) {
      ++counters_.stray_drops;
      return true;
    }
    of::ActionList actions{of::ActSetEthSrc{vip.fake_mac}, of::ActSetEthDst{host->second.mac},
                           of::ActOutput{host->second.port, 0}};
    packet_out(sw.dpid, pin, actions, out);
    return true;
  }
  return false;
}

// Traffic from a backend that no return entry caught: either the return
// entry idled out while the connection lives (re-install it), or a
// connection Fulcrum does not know (drop: it would show the client a
// backend's address).
bool Balancer::handle_backend_packet(SwitchState& sw, const of::PacketIn& pin, const pkt::ParsedPacket& p,
                                     Outbox& out) {
  if (p.l4 == pkt::L4::Icmp) return translate_icmp_error(sw, p, out);
  if (p.l4 != pkt::L4::Tcp && p.l4 != pkt::L4::Udp) return false;
  const uint16_t sport = p.l4 == pkt::L4::Tcp ? p.tcp.src_port : p.udp.src_port;
  const uint16_t dport = p.l4 == pkt::L4::Tcp ? p.tcp.dst_port : p.udp.dst_port;
  bool from_service = false;
  const VipState* failed_in = nullptr;  // a VIP whose pool has this backend, failed
  for (VipState& vip : sw.vips) {
    for (BackendState& b : vip.backends) {
      if (b.spec.ip != p.ipv4.src) continue;
      if (vip.spec->port && *vip.spec->port != sport) continue;
      from_service = true;
      if (b.failed() && failed_in == nullptr) failed_in = &vip;
      ConnKey key{p.ipv4.proto, p.ipv4.dst, dport, vip.spec->ip, sport};
      auto it = vip.connections.find(key);
      if (it == vip.connections.end()) continue;
      Connection& c = it->second;
      // The client's 5-tuple now belongs to another backend (balanced afresh
      // after on_down: reset): this one's packets are strays.
      if (&vip.backends[c.backend] != &b) continue;
      if (!c.return_installed) {
        out.send(sw.dpid, return_flow(vip, key, c));
        c.return_installed = true;
        ++counters_.return_reinstalled;
      }
      of::ActionList actions{of::ActSetEthSrc{vip.fake_mac}, of::ActSetEthDst{c.client_mac},
                             of::ActSetIpv4Src{vip.spec->ip}, of::ActOutput{c.client_port_no, 0}};
      packet_out(sw.dpid, pin, actions, out);
      return true;
    }
  }
  if (from_service && sw.clients.contains(p.ipv4.dst)) {
    ++counters_.stray_drops;
    if (failed_in != nullptr && p.l4 == pkt::L4::Tcp) reset_stray(sw, *failed_in, pin, p, out);
    return true;
  }
  return false;
}

// An ICMP error a backend sends about one of its balanced connections (port
// unreachable for UDP, say) quotes the packet as the backend got it: to the
// backend's address. Rewritten like the connection's replies (from the VIP,
// quoting the VIP), it tells the client what happened without showing it a
// backend's address; one about no known connection is dropped.
bool Balancer::translate_icmp_error(SwitchState& sw, const pkt::ParsedPacket& p, Outbox& out) {
  const uint8_t type = p.icmp.type;
  if (type != pkt::kIcmpDestUnreachable && type != 11 /* time exceeded */ && type != 12 /* parameter problem */) {
    return false;
  }
  std::span<const uint8_t> quote = p.icmp.payload;
  if (quote.size() < 28 || (quote[0] >> 4) != 4) return false;
  const std::size_t ihl = static_cast<std::size_t>(quote[0] & 0x0f) * 4;
  if (ihl < 20 || quote.size() < ihl + 4) return false;
  auto be32 = [&](std::size_t at) {
    return (uint32_t{quote[at]} << 24) | (uint32_t{quote[at + 1]} << 16) | (uint32_t{quote[at + 2]} << 8) |
           quote[at + 3];
  };
  const uint8_t proto = quote[9];
  const Ipv4Addr inner_src{be32(12)}, inner_dst{be32(16)};
  const auto inner_sport = static_cast<uint16_t>((quote[ihl] << 8) | quote[ihl + 1]);
  const auto inner_dport = static_cast<uint16_t>((quote[ihl + 2] << 8) | quote[ihl + 3]);
  if (inner_dst != p.ipv4.src || (proto != pkt::kIpProtoTcp && proto != pkt::kIpProtoUdp)) return false;
  for (VipState& vip : sw.vips) {
    auto it = vip.connections.find(ConnKey{proto, inner_src, inner_sport, vip.spec->ip, inner_dport});
    if (it == vip.connections.end() || vip.backends[it->second.backend].spec.ip != p.ipv4.src) continue;
    const Connection& c = it->second;
    // The quote with the VIP as its destination and a fixed header checksum.
    auto q = out.alloc(quote.size());
    std::copy(quote.begin(), quote.end(), q.begin());
    const uint32_t vip_ip = vip.spec->ip.v;
    for (int i = 0; i < 4; ++i) q[16 + static_cast<std::size_t>(i)] = static_cast<uint8_t>(vip_ip >> (24 - 8 * i));
    q[10] = q[11] = 0;
    const uint16_t sum = pkt::inet_checksum(q.first(ihl));
    q[10] = static_cast<uint8_t>(sum >> 8);
    q[11] = static_cast<uint8_t>(sum);
    auto buf = out.alloc(14 + 20 + 8 + quote.size());
    std::size_t n =
        pkt::build_icmp_error(buf, {vip.fake_mac, c.client_mac}, {vip.spec->ip, inner_src}, type, p.icmp.code, q);
    send_frame(sw.dpid, out.shrink_last(buf, n), c.client_port_no, out);
    ++counters_.icmp_errors_translated;
    return true;
  }
  ++counters_.stray_drops;
  return true;
}

void Balancer::handle_vip_packet(SwitchState& sw, uint32_t vip_index, const of::PacketIn& pin,
                                 const pkt::ParsedPacket& p, TimePoint now, Outbox& out) {
  VipState& vip = sw.vips[vip_index];
  const pkt::Ipv4& ip = p.ipv4;
  // Replies to Fulcrum's own probes, and agent reports: never balanced,
  // never forwarded.
  if (handle_probe_reply(sw, vip, pin, p, now, out)) return;
  if (config_.agent.enabled && p.l4 == pkt::L4::Udp && p.udp.dst_port == config_.agent.port) {
    handle_agent_report(sw, vip, p, now, out);
    return;
  }
  // Remember the client (a frame to the VIP carries its MAC and port).
  bool src_is_backend = false;
  for (const BackendState& b : vip.backends) src_is_backend |= b.spec.ip == ip.src;
  if (!src_is_backend) {
    // Written only when it changes: this runs for every packet to a VIP.
    // (Every client's port is in client_ports: unlearn_port drops both.)
    auto [it, inserted] = sw.clients.try_emplace(ip.src, HostRecord{p.eth_src, pin.in_port});
    if (inserted || it->second.mac != p.eth_src || it->second.port != pin.in_port) {
      it->second = HostRecord{p.eth_src, pin.in_port};
      sw.client_ports.insert(pin.in_port);
    }
  }

  if (p.l4 == pkt::L4::Icmp) {
    if (p.icmp.type != pkt::kIcmpEchoRequest) {
      ++counters_.vip_unhandled_drops;
      return;
    }
    std::size_t len = 14 + 20 + 8 + p.icmp.payload.size();
    auto buf = out.alloc(len);
    std::size_t n = pkt::build_icmp_echo(buf, {vip.fake_mac, p.eth_src}, {vip.spec->ip, ip.src, 64, ip.id},
                                         pkt::kIcmpEchoReply, p.icmp.id, p.icmp.seq, p.icmp.payload);
    send_frame(sw.dpid, out.shrink_last(buf, n), pin.in_port, out);
    ++counters_.icmp_echo_replies;
    return;
  }

  const std::optional<ConnKey> key = connection_key(*vip.spec, p);
  if (!key) {
    ++counters_.vip_unhandled_drops;
    return;
  }
  if (p.l4 == pkt::L4::Tcp && !vip.reset_tuples.empty() && answer_reset_tuple(sw, vip, *key, pin, p, now, out)) return;
  assign(sw, vip_index, *key, pin, p, now, out);
}

void Balancer::assign(SwitchState& sw, uint32_t vip_index, const ConnKey& key, const of::PacketIn& pin,
                      const pkt::ParsedPacket& p, TimePoint now, Outbox& out) {
  VipState& vip = sw.vips[vip_index];
  // One probe of the table: the slot found or made here is the connection's.
  auto [it, inserted] = vip.connections.try_emplace(key);
  if (!inserted && it->second.dormant) {
    Connection& c = it->second;
    BackendState& b = vip.backends[c.backend];
    // A drained backend keeps its connections; a failed one does not.
    const bool usable = b.learned && !b.retired && b.health.up() && !b.agent_unhealthy && !b.agent_silent;
    if (usable) {
      c.dormant = false;
      install(sw, vip, key, c, pin, p, out);
      ++counters_.connections_resumed;
      return;
    }
    // Ended (as end_connection would); its slot takes the new connection.
    if (b.active > 0) --b.active;
    ++counters_.connections_ended;
    inserted = true;
  }
  if (!inserted) {
    // The switch has not installed our entries yet: same backend, nothing
    // installed twice.
    ++counters_.duplicate_packet_ins;
    packet_out(sw.dpid, pin, forward_actions(vip, vip.backends[it->second.backend]), out);
    return;
  }

  vip.views.resize(vip.backends.size());
  for (std::size_t i = 0; i < vip.backends.size(); ++i) {
    const BackendState& b = vip.backends[i];
    // A backend that is itself the client cannot take its own connection:
    // the switch would have to send the frame back out of its ingress port,
    // and the backend would see its own address as the source.
    fill_view(vip.views[i], vip, b, now);
    if (b.spec.ip == key.client_ip) vip.views[i].available = false;
  }
  auto chosen = vip.policy->pick(vip.views, key);
  if (!chosen) {
    vip.connections.erase(it);
    ++counters_.no_backend_drops;
    refuse(sw, vip, pin, p, out);
    return;
  }
  if (vip.refusing) {
    vip.refusing = false;
    spdlog::info("backends available again vip={} dpid={}", vip.spec->ip.str(), dpid_str(sw.dpid));
  }
  BackendState& b = vip.backends[*chosen];
  Connection& c = it->second;
  c = Connection{};
  c.backend = *chosen;
  c.set_cookie((epoch_ << kCookieEpochShift) | ((++next_cookie_ << 1) & ((uint64_t{1} << kCookieEpochShift) - 1)));
  install(sw, vip, key, c, pin, p, out);

  ++b.active;
  ++b.total;
  ++b.assigned_since_report;
  ++counters_.connections_assigned;
  // Formatting addresses costs more than the whole decision: only when asked.
  if (!spdlog::should_log(spdlog::level::debug)) return;
  spdlog::debug("connection assigned vip={} client={}:{} proto={} backend={} dpid={}", key.vip.str(),
                key.client_ip.str(), key.client_port, key.proto == pkt::kIpProtoTcp ? "tcp" : "udp", b.spec.ip.str(),
                dpid_str(sw.dpid));
}

// Both entries of a connection, then its packet on its way. The client's MAC
// and port come from this packet (it may have moved since the last one).
void Balancer::install(SwitchState& sw, const VipState& vip, const ConnKey& key, Connection& c, const of::PacketIn& pin,
                       const pkt::ParsedPacket& p, Outbox& out) const {
  c.client_port_no = pin.in_port;
  c.client_mac = p.eth_src;
  c.return_installed = true;
  out.send(sw.dpid, forward_flow(vip, key, c));
  out.send(sw.dpid, return_flow(vip, key, c));
  packet_out(sw.dpid, pin, forward_actions(vip, vip.backends[c.backend]), out);
}

of::ActionList Balancer::forward_actions(const VipState& vip, const BackendState& b) const {
  return of::ActionList{of::ActSetEthSrc{vip.fake_mac}, of::ActSetEthDst{b.mac}, of::ActSetIpv4Dst{b.spec.ip},
                        of::ActOutput{b.port, 0}};
}

of::FlowMod Balancer::forward_flow(const VipState& vip, const ConnKey& key, const Connection& c) const {
  const BackendState& b = vip.backends[c.backend];
  of::FlowMod fm;
  fm.cookie = c.cookie();
  fm.priority = priority::kConnection;
  fm.idle_timeout = config_.idle_timeout_s;
  fm.hard_timeout = config_.hard_timeout_s;
  fm.flags = of::kFlowSendFlowRem;
  fm.match.in_port = c.client_port_no;
  fm.match.eth_type = pkt::kEthTypeIpv4;
  fm.match.ip_proto = key.proto;
  fm.match.ipv4_src = key.client_ip;
  fm.match.ipv4_dst = key.vip;
  fm.match.tp_src = key.client_port;
  fm.match.tp_dst = key.vip_port;
  fm.actions = forward_actions(vip, b);
  return fm;
}

of::FlowMod Balancer::return_flow(const VipState& vip, const ConnKey& key, const Connection& c) const {
  const BackendState& b = vip.backends[c.backend];
  of::FlowMod fm;
  fm.cookie = c.cookie() | kCookieReturnBit;
  fm.priority = priority::kConnection;
  fm.idle_timeout = config_.idle_timeout_s;
  fm.hard_timeout = config_.hard_timeout_s;
  fm.flags = of::kFlowSendFlowRem;
  fm.match.in_port = b.port;
  fm.match.eth_type = pkt::kEthTypeIpv4;
  fm.match.ip_proto = key.proto;
  fm.match.ipv4_src = b.spec.ip;
  fm.match.ipv4_dst = key.client_ip;
  fm.match.tp_src = key.vip_port;
  fm.match.tp_dst = key.client_port;
  fm.actions = {of::ActSetEthSrc{vip.fake_mac}, of::ActSetEthDst{c.client_mac}, of::ActSetIpv4Src{key.vip},
                of::ActOutput{c.client_port_no, 0}};
  return fm;
}

void Balancer::flow_removed(Dpid dpid, const of::FlowRemoved& fr, TimePoint now, Outbox& out) {
  SwitchState* sw = find(dpid);
  if (sw == nullptr) return;
  if ((fr.cookie >> kCookieEpochShift) != epoch_) {
    ++counters_.flow_removed_unknown;
    return;
  }
  // The entry's match names the connection (no cookie index: it would cost
  // more memory per connection than the connection itself).
  const bool is_return = (fr.cookie & kCookieReturnBit) != 0;
  const of::Match& m = fr.match;
  if (!m.ip_proto || !m.ipv4_src || !m.ipv4_dst || !m.tp_src || !m.tp_dst) {
    ++counters_.flow_removed_unknown;
    return;
  }
  VipState* vip_found = nullptr;
  ConnTable::iterator it;
  for (VipState& v : sw->vips) {
    ConnKey k = is_return ? ConnKey{*m.ip_proto, *m.ipv4_dst, *m.tp_dst, v.spec->ip, *m.tp_src}
                          : ConnKey{*m.ip_proto, *m.ipv4_src, *m.tp_src, *m.ipv4_dst, *m.tp_dst};
    if (k.vip != v.spec->ip) continue;
    auto found = v.connections.find(k);
    // The cookie tells this connection from an earlier one on the same 5-tuple
    // (the twin entry of a connection that already ended, say).
    if (found == v.connections.end() || found->second.cookie() != (fr.cookie & ~kCookieReturnBit)) continue;
    vip_found = &v;
    it = found;
    break;
  }
  if (vip_found == nullptr) return;
  VipState& vip = *vip_found;
  const ConnKey key = it->first;
  Connection& c = it->second;
  if (is_return) {
    // Idle in the return direction only; re-installed on the next packet.
    c.return_installed = false;
    return;
  }
  if (c.return_installed) {
    of::FlowMod del = return_flow(vip, key, c);
    del.command = of::FlowModCommand::DeleteStrict;
    del.actions.clear();
    del.flags = 0;
    out.send(dpid, del);
  }
  c.return_installed = false;
  if (fr.reason == of::FlowRemovedReason::IdleTimeout && config_.connection_linger.count() > 0) {
    // Idle, not necessarily closed (a keep-alive connection can be quiet for
    // long): keep the backend so its next packet goes back to it.
    c.dormant = true;
    c.sleep = ++next_sleep_;
    sw->dormant.push_back(SwitchState::Dormant{key, now, c.sleep});
    return;
  }
  end_connection(vip, it);
}

void Balancer::end_connection(VipState& vip, ConnTable::iterator it) {
  BackendState& b = vip.backends[it->second.backend];
  if (b.active > 0) --b.active;
  ++counters_.connections_ended;
  vip.connections.erase(it);
}

void Balancer::expire_dormant(SwitchState& sw, TimePoint now) {
  while (!sw.dormant.empty() && now - sw.dormant.front().since >= config_.connection_linger) {
    const SwitchState::Dormant d = sw.dormant.front();
    sw.dormant.pop_front();
    for (VipState& vip : sw.vips) {
      if (vip.spec->ip != d.key.vip) continue;
      auto it = vip.connections.find(d.key);
      // Skip connections that woke up since (or slept again later).
      if (it == vip.connections.end() || !it->second.dormant || it->second.sleep != d.sleep) continue;
      end_connection(vip, it);
    }
  }
}

void Balancer::port_status(Dpid dpid, const of::PortStatus& ps, TimePoint now, Outbox& out) {
  SwitchState* sw = find(dpid);
  if (sw == nullptr) return;
  auto it = std::find_if(sw->ports.begin(), sw->ports.end(),
                         [&](const of::PortDesc& p) { return p.port_no == ps.desc.port_no; });
  bool gone = ps.reason == of::PortStatusReason::Delete || !port_usable(ps.desc);
  if (ps.reason == of::PortStatusReason::Delete) {
    if (it != sw->ports.end()) sw->ports.erase(it);
  } else if (it != sw->ports.end()) {
    *it = ps.desc;
  } else {
    sw->ports.push_back(ps.desc);
  }
  if (gone) unlearn_port(*sw, ps.desc.port_no, now, out);
}

void Balancer::unlearn_port(SwitchState& sw, of::PortNo port, TimePoint now, Outbox& out) {
  for (VipState& vip : sw.vips) {
    for (BackendState& b : vip.backends) {
      if (!b.learned || b.port != port) continue;
      const bool was_available = b.available();
      b.learned = false;
      b.next_probe = now;
      b.backoff = config_.discovery_retry_min;
      b.check.outstanding = false;
      b.latency.outstanding = false;
      // Down at once; with active checks it must pass `rise` of them again.
      if (vip.spec->health.kind != HealthCheckKind::None) b.health.force_down();
      spdlog::warn("backend lost vip={} backend={} port={} dpid={} (port down)", vip.spec->ip.str(), b.spec.ip.str(),
                   port, dpid_str(sw.dpid));
      on_availability_change(sw, vip, b, was_available, "port down", true, now, out);
    }
  }
  std::erase_if(sw.clients, [&](const auto& kv) { return kv.second.port == port; });
  sw.client_ports.erase(port);
  std::erase_if(sw.l2, [&](const auto& kv) { return kv.second == port; });
  // Remove every entry that outputs to the port (learning-switch and
  // connection entries); connection entries report flow-removed, which ends
  // their connections.
  of::FlowMod del;
  del.command = of::FlowModCommand::Delete;
  del.out_port = port;
  del.table_id = 0xff;
  out.send(sw.dpid, del);
}

void Balancer::l2_forward(SwitchState& sw, const of::PacketIn& pin, const pkt::ParsedPacket& p, Outbox& out) {
  if (!p.eth_src.is_multicast() && (sw.l2.size() < kMaxL2Entries || sw.l2.contains(p.eth_src))) {
    sw.l2[p.eth_src] = pin.in_port;
  }
  auto dst = p.eth_dst.is_multicast() ? sw.l2.end() : sw.l2.find(p.eth_dst);
  if (dst == sw.l2.end()) {
    ++counters_.l2_floods;
    packet_out(sw.dpid, pin, of::ActionList{of::ActOutput{of::port::kFlood, 0}}, out);
    return;
  }
  if (dst->second == pin.in_port) return;  // would hairpin
  of::FlowMod fm;
  fm.priority = priority::kL2;
  fm.idle_timeout = config_.l2_idle_timeout_s;
  fm.match.eth_dst = p.eth_dst;
  fm.actions.push_back(of::ActOutput{dst->second, 0});
  out.send(sw.dpid, fm);
  ++counters_.l2_flows;
  packet_out(sw.dpid, pin, fm.actions, out);
}

}  // namespace fulcrum::lb
