// fulcrum-agent's measurements on fixture text and fake /proc and cgroup
// trees in a temporary directory, and the health command runner.
#include "agent/metrics.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "unit/agent/temp_dir.hpp"

namespace fulcrum::agent {
namespace {

using testing::TempDir;

constexpr const char* kStat1 =
    "cpu  100 0 50 800 50 0 0 0 0 0\n"
    "cpu0 50 0 25 400 25 0 0 0 0 0\n"
    "cpu1 50 0 25 400 25 0 0 0 0 0\n"
    "intr 12345 0 0\n"
    "ctxt 999\n";
// 200 more ticks: 150 busy (user 100, system 30, irq 10, steal 10), 50 idle+iowait.
constexpr const char* kStat2 =
    "cpu  200 0 80 840 60 10 0 10 5 0\n"
    "cpu0 100 0 40 420 30 5 0 5 0 0\n"
    "cpu1 100 0 40 420 30 5 0 5 0 0\n";

constexpr const char* kMeminfo =
    "MemTotal:        8000000 kB\n"
    "MemFree:          500000 kB\n"
    "MemAvailable:    6000000 kB\n"
    "Buffers:          100000 kB\n";

TEST(ProcStat, ParsesAggregateLineAndCountsCpus) {
  auto t = parse_proc_stat(kStat1);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->total, 1000u);
  EXPECT_EQ(t->idle, 850u);
  EXPECT_EQ(count_cpus(kStat1), 2u);
  auto u = parse_proc_stat(kStat2);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->total, 1200u);  // guest (5) is already in user: not counted twice
  EXPECT_EQ(u->idle, 900u);
  EXPECT_DOUBLE_EQ(cpu_pct_between(*t, *u), 75.0);
  EXPECT_DOUBLE_EQ(cpu_pct_between(*u, *u), 0.0);
  EXPECT_DOUBLE_EQ(cpu_pct_between(*u, *t), 0.0);  // counters went back: no nonsense
}

TEST(ProcStat, Malformed) {
  EXPECT_FALSE(parse_proc_stat(""));
  EXPECT_FALSE(parse_proc_stat("intr 1 2 3\n"));
  EXPECT_FALSE(parse_proc_stat("cpu 1 2 x 4 5\n"));
  EXPECT_FALSE(parse_proc_stat("cpu 1 2\n"));
  EXPECT_TRUE(parse_proc_stat("cpu 1 2 3 4\n"));  // very old kernels: no iowait
  EXPECT_EQ(count_cpus("cpu 1 2 3 4\n"), 0u);
}

TEST(Meminfo, ParsesAndComputes) {
  auto m = parse_meminfo(kMeminfo);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->total_bytes, 8000000u * int64_t{1024});
  EXPECT_EQ(m->available_bytes, 6000000u * int64_t{1024});
  EXPECT_DOUBLE_EQ(host_mem_pct(*m), 25.0);
  EXPECT_FALSE(parse_meminfo("MemTotal: 100 kB\n"));  // no MemAvailable
  EXPECT_FALSE(parse_meminfo("MemTotal: 0 kB\nMemAvailable: 0 kB\n"));
}

TEST(CgroupFiles, KeyedSingleAndCapacity) {
  EXPECT_EQ(parse_keyed_u64("usage_usec 123\nuser_usec 100\n", "usage_usec"), 123u);
  EXPECT_EQ(parse_keyed_u64("cache 1\ninactive_file 77\ntotal_inactive_file 99\n", "inactive_file"), 77u);
  EXPECT_FALSE(parse_keyed_u64("usage_usec x\n", "usage_usec"));
  EXPECT_FALSE(parse_keyed_u64("", "usage_usec"));
  EXPECT_EQ(parse_single_i64("123456\n"), 123456);
  EXPECT_EQ(parse_single_i64("-1\n"), -1);
  EXPECT_FALSE(parse_single_i64("max\n"));

  EXPECT_DOUBLE_EQ(*v1_cpu_capacity("20000\n", "100000\n", 4), 0.2);
  EXPECT_DOUBLE_EQ(*v1_cpu_capacity("-1\n", "100000\n", 4), 4.0);
  EXPECT_DOUBLE_EQ(*v1_cpu_capacity("1000000\n", "100000\n", 4), 4.0);  // above the machine: capped
  EXPECT_FALSE(v1_cpu_capacity("x", "100000", 4));
  EXPECT_FALSE(v1_cpu_capacity("20000", "0", 4));

  EXPECT_DOUBLE_EQ(*v2_cpu_capacity("max 100000\n", 2), 2.0);
  EXPECT_DOUBLE_EQ(*v2_cpu_capacity("50000 100000\n", 2), 0.5);
  EXPECT_DOUBLE_EQ(*v2_cpu_capacity("150000 100000\n", 2), 1.5);
  EXPECT_FALSE(v2_cpu_capacity("", 2));
  EXPECT_FALSE(v2_cpu_capacity("50000 0\n", 2));
  EXPECT_FALSE(v2_cpu_capacity("abc 100000\n", 2));
}

TEST(ProcNetTcp, CountsEstablishedOnly) {
  const char* tcp =
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
      "   0: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1\n"
      "   1: 0B00000A:0050 0200000A:C350 01 00000000:00000000 00:00000000 00000000     0        0 2 1\n"
      "   2: 0B00000A:0050 0300000A:C351 01 00000000:00000000 00:00000000 00000000     0        0 3 1\n"
      "   3: 0B00000A:0050 0300000A:C352 06 00000000:00000000 00:00000000 00000000     0        0 0 1\n";
  EXPECT_EQ(count_established(tcp), 2u);
  EXPECT_EQ(count_established(""), 0u);

  TempDir dir;
  dir.write("proc/net/tcp", tcp);
  dir.write("proc/net/tcp6",
            "  sl  local_address                         remote_address                        st\n"
            "   0: 00000000000000000000000001000000:0050 00000000000000000000000001000000:D000 01 0\n");
  EXPECT_EQ(read_established(dir.path() / "proc"), 3u);
  EXPECT_EQ(read_established(dir.path() / "nothing"), 0u);
}

TEST(CgroupDiscovery, MountinfoAndProcCgroup) {
  const char* mountinfo =
      "22 1 0:20 / /sys rw,nosuid - sysfs sysfs rw\n"
      "30 22 0:26 / /sys/fs/cgroup/cpu rw,relatime shared:9 - cgroup cgroup rw,cpu\n"
      "31 22 0:27 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
      "32 22 0:28 /docker/abc /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
      "33 22 0:29 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n"
      "34 22 0:30 / /sys/fs/cgroup/my\\040unified rw - cgroup2 cgroup2 rw,nsdelegate\n";
  auto m = parse_cgroup_mounts(mountinfo);
  ASSERT_EQ(m.size(), 5u);
  EXPECT_EQ(m[0].controllers, std::vector<std::string>{"cpu"});
  EXPECT_EQ(m[3].controllers, std::vector<std::string>{"name=systemd"});
  EXPECT_EQ(m[4].mount_point, "/sys/fs/cgroup/my unified");

  EXPECT_EQ(cgroup_dir(m, "cpu", "/fulcrum/b1"), "/sys/fs/cgroup/cpu/fulcrum/b1");
  EXPECT_EQ(cgroup_dir(m, "cpuacct", "/"), "/sys/fs/cgroup/cpuacct");
  EXPECT_EQ(cgroup_dir(m, "memory", "/docker/abc"), "/sys/fs/cgroup/memory");  // sub-tree mount
  EXPECT_EQ(cgroup_dir(m, "memory", "/docker/abc/x"), "/sys/fs/cgroup/memory/x");
  EXPECT_EQ(cgroup_dir(m, "memory", "/docker/abcdef"), "/sys/fs/cgroup/memory/docker/abcdef");
  EXPECT_EQ(cgroup_dir(m, "", "/b2"), "/sys/fs/cgroup/my unified/b2");
  EXPECT_FALSE(cgroup_dir(m, "pids", "/"));

  auto g = parse_proc_cgroup("4:memory:/process_api/x\n2:cpu,cpuacct:/a\n0::/u\n");
  ASSERT_EQ(g.size(), 3u);
  EXPECT_EQ(g[0].controllers, std::vector<std::string>{"memory"});
  EXPECT_EQ(g[1].controllers, (std::vector<std::string>{"cpu", "cpuacct"}));
  EXPECT_EQ(g[1].path, "/a");
  EXPECT_TRUE(g[2].controllers.empty());
  EXPECT_EQ(g[2].path, "/u");
}

// A fake /proc whose cgroup mounts point into the temporary directory.
struct FakeTree {
  TempDir dir;
  std::filesystem::path proc() const { return dir.path() / "proc"; }
  std::filesystem::path cg(const std::string& rel) const { return dir.path() / "cg" / rel; }

  FakeTree() {
    dir.write("proc/stat", kStat1);
    dir.write("proc/meminfo", kMeminfo);
    const std::string root = (dir.path() / "cg").string();
    dir.write("proc/self/mountinfo",
              "30 22 0:26 / " + root + "/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n" +  //
                  "31 22 0:27 / " + root + "/memory rw - cgroup cgroup rw,memory\n" +        //
                  "32 22 0:28 / " + root + "/unified rw - cgroup2 cgroup2 rw\n");
    dir.write("proc/self/cgroup", "4:memory:/b1\n2:cpu,cpuacct:/b1\n0::/b2\n");
  }
  void v1(int64_t usage_ns, const std::string& quota, int64_t mem_usage, const std::string& limit) const {
    dir.write("cg/cpu,cpuacct/b1/cpu.cfs_quota_us", quota + "\n");
    dir.write("cg/cpu,cpuacct/b1/cpu.cfs_period_us", "100000\n");
    dir.write("cg/cpu,cpuacct/b1/cpuacct.usage", std::to_string(usage_ns) + "\n");
    dir.write("cg/memory/b1/memory.usage_in_bytes", std::to_string(mem_usage) + "\n");
    dir.write("cg/memory/b1/memory.limit_in_bytes", limit + "\n");
    dir.write("cg/memory/b1/memory.stat", "cache 0\ninactive_file 1\ntotal_inactive_file 10485760\n");
  }
  void v2(int64_t usage_us, const std::string& cpu_max, int64_t current, const std::string& max) const {
    dir.write("cg/unified/b2/cpu.stat", "usage_usec " + std::to_string(usage_us) + "\nuser_usec 0\n");
    dir.write("cg/unified/b2/cpu.max", cpu_max + "\n");
    dir.write("cg/unified/b2/memory.current", std::to_string(current) + "\n");
    dir.write("cg/unified/b2/memory.max", max + "\n");
    dir.write("cg/unified/b2/memory.stat", "anon 1\ninactive_file 10485760\n");
  }
};

constexpr int64_t kSec = 1'000'000'000;
constexpr int64_t kMiB = int64_t{1} << 20;

TEST(CgroupV1Sampler, CpuAgainstQuotaMemoryAgainstLimit) {
  FakeTree t;
  t.v1(0, "20000", 110 * kMiB, std::to_string(200 * kMiB));
  auto s = make_sampler("v1:/b1", t.proc());
  ASSERT_TRUE(s.ok()) << s.error();
  EXPECT_TRUE((*s)->cgroup_scoped());
  auto a = (*s)->sample(10 * kSec);
  ASSERT_TRUE(a.ok()) << a.error();
  EXPECT_FALSE(a->cpu_pct);
  EXPECT_DOUBLE_EQ(a->mem_pct, 50.0);  // (110 - 10 inactive) / 200 MiB
  ASSERT_TRUE(a->cpu_capacity);        // known before the first CPU figure
  EXPECT_DOUBLE_EQ(*a->cpu_capacity, 0.2);

  // 0.1 CPU-s used in 1 s against a 0.2 CPU quota: 50 %.
  t.v1(100'000'000, "20000", 110 * kMiB, std::to_string(200 * kMiB));
  auto b = (*s)->sample(11 * kSec);
  ASSERT_TRUE(b.ok()) << b.error();
  ASSERT_TRUE(b->cpu_pct);
  EXPECT_NEAR(*b->cpu_pct, 50.0, 1e-9);
  EXPECT_DOUBLE_EQ(*b->cpu_capacity, 0.2);

  // No quota: against both CPUs; no limit (huge): against MemTotal.
  t.v1(1'100'000'000, "-1", 10 * kMiB + 800'000 * int64_t{1024}, "9223372036854771712");
  auto c = (*s)->sample(12 * kSec);
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_NEAR(*c->cpu_pct, 50.0, 1e-9);  // 1 CPU-s in 1 s of 2 CPUs
  EXPECT_NEAR(c->mem_pct, 10.0, 1e-9);   // 800000 kB of 8000000 kB
  EXPECT_DOUBLE_EQ(*c->cpu_capacity, 2.0);

  // More than the quota allows (accounting jitter): clamped.
  t.v1(2'100'000'000, "20000", 0, "1000");
  auto d = (*s)->sample(13 * kSec);
  ASSERT_TRUE(d.ok()) << d.error();
  EXPECT_DOUBLE_EQ(*d->cpu_pct, 100.0);
  EXPECT_DOUBLE_EQ(d->mem_pct, 0.0);  // usage below inactive_file
  EXPECT_DOUBLE_EQ(*d->cpu_capacity, 0.2);
}

TEST(CgroupV2Sampler, CpuMaxAndMemoryMax) {
  FakeTree t;
  t.v2(0, "50000 100000", 60 * kMiB, std::to_string(100 * kMiB));
  auto s = make_sampler("v2:/b2", t.proc());
  ASSERT_TRUE(s.ok()) << s.error();
  ASSERT_TRUE((*s)->sample(0).ok());
  t.v2(250'000, "50000 100000", 60 * kMiB, std::to_string(100 * kMiB));
  auto b = (*s)->sample(kSec);
  ASSERT_TRUE(b.ok()) << b.error();
  EXPECT_NEAR(*b->cpu_pct, 50.0, 1e-9);  // 0.25 CPU-s of 0.5 CPU
  EXPECT_NEAR(b->mem_pct, 50.0, 1e-9);   // (60 - 10) / 100 MiB
  ASSERT_TRUE(b->cpu_capacity);
  EXPECT_DOUBLE_EQ(*b->cpu_capacity, 0.5);

  t.v2(1'250'000, "max 100000", 10 * kMiB + 4'000'000 * int64_t{1024}, "max");
  auto c = (*s)->sample(2 * kSec);
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_NEAR(*c->cpu_pct, 50.0, 1e-9);     // 1 CPU-s of 2 CPUs
  EXPECT_NEAR(c->mem_pct, 50.0, 1e-9);      // of MemTotal
  EXPECT_DOUBLE_EQ(*c->cpu_capacity, 2.0);  // "max": the machine's CPUs
}

TEST(Samplers, AutoPicksOwnV1CgroupThenV2) {
  FakeTree t;
  t.v1(0, "-1", kMiB, "9223372036854771712");
  auto s = make_sampler("auto", t.proc());
  ASSERT_TRUE(s.ok()) << s.error();
  EXPECT_NE((*s)->describe().find("v1"), std::string::npos);
  EXPECT_NE((*s)->describe().find((t.cg("memory") / "b1").string()), std::string::npos);

  t.dir.write("proc/self/cgroup", "0::/b2\n");
  t.v2(0, "max", kMiB, "max");
  s = make_sampler("auto", t.proc());
  ASSERT_TRUE(s.ok()) << s.error();
  EXPECT_NE((*s)->describe().find("v2"), std::string::npos);
  EXPECT_TRUE((*s)->sample(0).ok());
}

TEST(Samplers, HostAndErrors) {
  FakeTree t;
  auto s = make_sampler("none", t.proc());
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE((*s)->cgroup_scoped());
  auto a = (*s)->sample(0);
  ASSERT_TRUE(a.ok()) << a.error();
  EXPECT_FALSE(a->cpu_pct);
  EXPECT_DOUBLE_EQ(a->mem_pct, 25.0);
  ASSERT_TRUE(a->cpu_capacity);
  EXPECT_DOUBLE_EQ(*a->cpu_capacity, 2.0);  // cpu0, cpu1
  t.dir.write("proc/stat", kStat2);
  auto b = (*s)->sample(0);
  ASSERT_TRUE(b.ok()) << b.error();
  EXPECT_DOUBLE_EQ(*b->cpu_pct, 75.0);
  EXPECT_DOUBLE_EQ(*b->cpu_capacity, 2.0);

  EXPECT_FALSE(make_sampler("v3:/x", t.proc()).ok());
  auto missing = make_sampler("v1:/nope", t.proc());
  ASSERT_TRUE(missing.ok());  // directories are read at each sample
  auto m = (*missing)->sample(0);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().find("nope"), std::string::npos) << m.error();

  t.dir.write("proc/stat", "cpu  300 0 80 840 60 10 0 10 5 0\n");  // no cpuN lines: capacity unknown
  auto c = (*s)->sample(0);
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_TRUE(c->cpu_pct);
  EXPECT_FALSE(c->cpu_capacity);
}

// ---- health command ------------------------------------------------------

TEST(HealthCommand, ExitCodesAndTimeout) {
  EXPECT_EQ(run_health_command("exit 0", 2000), HealthStatus::Healthy);
  EXPECT_EQ(run_health_command("exit 1", 2000), HealthStatus::Failed);
  EXPECT_EQ(run_health_command("kill -9 $$", 2000), HealthStatus::Failed);
  EXPECT_EQ(run_health_command("no-such-command-xyz 2>/dev/null", 2000), HealthStatus::Failed);

  // A child that ignores the shell's end is killed with the whole group.
  TempDir dir;
  const auto marker = dir.path() / "alive";
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(run_health_command("(sleep 3; touch " + marker.string() + ") & sleep 10", 200), HealthStatus::TimedOut);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, std::chrono::milliseconds(1500));
  EXPECT_GE(took, std::chrono::milliseconds(200));
  std::this_thread::sleep_for(std::chrono::milliseconds(3300));
  EXPECT_FALSE(std::filesystem::exists(marker)) << "the health command's background child outlived the timeout";
}

}  // namespace
}  // namespace fulcrum::agent
