// FlatTable: the connection table. An open-addressing hash table with entries
// stored in place (no allocation per connection), written here because
// Debian 12's Boost 1.74 has no unordered_flat_map and nothing else in the
// distribution fits.
//
// Layout (Swiss-table style): each slot has a control byte and an entry.
// Control bytes come in aligned groups of 16, checked 16 at a time with SSE2:
// 0x00 empty, 0x01 erased (tombstone), 0x80 | 7 bits of the hash when full.
// Empty is zero so a fresh table is calloc'd memory. A lookup probes groups
// linearly from the key's home group and stops at the first group with an
// empty slot; at most 7/8 of the slots are ever used (full or erased).
//
// Growth without a stall: the table is split into 2^shard_bits independent
// shards by the top bits of the hash (64 by default), and each shard grows by
// 1.5x on its own. One growth rehashes one shard, about size()/64 entries,
// rather than the whole table (a million-connection std::unordered_map
// rehash held the event loop for 100-320 ms). While connections only arrive,
// a shard is 7/12 to 7/8 full between growths, so with E bytes per entry a
// connection costs (E + 1) / load: 56-84 bytes for the 48-byte connection
// entry. Erasures leave tombstones (unless the group still has an empty
// slot); a shard full of them is rebuilt at its size, or grown when over 5/8
// of it is live, so with churn a shard stays 5/12 to 7/8 full.
//
// Erasing never moves entries, so erase(it) during iteration returns the next
// entry and keeps other iterators valid; insertion may rehash a shard and
// invalidates iterators. Keys and values must be trivially copyable.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace fulcrum::lb {

template <typename K, typename V>
struct FlatEntry {
  K first;
  V second;
};

template <typename K, typename V, typename Hash = std::hash<K>>
class FlatTable {
 public:
  using key_type = K;
  using mapped_type = V;
  using Entry = FlatEntry<K, V>;
  static_assert(std::is_trivially_copyable_v<K> && std::is_trivially_copyable_v<V>,
                "entries are moved with memcpy semantics");
  static_assert(alignof(Entry) <= 16, "entries follow the 16-aligned control bytes");

  static constexpr std::size_t kGroup = 16;
  static constexpr unsigned kDefaultShardBits = 6;
  static constexpr unsigned kMaxShardBits = 16;

 private:
  template <bool Const>
  class Iter;

 public:
  using iterator = Iter<false>;
  using const_iterator = Iter<true>;

  explicit FlatTable(unsigned shard_bits = kDefaultShardBits)
      : shard_bits_(shard_bits > kMaxShardBits ? kMaxShardBits : shard_bits) {}
  FlatTable(const FlatTable&) = delete;
  FlatTable& operator=(const FlatTable&) = delete;
  FlatTable(FlatTable&& o) noexcept
      : shards_(std::move(o.shards_)),
        shard_bits_(o.shard_bits_),
        size_(std::exchange(o.size_, 0)),
        max_rehash_moved_(o.max_rehash_moved_) {
    o.shards_.clear();
  }
  FlatTable& operator=(FlatTable&& o) noexcept {
    if (this != &o) {
      shards_ = std::move(o.shards_);
      o.shards_.clear();
      shard_bits_ = o.shard_bits_;
      size_ = std::exchange(o.size_, 0);
      max_rehash_moved_ = o.max_rehash_moved_;
    }
    return *this;
  }
  ~FlatTable() = default;

  [[nodiscard]] std::size_t size() const { return size_; }
  [[nodiscard]] bool empty() const { return size_ == 0; }
  [[nodiscard]] std::size_t shard_count() const { return std::size_t{1} << shard_bits_; }
  // Slots allocated over all shards, and the bytes they take.
  [[nodiscard]] std::size_t capacity() const {
    std::size_t n = 0;
    for (const Shard& s : shards_) n += s.groups * kGroup;
    return n;
  }
  [[nodiscard]] std::size_t memory_bytes() const { return capacity() * (1 + sizeof(Entry)); }
  // The most entries one growth has moved so far (the longest stall).
  [[nodiscard]] std::size_t max_rehash_moved() const { return max_rehash_moved_; }

  iterator begin() { return iterator(this, 0, 0, true); }
  iterator end() { return iterator(this, shards_.size(), 0, false); }
  const_iterator begin() const { return const_iterator(this, 0, 0, true); }
  const_iterator end() const { return const_iterator(this, shards_.size(), 0, false); }

  iterator find(const K& key) {
    const uint64_t h = hash(key);
    const std::size_t s = shard_of(h);
    if (s >= shards_.size()) return end();
    const std::size_t i = find_in(shards_[s], key, h);
    return i == kNone ? end() : iterator(this, s, i, false);
  }
  const_iterator find(const K& key) const {
    const uint64_t h = hash(key);
    const std::size_t s = shard_of(h);
    if (s >= shards_.size()) return end();
    const std::size_t i = find_in(shards_[s], key, h);
    return i == kNone ? end() : const_iterator(this, s, i, false);
  }
  [[nodiscard]] bool contains(const K& key) const { return find(key) != end(); }

  // Where a lookup or insertion of a key starts probing: the control bytes
  // and the first entries of its home group. prefetch() starts loading both
  // lines, so that a find or emplace of the key shortly after does not wait
  // for memory; it is only a hint (no effect on any table).
  struct ProbeHint {
    const void* ctrl = nullptr;
    const void* slots = nullptr;
    void prefetch() const {
      if (ctrl == nullptr) return;
      // Without a side effect GCC 12 drops the whole call: IPA mod-ref finds
      // that a function doing only __builtin_prefetch changes nothing. The
      // empty volatile asm is that side effect, and emits no instruction.
      asm volatile("");
      __builtin_prefetch(ctrl, 1, 3);  // for writing: an insertion writes both lines
      __builtin_prefetch(slots, 1, 3);
    }
  };
  // The hint for key; empty (prefetch() does nothing) while key's shard has
  // no memory. The addresses are valid until the next insertion.
  [[nodiscard]] ProbeHint probe_hint(const K& key) const {
    const uint64_t h = hash(key);
    const std::size_t s = shard_of(h);
    if (s >= shards_.size()) return {};
    const Shard& sh = shards_[s];
    if (sh.groups == 0) return {};
    const std::size_t g = home(sh, h);
    return {sh.ctrl + g * kGroup, sh.slots + g * kGroup};
  }

  // Inserts (key, value) unless key is present; the iterator names the entry.
  std::pair<iterator, bool> emplace(const K& key, const V& value) {
    const uint64_t h = hash(key);
    if (shards_.empty()) shards_.resize(shard_count());
    const std::size_t s = shard_of(h);
    Shard& sh = shards_[s];
    if (sh.groups != 0) {
      const std::size_t i = find_in(sh, key, h);
      if (i != kNone) return {iterator(this, s, i, false), false};
    }
    const std::size_t i = prepare_insert(sh, h);
    sh.ctrl[i] = tag_of(h);
    ::new (static_cast<void*>(sh.slots + i)) Entry{key, value};
    ++sh.size;
    ++size_;
    return {iterator(this, s, i, false), true};
  }
  std::pair<iterator, bool> try_emplace(const K& key) { return emplace(key, V{}); }

  // Erases the entry and returns the next one.
  iterator erase(const_iterator it) {
    Shard& sh = shards_[it.shard_];
    const std::size_t i = it.slot_;
    // A group that still has an empty slot ends every probe that reaches it,
    // so no key past it depends on this slot staying occupied: it can be
    // empty again rather than a tombstone.
    if (match_empty(sh.ctrl + (i / kGroup) * kGroup) != 0) {
      sh.ctrl[i] = kEmpty;
      ++sh.growth_left;
    } else {
      sh.ctrl[i] = kErased;
    }
    --sh.size;
    --size_;
    return iterator(this, it.shard_, i + 1, true);
  }
  iterator erase(iterator it) { return erase(const_iterator(it)); }
  std::size_t erase(const K& key) {
    auto it = find(key);
    if (it == end()) return 0;
    erase(it);
    return 1;
  }
  void clear() {
    shards_.clear();
    size_ = 0;
  }

 private:
  static constexpr uint8_t kEmpty = 0x00;
  static constexpr uint8_t kErased = 0x01;
  static constexpr std::size_t kNone = ~std::size_t{0};

  struct Free {
    void operator()(void* p) const { std::free(p); }
  };
  struct Shard {
    std::unique_ptr<void, Free> mem;
    uint8_t* ctrl = nullptr;
    Entry* slots = nullptr;
    std::size_t groups = 0;       // slots = groups * kGroup
    std::size_t size = 0;         // full slots
    std::size_t growth_left = 0;  // empty slots that may still be filled
  };

  template <bool Const>
  class Iter {
    using Table = std::conditional_t<Const, const FlatTable, FlatTable>;

   public:
    using value_type = Entry;
    using reference = std::conditional_t<Const, const Entry&, Entry&>;
    using pointer = std::conditional_t<Const, const Entry*, Entry*>;
    using difference_type = std::ptrdiff_t;
    using iterator_category = std::forward_iterator_tag;

    Iter() = default;
    // iterator -> const_iterator
    template <bool C = Const, typename = std::enable_if_t<C>>
    Iter(const Iter<false>& o) : t_(o.t_), shard_(o.shard_), slot_(o.slot_) {}  // NOLINT(google-explicit-constructor)

    reference operator*() const { return t_->shards_[shard_].slots[slot_]; }
    pointer operator->() const { return &t_->shards_[shard_].slots[slot_]; }
    Iter& operator++() {
      ++slot_;
      skip();
      return *this;
    }
    Iter operator++(int) {
      Iter old = *this;
      ++*this;
      return old;
    }
    friend bool operator==(const Iter& a, const Iter& b) { return a.shard_ == b.shard_ && a.slot_ == b.slot_; }

   private:
    friend class FlatTable;
    friend class Iter<!Const>;
    Iter(Table* t, std::size_t shard, std::size_t slot, bool advance) : t_(t), shard_(shard), slot_(slot) {
      if (advance) skip();
    }
    // Moves to the first full slot at or after the current one (or end()).
    void skip() {
      while (shard_ < t_->shards_.size()) {
        const Shard& s = t_->shards_[shard_];
        const std::size_t cap = s.groups * kGroup;
        while (slot_ < cap) {
          if ((s.ctrl[slot_] & 0x80) != 0) return;
          ++slot_;
        }
        ++shard_;
        slot_ = 0;
      }
      slot_ = 0;
    }

    Table* t_ = nullptr;
    std::size_t shard_ = 0;
    std::size_t slot_ = 0;
  };

  // The caller's hash, mixed again so that weak ones (identity hashes of
  // integers) still spread over shards, groups and control bits.
  static uint64_t hash(const K& key) {
    uint64_t h = static_cast<uint64_t>(Hash{}(key));
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
  }
  [[nodiscard]] std::size_t shard_of(uint64_t h) const {
    return shard_bits_ == 0 ? 0 : static_cast<std::size_t>(h >> (64 - shard_bits_));
  }
  static uint8_t tag_of(uint64_t h) { return static_cast<uint8_t>(0x80 | (h & 0x7f)); }
  // Home group: the hash bits below the shard bits, scaled to the group count
  // (any count, not only powers of two, so a shard can grow by 1.5x).
  [[nodiscard]] std::size_t home(const Shard& s, uint64_t h) const {
    const uint64_t bits = (h << shard_bits_) >> 32;
    return static_cast<std::size_t>((bits * s.groups) >> 32);
  }
  static std::size_t next_group(const Shard& s, std::size_t g) { return g + 1 == s.groups ? 0 : g + 1; }
  static std::size_t max_used(std::size_t groups) { return groups * kGroup - groups * kGroup / 8; }

#if defined(__SSE2__)
  static uint32_t match(const uint8_t* c, uint8_t tag) {
    const __m128i g = _mm_loadu_si128(reinterpret_cast<const __m128i*>(c));
    return static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(g, _mm_set1_epi8(static_cast<char>(tag)))));
  }
  static uint32_t match_empty(const uint8_t* c) {
    const __m128i g = _mm_loadu_si128(reinterpret_cast<const __m128i*>(c));
    return static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(g, _mm_setzero_si128())));
  }
  // Empty or erased: the top bit clear.
  static uint32_t match_free(const uint8_t* c) {
    const __m128i g = _mm_loadu_si128(reinterpret_cast<const __m128i*>(c));
    return ~static_cast<uint32_t>(_mm_movemask_epi8(g)) & 0xffffu;
  }
#else
  static uint32_t match(const uint8_t* c, uint8_t tag) {
    uint32_t m = 0;
    for (std::size_t i = 0; i < kGroup; ++i) m |= static_cast<uint32_t>(c[i] == tag) << i;
    return m;
  }
  static uint32_t match_empty(const uint8_t* c) { return match(c, kEmpty); }
  static uint32_t match_free(const uint8_t* c) {
    uint32_t m = 0;
    for (std::size_t i = 0; i < kGroup; ++i) m |= static_cast<uint32_t>((c[i] & 0x80) == 0) << i;
    return m;
  }
#endif

  std::size_t find_in(const Shard& s, const K& key, uint64_t h) const {
    if (s.groups == 0) return kNone;
    const uint8_t tag = tag_of(h);
    std::size_t g = home(s, h);
    // At least 1/8 of the slots are empty, so a probe ends; the bound is a
    // second guarantee.
    for (std::size_t n = 0; n < s.groups; ++n) {
      const uint8_t* c = s.ctrl + g * kGroup;
      for (uint32_t m = match(c, tag); m != 0; m &= m - 1) {
        const std::size_t i = g * kGroup + static_cast<std::size_t>(std::countr_zero(m));
        if (s.slots[i].first == key) return i;
      }
      if (match_empty(c) != 0) return kNone;
      g = next_group(s, g);
    }
    return kNone;
  }

  // First empty or erased slot on h's probe path (the key is known absent).
  static std::size_t first_free(const Shard& s, std::size_t g) {
    for (;;) {
      const uint32_t f = match_free(s.ctrl + g * kGroup);
      if (f != 0) return g * kGroup + static_cast<std::size_t>(std::countr_zero(f));
      g = next_group(s, g);
    }
  }

  std::size_t prepare_insert(Shard& s, uint64_t h) {
    if (s.groups == 0) resize(s, 1);
    for (;;) {
      const std::size_t i = first_free(s, home(s, h));
      if (s.ctrl[i] == kErased) return i;  // reusing a tombstone uses no growth
      if (s.growth_left > 0) {
        --s.growth_left;
        return i;
      }
      // Full (live + tombstones at 7/8): grow by 1.5x when live entries are
      // over 5/8 of the slots, else rebuild at the same size to drop the
      // tombstones (at least 1/4 of the slots are then free: a rebuild costs
      // at most 4 moves per insert since the last).
      std::size_t groups = s.groups;
      if (s.size * 8 > groups * kGroup * 5) groups += (groups + 1) / 2;
      resize(s, groups);
    }
  }

  void resize(Shard& s, std::size_t groups) {
    const std::size_t cap = groups * kGroup;
    void* mem = std::calloc(1, cap + cap * sizeof(Entry));
    if (mem == nullptr) throw std::bad_alloc();
    Shard n;
    n.mem.reset(mem);
    n.ctrl = static_cast<uint8_t*>(mem);
    n.slots = reinterpret_cast<Entry*>(n.ctrl + cap);
    n.groups = groups;
    const std::size_t old_cap = s.groups * kGroup;
    for (std::size_t i = 0; i < old_cap; ++i) {
      if ((s.ctrl[i] & 0x80) == 0) continue;
      const uint64_t h = hash(s.slots[i].first);
      const std::size_t j = first_free(n, home(n, h));
      n.ctrl[j] = tag_of(h);
      ::new (static_cast<void*>(n.slots + j)) Entry(s.slots[i]);
    }
    n.size = s.size;
    n.growth_left = max_used(groups) - s.size;
    if (s.size > max_rehash_moved_) max_rehash_moved_ = s.size;
    s = std::move(n);
  }

  std::vector<Shard> shards_;
  unsigned shard_bits_;
  std::size_t size_ = 0;
  std::size_t max_rehash_moved_ = 0;
};

}  // namespace fulcrum::lb
