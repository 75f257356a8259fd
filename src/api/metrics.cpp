// /metrics: the Prometheus text exposition format, version 0.0.4.
// Every family is written whole (HELP, TYPE, then its samples), as the
// format requires; label values are escaped.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "api/api.hpp"
#include "balancer/scoring.hpp"

namespace fulcrum::api {

namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;

std::string escape(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

class Writer {
 public:
  void family(const char* name, const char* type, const char* help) {
    out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }
  void sample(const std::string& name, const Labels& labels, double value) {
    out_ += name;
    if (!labels.empty()) {
      out_ += '{';
      for (std::size_t i = 0; i < labels.size(); ++i) {
        out_ += fmt::format("{}{}=\"{}\"", i ? "," : "", labels[i].first, escape(labels[i].second));
      }
      out_ += '}';
    }
    out_ += ' ';
    out_ += number(value);
    out_ += '\n';
  }
  void sample(const std::string& name, const Labels& labels, uint64_t value) {
    sample(name, labels, static_cast<double>(value));
  }
  // A family with one unlabelled sample.
  void single(const char* name, const char* type, const char* help, double value) {
    family(name, type, help);
    sample(name, {}, value);
  }
  void histogram(const char* name, const char* help, const ctl::LatencyHistogram& h) {
    family(name, "histogram", help);
    uint64_t cumulative = 0;
    for (std::size_t i = 0; i < ctl::LatencyHistogram::kBoundsUs.size(); ++i) {
      cumulative += h.buckets[i];
      sample(std::string(name) + "_bucket", {{"le", number(ctl::LatencyHistogram::kBoundsUs[i] / 1e6)}}, cumulative);
    }
    sample(std::string(name) + "_bucket", {{"le", "+Inf"}}, h.count);
    sample(std::string(name) + "_sum", {}, h.sum_s);
    sample(std::string(name) + "_count", {}, h.count);
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

// One backend on one switch, with what its families need.
struct Row {
  Labels labels;  // vip, name, backend, dpid
  const lb::BackendState* b;
  lb::BackendView view;
  lb::ScoreBreakdown score;
};

}  // namespace

std::string render_metrics(const View& view, const Api* api) {
  Writer w;
  const lb::Counters c = view.counters();
  const lb::BalancerConfig& cfg = view.balancer.config();

  w.family("fulcrum_build_info", "gauge", "Fulcrum version.");
  w.sample("fulcrum_build_info", {{"version", "0.1.0"}}, 1.0);
  w.single("fulcrum_start_time_seconds", "gauge", "Start time of the process, seconds since the Unix epoch.",
           std::chrono::duration<double>(view.started.time_since_epoch()).count());

  w.single("fulcrum_packet_ins_total", "counter", "Packet-ins received from switches.", c.packet_ins);
  w.single("fulcrum_decisions_total", "counter", "New connections assigned to a backend by a policy.",
           c.connections_assigned);
  w.single("fulcrum_duplicate_packet_ins_total", "counter",
           "Packet-ins for a connection already assigned (its next packets beat the flow entry).",
           c.duplicate_packet_ins);
  w.single("fulcrum_connections_ended_total", "counter", "Connections whose flow entries were removed.",
           c.connections_ended);
  w.single("fulcrum_connections_resumed_total", "counter", "Dormant connections whose entries were re-installed.",
           c.connections_resumed);
  w.single("fulcrum_packet_parse_errors_total", "counter", "Packet-ins whose frame could not be parsed.",
           c.parse_errors);
  w.family("fulcrum_drops_total", "counter", "Packets dropped by the balancer, by reason.");
  w.sample("fulcrum_drops_total", {{"reason", "no_backend"}}, c.no_backend_drops);
  w.sample("fulcrum_drops_total", {{"reason", "vip_unhandled"}}, c.vip_unhandled_drops);
  w.sample("fulcrum_drops_total", {{"reason", "stray"}}, c.stray_drops);
  w.sample("fulcrum_drops_total", {{"reason", "arp_spoof"}}, c.arp_spoof_drops);
  w.sample("fulcrum_drops_total", {{"reason", "mac_spoof"}}, c.mac_spoof_drops);
  w.family("fulcrum_refusals_total", "counter", "New connections refused because no backend was available.");
  w.sample("fulcrum_refusals_total", {{"kind", "tcp_reset"}}, c.tcp_resets_sent);
  w.sample("fulcrum_refusals_total", {{"kind", "icmp_unreachable"}}, c.icmp_unreachables_sent);
  w.single("fulcrum_arp_replies_total", "counter", "ARP replies sent for VIPs and clients.", c.arp_replies);
  w.single("fulcrum_backends_learned_total", "counter", "Backends learned by ARP discovery.", c.backends_learned);

  if (view.controller != nullptr) {
    const ctl::ControllerCounters cc = view.controller_counters();
    w.single("fulcrum_flow_mods_total", "counter", "Flow-mods sent to switches.", cc.flow_mods_out);
    w.single("fulcrum_packet_outs_total", "counter", "Packet-outs sent to switches.", cc.packet_outs_out);
    w.family("fulcrum_openflow_messages_total", "counter", "OpenFlow messages, by direction.");
    w.sample("fulcrum_openflow_messages_total", {{"direction", "in"}}, cc.messages_in);
    w.sample("fulcrum_openflow_messages_total", {{"direction", "out"}}, cc.messages_out);
    w.single("fulcrum_openflow_bytes_out_total", "counter", "OpenFlow bytes sent.", cc.bytes_out);
    w.family("fulcrum_openflow_errors_total", "counter",
             "OpenFlow errors: undecodable messages received, OFPT_ERROR sent and received.");
    w.sample("fulcrum_openflow_errors_total", {{"kind", "decode"}}, cc.decode_errors);
    w.sample("fulcrum_openflow_errors_total", {{"kind", "sent"}}, cc.errors_sent);
    w.sample("fulcrum_openflow_errors_total", {{"kind", "received"}}, cc.errors_received);
    w.single("fulcrum_switch_sessions_accepted_total", "counter", "Switch TCP connections accepted.",
             cc.sessions_accepted);
    w.family("fulcrum_switch_session", "gauge",
             "Open switch connections (1 each), by peer, datapath id, version and handshake state.");
    for (const ctl::SessionInfo& s : view.sessions()) {
      w.sample("fulcrum_switch_session",
               {{"peer", s.peer}, {"dpid", fmt::format("{:016x}", s.dpid)}, {"version", s.version}, {"state", s.state}},
               1.0);
    }
    w.histogram("fulcrum_decision_latency_seconds",
                "Controller time (decode, decision, encoding) for a packet-in that assigned a new connection.",
                view.decision_latency());
    w.histogram("fulcrum_packet_in_latency_seconds", "Controller time (decode, decision, encoding) for any packet-in.",
                view.packet_in_latency());
  }
  w.single("fulcrum_switches_up", "gauge", "Switches that completed the handshake.",
           static_cast<double>(view.switch_count()));

  const std::vector<const lb::SwitchState*> switches = view.switches();
  w.family("fulcrum_switch_connections", "gauge", "Connections tracked per switch (dormant ones included).");
  for (const lb::SwitchState* sw : switches) {
    std::size_t n = 0;
    for (const auto& v : sw->vips) n += v.connections.size();
    w.sample("fulcrum_switch_connections", {{"dpid", fmt::format("{:016x}", sw->dpid)}}, static_cast<double>(n));
  }

  // Per VIP and per backend (on each switch).
  std::vector<Row> rows;
  w.family("fulcrum_vip_connections_active", "gauge", "Connections of a VIP with flow entries in the switches.");
  std::vector<std::pair<Labels, uint64_t>> vip_totals;
  for (const lb::VipSpec& spec : cfg.vips) {
    uint64_t active = 0, total = 0;
    for (const lb::SwitchState* sw : switches) {
      for (const lb::VipState& v : sw->vips) {
        if (v.spec->ip != spec.ip) continue;
        for (const lb::BackendState& b : v.backends) {
          active += b.active;
          total += b.total;
          lb::BackendView bv = view.balancer.view(v, b, view.now);
          rows.push_back(Row{{{"vip", spec.ip.str()},
                              {"name", spec.name},
                              {"backend", b.spec.ip.str()},
                              {"dpid", fmt::format("{:016x}", sw->dpid)}},
                             &b,
                             bv,
                             lb::score_breakdown(bv, spec.scoring)});
        }
      }
    }
    Labels l{{"vip", spec.ip.str()}, {"name", spec.name}};
    w.sample("fulcrum_vip_connections_active", l, active);
    vip_totals.emplace_back(l, total);
  }
  w.family("fulcrum_vip_connections_total", "counter", "Connections ever assigned for a VIP.");
  for (const auto& [l, total] : vip_totals) w.sample("fulcrum_vip_connections_total", l, total);

  auto per_row = [&](const char* name, const char* type, const char* help, auto value) {
    w.family(name, type, help);
    for (const Row& r : rows) w.sample(name, r.labels, static_cast<double>(value(r)));
  };
  per_row("fulcrum_backend_connections_active", "gauge", "Connections of a backend with flow entries in the switch.",
          [](const Row& r) { return r.b->active; });
  per_row("fulcrum_backend_connections_total", "counter", "Connections ever assigned to a backend.",
          [](const Row& r) { return r.b->total; });
  per_row("fulcrum_backend_learned", "gauge", "1 if the backend's MAC and port are known.",
          [](const Row& r) { return r.b->learned ? 1 : 0; });
  per_row("fulcrum_backend_up", "gauge", "1 if the backend's health state is up (checks, port, agent).",
          [](const Row& r) { return r.b->health.up() && !r.b->agent_unhealthy && !r.b->agent_silent ? 1 : 0; });
  per_row("fulcrum_backend_available", "gauge", "1 if the backend takes new connections.",
          [](const Row& r) { return r.b->available() ? 1 : 0; });
  per_row("fulcrum_backend_draining", "gauge", "1 if the backend is in drain mode.",
          [](const Row& r) { return r.b->spec.mode == lb::BackendMode::Drain ? 1 : 0; });
  per_row("fulcrum_backend_weight", "gauge", "Configured weight.", [](const Row& r) { return r.b->spec.weight; });
  w.family("fulcrum_backend_status", "gauge",
           "The backend's state (1 for the current one): unlearned, up, draining, down, removed.");
  for (const Row& r : rows) {
    Labels l = r.labels;
    l.emplace_back("status", backend_status(*r.b));
    w.sample("fulcrum_backend_status", l, 1.0);
  }
  per_row("fulcrum_backend_score", "gauge", "Combined-criteria score, 0..100 (paper equation 5).",
          [](const Row& r) { return r.score.total; });
  w.family("fulcrum_backend_normalised", "gauge",
           "Normalised score inputs, 0..100 (paper equation 4; an unknown metric counts 0).");
  for (const Row& r : rows) {
    const std::pair<const char*, double> ms[] = {{"cpu", r.score.cpu},
                                                 {"memory", r.score.memory},
                                                 {"latency", r.score.latency},
                                                 {"bandwidth", r.score.bandwidth}};
    for (const auto& [m, v] : ms) {
      Labels l = r.labels;
      l.emplace_back("metric", m);
      w.sample("fulcrum_backend_normalised", l, v);
    }
  }
  w.family("fulcrum_backend_metric", "gauge",
           "Fresh score inputs in their own units (cpu_pct, memory_pct, rtt_ms, avail_bw_kbps); absent when unknown "
           "or stale.");
  for (const Row& r : rows) {
    const std::pair<const char*, std::optional<double>> ms[] = {{"cpu_pct", r.view.cpu_pct},
                                                                {"memory_pct", r.view.memory_pct},
                                                                {"rtt_ms", r.view.rtt_ms},
                                                                {"avail_bw_kbps", r.view.avail_bw_kbps}};
    for (const auto& [m, v] : ms) {
      if (!v) continue;
      Labels l = r.labels;
      l.emplace_back("metric", m);
      w.sample("fulcrum_backend_metric", l, *v);
    }
  }

  w.single("fulcrum_health_checks_total", "counter", "Active health checks sent.", c.health_checks_sent);
  w.single("fulcrum_health_check_failures_total", "counter", "Active health checks failed.", c.health_check_failures);
  w.family("fulcrum_backend_transitions_total", "counter", "Backends going down or coming back up.");
  w.sample("fulcrum_backend_transitions_total", {{"to", "down"}}, c.backend_down_events);
  w.sample("fulcrum_backend_transitions_total", {{"to", "up"}}, c.backend_up_events);
  w.single("fulcrum_connections_reset_on_down_total", "counter",
           "Connections removed because their backend went down (on_down: reset).", c.connections_reset_on_down);
  w.family("fulcrum_on_down_resets_total", "counter",
           "TCP resets Fulcrum sent on connections on_down: reset ended, by the segment that triggered them.");
  w.sample("fulcrum_on_down_resets_total", {{"trigger", "backend_segment"}}, c.stray_resets);
  w.sample("fulcrum_on_down_resets_total", {{"trigger", "client_segment"}}, c.reset_tuple_resets);
  w.single("fulcrum_agent_reports_accepted_total", "counter", "Agent reports accepted.", c.agent_reports_accepted);
  w.family("fulcrum_agent_reports_rejected_total", "counter", "Agent reports rejected, by reason.");
  w.sample("fulcrum_agent_reports_rejected_total", {{"reason", "malformed"}}, c.agent_reports_malformed);
  w.sample("fulcrum_agent_reports_rejected_total", {{"reason", "bad_mac"}}, c.agent_reports_bad_mac);
  w.sample("fulcrum_agent_reports_rejected_total", {{"reason", "replayed"}}, c.agent_reports_replayed);
  w.sample("fulcrum_agent_reports_rejected_total", {{"reason", "stale"}}, c.agent_reports_stale);
  w.sample("fulcrum_agent_reports_rejected_total", {{"reason", "not_backend"}}, c.agent_reports_not_backend);
  w.family("fulcrum_latency_probes_total", "counter", "ICMP latency probes, sent and lost.");
  w.sample("fulcrum_latency_probes_total", {{"result", "sent"}}, c.latency_probes_sent);
  w.sample("fulcrum_latency_probes_total", {{"result", "lost"}}, c.latency_probes_lost);

  if (api != nullptr) {
    w.family("fulcrum_api_requests_total", "counter", "API requests answered, by HTTP status.");
    auto by_status = api->by_status_;
    std::sort(by_status.begin(), by_status.end());
    for (const auto& [status, n] : by_status)
      w.sample("fulcrum_api_requests_total", {{"code", std::to_string(status)}}, n);
    w.single("fulcrum_api_changes", "gauge", "Runtime changes made through the API since the last configuration load.",
             static_cast<double>(api->changes()));
  }
  return w.take();
}

}  // namespace fulcrum::api
