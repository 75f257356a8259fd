// fulcrum: the controller executable. Start-up (config, logging, pid file)
// may throw; once serving, errors are values handled where they happen.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <asio.hpp>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <random>

#include "api/api.hpp"
#include "api/server.hpp"
#include "balancer/balancer.hpp"
#include "balancer/rng.hpp"
#include "config/config.hpp"
#include "controller/controller.hpp"
#include "controller/shards.hpp"

namespace {

class PidFile {
 public:
  explicit PidFile(std::optional<std::string> path) : path_(std::move(path)) {
    if (!path_) return;
    std::ofstream out(*path_);
    if (!out) throw std::runtime_error("--pid-file: cannot write '" + *path_ + "'");
    out << ::getpid() << "\n";
  }
  ~PidFile() {
    if (path_) std::remove(path_->c_str());
  }
  PidFile(const PidFile&) = delete;
  PidFile& operator=(const PidFile&) = delete;

 private:
  std::optional<std::string> path_;
};

int run(const fulcrum::config::AppConfig& cfg, int argc, char** argv) {
  using namespace fulcrum;
  const auto started = std::chrono::system_clock::now();
  uint64_t seed = cfg.seed.value_or((uint64_t{std::random_device{}()} << 32) ^ std::random_device{}());

  ctl::ControllerConfig cc;
  cc.listen_host = cfg.listen_host;
  cc.listen_port = cfg.listen_port;
  cc.version_bitmap = 0;
  for (auto v : cfg.of_versions) cc.version_bitmap |= of::version_bit(v);
  cc.echo_interval = std::chrono::milliseconds(static_cast<int64_t>(cfg.echo_interval_s * 1000));
  cc.echo_timeout = std::chrono::milliseconds(static_cast<int64_t>(cfg.echo_timeout_s * 1000));

  // One io_context per shard, each with its own balancer and controller
  // part; shard 0 runs on this thread and also serves signals and the API.
  ctl::Shards shards(static_cast<std::size_t>(cfg.threads), cc, cfg.balancer, seed);
  asio::io_context& io = shards.io();
  shards.start();
  // The API's state is read and changed only on this thread (shard 0); the
  // HTTP server's threads post each request here.
  api::Api api(cfg.api.token);
  std::optional<api::Server> api_server;
  if (cfg.api.listen_host) {
    api_server.emplace(shards, api, started);
    api_server->start(*cfg.api.listen_host, cfg.api.listen_port);
  }
  PidFile pid(cfg.pid_file);
  for (const auto& vip : cfg.balancer.vips) {
    std::string backends;
    for (const auto& b : vip.backends) backends += (backends.empty() ? "" : ",") + b.ip.str();
    spdlog::info("vip {} ip={} port={} protocol={} policy={} backends={}", vip.name, vip.ip.str(),
                 vip.port ? std::to_string(*vip.port) : "any",
                 vip.ip_proto == 6    ? "tcp"
                 : vip.ip_proto == 17 ? "udp"
                                      : "tcp+udp",
                 lb::policy_name(vip.policy), backends);
  }
  spdlog::info("fake MAC {}, idle timeout {} s, learning switch {}, random seed {}", cfg.balancer.fake_mac.str(),
               cfg.balancer.idle_timeout_s, cfg.balancer.learning_switch ? "on" : "off", seed);

  // SIGHUP: read the configuration again (file and flags) and apply it
  // without dropping switches, learned backends or connections.
  asio::signal_set hup(io, SIGHUP);
  std::function<void()> arm_hup = [&] {
    hup.async_wait([&](asio::error_code ec, int) {
      if (ec) return;
      spdlog::info("SIGHUP: reloading configuration");
      try {
        auto outcome = config::parse_command_line(argc, argv);
        if (outcome.config) {
          const auto& n = *outcome.config;
          if (n.listen_host != cfg.listen_host || n.listen_port != cfg.listen_port ||
              n.of_versions != cfg.of_versions) {
            spdlog::warn("listen address and OpenFlow versions change only on restart; keeping the current ones");
          }
          if (n.api.listen_host != cfg.api.listen_host || n.api.listen_port != cfg.api.listen_port) {
            spdlog::warn("the API listen address changes only on restart; keeping the current one");
          }
          spdlog::set_level(spdlog::level::from_str(n.log_level));
          if (api.changes() > 0) {
            spdlog::warn("SIGHUP: the configuration replaces {} runtime change(s) made through the API", api.changes());
          }
          api.reset_changes();
          if (cfg.api.listen_host) api.set_token(n.api.token);
          if (n.threads != cfg.threads) spdlog::warn("threads changes only on restart; keeping {}", cfg.threads);
          shards.reconfigure(n.balancer);
        }
      } catch (const std::exception& e) {
        spdlog::error("configuration reload failed, keeping the running configuration: {}", e.what());
      }
      arm_hup();
    });
  };
  arm_hup();

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](asio::error_code ec, int sig) {
    if (ec) return;
    spdlog::info("signal {} received, shutting down", sig);
    hup.cancel();
    shards.stop();
  });
  shards.run();
  if (api_server) api_server->stop();
  // Every shard's thread has been joined: their counters can be read here.
  lb::Counters c;
  for (std::size_t i = 0; i < shards.size(); ++i) c += shards.balancer(i).counters();
  spdlog::info("stopped: {} packet-ins, {} connections assigned, {} ended, {} ARP replies, {} spoofed ARPs dropped",
               c.packet_ins, c.connections_assigned, c.connections_ended, c.arp_replies, c.arp_spoof_drops);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  auto logger = spdlog::stderr_color_mt("fulcrum");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ %v");
  try {
    auto outcome = fulcrum::config::parse_command_line(argc, argv);
    if (!outcome.config) return outcome.exit_code;
    spdlog::set_level(spdlog::level::from_str(outcome.config->log_level));
    spdlog::flush_on(spdlog::level::trace);
    return run(*outcome.config, argc, argv);
  } catch (const fulcrum::config::ConfigError& e) {
    std::cerr << "fulcrum: configuration error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "fulcrum: " << e.what() << "\n";
    return 1;
  }
}
