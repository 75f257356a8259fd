#include "controller/shards.hpp"

#include <spdlog/spdlog.h>

#include <limits>

namespace fulcrum::ctl {

Shards::Shard::Shard(const ControllerConfig& cc, const lb::BalancerConfig& bc, uint64_t seed)
    : rng(seed),
      balancer(std::make_unique<lb::Balancer>(bc, rng)),
      controller(std::make_unique<Controller>(io, cc, *balancer)) {}

uint64_t Shards::shard_seed(uint64_t seed, std::size_t index) {
  // Shard 0 keeps the run's seed, so one thread reproduces the former runs;
  // the others step by the golden-ratio constant (distinct, well spread
  // starting states once Xoshiro256's splitmix seeding mixes them).
  return seed + uint64_t{index} * 0x9e3779b97f4a7c15ULL;
}

Shards::Shards(std::size_t n, const ControllerConfig& cc, const lb::BalancerConfig& bc, uint64_t seed) {
  shards_.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    shards_.push_back(std::make_unique<Shard>(cc, bc, shard_seed(seed, i)));
    if (n > 1) spdlog::info("shard {}: random seed {}", i, shard_seed(seed, i));
  }
}

Shards::~Shards() {
  for (auto& s : shards_) {
    if (s->thread.joinable()) {
      s->io.stop();
      s->thread.join();
    }
  }
}

void Shards::start() {
  Controller& acceptor = *shards_.front()->controller;
  if (shards_.size() > 1) {
    acceptor.set_handoff([this](asio::ip::tcp::socket sock, uint64_t seq) { hand_off(std::move(sock), seq); });
    for (std::size_t i = 0; i < shards_.size(); ++i) {
      // A switch that completes its handshake on shard i closes an older
      // connection of the same datapath on the other shards (once per
      // handshake, not per message).
      shards_[i]->controller->set_switch_up_hook([this, i](lb::Dpid dpid, uint64_t seq) {
        for (std::size_t j = 0; j < shards_.size(); ++j) {
          if (j == i) continue;
          Controller* c = shards_[j]->controller.get();
          asio::post(shards_[j]->io, [c, dpid, seq] { c->replace_older(dpid, seq); });
        }
      });
    }
  }
  acceptor.start();
  for (std::size_t i = 1; i < shards_.size(); ++i) {
    Shard& s = *shards_[i];
    s.controller->start_shard();
    s.thread = std::thread([&s] { s.io.run(); });
  }
  if (shards_.size() > 1) spdlog::info("{} event-loop threads (shards); the acceptor runs on shard 0", shards_.size());
}

void Shards::run() {
  shards_.front()->io.run();
  for (auto& s : shards_) {
    if (s->thread.joinable()) s->thread.join();
  }
}

void Shards::stop() {
  for (std::size_t i = 1; i < shards_.size(); ++i) {
    Shard* s = shards_[i].get();
    asio::post(s->io, [s] {
      s->controller->stop();
      s->io.stop();
    });
  }
  shards_.front()->controller->stop();
  shards_.front()->io.stop();
}

void Shards::reconfigure(const lb::BalancerConfig& config) {
  for (std::size_t i = 1; i < shards_.size(); ++i) {
    Controller* c = shards_[i]->controller.get();
    asio::post(shards_[i]->io, [c, config] { c->reconfigure(config); });
  }
  shards_.front()->controller->reconfigure(config);
}

void Shards::reconfigure_parked(const lb::BalancerConfig& config) {
  for (std::size_t i = 1; i < shards_.size(); ++i) shards_[i]->controller->reconfigure_parked(config);
  shards_.front()->controller->reconfigure(config);
}

void Shards::park_others(const std::shared_ptr<Gate>& gate) {
  for (std::size_t i = 1; i < shards_.size(); ++i) {
    asio::post(shards_[i]->io, [gate] {
      std::unique_lock lock(gate->m);
      ++gate->parked;
      gate->cv.notify_all();
      gate->cv.wait(lock, [&] { return gate->released; });
    });
  }
  std::unique_lock lock(gate->m);
  gate->cv.wait(lock, [&] { return gate->parked == shards_.size() - 1; });
}

void Shards::release(const std::shared_ptr<Gate>& gate) {
  {
    std::lock_guard lock(gate->m);
    gate->released = true;
  }
  gate->cv.notify_all();
}

void Shards::hand_off(asio::ip::tcp::socket sock, uint64_t seq) {
  // Fewest open connections; ties go round-robin from the last choice.
  std::size_t best = 0;
  uint32_t best_load = std::numeric_limits<uint32_t>::max();
  for (std::size_t k = 0; k < shards_.size(); ++k) {
    const std::size_t i = (next_rr_ + k) % shards_.size();
    const uint32_t l = shards_[i]->controller->load().load(std::memory_order_relaxed);
    if (l < best_load) {
      best = i;
      best_load = l;
    }
  }
  next_rr_ = (best + 1) % shards_.size();
  asio::error_code ec;
  const auto protocol = sock.local_endpoint(ec).protocol();
  if (ec) return;  // already reset by the peer; the socket closes here
  // The socket leaves this io_context: the shard registers the descriptor
  // with its own reactor (assign) and owns it from then on.
  const auto fd = sock.release(ec);
  if (ec) {
    spdlog::warn("cannot hand over an accepted connection: {}", ec.message());
    return;
  }
  Controller* c = shards_[best]->controller.get();
  c->load().fetch_add(1, std::memory_order_relaxed);
  spdlog::debug("connection {} goes to shard {}", seq, best);
  asio::post(shards_[best]->io, [c, protocol, fd, seq] { c->adopt(protocol, fd, seq); });
}

}  // namespace fulcrum::ctl
