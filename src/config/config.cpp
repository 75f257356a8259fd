#include "config/config.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include "agent/report.hpp"
#include "balancer/scoring.hpp"

namespace fulcrum::config {

namespace {

[[noreturn]] void bad(const std::string& field, const std::string& why) { throw ConfigError(field + ": " + why); }

Ipv4Addr parse_ip(const std::string& s, const std::string& field) {
  auto ip = Ipv4Addr::parse(s);
  if (!ip) bad(field, "not an IPv4 address: '" + s + "'");
  return *ip;
}

MacAddr parse_mac(const std::string& s, const std::string& field) {
  auto mac = MacAddr::parse(s);
  if (!mac) bad(field, "not a MAC address: '" + s + "'");
  if (mac->is_multicast() || mac->is_zero()) bad(field, "fake MAC must be a unicast, non-zero address: '" + s + "'");
  return *mac;
}

uint8_t parse_protocol(const std::string& s, const std::string& field) {
  if (s == "tcp") return 6;
  if (s == "udp") return 17;
  if (s == "any") return 0;
  bad(field, "expected tcp, udp or any, got '" + s + "'");
}

lb::PolicyKind parse_policy_field(const std::string& s, const std::string& field) {
  auto k = lb::parse_policy(s);
  if (!k) {
    bad(field, "unknown policy '" + s +
                   "' (expected round-robin, random, least-connections, weighted-round-robin, power-of-two, "
                   "source-hash, combined-paper or combined)");
  }
  return *k;
}

template <typename T>
T scalar(const YAML::Node& n, const std::string& field) {
  try {
    return n.as<T>();
  } catch (const YAML::Exception&) {
    bad(field, "bad value '" + (n.IsScalar() ? n.Scalar() : std::string("<not a scalar>")) + "'");
  }
}

template <typename T>
T ranged(const YAML::Node& n, const std::string& field, long long lo, long long hi) {
  auto v = scalar<long long>(n, field);
  if (v < lo || v > hi) bad(field, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  return static_cast<T>(v);
}

lb::Duration seconds_field(const YAML::Node& n, const std::string& field, double min_s, double max_s) {
  auto v = scalar<double>(n, field);
  if (!(v >= min_s && v <= max_s)) {
    bad(field, fmt::format("must be between {} and {} seconds", min_s, max_s));
  }
  return std::chrono::duration_cast<lb::Duration>(std::chrono::duration<double>(v));
}

void check_keys(const YAML::Node& map, const std::string& where, std::initializer_list<const char*> allowed) {
  for (const auto& kv : map) {
    auto key = kv.first.as<std::string>();
    if (std::none_of(allowed.begin(), allowed.end(), [&](const char* a) { return key == a; })) {
      bad(where.empty() ? key : where + "." + key, "unknown field");
    }
  }
}

lb::HealthCheckKind parse_check_kind(const std::string& s, const std::string& field) {
  if (s == "tcp") return lb::HealthCheckKind::Tcp;
  if (s == "icmp") return lb::HealthCheckKind::Icmp;
  if (s == "arp") return lb::HealthCheckKind::Arp;
  if (s == "none") return lb::HealthCheckKind::None;
  bad(field, "expected tcp, icmp, arp or none, got '" + s + "'");
}

lb::HealthCheckConfig parse_health(const YAML::Node& n, const std::string& where) {
  if (!n.IsMap()) bad(where, "expected a mapping");
  check_keys(n, where, {"type", "interval", "timeout", "rise", "fall", "port"});
  lb::HealthCheckConfig h;
  if (n["type"]) h.kind = parse_check_kind(scalar<std::string>(n["type"], where + ".type"), where + ".type");
  if (n["interval"]) h.interval = seconds_field(n["interval"], where + ".interval", 0.05, 3600);
  if (n["timeout"]) h.timeout = seconds_field(n["timeout"], where + ".timeout", 0.01, 3600);
  if (n["rise"]) h.rise = ranged<uint32_t>(n["rise"], where + ".rise", 1, 100);
  if (n["fall"]) h.fall = ranged<uint32_t>(n["fall"], where + ".fall", 1, 100);
  if (n["port"]) h.tcp_port = ranged<uint16_t>(n["port"], where + ".port", 1, 65535);
  if (h.timeout > h.interval) bad(where + ".timeout", "must not be longer than the interval");
  return h;
}

lb::MetricRange parse_range(const YAML::Node& n, const std::string& field) {
  if (!n.IsSequence() || n.size() != 2) bad(field, "expected [worst, best]");
  lb::MetricRange r{scalar<double>(n[0], field + "[0]"), scalar<double>(n[1], field + "[1]")};
  if (r.worst == r.best) bad(field, "worst and best must differ");
  return r;
}

lb::ScoringConfig parse_scoring(const YAML::Node& n, const std::string& where) {
  if (!n.IsMap()) bad(where, "expected a mapping");
  check_keys(n, where, {"weights", "ranges", "max_age", "combined"});
  lb::ScoringConfig sc;
  if (const YAML::Node& w = n["weights"]) {
    std::string f = where + ".weights";
    if (!w.IsMap()) bad(f, "expected a mapping");
    check_keys(w, f, {"cpu", "memory", "latency", "bandwidth"});
    auto weight = [&](const char* k, double& out) {
      if (!w[k]) return;
      out = scalar<double>(w[k], f + "." + k);
      if (out < 0) bad(f + "." + k, "must not be negative");
    };
    weight("cpu", sc.weight_cpu);
    weight("memory", sc.weight_memory);
    weight("latency", sc.weight_latency);
    weight("bandwidth", sc.weight_bandwidth);
    if (sc.weight_cpu + sc.weight_memory + sc.weight_latency + sc.weight_bandwidth <= 0) bad(f, "all weights are zero");
  }
  if (const YAML::Node& r = n["ranges"]) {
    std::string f = where + ".ranges";
    if (!r.IsMap()) bad(f, "expected a mapping");
    check_keys(r, f, {"cpu", "memory", "latency_ms", "bandwidth_kbps"});
    if (r["cpu"]) sc.cpu_pct = parse_range(r["cpu"], f + ".cpu");
    if (r["memory"]) sc.memory_pct = parse_range(r["memory"], f + ".memory");
    if (r["latency_ms"]) sc.latency_ms = parse_range(r["latency_ms"], f + ".latency_ms");
    if (r["bandwidth_kbps"]) sc.bandwidth_kbps = parse_range(r["bandwidth_kbps"], f + ".bandwidth_kbps");
  }
  if (n["max_age"]) sc.max_age = seconds_field(n["max_age"], where + ".max_age", 0.1, 3600);
  if (const YAML::Node& c = n["combined"]) {
    // Knobs of the combined policy (docs/POLICIES.md); validate() checks ranges.
    std::string f = where + ".combined";
    if (!c.IsMap()) bad(f, "expected a mapping");
    check_keys(c, f,
               {"service_prior_ms", "round_trips", "response_kbit", "memory_knee_pct", "tie_band", "tie_ms",
                "rate_window_s", "pool_requests"});
    if (c["service_prior_ms"]) sc.service_prior_ms = scalar<double>(c["service_prior_ms"], f + ".service_prior_ms");
    if (c["round_trips"]) sc.round_trips = scalar<double>(c["round_trips"], f + ".round_trips");
    if (c["response_kbit"]) sc.response_kbit = scalar<double>(c["response_kbit"], f + ".response_kbit");
    if (c["memory_knee_pct"]) sc.memory_knee_pct = scalar<double>(c["memory_knee_pct"], f + ".memory_knee_pct");
    if (c["tie_band"]) sc.tie_band = scalar<double>(c["tie_band"], f + ".tie_band");
    if (c["tie_ms"]) sc.tie_ms = scalar<double>(c["tie_ms"], f + ".tie_ms");
    if (c["rate_window_s"]) sc.rate_window_s = scalar<double>(c["rate_window_s"], f + ".rate_window_s");
    if (c["pool_requests"]) sc.pool_requests = scalar<double>(c["pool_requests"], f + ".pool_requests");
  }
  if (auto err = lb::validate(sc)) bad(where, *err);
  return sc;
}

void load_agent_key(lb::AgentConfig& agent, const std::string& path, const std::string& field) {
  std::string err;
  auto key = agent::load_key_file(path, &err);
  if (!key) bad(field, err);
  agent.key = std::move(*key);
  agent.enabled = true;
}

lb::VipSpec parse_vip(const YAML::Node& n, const std::string& where) {
  if (!n.IsMap()) bad(where, "expected a mapping");
  check_keys(
      n, where,
      {"name", "ip", "port", "protocol", "policy", "fake_mac", "backends", "health_check", "on_down", "scoring"});
  lb::VipSpec v;
  if (!n["ip"]) bad(where + ".ip", "missing");
  v.ip = parse_ip(scalar<std::string>(n["ip"], where + ".ip"), where + ".ip");
  v.name = n["name"] ? scalar<std::string>(n["name"], where + ".name") : v.ip.str();
  if (n["port"]) v.port = ranged<uint16_t>(n["port"], where + ".port", 1, 65535);
  if (n["protocol"])
    v.ip_proto = parse_protocol(scalar<std::string>(n["protocol"], where + ".protocol"), where + ".protocol");
  if (n["policy"])
    v.policy = parse_policy_field(scalar<std::string>(n["policy"], where + ".policy"), where + ".policy");
  if (n["fake_mac"])
    v.fake_mac = parse_mac(scalar<std::string>(n["fake_mac"], where + ".fake_mac"), where + ".fake_mac");
  if (n["health_check"]) v.health = parse_health(n["health_check"], where + ".health_check");
  if (n["scoring"]) v.scoring = parse_scoring(n["scoring"], where + ".scoring");
  if (n["on_down"]) {
    auto s = scalar<std::string>(n["on_down"], where + ".on_down");
    if (s == "keep") {
      v.on_down = lb::OnDown::KeepFlows;
    } else if (s == "reset") {
      v.on_down = lb::OnDown::RemoveFlows;
    } else {
      bad(where + ".on_down", "expected keep (existing connections stay) or reset (their flows are removed)");
    }
  }
  const YAML::Node& bs = n["backends"];
  if (!bs || !bs.IsSequence() || bs.size() == 0) bad(where + ".backends", "must be a non-empty list");
  for (std::size_t i = 0; i < bs.size(); ++i) {
    std::string f = where + ".backends[" + std::to_string(i) + "]";
    lb::BackendSpec b;
    if (bs[i].IsScalar()) {
      b.ip = parse_ip(bs[i].Scalar(), f);
    } else if (bs[i].IsMap()) {
      check_keys(bs[i], f, {"ip", "weight", "mode", "capacity_kbps"});
      if (!bs[i]["ip"]) bad(f + ".ip", "missing");
      b.ip = parse_ip(scalar<std::string>(bs[i]["ip"], f + ".ip"), f + ".ip");
      if (bs[i]["weight"]) b.weight = ranged<uint32_t>(bs[i]["weight"], f + ".weight", 1, 1000000);
      if (bs[i]["mode"]) {
        auto m = scalar<std::string>(bs[i]["mode"], f + ".mode");
        if (m == "active") {
          b.mode = lb::BackendMode::Active;
        } else if (m == "drain") {
          b.mode = lb::BackendMode::Drain;
        } else {
          bad(f + ".mode", "expected active or drain, got '" + m + "'");
        }
      }
      if (bs[i]["capacity_kbps"]) {
        b.capacity_kbps = ranged<uint64_t>(bs[i]["capacity_kbps"], f + ".capacity_kbps", 1, 1000000000000LL);
      }
    } else {
      bad(f, "expected an IP address or a mapping with ip and weight");
    }
    v.backends.push_back(b);
  }
  return v;
}

}  // namespace

std::pair<std::string, uint16_t> parse_host_port(const std::string& s, const std::string& field) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0) bad(field, "expected HOST:PORT, got '" + s + "'");
  std::string host = s.substr(0, colon);
  std::string port_s = s.substr(colon + 1);
  unsigned port = 0;
  auto [p, ec] = std::from_chars(port_s.data(), port_s.data() + port_s.size(), port);
  if (ec != std::errc() || p != port_s.data() + port_s.size() || port == 0 || port > 65535) {
    bad(field, "bad port in '" + s + "'");
  }
  if (!Ipv4Addr::parse(host) && host != "localhost") bad(field, "host must be an IPv4 address: '" + s + "'");
  return {host == "localhost" ? "127.0.0.1" : host, static_cast<uint16_t>(port)};
}

std::vector<Ipv4Addr> parse_ip_list(const std::string& s, const std::string& field) {
  std::vector<Ipv4Addr> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) bad(field, "empty entry in '" + s + "'");
    out.push_back(parse_ip(item, field));
  }
  if (out.empty()) bad(field, "empty list");
  return out;
}

std::string load_token_file(const std::string& path, const std::string& field) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) bad(field, "cannot read '" + path + "'");
  if (!S_ISREG(st.st_mode)) bad(field, "'" + path + "' is not a regular file");
  if ((st.st_mode & (S_IROTH | S_IWOTH)) != 0) {
    bad(field, "'" + path + "' is readable or writable by others; run chmod 600 (or 640) on it");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) bad(field, "cannot read '" + path + "'");
  std::string token((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) token.pop_back();
  if (token.size() < 16) bad(field, "the token in '" + path + "' is shorter than 16 characters");
  if (!std::all_of(token.begin(), token.end(), [](char ch) { return ch > 0x20 && ch < 0x7f; })) {
    bad(field, "the token in '" + path + "' must be printable ASCII without spaces");
  }
  return token;
}

bool is_loopback(const std::string& host) {
  auto ip = Ipv4Addr::parse(host);
  return ip && (ip->v >> 24) == 127;
}

std::vector<of::Version> parse_versions(const std::vector<std::string>& items, const std::string& field) {
  std::vector<of::Version> out;
  for (const auto& v : items) {
    if (v == "1.0" || v == "10" || v == "OpenFlow10") {
      out.push_back(of::Version::V10);
    } else if (v == "1.3" || v == "13" || v == "OpenFlow13") {
      out.push_back(of::Version::V13);
    } else {
      bad(field, "unsupported OpenFlow version '" + v + "' (expected 1.0 or 1.3)");
    }
  }
  if (out.empty()) bad(field, "no OpenFlow version");
  return out;
}

AppConfig parse_yaml(const std::string& text, const std::string& source) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(source + ": YAML syntax error: " + e.what());
  }
  AppConfig c;
  if (root.IsNull()) return c;
  if (!root.IsMap()) bad(source, "top level must be a mapping");
  check_keys(
      root, "",
      {"listen", "of_versions", "log_level", "pid_file", "seed", "echo_interval", "echo_timeout", "threads", "fake_mac",
       "idle_timeout", "hard_timeout", "learning_switch", "vips", "agent", "monitor", "connection_linger", "api"});
  if (root["listen"])
    std::tie(c.listen_host, c.listen_port) = parse_host_port(scalar<std::string>(root["listen"], "listen"), "listen");
  if (root["of_versions"]) {
    if (!root["of_versions"].IsSequence()) bad("of_versions", "expected a list such as [1.0, 1.3]");
    std::vector<std::string> items;
    for (const auto& v : root["of_versions"]) items.push_back(v.Scalar());
    c.of_versions = parse_versions(items, "of_versions");
  }
  if (root["log_level"]) c.log_level = scalar<std::string>(root["log_level"], "log_level");
  if (root["pid_file"]) c.pid_file = scalar<std::string>(root["pid_file"], "pid_file");
  if (root["seed"]) c.seed = scalar<uint64_t>(root["seed"], "seed");
  if (root["echo_interval"]) c.echo_interval_s = scalar<double>(root["echo_interval"], "echo_interval");
  if (root["echo_timeout"]) c.echo_timeout_s = scalar<double>(root["echo_timeout"], "echo_timeout");
  if (root["threads"]) c.threads = ranged<int>(root["threads"], "threads", 1, 64);
  auto& b = c.balancer;
  if (root["fake_mac"]) b.fake_mac = parse_mac(scalar<std::string>(root["fake_mac"], "fake_mac"), "fake_mac");
  if (root["idle_timeout"]) b.idle_timeout_s = ranged<uint16_t>(root["idle_timeout"], "idle_timeout", 1, 65535);
  if (root["hard_timeout"]) b.hard_timeout_s = ranged<uint16_t>(root["hard_timeout"], "hard_timeout", 0, 65535);
  if (root["connection_linger"]) {
    b.connection_linger = seconds_field(root["connection_linger"], "connection_linger", 0, 86400);
  }
  if (root["learning_switch"]) b.learning_switch = scalar<bool>(root["learning_switch"], "learning_switch");
  if (const YAML::Node& a = root["agent"]) {
    if (!a.IsMap()) bad("agent", "expected a mapping");
    check_keys(a, "agent", {"enabled", "port", "key_file", "max_age", "silence_timeout"});
    b.agent.enabled = a["enabled"] ? scalar<bool>(a["enabled"], "agent.enabled") : true;
    if (a["port"]) b.agent.port = ranged<uint16_t>(a["port"], "agent.port", 1, 65535);
    if (a["max_age"]) b.agent.max_age = seconds_field(a["max_age"], "agent.max_age", 0.1, 3600);
    if (a["silence_timeout"]) {
      b.agent.silence_timeout = seconds_field(a["silence_timeout"], "agent.silence_timeout", 0, 3600);
    }
    if (b.agent.enabled) {
      if (!a["key_file"]) bad("agent.key_file", "missing (reports are authenticated with HMAC-SHA256)");
      load_agent_key(b.agent, scalar<std::string>(a["key_file"], "agent.key_file"), "agent.key_file");
    }
  }
  if (const YAML::Node& m = root["monitor"]) {
    if (!m.IsMap()) bad("monitor", "expected a mapping");
    check_keys(m, "monitor",
               {"latency_probe_interval", "latency_probe_timeout", "rtt_smoothing", "port_stats_interval",
                "metrics_log_interval"});
    auto& mc = b.monitor;
    auto secs = [&](const char* k, lb::Duration& out, double lo, double hi) {
      if (m[k]) out = seconds_field(m[k], std::string("monitor.") + k, lo, hi);
    };
    secs("latency_probe_interval", mc.latency_probe_interval, 0, 3600);
    secs("latency_probe_timeout", mc.latency_probe_timeout, 0.01, 3600);
    secs("port_stats_interval", mc.port_stats_interval, 0, 3600);
    secs("metrics_log_interval", mc.metrics_log_interval, 0, 86400);
    if (m["rtt_smoothing"]) {
      mc.rtt_smoothing = scalar<double>(m["rtt_smoothing"], "monitor.rtt_smoothing");
      if (!(mc.rtt_smoothing > 0 && mc.rtt_smoothing <= 1)) bad("monitor.rtt_smoothing", "must be in (0, 1]");
    }
  }
  if (const YAML::Node& a = root["api"]) {
    if (!a.IsMap()) bad("api", "expected a mapping");
    check_keys(a, "api", {"listen", "token_file"});
    if (!a["listen"]) bad("api.listen", "missing (HOST:PORT, e.g. 127.0.0.1:8080)");
    std::string host;
    std::tie(host, c.api.listen_port) = parse_host_port(scalar<std::string>(a["listen"], "api.listen"), "api.listen");
    c.api.listen_host = host;
    if (a["token_file"]) {
      c.api.token_file = scalar<std::string>(a["token_file"], "api.token_file");
      c.api.token = load_token_file(*c.api.token_file, "api.token_file");
    }
  }
  if (root["vips"]) {
    if (!root["vips"].IsSequence()) bad("vips", "expected a list");
    for (std::size_t i = 0; i < root["vips"].size(); ++i) {
      b.vips.push_back(parse_vip(root["vips"][i], "vips[" + std::to_string(i) + "]"));
    }
  }
  return c;
}

AppConfig load_yaml_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError("--config: cannot read '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_yaml(ss.str(), path);
}

void validate(const AppConfig& c) {
  static const std::set<std::string> levels = {"trace", "debug", "info", "warn", "error", "critical", "off"};
  if (!levels.contains(c.log_level)) bad("log_level", "expected one of trace, debug, info, warn, error, critical, off");
  if (c.echo_interval_s <= 0) bad("echo_interval", "must be positive");
  if (c.echo_timeout_s <= c.echo_interval_s) bad("echo_timeout", "must be longer than echo_interval");
  if (c.threads < 1 || c.threads > 64) bad("threads", "must be between 1 and 64");
  if (c.api.listen_host && !is_loopback(*c.api.listen_host) && c.api.token.empty()) {
    bad("api.token_file", "required when the API listens on a non-loopback address (" + *c.api.listen_host + ":" +
                              std::to_string(c.api.listen_port) + ")");
  }
  const auto& vips = c.balancer.vips;
  if (vips.empty()) bad("vips", "no VIP configured (use --vip and --backends, or vips: in --config)");
  std::set<uint32_t> vip_ips;
  for (std::size_t i = 0; i < vips.size(); ++i) {
    std::string where = "vips[" + std::to_string(i) + "]";
    if (!vip_ips.insert(vips[i].ip.v).second) bad(where + ".ip", "duplicate VIP " + vips[i].ip.str());
    std::set<uint32_t> seen;
    for (std::size_t j = 0; j < vips[i].backends.size(); ++j) {
      const auto& ip = vips[i].backends[j].ip;
      std::string f = where + ".backends[" + std::to_string(j) + "]";
      if (!seen.insert(ip.v).second) bad(f, "duplicate backend " + ip.str());
      if (ip == vips[i].ip) bad(f, "a backend cannot be the VIP itself");
    }
  }
  for (std::size_t i = 0; i < vips.size(); ++i) {
    for (const auto& b : vips[i].backends) {
      if (vip_ips.contains(b.ip.v)) bad("vips[" + std::to_string(i) + "].backends", b.ip.str() + " is also a VIP");
    }
  }
}

ParseOutcome parse_command_line(int argc, char** argv) {
  CLI::App app{
      "Fulcrum: an OpenFlow 1.0/1.3 controller that turns a switch into a transparent server load balancer.\n"
      "Clients talk to a virtual IP (VIP) and a fake MAC; each new TCP/UDP connection is sent to a backend\n"
      "chosen by the policy, with the switch rewriting addresses both ways."};
  app.set_version_flag("--version", "fulcrum 0.1.0");
  std::string config_path, listen, vip, backends, policy, fake_mac, log_level, pid_file, protocol, of_versions;
  int vip_port = 0;
  int idle_timeout = -1, hard_timeout = -1;
  uint64_t seed = 0;
  double echo_interval = 0, echo_timeout = 0;
  int threads = 0;
  bool no_learning = false;
  std::string health_check, agent_key_file, api_listen, api_token_file;
  int agent_port = 0;
  double metrics_log_interval = -1;
  app.add_option("-c,--config", config_path, "YAML configuration file (flags below override it)");
  app.add_option("--listen", listen, "address:port to accept switch connections on [0.0.0.0:6653]");
  app.add_option("--vip", vip, "virtual IP of a single VIP (replaces the config file's vips)");
  app.add_option("--backends", backends, "comma-separated backend IPs for --vip, e.g. 10.0.0.11,10.0.0.12");
  app.add_option("--vip-port", vip_port, "balance only this TCP/UDP destination port of --vip [all ports]")
      ->check(CLI::Range(1, 65535));
  app.add_option("--protocol", protocol, "protocols balanced for --vip: tcp, udp or any [any]");
  app.add_option("--policy", policy, "backend choice for --vip: round-robin or random [round-robin]");
  app.add_option("--fake-mac", fake_mac, "MAC address the VIPs answer with [02:00:00:00:00:fe]");
  app.add_option("--idle-timeout", idle_timeout, "idle timeout of connection flow entries, seconds [10]")
      ->check(CLI::Range(1, 65535));
  app.add_option("--hard-timeout", hard_timeout, "hard timeout of connection flow entries, 0 = none [0]")
      ->check(CLI::Range(0, 65535));
  app.add_option("--health-check", health_check, "active check for --vip backends: tcp, icmp, arp or none [tcp]");
  app.add_option("--agent-key-file", agent_key_file,
                 "accept fulcrum-agent reports authenticated with the key in this file (enables agents)");
  app.add_option("--agent-port", agent_port, "UDP port of the VIP that agents report to [7070]")
      ->check(CLI::Range(1, 65535));
  app.add_option("--metrics-log-interval", metrics_log_interval,
                 "seconds between log lines with every backend's metrics, 0 = never [10]");
  app.add_option("--api-listen", api_listen,
                 "serve the REST API, /metrics and the dashboard on HOST:PORT, e.g. 127.0.0.1:8080 [off]");
  app.add_option("--api-token-file", api_token_file,
                 "require this bearer token (file, mode 600) on the API; needed for a non-loopback --api-listen");
  app.add_flag("--no-learning-switch", no_learning, "drop traffic that is not for a VIP instead of L2-forwarding it");
  app.add_option("--of-versions", of_versions, "OpenFlow versions accepted, e.g. 1.0,1.3 [1.0,1.3]");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical or off [info]");
  app.add_option("--pid-file", pid_file, "write the process id to this file");
  app.add_option("--seed", seed, "seed for the random policy (reproducible runs) [random]");
  app.add_option("--echo-interval", echo_interval, "seconds of silence before an echo request is sent [5]");
  app.add_option("--echo-timeout", echo_timeout, "seconds of silence before a switch is dropped [15]");
  app.add_option("--threads", threads, "event-loop threads; each switch connection is served by one of them [1]")
      ->check(CLI::Range(1, 64));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return ParseOutcome{std::nullopt, app.exit(e)};
  }

  AppConfig c = config_path.empty() ? AppConfig{} : load_yaml_file(config_path);
  if (!listen.empty()) std::tie(c.listen_host, c.listen_port) = parse_host_port(listen, "--listen");
  if (!of_versions.empty()) {
    std::vector<std::string> items;
    std::stringstream ss(of_versions);
    std::string item;
    while (std::getline(ss, item, ',')) items.push_back(item);
    c.of_versions = parse_versions(items, "--of-versions");
  }
  if (!log_level.empty()) c.log_level = log_level;
  if (!pid_file.empty()) c.pid_file = pid_file;
  if (app.count("--seed")) c.seed = seed;
  if (app.count("--echo-interval")) c.echo_interval_s = echo_interval;
  if (app.count("--echo-timeout")) c.echo_timeout_s = echo_timeout;
  if (app.count("--threads")) c.threads = threads;
  if (!fake_mac.empty()) c.balancer.fake_mac = parse_mac(fake_mac, "--fake-mac");
  if (idle_timeout >= 0) c.balancer.idle_timeout_s = static_cast<uint16_t>(idle_timeout);
  if (hard_timeout >= 0) c.balancer.hard_timeout_s = static_cast<uint16_t>(hard_timeout);
  if (no_learning) c.balancer.learning_switch = false;
  if (!api_listen.empty()) {
    std::string host;
    std::tie(host, c.api.listen_port) = parse_host_port(api_listen, "--api-listen");
    c.api.listen_host = host;
  }
  if (!api_token_file.empty()) {
    c.api.token_file = api_token_file;
    c.api.token = load_token_file(api_token_file, "--api-token-file");
  }
  if (!agent_key_file.empty()) load_agent_key(c.balancer.agent, agent_key_file, "--agent-key-file");
  if (agent_port) c.balancer.agent.port = static_cast<uint16_t>(agent_port);
  if (metrics_log_interval >= 0) {
    c.balancer.monitor.metrics_log_interval =
        std::chrono::duration_cast<lb::Duration>(std::chrono::duration<double>(metrics_log_interval));
  }
  if (!vip.empty()) {
    if (backends.empty()) throw ConfigError("--backends: required with --vip");
    lb::VipSpec v;
    v.ip = parse_ip(vip, "--vip");
    v.name = v.ip.str();
    for (auto ip : parse_ip_list(backends, "--backends")) v.backends.push_back(lb::BackendSpec{ip, 1});
    if (vip_port) v.port = static_cast<uint16_t>(vip_port);
    if (!protocol.empty()) v.ip_proto = parse_protocol(protocol, "--protocol");
    if (!policy.empty()) v.policy = parse_policy_field(policy, "--policy");
    if (!health_check.empty()) v.health.kind = parse_check_kind(health_check, "--health-check");
    c.balancer.vips = {v};
  } else if (!backends.empty() || vip_port || !protocol.empty() || !policy.empty() || !health_check.empty()) {
    throw ConfigError("--vip: required with --backends, --vip-port, --protocol, --policy and --health-check");
  }
  validate(c);
  return ParseOutcome{c, 0};
}

}  // namespace fulcrum::config
