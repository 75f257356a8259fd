// Scoring (paper 3.5): equation 4 normalisation, equation 5 weighted score,
// unknown metrics as worst, validation of the configuration.
#include "balancer/scoring.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <limits>

namespace fulcrum::lb::testing {
namespace {

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

TEST(Normalise, LowerIsBetterRange) {
  const MetricRange cpu{100, 0};  // worst 100 %, best 0 %
  EXPECT_DOUBLE_EQ(normalise(0, cpu), 100);
  EXPECT_DOUBLE_EQ(normalise(100, cpu), 0);
  EXPECT_DOUBLE_EQ(normalise(25, cpu), 75);
  const MetricRange latency{150, 0};
  EXPECT_DOUBLE_EQ(normalise(30, latency), 80);
  EXPECT_DOUBLE_EQ(normalise(75, latency), 50);
}

TEST(Normalise, HigherIsBetterRange) {
  const MetricRange bw{0, 100000};
  EXPECT_DOUBLE_EQ(normalise(0, bw), 0);
  EXPECT_DOUBLE_EQ(normalise(100000, bw), 100);
  EXPECT_DOUBLE_EQ(normalise(25000, bw), 25);
  // An offset range.
  EXPECT_DOUBLE_EQ(normalise(15, MetricRange{10, 20}), 50);
}

TEST(Normalise, ClampsOutsideTheRange) {
  EXPECT_DOUBLE_EQ(normalise(120, MetricRange{100, 0}), 0);
  EXPECT_DOUBLE_EQ(normalise(-5, MetricRange{100, 0}), 100);
  EXPECT_DOUBLE_EQ(normalise(400, MetricRange{150, 0}), 0);
  EXPECT_DOUBLE_EQ(normalise(1e9, MetricRange{0, 100000}), 100);
  EXPECT_DOUBLE_EQ(normalise(-1, MetricRange{0, 100000}), 0);
  EXPECT_DOUBLE_EQ(normalise(kInf, MetricRange{0, 100000}), 100);
  EXPECT_DOUBLE_EQ(normalise(kInf, MetricRange{100, 0}), 0);
  EXPECT_DOUBLE_EQ(normalise(-kInf, MetricRange{100, 0}), 100);
}

TEST(Normalise, NanAndDegenerateRange) {
  EXPECT_DOUBLE_EQ(normalise(kNan, MetricRange{100, 0}), 0);
  EXPECT_DOUBLE_EQ(normalise(kNan, MetricRange{0, 100}), 0);
  // validate() rejects a degenerate range; normalise still answers in 0..100.
  EXPECT_DOUBLE_EQ(normalise(5, MetricRange{5, 5}), 100);
  EXPECT_DOUBLE_EQ(normalise(4, MetricRange{5, 5}), 0);
}

BackendView measured(double cpu, double mem, double rtt, double bw) {
  BackendView v;
  v.available = true;
  v.cpu_pct = cpu;
  v.memory_pct = mem;
  v.rtt_ms = rtt;
  v.avail_bw_kbps = bw;
  return v;
}

TEST(Score, BestAndWorstEnds) {
  const ScoringConfig cfg;
  EXPECT_NEAR(score(measured(0, 0, 0, 100000), cfg), 100, 1e-9);
  EXPECT_DOUBLE_EQ(score(measured(100, 100, 150, 0), cfg), 0);
  EXPECT_DOUBLE_EQ(score(measured(100, 100, 1000, 0), cfg), 0);  // clamped
}

TEST(Score, DefaultWeightsWorkedExample) {
  // cpu 40 % -> 60, memory 50 % -> 50, rtt 30 ms -> 80, 50 Mb/s free -> 50:
  // 0.35*60 + 0.25*50 + 0.20*80 + 0.20*50 = 21 + 12.5 + 16 + 10 = 59.5
  const ScoringConfig cfg;
  const auto b = score_breakdown(measured(40, 50, 30, 50000), cfg);
  EXPECT_DOUBLE_EQ(b.cpu, 60);
  EXPECT_DOUBLE_EQ(b.memory, 50);
  EXPECT_DOUBLE_EQ(b.latency, 80);
  EXPECT_DOUBLE_EQ(b.bandwidth, 50);
  EXPECT_NEAR(b.total, 59.5, 1e-9);
  EXPECT_NEAR(score(measured(40, 50, 30, 50000), cfg), 59.5, 1e-9);
}

TEST(Score, UnknownMetricCountsAsWorst) {
  const ScoringConfig cfg;
  BackendView v = measured(0, 0, 0, 100000);
  v.cpu_pct.reset();  // agent silent or report too old
  EXPECT_NEAR(score(v, cfg), 65, 1e-9);
  EXPECT_EQ(score_breakdown(v, cfg).cpu, 0);
  // Same as reporting the worst value.
  EXPECT_DOUBLE_EQ(score(v, cfg), score(measured(100, 0, 0, 100000), cfg));
  BackendView none;
  EXPECT_EQ(score(none, cfg), 0);
  EXPECT_EQ(score_breakdown(none, cfg), ScoreBreakdown{});
}

TEST(Score, WeightsAreNormalisedByTheirSum) {
  ScoringConfig cfg;
  cfg.weight_cpu = 2;
  cfg.weight_memory = 0;
  cfg.weight_latency = 0;
  cfg.weight_bandwidth = 2;
  // cpu 20 % -> 80, bandwidth 40 Mb/s -> 40: the mean, 60.
  EXPECT_NEAR(score(measured(20, 100, 150, 40000), cfg), 60, 1e-9);
  // Scaling every weight changes nothing.
  ScoringConfig scaled = cfg;
  scaled.weight_cpu = 0.5;
  scaled.weight_bandwidth = 0.5;
  EXPECT_NEAR(score(measured(20, 100, 150, 40000), scaled), 60, 1e-9);
  // Only CPU weighs: the score is the CPU's normalised value.
  ScoringConfig cpu_only;
  cpu_only.weight_cpu = 1;
  cpu_only.weight_memory = cpu_only.weight_latency = cpu_only.weight_bandwidth = 0;
  EXPECT_NEAR(score(measured(37, 0, 0, 100000), cpu_only), 63, 1e-9);
}

TEST(Score, CpuAndMemoryWeighMoreThanNetworkByDefault) {
  const ScoringConfig cfg;
  EXPECT_GT(cfg.weight_cpu, cfg.weight_latency);
  EXPECT_GT(cfg.weight_cpu, cfg.weight_bandwidth);
  EXPECT_GT(cfg.weight_memory, cfg.weight_latency - 1e-12);
  EXPECT_GT(cfg.weight_memory, cfg.weight_bandwidth - 1e-12);
  EXPECT_GT(cfg.weight_cpu + cfg.weight_memory, cfg.weight_latency + cfg.weight_bandwidth);
  // A busy server near the balancer scores below an idle one further away.
  EXPECT_LT(score(measured(90, 80, 1, 90000), cfg), score(measured(10, 30, 100, 90000), cfg));
  EXPECT_EQ(validate(cfg), std::nullopt);
}

TEST(Validate, NamesTheBadField) {
  auto err = [](auto mutate) {
    ScoringConfig c;
    mutate(c);
    return validate(c).value_or("");
  };
  EXPECT_EQ(err([](ScoringConfig&) {}), "");
  EXPECT_EQ(err([](ScoringConfig& c) { c.weight_cpu = -1; }), "weight_cpu: must be a finite number >= 0 (got -1)");
  EXPECT_NE(err([](ScoringConfig& c) { c.weight_memory = kNan; }).find("weight_memory:"), std::string::npos);
  EXPECT_NE(err([](ScoringConfig& c) { c.weight_latency = kInf; }).find("weight_latency:"), std::string::npos);
  EXPECT_NE(err([](ScoringConfig& c) { c.weight_bandwidth = -0.1; }).find("weight_bandwidth:"), std::string::npos);
  EXPECT_NE(err([](ScoringConfig& c) {
              c.weight_cpu = c.weight_memory = c.weight_latency = c.weight_bandwidth = 0;
            }).find("at least one must be > 0"),
            std::string::npos);
  EXPECT_EQ(err([](ScoringConfig& c) { c.cpu_pct = {50, 50}; }), "cpu_pct: worst and best must differ (both 50)");
  EXPECT_NE(err([](ScoringConfig& c) { c.memory_pct = {0, 0}; }).find("memory_pct:"), std::string::npos);
  EXPECT_NE(err([](ScoringConfig& c) { c.latency_ms = {kNan, 0}; }).find("latency_ms:"), std::string::npos);
  EXPECT_NE(err([](ScoringConfig& c) { c.bandwidth_kbps = {0, kInf}; }).find("bandwidth_kbps:"), std::string::npos);
  EXPECT_EQ(err([](ScoringConfig& c) { c.max_age = Duration::zero(); }), "max_age: must be > 0 (got 0 s)");
  EXPECT_NE(err([](ScoringConfig& c) { c.max_age = -std::chrono::seconds(1); }).find("max_age:"), std::string::npos);
  // Either direction of a range is fine; zero weights for some metrics too.
  EXPECT_EQ(err([](ScoringConfig& c) {
              c.cpu_pct = {0, 100};
              c.weight_latency = 0;
            }),
            "");
}

}  // namespace
}  // namespace fulcrum::lb::testing
