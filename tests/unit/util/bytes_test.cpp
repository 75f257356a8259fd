// ByteReader and ByteWriter: big-endian values, bounds, and the writer's
// slack (it must never show in the caller's vector).
#include "util/bytes.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace fulcrum {
namespace {

TEST(ByteReader, ReadsBigEndianFixedWidths) {
  const std::vector<uint8_t> b = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09,
                                  0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12};
  ByteReader r(b);
  EXPECT_EQ(r.u8(), 0x01);
  EXPECT_EQ(r.u16(), 0x0203);
  EXPECT_EQ(r.u24(), 0x040506u);
  EXPECT_EQ(r.u32(), 0x0708090au);
  EXPECT_EQ(r.u64(), 0x0b0c0d0e0f101112u);
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.empty());
}

TEST(ByteReader, ReadPastTheEndFailsStickyAndConsumesNothing) {
  const std::vector<uint8_t> b = {0xaa, 0xbb, 0xcc};
  ByteReader r(b);
  EXPECT_EQ(r.u32(), 0u);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.position(), 0u);
  EXPECT_EQ(r.u8(), 0);  // sticky: even a read that would fit fails now
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(ByteReader, CopyZeroFillsWhenShort) {
  const std::vector<uint8_t> b = {1, 2, 3, 4, 5, 6, 7};
  ByteReader r(b);
  uint8_t out[6] = {9, 9, 9, 9, 9, 9};
  r.copy(out, 6);
  EXPECT_EQ(std::vector<uint8_t>(out, out + 6), (std::vector<uint8_t>{1, 2, 3, 4, 5, 6}));
  r.copy(out, 6);  // one byte left
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(std::vector<uint8_t>(out, out + 6), std::vector<uint8_t>(6, 0));
}

TEST(ByteReader, TakeBoundsTheSubReader) {
  const std::vector<uint8_t> b = {0, 1, 0, 2, 0, 3};
  ByteReader r(b);
  ByteReader sub = r.take(4);
  EXPECT_EQ(sub.u16(), 1);
  EXPECT_EQ(sub.u16(), 2);
  EXPECT_EQ(sub.u16(), 0);
  EXPECT_FALSE(sub.ok());
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.u16(), 3);
}

template <typename Vec>
class ByteWriterTest : public ::testing::Test {};
using Buffers = ::testing::Types<std::vector<uint8_t>, Bytes>;
TYPED_TEST_SUITE(ByteWriterTest, Buffers);

TYPED_TEST(ByteWriterTest, AppendsBigEndianAfterExistingBytesAndTrimsTheSlack) {
  TypeParam out = {0xee};
  {
    ByteWriter w(out);
    w.u8(0x01);
    w.u16(0x0203);
    w.u24(0x040506);
    w.u32(0x0708090a);
    w.u64(0x0b0c0d0e0f101112);
    EXPECT_EQ(w.size(), 19u);
  }
  EXPECT_EQ(std::vector<uint8_t>(out.begin(), out.end()),
            (std::vector<uint8_t>{0xee, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d,
                                  0x0e, 0x0f, 0x10, 0x11, 0x12}));
}

TYPED_TEST(ByteWriterTest, ZerosShortAndLongAndPadding) {
  TypeParam out;
  {
    ByteWriter w(out);
    w.u8(0xff);
    w.zeros(0);
    w.zeros(3);  // short: one 8-byte store into the slack
    w.u8(0xff);
    w.pad_to(0, 8);  // 5 bytes so far: 3 of padding
    w.zeros(20);     // long: memset
    w.u8(0xff);
  }
  std::vector<uint8_t> want(29, 0);
  want[0] = want[4] = want[28] = 0xff;
  EXPECT_EQ(std::vector<uint8_t>(out.begin(), out.end()), want);
}

TYPED_TEST(ByteWriterTest, ShortZerosAtTheEndOfASlabStayInBounds) {
  // Fill up to one byte short of the first slab, then ask for short zeros:
  // the 8-byte store needs room, so the writer must grow first.
  TypeParam out;
  {
    ByteWriter w(out);
    for (std::size_t i = 0; i + 1 < ByteWriter::kSlab; ++i) w.u8(static_cast<uint8_t>(i));
    w.zeros(2);
    w.u8(0xab);
  }
  ASSERT_EQ(out.size(), ByteWriter::kSlab + 2);
  EXPECT_EQ(out[ByteWriter::kSlab - 2], static_cast<uint8_t>(ByteWriter::kSlab - 2));
  EXPECT_EQ(out[ByteWriter::kSlab - 1], 0);
  EXPECT_EQ(out[ByteWriter::kSlab], 0);
  EXPECT_EQ(out[ByteWriter::kSlab + 1], 0xab);
}

TYPED_TEST(ByteWriterTest, ClaimAndPutWriteFixedRuns) {
  TypeParam out = {0x00, 0x00};
  {
    ByteWriter w(out);
    uint8_t* p = w.claim(15);
    const uint8_t mac[6] = {1, 2, 3, 4, 5, 6};
    p = put::u32(p, 0xdeadbeef);
    p = put::u16(p, 0x0102);
    p = put::u8(p, 0x7f);
    p = put::bytes(p, mac, 6);
    EXPECT_EQ(p - out.data(), 2 + 13);
    put::u16(p, 0xabcd);
    EXPECT_EQ(w.size(), 17u);
    w.patch_u16(0, 17);
  }
  EXPECT_EQ(std::vector<uint8_t>(out.begin(), out.end()),
            (std::vector<uint8_t>{0x00, 0x11, 0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x7f, 1, 2, 3, 4, 5, 6, 0xab, 0xcd}));
}

TYPED_TEST(ByteWriterTest, GrowsPastManySlabsAndKeepsEarlierBytes) {
  TypeParam out;
  std::vector<uint8_t> want;
  {
    ByteWriter w(out);
    for (uint32_t i = 0; i < 1000; ++i) {
      w.u32(i);
      for (int k = 3; k >= 0; --k) want.push_back(static_cast<uint8_t>(i >> (8 * k)));
    }
    std::vector<uint8_t> big(3000, 0x5a);
    w.bytes(big);  // larger than a slab in one go
    want.insert(want.end(), big.begin(), big.end());
  }
  EXPECT_EQ(std::vector<uint8_t>(out.begin(), out.end()), want);
}

TYPED_TEST(ByteWriterTest, TruncateDropsAFailedMessage) {
  TypeParam out = {1, 2};
  {
    ByteWriter w(out);
    w.u64(0x1122334455667788);
    w.truncate(2);
  }
  EXPECT_EQ(std::vector<uint8_t>(out.begin(), out.end()), (std::vector<uint8_t>{1, 2}));
}

TYPED_TEST(ByteWriterTest, AReusedBufferKeepsItsCapacity) {
  TypeParam out;
  {
    ByteWriter w(out);
    w.zeros(100);
  }
  const auto cap = out.capacity();
  const auto* data = out.data();
  for (int round = 0; round < 100; ++round) {
    out.clear();
    ByteWriter w(out);
    w.u64(static_cast<uint64_t>(round));
  }
  EXPECT_EQ(out.capacity(), cap);
  EXPECT_EQ(out.data(), data);
  EXPECT_EQ(out.size(), 8u);
  EXPECT_EQ(out[7], 99);
}

TEST(DefaultInitAllocator, ValueConstructionStillInitialises) {
  // Only default construction is left uninitialised; an explicit value is kept.
  Bytes b(4, 0x7e);
  EXPECT_EQ(std::vector<uint8_t>(b.begin(), b.end()), std::vector<uint8_t>(4, 0x7e));
  b.push_back(3);
  b.insert(b.end(), {4, 5});
  EXPECT_EQ(b.size(), 7u);
  EXPECT_EQ(b[6], 5);
}

}  // namespace
}  // namespace fulcrum
