// libFuzzer target for the OpenFlow codec.
//
// 1. decode() on the input as one frame; when it succeeds, encode the result
//    in the frame's version and decode that again: it must succeed (unless
//    the message has no form in that version), and encoding is a fixed point.
// 2. The input fed to a Framer in chunks; every frame it hands out is exactly
//    as long as its header says and is decoded too.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "openflow/codec.hpp"

using namespace fulcrum::of;

namespace {

void check_reencode(const Decoded& d) {
  if (d.header.version != static_cast<uint8_t>(Version::V10) && d.header.version != static_cast<uint8_t>(Version::V13))
    return;  // a hello of another version: nothing to re-encode it as
  const auto v = static_cast<Version>(d.header.version);
  std::vector<uint8_t> out;
  auto e = encode(v, d.header.xid, d.msg, out);
  if (!e) {
    if (e.error() != Err::UnsupportedInVersion) std::abort();
    if (!out.empty()) std::abort();
    return;
  }
  auto d2 = decode(out);
  if (!d2) std::abort();
  std::vector<uint8_t> again;
  if (!encode(v, d2->header.xid, d2->msg, again)) std::abort();
  if (again != out) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> in(data, size);
  if (auto d = decode(in)) check_reencode(*d);

  Framer framer;
  const std::size_t chunk = size == 0 ? 1 : data[0] % 23 + 1;
  for (std::size_t pos = 0; pos < size; pos += chunk) {
    framer.feed(in.subspan(pos, std::min(chunk, size - pos)));
    for (;;) {
      auto n = framer.next();
      if (n.status == Framer::Status::Error) return 0;
      if (n.status == Framer::Status::NeedMore) break;
      auto h = peek_header(n.frame);
      if (!h || h->length != n.frame.size()) std::abort();
      if (auto d = decode(n.frame)) check_reencode(*d);
    }
  }
  return 0;
}
