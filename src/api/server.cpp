#include "api/server.hpp"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <future>
#include <stdexcept>

namespace fulcrum::api {

namespace {

void send(httplib::Response& out, const Response& r) {
  out.status = r.status;
  for (const auto& [k, v] : r.headers) out.set_header(k, v);
  out.set_header("Cache-Control", "no-store");
  out.set_content(r.body, r.content_type);
}

Response plain_error(int status, const std::string& message) {
  return Response{
      status, "application/json", "{\"error\": \"" + message + "\", \"status\": " + std::to_string(status) + "}\n", {}};
}

}  // namespace

Server::Server(ctl::Shards& shards, Api& api, std::chrono::system_clock::time_point started)
    : shards_(shards), api_(api), started_(started), http_(std::make_unique<httplib::Server>()) {}

Server::~Server() { stop(); }

void Server::start(const std::string& host, uint16_t port) {
  auto handler = [this](const httplib::Request& hreq, httplib::Response& hres) {
    Request req{hreq.method, hreq.path, hreq.body, hreq.get_header_value("Authorization")};
    auto answer = std::make_shared<std::promise<Response>>();
    auto future = answer->get_future();
    const auto t0 = std::chrono::steady_clock::now();
    asio::post(shards_.io(), [this, req, answer] {
      try {
        Response r;
        // With several shards, their threads wait while this runs: every
        // request pauses all switch traffic for the time handle() takes plus
        // the time each shard needs to finish the handler it is in (one read
        // burst at most). One shard: no pause beyond today's.
        shards_.parked([&] {
          std::vector<ShardView> parts;
          parts.reserve(shards_.size());
          for (std::size_t i = 0; i < shards_.size(); ++i) {
            parts.push_back(ShardView{&shards_.balancer(i), &shards_.controller(i)});
          }
          View view(std::move(parts), std::chrono::steady_clock::now(), std::chrono::system_clock::now(), started_);
          r = api_.handle(req, view, [this](lb::BalancerConfig c) { shards_.reconfigure_parked(c); });
        });
        if (req.method != "GET" && r.status < 300) {
          spdlog::info("api: {} {} {} -> {}: runtime change applied (a SIGHUP reload replaces it)", req.method,
                       req.path, req.body.substr(0, 200), r.status);
        }
        answer->set_value(std::move(r));
      } catch (const std::exception& e) {
        spdlog::error("api: {} {} failed: {}", req.method, req.path, e.what());
        answer->set_value(plain_error(500, "internal error"));
      }
    });
    // Wait in slices so that a shutdown does not hold HTTP threads for long.
    const auto deadline = t0 + kAnswerTimeout;
    while (future.wait_for(std::chrono::milliseconds(20)) != std::future_status::ready) {
      if (stopping_ || std::chrono::steady_clock::now() >= deadline) {
        send(hres, plain_error(503, stopping_ ? "shutting down" : "controller did not answer in time"));
        return;
      }
    }
    const Response r = future.get();
    spdlog::debug("api: {} {} -> {} in {} us", hreq.method, hreq.path, r.status,
                  std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count());
    send(hres, r);
  };
  http_->new_task_queue = [] { return new httplib::ThreadPool(4); };
  // Headers and body go out in separate writes: without TCP_NODELAY, Nagle and
  // the client's delayed ACK held every keep-alive answer for 40 ms.
  http_->set_tcp_nodelay(true);
  http_->set_payload_max_length(64 * 1024);
  http_->set_keep_alive_timeout(1);
  http_->set_read_timeout(5);
  http_->set_write_timeout(5);
  // Errors cpp-httplib answers itself (413 body too large, 400 unparsable
  // request) get a JSON body like every other error.
  http_->set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    const char* why = res.status == 413   ? "request body larger than 64 KiB"
                      : res.status == 400 ? "malformed HTTP request"
                                          : "request refused";
    send(res, plain_error(res.status, why));
  });
  http_->set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    send(res, plain_error(500, "internal error"));
  });
  for (const char* pattern : {".*"}) {
    http_->Get(pattern, handler);
    http_->Post(pattern, handler);
    http_->Put(pattern, handler);
    http_->Patch(pattern, handler);
    http_->Delete(pattern, handler);
    http_->Options(pattern, handler);
  }
  if (port == 0) {
    int p = http_->bind_to_any_port(host);
    if (p <= 0) throw std::runtime_error("api.listen: cannot bind " + host + ":0");
    port_ = static_cast<uint16_t>(p);
  } else {
    if (!http_->bind_to_port(host, port)) {
      throw std::runtime_error("api.listen: cannot bind " + host + ":" + std::to_string(port) +
                               " (address in use or not local)");
    }
    port_ = port;
  }
  thread_ = std::thread([this] { http_->listen_after_bind(); });
  spdlog::info("API, /metrics and dashboard on http://{}:{}/ ({})", host, port_,
               api_.token_required() ? "bearer token required" : "no token: loopback only");
}

void Server::stop() {
  if (!thread_.joinable()) return;
  stopping_ = true;
  http_->stop();
  thread_.join();
  spdlog::info("API stopped");
}

}  // namespace fulcrum::api
