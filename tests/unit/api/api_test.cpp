// The API core (api::Api::handle, render_metrics) against a real Balancer
// driven through the fake switch: every endpoint, every error path, and that
// a change made through the API takes effect for the next connection while
// existing connections keep their backend.
#include "api/api.hpp"

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "packet/packet.hpp"
#include "unit/balancer/fake_switch.hpp"
#include "unit/balancer/frames.hpp"

namespace fulcrum::api {
namespace {

using json = nlohmann::json;
using lb::testing::arp_reply;
using lb::testing::Bench;
using lb::testing::ip;
using lb::testing::mac;

constexpr lb::Dpid kDpid = 1;
const Ipv4Addr kVip = ip("10.0.0.100");
const MacAddr kFake = lb::BalancerConfig{}.fake_mac;
const std::array<Ipv4Addr, 3> kBackendIp = {ip("10.0.0.1"), ip("10.0.0.2"), ip("10.0.0.3")};
const std::array<MacAddr, 3> kBackendMac = {mac("02:00:00:00:01:01"), mac("02:00:00:00:01:02"),
                                            mac("02:00:00:00:01:03")};
const MacAddr kClientMac = mac("02:00:00:00:02:01");
const Ipv4Addr kClientIp = ip("10.0.1.1");
constexpr of::PortNo kClientPort = 4;

lb::BalancerConfig make_config() {
  lb::BalancerConfig cfg;
  lb::VipSpec vip;
  vip.name = "web";
  vip.ip = kVip;
  vip.port = 80;
  vip.ip_proto = 6;
  for (Ipv4Addr b : kBackendIp) vip.backends.push_back(lb::BackendSpec{b, 1});
  vip.health.kind = lb::HealthCheckKind::None;
  cfg.monitor.latency_probe_interval = lb::Duration::zero();
  cfg.monitor.port_stats_interval = lb::Duration::zero();
  cfg.monitor.metrics_log_interval = lb::Duration::zero();
  cfg.vips.push_back(vip);
  return cfg;
}

class ApiTest : public ::testing::Test {
 protected:
  explicit ApiTest(std::string token = {}) : api_(std::move(token)) {}

  void SetUp() override {
    bench_ = std::make_unique<Bench>(make_config());
    sw_ = &bench_->add_switch(kDpid, 8);
    for (std::size_t i = 0; i < 3; ++i) learn(i);
    sw_->inject(kClientPort, lb::testing::arp_request(kClientMac, kClientIp, kVip));
  }

  void learn(std::size_t i) {
    sw_->inject(static_cast<of::PortNo>(i + 1), arp_reply(kBackendMac[i], kBackendIp[i], kFake, kVip));
  }

  Response call(const std::string& method, const std::string& path, const std::string& body = "",
                const std::string& auth = "") {
    View view{bench_->balancer(), nullptr, bench_->now(), std::chrono::system_clock::now(), started_};
    return api_.handle(Request{method, path, body, auth}, view, [&](lb::BalancerConfig c) {
      ++applied_;
      bench_->balancer().reconfigure(std::move(c), bench_->now(), bench_->outbox());
      bench_->dispatch();
    });
  }
  json call_json(const std::string& method, const std::string& path, const std::string& body = "",
                 int want_status = 200) {
    Response r = call(method, path, body);
    EXPECT_EQ(r.status, want_status) << method << " " << path << ": " << r.body;
    EXPECT_EQ(r.content_type, "application/json");
    json j = json::parse(r.body, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.body;
    return j;
  }
  // An error: the status, and a JSON body whose message contains `needle`.
  void expect_error(const std::string& method, const std::string& path, const std::string& body, int status,
                    const std::string& needle) {
    const int before = applied_;
    Response r = call(method, path, body);
    EXPECT_EQ(r.status, status) << method << " " << path << " " << body << ": " << r.body;
    json j = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << r.body;
    ASSERT_TRUE(j["error"].is_string()) << r.body;
    EXPECT_NE(j["error"].get<std::string>().find(needle), std::string::npos)
        << "error '" << j["error"] << "' should mention '" << needle << "'";
    EXPECT_EQ(j["status"], status);
    EXPECT_EQ(applied_, before) << "a refused request must not change the configuration";
  }

  // A new TCP connection from the client; returns the index of the backend
  // its first packet went to (99: none).
  std::size_t connect(uint16_t sport) {
    auto f = lb::testing::tcp_frame(kClientMac, kFake, kClientIp, kVip, sport, 80, pkt::kTcpSyn);
    auto r = sw_->inject(kClientPort, f);
    auto outs = r.outputs();
    if (outs.size() != 1 || outs[0].port < 1 || outs[0].port > 3) return 99;
    return outs[0].port - 1;
  }

  json backend(const json& vip, const std::string& backend_ip) {
    for (const auto& b : vip["backends"]) {
      if (b["ip"] == backend_ip) return b;
    }
    ADD_FAILURE() << "no backend " << backend_ip << " in " << vip.dump();
    return json::object();
  }

  Api api_;
  std::unique_ptr<Bench> bench_;
  lb::testing::FakeSwitch* sw_ = nullptr;
  std::chrono::system_clock::time_point started_ = std::chrono::system_clock::now();
  int applied_ = 0;
};

TEST_F(ApiTest, VipsListsBackendsWithStateConnectionsAndScore) {
  EXPECT_EQ(connect(1000), 0u);
  EXPECT_EQ(connect(1001), 1u);
  json j = call_json("GET", "/api/v1/vips");
  ASSERT_EQ(j["vips"].size(), 1u);
  const json& v = j["vips"][0];
  EXPECT_EQ(v["name"], "web");
  EXPECT_EQ(v["ip"], "10.0.0.100");
  EXPECT_EQ(v["port"], 80);
  EXPECT_EQ(v["protocol"], "tcp");
  EXPECT_EQ(v["policy"], "round-robin");
  EXPECT_EQ(v["connections"]["active"], 2);
  EXPECT_EQ(v["connections"]["total"], 2);
  ASSERT_EQ(v["backends"].size(), 3u);
  const json b1 = backend(v, "10.0.0.1");
  EXPECT_EQ(b1["status"], "up");
  EXPECT_EQ(b1["mode"], "active");
  EXPECT_EQ(b1["weight"], 1);
  EXPECT_EQ(b1["connections"]["active"], 1);
  EXPECT_EQ(b1["connections"]["total"], 1);
  ASSERT_EQ(b1["switches"].size(), 1u);
  const json& s = b1["switches"][0];
  EXPECT_EQ(s["dpid"], "0000000000000001");
  EXPECT_EQ(s["learned"], true);
  EXPECT_EQ(s["mac"], "02:00:00:00:01:01");
  EXPECT_EQ(s["port"], 1);
  EXPECT_EQ(s["available"], true);
  EXPECT_TRUE(s["metrics"]["cpu_pct"].is_null());  // no agent
  EXPECT_TRUE(s["score"].is_number());
  for (const char* k : {"cpu", "memory", "latency", "bandwidth"}) EXPECT_TRUE(s["normalised"][k].is_number()) << k;
  EXPECT_EQ(backend(v, "10.0.0.3")["connections"]["total"], 0);
}

TEST_F(ApiTest, OneVipOneBackendStatusAndSwitches) {
  json v = call_json("GET", "/api/v1/vips/web");
  EXPECT_EQ(v["ip"], "10.0.0.100");
  EXPECT_EQ(call_json("GET", "/api/v1/vips/10.0.0.100")["name"], "web");  // by address too
  json bs = call_json("GET", "/api/v1/vips/web/backends");
  EXPECT_EQ(bs["vip"], "web");
  EXPECT_EQ(bs["backends"].size(), 3u);
  json b = call_json("GET", "/api/v1/vips/web/backends/10.0.0.2");
  EXPECT_EQ(b["ip"], "10.0.0.2");
  EXPECT_EQ(b["status"], "up");
  json st = call_json("GET", "/api/v1/status");
  EXPECT_EQ(st["switches_up"], 1);
  EXPECT_EQ(st["vips"], 1);
  EXPECT_EQ(st["backends"], 3);
  EXPECT_EQ(st["counters"]["backends_learned"], 3);
  EXPECT_FALSE(st.contains("controller"));  // no controller in this test
  EXPECT_EQ(call_json("GET", "/api/v1/switches")["switches"], json::array());
  EXPECT_EQ(call_json("GET", "/api/v1/vips/web/")["name"], "web");  // a trailing slash is the same path
}

TEST_F(ApiTest, UnlearnedBackendsShowAsUnlearned) {
  bench_ = std::make_unique<Bench>(make_config());
  sw_ = &bench_->add_switch(kDpid, 8);
  learn(0);
  json v = call_json("GET", "/api/v1/vips/web");
  EXPECT_EQ(backend(v, "10.0.0.1")["status"], "up");
  EXPECT_EQ(backend(v, "10.0.0.2")["status"], "unlearned");
  EXPECT_TRUE(backend(v, "10.0.0.2")["score"].is_null());
}

TEST_F(ApiTest, DrainTakesEffectForTheNextConnectionAndKeepsExistingOnes) {
  EXPECT_EQ(connect(2000), 0u);  // round-robin: b1 first
  json b = call_json("POST", "/api/v1/vips/web/backends/10.0.0.1/drain");
  EXPECT_EQ(b["mode"], "drain");
  EXPECT_EQ(b["status"], "draining");
  EXPECT_EQ(b["connections"]["active"], 1);  // the existing connection is kept
  for (uint16_t p = 2001; p < 2011; ++p) EXPECT_NE(connect(p), 0u) << "drained b1 got a new connection";
  // The first connection's entry still leads to b1.
  auto again = lb::testing::tcp_frame(kClientMac, kFake, kClientIp, kVip, 2000, 80, pkt::kTcpAck);
  auto r = sw_->inject(kClientPort, again);
  ASSERT_EQ(r.outputs().size(), 1u);
  EXPECT_EQ(r.outputs()[0].port, 1u);
  EXPECT_FALSE(r.packet_in);  // forwarded by the switch's entry
  b = call_json("POST", "/api/v1/vips/web/backends/10.0.0.1/activate", "{}");
  EXPECT_EQ(b["status"], "up");
  std::set<std::size_t> seen;
  for (uint16_t p = 2100; p < 2106; ++p) seen.insert(connect(p));
  EXPECT_TRUE(seen.contains(0u));
  EXPECT_EQ(api_.changes(), 2u);
}

TEST_F(ApiTest, PatchWeightModeAndCapacity) {
  json b = call_json("PATCH", "/api/v1/vips/web/backends/10.0.0.2", R"({"weight": 5})");
  EXPECT_EQ(b["weight"], 5);
  EXPECT_EQ(bench_->balancer().config().vips[0].backends[1].weight, 5u);
  b = call_json("PATCH", "/api/v1/vips/web/backends/10.0.0.2", R"({"mode": "drain", "capacity_kbps": 1000})");
  EXPECT_EQ(b["mode"], "drain");
  EXPECT_EQ(b["capacity_kbps"], 1000);
  EXPECT_EQ(b["weight"], 5);  // untouched
  EXPECT_EQ(bench_->balancer().find_switch(kDpid)->vips[0].backends[1].spec.mode, lb::BackendMode::Drain);
}

TEST_F(ApiTest, AddedBackendIsDiscoveredAndTakesConnections) {
  json b = call_json("POST", "/api/v1/vips/web/backends", R"({"ip": "10.0.0.4", "weight": 2})", 201);
  EXPECT_EQ(b["ip"], "10.0.0.4");
  EXPECT_EQ(b["weight"], 2);
  EXPECT_EQ(b["status"], "unlearned");
  bench_->advance(std::chrono::milliseconds(200));  // the discovery ARP goes out
  sw_->inject(5, arp_reply(mac("02:00:00:00:01:04"), ip("10.0.0.4"), kFake, kVip));
  json v = call_json("GET", "/api/v1/vips/web");
  EXPECT_EQ(backend(v, "10.0.0.4")["status"], "up");
  EXPECT_EQ(backend(v, "10.0.0.4")["switches"][0]["port"], 5);
  // Round-robin over four: one of four connections reaches port 5.
  int to_new = 0;
  for (uint16_t p = 3000; p < 3004; ++p) {
    auto f = lb::testing::tcp_frame(kClientMac, kFake, kClientIp, kVip, p, 80, pkt::kTcpSyn);
    auto outs = sw_->inject(kClientPort, f).outputs();
    if (outs.size() == 1 && outs[0].port == 5) ++to_new;
  }
  EXPECT_EQ(to_new, 1);
}

TEST_F(ApiTest, RemovedBackendKeepsItsConnectionsUntilTheyEnd) {
  lb::BalancerConfig cfg = make_config();
  cfg.connection_linger = lb::Duration::zero();  // a connection ends when its entries idle out
  bench_ = std::make_unique<Bench>(cfg);
  sw_ = &bench_->add_switch(kDpid, 8);
  for (std::size_t i = 0; i < 3; ++i) learn(i);
  EXPECT_EQ(connect(4000), 0u);
  json r = call_json("DELETE", "/api/v1/vips/web/backends/10.0.0.1");
  EXPECT_EQ(r["removed"], "10.0.0.1");
  EXPECT_EQ(r["vip"], "web");
  EXPECT_EQ(r["backend"]["status"], "removed");
  EXPECT_EQ(r["backend"]["configured"], false);
  EXPECT_EQ(r["backend"]["connections"]["active"], 1);
  for (uint16_t p = 4001; p < 4007; ++p) EXPECT_NE(connect(p), 0u);
  json v = call_json("GET", "/api/v1/vips/web");
  EXPECT_EQ(v["backends"].size(), 3u);  // two configured + the removed one, still listed
  EXPECT_EQ(bench_->balancer().config().vips[0].backends.size(), 2u);
  // Its entries idle out: it is gone.
  bench_->advance(std::chrono::seconds(12));
  v = call_json("GET", "/api/v1/vips/web");
  EXPECT_EQ(v["backends"].size(), 2u);
  expect_error("GET", "/api/v1/vips/web/backends/10.0.0.1", "", 404, "not in the pool");
}

TEST_F(ApiTest, RemovingABackendKeepsTheOthersConnectionsOnTheirBackends) {
  // b1 leaves the pool, so b2 and b3 move down one index in the balancer's
  // tables: their connections must follow them.
  EXPECT_EQ(connect(7000), 0u);
  EXPECT_EQ(connect(7001), 1u);
  EXPECT_EQ(connect(7002), 2u);
  EXPECT_EQ(connect(7003), 0u);
  call_json("DELETE", "/api/v1/vips/web/backends/10.0.0.1");
  json v = call_json("GET", "/api/v1/vips/web");
  EXPECT_EQ(backend(v, "10.0.0.1")["connections"]["active"], 2);
  EXPECT_EQ(backend(v, "10.0.0.2")["connections"]["active"], 1);
  EXPECT_EQ(backend(v, "10.0.0.3")["connections"]["active"], 1);
  // A packet-in for b3's connection (as after its entries idled out) still
  // goes to b3, and one for b1's to b1.
  for (auto [sport, port] : {std::pair<uint16_t, of::PortNo>{7002, 3}, {7000, 1}, {7001, 2}}) {
    auto f = lb::testing::tcp_frame(kClientMac, kFake, kClientIp, kVip, sport, 80, pkt::kTcpAck);
    auto r = sw_->packet_in(kClientPort, f);
    ASSERT_EQ(r.outputs().size(), 1u) << sport;
    EXPECT_EQ(r.outputs()[0].port, port) << sport;
  }
  EXPECT_EQ(bench_->counters().connections_assigned, 4u);  // none assigned afresh
}

TEST_F(ApiTest, PolicyChange) {
  json v = call_json("PATCH", "/api/v1/vips/web", R"({"policy": "least-connections"})");
  EXPECT_EQ(v["policy"], "least-connections");
  EXPECT_EQ(bench_->balancer().config().vips[0].policy, lb::PolicyKind::LeastConnections);
  EXPECT_EQ(bench_->balancer().find_switch(kDpid)->vips[0].policy->kind(), lb::PolicyKind::LeastConnections);
  // least-connections with connections that stay open: 6 spread 2/2/2,
  // whatever the order.
  std::map<std::size_t, int> count;
  for (uint16_t p = 5000; p < 5006; ++p) ++count[connect(p)];
  EXPECT_EQ(count, (std::map<std::size_t, int>{{0, 2}, {1, 2}, {2, 2}}));
}

TEST_F(ApiTest, ErrorsNameTheProblem) {
  // Routes and methods.
  expect_error("GET", "/api/v1/nothing", "", 404, "no such endpoint");
  expect_error("GET", "/api/v2/vips", "", 404, "no such endpoint");
  expect_error("GET", "/favicon.ico", "", 404, "no such endpoint");
  expect_error("GET", "/api/v1/vips/web/pools", "", 404, "no such endpoint");
  expect_error("POST", "/api/v1/vips/web/backends/10.0.0.1/explode", "", 404, "no such endpoint");
  expect_error("GET", "/api/v1/vips/web/backends/10.0.0.1/drain/x", "", 404, "no such endpoint");
  expect_error("DELETE", "/api/v1/vips", "", 405, "not allowed");
  expect_error("POST", "/api/v1/status", "", 405, "not allowed");
  expect_error("PUT", "/api/v1/vips/web/backends/10.0.0.1", "{}", 405, "not allowed");
  expect_error("GET", "/api/v1/vips/web/backends/10.0.0.1/drain", "", 405, "not allowed");
  expect_error("POST", "/metrics", "", 405, "not allowed");
  Response r = call("DELETE", "/api/v1/vips/web");
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0], (std::pair<std::string, std::string>{"Allow", "GET, PATCH"}));
  // Unknown VIP and backend; bad addresses.
  expect_error("GET", "/api/v1/vips/nope", "", 404, "no VIP 'nope' (known: web)");
  expect_error("GET", "/api/v1/vips/web/backends/10.0.0.9", "", 404, "10.0.0.9 is not in the pool of VIP web");
  expect_error("POST", "/api/v1/vips/web/backends/10.0.0.9/drain", "", 404, "not in the pool");
  expect_error("PATCH", "/api/v1/vips/web/backends/10.0.0.9", R"({"weight": 2})", 404, "not in the pool");
  expect_error("DELETE", "/api/v1/vips/web/backends/10.0.0.9", "", 404, "not in the pool");
  expect_error("GET", "/api/v1/vips/web/backends/10.0.0", "", 400, "not an IPv4 address: '10.0.0'");
  expect_error("DELETE", "/api/v1/vips/web/backends/300.1.1.1", "", 400, "not an IPv4 address");
  // Bodies.
  const std::string b1 = "/api/v1/vips/web/backends/10.0.0.1";
  expect_error("PATCH", b1, "{\"weight\": ", 400, "not valid JSON");
  expect_error("PATCH", b1, "[1, 2]", 400, "expected a JSON object");
  expect_error("PATCH", b1, "", 400, "got nothing");
  expect_error("PATCH", b1, "{}", 400, "nothing to change");
  expect_error("PATCH", b1, R"({"wieght": 2})", 400, "unknown field 'wieght'");
  expect_error("PATCH", b1, R"({"weight": 0})", 400, "weight: must be an integer between 1 and 1000000, got 0");
  expect_error("PATCH", b1, R"({"weight": 1000001})", 400, "weight: must be");
  expect_error("PATCH", b1, R"({"weight": -3})", 400, "weight: must be");
  expect_error("PATCH", b1, R"({"weight": 1.5})", 400, "weight: must be");
  expect_error("PATCH", b1, R"({"weight": "2"})", 400, "weight: must be");
  expect_error("PATCH", b1, R"({"mode": "off"})", 400, "mode: expected \"active\" or \"drain\"");
  expect_error("PATCH", b1, R"({"capacity_kbps": -1})", 400, "capacity_kbps");
  expect_error("PATCH", b1, R"({"weight": 2, "mode": 7})", 400, "mode:");  // nothing applied, weight included
  EXPECT_EQ(bench_->balancer().config().vips[0].backends[0].weight, 1u);
  expect_error("POST", b1 + "/drain", "{\"x\": 1}", 400, "unknown field 'x' (expected no fields)");
  expect_error("POST", b1 + "/drain", "nonsense", 400, "not valid JSON");
  // Adding.
  const std::string pool = "/api/v1/vips/web/backends";
  expect_error("POST", pool, "{}", 400, "ip: missing");
  expect_error("POST", pool, R"({"ip": "10.0.0.256"})", 400, "ip: not an IPv4 address: \"10.0.0.256\"");
  expect_error("POST", pool, R"({"ip": 10})", 400, "ip: not an IPv4 address");
  expect_error("POST", pool, R"({"ip": "10.0.0.5", "weight": 0})", 400, "weight:");
  expect_error("POST", pool, R"({"ip": "10.0.0.5", "port": 80})", 400, "unknown field 'port'");
  expect_error("POST", pool, R"({"ip": "10.0.0.1"})", 409, "already in the pool of VIP web");
  expect_error("POST", pool, R"({"ip": "10.0.0.100"})", 409, "is a VIP");
  // Invalid UTF-8 in a field name is reported, not thrown.
  expect_error("POST", pool, "{\"\xff\": 1}", 400, "not valid JSON");
  // Policy.
  expect_error("PATCH", "/api/v1/vips/web", R"({"policy": "fastest"})", 400, "policy: unknown policy \"fastest\"");
  expect_error("PATCH", "/api/v1/vips/web", R"({"policy": 3})", 400, "policy: unknown policy 3");
  expect_error("PATCH", "/api/v1/vips/web", R"({"name": "x"})", 400, "unknown field 'name'");
  expect_error("PATCH", "/api/v1/vips/web", "{}", 400, "policy: missing");
  EXPECT_EQ(api_.changes(), 0u);
}

TEST_F(ApiTest, CannotRemoveTheLastBackend) {
  call_json("DELETE", "/api/v1/vips/web/backends/10.0.0.1");
  call_json("DELETE", "/api/v1/vips/web/backends/10.0.0.2");
  expect_error("DELETE", "/api/v1/vips/web/backends/10.0.0.3", "", 409, "last backend of VIP web (drain it instead)");
}

TEST_F(ApiTest, DashboardIsServedAtRootAndDashboard) {
  for (const char* path : {"/", "/dashboard"}) {
    Response r = call("GET", path);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
    EXPECT_NE(r.body.find("<title>Fulcrum</title>"), std::string::npos);
    EXPECT_NE(r.body.find("/api/v1/vips"), std::string::npos);  // it polls the API
    EXPECT_EQ(r.body.find("http://"), std::string::npos);       // nothing from elsewhere
    EXPECT_EQ(r.body.find("https://"), std::string::npos);
  }
  expect_error("POST", "/", "", 405, "not allowed");
}

class ApiTokenTest : public ApiTest {
 protected:
  ApiTokenTest() : ApiTest("s3cret-token-0123456789") {}
};

TEST_F(ApiTokenTest, EveryEndpointButThePageNeedsTheToken) {
  for (const char* path : {"/api/v1/status", "/api/v1/vips", "/metrics", "/api/v1/nothing"}) {
    Response r = call("GET", path);
    EXPECT_EQ(r.status, 401) << path;
    EXPECT_NE(r.body.find("missing bearer token"), std::string::npos) << r.body;
    ASSERT_EQ(r.headers.size(), 1u);
    EXPECT_EQ(r.headers[0].first, "WWW-Authenticate");
    for (const char* bad : {"Bearer wrong", "Bearer s3cret-token-012345678", "Bearer s3cret-token-01234567890",
                            "Basic czNjcmV0", "s3cret-token-0123456789", "Bearer "}) {
      Response w = call("GET", path, "", bad);
      EXPECT_EQ(w.status, 401) << path << " " << bad;
      EXPECT_NE(w.body.find("invalid bearer token"), std::string::npos) << w.body;
    }
  }
  EXPECT_EQ(call("GET", "/api/v1/vips", "", "Bearer s3cret-token-0123456789").status, 200);
  EXPECT_EQ(call("GET", "/metrics", "", "Bearer s3cret-token-0123456789").status, 200);
  EXPECT_EQ(call("GET", "/api/v1/nothing", "", "Bearer s3cret-token-0123456789").status, 404);
  Response changed = call("POST", "/api/v1/vips/web/backends/10.0.0.1/drain", "", "Bearer wrong");
  EXPECT_EQ(changed.status, 401);
  EXPECT_EQ(applied_, 0);
  EXPECT_EQ(call("GET", "/", "", "").status, 200);  // the page itself holds no data
}

TEST(ConstantTimeEqual, ComparesWholeStrings) {
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_TRUE(constant_time_equal("", ""));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "ab"));
  EXPECT_FALSE(constant_time_equal("ab", "abc"));
  EXPECT_FALSE(constant_time_equal("", "a"));
}

// ---- metrics --------------------------------------------------------------

// Sample lines (not comments) of one family, exactly as written.
std::vector<std::string> samples(const std::string& text, const std::string& family) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(family, 0) == 0 && (line.size() > family.size()) &&
        (line[family.size()] == ' ' || line[family.size()] == '{' || line[family.size()] == '_')) {
      out.push_back(line);
    }
  }
  return out;
}

TEST_F(ApiTest, MetricsCountConnectionsPerVipAndBackend) {
  for (uint16_t p = 6000; p < 6006; ++p) connect(p);
  Response r = call("GET", "/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
  const std::string& t = r.body;
  EXPECT_NE(t.find("# TYPE fulcrum_decisions_total counter\nfulcrum_decisions_total 6\n"), std::string::npos) << t;
  EXPECT_NE(t.find("fulcrum_vip_connections_active{vip=\"10.0.0.100\",name=\"web\"} 6\n"), std::string::npos);
  EXPECT_NE(t.find("fulcrum_vip_connections_total{vip=\"10.0.0.100\",name=\"web\"} 6\n"), std::string::npos);
  EXPECT_NE(t.find("fulcrum_backend_connections_total{vip=\"10.0.0.100\",name=\"web\",backend=\"10.0.0.2\",dpid="
                   "\"0000000000000001\"} 2\n"),
            std::string::npos);
  EXPECT_NE(t.find("fulcrum_backend_status{vip=\"10.0.0.100\",name=\"web\",backend=\"10.0.0.3\",dpid="
                   "\"0000000000000001\",status=\"up\"} 1\n"),
            std::string::npos);
  EXPECT_EQ(samples(t, "fulcrum_backend_normalised").size(), 12u);  // 3 backends x 4 metrics
  EXPECT_EQ(samples(t, "fulcrum_backend_metric").size(), 0u);       // no fresh metrics without agents/probes
  EXPECT_EQ(samples(t, "fulcrum_agent_reports_rejected_total").size(), 5u);
  // Every family is declared once, before its samples.
  std::set<std::string> types;
  std::istringstream in(t);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("# TYPE ", 0) == 0) {
      std::string name = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_TRUE(types.insert(name).second) << "family declared twice: " << name;
    }
  }
  EXPECT_GE(types.size(), 30u);
}

TEST_F(ApiTest, MetricsEscapeLabelValues) {
  lb::BalancerConfig cfg = bench_->balancer().config();
  cfg.vips[0].name = "a \"quoted\" \\ name\nx";
  bench_->balancer().reconfigure(cfg, bench_->now(), bench_->outbox());
  std::string t = render_metrics(View{bench_->balancer(), nullptr, bench_->now(), {}, {}}, nullptr);
  EXPECT_NE(t.find("name=\"a \\\"quoted\\\" \\\\ name\\nx\""), std::string::npos);
}

TEST(LatencyHistogram, BucketsAreUpperBoundsAndRenderCumulative) {
  ctl::LatencyHistogram h;
  h.observe(std::chrono::nanoseconds(500));   // <= 1 us
  h.observe(std::chrono::nanoseconds(1000));  // <= 1 us (bounds are inclusive)
  h.observe(std::chrono::nanoseconds(3500));  // <= 5 us
  h.observe(std::chrono::milliseconds(200));  // +Inf
  EXPECT_EQ(h.buckets[0], 2u);
  EXPECT_EQ(h.buckets[2], 1u);
  EXPECT_EQ(h.buckets.back(), 1u);
  EXPECT_EQ(h.count, 4u);
  EXPECT_NEAR(h.sum_s, 0.200005, 1e-9);

  lb::BalancerConfig cfg = make_config();
  lb::Xoshiro256 rng(1);
  lb::Balancer balancer(cfg, rng);
  asio::io_context io;
  ctl::Controller controller(io, ctl::ControllerConfig{}, balancer);
  std::string t = render_metrics(View{balancer, &controller, lb::TimePoint{}, {}, {}}, nullptr);
  EXPECT_NE(t.find("# TYPE fulcrum_decision_latency_seconds histogram\n"
                   "fulcrum_decision_latency_seconds_bucket{le=\"1e-06\"} 0\n"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("fulcrum_decision_latency_seconds_bucket{le=\"+Inf\"} 0\n"
                   "fulcrum_decision_latency_seconds_sum 0\n"
                   "fulcrum_decision_latency_seconds_count 0\n"),
            std::string::npos);
  EXPECT_NE(t.find("fulcrum_flow_mods_total 0\n"), std::string::npos);
}

// threads > 1: the View spans every shard. Two benches stand for two shards,
// each with its own balancer and switch; the API shows them as one.
TEST(ShardedView, CountersSummedAndSwitchesFromEveryShard) {
  Bench one(make_config());
  Bench two(make_config());
  lb::testing::FakeSwitch& a = one.add_switch(0x1, 8);
  lb::testing::FakeSwitch& b = two.add_switch(0x2, 8);
  for (std::size_t i = 0; i < 3; ++i) {
    a.inject(static_cast<of::PortNo>(i + 1), arp_reply(kBackendMac[i], kBackendIp[i], kFake, kVip));
    b.inject(static_cast<of::PortNo>(i + 1), arp_reply(kBackendMac[i], kBackendIp[i], kFake, kVip));
  }
  b.inject(kClientPort, lb::testing::arp_request(kClientMac, kClientIp, kVip));
  const uint64_t packet_ins = one.balancer().counters().packet_ins + two.balancer().counters().packet_ins;
  ASSERT_GT(one.balancer().counters().packet_ins, 0u);
  ASSERT_GT(two.balancer().counters().packet_ins, 0u);

  asio::io_context io1, io2;
  ctl::Controller c1(io1, ctl::ControllerConfig{}, one.balancer());
  ctl::Controller c2(io2, ctl::ControllerConfig{}, two.balancer());
  View view({ShardView{&one.balancer(), &c1}, ShardView{&two.balancer(), &c2}}, one.now(),
            std::chrono::system_clock::now(), std::chrono::system_clock::now());
  EXPECT_EQ(view.switch_count(), 2u);
  ASSERT_EQ(view.switches().size(), 2u);
  EXPECT_EQ(view.switches()[0]->dpid, 0x1u);
  EXPECT_EQ(view.switches()[1]->dpid, 0x2u);
  EXPECT_EQ(view.find_switch(0x2), two.balancer().find_switch(0x2));
  EXPECT_EQ(view.counters().packet_ins, packet_ins);

  Api api;
  Response r = api.handle(Request{"GET", "/api/v1/status", "", ""}, view, [](lb::BalancerConfig) {});
  ASSERT_EQ(r.status, 200) << r.body;
  json j = json::parse(r.body);
  EXPECT_EQ(j["switches_up"], 2);
  EXPECT_EQ(j["counters"]["packet_ins"], packet_ins);
  EXPECT_EQ(j["counters"]["arp_replies"],
            one.balancer().counters().arp_replies + two.balancer().counters().arp_replies);

  const std::string t = render_metrics(view, nullptr);
  EXPECT_NE(t.find("fulcrum_switch_connections{dpid=\"0000000000000001\"}"), std::string::npos) << t;
  EXPECT_NE(t.find("fulcrum_switch_connections{dpid=\"0000000000000002\"}"), std::string::npos) << t;
  EXPECT_NE(t.find("fulcrum_switches_up 2\n"), std::string::npos) << t;
}

TEST(ShardedView, HistogramsAndControllerCountersMerge) {
  ctl::LatencyHistogram a, b;
  a.observe(std::chrono::nanoseconds(500));
  b.observe(std::chrono::nanoseconds(3500));
  b.observe(std::chrono::milliseconds(200));
  ctl::LatencyHistogram m = a;
  m += b;
  EXPECT_EQ(m.count, 3u);
  EXPECT_EQ(m.buckets[0], 1u);
  EXPECT_EQ(m.buckets[2], 1u);
  EXPECT_EQ(m.buckets.back(), 1u);
  EXPECT_NEAR(m.sum_s, 0.2000040, 1e-9);
  ctl::ControllerCounters x, y;
  x.messages_in = 3;
  x.flow_mods_out = 1;
  y.messages_in = 4;
  y.packet_outs_out = 2;
  x += y;
  EXPECT_EQ(x.messages_in, 7u);
  EXPECT_EQ(x.flow_mods_out, 1u);
  EXPECT_EQ(x.packet_outs_out, 2u);
}

}  // namespace
}  // namespace fulcrum::api
