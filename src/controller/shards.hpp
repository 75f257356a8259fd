// Per-switch sharding over N event-loop threads (`threads` in the config).
//
// Each shard is an io_context run by one thread, with its own Balancer (same
// configuration, own Rng) and its own Controller part (sessions, outbox,
// dirty list, tick timer, counters, latency histograms). A switch connection
// belongs to one shard for its whole life: the acceptor (on shard 0) hands
// each accepted socket to the shard with the fewest open connections (ties
// round-robin) by releasing its native handle and posting it to that shard,
// which assigns it in its own io_context. After that nothing on the message
// path is shared: no locks and no atomics per message.
//
// Ownership: everything in shards_[i] (io, rng, balancer, controller and
// the sessions inside) is read and written only by shard i's thread, with
// two exceptions, both outside the message path:
//  - Controller::load(): an atomic counter of open connections, raised by the
//    acceptor (shard 0) per handed-over connection, lowered by the owner per
//    closed one;
//  - parked(): shard 0 runs a function while every other shard's thread is
//    blocked in a posted task, so that the API reads (and a change writes)
//    every shard's state with a happens-before edge through the gate's mutex.
//
// What a Balancer keeps beyond its switches, and why one per shard is right:
//  - counters_: per shard; the API and the shutdown line sum them.
//  - rng_: per shard (seeded from the run's seed and the shard index), so no
//    shard waits for another's random choice; runs stay reproducible for a
//    given seed, thread count and assignment of switches to shards.
//  - epoch_ (the top 24 bits of every cookie) and next_cookie_: per shard.
//    Cookies are only compared with the flow-removed messages of the same
//    switch, and a switch is programmed by exactly one shard at a time (a
//    reconnect on another shard closes the old connection first, see
//    Controller::replace_older), so shards never need distinct cookies. A
//    switch that reconnects onto another shard is like a restart: the old
//    entries' flow-removed messages count as flow_removed_unknown.
//  - replay_ (agent ReplayGuard): per shard. A report arrives through one
//    switch, so its shard judges it. If one backend is reachable through two
//    switches on different shards, a report captured on one could be replayed
//    once through the other within the freshness window (max_age, 5 s);
//    with one shard the guard is global and refuses that. Accepted: the
//    report is authentic and fresh, and the replay only repeats its values.
//  - wall_offset_ms_: each shard's tick sets its own (same clock).
//  - next_sleep_, next_metrics_log_: per shard (each logs its own switches).
//  - config_: a copy per shard; reconfigure() and the API update every copy.
//
// Shard 0 runs on the thread that calls run() (the main thread), which also
// serves signals and the API. With one shard this is exactly the former
// single-threaded controller: the acceptor serves its own connections.
#pragma once

#include <asio.hpp>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "balancer/balancer.hpp"
#include "balancer/rng.hpp"
#include "controller/controller.hpp"

namespace fulcrum::ctl {

class Shards {
 public:
  // Shard i's Rng is seeded with shard_seed(seed, i); shard 0 with `seed`.
  Shards(std::size_t n, const ControllerConfig& cc, const lb::BalancerConfig& bc, uint64_t seed);
  ~Shards();
  Shards(const Shards&) = delete;
  Shards& operator=(const Shards&) = delete;

  static uint64_t shard_seed(uint64_t seed, std::size_t index);

  // Binds the listening socket (throws std::system_error at start-up when it
  // cannot) and starts the threads of shards 1..n-1.
  void start();
  // Runs shard 0 on the calling thread until stop(), then joins the others.
  void run();
  // On shard 0's thread: stops every controller and event loop.
  void stop();
  // On shard 0's thread: applies a configuration on every shard (posted to
  // each; each shard sends what it implies to its own switches).
  void reconfigure(const lb::BalancerConfig& config);

  // On shard 0's thread: runs f() while the threads of shards 1..n-1 wait,
  // parked in a posted task, so f may read and change every shard. The pause
  // lasts until each shard has finished the handler it was running (at most
  // one read burst of 64 KiB) plus f itself. With one shard f just runs.
  template <class F>
  void parked(F&& f);
  // Inside parked(): applies a configuration on every shard now (the API
  // answers with the changed state); writes start when the shards resume.
  void reconfigure_parked(const lb::BalancerConfig& config);

  [[nodiscard]] std::size_t size() const { return shards_.size(); }
  [[nodiscard]] asio::io_context& io() { return shards_.front()->io; }  // shard 0
  [[nodiscard]] Controller& controller(std::size_t i) { return *shards_[i]->controller; }
  [[nodiscard]] const Controller& controller(std::size_t i) const { return *shards_[i]->controller; }
  [[nodiscard]] const lb::Balancer& balancer(std::size_t i) const { return *shards_[i]->balancer; }
  [[nodiscard]] uint16_t bound_port() const { return shards_.front()->controller->bound_port(); }

 private:
  struct Shard {
    Shard(const ControllerConfig& cc, const lb::BalancerConfig& bc, uint64_t seed);
    // Declared first, destroyed last: the objects below use it.
    asio::io_context io{1};
    lb::Xoshiro256 rng;
    std::unique_ptr<lb::Balancer> balancer;
    std::unique_ptr<Controller> controller;
    std::thread thread;  // none for shard 0
  };
  struct Gate {
    std::mutex m;
    std::condition_variable cv;
    std::size_t parked = 0;
    bool released = false;
  };
  void park_others(const std::shared_ptr<Gate>& gate);
  static void release(const std::shared_ptr<Gate>& gate);
  void hand_off(asio::ip::tcp::socket sock, uint64_t seq);

  std::vector<std::unique_ptr<Shard>> shards_;
  std::size_t next_rr_ = 0;  // the acceptor's (shard 0's) tie-breaker
};

template <class F>
void Shards::parked(F&& f) {
  if (shards_.size() == 1) {
    f();
    return;
  }
  auto gate = std::make_shared<Gate>();
  park_others(gate);
  // Released even if f throws (the API turns an exception into a 500).
  struct Release {
    std::shared_ptr<Gate> g;
    ~Release() { Shards::release(g); }
  } guard{gate};
  f();
}

}  // namespace fulcrum::ctl
