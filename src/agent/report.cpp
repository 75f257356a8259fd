#include "agent/report.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "util/bytes.hpp"

namespace fulcrum::agent {

namespace {

// HMAC-SHA256 of body into mac; false if OpenSSL fails or the key is empty.
bool hmac_sha256(std::span<const uint8_t> key, std::span<const uint8_t> body, uint8_t (&mac)[kReportMacLen]) {
  if (key.empty()) return false;
  unsigned int len = 0;
  const unsigned char* out =
      HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), body.data(), body.size(), mac, &len);
  return out != nullptr && len == kReportMacLen;
}

void put_be(std::span<uint8_t> out, std::size_t at, uint64_t v, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[at + i] = static_cast<uint8_t>(v >> (8 * (n - 1 - i)));
}

// Checks magic, version and length; the shared first step of decode and peek.
Result<void, ReportError> check_framing(std::span<const uint8_t> p) {
  if (p.size() < sizeof kReportMagic) return fail(ReportError::Truncated);
  if (!std::equal(std::begin(kReportMagic), std::end(kReportMagic), p.begin())) return fail(ReportError::BadMagic);
  if (p.size() < 5) return fail(ReportError::Truncated);
  if (p[4] != kReportVersion) return fail(ReportError::UnsupportedVersion);
  if (p.size() < kReportLen) return fail(ReportError::Truncated);
  if (p.size() > kReportLen) return fail(ReportError::BadLength);
  return {};
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

const char* report_error_name(ReportError e) {
  switch (e) {
    case ReportError::Truncated:
      return "truncated";
    case ReportError::BadMagic:
      return "bad magic";
    case ReportError::UnsupportedVersion:
      return "unsupported version";
    case ReportError::BadLength:
      return "bad length";
    case ReportError::BadMac:
      return "bad MAC";
    case ReportError::OutOfRange:
      return "field out of range";
  }
  return "unknown";
}

std::size_t encode(const Report& r, std::span<const uint8_t> key, std::span<uint8_t> out) {
  if (out.size() < kReportLen || key.empty()) return 0;
  if (r.cpu_pct_x100 > kPctScale || r.mem_pct_x100 > kPctScale || r.interval_ms == 0) return 0;
  std::copy(std::begin(kReportMagic), std::end(kReportMagic), out.begin());
  out[4] = kReportVersion;
  // The CPU capacity is advisory: with 0 (unknown) flag and field stay 0,
  // the bytes an agent without it sends.
  out[5] = static_cast<uint8_t>((r.healthy ? kFlagHealthy : 0) | (r.cgroup_scoped ? kFlagCgroupScoped : 0) |
                                (r.cpu_capacity_milli > 0 ? kFlagCpuCapacity : 0));
  put_be(out, 6, r.cpu_capacity_milli, 2);
  put_be(out, 8, r.seq, 8);
  put_be(out, 16, r.timestamp_ms, 8);
  put_be(out, 24, r.cpu_pct_x100, 2);
  put_be(out, 26, r.mem_pct_x100, 2);
  put_be(out, 28, r.established, 4);
  put_be(out, 32, r.interval_ms, 4);
  put_be(out, 36, r.key_id, 4);
  put_be(out, 40, r.sender_ip.v, 4);
  uint8_t mac[kReportMacLen];
  if (!hmac_sha256(key, out.first(kReportBodyLen), mac)) return 0;
  std::copy(std::begin(mac), std::end(mac), out.begin() + kReportBodyLen);
  return kReportLen;
}

Result<Report, ReportError> decode_and_verify(std::span<const uint8_t> udp_payload, std::span<const uint8_t> key) {
  if (auto f = check_framing(udp_payload); !f) return fail(f.error());

  // Authenticate before looking at any value: nothing unauthenticated is
  // interpreted beyond the framing.
  uint8_t mac[kReportMacLen];
  if (!hmac_sha256(key, udp_payload.first(kReportBodyLen), mac)) return fail(ReportError::BadMac);
  if (CRYPTO_memcmp(mac, udp_payload.data() + kReportBodyLen, kReportMacLen) != 0) return fail(ReportError::BadMac);

  ByteReader rd(udp_payload.first(kReportBodyLen));
  rd.skip(5);  // magic, version
  const uint8_t flags = rd.u8();
  const uint16_t reserved = rd.u16();
  Report r;
  // Unknown flag bits are ignored (version 1 may gain advisory flags).
  r.healthy = (flags & kFlagHealthy) != 0;
  r.cgroup_scoped = (flags & kFlagCgroupScoped) != 0;
  // Advisory: the reserved field means the CPU capacity only under its flag;
  // 0 there is "unknown", never an error.
  r.cpu_capacity_milli = (flags & kFlagCpuCapacity) != 0 ? reserved : 0;
  r.seq = rd.u64();
  r.timestamp_ms = rd.u64();
  r.cpu_pct_x100 = rd.u16();
  r.mem_pct_x100 = rd.u16();
  r.established = rd.u32();
  r.interval_ms = rd.u32();
  r.key_id = rd.u32();
  r.sender_ip = Ipv4Addr{rd.u32()};
  if (!rd.ok() || !rd.empty()) return fail(ReportError::Truncated);  // cannot happen after check_framing
  if (r.cpu_pct_x100 > kPctScale || r.mem_pct_x100 > kPctScale || r.interval_ms == 0) {
    return fail(ReportError::OutOfRange);
  }
  return r;
}

std::optional<uint32_t> peek_key_id(std::span<const uint8_t> udp_payload) {
  if (!check_framing(udp_payload)) return std::nullopt;
  ByteReader rd(udp_payload);
  rd.skip(36);
  return rd.u32();
}

ReplayGuard::Verdict ReplayGuard::check(Ipv4Addr src, const Report& r, int64_t now_unix_ms) {
  if (r.sender_ip != src) return Verdict::WrongSender;
  // Timestamps beyond int64 are from the far future; compare without overflow.
  if (r.timestamp_ms > static_cast<uint64_t>(INT64_MAX)) return Verdict::FromFuture;
  const auto ts = static_cast<int64_t>(r.timestamp_ms);
  if (ts > now_unix_ms && ts - now_unix_ms > config_.max_future_skew_ms) return Verdict::FromFuture;
  if (ts < now_unix_ms && now_unix_ms - ts > config_.max_age_ms) return Verdict::Stale;

  auto it = last_.find(src);
  if (it == last_.end()) {
    last_.emplace(src, Last{r.seq, ts});
    return Verdict::Accept;
  }
  Last& last = it->second;
  if (r.seq > last.seq) {
    last.seq = r.seq;
    last.max_ts = std::max(last.max_ts, ts);
    return Verdict::Accept;
  }
  // The sequence went back. Accept only a report so much newer than every
  // accepted one that all of those are now stale: an agent that restarted
  // with a plain counter (or after its clock stepped) recovers, and no
  // report accepted before can ever be accepted again.
  if (ts - last.max_ts > config_.max_age_ms + config_.max_future_skew_ms) {
    last.seq = r.seq;
    last.max_ts = ts;
    return Verdict::Accept;
  }
  return Verdict::Replayed;
}

const char* verdict_name(ReplayGuard::Verdict v) {
  switch (v) {
    case ReplayGuard::Verdict::Accept:
      return "accept";
    case ReplayGuard::Verdict::Replayed:
      return "replayed";
    case ReplayGuard::Verdict::Stale:
      return "stale";
    case ReplayGuard::Verdict::FromFuture:
      return "from the future";
    case ReplayGuard::Verdict::WrongSender:
      return "sender_ip is not the packet source";
  }
  return "unknown";
}

std::optional<std::vector<uint8_t>> load_key_file(const std::string& path, std::string* error) {
  auto set_error = [&](std::string msg) {
    if (error) *error = "key file " + path + ": " + std::move(msg);
    return std::nullopt;
  };
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return set_error(std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return set_error("not a regular file");
  if ((st.st_mode & (S_IROTH | S_IWOTH)) != 0) {
    return set_error("readable or writable by others; run chmod 600 (or 640) on it");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return set_error("cannot open");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!text.empty() && text.back() == '\n') text.pop_back();
  if (!text.empty() && text.back() == '\r') text.pop_back();

  std::vector<uint8_t> key;
  const bool all_hex = !text.empty() && text.size() % 2 == 0 &&
                       std::all_of(text.begin(), text.end(), [](char c) { return hex_value(c) >= 0; });
  if (all_hex) {
    key.reserve(text.size() / 2);
    for (std::size_t i = 0; i < text.size(); i += 2) {
      key.push_back(static_cast<uint8_t>(hex_value(text[i]) << 4 | hex_value(text[i + 1])));
    }
  } else {
    key.assign(text.begin(), text.end());
  }
  if (key.size() < kMinKeyLen) {
    return set_error("key is " + std::to_string(key.size()) + " bytes" + (all_hex ? " (read as hex)" : "") +
                     ", at least " + std::to_string(kMinKeyLen) + " are needed");
  }
  return key;
}

}  // namespace fulcrum::agent
