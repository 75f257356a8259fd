#include "api/api.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>

#include "balancer/scoring.hpp"

namespace fulcrum::api {

using json = nlohmann::json;

namespace {

constexpr uint32_t kMaxWeight = 1000000;
constexpr uint64_t kMaxCapacityKbps = 1000000000000ULL;

// Strings from the request can be any bytes; never let dump() throw on them.
std::string dump(const json& j) { return j.dump(2, ' ', false, json::error_handler_t::replace) + "\n"; }

Response json_response(int status, const json& body) { return Response{status, "application/json", dump(body), {}}; }

Response error(int status, const std::string& message) {
  return json_response(status, json{{"error", message}, {"status", status}});
}

std::string dpid_str(lb::Dpid d) { return fmt::format("{:016x}", d); }

std::string iso_time(std::chrono::system_clock::time_point t) {
  auto secs = std::chrono::time_point_cast<std::chrono::seconds>(t);
  auto tt = std::chrono::system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec);
}

json opt(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

const char* protocol_name(uint8_t p) { return p == 6 ? "tcp" : p == 17 ? "udp" : "any"; }

const char* check_name(lb::HealthCheckKind k) {
  switch (k) {
    case lb::HealthCheckKind::None:
      return "none";
    case lb::HealthCheckKind::Arp:
      return "arp";
    case lb::HealthCheckKind::Icmp:
      return "icmp";
    case lb::HealthCheckKind::Tcp:
      return "tcp";
  }
  return "?";
}

const char* mode_name(lb::BackendMode m) { return m == lb::BackendMode::Drain ? "drain" : "active"; }

double seconds(lb::Duration d) { return std::chrono::duration<double>(d).count(); }

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  std::size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    std::size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) parts.push_back(path.substr(i, j - i));
    i = j;
  }
  return parts;
}

// Switches in dpid order (the balancer keeps them in a hash map).

const lb::VipState* vip_on(const lb::SwitchState& sw, Ipv4Addr vip) {
  for (const auto& v : sw.vips) {
    if (v.spec->ip == vip) return &v;
  }
  return nullptr;
}

json backend_on_switch(const View& view, const lb::SwitchState& sw, const lb::VipState& vip,
                       const lb::BackendState& b) {
  const lb::BackendView bv = view.balancer.view(vip, b, view.now);
  const lb::ScoreBreakdown sb = lb::score_breakdown(bv, vip.spec->scoring);
  json agent = nullptr;
  if (b.agent) {
    agent = {{"cpu_pct", b.agent->cpu_pct},
             {"memory_pct", b.agent->memory_pct},
             {"established", b.agent->established},
             {"healthy", b.agent->healthy},
             {"age_s", seconds(view.now - b.agent->at)}};
  }
  return json{
      {"dpid", dpid_str(sw.dpid)},
      {"status", backend_status(b)},
      {"learned", b.learned},
      {"mac", b.learned ? json(b.mac.str()) : json(nullptr)},
      {"port", b.learned ? json(b.port) : json(nullptr)},
      {"available", b.available()},
      {"health",
       {{"up", b.health.up()},
        {"consecutive_successes", b.health.consecutive_successes()},
        {"consecutive_failures", b.health.consecutive_failures()},
        {"agent_unhealthy", b.agent_unhealthy},
        {"agent_silent", b.agent_silent}}},
      {"connections", {{"active", b.active}, {"total", b.total}}},
      {"agent", agent},
      {"metrics",
       {{"cpu_pct", opt(bv.cpu_pct)},
        {"memory_pct", opt(bv.memory_pct)},
        {"rtt_ms", opt(bv.rtt_ms)},
        {"avail_bw_kbps", opt(bv.avail_bw_kbps)},
        {"tx_kbps", opt(b.tx_kbps)},
        {"capacity_kbps", b.capacity_kbps}}},
      {"normalised", {{"cpu", sb.cpu}, {"memory", sb.memory}, {"latency", sb.latency}, {"bandwidth", sb.bandwidth}}},
      {"score", sb.total},
  };
}

json backend_json(const View& view, const lb::VipSpec& spec, Ipv4Addr ip) {
  json per_switch = json::array();
  uint64_t active = 0, total = 0;
  double score_sum = 0;
  int scored = 0;
  std::set<std::string> statuses;
  const lb::BackendState* any = nullptr;
  for (const lb::SwitchState* sw : view.switches()) {
    const lb::VipState* vs = vip_on(*sw, spec.ip);
    if (vs == nullptr) continue;
    for (const lb::BackendState& b : vs->backends) {
      if (b.spec.ip != ip) continue;
      json j = backend_on_switch(view, *sw, *vs, b);
      active += b.active;
      total += b.total;
      statuses.insert(backend_status(b));
      if (b.learned) {
        score_sum += j["score"].get<double>();
        ++scored;
      }
      any = &b;
      per_switch.push_back(std::move(j));
    }
  }
  const lb::BackendSpec* configured = nullptr;
  for (const auto& b : spec.backends) {
    if (b.ip == ip) configured = &b;
  }
  lb::BackendSpec s;
  if (configured != nullptr) {
    s = *configured;
  } else if (any != nullptr) {
    s = any->spec;
  }
  std::string status = statuses.empty() ? "no-switch" : statuses.size() == 1 ? *statuses.begin() : "mixed";
  return json{{"ip", ip.str()},
              {"weight", s.weight},
              {"mode", mode_name(s.mode)},
              {"capacity_kbps", s.capacity_kbps},
              {"configured", configured != nullptr},
              {"status", status},
              {"connections", {{"active", active}, {"total", total}}},
              {"score", scored > 0 ? json(score_sum / scored) : json(nullptr)},
              {"switches", per_switch}};
}

// Configured backends in order, then removed ones still holding connections
// (the balancer keeps a removed backend until the next reconfiguration).
std::vector<Ipv4Addr> backend_ips(const View& view, const lb::VipSpec& spec) {
  std::vector<Ipv4Addr> ips;
  for (const auto& b : spec.backends) ips.push_back(b.ip);
  for (const lb::SwitchState* sw : view.switches()) {
    const lb::VipState* vs = vip_on(*sw, spec.ip);
    if (vs == nullptr) continue;
    for (const auto& b : vs->backends) {
      if (b.active == 0) continue;
      if (std::find(ips.begin(), ips.end(), b.spec.ip) == ips.end()) ips.push_back(b.spec.ip);
    }
  }
  return ips;
}

json vip_json(const View& view, const lb::VipSpec& spec) {
  json backends = json::array();
  uint64_t active = 0, total = 0;
  for (Ipv4Addr ip : backend_ips(view, spec)) {
    json b = backend_json(view, spec, ip);
    active += b["connections"]["active"].get<uint64_t>();
    total += b["connections"]["total"].get<uint64_t>();
    backends.push_back(std::move(b));
  }
  bool refusing = false;
  std::size_t table = 0;
  for (const lb::SwitchState* sw : view.switches()) {
    if (const lb::VipState* vs = vip_on(*sw, spec.ip)) {
      refusing = refusing || vs->refusing;
      table += vs->connections.size();
    }
  }
  const lb::HealthCheckConfig& hc = spec.health;
  return json{
      {"name", spec.name},
      {"ip", spec.ip.str()},
      {"port", spec.port ? json(*spec.port) : json(nullptr)},
      {"protocol", protocol_name(spec.ip_proto)},
      {"policy", lb::policy_name(spec.policy)},
      {"fake_mac", spec.fake_mac.value_or(view.balancer.config().fake_mac).str()},
      {"on_down", spec.on_down == lb::OnDown::RemoveFlows ? "reset" : "keep"},
      {"health_check",
       {{"type", check_name(hc.kind)},
        {"interval_s", seconds(hc.interval)},
        {"timeout_s", seconds(hc.timeout)},
        {"rise", hc.rise},
        {"fall", hc.fall},
        {"port", hc.tcp_port ? json(*hc.tcp_port) : json(nullptr)}}},
      {"refusing", refusing},
      {"connections", {{"active", active}, {"total", total}, {"tracked", table}}},
      {"backends", backends},
  };
}

json counters_json(const lb::Counters& c) {
  return json{{"packet_ins", c.packet_ins},
              {"parse_errors", c.parse_errors},
              {"connections_assigned", c.connections_assigned},
              {"connections_ended", c.connections_ended},
              {"duplicate_packet_ins", c.duplicate_packet_ins},
              {"connections_resumed", c.connections_resumed},
              {"no_backend_drops", c.no_backend_drops},
              {"vip_unhandled_drops", c.vip_unhandled_drops},
              {"stray_drops", c.stray_drops},
              {"stray_resets", c.stray_resets},
              {"reset_tuple_resets", c.reset_tuple_resets},
              {"arp_replies", c.arp_replies},
              {"arp_spoof_drops", c.arp_spoof_drops},
              {"mac_spoof_drops", c.mac_spoof_drops},
              {"backends_learned", c.backends_learned},
              {"health_checks_sent", c.health_checks_sent},
              {"health_check_failures", c.health_check_failures},
              {"backend_down_events", c.backend_down_events},
              {"backend_up_events", c.backend_up_events},
              {"tcp_resets_sent", c.tcp_resets_sent},
              {"agent_reports_accepted", c.agent_reports_accepted}};
}

json sessions_json(const View& view) {
  json out = json::array();
  if (view.controller == nullptr) return out;
  for (const ctl::SessionInfo& s : view.sessions()) {
    json j{{"peer", s.peer},
           {"state", s.state},
           {"dpid", s.dpid != 0 || s.state == "up" ? json(dpid_str(s.dpid)) : json(nullptr)},
           {"version", s.version.empty() ? json(nullptr) : json(s.version)},
           {"ports", s.ports},
           {"connected_at", iso_time(s.connected_at)},
           {"messages_in", s.messages_in}};
    if (s.state == "up") {
      if (const lb::SwitchState* sw = view.find_switch(s.dpid)) {
        std::size_t conns = 0;
        for (const auto& v : sw->vips) conns += v.connections.size();
        j["connections"] = conns;
        j["dormant_connections"] = sw->dormant.size();
        j["clients"] = sw->clients.size();
        j["l2_addresses"] = sw->l2.size();
      }
    }
    out.push_back(std::move(j));
  }
  return out;
}

// ---------------------------------------------------------------- changes --

// A request body: a JSON object with only the allowed keys, or an error.
struct Body {
  json j;
  std::optional<Response> err;
};

Body parse_body(const std::string& text, std::initializer_list<const char*> allowed, bool empty_ok) {
  Body b;
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
    if (empty_ok) {
      b.j = json::object();
    } else {
      b.err = error(400, "request body: expected a JSON object, got nothing");
    }
    return b;
  }
  b.j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (b.j.is_discarded()) {
    b.err = error(400, "request body is not valid JSON");
    return b;
  }
  if (!b.j.is_object()) {
    b.err = error(400, "request body: expected a JSON object");
    return b;
  }
  for (auto it = b.j.begin(); it != b.j.end(); ++it) {
    const std::string& key = it.key();
    if (std::none_of(allowed.begin(), allowed.end(), [&](const char* a) { return key == a; })) {
      std::string known;
      for (const char* a : allowed) known += (known.empty() ? "" : ", ") + std::string(a);
      b.err = error(400, "unknown field '" + key + "' (expected " + (known.empty() ? "no fields" : known) + ")");
      return b;
    }
  }
  return b;
}

std::optional<Response> read_weight(const json& j, uint32_t& out) {
  if (!j.contains("weight")) return std::nullopt;
  const json& w = j["weight"];
  if (!w.is_number_integer() || w.get<int64_t>() < 1 || w.get<int64_t>() > kMaxWeight) {
    return error(400, fmt::format("weight: must be an integer between 1 and {}, got {}", kMaxWeight, w.dump()));
  }
  out = static_cast<uint32_t>(w.get<int64_t>());
  return std::nullopt;
}

std::optional<Response> read_mode(const json& j, lb::BackendMode& out) {
  if (!j.contains("mode")) return std::nullopt;
  const json& m = j["mode"];
  if (m.is_string() && m.get<std::string>() == "active") {
    out = lb::BackendMode::Active;
  } else if (m.is_string() && m.get<std::string>() == "drain") {
    out = lb::BackendMode::Drain;
  } else {
    return error(
        400, "mode: expected \"active\" or \"drain\", got " + m.dump(-1, ' ', false, json::error_handler_t::replace));
  }
  return std::nullopt;
}

std::optional<Response> read_capacity(const json& j, uint64_t& out) {
  if (!j.contains("capacity_kbps")) return std::nullopt;
  const json& c = j["capacity_kbps"];
  if (!c.is_number_integer() || c.get<int64_t>() < 0 || static_cast<uint64_t>(c.get<int64_t>()) > kMaxCapacityKbps) {
    return error(400, fmt::format("capacity_kbps: must be an integer between 0 (the port's speed) and {}, got {}",
                                  kMaxCapacityKbps, c.dump()));
  }
  out = static_cast<uint64_t>(c.get<int64_t>());
  return std::nullopt;
}

}  // namespace

const char* backend_status(const lb::BackendState& b) {
  if (b.retired) return "removed";
  if (!b.learned) return "unlearned";
  if (!b.health.up() || b.agent_unhealthy || b.agent_silent) return "down";
  if (b.spec.mode == lb::BackendMode::Drain) return "draining";
  return "up";
}

bool constant_time_equal(const std::string& a, const std::string& b) {
  // Length is not secret enough to hide (tokens have a fixed length); the
  // bytes are compared without an early exit.
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

std::vector<const lb::SwitchState*> View::switches() const {
  std::vector<const lb::SwitchState*> out;
  for (const ShardView& sh : shards) {
    for (const auto& [dpid, sw] : sh.balancer->switches()) out.push_back(&sw);
  }
  std::sort(out.begin(), out.end(), [](auto* x, auto* y) { return x->dpid < y->dpid; });
  return out;
}

std::size_t View::switch_count() const {
  std::size_t n = 0;
  for (const ShardView& sh : shards) n += sh.balancer->switches().size();
  return n;
}

const lb::SwitchState* View::find_switch(lb::Dpid dpid) const {
  for (const ShardView& sh : shards) {
    if (const lb::SwitchState* sw = sh.balancer->find_switch(dpid)) return sw;
  }
  return nullptr;
}

lb::Counters View::counters() const {
  lb::Counters c;
  for (const ShardView& sh : shards) c += sh.balancer->counters();
  return c;
}

ctl::ControllerCounters View::controller_counters() const {
  ctl::ControllerCounters c;
  for (const ShardView& sh : shards) c += sh.controller->counters();
  return c;
}

std::vector<ctl::SessionInfo> View::sessions() const {
  if (shards.size() == 1) return shards.front().controller->sessions();
  std::vector<ctl::SessionInfo> out;
  for (const ShardView& sh : shards) {
    auto part = sh.controller->sessions();
    out.insert(out.end(), std::make_move_iterator(part.begin()), std::make_move_iterator(part.end()));
  }
  std::sort(out.begin(), out.end(),
            [](const ctl::SessionInfo& a, const ctl::SessionInfo& b) { return a.peer < b.peer; });
  return out;
}

ctl::LatencyHistogram View::packet_in_latency() const {
  ctl::LatencyHistogram h;
  for (const ShardView& sh : shards) h += sh.controller->packet_in_latency();
  return h;
}

ctl::LatencyHistogram View::decision_latency() const {
  ctl::LatencyHistogram h;
  for (const ShardView& sh : shards) h += sh.controller->decision_latency();
  return h;
}

Response Api::handle(const Request& req, const View& view, const Apply& apply) {
  ++requests_;
  Response r = [&]() -> Response {
    const auto parts = split_path(req.path);
    const bool dashboard = parts.empty() || (parts.size() == 1 && parts[0] == "dashboard");
    auto method_not_allowed = [&](const char* allow) {
      Response e = error(405, "method " + req.method + " not allowed on " + req.path + " (allowed: " + allow + ")");
      e.headers.emplace_back("Allow", allow);
      return e;
    };
    if (dashboard) {
      if (req.method != "GET" && req.method != "HEAD") return method_not_allowed("GET");
      return Response{200, "text/html; charset=utf-8", dashboard_html(), {}};
    }
    // Everything but the (static) page needs the token, when one is set.
    if (!token_.empty()) {
      static constexpr std::string_view kBearer = "Bearer ";
      if (req.authorization.empty()) {
        Response e = error(401, "missing bearer token (send Authorization: Bearer <token>)");
        e.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"fulcrum\"");
        return e;
      }
      if (req.authorization.compare(0, kBearer.size(), kBearer) != 0 ||
          !constant_time_equal(req.authorization.substr(kBearer.size()), token_)) {
        Response e = error(401, "invalid bearer token");
        e.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"fulcrum\", error=\"invalid_token\"");
        return e;
      }
    }
    if (parts.size() == 1 && parts[0] == "metrics") {
      if (req.method != "GET") return method_not_allowed("GET");
      return Response{200, "text/plain; version=0.0.4; charset=utf-8", render_metrics(view, this), {}};
    }
    if (parts.size() < 3 || parts[0] != "api" || parts[1] != "v1") {
      return error(404, "no such endpoint: " + req.path + " (see docs/API.md)");
    }
    const lb::BalancerConfig& cfg = view.balancer.config();
    const std::string_view what = parts[2];

    if (parts.size() == 3 && what == "status") {
      if (req.method != "GET") return method_not_allowed("GET");
      uint64_t active = 0;
      std::size_t backends = 0;
      for (const auto& v : cfg.vips) backends += v.backends.size();
      for (const lb::SwitchState* sw : view.switches()) {
        for (const auto& v : sw->vips) {
          for (const auto& b : v.backends) active += b.active;
        }
      }
      json j{{"version", "0.1.0"},
             {"started", iso_time(view.started)},
             {"uptime_s", std::chrono::duration<double>(view.wall_now - view.started).count()},
             {"switches_up", view.switch_count()},
             {"vips", cfg.vips.size()},
             {"backends", backends},
             {"connections_active", active},
             {"counters", counters_json(view.counters())},
             {"api", {{"requests", requests_}, {"changes_since_reload", changes_}}}};
      if (view.controller != nullptr) {
        const ctl::ControllerCounters cc = view.controller_counters();
        j["controller"] = {{"sessions_accepted", cc.sessions_accepted},
                           {"decode_errors", cc.decode_errors},
                           {"errors_sent", cc.errors_sent},
                           {"errors_received", cc.errors_received},
                           {"messages_in", cc.messages_in},
                           {"messages_out", cc.messages_out},
                           {"flow_mods_out", cc.flow_mods_out},
                           {"packet_outs_out", cc.packet_outs_out}};
        j["switches"] = sessions_json(view);
      }
      return json_response(200, j);
    }
    if (parts.size() == 3 && what == "switches") {
      if (req.method != "GET") return method_not_allowed("GET");
      return json_response(200, json{{"switches", sessions_json(view)}});
    }
    if (what != "vips") return error(404, "no such endpoint: " + req.path + " (see docs/API.md)");
    if (parts.size() == 3) {
      if (req.method != "GET") return method_not_allowed("GET");
      json vips = json::array();
      for (const auto& v : cfg.vips) vips.push_back(vip_json(view, v));
      return json_response(200, json{{"vips", vips}});
    }

    // /api/v1/vips/{vip}...: by name or address.
    const std::string vip_id(parts[3]);
    std::size_t vi = cfg.vips.size();
    for (std::size_t i = 0; i < cfg.vips.size(); ++i) {
      if (cfg.vips[i].name == vip_id || cfg.vips[i].ip.str() == vip_id) vi = i;
    }
    if (vi == cfg.vips.size()) {
      std::string known;
      for (const auto& v : cfg.vips) known += (known.empty() ? "" : ", ") + v.name;
      return error(404, "no VIP '" + vip_id + "' (known: " + known + ")");
    }
    const lb::VipSpec& spec = cfg.vips[vi];
    auto commit = [&](lb::BalancerConfig next) {
      apply(std::move(next));
      ++changes_;
    };

    if (parts.size() == 4) {
      if (req.method == "GET") return json_response(200, vip_json(view, spec));
      if (req.method != "PATCH") return method_not_allowed("GET, PATCH");
      Body body = parse_body(req.body, {"policy"}, false);
      if (body.err) return *body.err;
      if (!body.j.contains("policy")) return error(400, "policy: missing (the only field a VIP takes here)");
      const json& p = body.j["policy"];
      auto kind = p.is_string() ? lb::parse_policy(p.get<std::string>()) : std::nullopt;
      if (!kind) {
        return error(400, "policy: unknown policy " + p.dump(-1, ' ', false, json::error_handler_t::replace) +
                              " (expected round-robin, random, least-connections, weighted-round-robin, "
                              "power-of-two, source-hash, combined-paper or combined)");
      }
      lb::BalancerConfig next = cfg;
      next.vips[vi].policy = *kind;
      commit(std::move(next));
      return json_response(200, vip_json(view, view.balancer.config().vips[vi]));
    }
    if (parts[4] != "backends" || parts.size() > 7) {
      return error(404, "no such endpoint: " + req.path + " (see docs/API.md)");
    }
    if (parts.size() == 5) {
      if (req.method == "GET") {
        json list = json::array();
        for (Ipv4Addr ip : backend_ips(view, spec)) list.push_back(backend_json(view, spec, ip));
        return json_response(200, json{{"vip", spec.name}, {"backends", list}});
      }
      if (req.method != "POST") return method_not_allowed("GET, POST");
      Body body = parse_body(req.body, {"ip", "weight", "mode", "capacity_kbps"}, false);
      if (body.err) return *body.err;
      if (!body.j.contains("ip")) return error(400, "ip: missing");
      const json& ipj = body.j["ip"];
      auto ip = ipj.is_string() ? Ipv4Addr::parse(ipj.get<std::string>()) : std::nullopt;
      if (!ip) {
        return error(400, "ip: not an IPv4 address: " + ipj.dump(-1, ' ', false, json::error_handler_t::replace));
      }
      lb::BackendSpec b;
      b.ip = *ip;
      if (auto e = read_weight(body.j, b.weight)) return *e;
      if (auto e = read_mode(body.j, b.mode)) return *e;
      if (auto e = read_capacity(body.j, b.capacity_kbps)) return *e;
      for (const auto& v : cfg.vips) {
        if (v.ip == *ip) return error(409, "ip: " + ip->str() + " is a VIP");
      }
      for (const auto& existing : spec.backends) {
        if (existing.ip == *ip)
          return error(409, "backend " + ip->str() + " is already in the pool of VIP " + spec.name);
      }
      lb::BalancerConfig next = cfg;
      next.vips[vi].backends.push_back(b);
      commit(std::move(next));
      return json_response(201, backend_json(view, view.balancer.config().vips[vi], *ip));
    }

    // /api/v1/vips/{vip}/backends/{ip}[/drain|/activate]
    const std::string ip_text(parts[5]);
    auto ip = Ipv4Addr::parse(ip_text);
    if (!ip) return error(400, "not an IPv4 address: '" + ip_text + "'");
    std::size_t bi = spec.backends.size();
    for (std::size_t i = 0; i < spec.backends.size(); ++i) {
      if (spec.backends[i].ip == *ip) bi = i;
    }
    const bool configured = bi < spec.backends.size();
    auto not_in_pool = [&] { return error(404, "backend " + ip->str() + " is not in the pool of VIP " + spec.name); };

    if (parts.size() == 7) {
      const bool drain = parts[6] == "drain";
      if (!drain && parts[6] != "activate") return error(404, "no such endpoint: " + req.path + " (see docs/API.md)");
      if (req.method != "POST") return method_not_allowed("POST");
      Body body = parse_body(req.body, {}, true);
      if (body.err) return *body.err;
      if (!configured) return not_in_pool();
      lb::BalancerConfig next = cfg;
      next.vips[vi].backends[bi].mode = drain ? lb::BackendMode::Drain : lb::BackendMode::Active;
      commit(std::move(next));
      return json_response(200, backend_json(view, view.balancer.config().vips[vi], *ip));
    }
    if (req.method == "GET") {
      const auto ips = backend_ips(view, spec);
      if (std::find(ips.begin(), ips.end(), *ip) == ips.end()) return not_in_pool();
      return json_response(200, backend_json(view, spec, *ip));
    }
    if (req.method == "PATCH") {
      Body body = parse_body(req.body, {"weight", "mode", "capacity_kbps"}, false);
      if (body.err) return *body.err;
      if (body.j.empty()) return error(400, "request body: nothing to change (weight, mode or capacity_kbps)");
      if (!configured) return not_in_pool();
      lb::BalancerConfig next = cfg;
      lb::BackendSpec& b = next.vips[vi].backends[bi];
      if (auto e = read_weight(body.j, b.weight)) return *e;
      if (auto e = read_mode(body.j, b.mode)) return *e;
      if (auto e = read_capacity(body.j, b.capacity_kbps)) return *e;
      commit(std::move(next));
      return json_response(200, backend_json(view, view.balancer.config().vips[vi], *ip));
    }
    if (req.method == "DELETE") {
      if (!configured) return not_in_pool();
      if (spec.backends.size() == 1) {
        return error(409,
                     "cannot remove " + ip->str() + ", the last backend of VIP " + spec.name + " (drain it instead)");
      }
      const std::string vip_name = spec.name;  // `spec` does not outlive the change
      lb::BalancerConfig next = cfg;
      next.vips[vi].backends.erase(next.vips[vi].backends.begin() + static_cast<std::ptrdiff_t>(bi));
      commit(std::move(next));
      // Its connections carry on until they end (Balancer::reconfigure).
      json j{{"removed", ip->str()}, {"vip", vip_name}};
      const auto ips = backend_ips(view, view.balancer.config().vips[vi]);
      if (std::find(ips.begin(), ips.end(), *ip) != ips.end()) {
        j["backend"] = backend_json(view, view.balancer.config().vips[vi], *ip);
      }
      return json_response(200, j);
    }
    return method_not_allowed("GET, PATCH, DELETE");
  }();
  auto it = std::find_if(by_status_.begin(), by_status_.end(), [&](const auto& p) { return p.first == r.status; });
  if (it == by_status_.end()) {
    by_status_.emplace_back(r.status, 1);
  } else {
    ++it->second;
  }
  return r;
}

}  // namespace fulcrum::api
