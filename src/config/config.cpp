#include "config/config.hpp"

#include <yaml-cpp/yaml.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

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
  if (!k) bad(field, "unknown policy '" + s + "' (expected round-robin or random)");
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

void check_keys(const YAML::Node& map, const std::string& where, std::initializer_list<const char*> allowed) {
  for (const auto& kv : map) {
    auto key = kv.first.as<std::string>();
    if (std::none_of(allowed.begin(), allowed.end(), [&](const char* a) { return key == a; })) {
      bad(where.empty() ? key : where + "." + key, "unknown field");
    }
  }
}

lb::VipSpec parse_vip(const YAML::Node& n, const std::string& where) {
  if (!n.IsMap()) bad(where, "expected a mapping");
  check_keys(n, where, {"name", "ip", "port", "protocol", "policy", "fake_mac", "backends"});
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
  const YAML::Node& bs = n["backends"];
  if (!bs || !bs.IsSequence() || bs.size() == 0) bad(where + ".backends", "must be a non-empty list");
  for (std::size_t i = 0; i < bs.size(); ++i) {
    std::string f = where + ".backends[" + std::to_string(i) + "]";
    lb::BackendSpec b;
    if (bs[i].IsScalar()) {
      b.ip = parse_ip(bs[i].Scalar(), f);
    } else if (bs[i].IsMap()) {
      check_keys(bs[i], f, {"ip", "weight"});
      if (!bs[i]["ip"]) bad(f + ".ip", "missing");
      b.ip = parse_ip(scalar<std::string>(bs[i]["ip"], f + ".ip"), f + ".ip");
      if (bs[i]["weight"]) b.weight = ranged<uint32_t>(bs[i]["weight"], f + ".weight", 1, 1000000);
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
  check_keys(root, "",
             {"listen", "of_versions", "log_level", "pid_file", "seed", "echo_interval", "echo_timeout", "fake_mac",
              "idle_timeout", "hard_timeout", "learning_switch", "vips"});
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
  auto& b = c.balancer;
  if (root["fake_mac"]) b.fake_mac = parse_mac(scalar<std::string>(root["fake_mac"], "fake_mac"), "fake_mac");
  if (root["idle_timeout"]) b.idle_timeout_s = ranged<uint16_t>(root["idle_timeout"], "idle_timeout", 1, 65535);
  if (root["hard_timeout"]) b.hard_timeout_s = ranged<uint16_t>(root["hard_timeout"], "hard_timeout", 0, 65535);
  if (root["learning_switch"]) b.learning_switch = scalar<bool>(root["learning_switch"], "learning_switch");
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
  bool no_learning = false;
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
  app.add_flag("--no-learning-switch", no_learning, "drop traffic that is not for a VIP instead of L2-forwarding it");
  app.add_option("--of-versions", of_versions, "OpenFlow versions accepted, e.g. 1.0,1.3 [1.0,1.3]");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical or off [info]");
  app.add_option("--pid-file", pid_file, "write the process id to this file");
  app.add_option("--seed", seed, "seed for the random policy (reproducible runs) [random]");
  app.add_option("--echo-interval", echo_interval, "seconds of silence before an echo request is sent [5]");
  app.add_option("--echo-timeout", echo_timeout, "seconds of silence before a switch is dropped [15]");
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
  if (!fake_mac.empty()) c.balancer.fake_mac = parse_mac(fake_mac, "--fake-mac");
  if (idle_timeout >= 0) c.balancer.idle_timeout_s = static_cast<uint16_t>(idle_timeout);
  if (hard_timeout >= 0) c.balancer.hard_timeout_s = static_cast<uint16_t>(hard_timeout);
  if (no_learning) c.balancer.learning_switch = false;
  if (!vip.empty()) {
    if (backends.empty()) throw ConfigError("--backends: required with --vip");
    lb::VipSpec v;
    v.ip = parse_ip(vip, "--vip");
    v.name = v.ip.str();
    for (auto ip : parse_ip_list(backends, "--backends")) v.backends.push_back(lb::BackendSpec{ip, 1});
    if (vip_port) v.port = static_cast<uint16_t>(vip_port);
    if (!protocol.empty()) v.ip_proto = parse_protocol(protocol, "--protocol");
    if (!policy.empty()) v.policy = parse_policy_field(policy, "--policy");
    c.balancer.vips = {v};
  } else if (!backends.empty() || vip_port || !protocol.empty() || !policy.empty()) {
    throw ConfigError("--vip: required with --backends, --vip-port, --protocol and --policy");
  }
  validate(c);
  return ParseOutcome{c, 0};
}

}  // namespace fulcrum::config
