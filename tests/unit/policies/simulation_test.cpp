// Simulation: heterogeneous backends (the paper's delayed scenario: links of
// 0, 50 and 80 ms) with different capacities, the same Poisson arrivals for
// every policy. Combined must beat round-robin on mean and p99 response time
// at every load. Prints the table quoted in docs/POLICIES.md.
#include "unit/policies/simulation.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "balancer/policy.hpp"

namespace fulcrum::lb::testing {
namespace {

sim::Params base_params() {
  sim::Params p;
  p.backends = {{1.0, 0}, {0.5, 50}, {0.25, 80}};
  p.horizon_s = 300;
  p.warmup_s = 20;
  p.arrival_seed = 20190601;
  return p;
}

double total_capacity_rps(const sim::Params& p) {
  double c = 0;
  for (const auto& b : p.backends) c += b.capacity;
  return c / p.mean_demand_s;
}

struct Row {
  double load;
  PolicyKind kind;
  sim::Result r;
};

TEST(Simulation, CombinedBeatsRoundRobinOnMeanAndP99AtEveryLoad) {
  const std::vector<PolicyKind> kinds{PolicyKind::RoundRobin, PolicyKind::Random,        PolicyKind::LeastConnections,
                                      PolicyKind::PowerOfTwo, PolicyKind::CombinedPaper, PolicyKind::Combined};
  std::vector<Row> rows;
  std::printf("\n| load | policy | mean ms | p50 ms | p99 ms | shares (1.0 CPU/0 ms, 0.5/50, 0.25/80) |\n");
  std::printf("|---|---|---:|---:|---:|---|\n");
  for (double load : {0.2, 0.4, 0.6, 0.8}) {
    sim::Params p = base_params();
    p.lambda = load * total_capacity_rps(p);
    const auto arrivals = sim::make_arrivals(p);  // the same sequence for every policy
    for (PolicyKind k : kinds) {
      Xoshiro256 rng(7);  // the same seed for every policy
      auto policy = make_policy(k, ScoringConfig{}, rng);
      ASSERT_NE(policy, nullptr);
      sim::Result r = sim::run(p, arrivals, *policy);
      EXPECT_EQ(r.dropped, 0u);
      std::printf("| %.1f | %s | %.0f | %.0f | %.0f | %.2f / %.2f / %.2f |\n", load, policy_name(k), r.mean_ms,
                  r.p50_ms, r.p99_ms, r.share[0], r.share[1], r.share[2]);
      rows.push_back(Row{load, k, r});
    }
  }
  std::fflush(stdout);
  auto find = [&rows](double load, PolicyKind k) -> const sim::Result& {
    for (const auto& row : rows) {
      if (row.load == load && row.kind == k) return row.r;
    }
    return rows.front().r;
  };
  for (double load : {0.2, 0.4, 0.6, 0.8}) {
    const auto& rr = find(load, PolicyKind::RoundRobin);
    const auto& comb = find(load, PolicyKind::Combined);
    EXPECT_GT(comb.measured, 1000u);
    EXPECT_LT(comb.mean_ms, rr.mean_ms) << "load " << load;
    EXPECT_LT(comb.p99_ms, rr.p99_ms) << "load " << load;
  }
}

}  // namespace
}  // namespace fulcrum::lb::testing
