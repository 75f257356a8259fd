// The agent report wire format: golden bytes (MAC checked with the openssl
// command line), round trips, every framing error, MAC failures, the replay
// guard and key files.
#include "agent/report.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <array>
#include <vector>

#include "unit/agent/temp_dir.hpp"

namespace fulcrum::agent {
namespace {

using Verdict = ReplayGuard::Verdict;

std::vector<uint8_t> hex(std::string_view s) {
  std::vector<uint8_t> out;
  for (std::size_t i = 0; i + 1 < s.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoi(std::string(s.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

const std::vector<uint8_t> kKey = hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");

Report sample_report() {
  Report r;
  r.healthy = true;
  r.cgroup_scoped = false;
  r.seq = 0x0102030405060708;
  r.timestamp_ms = 1700000000000;  // 0x0000018bcfe56800
  r.cpu_pct_x100 = 1234;
  r.mem_pct_x100 = 5678;
  r.established = 42;
  r.interval_ms = 1000;
  r.key_id = 7;
  r.sender_ip = *Ipv4Addr::parse("10.0.0.11");
  return r;
}

// Body written by hand from the layout in report.hpp; the MAC is
//   echo -n <body> | xxd -r -p |
//     openssl dgst -sha256 -mac HMAC -macopt hexkey:000102...1e1f
const std::vector<uint8_t> kGolden =
    hex("464c4352"          // magic "FLCR"
        "01"                // version
        "01"                // flags: healthy
        "0000"              // reserved
        "0102030405060708"  // seq
        "0000018bcfe56800"  // timestamp_ms
        "04d2"              // cpu 12.34 %
        "162e"              // mem 56.78 %
        "0000002a"          // established 42
        "000003e8"          // interval 1000 ms
        "00000007"          // key id 7
        "0a00000b"          // sender 10.0.0.11
        "102998a93765f53035909f5bec40404c476ba3f7a478de2134e4a54af64afcda");

std::vector<uint8_t> encoded(const Report& r, const std::vector<uint8_t>& key = kKey) {
  std::vector<uint8_t> out(kReportLen);
  EXPECT_EQ(encode(r, key, out), kReportLen);
  return out;
}

TEST(AgentReport, GoldenBytes) {
  ASSERT_EQ(kGolden.size(), kReportLen);
  EXPECT_EQ(encoded(sample_report()), kGolden);
  auto r = decode_and_verify(kGolden, kKey);
  ASSERT_TRUE(r.ok()) << report_error_name(r.error());
  EXPECT_EQ(*r, sample_report());
}

// kGolden with a CPU capacity of 0.2 CPU: flags bit 2 and the reserved
// field; MAC computed the same way.
const std::vector<uint8_t> kGoldenCapacity =
    hex("464c4352"          // magic "FLCR"
        "01"                // version
        "05"                // flags: healthy, cpu capacity
        "00c8"              // reserved: cpu capacity 200 milli-CPU
        "0102030405060708"  // seq
        "0000018bcfe56800"  // timestamp_ms
        "04d2"              // cpu 12.34 %
        "162e"              // mem 56.78 %
        "0000002a"          // established 42
        "000003e8"          // interval 1000 ms
        "00000007"          // key id 7
        "0a00000b"          // sender 10.0.0.11
        "5122b84e39290692d7619ca36e06a9ad652f3c617b5abdba49c4f4a1acca1ac1");

TEST(AgentReport, GoldenBytesWithCpuCapacity) {
  ASSERT_EQ(kGoldenCapacity.size(), kReportLen);
  Report r = sample_report();
  r.cpu_capacity_milli = 200;
  EXPECT_EQ(encoded(r), kGoldenCapacity);
  auto d = decode_and_verify(kGoldenCapacity, kKey);
  ASSERT_TRUE(d.ok()) << report_error_name(d.error());
  EXPECT_EQ(d->cpu_capacity_milli, 200);
  EXPECT_EQ(*d, r);
}

TEST(AgentReport, CpuCapacityRoundTripsAndZeroLeavesTheBytesAlone) {
  for (bool scoped : {false, true}) {
    for (uint16_t milli : {uint16_t{0}, uint16_t{1}, uint16_t{200}, uint16_t{4000}, uint16_t{0xffff}}) {
      Report r = sample_report();
      r.cgroup_scoped = scoped;
      r.cpu_capacity_milli = milli;
      const auto bytes = encoded(r);
      EXPECT_EQ((bytes[5] & kFlagCpuCapacity) != 0, milli > 0) << milli;
      EXPECT_EQ(bytes[6] << 8 | bytes[7], milli);
      auto d = decode_and_verify(bytes, kKey);
      ASSERT_TRUE(d.ok()) << report_error_name(d.error());
      EXPECT_EQ(*d, r) << milli;
    }
  }
}

// The reserved field means the capacity only under flags bit 2; the flag with
// 0 is "unknown", never an error (advisory information cannot invalidate).
TEST(AgentReport, CpuCapacityNeedsTheFlagAndZeroIsUnknown) {
  const auto no_flag =
      hex("464c4352010100c801020304050607080000018bcfe5680004d2162e0000002a000003e8000000070a00000b"
          "70454b96d890184254886f634db597c79812cc0625c7685679f4bb15e7124b5f");  // flags 0x01, reserved 200
  auto d = decode_and_verify(no_flag, kKey);
  ASSERT_TRUE(d.ok()) << report_error_name(d.error());
  EXPECT_EQ(d->cpu_capacity_milli, 0);
  EXPECT_EQ(*d, sample_report());

  const auto flag_zero =
      hex("464c43520105000001020304050607080000018bcfe5680004d2162e0000002a000003e8000000070a00000b"
          "ed04ea7f90aa729fc1e960b3affd4bebdce66f639a1b18c39ae48c590353cbbf");  // flags 0x05, reserved 0
  d = decode_and_verify(flag_zero, kKey);
  ASSERT_TRUE(d.ok()) << report_error_name(d.error());
  EXPECT_EQ(d->cpu_capacity_milli, 0);
  EXPECT_EQ(*d, sample_report());
  // Re-encoded, "unknown" is sent the way an agent without the field sends it.
  EXPECT_EQ(encoded(*d), kGolden);
}

TEST(AgentReport, RoundTripExtremes) {
  Report r = sample_report();
  for (bool healthy : {false, true}) {
    for (bool scoped : {false, true}) {
      r.healthy = healthy;
      r.cgroup_scoped = scoped;
      r.seq = healthy ? ~uint64_t{0} : 0;
      r.timestamp_ms = scoped ? ~uint64_t{0} : 0;
      r.cpu_pct_x100 = healthy ? kPctScale : 0;
      r.mem_pct_x100 = scoped ? kPctScale : 0;
      r.established = healthy ? 0xffffffff : 0;
      r.interval_ms = scoped ? 0xffffffff : 1;
      r.key_id = 0xfedcba98;
      auto d = decode_and_verify(encoded(r), kKey);
      ASSERT_TRUE(d.ok()) << report_error_name(d.error());
      EXPECT_EQ(*d, r);
    }
  }
}

TEST(AgentReport, EveryTruncationFails) {
  for (std::size_t n = 0; n < kReportLen; ++n) {
    auto d = decode_and_verify(std::span(kGolden).first(n), kKey);
    ASSERT_FALSE(d.ok()) << n;
    EXPECT_EQ(d.error(), ReportError::Truncated) << n;
    EXPECT_FALSE(peek_key_id(std::span(kGolden).first(n))) << n;
  }
}

TEST(AgentReport, FramingErrors) {
  auto bad = kGolden;
  bad[0] = 'X';
  EXPECT_EQ(decode_and_verify(bad, kKey).error(), ReportError::BadMagic);
  EXPECT_EQ(decode_and_verify(std::span(bad).first(4), kKey).error(), ReportError::BadMagic);

  bad = kGolden;
  bad[4] = 2;
  EXPECT_EQ(decode_and_verify(bad, kKey).error(), ReportError::UnsupportedVersion);
  bad[4] = 0;
  EXPECT_EQ(decode_and_verify(bad, kKey).error(), ReportError::UnsupportedVersion);

  bad = kGolden;
  bad.push_back(0);
  EXPECT_EQ(decode_and_verify(bad, kKey).error(), ReportError::BadLength);
  EXPECT_FALSE(peek_key_id(bad));
  EXPECT_EQ(peek_key_id(kGolden), 7u);
}

TEST(AgentReport, WrongOrEmptyKeyFails) {
  auto other = kKey;
  other[31] ^= 1;
  EXPECT_EQ(decode_and_verify(kGolden, other).error(), ReportError::BadMac);
  EXPECT_EQ(decode_and_verify(kGolden, std::span(kKey).first(31)).error(), ReportError::BadMac);
  EXPECT_EQ(decode_and_verify(kGolden, {}).error(), ReportError::BadMac);
  std::array<uint8_t, kReportLen> out{};
  EXPECT_EQ(encode(sample_report(), {}, out), 0u);
}

TEST(AgentReport, FlippedBitAnywhereFails) {
  for (std::size_t byte = 0; byte < kReportLen; ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      auto bad = kGolden;
      bad[byte] ^= static_cast<uint8_t>(1 << bit);
      auto d = decode_and_verify(bad, kKey);
      ASSERT_FALSE(d.ok()) << byte << ":" << bit;
      // Magic and version are checked first; everything after them is under the MAC.
      if (byte >= 5) {
        EXPECT_EQ(d.error(), ReportError::BadMac) << byte << ":" << bit;
      }
    }
  }
}

TEST(AgentReport, OutOfRangeIsRefusedBothWays) {
  std::array<uint8_t, kReportLen> out{};
  Report r = sample_report();
  r.cpu_pct_x100 = kPctScale + 1;
  EXPECT_EQ(encode(r, kKey, out), 0u);
  r = sample_report();
  r.mem_pct_x100 = kPctScale + 1;
  EXPECT_EQ(encode(r, kKey, out), 0u);
  r = sample_report();
  r.interval_ms = 0;
  EXPECT_EQ(encode(r, kKey, out), 0u);
  EXPECT_EQ(encode(sample_report(), kKey, std::span(out).first(kReportLen - 1)), 0u);
}

// Bodies a sender holding the key could write: kGolden with one field
// changed, MAC computed with the openssl command line as for kGolden.
TEST(AgentReport, OutOfRangeAfterValidMac) {
  const auto cpu =
      hex("464c43520101000001020304050607080000018bcfe568002711162e0000002a000003e8000000070a00000b"
          "da2b7c170fd40fadfa5765fa5391e790fe9f18b34d08d998ecab098495f75c3a");  // cpu 10001
  const auto mem =
      hex("464c43520101000001020304050607080000018bcfe5680004d227110000002a000003e8000000070a00000b"
          "f756537377a3d5987663429a0c5bac183d4b51032c310f13898594452aeb7c18");  // mem 10001
  const auto interval =
      hex("464c43520101000001020304050607080000018bcfe5680004d2162e0000002a00000000000000070a00000b"
          "aa27bb25ac6cb22cbdb3f111162335e474464fc042d6f154aeb6a4ec0559bbf5");  // interval 0
  for (const auto& bad : {cpu, mem, interval}) {
    auto d = decode_and_verify(bad, kKey);
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.error(), ReportError::OutOfRange);
  }
}

TEST(AgentReport, UnknownFlagBitsAreIgnored) {
  const auto flags =
      hex("464c435201fd000001020304050607080000018bcfe5680004d2162e0000002a000003e8000000070a00000b"
          "eeabf98fb1a5ef24a8c010e5ae44d72cc735cb6cf6d9f2a9bac08a113869e0c3");  // flags 0xfd
  auto d = decode_and_verify(flags, kKey);
  ASSERT_TRUE(d.ok()) << report_error_name(d.error());
  EXPECT_TRUE(d->healthy);
  EXPECT_FALSE(d->cgroup_scoped);
  EXPECT_EQ(d->cpu_capacity_milli, 0);  // bit 2 set, reserved 0: unknown
  EXPECT_EQ(d->seq, sample_report().seq);
}

TEST(AgentReport, ErrorNames) {
  for (auto e : {ReportError::Truncated, ReportError::BadMagic, ReportError::UnsupportedVersion, ReportError::BadLength,
                 ReportError::BadMac, ReportError::OutOfRange}) {
    EXPECT_STRNE(report_error_name(e), "unknown");
  }
}

// ---- replay guard --------------------------------------------------------

constexpr int64_t kNow = 1'700'000'000'000;
const Ipv4Addr kSrc = *Ipv4Addr::parse("10.0.0.11");
const Ipv4Addr kOther = *Ipv4Addr::parse("10.0.0.12");

Report at(uint64_t seq, int64_t ts, Ipv4Addr sender = kSrc) {
  Report r = sample_report();
  r.seq = seq;
  r.timestamp_ms = static_cast<uint64_t>(ts);
  r.sender_ip = sender;
  return r;
}

TEST(ReplayGuard, AcceptsIncreasingRejectsRepeatedAndOlder) {
  ReplayGuard g;
  EXPECT_EQ(g.check(kSrc, at(10, kNow), kNow), Verdict::Accept);
  EXPECT_EQ(g.check(kSrc, at(10, kNow), kNow), Verdict::Replayed);
  EXPECT_EQ(g.check(kSrc, at(9, kNow - 100), kNow), Verdict::Replayed);
  EXPECT_EQ(g.check(kSrc, at(11, kNow + 1000), kNow + 1000), Verdict::Accept);
  // Sources are independent.
  EXPECT_EQ(g.check(kOther, at(5, kNow, kOther), kNow), Verdict::Accept);
  EXPECT_EQ(g.size(), 2u);
  g.forget(kOther);
  EXPECT_EQ(g.size(), 1u);
}

TEST(ReplayGuard, StaleAndFuture) {
  ReplayGuard g;  // 5000 ms max age, 2000 ms skew
  EXPECT_EQ(g.check(kSrc, at(1, kNow - 5001), kNow), Verdict::Stale);
  EXPECT_EQ(g.check(kSrc, at(1, kNow + 2001), kNow), Verdict::FromFuture);
  EXPECT_EQ(g.check(kSrc, at(1, 0), kNow), Verdict::Stale);
  Report far = at(1, 0);
  far.timestamp_ms = ~uint64_t{0};
  EXPECT_EQ(g.check(kSrc, far, kNow), Verdict::FromFuture);
  EXPECT_EQ(g.size(), 0u);  // nothing remembered from refused reports
  EXPECT_EQ(g.check(kSrc, at(1, kNow - 5000), kNow), Verdict::Accept);
  EXPECT_EQ(g.check(kSrc, at(2, kNow + 2000), kNow), Verdict::Accept);

  ReplayGuard tight(ReplayGuard::Config{.max_age_ms = 100, .max_future_skew_ms = 0});
  EXPECT_EQ(tight.check(kSrc, at(1, kNow + 1), kNow), Verdict::FromFuture);
  EXPECT_EQ(tight.check(kSrc, at(1, kNow - 101), kNow), Verdict::Stale);
}

TEST(ReplayGuard, WrongSender) {
  ReplayGuard g;
  // A report from .11 re-sent with .12's address is not .12's load.
  EXPECT_EQ(g.check(kOther, at(1, kNow, kSrc), kNow), Verdict::WrongSender);
  EXPECT_EQ(g.size(), 0u);
}

TEST(ReplayGuard, RestartWithEpochSeqRecoversAtOnce) {
  // fulcrum-agent's seq = (start_unix_ms << 20) | counter.
  ReplayGuard g;
  const uint64_t run1 = static_cast<uint64_t>(kNow) << 20;
  for (uint64_t i = 1; i <= 5; ++i) {
    EXPECT_EQ(g.check(kSrc, at(run1 | i, kNow + int64_t(i) * 1000), kNow + int64_t(i) * 1000), Verdict::Accept);
  }
  // Restarted 200 ms after its last report.
  const int64_t t2 = kNow + 5200;
  const uint64_t run2 = static_cast<uint64_t>(t2) << 20;
  EXPECT_EQ(g.check(kSrc, at(run2 | 1, t2), t2), Verdict::Accept);
  EXPECT_EQ(g.check(kSrc, at(run1 | 5, kNow + 5000), t2), Verdict::Replayed);
}

TEST(ReplayGuard, RestartWithPlainCounterRecoversAfterMaxAgePlusSkew) {
  ReplayGuard g;
  EXPECT_EQ(g.check(kSrc, at(100, kNow), kNow), Verdict::Accept);
  // Restarted: counter back at 1. Within max_age + skew of the last accepted
  // timestamp it is indistinguishable from a replay...
  EXPECT_EQ(g.check(kSrc, at(1, kNow + 1000), kNow + 1000), Verdict::Replayed);
  EXPECT_EQ(g.check(kSrc, at(2, kNow + 7000), kNow + 7000), Verdict::Replayed);
  // ...after it, accepted, and the counter continues from there.
  EXPECT_EQ(g.check(kSrc, at(3, kNow + 7001), kNow + 7001), Verdict::Accept);
  EXPECT_EQ(g.check(kSrc, at(4, kNow + 8000), kNow + 8000), Verdict::Accept);
  // The old run's reports are stale by then, so none comes back.
  EXPECT_EQ(g.check(kSrc, at(100, kNow), kNow + 8000), Verdict::Stale);
  EXPECT_EQ(g.check(kSrc, at(4, kNow + 8000), kNow + 8000), Verdict::Replayed);
}

TEST(ReplayGuard, NoReportIsAcceptedTwiceEvenAcrossResets) {
  // A report accepted before a reset (seq went back) must be stale whenever
  // the reset report is acceptable, for every arrival time.
  const int64_t max_age = 5000, skew = 2000;
  for (int64_t gap = max_age + skew + 1; gap < max_age + skew + 3000; gap += 250) {
    for (int64_t late = -skew; late <= max_age; late += 500) {
      ReplayGuard g;
      const Report old = at(50, kNow);
      ASSERT_EQ(g.check(kSrc, old, kNow), Verdict::Accept);
      const Report reset = at(1, kNow + gap);
      const int64_t now = kNow + gap + late;  // reset report arrives `late` after its timestamp
      if (g.check(kSrc, reset, now) != Verdict::Accept) continue;
      EXPECT_NE(g.check(kSrc, old, now), Verdict::Accept) << gap << " " << late;
    }
  }
}

// ---- key files -----------------------------------------------------------

TEST(KeyFile, HexRawAndErrors) {
  testing::TempDir dir;
  std::string err;

  auto p = dir.write("hex", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n");
  ::chmod(p.c_str(), 0600);
  auto k = load_key_file(p, &err);
  ASSERT_TRUE(k) << err;
  EXPECT_EQ(*k, kKey);

  p = dir.write("crlf", "000102030405060708090A0B0C0D0E0F\r\n");
  ::chmod(p.c_str(), 0640);
  k = load_key_file(p, &err);
  ASSERT_TRUE(k) << err;
  EXPECT_EQ(k->size(), 16u);

  p = dir.write("raw", "correct horse battery staple\n");
  ::chmod(p.c_str(), 0600);
  k = load_key_file(p, &err);
  ASSERT_TRUE(k) << err;
  EXPECT_EQ(std::string(k->begin(), k->end()), "correct horse battery staple");

  p = dir.write("short", "0011223344556677\n");  // hex: 8 bytes
  ::chmod(p.c_str(), 0600);
  EXPECT_FALSE(load_key_file(p, &err));
  EXPECT_NE(err.find("at least 16"), std::string::npos) << err;

  p = dir.write("world", "correct horse battery staple\n");
  ::chmod(p.c_str(), 0644);
  EXPECT_FALSE(load_key_file(p, &err));
  EXPECT_NE(err.find("chmod 600"), std::string::npos) << err;

  EXPECT_FALSE(load_key_file((dir.path() / "missing").string(), &err));
  EXPECT_NE(err.find("missing"), std::string::npos) << err;
  EXPECT_FALSE(load_key_file(dir.path().string(), nullptr));  // a directory
}

}  // namespace
}  // namespace fulcrum::agent
