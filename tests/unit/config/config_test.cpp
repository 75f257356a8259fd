#include "config/config.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "unit/config/config_test_util.hpp"

namespace fulcrum::config {
namespace {

using test_util::arg_error;
using test_util::error_of;
using test_util::parse_args;

TEST(ConfigYaml, ShippedExampleParsesAndValidates) {
  std::ifstream in(std::string(FULCRUM_SOURCE_DIR) + "/etc/fulcrum.yaml");
  ASSERT_TRUE(in);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  AppConfig c = parse_yaml(text, "etc/fulcrum.yaml");
  validate(c);
  EXPECT_EQ(c.listen_host, "0.0.0.0");
  EXPECT_EQ(c.listen_port, 6653);
  ASSERT_EQ(c.balancer.vips.size(), 1u);
  const auto& v = c.balancer.vips[0];
  EXPECT_EQ(v.name, "web");
  EXPECT_EQ(v.ip.str(), "10.0.0.100");
  EXPECT_EQ(v.port, 80);
  EXPECT_EQ(v.ip_proto, 6);
  EXPECT_EQ(v.policy, lb::PolicyKind::RoundRobin);
  ASSERT_EQ(v.backends.size(), 3u);
  EXPECT_EQ(v.backends[0].ip.str(), "10.0.0.11");
  EXPECT_EQ(v.backends[2].weight, 1u);
}

TEST(ConfigYaml, FullDocument) {
  AppConfig c = parse_yaml(R"(
listen: 127.0.0.1:7000
of_versions: [1.3]
log_level: debug
seed: 7
fake_mac: 02:aa:bb:cc:dd:ee
idle_timeout: 30
hard_timeout: 300
learning_switch: false
vips:
  - ip: 10.1.0.1
    protocol: udp
    policy: random
    fake_mac: 02:00:00:00:00:01
    backends: [10.1.0.11, {ip: 10.1.0.12, weight: 5}]
  - ip: 10.1.0.2
    backends: [10.1.0.21]
)");
  validate(c);
  EXPECT_EQ(c.listen_port, 7000);
  ASSERT_EQ(c.of_versions.size(), 1u);
  EXPECT_EQ(c.of_versions[0], of::Version::V13);
  EXPECT_EQ(c.seed, 7u);
  EXPECT_EQ(c.balancer.fake_mac.str(), "02:aa:bb:cc:dd:ee");
  EXPECT_EQ(c.balancer.idle_timeout_s, 30);
  EXPECT_EQ(c.balancer.hard_timeout_s, 300);
  EXPECT_FALSE(c.balancer.learning_switch);
  ASSERT_EQ(c.balancer.vips.size(), 2u);
  EXPECT_EQ(c.balancer.vips[0].name, "10.1.0.1");
  EXPECT_EQ(c.balancer.vips[0].ip_proto, 17);
  EXPECT_FALSE(c.balancer.vips[0].port.has_value());
  EXPECT_EQ(c.balancer.vips[0].policy, lb::PolicyKind::Random);
  EXPECT_EQ(c.balancer.vips[0].fake_mac->str(), "02:00:00:00:00:01");
  EXPECT_EQ(c.balancer.vips[0].backends[1].weight, 5u);
  EXPECT_EQ(c.balancer.vips[1].ip_proto, 0);
}

struct BadCase {
  const char* yaml;
  const char* expected;  // substring of the error: names the field
};

class ConfigYamlErrors : public ::testing::TestWithParam<BadCase> {};

TEST_P(ConfigYamlErrors, NamesTheField) {
  std::string err = error_of(GetParam().yaml);
  EXPECT_NE(err.find(GetParam().expected), std::string::npos) << "error was: '" << err << "'";
}

INSTANTIATE_TEST_SUITE_P(
    All, ConfigYamlErrors,
    ::testing::Values(
        BadCase{"listen: nonsense\nvips: [{ip: 10.0.0.1, backends: [10.0.0.2]}]", "listen: expected HOST:PORT"},
        BadCase{"listen: 1.2.3.4:99999\nvips: [{ip: 10.0.0.1, backends: [10.0.0.2]}]", "listen: bad port"},
        BadCase{"vips: [{ip: 10.0.0.300, backends: [10.0.0.2]}]", "vips[0].ip: not an IPv4 address"},
        BadCase{"vips: [{ip: 10.0.0.1, backends: [10.0.0.2, 10.0.0]}]", "vips[0].backends[1]: not an IPv4"},
        BadCase{"vips: [{ip: 10.0.0.1, backends: []}]", "vips[0].backends: must be a non-empty list"},
        BadCase{"vips: [{ip: 10.0.0.1}]", "vips[0].backends: must be a non-empty list"},
        BadCase{"vips: [{backends: [10.0.0.2]}]", "vips[0].ip: missing"},
        BadCase{"vips: [{ip: 10.0.0.1, policy: fastest, backends: [10.0.0.2]}]", "vips[0].policy: unknown policy"},
        BadCase{"vips: [{ip: 10.0.0.1, port: 0, backends: [10.0.0.2]}]", "vips[0].port: must be between 1"},
        BadCase{"vips: [{ip: 10.0.0.1, protocol: sctp, backends: [10.0.0.2]}]", "vips[0].protocol"},
        BadCase{"vips: [{ip: 10.0.0.1, backends: [{ip: 10.0.0.2, weight: 0}]}]", "vips[0].backends[0].weight"},
        BadCase{"vips: [{ip: 10.0.0.1, backends: [{ip: 10.0.0.2, colour: red}]}]",
                "vips[0].backends[0].colour: unknown field"},
        BadCase{"vips: [{ip: 10.0.0.1, backends: [10.0.0.2, 10.0.0.2]}]", "duplicate backend 10.0.0.2"},
        BadCase{"vips: [{ip: 10.0.0.1, backends: [10.0.0.1]}]", "cannot be the VIP itself"},
        BadCase{"vips: [{ip: 10.0.0.1, backends: [10.0.0.2]}, {ip: 10.0.0.1, backends: [10.0.0.3]}]",
                "vips[1].ip: duplicate VIP"},
        BadCase{"vips: [{ip: 10.0.0.1, backends: [10.0.0.2]}, {ip: 10.0.0.2, backends: [10.0.0.3]}]",
                "10.0.0.2 is also a VIP"},
        BadCase{"fake_mac: 01:00:5e:00:00:01\nvips: [{ip: 10.0.0.1, backends: [10.0.0.2]}]", "fake_mac: fake MAC must"},
        BadCase{"fake_mac: zz\nvips: [{ip: 10.0.0.1, backends: [10.0.0.2]}]", "fake_mac: not a MAC address"},
        BadCase{"idle_timeout: 0\nvips: [{ip: 10.0.0.1, backends: [10.0.0.2]}]", "idle_timeout: must be between 1"},
        BadCase{"idle_timeout: soon\nvips: [{ip: 10.0.0.1, backends: [10.0.0.2]}]", "idle_timeout: bad value"},
        BadCase{"of_versions: [1.5]\nvips: [{ip: 10.0.0.1, backends: [10.0.0.2]}]", "of_versions: unsupported"},
        BadCase{"log_level: loud\nvips: [{ip: 10.0.0.1, backends: [10.0.0.2]}]", "log_level: expected one of"},
        BadCase{"echo_interval: 10\necho_timeout: 5\nvips: [{ip: 10.0.0.1, backends: [10.0.0.2]}]",
                "echo_timeout: must be longer"},
        BadCase{"colour: red\nvips: [{ip: 10.0.0.1, backends: [10.0.0.2]}]", "colour: unknown field"},
        BadCase{"vips: {ip: 10.0.0.1}", "vips: expected a list"}, BadCase{"[1, 2]", "top level must be a mapping"},
        BadCase{"vips: [", "YAML syntax error"}, BadCase{"log_level: info", "vips: no VIP configured"}));

TEST(ConfigCli, SimpleCase) {
  auto out = parse_args({"--listen",
                         "127.0.0.1:6653",
                         "--vip",
                         "10.0.0.100",
                         "--backends",
                         "10.0.0.11,10.0.0.12,10.0.0.13",
                         "--policy",
                         "random",
                         "--idle-timeout",
                         "5",
                         "--fake-mac",
                         "02:00:00:00:00:aa",
                         "--log-level",
                         "debug",
                         "--of-versions",
                         "1.3",
                         "--seed",
                         "9",
                         "--vip-port",
                         "8080",
                         "--protocol",
                         "tcp",
                         "--no-learning-switch"});
  ASSERT_TRUE(out.config.has_value());
  const AppConfig& c = *out.config;
  EXPECT_EQ(c.listen_host, "127.0.0.1");
  EXPECT_EQ(c.listen_port, 6653);
  ASSERT_EQ(c.balancer.vips.size(), 1u);
  EXPECT_EQ(c.balancer.vips[0].ip.str(), "10.0.0.100");
  EXPECT_EQ(c.balancer.vips[0].backends.size(), 3u);
  EXPECT_EQ(c.balancer.vips[0].policy, lb::PolicyKind::Random);
  EXPECT_EQ(c.balancer.vips[0].port, 8080);
  EXPECT_EQ(c.balancer.vips[0].ip_proto, 6);
  EXPECT_EQ(c.balancer.idle_timeout_s, 5);
  EXPECT_EQ(c.balancer.fake_mac.str(), "02:00:00:00:00:aa");
  EXPECT_FALSE(c.balancer.learning_switch);
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.seed, 9u);
  ASSERT_EQ(c.of_versions.size(), 1u);
}

TEST(ConfigCli, FlagsOverrideConfigFile) {
  std::string path = ::testing::TempDir() + "/fulcrum-cli-test.yaml";
  {
    std::ofstream f(path);
    f << "idle_timeout: 30\nlog_level: warn\nvips: [{ip: 10.0.0.1, backends: [10.0.0.2]}]\n";
  }
  auto out = parse_args({"--config", path, "--idle-timeout", "7"});
  ASSERT_TRUE(out.config.has_value());
  EXPECT_EQ(out.config->balancer.idle_timeout_s, 7);
  EXPECT_EQ(out.config->log_level, "warn");
  EXPECT_EQ(out.config->balancer.vips[0].ip.str(), "10.0.0.1");
}

TEST(ConfigCli, ErrorsNameTheFlag) {
  EXPECT_NE(arg_error({"--vip", "10.0.0.1"}).find("--backends: required"), std::string::npos);
  EXPECT_NE(arg_error({"--vip", "10.0.0.1", "--backends", "10.0.0.2,,10.0.0.3"}).find("--backends: empty entry"),
            std::string::npos);
  EXPECT_NE(arg_error({"--backends", "10.0.0.2"}).find("--vip: required"), std::string::npos);
  EXPECT_NE(arg_error({"--vip", "10.0.0.1", "--backends", "10.0.0.2", "--listen", "6653"}).find("--listen"),
            std::string::npos);
  EXPECT_NE(arg_error({"--vip", "10.0.0.1", "--backends", "10.0.0.2", "--policy", "x"}).find("--policy"),
            std::string::npos);
  EXPECT_NE(arg_error({"--vip", "10.0.0.1", "--backends", "10.0.0.2", "--of-versions", "1.1"}).find("--of-versions"),
            std::string::npos);
  EXPECT_NE(arg_error({"--config", "/nonexistent/fulcrum.yaml"}).find("--config: cannot read"), std::string::npos);
  EXPECT_NE(arg_error({}).find("vips: no VIP configured"), std::string::npos);
}

TEST(ConfigCli, UnknownFlagIsAUsageError) {
  auto out = parse_args({"--frobnicate"});
  EXPECT_FALSE(out.config.has_value());
  EXPECT_NE(out.exit_code, 0);
}

TEST(ConfigCli, HelpExitsZero) {
  testing::internal::CaptureStdout();
  auto out = parse_args({"--help"});
  std::string help = testing::internal::GetCapturedStdout();
  EXPECT_FALSE(out.config.has_value());
  EXPECT_EQ(out.exit_code, 0);
  for (const char* flag :
       {"--listen", "--vip", "--backends", "--policy", "--config", "--fake-mac", "--idle-timeout", "--log-level"}) {
    EXPECT_NE(help.find(flag), std::string::npos) << flag;
  }
}

TEST(ConfigYaml, ScoringCombinedKnobs) {
  AppConfig c = parse_yaml(R"(
vips:
  - ip: 10.0.0.100
    policy: combined
    backends: [10.0.0.11]
    scoring:
      max_age: 3
      combined: {service_prior_ms: 35, round_trips: 1, response_kbit: 64, memory_knee_pct: 80, tie_band: 0.25,
                 rate_window_s: 2.5, tie_ms: 3, pool_requests: 0}
)");
  validate(c);
  const lb::ScoringConfig& sc = c.balancer.vips[0].scoring;
  EXPECT_EQ(sc.service_prior_ms, 35);
  EXPECT_EQ(sc.round_trips, 1);
  EXPECT_EQ(sc.response_kbit, 64);
  EXPECT_EQ(sc.memory_knee_pct, 80);
  EXPECT_EQ(sc.tie_band, 0.25);
  EXPECT_EQ(sc.rate_window_s, 2.5);
  EXPECT_EQ(sc.tie_ms, 3);
  EXPECT_EQ(sc.pool_requests, 0);
  // Defaults when absent.
  AppConfig d = parse_yaml("vips: [{ip: 10.0.0.100, policy: combined, backends: [10.0.0.11]}]");
  EXPECT_EQ(d.balancer.vips[0].scoring, lb::ScoringConfig{});
  EXPECT_EQ(d.balancer.vips[0].scoring.service_prior_ms, 50);
  EXPECT_EQ(d.balancer.vips[0].scoring.round_trips, 2);
  EXPECT_EQ(d.balancer.vips[0].scoring.pool_requests, 20);
}

TEST(ConfigYaml, ScoringCombinedKnobErrorsNameTheField) {
  const std::string head = "vips: [{ip: 10.0.0.1, backends: [10.0.0.2], scoring: {combined: ";
  EXPECT_NE(error_of(head + "{round_trips: -1}}}]").find("round_trips: must be in 0..100"), std::string::npos);
  EXPECT_NE(error_of(head + "{service_prior_ms: 0}}}]").find("service_prior_ms: must be > 0"), std::string::npos);
  EXPECT_NE(error_of(head + "{memory_knee_pct: 100}}}]").find("memory_knee_pct: must be >= 0 and < 100"),
            std::string::npos);
  EXPECT_NE(error_of(head + "{response_kbit: -8}}}]").find("response_kbit: must be in 0..1e9"), std::string::npos);
  EXPECT_NE(error_of(head + "{tie_band: -1}}}]").find("tie_band: must be in 0..10"), std::string::npos);
  EXPECT_NE(error_of(head + "{tie_ms: -1}}}]").find("tie_ms: must be in 0..10000"), std::string::npos);
  EXPECT_NE(error_of(head + "{rate_window_s: 0}}}]").find("rate_window_s: must be in 0.01..3600"), std::string::npos);
  EXPECT_NE(error_of(head + "{pool_requests: -1}}}]").find("pool_requests: must be in 0..1e6"), std::string::npos);
  EXPECT_NE(error_of(head + "{colour: red}}}]").find("vips[0].scoring.combined.colour: unknown field"),
            std::string::npos);
  EXPECT_NE(error_of(head + "[1, 2]}}]").find("vips[0].scoring.combined: expected a mapping"), std::string::npos);
}

}  // namespace
}  // namespace fulcrum::config
