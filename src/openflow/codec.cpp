// Framing, dispatch and the messages laid out alike in 1.0 and 1.3 (hello,
// error, echo, features request, get/set config). Version-specific layouts
// live in of10.cpp and of13.cpp.
#include "openflow/codec.hpp"

#include <array>
#include <type_traits>

#include "openflow/wire.hpp"

namespace fulcrum::of {

using namespace detail;

namespace {

constexpr uint16_t kHelloElemVersionBitmap = 1;

DResult decode_hello(ByteReader& r) {
  Hello h;
  // Elements: type, length (header included, padding excluded), body, padding
  // to 8. A tail shorter than an element header is ignored, as OVS does.
  while (r.remaining() >= 4) {
    uint16_t type = r.u16();
    uint16_t len = r.u16();
    if (len < 4) return derr(Err::BadLen, "hello element shorter than its header");
    ByteReader body = r.take(len - 4u);
    if (!r.ok()) return derr(Err::BadLen, "hello element beyond the message");
    r.skip(std::min(round8(len) - len, r.remaining()));
    if (type != kHelloElemVersionBitmap) continue;  // unknown element: ignore
    if (body.remaining() % 4 != 0) return derr(Err::BadLen, "hello version bitmap not a multiple of 4 bytes");
    // Only the first word matters: it covers versions 0..31.
    if (!body.empty()) h.version_bitmap = body.u32();
  }
  return Message{h};
}

void encode_hello(ByteWriter& w, const Hello& h) {
  if (h.version_bitmap == 0) return;
  std::size_t start = w.size();
  w.u16(kHelloElemVersionBitmap);
  w.u16(8);
  w.u32(h.version_bitmap);
  w.pad_to(start, 8);
}

DResult decode_common(const Header& h, ByteReader& r) {
  switch (h.type) {
    case t::kError: {
      ErrorMsg e;
      e.type = r.u16();
      e.code = r.u16();
      if (!r.ok()) return derr(Err::BadLen, "error message too short");
      e.data = r.rest();
      return Message{e};
    }
    case t::kEchoRequest:
      return Message{EchoRequest{r.rest()}};
    case t::kEchoReply:
      return Message{EchoReply{r.rest()}};
    case t::kFeaturesRequest:
      if (!r.empty()) return derr(Err::BadLen, "features request has a body");
      return Message{FeaturesRequest{}};
    case t::kGetConfigRequest:
      if (!r.empty()) return derr(Err::BadLen, "get-config request has a body");
      return Message{GetConfigRequest{}};
    case t::kGetConfigReply:
    case t::kSetConfig: {
      uint16_t flags = r.u16();
      uint16_t miss = r.u16();
      if (!r.ok() || !r.empty()) return derr(Err::BadLen, "switch config length");
      if (h.type == t::kSetConfig) return Message{SetConfig{flags, miss}};
      return Message{GetConfigReply{flags, miss}};
    }
    default:
      break;
  }
  return h.version == static_cast<uint8_t>(Version::V10) ? decode10(h, r) : decode13(h, r);
}

// Encodes the messages common to both versions; nullopt for the others.
std::optional<EStatus> encode_common(Version v, uint32_t xid, const Message& m, ByteWriter& w) {
  return std::visit(
      [&](const auto& x) -> std::optional<EStatus> {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, Hello>) {
          begin_msg(w, v, t::kHello, xid);
          encode_hello(w, x);
        } else if constexpr (std::is_same_v<T, ErrorMsg>) {
          begin_msg(w, v, t::kError, xid);
          w.u16(x.type);
          w.u16(x.code);
          w.bytes(x.data);
        } else if constexpr (std::is_same_v<T, EchoRequest>) {
          begin_msg(w, v, t::kEchoRequest, xid);
          w.bytes(x.data);
        } else if constexpr (std::is_same_v<T, EchoReply>) {
          begin_msg(w, v, t::kEchoReply, xid);
          w.bytes(x.data);
        } else if constexpr (std::is_same_v<T, FeaturesRequest>) {
          begin_msg(w, v, t::kFeaturesRequest, xid);
        } else if constexpr (std::is_same_v<T, GetConfigRequest>) {
          begin_msg(w, v, t::kGetConfigRequest, xid);
        } else if constexpr (std::is_same_v<T, GetConfigReply> || std::is_same_v<T, SetConfig>) {
          begin_msg(w, v, std::is_same_v<T, SetConfig> ? t::kSetConfig : t::kGetConfigReply, xid);
          w.u16(x.flags);
          w.u16(x.miss_send_len);
        } else {
          return std::nullopt;
        }
        return EStatus{};
      },
      m);
}

}  // namespace

std::optional<Header> peek_header(std::span<const uint8_t> bytes) {
  if (bytes.size() < kHeaderLen) return std::nullopt;
  ByteReader r(bytes);
  Header h;
  h.version = r.u8();
  h.type = r.u8();
  h.length = r.u16();
  h.xid = r.u32();
  return h;
}

bool is_packet_in(const Header& h) { return h.type == t::kPacketIn; }

Result<Decoded, DecodeError> decode(std::span<const uint8_t> frame) {
  auto h = peek_header(frame);
  if (!h) return derr(Err::BadLen, "shorter than an OpenFlow header");
  if (h->length < kHeaderLen || h->length != frame.size()) return derr(Err::BadLen, "header length != frame length");
  const bool known_version =
      h->version == static_cast<uint8_t>(Version::V10) || h->version == static_cast<uint8_t>(Version::V13);
  // A hello of any version is decoded: negotiation needs it.
  if (h->type != t::kHello && !known_version) return derr(Err::BadVersion, "unsupported OpenFlow version");
  ByteReader body(frame.subspan(kHeaderLen));
  DResult r = h->type == t::kHello ? decode_hello(body) : decode_common(*h, body);
  if (!r) return fail(r.error());
  return Decoded{*h, std::move(r).value()};
}

namespace {
template <typename Vec>
Result<void, Err> encode_to(Version v, uint32_t xid, const Message& m, Vec& out) {
  const std::size_t start = out.size();
  ByteWriter w(out);
  EStatus s;
  if (auto c = encode_common(v, xid, m, w)) {
    s = *c;
  } else {
    s = v == Version::V10 ? encode10(xid, m, w) : encode13(xid, m, w);
  }
  if (s && w.size() - start > kMaxMessageLen) s = fail(Err::BadLen);
  if (!s) {
    w.truncate(start);
    return s;
  }
  w.patch_u16(start + 2, static_cast<uint16_t>(w.size() - start));
  return {};  // ~ByteWriter trims the vector to what was written
}
}  // namespace

Result<void, Err> encode(Version v, uint32_t xid, const Message& m, std::vector<uint8_t>& out) {
  return encode_to(v, xid, m, out);
}
Result<void, Err> encode(Version v, uint32_t xid, const Message& m, Bytes& out) { return encode_to(v, xid, m, out); }

std::optional<Version> negotiate(uint8_t peer_header_version, uint32_t peer_bitmap, uint32_t our_bitmap) {
  // Without a bitmap the peer supports every version up to its header's (as
  // OVS reads it); with one, exactly the versions it lists.
  uint32_t peer = peer_bitmap;
  if (peer == 0) peer = peer_header_version >= 31 ? 0xffffffffu : (2u << peer_header_version) - 1;
  uint32_t common = peer & our_bitmap & (version_bit(Version::V10) | version_bit(Version::V13));
  if (common & version_bit(Version::V13)) return Version::V13;
  if (common & version_bit(Version::V10)) return Version::V10;
  return std::nullopt;
}

void Framer::feed(std::span<const uint8_t> bytes) {
  // Frames handed out before are invalid now, so consumed bytes can go.
  if (start_ == buf_.size()) {
    buf_.clear();
    start_ = 0;
  } else if (start_ > 0 && start_ >= buf_.size() / 2) {
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(start_));
    start_ = 0;
  }
  buf_.insert(buf_.end(), bytes.begin(), bytes.end());
}

Framer::Next Framer::next() {
  std::span<const uint8_t> avail(buf_.data() + start_, buf_.size() - start_);
  auto h = peek_header(avail);
  if (!h) return {Status::NeedMore, {}};
  if (h->length < kHeaderLen) return {Status::Error, {}};
  if (avail.size() < h->length) return {Status::NeedMore, {}};
  start_ += h->length;
  return {Status::Frame, avail.first(h->length)};
}

const char* message_name(const Message& m) {
  static constexpr std::array<const char*, 24> kNames = {"hello",
                                                         "error",
                                                         "echo-request",
                                                         "echo-reply",
                                                         "features-request",
                                                         "features-reply",
                                                         "get-config-request",
                                                         "get-config-reply",
                                                         "set-config",
                                                         "packet-in",
                                                         "packet-out",
                                                         "flow-mod",
                                                         "flow-removed",
                                                         "port-status",
                                                         "barrier-request",
                                                         "barrier-reply",
                                                         "port-desc-request",
                                                         "port-desc-reply",
                                                         "port-stats-request",
                                                         "port-stats-reply",
                                                         "flow-stats-request",
                                                         "flow-stats-reply",
                                                         "role-request",
                                                         "role-reply"};
  static_assert(kNames.size() == std::variant_size_v<Message>);
  return kNames[m.index()];
}

}  // namespace fulcrum::of
