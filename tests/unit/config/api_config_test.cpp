// The api: section and --api-* flags: defaults, parsing, and every refusal
// naming its field.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "unit/config/config_test_util.hpp"

namespace fulcrum::config {
namespace {

const char* kVips = "vips:\n  - ip: 10.0.0.100\n    backends: [10.0.0.11]\n";

class TokenFile {
 public:
  TokenFile(const std::string& content, mode_t mode) {
    char tmpl[] = "/tmp/fulcrum-token-XXXXXX";
    int fd = ::mkstemp(tmpl);
    EXPECT_GE(fd, 0);
    ::close(fd);
    path_ = tmpl;
    std::ofstream(path_) << content;
    ::chmod(path_.c_str(), mode);
  }
  ~TokenFile() { std::remove(path_.c_str()); }
  TokenFile(const TokenFile&) = delete;
  TokenFile& operator=(const TokenFile&) = delete;
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

using test_util::arg_error;
using test_util::error_of;
using test_util::parse_args;

TEST(ApiConfig, OffByDefault) {
  AppConfig c = parse_yaml(kVips);
  EXPECT_FALSE(c.api.listen_host);
  EXPECT_TRUE(c.api.token.empty());
}

TEST(ApiConfig, LoopbackWithoutToken) {
  AppConfig c = parse_yaml(std::string(kVips) + "api:\n  listen: 127.0.0.1:8080\n");
  validate(c);
  EXPECT_EQ(c.api.listen_host, "127.0.0.1");
  EXPECT_EQ(c.api.listen_port, 8080);
  c = parse_yaml(std::string(kVips) + "api: {listen: 'localhost:9000'}\n");
  EXPECT_EQ(c.api.listen_host, "127.0.0.1");
  EXPECT_EQ(c.api.listen_port, 9000);
}

TEST(ApiConfig, NonLoopbackNeedsATokenFile) {
  EXPECT_EQ(error_of(std::string(kVips) + "api:\n  listen: 0.0.0.0:8080\n"),
            "api.token_file: required when the API listens on a non-loopback address (0.0.0.0:8080)");
  TokenFile t("0123456789abcdef0123\n", 0600);
  AppConfig c = parse_yaml(std::string(kVips) + "api:\n  listen: 0.0.0.0:8080\n  token_file: " + t.path() + "\n");
  validate(c);
  EXPECT_EQ(c.api.token, "0123456789abcdef0123");
  EXPECT_EQ(c.api.token_file, t.path());
}

TEST(ApiConfig, BadFieldsAreNamed) {
  const std::string v = kVips;
  EXPECT_EQ(error_of(v + "api: 8080\n"), "api: expected a mapping");
  EXPECT_EQ(error_of(v + "api: {}\n"), "api.listen: missing (HOST:PORT, e.g. 127.0.0.1:8080)");
  EXPECT_EQ(error_of(v + "api: {listen: 127.0.0.1}\n"), "api.listen: expected HOST:PORT, got '127.0.0.1'");
  EXPECT_EQ(error_of(v + "api: {listen: '127.0.0.1:0'}\n"), "api.listen: bad port in '127.0.0.1:0'");
  EXPECT_EQ(error_of(v + "api: {listen: 'example.com:80'}\n"),
            "api.listen: host must be an IPv4 address: 'example.com:80'");
  EXPECT_EQ(error_of(v + "api: {listen: '127.0.0.1:80', tokenfile: x}\n"), "api.tokenfile: unknown field");
  EXPECT_EQ(error_of(v + "api: {listen: '127.0.0.1:80', token_file: /nonexistent/token}\n"),
            "api.token_file: cannot read '/nonexistent/token'");
}

TEST(ApiConfig, TokenFileRules) {
  const std::string v = std::string(kVips) + "api:\n  listen: 10.1.2.3:8080\n  token_file: ";
  {
    TokenFile t("0123456789abcdef0123", 0644);
    EXPECT_EQ(error_of(v + t.path() + "\n"),
              "api.token_file: '" + t.path() + "' is readable or writable by others; run chmod 600 (or 640) on it");
  }
  {
    TokenFile t("short\n", 0600);
    EXPECT_EQ(error_of(v + t.path() + "\n"),
              "api.token_file: the token in '" + t.path() + "' is shorter than 16 characters");
  }
  {
    TokenFile t("0123456789 abcdef0123", 0600);
    EXPECT_EQ(error_of(v + t.path() + "\n"),
              "api.token_file: the token in '" + t.path() + "' must be printable ASCII without spaces");
  }
  EXPECT_EQ(error_of(v + "/tmp\n"), "api.token_file: '/tmp' is not a regular file");
}

TEST(ApiConfig, Flags) {
  auto out = parse_args({"--vip", "10.0.0.100", "--backends", "10.0.0.11", "--api-listen", "127.0.0.1:8081"});
  ASSERT_TRUE(out.config);
  EXPECT_EQ(out.config->api.listen_host, "127.0.0.1");
  EXPECT_EQ(out.config->api.listen_port, 8081);
  EXPECT_EQ(arg_error({"--vip", "10.0.0.100", "--backends", "10.0.0.11", "--api-listen", "0.0.0.0:8081"}),
            "api.token_file: required when the API listens on a non-loopback address (0.0.0.0:8081)");
  EXPECT_EQ(arg_error({"--vip", "10.0.0.100", "--backends", "10.0.0.11", "--api-listen", "nope"}),
            "--api-listen: expected HOST:PORT, got 'nope'");
  TokenFile t("tok-0123456789abcdef", 0640);
  out = parse_args(
      {"--vip", "10.0.0.100", "--backends", "10.0.0.11", "--api-listen", "0.0.0.0:8081", "--api-token-file", t.path()});
  ASSERT_TRUE(out.config);
  EXPECT_EQ(out.config->api.token, "tok-0123456789abcdef");
  EXPECT_EQ(arg_error({"--vip", "10.0.0.100", "--backends", "10.0.0.11", "--api-token-file", "/nonexistent"}),
            "--api-token-file: cannot read '/nonexistent'");
}

TEST(ApiConfig, IsLoopback) {
  EXPECT_TRUE(is_loopback("127.0.0.1"));
  EXPECT_TRUE(is_loopback("127.9.9.9"));
  EXPECT_FALSE(is_loopback("0.0.0.0"));
  EXPECT_FALSE(is_loopback("10.0.0.1"));
  EXPECT_FALSE(is_loopback("128.0.0.1"));
}

}  // namespace
}  // namespace fulcrum::config
