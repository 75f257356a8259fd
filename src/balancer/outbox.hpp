// Outbox: what the balancer core returns. Each event handler appends the
// OpenFlow messages to send (version-neutral) and the switch to send them to;
// the I/O edge encodes and writes them. Frames the core builds (ARP replies,
// ICMP replies) live in the outbox's arena, whose blocks never move, so the
// spans in queued packet-outs stay valid until clear(). After warm-up,
// clear() keeps every buffer: steady state allocates nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "balancer/types.hpp"
#include "openflow/messages.hpp"

namespace fulcrum::lb {

class Outbox {
 public:
  struct Item {
    template <typename M>
    Item(Dpid d, M&& m) : dpid(d), msg(std::forward<M>(m)) {}
    Dpid dpid;
    of::Message msg;
  };

  // The message (a FlowMod, a PacketOut, ...) is built in place in the queue:
  // one copy, not three of a 256-byte variant.
  template <typename M>
  void send(Dpid dpid, M&& msg) {
    items_.emplace_back(dpid, std::forward<M>(msg));
  }
  // Scratch bytes for a frame; valid until clear().
  std::span<uint8_t> alloc(std::size_t n);
  // Gives back the unused tail of the last alloc() (builders report the
  // length they actually wrote).
  std::span<uint8_t> shrink_last(std::span<uint8_t> last, std::size_t used);

  [[nodiscard]] const std::vector<Item>& items() const { return items_; }
  [[nodiscard]] bool empty() const { return items_.empty(); }
  void clear();

 private:
  static constexpr std::size_t kBlockSize = 64 * 1024;
  struct Block {
    std::unique_ptr<uint8_t[]> data;
    std::size_t size = 0;
    std::size_t used = 0;
  };
  std::vector<Item> items_;
  std::vector<Block> blocks_;
  std::size_t current_ = 0;
};

}  // namespace fulcrum::lb
