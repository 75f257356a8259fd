// The `threads` setting (event-loop shards): YAML key, --threads flag, range.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "config/config.hpp"
#include "unit/config/config_test_util.hpp"

namespace fulcrum::config {
namespace {

using test_util::arg_error;
using test_util::error_of;
using test_util::parse_args;

const std::string kVips = "vips: [{ip: 10.0.0.1, backends: [10.0.0.2]}]\n";

TEST(ConfigThreads, DefaultsToOne) {
  EXPECT_EQ(parse_yaml(kVips).threads, 1);
  auto out = parse_args({"--vip", "10.0.0.1", "--backends", "10.0.0.2"});
  ASSERT_TRUE(out.config.has_value());
  EXPECT_EQ(out.config->threads, 1);
}

TEST(ConfigThreads, YamlKey) {
  EXPECT_EQ(parse_yaml("threads: 4\n" + kVips).threads, 4);
  EXPECT_EQ(parse_yaml("threads: 1\n" + kVips).threads, 1);
  EXPECT_EQ(parse_yaml("threads: 64\n" + kVips).threads, 64);
  EXPECT_EQ(error_of("threads: 8\n" + kVips), "");
}

TEST(ConfigThreads, YamlOutOfRangeOrNotANumberNamesTheKey) {
  for (const char* bad : {"threads: 0\n", "threads: 65\n", "threads: -2\n", "threads: two\n", "threads: 1.5\n"}) {
    const std::string e = error_of(bad + kVips);
    EXPECT_NE(e.find("threads"), std::string::npos) << bad << " -> " << e;
  }
}

TEST(ConfigThreads, Flag) {
  auto out = parse_args({"--vip", "10.0.0.1", "--backends", "10.0.0.2", "--threads", "2"});
  ASSERT_TRUE(out.config.has_value());
  EXPECT_EQ(out.config->threads, 2);
}

TEST(ConfigThreads, FlagOverridesFile) {
  std::string path = ::testing::TempDir() + "/fulcrum-threads-test.yaml";
  {
    std::ofstream f(path);
    f << "threads: 3\n" << kVips;
  }
  auto file_only = parse_args({"--config", path});
  ASSERT_TRUE(file_only.config.has_value());
  EXPECT_EQ(file_only.config->threads, 3);
  auto out = parse_args({"--config", path, "--threads", "5"});
  ASSERT_TRUE(out.config.has_value());
  EXPECT_EQ(out.config->threads, 5);
}

TEST(ConfigThreads, FlagOutOfRangeIsAUsageError) {
  for (const char* bad : {"0", "65", "x"}) {
    testing::internal::CaptureStderr();
    auto out = parse_args({"--vip", "10.0.0.1", "--backends", "10.0.0.2", "--threads", bad});
    testing::internal::GetCapturedStderr();
    EXPECT_FALSE(out.config.has_value()) << bad;
    EXPECT_NE(out.exit_code, 0) << bad;
  }
  EXPECT_EQ(arg_error({"--vip", "10.0.0.1", "--backends", "10.0.0.2", "--threads", "64"}), "");
}

TEST(ConfigThreads, HelpListsTheFlag) {
  testing::internal::CaptureStdout();
  parse_args({"--help"});
  EXPECT_NE(testing::internal::GetCapturedStdout().find("--threads"), std::string::npos);
}

}  // namespace
}  // namespace fulcrum::config
