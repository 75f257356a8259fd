// Start-up configuration: a YAML file and/or command-line flags.
// Errors here are exceptions (ConfigError) naming the bad field: they happen
// once, at start-up, before any switch is served.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "balancer/types.hpp"
#include "openflow/messages.hpp"

namespace fulcrum::config {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The REST API, /metrics and the dashboard (src/api). Off unless `listen` is
// set; a listen address other than loopback needs a bearer token.
struct ApiConfig {
  std::optional<std::string> listen_host;  // unset: no API
  uint16_t listen_port = 8080;
  std::optional<std::string> token_file;
  std::string token;  // read from token_file (trailing whitespace dropped)
};

struct AppConfig {
  std::string listen_host = "0.0.0.0";
  uint16_t listen_port = 6653;
  std::vector<of::Version> of_versions = {of::Version::V10, of::Version::V13};
  std::string log_level = "info";
  std::optional<std::string> pid_file;
  std::optional<uint64_t> seed;  // unset: from the OS
  double echo_interval_s = 5.0;  // idle time before Fulcrum sends an echo request
  double echo_timeout_s = 15.0;  // silence after which a switch is dropped
  // Event-loop threads (shards); each switch connection lives on one of them.
  // Changes only on restart.
  int threads = 1;
  ApiConfig api;
  lb::BalancerConfig balancer;
};

// Parses a YAML document (text). `source` names it in error messages.
AppConfig parse_yaml(const std::string& text, const std::string& source = "config");
AppConfig load_yaml_file(const std::string& path);

// Checks cross-field rules (at least one VIP, distinct addresses, ...).
void validate(const AppConfig& cfg);

// Parses argv (with --config FILE loaded first, flags overriding it).
// Returns nullopt when the program should exit with `exit_code` (--help,
// --version, or a usage error already printed).
struct ParseOutcome {
  std::optional<AppConfig> config;
  int exit_code = 0;
};
ParseOutcome parse_command_line(int argc, char** argv);

// Helpers shared with the YAML parser; throw ConfigError naming `field`.
std::pair<std::string, uint16_t> parse_host_port(const std::string& s, const std::string& field);
std::vector<Ipv4Addr> parse_ip_list(const std::string& s, const std::string& field);
// Reads an API bearer token file: a regular file not readable by others, one
// token of at least 16 printable characters (a trailing newline is dropped).
std::string load_token_file(const std::string& path, const std::string& field);
bool is_loopback(const std::string& host);

std::vector<of::Version> parse_versions(const std::vector<std::string>& items, const std::string& field);

}  // namespace fulcrum::config
