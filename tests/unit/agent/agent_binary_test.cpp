// Runs the real fulcrum-agent binary (--once, and a few reports) against a
// UDP socket bound on 127.0.0.1 and verifies what it sends.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>

#include "agent/report.hpp"
#include "unit/agent/temp_dir.hpp"

namespace fulcrum::agent {
namespace {

const std::string kHexKey = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

struct UdpSink {
  int fd = -1;
  uint16_t port = 0;
  UdpSink() {
    fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) ADD_FAILURE() << "bind";
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~UdpSink() { ::close(fd); }
  // One datagram within timeout_ms, or empty.
  std::vector<uint8_t> recv(int timeout_ms) const {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) != 1) return {};
    std::vector<uint8_t> buf(2048);
    const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    buf.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    return buf;
  }
};

std::vector<uint8_t> key_bytes() {
  std::vector<uint8_t> k;
  for (std::size_t i = 0; i < kHexKey.size(); i += 2) {
    k.push_back(static_cast<uint8_t>(std::stoi(kHexKey.substr(i, 2), nullptr, 16)));
  }
  return k;
}

// Online CPUs: the "cpuN" lines of /proc/stat, as the agent counts them.
unsigned online_cpus() {
  std::ifstream in("/proc/stat");
  unsigned n = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.size() > 3 && line.starts_with("cpu") && line[3] >= '0' && line[3] <= '9') ++n;
  }
  return n;
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TEST(AgentBinary, OnceSendsOneVerifiableReport) {
  testing::TempDir dir;
  const auto key_file = dir.write("key", kHexKey + "\n");
  ::chmod(key_file.c_str(), 0600);
  UdpSink sink;
  const std::string cmd = std::string(FULCRUM_AGENT_BIN) + " --vip 127.0.0.1 --port " + std::to_string(sink.port) +
                          " --key-file " + key_file.string() + " --key-id 3 --interval 0.2 --once --log-level warn" +
                          " --health-cmd 'exit 1'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;

  const auto got = sink.recv(2000);
  ASSERT_EQ(got.size(), kReportLen);
  auto r = decode_and_verify(got, key_bytes());
  ASSERT_TRUE(r.ok()) << report_error_name(r.error());
  EXPECT_FALSE(r->healthy);  // the health command failed
  EXPECT_FALSE(r->cgroup_scoped);
  EXPECT_EQ(r->key_id, 3u);
  EXPECT_EQ(r->interval_ms, 200u);
  EXPECT_EQ(r->sender_ip, *Ipv4Addr::parse("127.0.0.1"));
  EXPECT_LE(r->cpu_pct_x100, kPctScale);
  // Machine-wide: the CPU figure is relative to every online CPU.
  const unsigned ncpu = online_cpus();
  ASSERT_GT(ncpu, 0u);
  EXPECT_EQ(r->cpu_capacity_milli, ncpu * 1000u <= 65535u ? ncpu * 1000u : 0u);  // beyond the field: not sent
  EXPECT_GT(r->mem_pct_x100, 0);
  EXPECT_NEAR(static_cast<double>(r->timestamp_ms), static_cast<double>(now_ms()), 5000);
  EXPECT_EQ(r->seq & ((uint64_t{1} << 20) - 1), 1u);

  ReplayGuard guard;
  EXPECT_EQ(guard.check(*Ipv4Addr::parse("127.0.0.1"), *r, now_ms()), ReplayGuard::Verdict::Accept);
  EXPECT_TRUE(sink.recv(300).empty());  // exactly one
}

TEST(AgentBinary, CountedReportsIncreaseAndSurviveRestart) {
  testing::TempDir dir;
  const auto key_file = dir.write("key", kHexKey);
  ::chmod(key_file.c_str(), 0600);
  UdpSink sink;
  const std::string cmd = std::string(FULCRUM_AGENT_BIN) + " --vip 127.0.0.1 --port " + std::to_string(sink.port) +
                          " --key-file " + key_file.string() + " --interval 0.05 --count 3 --log-level warn";
  ReplayGuard guard;
  const auto src = *Ipv4Addr::parse("127.0.0.1");
  uint64_t last = 0;
  for (int run = 0; run < 2; ++run) {  // the second run is a restarted agent
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    for (int i = 0; i < 3; ++i) {
      auto r = decode_and_verify(sink.recv(2000), key_bytes());
      ASSERT_TRUE(r.ok()) << report_error_name(r.error());
      EXPECT_TRUE(r->healthy);
      EXPECT_GT(r->seq, last);
      last = r->seq;
      EXPECT_EQ(guard.check(src, *r, now_ms()), ReplayGuard::Verdict::Accept) << run << " " << i;
    }
  }
}

TEST(AgentBinary, KeepsSendingWhenNothingListens) {
  // ICMP port unreachable surfaces on the next send of a connected UDP
  // socket; the agent must not lose that report (nor exit 1).
  testing::TempDir dir;
  const auto key_file = dir.write("key", kHexKey);
  ::chmod(key_file.c_str(), 0600);
  uint16_t closed_port = 0;
  {
    UdpSink gone;
    closed_port = gone.port;
  }
  const std::string cmd = std::string(FULCRUM_AGENT_BIN) + " --vip 127.0.0.1 --port " + std::to_string(closed_port) +
                          " --key-file " + key_file.string() + " --interval 0.05 --count 4 --log-level off";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

TEST(AgentBinary, RefusesAWorldReadableKeyAndStopsOnSigterm) {
  testing::TempDir dir;
  const auto key_file = dir.write("key", kHexKey);
  ::chmod(key_file.c_str(), 0644);
  const std::string base =
      std::string(FULCRUM_AGENT_BIN) + " --vip 127.0.0.1 --port 9 --log-level off --key-file " + key_file.string();
  const int rc = std::system(base.c_str());
  EXPECT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 2) << rc;

  ::chmod(key_file.c_str(), 0600);
  UdpSink sink;
  const auto pid_file = dir.path() / "agent.pid";
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const std::string port = std::to_string(sink.port);
    execl(FULCRUM_AGENT_BIN, "fulcrum-agent", "--vip", "127.0.0.1", "--port", port.c_str(), "--key-file",
          key_file.c_str(), "--interval", "0.05", "--pid-file", pid_file.c_str(), "--log-level", "warn", nullptr);
    _exit(127);
  }
  EXPECT_FALSE(sink.recv(3000).empty());
  EXPECT_TRUE(std::filesystem::exists(pid_file));
  ::kill(pid, SIGTERM);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_FALSE(std::filesystem::exists(pid_file));
}

}  // namespace
}  // namespace fulcrum::agent
