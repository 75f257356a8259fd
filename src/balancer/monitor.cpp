// Health checks, failover, measurements and reconfiguration: the parts of the
// balancer core that watch backends rather than forward connections.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "agent/report.hpp"
#include "balancer/balancer.hpp"
#include "balancer/policies/combined.hpp"
#include "balancer/scoring.hpp"
#include "packet/packet.hpp"

namespace fulcrum::lb {

namespace {

constexpr uint16_t kHealthIcmpId = 0xf1c0;
constexpr uint16_t kLatencyIcmpId = 0xf1c1;
// Source ports of TCP health checks (from the VIP's address).
constexpr uint16_t kProbePortBase = 61000;
constexpr uint16_t kProbePortCount = 1000;

std::string dpid_str(Dpid dpid) { return fmt::format("{:016x}", dpid); }

double ms_between(TimePoint a, TimePoint b) { return std::chrono::duration<double, std::milli>(b - a).count(); }

const char* state_name(const BackendState& b) {
  if (b.retired) return "retired";
  if (!b.learned) return "unlearned";
  if (!b.health.up()) return "down";
  if (b.agent_unhealthy) return "agent-unhealthy";
  if (b.agent_silent) return "agent-silent";
  if (b.spec.mode == BackendMode::Drain) return "drain";
  return "up";
}

std::string opt_str(const std::optional<double>& v, const char* unit) {
  return v ? fmt::format("{:.1f}{}", *v, unit) : std::string("-");
}

// How combined sees the backend (empty for other policies): its per-request
// service time (measured or assumed), virtual queue, utilisation by what it
// sent, the connections it counted on their way at the latest report, and the
// cost of the next connection there.
std::string combined_str(const VipState& vip, const BackendView& v) {
  if (!vip.policy || vip.policy->kind() != PolicyKind::Combined || !v.available) return {};
  const auto e = static_cast<const CombinedPolicy&>(*vip.policy).estimate(v);
  return fmt::format(" combined=[s {:.1f}ms{} wait {:.0f}ms rho {:.2f} in_flight {:.0f} cost {:.0f}ms]", e.s * 1000,
                     e.measured ? "" : "(assumed)", e.wait_s * 1000, e.rho, e.in_flight, e.cost_s * 1000);
}

}  // namespace

BackendView Balancer::view(const VipState& vip, const BackendState& b, TimePoint now) const {
  BackendView v;
  fill_view(v, vip, b, now);
  return v;
}

// Every field is written, so that a reused view holds nothing of its last
// backend; and nothing zeroes the view first (a default-constructed view
// was cleared with `rep stos`, 6 % of the live controller for three views a
// decision).
void Balancer::fill_view(BackendView& v, const VipState& vip, const BackendState& b, TimePoint now) const {
  v.weight = b.spec.weight;
  v.active_connections = b.active;
  v.available = b.available();
  v.ip = b.spec.ip;
  const Duration max_age = vip.spec->scoring.max_age;
  if (b.agent && now - b.agent->at <= max_age) {
    v.cpu_pct = b.agent->cpu_pct;
    v.cpu_capacity = b.agent->cpu_capacity;
    v.memory_pct = b.agent->memory_pct;
    v.established = b.agent->established;
    v.assigned_last_interval = b.assigned_last_interval;
    v.report_interval_s = b.report_interval_s;
  } else {
    v.cpu_pct.reset();
    v.cpu_capacity.reset();
    v.memory_pct.reset();
    v.established.reset();
    v.assigned_last_interval.reset();
    v.report_interval_s = 0;
  }
  if (b.rtt_ms && now - b.rtt_at <= max_age) {
    v.rtt_ms = b.rtt_ms;
  } else {
    v.rtt_ms.reset();
  }
  if (b.tx_kbps && b.capacity_kbps > 0 && now - b.tx_at <= max_age) {
    v.avail_bw_kbps = std::max(0.0, static_cast<double>(b.capacity_kbps) - *b.tx_kbps);
  } else {
    v.avail_bw_kbps.reset();
  }
  v.assigned_since_report = b.assigned_since_report;
  v.now = now;
  v.report_seq = b.reports;
}

void Balancer::build_vips(SwitchState& sw, TimePoint now, std::vector<VipState>* old) {
  std::vector<VipState> vips;
  for (const VipSpec& spec : config_.vips) {
    VipState v;
    v.spec = &spec;
    v.fake_mac = spec.fake_mac.value_or(config_.fake_mac);
    VipState* prev = nullptr;
    if (old != nullptr) {
      for (VipState& o : *old) {
        if (o.spec->ip == spec.ip) prev = &o;
      }
    }
    const HealthCheckConfig& hc = spec.health;
    if (prev != nullptr && prev->policy && prev->spec->policy == spec.policy && prev->spec->scoring == spec.scoring) {
      v.policy = std::move(prev->policy);  // keeps its cursor / tables
    } else {
      v.policy = make_policy(spec.policy, spec.scoring, rng_);
    }
    // Old backend index -> new index, for the connections carried over.
    std::vector<uint32_t> remap(prev != nullptr ? prev->backends.size() : 0, UINT32_MAX);
    for (const BackendSpec& bspec : spec.backends) {
      BackendState bs;
      bool carried = false;
      if (prev != nullptr) {
        for (std::size_t i = 0; i < prev->backends.size(); ++i) {
          if (prev->backends[i].spec.ip != bspec.ip || remap[i] != UINT32_MAX) continue;
          bs = prev->backends[i];
          remap[i] = static_cast<uint32_t>(v.backends.size());
          carried = true;
          break;
        }
      }
      if (carried) {
        if (prev->spec->health.rise != hc.rise || prev->spec->health.fall != hc.fall) {
          bs.health = HealthState(hc.rise, hc.fall, bs.health.up());
        }
        if (bs.spec.mode != bspec.mode) {
          spdlog::info("backend {} vip={} backend={} dpid={}",
                       bspec.mode == BackendMode::Drain ? "draining" : "active again", spec.ip.str(), bspec.ip.str(),
                       dpid_str(sw.dpid));
        }
        bs.spec = bspec;
        bs.retired = false;
        if (bspec.capacity_kbps != 0) bs.capacity_kbps = bspec.capacity_kbps;
      } else {
        bs.spec = bspec;
        bs.next_probe = now;
        bs.backoff = config_.discovery_retry_min;
        // Servers start up, as in HAProxy; the first check goes out as soon
        // as the backend is learned, and `fall` failures take it down.
        bs.health = HealthState(hc.rise, hc.fall, true);
      }
      v.backends.push_back(bs);
    }
    if (prev != nullptr) {
      // Backends removed from the pool keep their connections until they end.
      for (std::size_t i = 0; i < prev->backends.size(); ++i) {
        if (remap[i] != UINT32_MAX || prev->backends[i].active == 0) continue;
        BackendState bs = prev->backends[i];
        bs.retired = true;
        spdlog::info("backend removed vip={} backend={} dpid={}: {} connections continue until idle", spec.ip.str(),
                     bs.spec.ip.str(), dpid_str(sw.dpid), bs.active);
        remap[i] = static_cast<uint32_t>(v.backends.size());
        v.backends.push_back(bs);
      }
      // The connection table is moved, not copied (copying it took 0.24-0.56 s
      // of the controller's thread with 700k connections, for every change made
      // through the API); indices are rewritten in place only when they moved.
      bool same_indices = true;
      for (std::size_t i = 0; i < remap.size(); ++i) same_indices = same_indices && remap[i] == i;
      if (!same_indices) {
        for (auto it = prev->connections.begin(); it != prev->connections.end();) {
          if (remap[it->second.backend] == UINT32_MAX) {
            it = prev->connections.erase(it);
          } else {
            it->second.backend = remap[it->second.backend];
            ++it;
          }
        }
      }
      v.connections = std::move(prev->connections);
      v.reset_tuples = std::move(prev->reset_tuples);
    }
    vips.push_back(std::move(v));
  }
  sw.vips = std::move(vips);
}

void Balancer::reconfigure(BalancerConfig config, TimePoint now, Outbox& out) {
  BalancerConfig old_config = std::move(config_);  // old VipStates point into it until rebuilt
  config_ = std::move(config);
  for (auto& [dpid, sw] : switches_) {
    // Availability before, by (VIP, backend) address.
    std::vector<std::tuple<Ipv4Addr, Ipv4Addr, bool>> before;
    for (const VipState& v : sw.vips) {
      for (const BackendState& b : v.backends) before.emplace_back(v.spec->ip, b.spec.ip, b.available());
    }
    std::vector<VipState> old = std::move(sw.vips);
    build_vips(sw, now, &old);
    for (VipState& v : sw.vips) {
      for (BackendState& b : v.backends) {
        bool was = false;
        for (const auto& [vip_ip, b_ip, avail] : before) {
          if (vip_ip == v.spec->ip && b_ip == b.spec.ip) was = avail;
        }
        on_availability_change(sw, v, b, was, "configuration", false, now, out);
      }
    }
  }
  spdlog::info("configuration reloaded: {} VIPs", config_.vips.size());
}

void Balancer::monitor_tick(SwitchState& sw, TimePoint now, Outbox& out) {
  const MonitorConfig& mc = config_.monitor;
  for (VipState& vip : sw.vips) {
    const HealthCheckConfig& hc = vip.spec->health;
    for (BackendState& b : vip.backends) {
      if (!b.learned || b.retired) continue;
      if (hc.kind != HealthCheckKind::None) {
        if (b.check.outstanding && now - b.check.sent >= hc.timeout) {
          b.check.outstanding = false;
          health_result(sw, vip, b, false, "check timed out", now, out);
        }
        if (!b.check.outstanding && now >= b.check.next) {
          send_health_check(sw, vip, b, now, out);
          b.check.next = now + hc.interval;
        }
      }
      if (mc.latency_probe_interval.count() > 0) {
        if (b.latency.outstanding && now - b.latency.sent >= mc.latency_probe_timeout) {
          // A lost probe counts as a sample as slow as the timeout.
          b.latency.outstanding = false;
          ++counters_.latency_probes_lost;
          double sample = std::chrono::duration<double, std::milli>(mc.latency_probe_timeout).count();
          b.rtt_ms = b.rtt_ms ? (1 - mc.rtt_smoothing) * *b.rtt_ms + mc.rtt_smoothing * sample : sample;
          b.rtt_at = now;
        }
        if (!b.latency.outstanding && now >= b.latency.next) {
          send_latency_probe(sw, vip, b, now, out);
          b.latency.next = now + mc.latency_probe_interval;
        }
      }
      if (config_.agent.enabled && config_.agent.silence_timeout.count() > 0) {
        TimePoint last = b.agent ? std::max(b.agent->at, b.learned_at) : b.learned_at;
        bool silent = now - last > config_.agent.silence_timeout;
        if (silent != b.agent_silent) {
          bool was = b.available();
          b.agent_silent = silent;
          on_availability_change(sw, vip, b, was, silent ? "agent silent" : "agent reporting again", silent, now, out);
        }
      }
    }
  }
  if (mc.port_stats_interval.count() > 0 && now >= sw.next_port_stats) {
    out.send(sw.dpid, of::PortStatsRequest{of::port::kAny});
    ++counters_.port_stats_requests;
    sw.next_port_stats = now + mc.port_stats_interval;
  }
  if (mc.metrics_log_interval.count() > 0 && now >= next_metrics_log_) {
    next_metrics_log_ = now + mc.metrics_log_interval;
    for (const VipState& vip : sw.vips) {
      for (const BackendState& b : vip.backends) {
        BackendView v = view(vip, b, now);
        ScoreBreakdown sc = score_breakdown(v, vip.spec->scoring);
        spdlog::info(
            "metrics vip={} backend={} state={} active={} total={} cpu={} mem={} rtt={} avail_bw={} "
            "norm=[cpu {:.0f} mem {:.0f} lat {:.0f} bw {:.0f}] score={:.1f} since_report={}{} dpid={}",
            vip.spec->ip.str(), b.spec.ip.str(), state_name(b), b.active, b.total, opt_str(v.cpu_pct, "%"),
            opt_str(v.memory_pct, "%"), opt_str(v.rtt_ms, "ms"), opt_str(v.avail_bw_kbps, "kb/s"), sc.cpu, sc.memory,
            sc.latency, sc.bandwidth, sc.total, b.assigned_since_report, combined_str(vip, v), dpid_str(sw.dpid));
      }
    }
  }
}

void Balancer::send_health_check(SwitchState& sw, VipState& vip, BackendState& b, TimePoint now, Outbox& out) {
  const HealthCheckConfig& hc = vip.spec->health;
  ++counters_.health_checks_sent;
  b.check.outstanding = true;
  b.check.sent = now;
  std::span<uint8_t> frame;
  switch (hc.kind) {
    case HealthCheckKind::None:
      return;
    case HealthCheckKind::Arp: {
      auto buf = out.alloc(pkt::kArpFrameLen);
      std::size_t n = pkt::build_arp(buf, {vip.fake_mac, b.mac}, pkt::kArpRequest, vip.fake_mac, vip.spec->ip,
                                     MacAddr{}, b.spec.ip);
      frame = out.shrink_last(buf, n);
      break;
    }
    case HealthCheckKind::Icmp: {
      b.check.token = ++sw.next_icmp_seq;
      auto buf = out.alloc(64);
      std::size_t n = pkt::build_icmp_echo(buf, {vip.fake_mac, b.mac}, {vip.spec->ip, b.spec.ip}, pkt::kIcmpEchoRequest,
                                           kHealthIcmpId, static_cast<uint16_t>(b.check.token), {});
      frame = out.shrink_last(buf, n);
      break;
    }
    case HealthCheckKind::Tcp: {
      b.check.token = kProbePortBase + (sw.next_probe_port++ % kProbePortCount);
      b.check.tcp_seq = static_cast<uint32_t>(rng_.next_u64());
      pkt::TcpFields t;
      t.src_port = static_cast<uint16_t>(b.check.token);
      t.dst_port = hc.tcp_port.value_or(vip.spec->port.value_or(80));
      t.seq = b.check.tcp_seq;
      t.flags = pkt::kTcpSyn;
      t.window = 1024;
      auto buf = out.alloc(64);
      std::size_t n = pkt::build_tcp(buf, {vip.fake_mac, b.mac}, {vip.spec->ip, b.spec.ip}, t, {});
      frame = out.shrink_last(buf, n);
      break;
    }
  }
  send_frame(sw.dpid, frame, b.port, out);
}

void Balancer::send_latency_probe(SwitchState& sw, VipState& vip, BackendState& b, TimePoint now, Outbox& out) {
  ++counters_.latency_probes_sent;
  b.latency.outstanding = true;
  b.latency.sent = now;
  b.latency.token = ++sw.next_icmp_seq;
  auto buf = out.alloc(64);
  std::size_t n = pkt::build_icmp_echo(buf, {vip.fake_mac, b.mac}, {vip.spec->ip, b.spec.ip}, pkt::kIcmpEchoRequest,
                                       kLatencyIcmpId, static_cast<uint16_t>(b.latency.token), {});
  send_frame(sw.dpid, out.shrink_last(buf, n), b.port, out);
}

bool Balancer::handle_probe_reply(SwitchState& sw, VipState& vip, const of::PacketIn& pin, const pkt::ParsedPacket& p,
                                  TimePoint now, Outbox& out) {
  BackendState* b = nullptr;
  for (BackendState& cand : vip.backends) {
    if (cand.spec.ip == p.ipv4.src) b = &cand;
  }
  if (b == nullptr) return false;
  if (p.l4 == pkt::L4::Icmp && p.icmp.type == pkt::kIcmpEchoReply &&
      (p.icmp.id == kHealthIcmpId || p.icmp.id == kLatencyIcmpId)) {
    if (p.icmp.id == kLatencyIcmpId && b->latency.outstanding && p.icmp.seq == (b->latency.token & 0xffff)) {
      b->latency.outstanding = false;
      double sample = ms_between(b->latency.sent, now);
      const double a = config_.monitor.rtt_smoothing;
      b->rtt_ms = b->rtt_ms ? (1 - a) * *b->rtt_ms + a * sample : sample;
      b->rtt_at = now;
    } else if (p.icmp.id == kHealthIcmpId && b->check.outstanding && p.icmp.seq == (b->check.token & 0xffff)) {
      b->check.outstanding = false;
      health_result(sw, vip, *b, true, "echo reply", now, out);
    }
    return true;  // late replies are consumed too
  }
  if (p.l4 == pkt::L4::Tcp && p.tcp.dst_port >= kProbePortBase && p.tcp.dst_port < kProbePortBase + kProbePortCount) {
    const bool synack = (p.tcp.flags & (pkt::kTcpSyn | pkt::kTcpAck)) == (pkt::kTcpSyn | pkt::kTcpAck);
    const bool rst = (p.tcp.flags & pkt::kTcpRst) != 0;
    if (synack) {
      // Close the half-open connection on the backend, like keepalived's TCP_CHECK.
      reset_sender(sw, vip, pin, p, out);
    }
    if (b->check.outstanding && p.tcp.dst_port == b->check.token && (synack || rst)) {
      b->check.outstanding = false;
      health_result(sw, vip, *b, synack, synack ? "SYN-ACK" : "connection refused (RST)", now, out);
    }
    return true;
  }
  return false;
}

void Balancer::health_result(SwitchState& sw, VipState& vip, BackendState& b, bool ok, const char* why, TimePoint now,
                             Outbox& out) {
  (void)now;
  const bool was = b.available();
  if (!ok) ++counters_.health_check_failures;
  HealthTransition t = ok ? b.health.success() : b.health.failure();
  if (t == HealthTransition::None) {
    if (!ok) {
      spdlog::debug("health check failed vip={} backend={} ({}), {} in a row", vip.spec->ip.str(), b.spec.ip.str(), why,
                    b.health.consecutive_failures());
    }
    return;
  }
  std::string reason = fmt::format("health check: {}", why);
  on_availability_change(sw, vip, b, was, reason.c_str(), !ok, now, out);
}

void Balancer::on_availability_change(SwitchState& sw, VipState& vip, BackendState& b, bool was_available,
                                      const char* reason, bool failure, TimePoint now, Outbox& out) {
  const bool now_available = b.available();
  if (was_available == now_available) return;
  if (now_available) {
    ++counters_.backend_up_events;
    spdlog::info("backend up vip={} backend={} reason={} dpid={}", vip.spec->ip.str(), b.spec.ip.str(), reason,
                 dpid_str(sw.dpid));
    return;
  }
  ++counters_.backend_down_events;
  spdlog::warn("backend {} vip={} backend={} reason={} connections={} dpid={}", failure ? "down" : "unavailable",
               vip.spec->ip.str(), b.spec.ip.str(), reason, b.active, dpid_str(sw.dpid));
  if (failure && vip.spec->on_down == OnDown::RemoveFlows && b.active > 0) {
    auto index = static_cast<uint32_t>(&b - vip.backends.data());
    reset_connections_of(sw, vip, index, now, out);
  }
}

void Balancer::reset_connections_of(SwitchState& sw, VipState& vip, uint32_t backend_index, TimePoint now,
                                    Outbox& out) {
  spdlog::info("removing the flow entries of {} connections of vip={} backend={} (on_down: reset) dpid={}",
               vip.backends[backend_index].active, vip.spec->ip.str(), vip.backends[backend_index].spec.ip.str(),
               dpid_str(sw.dpid));
  for (auto it = vip.connections.begin(); it != vip.connections.end();) {
    const Connection& c = it->second;
    if (c.backend != backend_index) {
      ++it;
      continue;
    }
    of::FlowMod fwd = forward_flow(vip, it->first, c);
    of::FlowMod ret = return_flow(vip, it->first, c);
    for (of::FlowMod* fm : {&fwd, &ret}) {
      fm->command = of::FlowModCommand::DeleteStrict;
      fm->actions.clear();
      fm->flags = 0;
      out.send(sw.dpid, *fm);
    }
    ++counters_.connections_reset_on_down;
    ++counters_.connections_ended;
    if (it->first.proto == pkt::kIpProtoTcp &&
        (vip.reset_tuples.size() < kMaxResetTuples || vip.reset_tuples.contains(it->first))) {
      vip.reset_tuples[it->first] = now + kResetTupleMemory;
    }
    it = vip.connections.erase(it);
  }
  vip.backends[backend_index].active = 0;
}

void Balancer::refuse(SwitchState& sw, VipState& vip, const of::PacketIn& pin, const pkt::ParsedPacket& p,
                      Outbox& out) {
  if (!vip.refusing) {
    vip.refusing = true;
    spdlog::warn("no backend available vip={}: refusing new connections (TCP reset, ICMP unreachable for UDP) dpid={}",
                 vip.spec->ip.str(), dpid_str(sw.dpid));
  }
  const pkt::EthHeader eth{vip.fake_mac, p.eth_src};
  const pkt::IpHeader ip{vip.spec->ip, p.ipv4.src};
  if (p.l4 == pkt::L4::Tcp) {
    if (p.tcp.flags & pkt::kTcpRst) return;  // never answer a reset with a reset
    pkt::TcpFields t;
    t.src_port = p.tcp.dst_port;
    t.dst_port = p.tcp.src_port;
    const bool has_ack = (p.tcp.flags & pkt::kTcpAck) != 0;
    t.seq = has_ack ? p.tcp.ack : 0;
    t.ack = p.tcp.seq + static_cast<uint32_t>(p.tcp.payload.size()) + ((p.tcp.flags & pkt::kTcpSyn) ? 1 : 0) +
            ((p.tcp.flags & pkt::kTcpFin) ? 1 : 0);
    t.flags = has_ack ? pkt::kTcpRst : (pkt::kTcpRst | pkt::kTcpAck);
    auto buf = out.alloc(64);
    std::size_t n = pkt::build_tcp(buf, eth, ip, t, {});
    send_frame(sw.dpid, out.shrink_last(buf, n), pin.in_port, out);
    ++counters_.tcp_resets_sent;
  } else if (p.l4 == pkt::L4::Udp) {
    auto buf = out.alloc(14 + 20 + 8 + 28 + 64);
    std::size_t n =
        pkt::build_icmp_error(buf, eth, ip, pkt::kIcmpDestUnreachable, 3 /* port unreachable */, p.l3_bytes);
    send_frame(sw.dpid, out.shrink_last(buf, n), pin.in_port, out);
    ++counters_.icmp_unreachables_sent;
  }
}

// A failed backend still sending on a connection that on_down: reset ended
// (its entries are gone, so its packets come here): reset both ends, so the
// client fails fast instead of waiting on a silent connection, and the
// backend stops retransmitting. The backend's packet gives both sequence
// numbers: its own seq is what the client expects next, its ack is what it
// expects from the client.
void Balancer::reset_stray(SwitchState& sw, const VipState& vip, const of::PacketIn& pin, const pkt::ParsedPacket& p,
                           Outbox& out) {
  if (p.tcp.flags & pkt::kTcpRst) return;  // never answer a reset with a reset
  auto client = sw.clients.find(p.ipv4.dst);
  if (client == sw.clients.end()) return;
  ++counters_.stray_resets;
  auto send_rst = [&](const pkt::EthHeader& eth, const pkt::IpHeader& ip, uint16_t sport, uint16_t dport, uint32_t seq,
                      of::PortNo port) {
    pkt::TcpFields t;
    t.src_port = sport;
    t.dst_port = dport;
    t.seq = seq;
    t.flags = pkt::kTcpRst;
    auto buf = out.alloc(64);
    std::size_t n = pkt::build_tcp(buf, eth, ip, t, {});
    send_frame(sw.dpid, out.shrink_last(buf, n), port, out);
  };
  send_rst({vip.fake_mac, client->second.mac}, {vip.spec->ip, p.ipv4.dst}, p.tcp.src_port, p.tcp.dst_port, p.tcp.seq,
           client->second.port);
  // A segment without data or SYN/FIN may be a zero-window or keep-alive
  // probe, sent one below what the client expects (a window that curl
  // --limit-rate keeps full, say): a reset at the probe's own number is out
  // of the client's window and ignored, one at the next is exact. When that
  // one is the inexact one instead, the client answers it with a challenge
  // ACK (RFC 5961), which answer_reset_tuple resets exactly.
  const bool bare = p.tcp.payload.empty() && (p.tcp.flags & (pkt::kTcpSyn | pkt::kTcpFin)) == 0;
  if (bare) {
    send_rst({vip.fake_mac, client->second.mac}, {vip.spec->ip, p.ipv4.dst}, p.tcp.src_port, p.tcp.dst_port,
             p.tcp.seq + 1, client->second.port);
  }
  if (p.tcp.flags & pkt::kTcpAck) {
    send_rst({vip.fake_mac, p.eth_src}, {p.ipv4.dst, p.ipv4.src}, p.tcp.dst_port, p.tcp.src_port, p.tcp.ack,
             pin.in_port);
  }
  spdlog::debug("reset connection of failed backend vip={} client={}:{} backend={} dpid={}", vip.spec->ip.str(),
                p.ipv4.dst.str(), p.tcp.dst_port, p.ipv4.src.str(), dpid_str(sw.dpid));
}

void Balancer::reset_sender(SwitchState& sw, const VipState& vip, const of::PacketIn& pin, const pkt::ParsedPacket& p,
                            Outbox& out) {
  // Its ack number is exactly the sequence number it expects next, the only
  // one at which Linux (RFC 5961) accepts a reset.
  pkt::TcpFields t;
  t.src_port = p.tcp.dst_port;
  t.dst_port = p.tcp.src_port;
  t.seq = p.tcp.ack;
  t.flags = pkt::kTcpRst;
  auto buf = out.alloc(64);
  std::size_t n = pkt::build_tcp(buf, {vip.fake_mac, p.eth_src}, {vip.spec->ip, p.ipv4.src}, t, {});
  send_frame(sw.dpid, out.shrink_last(buf, n), pin.in_port, out);
}

bool Balancer::answer_reset_tuple(SwitchState& sw, VipState& vip, const ConnKey& key, const of::PacketIn& pin,
                                  const pkt::ParsedPacket& p, TimePoint now, Outbox& out) {
  auto it = vip.reset_tuples.find(key);
  if (it == vip.reset_tuples.end()) return false;
  const uint8_t flags = p.tcp.flags;
  if (now >= it->second || ((flags & pkt::kTcpSyn) && !(flags & pkt::kTcpAck))) {
    vip.reset_tuples.erase(it);  // a new connection on the 5-tuple, or remembered long enough
    return false;
  }
  // The client's own reset ends it; a segment without ACK gives no number to
  // reset at, and is dropped like the connection it belonged to.
  if ((flags & pkt::kTcpRst) || !(flags & pkt::kTcpAck)) {
    if (flags & pkt::kTcpRst) vip.reset_tuples.erase(it);
    ++counters_.stray_drops;
    return true;
  }
  reset_sender(sw, vip, pin, p, out);
  ++counters_.reset_tuple_resets;
  spdlog::debug("reset connection ended by on_down: reset vip={} client={}:{} seq={} dpid={}", vip.spec->ip.str(),
                p.ipv4.src.str(), p.tcp.src_port, p.tcp.ack, dpid_str(sw.dpid));
  return true;
}

void Balancer::expire_reset_tuples(VipState& vip, TimePoint now) {
  std::erase_if(vip.reset_tuples, [&](const auto& kv) { return now >= kv.second; });
}

void Balancer::handle_agent_report(SwitchState& sw, VipState& vip, const pkt::ParsedPacket& p, TimePoint now,
                                   Outbox& out) {
  BackendState* b = nullptr;
  for (BackendState& cand : vip.backends) {
    if (cand.spec.ip == p.ipv4.src && !cand.retired) b = &cand;
  }
  if (b == nullptr) {
    ++counters_.agent_reports_not_backend;
    spdlog::debug("agent report to vip={} from {}, not one of its backends: dropped", vip.spec->ip.str(),
                  p.ipv4.src.str());
    return;
  }
  auto report = agent::decode_and_verify(p.udp.payload, config_.agent.key);
  if (!report) {
    if (report.error() == agent::ReportError::BadMac) {
      ++counters_.agent_reports_bad_mac;
    } else {
      ++counters_.agent_reports_malformed;
    }
    spdlog::debug("agent report from {} rejected: {}", p.ipv4.src.str(), agent::report_error_name(report.error()));
    return;
  }
  const int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() + wall_offset_ms_;
  auto verdict = replay_.check(p.ipv4.src, *report, now_ms);
  switch (verdict) {
    case agent::ReplayGuard::Verdict::Accept:
      break;
    case agent::ReplayGuard::Verdict::Replayed:
    case agent::ReplayGuard::Verdict::WrongSender:
      ++counters_.agent_reports_replayed;
      spdlog::debug("agent report from {} rejected: {}", p.ipv4.src.str(), agent::verdict_name(verdict));
      return;
    case agent::ReplayGuard::Verdict::Stale:
    case agent::ReplayGuard::Verdict::FromFuture:
      ++counters_.agent_reports_stale;
      spdlog::debug("agent report from {} rejected: {}", p.ipv4.src.str(), agent::verdict_name(verdict));
      return;
  }
  ++counters_.agent_reports_accepted;
  AgentSample s;
  s.cpu_pct = report->cpu_pct_x100 / 100.0;
  s.memory_pct = report->mem_pct_x100 / 100.0;
  s.established = report->established;
  if (report->cpu_capacity_milli > 0) s.cpu_capacity = report->cpu_capacity_milli / 1000.0;
  s.healthy = report->healthy;
  s.at = now;
  // One agent feeds every VIP whose pool holds its backend.
  for (VipState& v : sw.vips) {
    for (BackendState& cand : v.backends) {
      if (cand.spec.ip != p.ipv4.src || cand.retired) continue;
      const bool was = cand.available();
      // The connections sent since the previous report fall in the interval
      // this report measured, unless a report was missed (or this is the first).
      const double interval_s = report->interval_ms / 1000.0;
      const bool consecutive =
          cand.agent && std::chrono::duration<double>(now - cand.agent->at).count() <= 1.5 * interval_s;
      cand.assigned_last_interval =
          consecutive ? std::optional<uint32_t>(cand.assigned_since_report) : std::optional<uint32_t>();
      cand.report_interval_s = interval_s;
      ++cand.reports;
      cand.agent = s;
      cand.assigned_since_report = 0;
      if (cand.agent_unhealthy == s.healthy) {
        cand.agent_unhealthy = !s.healthy;
        on_availability_change(sw, v, cand, was, s.healthy ? "agent reports healthy" : "agent reports unhealthy",
                               !s.healthy, now, out);
      }
    }
  }
}

void Balancer::port_stats(Dpid dpid, const of::PortStatsReply& reply, TimePoint now) {
  SwitchState* sw = find(dpid);
  if (sw == nullptr) return;
  ++counters_.port_stats_replies;
  for (const of::PortStats& st : reply.stats) {
    PortCounters& pc = sw->port_counters[st.port_no];
    std::optional<double> kbps;
    if (pc.at != TimePoint{} && now > pc.at && st.tx_bytes >= pc.tx_bytes) {
      double secs = std::chrono::duration<double>(now - pc.at).count();
      kbps = static_cast<double>(st.tx_bytes - pc.tx_bytes) * 8.0 / 1000.0 / secs;
    }
    pc.tx_bytes = st.tx_bytes;
    pc.at = now;
    if (!kbps) continue;
    for (VipState& v : sw->vips) {
      for (BackendState& b : v.backends) {
        if (!b.learned || b.port != st.port_no) continue;
        b.tx_kbps = kbps;
        b.tx_at = now;
      }
    }
  }
}

}  // namespace fulcrum::lb
