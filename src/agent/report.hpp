// The agent report: a versioned, authenticated UDP payload that a backend's
// fulcrum-agent sends to its VIP, and that reaches Fulcrum as a packet-in.
// docs/AGENT.md describes the wire format, the versioning rules and why the
// replay guard works the way it does.
//
// Version 1 layout (76 bytes, all integers big-endian):
//   0  magic "FLCR"          4    24 cpu_pct_x100 u16 (0..10000)
//   4  version u8 (= 1)           26 mem_pct_x100 u16 (0..10000)
//   5  flags u8                   28 established u32
//   6  reserved u16               32 interval_ms u32 (> 0)
//   8  seq u64                    36 key_id u32
//  16  timestamp_ms u64 (unix)    40 sender_ip u32 (the agent's own IPv4)
//  44  HMAC-SHA256(key, bytes 0..43), 32 bytes
// Flags: bit 0 healthy, bit 1 cgroup_scoped, bit 2 the reserved field holds
// the CPU capacity in 1/1000 CPU (advisory: a receiver may ignore it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "net/addr.hpp"
#include "util/result.hpp"

namespace fulcrum::agent {

inline constexpr uint8_t kReportMagic[4] = {'F', 'L', 'C', 'R'};
inline constexpr uint8_t kReportVersion = 1;
inline constexpr std::size_t kReportMacLen = 32;
inline constexpr std::size_t kReportBodyLen = 44;  // bytes covered by the MAC
inline constexpr std::size_t kReportLen = kReportBodyLen + kReportMacLen;
inline constexpr uint16_t kPctScale = 10000;  // 100.00 %
inline constexpr std::size_t kMinKeyLen = 16;
inline constexpr uint8_t kFlagHealthy = 0x01;
inline constexpr uint8_t kFlagCgroupScoped = 0x02;
// Advisory (AGENT.md, versioning rules): the reserved field carries the CPU
// capacity the cpu figure is relative to, in thousandths of a CPU.
inline constexpr uint8_t kFlagCpuCapacity = 0x04;

struct Report {
  bool healthy = true;         // flags bit 0: the agent's service check passed (or none is configured)
  bool cgroup_scoped = false;  // flags bit 1: cpu/mem measure a cgroup, not the whole machine
  uint64_t seq = 0;            // strictly increasing per agent run (see ReplayGuard)
  uint64_t timestamp_ms = 0;   // unix wall clock when the report was built
  uint16_t cpu_pct_x100 = 0;   // 0..10000
  uint16_t mem_pct_x100 = 0;   // 0..10000
  uint32_t established = 0;    // established TCP connections in the agent's network namespace
  uint32_t interval_ms = 0;    // the agent's report interval (> 0): lets the receiver judge silence
  uint32_t key_id = 0;         // which shared key made the MAC (key rotation)
  Ipv4Addr sender_ip;          // the agent's own address; must equal the packet's IPv4 source
  // The CPUs cpu_pct is relative to (the cgroup's quota / period, or the
  // machine's CPUs), in thousandths; 0: not given. Flags bit 2 + reserved.
  uint16_t cpu_capacity_milli = 0;

  friend bool operator==(const Report&, const Report&) = default;
};

enum class ReportError : uint8_t { Truncated, BadMagic, UnsupportedVersion, BadLength, BadMac, OutOfRange };
const char* report_error_name(ReportError e);

// Writes the report and its MAC into out; returns kReportLen, or 0 when out is
// too small, the key is empty or a field is out of range (cpu/mem > 10000,
// interval_ms == 0): encode never writes what decode_and_verify would refuse.
std::size_t encode(const Report& r, std::span<const uint8_t> key, std::span<uint8_t> out);

// Checks framing, then the MAC (constant-time compare), then value ranges.
// No allocation in this code; the payload is not retained.
Result<Report, ReportError> decode_and_verify(std::span<const uint8_t> udp_payload, std::span<const uint8_t> key);

// The key_id of a payload that looks like a version-1 report (magic, version,
// length), before verification: lets a receiver holding several keys pick one.
std::optional<uint32_t> peek_key_id(std::span<const uint8_t> udp_payload);

// Per-source replay and freshness check, run after decode_and_verify.
//
// A report is accepted when its timestamp is within [now - max_age, now +
// max_future_skew], its sender_ip is the packet's source, and either its seq
// is above the highest accepted from that source, or its timestamp is newer
// than every accepted one by more than max_age + max_future_skew (a restarted
// agent whose counter went back; every report accepted before is then stale,
// so none can be replayed). fulcrum-agent also makes seq survive restarts:
// seq = (start_unix_ms << 20) | counter. See docs/AGENT.md.
class ReplayGuard {
 public:
  enum class Verdict : uint8_t { Accept, Replayed, Stale, FromFuture, WrongSender };

  struct Config {
    int64_t max_age_ms = 5000;
    int64_t max_future_skew_ms = 2000;
  };

  ReplayGuard() = default;
  explicit ReplayGuard(Config c) : config_(c) {}

  // Judges a verified report that arrived from src; remembers it when accepted.
  Verdict check(Ipv4Addr src, const Report& r, int64_t now_unix_ms);
  // Drops what is remembered about src (for example when it leaves every pool).
  void forget(Ipv4Addr src) { last_.erase(src); }
  [[nodiscard]] std::size_t size() const { return last_.size(); }
  [[nodiscard]] const Config& config() const { return config_; }

 private:
  struct Last {
    uint64_t seq = 0;
    int64_t max_ts = 0;  // highest timestamp ever accepted from this source
  };
  Config config_;
  std::unordered_map<Ipv4Addr, Last> last_;
};

const char* verdict_name(ReplayGuard::Verdict v);

// Reads a shared key. The file holds raw bytes, or hex digits only (read as
// hex); one trailing newline (or CR LF) is stripped. The key must be at least
// 16 bytes. A file that others (not owner or group) may read or write is
// refused. On failure returns nullopt and, when error is given, says why.
std::optional<std::vector<uint8_t>> load_key_file(const std::string& path, std::string* error);

}  // namespace fulcrum::agent
