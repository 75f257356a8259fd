// One policy decision: pick() over a pool of 3 or 64 available backends with
// fresh metrics, varied active counts and weights, as the core passes them.
// Each iteration is one new connection from a different client (source-hash
// looks up a different slot) and updates active/assigned counts like the core,
// so least-connections, power-of-two and combined see a changing pool.
//
//   cmake --preset release && cmake --build --preset release --target fulcrum-policies-bench
//   build/release/bin/fulcrum-policies-bench
#include <benchmark/benchmark.h>

#include <vector>

#include "balancer/policies/maglev.hpp"
#include "balancer/policy.hpp"
#include "balancer/rng.hpp"
#include "balancer/scoring.hpp"

namespace {

using namespace fulcrum;

std::vector<lb::BackendView> make_pool(std::size_t n) {
  std::vector<lb::BackendView> pool(n);
  for (std::size_t i = 0; i < n; ++i) {
    auto& b = pool[i];
    b.ip = Ipv4Addr{0x0a000100u + static_cast<uint32_t>(i)};
    b.available = true;
    b.weight = 1 + static_cast<uint32_t>(i % 3);
    b.active_connections = static_cast<uint32_t>((i * 7) % 13);
    b.cpu_pct = 10.0 + static_cast<double>((i * 37) % 80);
    b.memory_pct = 20.0 + static_cast<double>((i * 11) % 60);
    b.rtt_ms = 0.2 + static_cast<double>((i * 5) % 90);
    b.avail_bw_kbps = 50000.0 + static_cast<double>((i * 1234) % 50000);
  }
  return pool;
}

void policy_pick(benchmark::State& st, lb::PolicyKind kind) {
  lb::Xoshiro256 rng(42);
  auto policy = lb::make_policy(kind, lb::ScoringConfig{}, rng);
  auto pool = make_pool(static_cast<std::size_t>(st.range(0)));
  lb::ConnKey key{6, Ipv4Addr{0xc0a80001}, 40000, Ipv4Addr{0x0a000064}, 80};
  uint64_t n = 0;
  for (auto _ : st) {
    key.client_ip.v += 0x9e3779b9u;  // a different client each time
    ++key.client_port;
    auto idx = policy->pick(pool, key);
    benchmark::DoNotOptimize(idx);
    if (idx) {
      ++pool[*idx].active_connections;
      ++pool[*idx].assigned_since_report;
    }
    // Connections end and reports arrive now and then: keep counts bounded.
    if ((++n & 63) == 0) {
      for (auto& b : pool) b.active_connections /= 2, b.assigned_since_report = 0;
    }
  }
  st.SetItemsProcessed(st.iterations());
}

#define FULCRUM_POLICY_BENCH(Name, Kind)                                          \
  void BM_##Name(benchmark::State& st) { policy_pick(st, lb::PolicyKind::Kind); } \
  BENCHMARK(BM_##Name)->Arg(3)->Arg(64)

FULCRUM_POLICY_BENCH(RoundRobin, RoundRobin);
FULCRUM_POLICY_BENCH(Random, Random);
FULCRUM_POLICY_BENCH(LeastConnections, LeastConnections);
FULCRUM_POLICY_BENCH(WeightedRoundRobin, WeightedRoundRobin);
FULCRUM_POLICY_BENCH(PowerOfTwo, PowerOfTwo);
FULCRUM_POLICY_BENCH(SourceHash, SourceHash);
FULCRUM_POLICY_BENCH(CombinedPaper, CombinedPaper);
FULCRUM_POLICY_BENCH(Combined, Combined);

// The cost of scoring one backend (equations 4 and 5).
void BM_ScoreOneBackend(benchmark::State& st) {
  lb::Scorer scorer{lb::ScoringConfig{}};
  auto pool = make_pool(64);
  std::size_t i = 0;
  for (auto _ : st) {
    benchmark::DoNotOptimize(scorer.score(pool[i++ & 63]));
  }
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_ScoreOneBackend);

// Source-hash rebuild (paid only when the set of available backends or a
// weight changes): one Maglev table of 65537 slots.
void BM_MaglevBuild(benchmark::State& st) {
  std::vector<lb::maglev::Backend> bs;
  for (int64_t i = 0; i < st.range(0); ++i) bs.push_back({0x0a000100u + static_cast<uint32_t>(i), 1});
  for (auto _ : st) {
    auto t = lb::maglev::build_table(bs);
    benchmark::DoNotOptimize(t.data());
  }
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_MaglevBuild)->Arg(3)->Arg(64)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
