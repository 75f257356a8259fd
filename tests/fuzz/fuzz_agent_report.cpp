// libFuzzer target for the agent report decoder.
//
// Every input goes through decode_and_verify() with a fixed key; failures
// must be named errors, and peek_key_id() must agree with the framing. A
// fuzzer cannot forge the MAC, so the input's first 44 bytes are also signed
// here and decoded again: that reaches the field checks, and whatever decodes
// must re-encode and decode to the same report (the advisory CPU capacity
// included), and pass through the replay guard without trouble.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "agent/report.hpp"

namespace {

using namespace fulcrum;
using namespace fulcrum::agent;

constexpr std::array<uint8_t, 32> kKey = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
                                          0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15,
                                          0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f};

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void exercise(std::span<const uint8_t> in) {
  auto r = decode_and_verify(in, kKey);
  const auto key_id = peek_key_id(in);
  if (!r.ok()) {
    check(std::strcmp(report_error_name(r.error()), "unknown") != 0);
    // peek only looks at framing: it answers exactly when framing was fine.
    const bool framing_ok = r.error() == ReportError::BadMac || r.error() == ReportError::OutOfRange;
    check(key_id.has_value() == framing_ok);
    return;
  }
  check(in.size() == kReportLen && key_id == r->key_id);
  check(r->cpu_pct_x100 <= kPctScale && r->mem_pct_x100 <= kPctScale && r->interval_ms > 0);
  // The reserved field is the CPU capacity under flags bit 2, and nothing without it.
  const auto reserved = static_cast<uint16_t>(in[6] << 8 | in[7]);
  check(r->cpu_capacity_milli == ((in[5] & kFlagCpuCapacity) != 0 ? reserved : 0));

  std::array<uint8_t, kReportLen> out{};
  check(encode(*r, kKey, out) == kReportLen);
  auto again = decode_and_verify(out, kKey);
  check(again.ok() && *again == *r);
  // Same bytes except unknown flag bits, and reserved without its flag (or
  // with 0), which version 1 ignores.
  check(std::equal(in.begin(), in.begin() + 5, out.begin()) &&
        std::equal(in.begin() + 8, in.begin() + static_cast<std::ptrdiff_t>(kReportBodyLen), out.begin() + 8));
  check(((out[5] & kFlagCpuCapacity) != 0) == (r->cpu_capacity_milli > 0) &&
        (out[6] << 8 | out[7]) == r->cpu_capacity_milli);

  ReplayGuard guard;
  const auto ts = static_cast<int64_t>(std::min<uint64_t>(r->timestamp_ms, INT64_MAX / 2));
  (void)guard.check(r->sender_ip, *r, ts);
  check(guard.check(r->sender_ip, *r, ts) != ReplayGuard::Verdict::Accept);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::span<const uint8_t> in(data, size);
  exercise(in);

  if (size >= kReportBodyLen) {
    std::array<uint8_t, kReportLen> signed_copy{};
    std::copy_n(data, kReportBodyLen, signed_copy.begin());
    unsigned int len = 0;
    HMAC(EVP_sha256(), kKey.data(), static_cast<int>(kKey.size()), signed_copy.data(), kReportBodyLen,
         signed_copy.data() + kReportBodyLen, &len);
    check(len == kReportMacLen);
    exercise(signed_copy);
  }
  return 0;
}
