#include "balancer/outbox.hpp"

#include <algorithm>

namespace fulcrum::lb {

std::span<uint8_t> Outbox::alloc(std::size_t n) {
  while (current_ < blocks_.size() && blocks_[current_].size - blocks_[current_].used < n) ++current_;
  if (current_ == blocks_.size()) {
    Block b;
    b.size = std::max(kBlockSize, n);
    b.data = std::make_unique<uint8_t[]>(b.size);
    blocks_.push_back(std::move(b));
  }
  Block& b = blocks_[current_];
  std::span<uint8_t> s(b.data.get() + b.used, n);
  b.used += n;
  return s;
}

std::span<uint8_t> Outbox::shrink_last(std::span<uint8_t> last, std::size_t used) {
  if (current_ < blocks_.size()) {
    Block& b = blocks_[current_];
    if (last.data() + last.size() == b.data.get() + b.used) b.used -= last.size() - used;
  }
  return last.first(used);
}

void Outbox::clear() {
  items_.clear();
  for (auto& b : blocks_) b.used = 0;
  current_ = 0;
}

}  // namespace fulcrum::lb
