// libFuzzer target for the API core (api::Api::handle): an HTTP request is
// network input. Input: one byte picking the method, then the path up to the
// first newline, then the body. Every answer must be a known status with a
// JSON body (an "error" string for 4xx), never an exception or a crash; a
// change goes through Balancer::reconfigure as in the server. /metrics is
// rendered now and then. A second Api instance requires a token; the input's
// second byte decides whether the request carries it.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "api/api.hpp"
#include "balancer/rng.hpp"

namespace {

using namespace fulcrum;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

lb::BalancerConfig base_config() {
  lb::BalancerConfig cfg;
  for (int v = 0; v < 2; ++v) {
    lb::VipSpec vip;
    vip.name = v == 0 ? "web" : "dns";
    vip.ip = *Ipv4Addr::parse(v == 0 ? "10.0.0.100" : "10.0.0.101");
    for (int b = 0; b < 3; ++b) vip.backends.push_back(lb::BackendSpec{Ipv4Addr{0x0a000000u + 11u + 16u * v + b}});
    cfg.vips.push_back(vip);
  }
  return cfg;
}

struct State {
  lb::Xoshiro256 rng{1};
  std::unique_ptr<lb::Balancer> balancer = std::make_unique<lb::Balancer>(base_config(), rng);
  lb::Outbox out;
  api::Api open;
  api::Api locked{"fuzz-token-0123456789"};
  uint64_t runs = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  static State st;
  if (size < 2) return 0;
  static constexpr const char* kMethods[] = {"GET", "POST", "PATCH", "DELETE", "PUT", "HEAD", "OPTIONS"};
  api::Request req;
  req.method = kMethods[data[0] % 7];
  const bool locked = (data[1] & 1) != 0;
  if (locked && (data[1] & 2) != 0) req.authorization = "Bearer fuzz-token-0123456789";
  std::string rest(reinterpret_cast<const char*>(data + 2), size - 2);
  auto nl = rest.find('\n');
  req.path = rest.substr(0, nl);
  if (nl != std::string::npos) req.body = rest.substr(nl + 1);

  // Keep the state small: start again once the pools have grown.
  std::size_t backends = 0;
  for (const auto& v : st.balancer->config().vips) backends += v.backends.size();
  if (backends > 64) st.balancer = std::make_unique<lb::Balancer>(base_config(), st.rng);

  const auto now = lb::TimePoint{} + std::chrono::seconds(++st.runs);
  api::View view{*st.balancer, nullptr, now, {}, {}};
  api::Api& a = locked ? st.locked : st.open;
  api::Response r =
      a.handle(req, view, [&](lb::BalancerConfig c) { st.balancer->reconfigure(std::move(c), now, st.out); });
  st.out.clear();

  const int s = r.status;
  check(s == 200 || s == 201 || s == 400 || s == 401 || s == 404 || s == 405 || s == 409);
  if (r.content_type == "application/json") {
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    check(!j.is_discarded());
    if (s >= 400) check(j.is_object() && j["error"].is_string() && j["status"] == s);
  } else {
    check(s == 200);
  }
  // The configuration stays valid: every VIP keeps at least one backend.
  for (const auto& v : st.balancer->config().vips) check(!v.backends.empty());
  if (st.runs % 64 == 0) check(!api::render_metrics(view, &st.open).empty());
  return 0;
}
