#include "agent/metrics.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <fstream>
#include <iterator>

extern char** environ;

namespace fulcrum::agent {

namespace fs = std::filesystem;

namespace {

std::vector<std::string_view> split_ws(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    const std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

// Calls f(line) for every line of text (without the newline).
template <typename F>
void for_each_line(std::string_view text, F&& f) {
  while (!text.empty()) {
    const auto nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    if (!f(line)) return;
    if (nl == std::string_view::npos) return;
    text.remove_prefix(nl + 1);
  }
}

template <typename T>
std::optional<T> to_int(std::string_view s) {
  T v{};
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r' || s.back() == '\t'))
    s.remove_suffix(1);
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

std::vector<std::string> split_on(std::string_view s, char sep) {
  std::vector<std::string> out;
  while (true) {
    const auto p = s.find(sep);
    out.emplace_back(s.substr(0, p));
    if (p == std::string_view::npos) break;
    s.remove_prefix(p + 1);
  }
  return out;
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape_octal(std::string_view s) {
  auto is_oct = [](char c) { return c >= '0' && c <= '7'; };
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && is_oct(s[i + 1]) && is_oct(s[i + 2]) && is_oct(s[i + 3])) {
      out.push_back(static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
      continue;
    }
    out.push_back(s[i]);
  }
  return out;
}

double clamp_pct(double v) { return std::clamp(v, 0.0, 100.0); }

int64_t mono_ns_now() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Result<std::string, std::string> read_required(const fs::path& p) {
  auto t = read_text_file(p);
  if (!t) return fail("cannot read " + p.string());
  return std::move(*t);
}

Result<MemInfo, std::string> read_meminfo(const fs::path& proc_root) {
  auto t = read_required(proc_root / "meminfo");
  if (!t) return fail(t.error());
  auto m = parse_meminfo(*t);
  if (!m) return fail("cannot parse " + (proc_root / "meminfo").string());
  return *m;
}

Result<unsigned, std::string> read_ncpu(const fs::path& proc_root) {
  auto t = read_required(proc_root / "stat");
  if (!t) return fail(t.error());
  const unsigned n = count_cpus(*t);
  if (n == 0) return fail("no cpuN lines in " + (proc_root / "stat").string());
  return n;
}

// Used memory of a cgroup over its effective limit, in percent.
double cgroup_mem_pct(uint64_t usage, uint64_t inactive_file, std::optional<uint64_t> limit, uint64_t mem_total) {
  const uint64_t used = usage > inactive_file ? usage - inactive_file : 0;
  uint64_t cap = mem_total;
  if (limit && *limit > 0 && *limit < cap) cap = *limit;
  if (cap == 0) return 0;
  return clamp_pct(100.0 * static_cast<double>(used) / static_cast<double>(cap));
}

class HostSampler final : public Sampler {
 public:
  explicit HostSampler(fs::path proc_root) : proc_(std::move(proc_root)) {}
  Result<Sample, std::string> sample(int64_t /*mono_ns*/) override {
    auto st = read_required(proc_ / "stat");
    if (!st) return fail(st.error());
    auto cpu = parse_proc_stat(*st);
    if (!cpu) return fail("cannot parse " + (proc_ / "stat").string());
    auto mem = read_meminfo(proc_);
    if (!mem) return fail(mem.error());
    Sample s;
    if (prev_) s.cpu_pct = cpu_pct_between(*prev_, *cpu);
    prev_ = *cpu;
    s.mem_pct = host_mem_pct(*mem);
    // The aggregate line sums every online CPU's ticks.
    if (const unsigned ncpu = count_cpus(*st); ncpu > 0) s.cpu_capacity = static_cast<double>(ncpu);
    return s;
  }
  [[nodiscard]] bool cgroup_scoped() const override { return false; }
  [[nodiscard]] std::string describe() const override { return "host (" + proc_.string() + "/stat, meminfo)"; }

 private:
  fs::path proc_;
  std::optional<CpuTimes> prev_;
};

// Shared by v1 and v2: CPU usage (ns) over wall time (ns) against capacity.
class CgroupCpu {
 public:
  std::optional<double> update(uint64_t usage_ns, int64_t mono_ns, double capacity) {
    std::optional<double> pct;
    if (have_ && mono_ns > prev_mono_ && capacity > 0) {
      const double used = usage_ns >= prev_usage_ ? static_cast<double>(usage_ns - prev_usage_) : 0.0;
      const double wall = static_cast<double>(mono_ns - prev_mono_);
      pct = clamp_pct(100.0 * used / (wall * capacity));
    }
    have_ = true;
    prev_usage_ = usage_ns;
    prev_mono_ = mono_ns;
    return pct;
  }

 private:
  bool have_ = false;
  uint64_t prev_usage_ = 0;
  int64_t prev_mono_ = 0;
};

class CgroupV1Sampler final : public Sampler {
 public:
  CgroupV1Sampler(CgroupV1Dirs dirs, fs::path proc_root) : dirs_(std::move(dirs)), proc_(std::move(proc_root)) {}
  Result<Sample, std::string> sample(int64_t mono_ns) override {
    auto ncpu = read_ncpu(proc_);
    if (!ncpu) return fail(ncpu.error());
    auto quota = read_required(dirs_.cpu / "cpu.cfs_quota_us");
    if (!quota) return fail(quota.error());
    auto period = read_required(dirs_.cpu / "cpu.cfs_period_us");
    if (!period) return fail(period.error());
    auto capacity = v1_cpu_capacity(*quota, *period, *ncpu);
    if (!capacity) return fail("cannot parse the CFS quota/period in " + dirs_.cpu.string());
    auto usage_text = read_required(dirs_.cpuacct / "cpuacct.usage");
    if (!usage_text) return fail(usage_text.error());
    auto usage = parse_single_i64(*usage_text);
    if (!usage || *usage < 0) return fail("cannot parse " + (dirs_.cpuacct / "cpuacct.usage").string());

    auto mem = read_meminfo(proc_);
    if (!mem) return fail(mem.error());
    auto used_text = read_required(dirs_.memory / "memory.usage_in_bytes");
    if (!used_text) return fail(used_text.error());
    auto used = parse_single_i64(*used_text);
    auto stat = read_required(dirs_.memory / "memory.stat");
    if (!stat) return fail(stat.error());
    auto inactive = parse_keyed_u64(*stat, "total_inactive_file");
    if (!inactive) inactive = parse_keyed_u64(*stat, "inactive_file");
    auto limit_text = read_required(dirs_.memory / "memory.limit_in_bytes");
    if (!limit_text) return fail(limit_text.error());
    auto limit = parse_single_i64(*limit_text);
    if (!used || *used < 0 || !limit) return fail("cannot parse the memory files in " + dirs_.memory.string());

    Sample s;
    s.cpu_pct = cpu_.update(static_cast<uint64_t>(*usage), mono_ns, *capacity);
    s.cpu_capacity = *capacity;
    s.mem_pct = cgroup_mem_pct(static_cast<uint64_t>(*used), inactive.value_or(0),
                               *limit > 0 ? std::optional<uint64_t>(static_cast<uint64_t>(*limit)) : std::nullopt,
                               mem->total_bytes);
    return s;
  }
  [[nodiscard]] bool cgroup_scoped() const override { return true; }
  [[nodiscard]] std::string describe() const override {
    return "cgroup v1 (cpu " + dirs_.cpu.string() + ", cpuacct " + dirs_.cpuacct.string() + ", memory " +
           dirs_.memory.string() + ")";
  }

 private:
  CgroupV1Dirs dirs_;
  fs::path proc_;
  CgroupCpu cpu_;
};

class CgroupV2Sampler final : public Sampler {
 public:
  CgroupV2Sampler(fs::path dir, fs::path proc_root) : dir_(std::move(dir)), proc_(std::move(proc_root)) {}
  Result<Sample, std::string> sample(int64_t mono_ns) override {
    auto ncpu = read_ncpu(proc_);
    if (!ncpu) return fail(ncpu.error());
    // The root cgroup has no cpu.max / memory.max: unlimited.
    const auto cpu_max = read_text_file(dir_ / "cpu.max").value_or("max 100000");
    auto capacity = v2_cpu_capacity(cpu_max, *ncpu);
    if (!capacity) return fail("cannot parse " + (dir_ / "cpu.max").string());
    auto cpu_stat = read_required(dir_ / "cpu.stat");
    if (!cpu_stat) return fail(cpu_stat.error());
    auto usage_us = parse_keyed_u64(*cpu_stat, "usage_usec");
    if (!usage_us) return fail("no usage_usec in " + (dir_ / "cpu.stat").string());

    auto mem = read_meminfo(proc_);
    if (!mem) return fail(mem.error());
    auto current_text = read_required(dir_ / "memory.current");
    if (!current_text) return fail(current_text.error());
    auto current = parse_single_i64(*current_text);
    if (!current || *current < 0) return fail("cannot parse " + (dir_ / "memory.current").string());
    auto stat = read_required(dir_ / "memory.stat");
    if (!stat) return fail(stat.error());
    const auto max_text = read_text_file(dir_ / "memory.max").value_or("max");
    const auto max = parse_single_i64(max_text);  // nullopt for "max"
    if (!max && trim(max_text) != "max") return fail("cannot parse " + (dir_ / "memory.max").string());

    Sample s;
    s.cpu_pct = cpu_.update(*usage_us * 1000, mono_ns, *capacity);
    s.cpu_capacity = *capacity;
    s.mem_pct = cgroup_mem_pct(static_cast<uint64_t>(*current), parse_keyed_u64(*stat, "inactive_file").value_or(0),
                               max && *max > 0 ? std::optional<uint64_t>(static_cast<uint64_t>(*max)) : std::nullopt,
                               mem->total_bytes);
    return s;
  }
  [[nodiscard]] bool cgroup_scoped() const override { return true; }
  [[nodiscard]] std::string describe() const override { return "cgroup v2 (" + dir_.string() + ")"; }

 private:
  fs::path dir_;
  fs::path proc_;
  CgroupCpu cpu_;
};

}  // namespace

// ---- parsers -------------------------------------------------------------

std::optional<CpuTimes> parse_proc_stat(std::string_view text) {
  std::optional<CpuTimes> out;
  for_each_line(text, [&](std::string_view line) {
    auto f = split_ws(line);
    if (f.empty() || f[0] != "cpu") return true;
    // user nice system idle iowait irq softirq steal [guest guest_nice]
    // guest time is already counted in user/nice: only the first 8 count.
    if (f.size() < 5) return false;
    CpuTimes t;
    for (std::size_t i = 1; i < f.size() && i <= 8; ++i) {
      auto v = to_int<uint64_t>(f[i]);
      if (!v) return false;
      t.total += *v;
      if (i == 4 || i == 5) t.idle += *v;
    }
    out = t;
    return false;
  });
  return out;
}

unsigned count_cpus(std::string_view text) {
  unsigned n = 0;
  for_each_line(text, [&](std::string_view line) {
    if (line.size() > 3 && line.substr(0, 3) == "cpu" && line[3] >= '0' && line[3] <= '9') ++n;
    return true;
  });
  return n;
}

double cpu_pct_between(const CpuTimes& before, const CpuTimes& after) {
  if (after.total <= before.total) return 0;
  const double total = static_cast<double>(after.total - before.total);
  const double idle = after.idle >= before.idle ? static_cast<double>(after.idle - before.idle) : 0.0;
  return clamp_pct(100.0 * (total - idle) / total);
}

std::optional<MemInfo> parse_meminfo(std::string_view text) {
  std::optional<uint64_t> total, avail;
  for_each_line(text, [&](std::string_view line) {
    auto f = split_ws(line);
    if (f.size() >= 2) {
      if (f[0] == "MemTotal:") total = to_int<uint64_t>(f[1]);
      if (f[0] == "MemAvailable:") avail = to_int<uint64_t>(f[1]);
    }
    return true;
  });
  if (!total || !avail || *total == 0) return std::nullopt;
  return MemInfo{*total * 1024, std::min(*avail, *total) * 1024};
}

double host_mem_pct(const MemInfo& m) {
  if (m.total_bytes == 0) return 0;
  return clamp_pct(100.0 * (1.0 - static_cast<double>(m.available_bytes) / static_cast<double>(m.total_bytes)));
}

std::optional<uint64_t> parse_keyed_u64(std::string_view text, std::string_view key) {
  std::optional<uint64_t> out;
  for_each_line(text, [&](std::string_view line) {
    auto f = split_ws(line);
    if (f.size() == 2 && f[0] == key) {
      out = to_int<uint64_t>(f[1]);
      return false;
    }
    return true;
  });
  return out;
}

std::optional<int64_t> parse_single_i64(std::string_view text) { return to_int<int64_t>(trim(text)); }

std::optional<double> v1_cpu_capacity(std::string_view quota_text, std::string_view period_text, unsigned ncpu) {
  auto quota = parse_single_i64(quota_text);
  auto period = parse_single_i64(period_text);
  if (!quota || !period || *period <= 0 || ncpu == 0) return std::nullopt;
  if (*quota < 0) return static_cast<double>(ncpu);
  if (*quota == 0) return std::nullopt;
  return std::min(static_cast<double>(*quota) / static_cast<double>(*period), static_cast<double>(ncpu));
}

std::optional<double> v2_cpu_capacity(std::string_view cpu_max_text, unsigned ncpu) {
  auto f = split_ws(trim(cpu_max_text));
  if (f.empty() || f.size() > 2 || ncpu == 0) return std::nullopt;
  std::optional<int64_t> period = f.size() == 2 ? to_int<int64_t>(f[1]) : std::optional<int64_t>(100000);
  if (!period || *period <= 0) return std::nullopt;
  if (f[0] == "max") return static_cast<double>(ncpu);
  auto quota = to_int<int64_t>(f[0]);
  if (!quota || *quota <= 0) return std::nullopt;
  return std::min(static_cast<double>(*quota) / static_cast<double>(*period), static_cast<double>(ncpu));
}

unsigned count_established(std::string_view text) {
  unsigned n = 0;
  for_each_line(text, [&](std::string_view line) {
    // "  sl  local_address rem_address   st ..." then "0: 0100007F:1F90 0100007F:C350 01 ..."
    auto f = split_ws(line);
    if (f.size() >= 4 && !f[0].empty() && f[0].back() == ':' && f[3] == "01") ++n;
    return true;
  });
  return n;
}

// ---- cgroup discovery ----------------------------------------------------

std::vector<CgroupMount> parse_cgroup_mounts(std::string_view text) {
  std::vector<CgroupMount> out;
  for_each_line(text, [&](std::string_view line) {
    // id parent maj:min root mount_point options [optional...] - fstype source super_options
    auto f = split_ws(line);
    auto dash = std::find(f.begin(), f.end(), std::string_view("-"));
    if (f.size() < 5 || std::distance(dash, f.end()) < 4) return true;
    const std::string_view fstype = *(dash + 1);
    if (fstype != "cgroup" && fstype != "cgroup2") return true;
    CgroupMount m;
    m.fstype = std::string(fstype);
    m.root = unescape_octal(f[3]);
    m.mount_point = unescape_octal(f[4]);
    if (fstype == "cgroup") {
      // Super options name the controllers, among a few that are not.
      static constexpr std::string_view kNotControllers[] = {
          "rw", "ro", "xattr", "noprefix", "none", "clone_children", "cpuset_v2_mode", "favordynmods"};
      for (auto& opt : split_on(*(dash + 3), ',')) {
        if (opt.starts_with("name=")) {
          m.controllers.push_back(opt);
        } else if (opt.find('=') == std::string::npos &&
                   std::find(std::begin(kNotControllers), std::end(kNotControllers), opt) ==
                       std::end(kNotControllers)) {
          m.controllers.push_back(opt);
        }
      }
    }
    out.push_back(std::move(m));
    return true;
  });
  return out;
}

std::vector<CgroupMembership> parse_proc_cgroup(std::string_view text) {
  std::vector<CgroupMembership> out;
  for_each_line(text, [&](std::string_view line) {
    const auto a = line.find(':');
    if (a == std::string_view::npos) return true;
    const auto b = line.find(':', a + 1);
    if (b == std::string_view::npos) return true;
    CgroupMembership m;
    const auto ctl = line.substr(a + 1, b - a - 1);
    if (!ctl.empty()) m.controllers = split_on(ctl, ',');
    m.path = std::string(line.substr(b + 1));
    out.push_back(std::move(m));
    return true;
  });
  return out;
}

std::optional<fs::path> cgroup_dir(const std::vector<CgroupMount>& mounts, std::string_view controller,
                                   std::string_view path) {
  for (const auto& m : mounts) {
    const bool match = controller.empty()
                           ? m.fstype == "cgroup2"
                           : m.fstype == "cgroup" && std::find(m.controllers.begin(), m.controllers.end(),
                                                               controller) != m.controllers.end();
    if (!match) continue;
    std::string_view rel = path;
    // A container may see a sub-tree mounted: strip the mounted root.
    if (m.root != "/" && rel.starts_with(m.root) && (rel.size() == m.root.size() || rel[m.root.size()] == '/')) {
      rel.remove_prefix(m.root.size());
    }
    while (!rel.empty() && rel.front() == '/') rel.remove_prefix(1);
    fs::path dir = m.mount_point;
    if (!rel.empty()) dir /= fs::path(std::string(rel));
    return dir;
  }
  return std::nullopt;
}

// ---- samplers ------------------------------------------------------------

std::unique_ptr<Sampler> make_host_sampler(fs::path proc_root) {
  return std::make_unique<HostSampler>(std::move(proc_root));
}
std::unique_ptr<Sampler> make_cgroup_v1_sampler(CgroupV1Dirs dirs, fs::path proc_root) {
  return std::make_unique<CgroupV1Sampler>(std::move(dirs), std::move(proc_root));
}
std::unique_ptr<Sampler> make_cgroup_v2_sampler(fs::path dir, fs::path proc_root) {
  return std::make_unique<CgroupV2Sampler>(std::move(dir), std::move(proc_root));
}

Result<std::unique_ptr<Sampler>, std::string> make_sampler(std::string_view spec, fs::path proc_root) {
  if (spec == "none" || spec.empty()) return make_host_sampler(proc_root);
  auto mountinfo = read_required(proc_root / "self" / "mountinfo");
  if (!mountinfo) return fail(mountinfo.error());
  const auto mounts = parse_cgroup_mounts(*mountinfo);

  auto v1_dirs = [&](std::string_view cpu_path, std::string_view cpuacct_path,
                     std::string_view mem_path) -> Result<std::unique_ptr<Sampler>, std::string> {
    auto cpu = cgroup_dir(mounts, "cpu", cpu_path);
    auto acct = cgroup_dir(mounts, "cpuacct", cpuacct_path);
    auto mem = cgroup_dir(mounts, "memory", mem_path);
    if (!cpu || !acct || !mem)
      return fail(std::string("no cgroup v1 mount with the cpu, cpuacct and memory controllers"));
    return make_cgroup_v1_sampler(CgroupV1Dirs{*cpu, *acct, *mem}, proc_root);
  };
  auto v2_dir = [&](std::string_view path) -> Result<std::unique_ptr<Sampler>, std::string> {
    auto dir = cgroup_dir(mounts, "", path);
    if (!dir) return fail(std::string("no cgroup2 mount"));
    return make_cgroup_v2_sampler(*dir, proc_root);
  };

  if (spec.starts_with("v1:")) {
    const auto p = spec.substr(3);
    return v1_dirs(p, p, p);
  }
  if (spec.starts_with("v2:")) return v2_dir(spec.substr(3));
  if (spec != "auto") return fail("--cgroup: expected none, auto, v1:PATH or v2:PATH, got '" + std::string(spec) + "'");

  auto self = read_required(proc_root / "self" / "cgroup");
  if (!self) return fail(self.error());
  const auto groups = parse_proc_cgroup(*self);
  auto path_of = [&](std::string_view controller) -> std::optional<std::string> {
    for (const auto& g : groups) {
      if (controller.empty()
              ? g.controllers.empty()
              : std::find(g.controllers.begin(), g.controllers.end(), controller) != g.controllers.end()) {
        return g.path;
      }
    }
    return std::nullopt;
  };
  auto cpu = path_of("cpu");
  auto acct = path_of("cpuacct");
  auto mem = path_of("memory");
  if (cpu && acct && mem && cgroup_dir(mounts, "cpuacct", *acct)) return v1_dirs(*cpu, *acct, *mem);
  if (auto unified = path_of("")) return v2_dir(*unified);
  return fail(std::string("--cgroup auto: the agent's own cgroup is not in a mounted v1 or v2 hierarchy"));
}

unsigned read_established(const fs::path& proc_root) {
  unsigned n = 0;
  for (const char* f : {"tcp", "tcp6"}) {
    if (auto t = read_text_file(proc_root / "net" / f)) n += count_established(*t);
  }
  return n;
}

std::optional<std::string> read_text_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::nullopt;
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return std::nullopt;
  return s;
}

// ---- health --------------------------------------------------------------

const char* health_status_name(HealthStatus s) {
  switch (s) {
    case HealthStatus::Healthy:
      return "healthy";
    case HealthStatus::Failed:
      return "check failed";
    case HealthStatus::TimedOut:
      return "check timed out";
    case HealthStatus::SpawnError:
      return "check could not be started";
  }
  return "unknown";
}

HealthStatus run_health_command(const std::string& command, int64_t timeout_ms) {
  posix_spawnattr_t attr;
  posix_spawn_file_actions_t actions;
  if (posix_spawnattr_init(&attr) != 0) return HealthStatus::SpawnError;
  if (posix_spawn_file_actions_init(&actions) != 0) {
    posix_spawnattr_destroy(&attr);
    return HealthStatus::SpawnError;
  }
  // Own process group (so a timeout kills everything the shell started),
  // no blocked signals and default dispositions for the agent's signals.
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int s : {SIGTERM, SIGINT, SIGPIPE, SIGHUP, SIGCHLD}) sigaddset(&defaults, s);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);

  std::string sh = "sh", dash_c = "-c", cmd = command;
  char* argv[] = {sh.data(), dash_c.data(), cmd.data(), nullptr};
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, "/bin/sh", &actions, &attr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return HealthStatus::SpawnError;

  // Wait without reaping (WNOWAIT), so the process group id cannot be reused
  // before the group is killed; then reap.
  const int64_t deadline = mono_ns_now() + timeout_ms * 1'000'000;
  bool timed_out = false;
  while (true) {
    siginfo_t info{};
    const int r = waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT);
    if (r == 0 && info.si_pid == pid) break;
    if (r < 0 && errno != EINTR) break;
    if (mono_ns_now() >= deadline) {
      timed_out = true;
      break;
    }
    timespec ts{0, 5'000'000};
    nanosleep(&ts, nullptr);
  }
  // On timeout the shell and its children go; otherwise whatever the shell
  // left running in its group goes with it.
  kill(-pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) return HealthStatus::TimedOut;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? HealthStatus::Healthy : HealthStatus::Failed;
}

}  // namespace fulcrum::agent
