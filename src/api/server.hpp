// The HTTP edge of the API (cpp-httplib on its own threads). Each request is
// posted to shard 0's io_context and answered from there (Api::handle) while
// the other shards' threads are parked (ctl::Shards::parked), so balancer
// state is never touched by two threads at once; an HTTP thread waits for
// the answer with a timeout.
#pragma once

#include <asio.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "api/api.hpp"
#include "controller/shards.hpp"

namespace httplib {
class Server;
}

namespace fulcrum::api {

class Server {
 public:
  Server(ctl::Shards& shards, Api& api, std::chrono::system_clock::time_point started);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds HOST:PORT (0: any free port) and starts serving; throws
  // std::runtime_error naming the address when it cannot (start-up only).
  void start(const std::string& host, uint16_t port);
  // Stops serving and joins the HTTP threads. Call it from the controller's
  // thread after io.run() has returned, or from any other thread.
  void stop();
  [[nodiscard]] uint16_t port() const { return port_; }

  // How long an HTTP thread waits for the controller thread's answer.
  static constexpr std::chrono::milliseconds kAnswerTimeout{3000};

 private:
  ctl::Shards& shards_;
  Api& api_;
  std::chrono::system_clock::time_point started_;
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  uint16_t port_ = 0;
};

}  // namespace fulcrum::api
