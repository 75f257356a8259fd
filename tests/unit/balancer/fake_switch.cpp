#include "unit/balancer/fake_switch.hpp"

#include <algorithm>
#include <type_traits>
#include <variant>

#include "packet/packet.hpp"

namespace fulcrum::lb::testing {

namespace {

constexpr std::size_t kMissSendLen = 128;  // OFPCML default for buffered packet-ins
constexpr auto kStart = TimePoint{} + std::chrono::seconds(1000);

// Every field `general` sets, `specific` sets to the same value: `specific`
// is at least as specific (how non-strict delete and modify select entries).
bool covers(const of::Match& general, const of::Match& specific) {
  auto field = [](const auto& g, const auto& s) { return !g || g == s; };
  return field(general.in_port, specific.in_port) && field(general.eth_src, specific.eth_src) &&
         field(general.eth_dst, specific.eth_dst) && field(general.eth_type, specific.eth_type) &&
         field(general.ip_proto, specific.ip_proto) && field(general.ipv4_src, specific.ipv4_src) &&
         field(general.ipv4_dst, specific.ipv4_dst) && field(general.tp_src, specific.tp_src) &&
         field(general.tp_dst, specific.tp_dst);
}

of::FlowRemoved removed_message(const FlowEntry& e, of::FlowRemovedReason reason, TimePoint now) {
  of::FlowRemoved fr;
  fr.cookie = e.cookie;
  fr.priority = e.priority;
  fr.reason = reason;
  auto age = std::chrono::duration_cast<std::chrono::nanoseconds>(now - e.installed);
  fr.duration_sec = static_cast<uint32_t>(age.count() / 1'000'000'000);
  fr.duration_nsec = static_cast<uint32_t>(age.count() % 1'000'000'000);
  fr.idle_timeout = e.idle_timeout;
  fr.hard_timeout = e.hard_timeout;
  fr.packet_count = e.packet_count;
  fr.byte_count = e.byte_count;
  fr.match = e.match;
  return fr;
}

}  // namespace

Headers headers_of(of::PortNo in_port, std::span<const uint8_t> frame) {
  Headers h;
  h.in_port = in_port;
  auto parsed = pkt::parse(frame);
  if (!parsed) {
    if (frame.size() >= 14) {
      std::copy_n(frame.begin(), 6, h.eth_dst.b.begin());
      std::copy_n(frame.begin() + 6, 6, h.eth_src.b.begin());
    }
    return h;
  }
  const pkt::ParsedPacket& p = *parsed;
  h.eth_src = p.eth_src;
  h.eth_dst = p.eth_dst;
  h.eth_type = p.eth_type;
  if (p.l3 == pkt::L3::Ipv4) {
    h.ip_proto = p.ipv4.proto;
    h.ipv4_src = p.ipv4.src;
    h.ipv4_dst = p.ipv4.dst;
    if (p.l4 == pkt::L4::Tcp) {
      h.tp_src = p.tcp.src_port;
      h.tp_dst = p.tcp.dst_port;
    } else if (p.l4 == pkt::L4::Udp) {
      h.tp_src = p.udp.src_port;
      h.tp_dst = p.udp.dst_port;
    }
  }
  return h;
}

bool matches(const of::Match& m, const Headers& h) {
  if (m.unmodelled) return false;  // the fake cannot judge fields it does not know
  auto field = [](const auto& want, const auto& have) { return !want || want == have; };
  return field(m.in_port, std::optional{h.in_port}) && field(m.eth_src, std::optional{h.eth_src}) &&
         field(m.eth_dst, std::optional{h.eth_dst}) && field(m.eth_type, std::optional{h.eth_type}) &&
         field(m.ip_proto, h.ip_proto) && field(m.ipv4_src, h.ipv4_src) && field(m.ipv4_dst, h.ipv4_dst) &&
         field(m.tp_src, h.tp_src) && field(m.tp_dst, h.tp_dst);
}

std::vector<Output> apply_actions(std::span<const of::Action> actions, Headers h) {
  std::vector<Output> outs;
  for (const of::Action& a : actions) {
    std::visit(
        [&](const auto& act) {
          using T = std::decay_t<decltype(act)>;
          if constexpr (std::is_same_v<T, of::ActOutput>) {
            if (act.port == h.in_port) return;  // needs OFPP_IN_PORT
            outs.push_back(Output{act.port == of::port::kInPort ? h.in_port : act.port, h});
          } else if constexpr (std::is_same_v<T, of::ActSetEthSrc>) {
            h.eth_src = act.mac;
          } else if constexpr (std::is_same_v<T, of::ActSetEthDst>) {
            h.eth_dst = act.mac;
          } else if constexpr (std::is_same_v<T, of::ActSetIpv4Src>) {
            if (h.ipv4_src) h.ipv4_src = act.ip;
          } else if constexpr (std::is_same_v<T, of::ActSetIpv4Dst>) {
            if (h.ipv4_dst) h.ipv4_dst = act.ip;
          } else if constexpr (std::is_same_v<T, of::ActSetTpSrc>) {
            if (h.tp_src) h.tp_src = act.port;
          } else if constexpr (std::is_same_v<T, of::ActSetTpDst>) {
            if (h.tp_dst) h.tp_dst = act.port;
          }
        },
        a);
  }
  return outs;
}

bool FlowEntry::outputs_to(of::PortNo port) const {
  return std::any_of(actions.begin(), actions.end(), [&](const of::Action& a) {
    const auto* o = std::get_if<of::ActOutput>(&a);
    return o != nullptr && o->port == port;
  });
}

// ---- FakeFlowTable ----------------------------------------------------------

std::vector<of::FlowRemoved> FakeFlowTable::remove_if(const std::function<bool(const FlowEntry&)>& pred, TimePoint now,
                                                      of::FlowRemovedReason reason) {
  std::vector<of::FlowRemoved> removed;
  std::erase_if(entries_, [&](const FlowEntry& e) {
    if (!pred(e)) return false;
    if ((e.flags & of::kFlowSendFlowRem) != 0) removed.push_back(removed_message(e, reason, now));
    return true;
  });
  return removed;
}

std::vector<of::FlowRemoved> FakeFlowTable::apply(const of::FlowMod& fm, TimePoint now) {
  auto out_port_ok = [&](const FlowEntry& e) { return fm.out_port == of::port::kAny || e.outputs_to(fm.out_port); };
  auto same = [&](const FlowEntry& e) { return e.priority == fm.priority && e.match == fm.match; };
  switch (fm.command) {
    case of::FlowModCommand::Add: {
      FlowEntry e;
      e.cookie = fm.cookie;
      e.priority = fm.priority;
      e.idle_timeout = fm.idle_timeout;
      e.hard_timeout = fm.hard_timeout;
      e.flags = fm.flags;
      e.match = fm.match;
      e.actions = fm.actions;
      e.installed = now;
      e.last_used = now;
      auto it = std::find_if(entries_.begin(), entries_.end(), same);
      if (it != entries_.end()) {
        *it = e;  // replaced: counters reset, no flow-removed
      } else {
        entries_.push_back(e);
      }
      return {};
    }
    case of::FlowModCommand::Modify:
    case of::FlowModCommand::ModifyStrict: {
      const bool strict = fm.command == of::FlowModCommand::ModifyStrict;
      for (FlowEntry& e : entries_) {
        if (strict ? same(e) : covers(fm.match, e.match)) e.actions = fm.actions;
      }
      return {};
    }
    case of::FlowModCommand::Delete:
      return remove_if([&](const FlowEntry& e) { return covers(fm.match, e.match) && out_port_ok(e); }, now,
                       of::FlowRemovedReason::Delete);
    case of::FlowModCommand::DeleteStrict:
      return remove_if([&](const FlowEntry& e) { return same(e) && out_port_ok(e); }, now,
                       of::FlowRemovedReason::Delete);
  }
  return {};
}

std::vector<of::FlowRemoved> FakeFlowTable::expire(TimePoint now) {
  std::vector<of::FlowRemoved> removed;
  std::erase_if(entries_, [&](const FlowEntry& e) {
    std::optional<of::FlowRemovedReason> reason;
    if (e.hard_timeout != 0 && now - e.installed >= std::chrono::seconds(e.hard_timeout)) {
      reason = of::FlowRemovedReason::HardTimeout;
    } else if (e.idle_timeout != 0 && now - e.last_used >= std::chrono::seconds(e.idle_timeout)) {
      reason = of::FlowRemovedReason::IdleTimeout;
    }
    if (!reason) return false;
    if ((e.flags & of::kFlowSendFlowRem) != 0) removed.push_back(removed_message(e, *reason, now));
    return true;
  });
  return removed;
}

const FlowEntry* FakeFlowTable::lookup(const Headers& h) const {
  const FlowEntry* best = nullptr;
  for (const FlowEntry& e : entries_) {
    if (matches(e.match, h) && (best == nullptr || e.priority > best->priority)) best = &e;
  }
  return best;
}

FlowEntry* FakeFlowTable::hit(const Headers& h, std::size_t bytes, TimePoint now) {
  auto* e = const_cast<FlowEntry*>(lookup(h));
  if (e != nullptr) {
    e->last_used = now;
    ++e->packet_count;
    e->byte_count += bytes;
  }
  return e;
}

const FlowEntry* FakeFlowTable::find_cookie(uint64_t cookie) const {
  auto it = std::find_if(entries_.begin(), entries_.end(), [&](const FlowEntry& e) { return e.cookie == cookie; });
  return it == entries_.end() ? nullptr : &*it;
}

// ---- FakeSwitch -------------------------------------------------------------

std::vector<Output> Injection::outputs() const {
  std::vector<Output> outs = forwarded;
  for (const SentPacket& sp : packet_outs) {
    if (sp.frame == frame) outs.insert(outs.end(), sp.outputs.begin(), sp.outputs.end());
  }
  return outs;
}

FakeSwitch::FakeSwitch(Bench& bench, Dpid dpid, std::vector<of::PortDesc> ports)
    : bench_(bench), dpid_(dpid), ports_(std::move(ports)) {}

Injection FakeSwitch::inject(of::PortNo in_port, std::span<const uint8_t> frame) {
  const Headers h = headers_of(in_port, frame);
  const FlowEntry* e = table_.hit(h, frame.size(), bench_.now());
  Injection r;
  r.frame.assign(frame.begin(), frame.end());
  if (e == nullptr) return r;  // OpenFlow 1.3: a miss without a table-miss entry drops
  std::optional<uint16_t> to_controller;
  for (Output& o : apply_actions(e->actions, h)) {
    if (o.port != of::port::kController) {
      r.forwarded.push_back(std::move(o));
      continue;
    }
    for (const of::Action& a : e->actions) {
      const auto* act = std::get_if<of::ActOutput>(&a);
      if (act != nullptr && act->port == of::port::kController) to_controller = act->max_len;
    }
  }
  if (!to_controller) return r;
  Injection sent = packet_in(in_port, frame, *to_controller != of::kMaxLenNoBuffer);
  sent.forwarded = std::move(r.forwarded);
  return sent;
}

Injection FakeSwitch::packet_in(of::PortNo in_port, std::span<const uint8_t> frame, bool buffered) {
  of::PacketIn pin;
  pin.in_port = in_port;
  pin.total_len = static_cast<uint16_t>(frame.size());
  pin.data = frame;
  if (buffered) {
    pin.buffer_id = next_buffer_++;
    buffers_[pin.buffer_id].assign(frame.begin(), frame.end());
    pin.data = frame.first(std::min(frame.size(), kMissSendLen));
  }
  const std::size_t fm0 = flow_mods.size();
  const std::size_t po0 = packet_outs.size();
  bench_.balancer().packet_in(dpid_, pin, bench_.now(), bench_.outbox());
  bench_.dispatch();
  Injection r;
  r.frame.assign(frame.begin(), frame.end());
  r.packet_in = true;
  r.flow_mods.assign(flow_mods.begin() + static_cast<std::ptrdiff_t>(fm0), flow_mods.end());
  r.packet_outs.assign(packet_outs.begin() + static_cast<std::ptrdiff_t>(po0), packet_outs.end());
  return r;
}

void FakeSwitch::set_link(of::PortNo port, bool up) {
  auto it = std::find_if(ports_.begin(), ports_.end(), [&](const of::PortDesc& p) { return p.port_no == port; });
  if (it == ports_.end()) return;
  it->state = up ? (it->state & ~of::kPortStateLinkDown) : (it->state | of::kPortStateLinkDown);
  bench_.balancer().port_status(dpid_, of::PortStatus{of::PortStatusReason::Modify, *it}, bench_.now(),
                                bench_.outbox());
  bench_.dispatch();
}

void FakeSwitch::delete_port(of::PortNo port) {
  auto it = std::find_if(ports_.begin(), ports_.end(), [&](const of::PortDesc& p) { return p.port_no == port; });
  if (it == ports_.end()) return;
  of::PortStatus ps{of::PortStatusReason::Delete, *it};
  ports_.erase(it);
  bench_.balancer().port_status(dpid_, ps, bench_.now(), bench_.outbox());
  bench_.dispatch();
}

void FakeSwitch::receive(const of::Message& msg, std::vector<of::FlowRemoved>& removed) {
  if (const auto* fm = std::get_if<of::FlowMod>(&msg)) {
    flow_mods.push_back(*fm);
    auto rm = table_.apply(*fm, bench_.now());
    removed.insert(removed.end(), rm.begin(), rm.end());
    return;
  }
  if (const auto* po = std::get_if<of::PacketOut>(&msg)) {
    SentPacket sp;
    sp.at = bench_.now();
    sp.buffer_id = po->buffer_id;
    sp.in_port = po->in_port;
    sp.actions = po->actions;
    sp.carried_data = !po->data.empty();
    if (po->buffer_id != of::kNoBuffer) {
      auto it = buffers_.find(po->buffer_id);
      if (it != buffers_.end()) {
        sp.frame = std::move(it->second);  // a buffer is released once
        buffers_.erase(it);
      }
    } else {
      sp.frame.assign(po->data.begin(), po->data.end());
    }
    if (!sp.frame.empty()) sp.outputs = apply_actions(po->actions.span(), headers_of(po->in_port, sp.frame));
    packet_outs.push_back(std::move(sp));
    return;
  }
  other.push_back(msg);
}

void FakeSwitch::forget_log() {
  flow_mods.clear();
  packet_outs.clear();
  flow_removed.clear();
  other.clear();
}

// ---- Bench ------------------------------------------------------------------

Bench::Bench(BalancerConfig config, Rng* rng)
    : owned_rng_(rng != nullptr ? nullptr : std::make_unique<Xoshiro256>(1)),
      rng_(rng != nullptr ? *rng : *owned_rng_),
      balancer_(std::move(config), rng_),
      now_(kStart) {}

FakeSwitch& Bench::add_switch(Dpid dpid, uint32_t n_ports) {
  std::vector<of::PortDesc> ports;
  for (uint32_t i = 1; i <= n_ports; ++i) {
    of::PortDesc p;
    p.port_no = i;
    p.hw_addr = MacAddr{{0x0a, 0, 0, 0, static_cast<uint8_t>(dpid), static_cast<uint8_t>(i)}};
    p.name = "p" + std::to_string(i);
    ports.push_back(p);
  }
  auto& sw = switches_[dpid];
  sw = std::make_unique<FakeSwitch>(*this, dpid, ports);
  balancer_.switch_up(dpid, ports, now_, out_);
  dispatch();
  return *sw;
}

void Bench::advance(Duration d) {
  while (d > Duration::zero()) {
    const Duration step = std::min(d, kTick);
    d -= step;
    now_ += step;
    for (auto& [dpid, sw] : switches_) {
      for (const of::FlowRemoved& fr : sw->table().expire(now_)) flow_removed(dpid, fr);
    }
    balancer_.tick(now_, out_);
    dispatch();
  }
}

void Bench::flow_removed(Dpid dpid, const of::FlowRemoved& fr) {
  auto it = switches_.find(dpid);
  if (it != switches_.end()) it->second->flow_removed.push_back(fr);
  balancer_.flow_removed(dpid, fr, now_, out_);
  dispatch();
}

void Bench::dispatch() {
  while (!out_.empty()) {
    std::vector<std::pair<Dpid, of::FlowRemoved>> removed;
    for (const Outbox::Item& item : out_.items()) {
      auto it = switches_.find(item.dpid);
      if (it == switches_.end()) {
        unrouted.push_back(item.dpid);
        continue;
      }
      std::vector<of::FlowRemoved> rm;
      it->second->receive(item.msg, rm);
      for (const of::FlowRemoved& fr : rm) removed.emplace_back(item.dpid, fr);
    }
    out_.clear();
    for (const auto& [dpid, fr] : removed) {
      switches_.at(dpid)->flow_removed.push_back(fr);
      balancer_.flow_removed(dpid, fr, now_, out_);
    }
  }
}

}  // namespace fulcrum::lb::testing
