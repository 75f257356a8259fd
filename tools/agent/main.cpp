// fulcrum-agent: measures this backend's load and reports it to Fulcrum in
// an authenticated UDP datagram addressed to the VIP, every interval.
// docs/AGENT.md describes the wire format, the measurements and the flags.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>

#include "agent/metrics.hpp"
#include "agent/report.hpp"
#include "net/addr.hpp"

namespace {

using namespace fulcrum;
using namespace fulcrum::agent;

struct Options {
  std::string vip;
  uint16_t port = 7070;
  std::string key_file;
  uint32_t key_id = 0;
  double interval_s = 1.0;
  std::string cgroup = "none";
  std::string health_cmd;
  double health_timeout_s = 1.0;
  std::string source_ip;
  bool once = false;
  uint64_t count = 0;  // 0: until stopped
  std::string pid_file;
  std::string log_level = "info";
};

int64_t mono_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

uint64_t unix_ms() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

uint16_t to_x100(double pct) { return static_cast<uint16_t>(std::lround(std::clamp(pct, 0.0, 100.0) * 100.0)); }

// CPUs in thousandths for the report, 1..65535; 0 (not sent) when unknown or
// beyond the field (more than 65.535 CPUs): unknown, not understated.
uint16_t to_milli_cpus(std::optional<double> cpus) {
  if (!cpus || !(*cpus > 0) || *cpus * 1000.0 > 65535.0) return 0;
  return static_cast<uint16_t>(std::lround(std::max(*cpus * 1000.0, 1.0)));
}

// Sleeps until the monotonic deadline; false when SIGTERM or SIGINT arrived
// (they are blocked and taken here, so no handler races the main loop).
bool sleep_until(int64_t deadline_ns, const sigset_t& stop_signals) {
  while (true) {
    const int64_t left = deadline_ns - mono_ns();
    if (left <= 0) return true;
    timespec ts{static_cast<time_t>(left / 1'000'000'000), static_cast<long>(left % 1'000'000'000)};
    const int sig = sigtimedwait(&stop_signals, nullptr, &ts);
    if (sig > 0) {
      spdlog::info("signal {} received, stopping", sig);
      return false;
    }
  }
}

bool stop_pending(const sigset_t& stop_signals) {
  timespec zero{0, 0};
  const int sig = sigtimedwait(&stop_signals, nullptr, &zero);
  if (sig > 0) spdlog::info("signal {} received, stopping", sig);
  return sig > 0;
}

class PidFile {
 public:
  explicit PidFile(std::string path) : path_(std::move(path)) {}
  bool write() {
    if (path_.empty()) return true;
    std::ofstream out(path_);
    out << ::getpid() << "\n";
    written_ = static_cast<bool>(out);
    return written_;
  }
  ~PidFile() {
    if (written_) ::unlink(path_.c_str());
  }
  PidFile(const PidFile&) = delete;
  PidFile& operator=(const PidFile&) = delete;

 private:
  std::string path_;
  bool written_ = false;
};

// A UDP socket connected to VIP:port; sender is the local address it got.
struct Socket {
  int fd = -1;
  Ipv4Addr sender;
  ~Socket() {
    if (fd >= 0) ::close(fd);
  }
};

bool open_socket(Socket& s, Ipv4Addr vip, uint16_t port, std::optional<Ipv4Addr> source) {
  s.fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s.fd < 0) {
    spdlog::error("socket: {}", std::strerror(errno));
    return false;
  }
  if (source) {
    sockaddr_in local{};
    local.sin_family = AF_INET;
    local.sin_addr.s_addr = htonl(source->v);
    if (::bind(s.fd, reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0) {
      spdlog::error("--source-ip {}: bind: {}", source->str(), std::strerror(errno));
      return false;
    }
  }
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(port);
  dst.sin_addr.s_addr = htonl(vip.v);
  if (::connect(s.fd, reinterpret_cast<const sockaddr*>(&dst), sizeof dst) != 0) {
    spdlog::error("connect to {}:{}: {} (is there a route to the VIP?)", vip.str(), port, std::strerror(errno));
    return false;
  }
  sockaddr_in local{};
  socklen_t len = sizeof local;
  if (::getsockname(s.fd, reinterpret_cast<sockaddr*>(&local), &len) != 0) {
    spdlog::error("getsockname: {}", std::strerror(errno));
    return false;
  }
  s.sender = Ipv4Addr{ntohl(local.sin_addr.s_addr)};
  return true;
}

int run(const Options& o) {
  auto vip = Ipv4Addr::parse(o.vip);
  if (!vip) {
    spdlog::error("--vip: not an IPv4 address: '{}'", o.vip);
    return 2;
  }
  std::optional<Ipv4Addr> source;
  if (!o.source_ip.empty()) {
    source = Ipv4Addr::parse(o.source_ip);
    if (!source) {
      spdlog::error("--source-ip: not an IPv4 address: '{}'", o.source_ip);
      return 2;
    }
  }
  std::string err;
  auto key = load_key_file(o.key_file, &err);
  if (!key) {
    spdlog::error("{}", err);
    return 2;
  }
  auto sampler = make_sampler(o.cgroup);
  if (!sampler) {
    spdlog::error("{}", sampler.error());
    return 2;
  }

  // Take SIGTERM/SIGINT synchronously (sigtimedwait) in the sleeps.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigprocmask(SIG_BLOCK, &stop_signals, nullptr);

  Socket sock;
  if (!open_socket(sock, *vip, o.port, source)) return 1;
  PidFile pid(o.pid_file);
  if (!pid.write()) {
    spdlog::error("--pid-file: cannot write '{}'", o.pid_file);
    return 1;
  }

  const uint64_t count = o.once ? 1 : o.count;
  const auto interval_ns = static_cast<int64_t>(o.interval_s * 1e9);
  const auto interval_ms = static_cast<uint32_t>(std::max<int64_t>(1, std::llround(o.interval_s * 1000)));
  const auto health_timeout_ms = static_cast<int64_t>(o.health_timeout_s * 1000);
  // seq survives restarts: the start time in ms above a 20-bit counter.
  const uint64_t seq_base = unix_ms() << 20;
  spdlog::info("reporting to {}:{} from {} every {} ms, key id {}, measuring {}{}", vip->str(), o.port,
               sock.sender.str(), interval_ms, o.key_id, (*sampler)->describe(),
               o.health_cmd.empty() ? "" : ", health check: " + o.health_cmd);

  Sampler& s = **sampler;
  int64_t next = mono_ns();
  if (auto first = s.sample(next); !first) spdlog::warn("measurement failed: {}", first.error());
  std::array<uint8_t, kReportLen> buf{};
  std::optional<bool> last_healthy;
  bool last_send_ok = true;
  uint64_t sent = 0, failed = 0, counter = 0;
  int rc = 0;

  while (count == 0 || sent + failed < count) {
    next += interval_ns;
    if (!sleep_until(next, stop_signals)) break;
    const int64_t now = mono_ns();
    if (now - next > interval_ns) next = now;  // fell behind (a slow health check): do not burst

    auto sample = s.sample(now);
    if (!sample) {
      spdlog::warn("measurement failed, no report this interval: {}", sample.error());
      ++failed;
      rc = 1;
      continue;
    }
    bool healthy = true;
    if (!o.health_cmd.empty()) {
      const auto h = run_health_command(o.health_cmd, health_timeout_ms);
      healthy = h == HealthStatus::Healthy;
      if (last_healthy != healthy) {
        if (healthy) {
          spdlog::info("health check passes");
        } else {
          spdlog::warn("health check: {}; reporting unhealthy", health_status_name(h));
        }
      }
      last_healthy = healthy;
      if (stop_pending(stop_signals)) break;
    }

    Report r;
    r.healthy = healthy;
    r.cgroup_scoped = s.cgroup_scoped();
    // Below 2^20 reports this is seq_base | counter; past it, the counter
    // carries into the time bits and seq still increases.
    r.seq = seq_base + ++counter;
    r.timestamp_ms = unix_ms();
    r.cpu_pct_x100 = to_x100(sample->cpu_pct.value_or(0));
    r.mem_pct_x100 = to_x100(sample->mem_pct);
    r.cpu_capacity_milli = to_milli_cpus(sample->cpu_capacity);
    r.established = read_established();
    r.interval_ms = interval_ms;
    r.key_id = o.key_id;
    r.sender_ip = sock.sender;
    const std::size_t n = encode(r, *key, buf);
    if (n == 0) {
      spdlog::error("cannot encode a report");
      return 1;
    }
    ssize_t wrote = ::send(sock.fd, buf.data(), n, 0);
    // A connected UDP socket reports an ICMP error for an earlier datagram
    // on the next send, which then sends nothing: the error is consumed, retry.
    if (wrote < 0 && errno == ECONNREFUSED) wrote = ::send(sock.fd, buf.data(), n, 0);
    if (wrote != static_cast<ssize_t>(n)) {
      if (last_send_ok) spdlog::warn("send to {}:{}: {}", vip->str(), o.port, std::strerror(errno));
      last_send_ok = false;
      ++failed;
      rc = 1;
      continue;
    }
    if (!last_send_ok) spdlog::info("sending again");
    last_send_ok = true;
    rc = 0;
    ++sent;
    spdlog::debug("report seq={} cpu={:.2f}% of {} CPUs mem={:.2f}% established={} healthy={}", r.seq,
                  r.cpu_pct_x100 / 100.0,
                  r.cpu_capacity_milli > 0 ? fmt::format("{:.3f}", r.cpu_capacity_milli / 1000.0) : "unknown",
                  r.mem_pct_x100 / 100.0, r.established, r.healthy);
  }
  spdlog::info("stopped after {} reports ({} intervals without one)", sent, failed);
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"fulcrum-agent: reports this backend's CPU, memory, connections and health to Fulcrum via the VIP"};
  app.add_option("--vip", o.vip, "the VIP to send reports to (Fulcrum receives them as packet-ins)")->required();
  app.add_option("--port", o.port, "UDP port of the reports (Fulcrum's agent port)")->capture_default_str();
  app.add_option("--key-file", o.key_file, "shared HMAC key: raw bytes or hex, >= 16 bytes, not world-readable")
      ->required();
  app.add_option("--key-id", o.key_id, "key identifier carried in reports (key rotation)")->capture_default_str();
  app.add_option("--interval", o.interval_s, "seconds between reports")
      ->check(CLI::Range(0.01, 3600.0))
      ->capture_default_str();
  app.add_option("--cgroup", o.cgroup, "measure none (whole machine), auto (own cgroup), v1:PATH or v2:PATH")
      ->capture_default_str();
  app.add_option("--health-cmd", o.health_cmd, "shell command run each interval; healthy iff it exits 0");
  app.add_option("--health-timeout", o.health_timeout_s, "seconds before the health command is killed")
      ->check(CLI::Range(0.01, 3600.0))
      ->capture_default_str();
  app.add_option("--source-ip", o.source_ip, "local address to send from (default: chosen by the route)");
  app.add_flag("--once", o.once, "send one report (after one interval of measuring) and exit");
  app.add_option("--count", o.count, "stop after N reports (0: run until SIGTERM/SIGINT)")->capture_default_str();
  app.add_option("--pid-file", o.pid_file, "write the process id here (removed on exit)");
  app.add_option("--log-level", o.log_level, "trace, debug, info, warn, error, critical, off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  auto logger = spdlog::stderr_color_mt("fulcrum-agent");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(o.log_level));
  return run(o);
}
