#include <gtest/gtest.h>

#include "unit/openflow/samples.hpp"

namespace fulcrum::of {
namespace {

using testing::encode_or_die;
using testing::to_hex;

// Three messages of different lengths back to back.
std::vector<uint8_t> stream() {
  std::vector<uint8_t> s;
  for (const Message& m :
       {Message{Hello{version_bit(Version::V13)}}, Message{testing::lb_forward_flow()}, Message{BarrierRequest{}}}) {
    auto b = encode_or_die(Version::V13, 1, m);
    s.insert(s.end(), b.begin(), b.end());
  }
  return s;
}

std::vector<std::string> drain(Framer& f) {
  std::vector<std::string> out;
  for (;;) {
    auto n = f.next();
    if (n.status != Framer::Status::Frame) {
      EXPECT_EQ(n.status, Framer::Status::NeedMore);
      return out;
    }
    EXPECT_TRUE(decode(n.frame).ok());
    out.push_back(to_hex(n.frame));
  }
}

std::vector<std::string> expected_frames() {
  Framer f;
  f.feed(stream());
  return drain(f);
}

TEST(Framer, SeveralMessagesInOneFeed) {
  auto frames = expected_frames();
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[0].size(), 16u * 2);
  EXPECT_EQ(frames[2], "0414000800000001");
}

// The session takes several frames before it handles the first (its
// look-ahead batch): a frame must stay as it was until the next feed().
TEST(Framer, FramesTakenEarlierStayValidUntilTheNextFeed) {
  const auto s = stream();
  const auto want = expected_frames();
  for (std::size_t cut = 0; cut <= s.size(); ++cut) {
    Framer f;
    f.feed(std::span(s).first(cut));
    drain(f);  // the frames before the cut
    // A copy of the rest, so that AddressSanitizer sees a read past it.
    f.feed(std::vector<uint8_t>(s.begin() + static_cast<std::ptrdiff_t>(cut), s.end()));
    std::vector<std::span<const uint8_t>> taken;
    for (auto n = f.next(); n.status == Framer::Status::Frame; n = f.next()) taken.push_back(n.frame);
    ASSERT_LE(taken.size(), want.size());
    for (std::size_t i = 0; i < taken.size(); ++i) {
      EXPECT_EQ(to_hex(taken[i]), want[want.size() - taken.size() + i]) << "cut at " << cut;
    }
    EXPECT_EQ(f.buffered(), 0u);
  }
}

TEST(Framer, SplitAtEveryByteBoundary) {
  const auto s = stream();
  const auto want = expected_frames();
  for (std::size_t cut = 0; cut <= s.size(); ++cut) {
    Framer f;
    std::vector<std::string> got;
    f.feed(std::span(s).first(cut));
    for (auto& x : drain(f)) got.push_back(x);
    f.feed(std::span(s).subspan(cut));
    for (auto& x : drain(f)) got.push_back(x);
    EXPECT_EQ(got, want) << "cut at " << cut;
    EXPECT_EQ(f.buffered(), 0u);
  }
}

TEST(Framer, ByteAtATime) {
  const auto s = stream();
  Framer f;
  std::vector<std::string> got;
  for (uint8_t b : s) {
    f.feed(std::span(&b, 1));
    for (auto& x : drain(f)) got.push_back(x);
  }
  EXPECT_EQ(got, expected_frames());
}

TEST(Framer, BadLengthIsAnErrorAndStaysOne) {
  Framer f;
  auto good = encode_or_die(Version::V10, 1, BarrierRequest{});
  f.feed(good);
  f.feed(std::vector<uint8_t>{0x04, 0x00, 0x00, 0x07, 0, 0, 0, 1});
  EXPECT_EQ(f.next().status, Framer::Status::Frame);
  EXPECT_EQ(f.next().status, Framer::Status::Error);
  EXPECT_EQ(f.next().status, Framer::Status::Error);
  Framer zero;
  zero.feed(std::vector<uint8_t>{0x01, 0x00, 0x00, 0x00, 0, 0, 0, 0});
  EXPECT_EQ(zero.next().status, Framer::Status::Error);
}

TEST(Framer, PartialHeaderNeedsMore) {
  Framer f;
  f.feed(std::vector<uint8_t>{0x04, 0x00, 0x00});
  EXPECT_EQ(f.next().status, Framer::Status::NeedMore);
  EXPECT_EQ(f.buffered(), 3u);
}

// A long-lived stream: the buffer holds at most about what is unconsumed.
TEST(Framer, ConsumedBytesAreReleased) {
  const auto s = stream();
  Framer f;
  for (int i = 0; i < 10000; ++i) {
    f.feed(std::span(s).first(s.size() - 3));  // always leaves a partial frame
    while (f.next().status == Framer::Status::Frame) {
    }
    f.feed(std::span(s).last(3));
    while (f.next().status == Framer::Status::Frame) {
    }
    ASSERT_EQ(f.buffered(), 0u);
  }
}

}  // namespace
}  // namespace fulcrum::of
