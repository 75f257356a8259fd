// The cgroup v1 sampler against a real cgroup: a busy process limited to
// 20 % of one CPU must read as ~100 % of its quota. Needs root and the v1
// cpu and cpuacct controllers; skipped otherwise. The test creates its own
// cgroups (fulcrum-agent-test-PID) and removes them.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "agent/metrics.hpp"

namespace fulcrum::agent {
namespace {

namespace fs = std::filesystem;

bool write_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p);
  out << text;
  out.flush();
  return static_cast<bool>(out);
}

// Own cgroup directories, removed (after their process is gone) at the end.
struct OwnCgroups {
  std::vector<fs::path> dirs;
  pid_t child = -1;
  ~OwnCgroups() {
    if (child > 0) {
      kill(child, SIGKILL);
      waitpid(child, nullptr, 0);
    }
    for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
      if (::rmdir(it->c_str()) != 0 && errno != ENOENT) ADD_FAILURE() << "cannot remove " << *it;
    }
  }
  bool make(const fs::path& p) {
    std::error_code ec;
    if (fs::exists(p)) return true;  // co-mounted controllers: one directory
    if (!fs::create_directory(p, ec)) return false;
    dirs.push_back(p);
    return true;
  }
};

TEST(RealCgroupV1, BusyProcessReadsNearFullQuota) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to create cgroups";
  const auto mountinfo = read_text_file("/proc/self/mountinfo");
  ASSERT_TRUE(mountinfo);
  const auto mounts = parse_cgroup_mounts(*mountinfo);
  const std::string name = "/fulcrum-agent-test-" + std::to_string(::getpid());
  auto cpu = cgroup_dir(mounts, "cpu", name);
  auto acct = cgroup_dir(mounts, "cpuacct", name);
  auto mem = cgroup_dir(mounts, "memory", name);
  if (!cpu || !acct || !mem) GTEST_SKIP() << "no cgroup v1 cpu, cpuacct and memory controllers";
  if (!fs::exists(cpu->parent_path() / "cpu.cfs_quota_us")) GTEST_SKIP() << "no CFS quota support";

  OwnCgroups own;
  ASSERT_TRUE(own.make(*cpu) && own.make(*acct) && own.make(*mem)) << "cannot create cgroups under " << *cpu;
  ASSERT_TRUE(write_file(*cpu / "cpu.cfs_period_us", "100000"));
  ASSERT_TRUE(write_file(*cpu / "cpu.cfs_quota_us", "20000"));  // 20 % of one CPU
  // The memory cgroup gets a limit but no process: the sandbox's own memory
  // accounting is left alone. It must read as (almost) empty.
  ASSERT_TRUE(write_file(*mem / "memory.limit_in_bytes", std::to_string(256 << 20)));

  own.child = fork();
  ASSERT_GE(own.child, 0);
  if (own.child == 0) {
    alarm(10);  // bounded even if the parent dies
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(6);
    volatile uint64_t x = 0;
    while (std::chrono::steady_clock::now() < end) x = x + 1;
    _exit(0);
  }
  ASSERT_TRUE(write_file(*cpu / "cgroup.procs", std::to_string(own.child)));
  if (*acct != *cpu) {
    ASSERT_TRUE(write_file(*acct / "cgroup.procs", std::to_string(own.child)));
  }

  auto cg = make_cgroup_v1_sampler(CgroupV1Dirs{*cpu, *acct, *mem});
  auto host = make_host_sampler();
  // An independent figure: the child's own utime + stime (/proc/PID/stat).
  const auto child_stat = "/proc/" + std::to_string(own.child) + "/stat";
  auto child_ticks = [&] {
    const auto text = read_text_file(child_stat).value_or("");
    std::istringstream in(text.substr(text.rfind(')') + 2));  // after "pid (comm) "
    std::string field;
    uint64_t utime = 0, stime = 0;
    for (int i = 3; i <= 15 && in >> field; ++i) {
      if (i == 14) utime = std::stoull(field);
      if (i == 15) stime = std::stoull(field);
    }
    return utime + stime;
  };
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let the quota take hold
  auto mono = [] { return std::chrono::steady_clock::now().time_since_epoch().count(); };
  const int64_t t0 = mono();
  ASSERT_TRUE(cg->sample(t0).ok());
  ASSERT_TRUE(host->sample(t0).ok());
  const uint64_t ticks0 = child_ticks();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const int64_t t1 = mono();
  auto c = cg->sample(t1);
  auto h = host->sample(t1);
  const uint64_t ticks1 = child_ticks();
  ASSERT_TRUE(c.ok()) << c.error();
  ASSERT_TRUE(h.ok()) << h.error();
  ASSERT_TRUE(c->cpu_pct && h->cpu_pct);
  const double tick_s = 1.0 / static_cast<double>(sysconf(_SC_CLK_TCK));
  const double proc_pct =
      100.0 * static_cast<double>(ticks1 - ticks0) * tick_s / (static_cast<double>(t1 - t0) * 1e-9 * 0.2);

  std::printf(
      "[ measured ] cgroup v1: cpu %.1f %% of a 0.2-CPU quota (the process's own utime+stime: %.1f %%), "
      "mem %.2f %% of 256 MiB; host: cpu %.1f %%\n",
      *c->cpu_pct, proc_pct, c->mem_pct, *h->cpu_pct);
  RecordProperty("cgroup_cpu_pct", std::to_string(*c->cpu_pct));
  RecordProperty("process_cpu_pct", std::to_string(proc_pct));
  RecordProperty("host_cpu_pct", std::to_string(*h->cpu_pct));
  // The quota is the divisor: against the whole machine (2+ CPUs) a 0.2-CPU
  // process reads <= 10 %. It reaches ~100 % on an idle machine; when other
  // work saturates the CPUs it gets less than its quota, and the process's
  // own accounting says by how much.
  EXPECT_GE(*c->cpu_pct, 50.0);
  EXPECT_LE(*c->cpu_pct, 100.0);
  EXPECT_NEAR(*c->cpu_pct, std::min(proc_pct, 100.0), 10.0);
  EXPECT_LT(c->mem_pct, 1.0);
  // Host mode measures the machine, busy process included: at least its
  // share of all CPUs (0.2 / ncpu of the cgroup figure), whatever else runs.
  const auto ncpu = static_cast<double>(count_cpus(read_text_file("/proc/stat").value_or("")));
  ASSERT_GT(ncpu, 0);
  EXPECT_GE(*h->cpu_pct, *c->cpu_pct * 0.2 / ncpu - 3.0);
  // What each figure is relative to: the quota, and the machine's CPUs.
  ASSERT_TRUE(c->cpu_capacity && h->cpu_capacity);
  EXPECT_DOUBLE_EQ(*c->cpu_capacity, std::min(0.2, ncpu));
  EXPECT_DOUBLE_EQ(*h->cpu_capacity, ncpu);
}

}  // namespace
}  // namespace fulcrum::agent
