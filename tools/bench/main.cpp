// fulcrum-bench: a load generator for OpenFlow load-balancer controllers, in
// the spirit of cbench. It emulates N OpenFlow 1.0/1.3 switches, answers the
// controller's probes as the switches' hosts would, then sends packet-ins of
// new client connections to a VIP and measures decisions per second, decision
// latency, messages per decision, the spread over backends, errors, and the
// controller's CPU time per decision. See docs/PERFORMANCE.md.
#include <fmt/format.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <asio.hpp>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "emulated_switch.hpp"

namespace fulcrum::bench {
namespace {

using json = nlohmann::ordered_json;
using namespace std::chrono_literals;

struct Options {
  std::string controller = "127.0.0.1:6653";
  std::string of_version = "1.3";
  uint32_t switches = 1;
  uint32_t threads = 1;
  std::vector<int> cpus;
  std::string mode = "throughput";
  uint32_t window = 64;
  double duration_s = 5;
  double warmup_s = 1;
  std::string vip = "10.0.0.100";
  uint16_t vip_port = 80;
  std::string vip_mac = "02:00:00:00:00:fe";
  std::vector<std::string> backends{"10.0.0.11", "10.0.0.12", "10.0.0.13"};
  std::vector<std::string> backend_macs;
  uint32_t clients = 8;
  std::string client_ip_base = "10.1.0.1";
  uint32_t client_ips = 4096;
  uint32_t settle_ms = 1000;
  uint32_t echo_samples = 1000;
  uint32_t decision_timeout_ms = 2000;
  uint64_t dpid_base = 1;
  int controller_pid = 0;
  std::string controller_pidfile;
  std::string json_path;
  bool quiet = false;
};

// ---- process figures ---------------------------------------------------------------

struct ProcSample {
  bool ok = false;
  double cpu_s = 0;  // utime + stime
  long rss_kb = 0;
};

ProcSample sample_proc(int pid) {
  ProcSample s;
  if (pid <= 0) return s;
  std::ifstream stat(fmt::format("/proc/{}/stat", pid));
  std::string line;
  if (!std::getline(stat, line)) return s;
  // Fields after the command name (which may hold spaces): state is field 3,
  // utime 14, stime 15.
  auto close = line.rfind(')');
  if (close == std::string::npos) return s;
  std::istringstream rest(line.substr(close + 2));
  std::vector<std::string> f;
  std::string tok;
  while (rest >> tok) f.push_back(tok);
  if (f.size() < 13) return s;
  const double tck = static_cast<double>(sysconf(_SC_CLK_TCK));
  s.cpu_s = (std::stod(f[11]) + std::stod(f[12])) / tck;
  std::ifstream status(fmt::format("/proc/{}/status", pid));
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) s.rss_kb = std::stol(line.substr(6));
  }
  s.ok = true;
  return s;
}

double self_cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// ---- statistics -----------------------------------------------------------------------

json percentiles(std::vector<uint32_t>& v) {
  json j;
  j["samples"] = v.size();
  if (v.empty()) return j;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v[static_cast<std::size_t>(q * static_cast<double>(v.size() - 1))]; };
  double sum = 0;
  for (uint32_t x : v) sum += x;
  j["min"] = v.front();
  j["p50"] = at(0.50);
  j["p90"] = at(0.90);
  j["p99"] = at(0.99);
  j["p999"] = at(0.999);
  j["max"] = v.back();
  j["mean"] = sum / static_cast<double>(v.size());
  return j;
}

std::string us(const json& j, const char* key) {
  if (!j.contains(key)) return "-";
  return fmt::format("{:.1f}", j[key].get<double>() / 1000.0);
}

// ---- run ----------------------------------------------------------------------------

int run(const Options& o) {
  SwitchParams base;
  auto colon = o.controller.rfind(':');
  if (colon == std::string::npos) throw CLI::ValidationError("--controller", "expected HOST:PORT");
  base.host = o.controller.substr(0, colon);
  base.port = static_cast<uint16_t>(std::stoi(o.controller.substr(colon + 1)));
  if (o.of_version == "1.0" || o.of_version == "10") {
    base.version = of::Version::V10;
  } else if (o.of_version == "1.3" || o.of_version == "13") {
    base.version = of::Version::V13;
  } else {
    throw CLI::ValidationError("--of-version", "1.0 or 1.3");
  }
  auto parse_ip = [](const std::string& s, const char* flag) {
    auto a = Ipv4Addr::parse(s);
    if (!a) throw CLI::ValidationError(flag, "not an IPv4 address: " + s);
    return *a;
  };
  auto parse_mac = [](const std::string& s, const char* flag) {
    auto m = MacAddr::parse(s);
    if (!m) throw CLI::ValidationError(flag, "not a MAC address: " + s);
    return *m;
  };
  base.vip = parse_ip(o.vip, "--vip");
  base.vip_port = o.vip_port;
  base.vip_mac_fallback = parse_mac(o.vip_mac, "--vip-mac");
  if (o.clients < 1 || o.clients > 10) throw CLI::ValidationError("--clients", "1..10 (backends start at port 11)");
  base.clients = o.clients;
  base.client_ip_base = parse_ip(o.client_ip_base, "--client-ip-base");
  base.client_ips = std::max(o.client_ips, o.clients);
  if (!o.backend_macs.empty() && o.backend_macs.size() != o.backends.size()) {
    throw CLI::ValidationError("--backend-macs", "one MAC per backend");
  }
  for (std::size_t i = 0; i < o.backends.size(); ++i) {
    BackendHost b;
    b.ip = parse_ip(o.backends[i], "--backends");
    b.mac = o.backend_macs.empty() ? MacAddr{{0, 0, 0, 0, 0, static_cast<uint8_t>(0x11 + i)}}
                                   : parse_mac(o.backend_macs[i], "--backend-macs");
    b.port = static_cast<of::PortNo>(11 + i);
    base.backends.push_back(b);
  }
  const bool latency_mode = o.mode == "latency";
  if (!latency_mode && o.mode != "throughput") throw CLI::ValidationError("--mode", "throughput or latency");
  base.window = latency_mode ? 1 : std::max<uint32_t>(1, std::min<uint32_t>(o.window, 32768));
  base.settle = std::chrono::milliseconds(o.settle_ms);
  base.echo_samples = o.echo_samples;
  base.decision_timeout = std::chrono::milliseconds(o.decision_timeout_ms);

  int cpid = o.controller_pid;
  if (cpid == 0 && !o.controller_pidfile.empty()) {
    std::ifstream pf(o.controller_pidfile);
    pf >> cpid;
  }

  // Switches over T io_context threads.
  const uint32_t nthreads = std::max<uint32_t>(1, std::min(o.threads, o.switches));
  std::vector<std::unique_ptr<asio::io_context>> ios;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  for (uint32_t t = 0; t < nthreads; ++t) {
    ios.push_back(std::make_unique<asio::io_context>(1));
    guards.push_back(asio::make_work_guard(*ios.back()));
  }
  std::mutex mu;
  std::condition_variable cv;
  uint32_t ready = 0;
  std::vector<std::unique_ptr<EmulatedSwitch>> sws;
  for (uint32_t i = 0; i < o.switches; ++i) {
    SwitchParams p = base;
    p.dpid = o.dpid_base + i;
    sws.push_back(std::make_unique<EmulatedSwitch>(*ios[i % nthreads], p, [&] {
      std::lock_guard lk(mu);
      ++ready;
      cv.notify_all();
    }));
  }
  std::vector<std::thread> threads;
  for (uint32_t t = 0; t < nthreads; ++t) {
    threads.emplace_back([&, t] {
      if (!o.cpus.empty()) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(o.cpus[t % o.cpus.size()], &set);
        sched_setaffinity(0, sizeof(set), &set);
      }
      ios[t]->run();
    });
  }
  for (uint32_t i = 0; i < o.switches; ++i) asio::post(*ios[i % nthreads], [s = sws[i].get()] { s->start(); });

  {
    std::unique_lock lk(mu);
    cv.wait_for(lk, std::chrono::milliseconds(o.settle_ms + 15000), [&] { return ready == o.switches; });
  }

  // Load: warm-up, then the measured window.
  const auto t_load = Clock::now() + 20ms;
  const auto ms = t_load + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.warmup_s));
  const auto me = ms + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.duration_s));
  ProcSample ctl_setup = sample_proc(cpid);
  for (uint32_t i = 0; i < o.switches; ++i) {
    asio::post(*ios[i % nthreads], [s = sws[i].get(), ms, me] { s->begin_load(ms, me); });
  }
  std::this_thread::sleep_until(ms);
  ProcSample ctl0 = sample_proc(cpid);
  double self0 = self_cpu_s();
  std::this_thread::sleep_until(me);
  ProcSample ctl1 = sample_proc(cpid);
  double self1 = self_cpu_s();
  for (uint32_t i = 0; i < o.switches; ++i) asio::post(*ios[i % nthreads], [s = sws[i].get()] { s->stop_load(); });
  std::this_thread::sleep_for(300ms);  // let outstanding decisions complete
  ProcSample ctl_end = sample_proc(cpid);
  for (uint32_t i = 0; i < o.switches; ++i) asio::post(*ios[i % nthreads], [s = sws[i].get()] { s->close(); });
  guards.clear();
  for (auto& t : threads) t.join();

  // Aggregate.
  const std::size_t nb = base.backends.size();
  const double window_s = std::chrono::duration<double>(me - ms).count();
  uint64_t decisions = 0, decisions_total = 0, flow_mods = 0, packet_outs = 0, messages_in = 0, timeouts = 0,
           errors = 0, undecodable = 0, by_fm = 0, by_po = 0, arp_answered = 0, icmp_answered = 0, tcp_answered = 0,
           stats_requests = 0, barrier_requests = 0, role_requests = 0, sent = 0;
  std::vector<uint64_t> per_second;
  std::vector<uint64_t> spread(nb + kSpreadExtras, 0);
  std::vector<uint32_t> lat, echo;
  json failures = json::array(), first_errors = json::array(), per_switch = json::array();
  std::string vip_arp, vip_mac, version;
  uint32_t up = 0;
  for (auto& s : sws) {
    const SwitchResult& r = s->result();
    if (!r.failure.empty()) failures.push_back(r.failure);
    if (r.handshake_done) ++up;
    if (version.empty()) version = r.version;
    if (vip_arp.empty() || vip_arp == "none") vip_arp = r.vip_arp;
    if (vip_mac.empty()) vip_mac = r.vip_mac;
    decisions += r.decisions;
    decisions_total += r.decisions_total;
    flow_mods += r.flow_mods;
    packet_outs += r.packet_outs;
    messages_in += r.messages_in;
    timeouts += r.timeouts;
    errors += r.errors;
    undecodable += r.undecodable;
    by_fm += r.completed_by_flow_mod;
    by_po += r.completed_by_packet_out;
    arp_answered += r.arp_probes_answered;
    icmp_answered += r.icmp_probes_answered;
    tcp_answered += r.tcp_probes_answered;
    stats_requests += r.stats_requests;
    barrier_requests += r.barrier_requests;
    role_requests += r.role_requests;
    sent += r.packet_ins_sent;
    if (per_second.size() < r.per_second.size()) per_second.resize(r.per_second.size(), 0);
    for (std::size_t i = 0; i < r.per_second.size(); ++i) per_second[i] += r.per_second[i];
    for (std::size_t i = 0; i < r.spread.size(); ++i) spread[i] += r.spread[i];
    lat.insert(lat.end(), r.latency_ns.begin(), r.latency_ns.end());
    echo.insert(echo.end(), r.echo_rtt_ns.begin(), r.echo_rtt_ns.end());
    for (const auto& e : r.first_errors) {
      if (first_errors.size() < 5) {
        first_errors.push_back({{"type", e.type}, {"code", e.code}, {"offending_msg_type", e.offending_type}});
      }
    }
    per_switch.push_back({{"dpid", fmt::format("{:016x}", o.dpid_base + per_switch.size())},
                          {"decisions", r.decisions},
                          {"backends_discovered", r.backends_answered},
                          {"failure", r.failure}});
  }

  json j;
  j["tool"] = "fulcrum-bench";
  j["params"] = {{"controller", o.controller},
                 {"of_version", o.of_version},
                 {"negotiated_version", version},
                 {"mode", latency_mode ? "latency" : "throughput"},
                 {"switches", o.switches},
                 {"threads", nthreads},
                 {"cpus", o.cpus},
                 {"window", base.window},
                 {"duration_s", o.duration_s},
                 {"warmup_s", o.warmup_s},
                 {"vip", o.vip},
                 {"vip_port", o.vip_port},
                 {"backends", o.backends},
                 {"clients", o.clients},
                 {"client_ips", base.client_ips},
                 {"controller_pid", cpid}};
  j["setup"] = {{"switches_up", up},
                {"failures", failures},
                {"vip_arp", vip_arp},
                {"vip_mac", vip_mac},
                {"arp_probes_answered", arp_answered},
                {"icmp_probes_answered", icmp_answered},
                {"tcp_probes_answered", tcp_answered},
                {"echo_rtt_ns", percentiles(echo)}};
  std::vector<uint64_t> sorted_ps = per_second;
  std::sort(sorted_ps.begin(), sorted_ps.end());
  j["decisions"] = decisions;
  j["decisions_per_s"] = {{"mean", window_s > 0 ? static_cast<double>(decisions) / window_s : 0.0},
                          {"min", sorted_ps.empty() ? 0 : sorted_ps.front()},
                          {"median", sorted_ps.empty() ? 0 : sorted_ps[sorted_ps.size() / 2]},
                          {"max", sorted_ps.empty() ? 0 : sorted_ps.back()},
                          {"per_second", per_second}};
  j["latency_ns"] = percentiles(lat);
  const double d = decisions > 0 ? static_cast<double>(decisions) : 1.0;
  j["messages_per_decision"] = {{"flow_mod", static_cast<double>(flow_mods) / d},
                                {"packet_out", static_cast<double>(packet_outs) / d},
                                {"completed_by_packet_out", by_po},
                                {"completed_by_flow_mod", by_fm}};
  json sp = json::object();
  for (std::size_t i = 0; i < nb; ++i) sp[o.backends[i]] = spread[i];
  sp["flood"] = spread[nb + kSpreadFlood];
  sp["other_port"] = spread[nb + kSpreadOtherPort];
  sp["drop"] = spread[nb + kSpreadDrop];
  j["spread"] = sp;
  j["errors"] = {{"count", errors}, {"first", first_errors}, {"undecodable_messages", undecodable}};
  j["timeouts"] = timeouts;
  j["totals"] = {{"packet_ins_sent", sent},
                 {"decisions_including_warmup", decisions_total},
                 {"messages_from_controller", messages_in},
                 {"stats_requests", stats_requests},
                 {"barrier_requests", barrier_requests},
                 {"role_requests", role_requests}};
  json cpu;
  cpu["window_s"] = window_s;
  cpu["bench_s"] = self1 - self0;
  cpu["bench_util"] = (self1 - self0) / window_s;
  cpu["bench_us_per_decision"] = decisions ? (self1 - self0) * 1e6 / d : 0.0;
  if (ctl0.ok && ctl1.ok) {
    const double c = ctl1.cpu_s - ctl0.cpu_s;
    cpu["controller_s"] = c;
    cpu["controller_util"] = c / window_s;
    cpu["controller_us_per_decision"] = decisions ? c * 1e6 / d : 0.0;
    j["controller_rss_kb"] = {
        {"after_setup", ctl_setup.rss_kb},
        {"after_load", ctl_end.rss_kb},
        {"delta", ctl_end.rss_kb - ctl_setup.rss_kb},
        {"bytes_per_decision", decisions_total ? static_cast<double>(ctl_end.rss_kb - ctl_setup.rss_kb) * 1024.0 /
                                                     static_cast<double>(decisions_total)
                                               : 0.0}};
  }
  j["cpu"] = cpu;

  if (!o.json_path.empty()) {
    if (o.json_path == "-") {
      std::cout << j.dump(2) << "\n";
    } else {
      std::ofstream(o.json_path) << j.dump(2) << "\n";
    }
  }
  if (!o.quiet && o.json_path != "-") {
    auto& L = j["latency_ns"];
    auto& E = j["setup"]["echo_rtt_ns"];
    fmt::print("fulcrum-bench: {} switch(es) x OpenFlow {} -> {} ({} mode, window {}, {} s + {} s warm-up)\n",
               o.switches, version.empty() ? o.of_version : version, o.controller,
               latency_mode ? "latency" : "throughput", base.window, o.duration_s, o.warmup_s);
    fmt::print("  setup:      {} up; VIP ARP: {}{}; probes answered: arp {} icmp {} tcp {}\n", up, vip_arp,
               vip_mac.empty() ? "" : " (" + vip_mac + ")", arp_answered, icmp_answered, tcp_answered);
    for (const auto& f : failures) fmt::print("  FAILURE:    {}\n", f.get<std::string>());
    fmt::print("  decisions:  {} in {:.2f} s = {:.0f}/s  (per second min {} / median {} / max {})\n", decisions,
               window_s, j["decisions_per_s"]["mean"].get<double>(), j["decisions_per_s"]["min"].get<uint64_t>(),
               j["decisions_per_s"]["median"].get<uint64_t>(), j["decisions_per_s"]["max"].get<uint64_t>());
    fmt::print("  latency us: p50 {}  p99 {}  p99.9 {}  mean {}  max {}   (echo baseline p50 {} p99 {})\n",
               us(L, "p50"), us(L, "p99"), us(L, "p999"), us(L, "mean"), us(L, "max"), us(E, "p50"), us(E, "p99"));
    fmt::print(
        "  messages:   {:.2f} flow-mod + {:.2f} packet-out per decision (completed by packet-out {}, by "
        "flow-mod {})\n",
        j["messages_per_decision"]["flow_mod"].get<double>(), j["messages_per_decision"]["packet_out"].get<double>(),
        by_po, by_fm);
    std::string spread_text;
    for (auto it = sp.begin(); it != sp.end(); ++it) {
      if (it.value().get<uint64_t>() == 0 && (it.key() == "flood" || it.key() == "other_port" || it.key() == "drop"))
        continue;
      spread_text += fmt::format(" {}={}", it.key(), it.value().get<uint64_t>());
    }
    fmt::print("  spread:    {}\n", spread_text);
    fmt::print("  errors:     {} OpenFlow error(s), {} undecodable message(s), {} timeout(s)\n", errors, undecodable,
               timeouts);
    for (const auto& e : first_errors) {
      fmt::print("              error type={} code={} (offending message type {})\n", e["type"].get<int>(),
                 e["code"].get<int>(), e["offending_msg_type"].get<int>());
    }
    fmt::print("  bench CPU:  {:.2f} s ({:.0f}% of one core), {:.2f} us/decision\n", cpu["bench_s"].get<double>(),
               100 * cpu["bench_util"].get<double>(), cpu["bench_us_per_decision"].get<double>());
    if (cpu.contains("controller_s")) {
      fmt::print("  controller: {:.2f} s CPU ({:.0f}% of one core), {:.2f} us CPU/decision; RSS {} -> {} kB\n",
                 cpu["controller_s"].get<double>(), 100 * cpu["controller_util"].get<double>(),
                 cpu["controller_us_per_decision"].get<double>(), ctl_setup.rss_kb, ctl_end.rss_kb);
    }
  }
  if (up == 0 || decisions == 0) return 1;
  return 0;
}

}  // namespace
}  // namespace fulcrum::bench

int main(int argc, char** argv) {
  fulcrum::bench::Options o;
  CLI::App app{"fulcrum-bench: emulate OpenFlow switches and measure a load-balancing controller"};
  app.add_option("--controller", o.controller, "controller address HOST:PORT")->capture_default_str();
  app.add_option("--of-version", o.of_version, "OpenFlow version the switches speak: 1.0 or 1.3")
      ->capture_default_str();
  app.add_option("--switches", o.switches, "emulated switches (one TCP connection each, dpid 1..N)")
      ->capture_default_str();
  app.add_option("--threads", o.threads, "io threads the switches are spread over")->capture_default_str();
  app.add_option("--cpu", o.cpus, "pin the io threads to these CPUs (round-robin), e.g. --cpu 0")->delimiter(',');
  app.add_option("--mode", o.mode, "throughput (a window of outstanding decisions) or latency (one at a time)")
      ->capture_default_str();
  app.add_option("--window", o.window, "outstanding decisions per switch in throughput mode")->capture_default_str();
  app.add_option("--duration", o.duration_s, "measured seconds")->capture_default_str();
  app.add_option("--warmup", o.warmup_s, "seconds of load before measuring")->capture_default_str();
  app.add_option("--vip", o.vip, "the VIP clients connect to")->capture_default_str();
  app.add_option("--vip-port", o.vip_port, "the VIP's TCP port")->capture_default_str();
  app.add_option("--vip-mac", o.vip_mac, "destination MAC of SYNs if the VIP's ARP gets no reply")
      ->capture_default_str();
  app.add_option("--backends", o.backends, "backend IPs, on ports 11, 12, ...")->delimiter(',')->capture_default_str();
  app.add_option("--backend-macs", o.backend_macs, "backend MACs (default 00:00:00:00:00:11, ...)")->delimiter(',');
  app.add_option("--clients", o.clients, "client ports 1..N (at most 10), MACs 00:00:00:00:00:01..")
      ->capture_default_str();
  app.add_option("--client-ip-base", o.client_ip_base, "first client address")->capture_default_str();
  app.add_option("--client-ips", o.client_ips,
                 "client addresses (base, base+1, ...; address j behind port 1 + j % clients); with 64512 source "
                 "ports each, the number of unique connections")
      ->capture_default_str();
  app.add_option("--settle", o.settle_ms, "ms to wait after the handshake for the discovery of every backend")
      ->capture_default_str();
  app.add_option("--echo-samples", o.echo_samples, "echo round trips measured before the load (baseline latency)")
      ->capture_default_str();
  app.add_option("--decision-timeout", o.decision_timeout_ms, "ms after which an unanswered decision is lost")
      ->capture_default_str();
  app.add_option("--dpid-base", o.dpid_base, "datapath id of the first switch")->capture_default_str();
  app.add_option("--controller-pid", o.controller_pid, "controller process: report its CPU time and RSS");
  app.add_option("--controller-pidfile", o.controller_pidfile, "file holding the controller's pid");
  app.add_option("--json", o.json_path, "write the results as JSON to FILE ('-' for stdout)");
  app.add_flag("--quiet", o.quiet, "no text report");
  CLI11_PARSE(app, argc, argv);
  try {
    return fulcrum::bench::run(o);
  } catch (const CLI::Error& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    fmt::print(stderr, "fulcrum-bench: {}\n", e.what());
    return 2;
  }
}
