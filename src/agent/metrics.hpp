// What fulcrum-agent measures: CPU and memory utilisation of the machine
// (/proc/stat, /proc/meminfo) or of one cgroup (v1 or v2) against its CPU
// quota and memory limit, and the number of established TCP connections.
//
// Parsers work on text; samplers read files under a root directory given to
// them, so tests point them at a fake tree. docs/AGENT.md has the formulas.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.hpp"

namespace fulcrum::agent {

// ---- parsers -------------------------------------------------------------

// The aggregate "cpu" line of /proc/stat, in clock ticks.
struct CpuTimes {
  uint64_t total = 0;
  uint64_t idle = 0;  // idle + iowait
  friend bool operator==(const CpuTimes&, const CpuTimes&) = default;
};
std::optional<CpuTimes> parse_proc_stat(std::string_view text);
// Number of "cpuN" lines in /proc/stat (online CPUs), 0 if none.
unsigned count_cpus(std::string_view proc_stat_text);
// Busy share of the ticks between two readings, 0..100; 0 when no tick passed.
double cpu_pct_between(const CpuTimes& before, const CpuTimes& after);

struct MemInfo {
  uint64_t total_bytes = 0;
  uint64_t available_bytes = 0;
};
// Needs MemTotal and MemAvailable (kB in the file).
std::optional<MemInfo> parse_meminfo(std::string_view text);
// 100 * (1 - MemAvailable / MemTotal).
double host_mem_pct(const MemInfo& m);

// A "key value" line of a flat-keyed file (cpu.stat, memory.stat).
std::optional<uint64_t> parse_keyed_u64(std::string_view text, std::string_view key);
// A file holding one integer (cpuacct.usage, memory.current); "max" is nullopt.
std::optional<int64_t> parse_single_i64(std::string_view text);

// CPUs a cgroup may use: quota / period, capped at ncpu; ncpu when unlimited.
// v1: cpu.cfs_quota_us (-1 = unlimited) and cpu.cfs_period_us.
std::optional<double> v1_cpu_capacity(std::string_view quota_text, std::string_view period_text, unsigned ncpu);
// v2: cpu.max, "max PERIOD" or "QUOTA PERIOD".
std::optional<double> v2_cpu_capacity(std::string_view cpu_max_text, unsigned ncpu);

// Established TCP sockets (state 01) in /proc/net/tcp or /proc/net/tcp6 text.
unsigned count_established(std::string_view proc_net_tcp_text);

// ---- cgroup discovery ----------------------------------------------------

struct CgroupMount {
  std::string fstype;  // "cgroup" or "cgroup2"
  std::string root;    // the hierarchy path mounted there
  std::filesystem::path mount_point;
  std::vector<std::string> controllers;  // v1 only: the controllers named in its options
};
std::vector<CgroupMount> parse_cgroup_mounts(std::string_view mountinfo_text);

// One line of /proc/self/cgroup: "ID:controllers:path" ("0::path" for v2).
struct CgroupMembership {
  std::vector<std::string> controllers;  // empty for the v2 line
  std::string path;
};
std::vector<CgroupMembership> parse_proc_cgroup(std::string_view text);

// Directories of one cgroup in a v1 hierarchy: the cpu (quota), cpuacct
// (usage) and memory controllers may be mounted apart or together.
struct CgroupV1Dirs {
  std::filesystem::path cpu, cpuacct, memory;
};

// Resolves the directory of cgroup `path` (as in /proc/self/cgroup) in the
// mount carrying `controller` (v1) or in the cgroup2 mount (controller
// empty). Accounts for a mount of a sub-tree (containers).
std::optional<std::filesystem::path> cgroup_dir(const std::vector<CgroupMount>& mounts, std::string_view controller,
                                                std::string_view path);

// ---- samplers ------------------------------------------------------------

struct Sample {
  std::optional<double> cpu_pct;  // nullopt on the first sample (no interval yet)
  double mem_pct = 0;
  // The CPUs cpu_pct is relative to: the cgroup's quota / period (or ncpu
  // when unlimited), the online CPUs for the machine; nullopt when unknown.
  std::optional<double> cpu_capacity;
};

class Sampler {
 public:
  virtual ~Sampler() = default;
  // mono_ns: a monotonic clock reading (cgroup CPU is usage over wall time).
  virtual Result<Sample, std::string> sample(int64_t mono_ns) = 0;
  [[nodiscard]] virtual bool cgroup_scoped() const = 0;
  [[nodiscard]] virtual std::string describe() const = 0;
};

// Whole machine: /proc/stat deltas and /proc/meminfo under proc_root.
std::unique_ptr<Sampler> make_host_sampler(std::filesystem::path proc_root = "/proc");
// cgroup v1: cpuacct.usage over wall time against the cpu quota;
// (memory.usage_in_bytes - total_inactive_file) / min(limit, MemTotal).
std::unique_ptr<Sampler> make_cgroup_v1_sampler(CgroupV1Dirs dirs, std::filesystem::path proc_root = "/proc");
// cgroup v2: cpu.stat usage_usec against cpu.max;
// (memory.current - inactive_file) / min(memory.max, MemTotal).
std::unique_ptr<Sampler> make_cgroup_v2_sampler(std::filesystem::path dir, std::filesystem::path proc_root = "/proc");

// Builds a sampler from the --cgroup flag: "none", "auto", "v1:PATH",
// "v2:PATH". PATH is a cgroup path as in /proc/self/cgroup (relative to the
// hierarchy, e.g. /fulcrum/b1); "auto" takes the agent's own cgroup (v1 when
// a v1 cpuacct hierarchy holds it, else v2). proc_root holds self/mountinfo,
// self/cgroup, stat and meminfo.
Result<std::unique_ptr<Sampler>, std::string> make_sampler(std::string_view spec,
                                                           std::filesystem::path proc_root = "/proc");

// Established TCP connections from proc_root/net/tcp and net/tcp6 (the
// network namespace of the reading process); files that are missing count 0.
unsigned read_established(const std::filesystem::path& proc_root = "/proc");

// Whole file as text; nullopt when it cannot be read.
std::optional<std::string> read_text_file(const std::filesystem::path& p);

// ---- health --------------------------------------------------------------

enum class HealthStatus : uint8_t { Healthy, Failed, TimedOut, SpawnError };
const char* health_status_name(HealthStatus s);

// Runs `/bin/sh -c command` in its own process group with stdin and stdout on
// /dev/null; Healthy iff it exits 0 within timeout_ms. On timeout the whole
// process group is killed (SIGKILL) and reaped.
HealthStatus run_health_command(const std::string& command, int64_t timeout_ms);

}  // namespace fulcrum::agent
