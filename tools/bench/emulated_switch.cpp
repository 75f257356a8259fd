#include "emulated_switch.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <variant>

namespace fulcrum::bench {

namespace {

constexpr std::size_t kReadChunk = 256 * 1024;
constexpr std::size_t kSynLen = 60;  // 54-byte SYN padded to the Ethernet minimum
constexpr std::size_t kMaxErrorsKept = 5;
constexpr std::size_t kMaxFlowsKept = 256;
constexpr uint32_t kPortFeature10GbFd = 1u << 6;  // 1.3 bit layout (the codec maps 1.0)

void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void put32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

MacAddr client_mac(uint32_t port_index) {  // port_index 0-based: port 1 -> 00:00:00:00:00:01
  return MacAddr{{0, 0, 0, 0, static_cast<uint8_t>((port_index + 1) >> 8), static_cast<uint8_t>(port_index + 1)}};
}

const char* version_name(of::Version v) { return v == of::Version::V13 ? "1.3" : "1.0"; }

bool outputs_to(const of::ActionList& actions, of::PortNo port) {
  for (const auto& a : actions) {
    if (const auto* o = std::get_if<of::ActOutput>(&a)) {
      if (o->port == port || o->port == of::port::kFlood || o->port == of::port::kAll || o->port == of::port::kNormal) {
        return true;
      }
    }
  }
  return false;
}

}  // namespace

EmulatedSwitch::EmulatedSwitch(asio::io_context& io, SwitchParams params, std::function<void()> on_ready)
    : io_(io),
      p_(std::move(params)),
      on_ready_(std::move(on_ready)),
      sock_(io),
      timer_(io),
      tick_timer_(io),
      rbuf_(kReadChunk),
      version_(p_.version),
      ring_(kRing) {
  backend_answered_.assign(p_.backends.size(), false);
  result_.spread.assign(p_.backends.size() + kSpreadExtras, 0);
  vip_mac_ = p_.vip_mac_fallback;
  of::PortNo max_port = p_.clients;
  for (uint32_t c = 0; c < p_.clients; ++c) {
    of::PortDesc d;
    d.port_no = c + 1;
    d.hw_addr = MacAddr{{0x0e, 0, 0, 0, 0, static_cast<uint8_t>(c + 1)}};
    d.name = fmt::format("client{}", c + 1);
    ports_.push_back(d);
  }
  for (const auto& b : p_.backends) {
    of::PortDesc d;
    d.port_no = b.port;
    d.hw_addr = MacAddr{{0x0e, 0, 0, 0, 1, static_cast<uint8_t>(b.port)}};
    d.name = fmt::format("backend{}", b.port);
    ports_.push_back(d);
    max_port = std::max(max_port, b.port);
  }
  for (auto& d : ports_) {
    d.curr = d.advertised = d.supported = kPortFeature10GbFd;
    d.curr_speed_kbps = d.max_speed_kbps = 10'000'000;
  }
  port_rx_.assign(max_port + 1, 0);
  port_tx_.assign(max_port + 1, 0);
}

void EmulatedSwitch::set_failure(std::string why) {
  if (result_.failure.empty()) result_.failure = std::move(why);
  bool was_ready = phase_ >= Phase::Ready;
  close();
  if (!was_ready && on_ready_) {
    auto cb = std::move(on_ready_);
    on_ready_ = nullptr;
    cb();
  }
}

void EmulatedSwitch::start() {
  asio::error_code ec;
  auto addr = asio::ip::make_address(p_.host, ec);
  if (ec) {
    set_failure("bad controller address: " + p_.host);
    return;
  }
  sock_.async_connect({addr, p_.port}, [this](asio::error_code cec) {
    if (cec) {
      set_failure("connect failed: " + cec.message());
      return;
    }
    result_.connected = true;
    asio::error_code oec;
    sock_.set_option(asio::ip::tcp::no_delay(true), oec);
    phase_ = Phase::Handshake;
    of::Hello hello;
    if (p_.version == of::Version::V13) hello.version_bitmap = of::version_bit(of::Version::V13);
    auto r = of::encode(p_.version, xid_++, of::Message{hello}, wbuf_);
    (void)r;
    flush();
    read();
    arm_timer(p_.settle + std::chrono::milliseconds(5000), &EmulatedSwitch::on_settle_timeout);
    on_tick();
  });
}

void EmulatedSwitch::close() {
  if (closed_) return;
  closed_ = true;
  phase_ = Phase::Stopped;
  loading_ = false;
  asio::error_code ec;
  sock_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  sock_.close(ec);
  timer_.cancel();
  tick_timer_.cancel();
}

// ---- I/O ---------------------------------------------------------------------

void EmulatedSwitch::send(const of::Message& m, uint32_t xid) {
  if (closed_) return;
  auto r = of::encode(version_, xid, m, wbuf_);
  (void)r;  // a message the version cannot carry is not sent
}

void EmulatedSwitch::send_packet_in(of::PortNo in_port, std::span<const uint8_t> frame) {
  of::PacketIn pin;
  pin.in_port = in_port;
  pin.total_len = static_cast<uint16_t>(frame.size());
  pin.reason = of::PacketInReason::NoMatch;
  pin.data = frame;
  send(of::Message{pin}, xid_++);
  if (in_port < port_rx_.size()) ++port_rx_[in_port];
}

void EmulatedSwitch::flush() {
  if (writing_ || wbuf_.empty() || closed_) return;
  std::swap(wbuf_, inflight_);
  wbuf_.clear();
  writing_ = true;
  asio::async_write(sock_, asio::buffer(inflight_), [this](asio::error_code ec, std::size_t) {
    writing_ = false;
    inflight_.clear();
    if (closed_) return;
    if (ec) {
      set_failure("write failed: " + ec.message());
      return;
    }
    flush();
  });
}

void EmulatedSwitch::read() {
  sock_.async_read_some(asio::buffer(rbuf_), [this](asio::error_code ec, std::size_t n) {
    if (closed_) return;
    if (ec) {
      if (phase_ == Phase::Stopped) return;
      set_failure(ec == asio::error::eof ? "controller closed the connection" : "read failed: " + ec.message());
      return;
    }
    on_bytes(n);
    if (!closed_) read();
  });
}

void EmulatedSwitch::on_bytes(std::size_t n) {
  const auto now = Clock::now();  // one timestamp per read: the time the batch arrived
  framer_.feed(std::span<const uint8_t>(rbuf_.data(), n));
  while (!closed_) {
    auto next = framer_.next();
    if (next.status == of::Framer::Status::NeedMore) break;
    if (next.status == of::Framer::Status::Error) {
      set_failure("controller broke OpenFlow framing (length below 8)");
      return;
    }
    ++result_.messages_in;
    auto d = of::decode(next.frame);
    if (!d) {
      ++result_.undecodable;
      // A request we cannot decode (a multipart type not modelled, an
      // experimenter message): answer as a switch would, with an error.
      auto h = of::peek_header(next.frame);
      if (h && hello_seen_) {
        auto [type, code] = of::wire_error(version_, d.error().err);
        of::ErrorMsg e{type, code, next.frame.first(std::min<std::size_t>(next.frame.size(), 64))};
        send(of::Message{e}, h->xid);
      }
      continue;
    }
    on_frame(next.frame, *d, now);
  }
  if (loading_) fill_window();
  flush();
}

void EmulatedSwitch::on_frame(std::span<const uint8_t> /*frame*/, const of::Decoded& d, Clock::time_point now) {
  const uint32_t xid = d.header.xid;
  const of::Message& msg = d.msg;
  if (const auto* hello = std::get_if<of::Hello>(&msg)) {
    if (hello_seen_) return;
    hello_seen_ = true;
    auto v = of::negotiate(d.header.version, hello->version_bitmap, of::version_bit(p_.version));
    if (!v) {
      set_failure(fmt::format("no common OpenFlow version (controller offers header version {}, bitmap {:#x})",
                              d.header.version, hello->version_bitmap));
      return;
    }
    version_ = *v;
    result_.version = version_name(version_);
    return;
  }
  if (!hello_seen_) return;
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, of::EchoRequest>) {
          send(of::Message{of::EchoReply{m.data}}, xid);
        } else if constexpr (std::is_same_v<T, of::EchoReply>) {
          if (phase_ == Phase::Echo && xid == echo_sent_) {
            result_.echo_rtt_ns.push_back(
                static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(now - echo_t0_).count()));
            send_echo();
          }
        } else if constexpr (std::is_same_v<T, of::FeaturesRequest>) {
          of::FeaturesReply fr;
          fr.datapath_id = p_.dpid;
          fr.n_buffers = 0;  // never buffers: every packet-in carries the whole frame
          fr.n_tables = 254;
          fr.capabilities = 0x7;  // flow, table, port stats
          if (version_ == of::Version::V10) fr.ports = ports_;
          send(of::Message{fr}, xid);
          if (phase_ == Phase::Handshake) {
            result_.handshake_done = true;
            enter_settle();
          }
        } else if constexpr (std::is_same_v<T, of::PortDescRequest>) {
          send(of::Message{of::PortDescReply{ports_, false}}, xid);
        } else if constexpr (std::is_same_v<T, of::GetConfigRequest>) {
          send(of::Message{of::GetConfigReply{0, of::kMaxLenNoBuffer}}, xid);
        } else if constexpr (std::is_same_v<T, of::BarrierRequest>) {
          ++result_.barrier_requests;
          send(of::Message{of::BarrierReply{}}, xid);
        } else if constexpr (std::is_same_v<T, of::RoleRequest>) {
          ++result_.role_requests;
          of::RoleReply rr;
          rr.role = m.role == of::Role::NoChange ? of::Role::Equal : m.role;
          rr.generation_id = m.generation_id;
          send(of::Message{rr}, xid);
        } else if constexpr (std::is_same_v<T, of::PortStatsRequest> || std::is_same_v<T, of::FlowStatsRequest>) {
          ++result_.stats_requests;
          reply_stats(d);
        } else if constexpr (std::is_same_v<T, of::PacketOut>) {
          if (in_window(now)) ++result_.packet_outs;
          on_packet_out(m, now);
        } else if constexpr (std::is_same_v<T, of::FlowMod>) {
          if (in_window(now)) ++result_.flow_mods;
          on_flow_mod(m, now);
        } else if constexpr (std::is_same_v<T, of::ErrorMsg>) {
          on_error(m);
        }
        // Anything else (set-config, replies we never asked for) needs no answer.
      },
      msg);
}

void EmulatedSwitch::reply_stats(const of::Decoded& d) {
  const uint32_t xid = d.header.xid;
  if (const auto* req = std::get_if<of::PortStatsRequest>(&d.msg)) {
    of::PortStatsReply rep;
    for (const auto& pd : ports_) {
      if (req->port_no != of::port::kAny && req->port_no != pd.port_no) continue;
      of::PortStats s;
      s.port_no = pd.port_no;
      s.rx_packets = port_rx_[pd.port_no];
      s.tx_packets = port_tx_[pd.port_no];
      s.rx_bytes = s.rx_packets * kSynLen;
      s.tx_bytes = s.tx_packets * kSynLen;
      auto up = Clock::now() - handshake_at_;
      s.duration_sec = static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::seconds>(up).count());
      rep.stats.push_back(s);
    }
    send(of::Message{rep}, xid);
    return;
  }
  // Flow stats: the flow-mods the controller sent since it first asked (the
  // latest 256), each as if one 60-byte packet had matched it.
  record_flows_ = true;
  of::FlowStatsReply rep;
  const auto now = Clock::now();
  for (const auto& [fm, at] : flows_) {
    of::FlowStats s;
    s.table_id = fm.table_id;
    auto age = now - at;
    s.duration_sec = static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::seconds>(age).count());
    s.priority = fm.priority;
    s.idle_timeout = fm.idle_timeout;
    s.hard_timeout = fm.hard_timeout;
    s.flags = fm.flags;
    s.cookie = fm.cookie;
    s.packet_count = 1;
    s.byte_count = kSynLen;
    s.match = fm.match;
    s.actions = fm.actions;
    rep.stats.push_back(s);
  }
  send(of::Message{rep}, xid);
}

void EmulatedSwitch::on_error(const of::ErrorMsg& e) {
  ++result_.errors;
  if (result_.first_errors.size() < kMaxErrorsKept) {
    ErrorSeen s{e.type, e.code, -1};
    if (e.data.size() >= 2) s.offending_type = e.data[1];
    result_.first_errors.push_back(s);
  }
}

// ---- setup phases --------------------------------------------------------------

void EmulatedSwitch::arm_timer(std::chrono::milliseconds after, void (EmulatedSwitch::*fn)()) {
  timer_.expires_after(after);
  timer_.async_wait([this, fn](asio::error_code ec) {
    if (ec || closed_) return;
    (this->*fn)();
  });
}

void EmulatedSwitch::enter_settle() {
  phase_ = Phase::Settle;
  handshake_at_ = Clock::now();
  if (p_.backends.empty()) {
    enter_vip_arp();
    return;
  }
  arm_timer(p_.settle, &EmulatedSwitch::on_settle_timeout);
}

void EmulatedSwitch::on_settle_timeout() {
  if (phase_ == Phase::Handshake) {
    set_failure("handshake did not complete (no features request)");
    return;
  }
  if (phase_ == Phase::Settle) enter_vip_arp();
}

void EmulatedSwitch::enter_vip_arp() {
  phase_ = Phase::VipArp;
  result_.vip_arp = "none";
  const MacAddr cmac = client_mac(0);
  vip_arp_frame_.assign(pkt::kArpFrameLen, 0);
  pkt::build_arp(vip_arp_frame_, {cmac, MacAddr::broadcast()}, pkt::kArpRequest, cmac, p_.client_ip_base, MacAddr{},
                 p_.vip);
  send_packet_in(1, vip_arp_frame_);
  flush();
  arm_timer(p_.vip_arp_wait, &EmulatedSwitch::on_vip_arp_timeout);
}

void EmulatedSwitch::on_vip_arp_timeout() {
  if (phase_ == Phase::VipArp) enter_echo();
}

void EmulatedSwitch::enter_echo() {
  phase_ = Phase::Echo;
  timer_.cancel();
  echo_sent_ = 0;
  result_.echo_rtt_ns.reserve(p_.echo_samples);
  send_echo();
}

void EmulatedSwitch::send_echo() {
  if (result_.echo_rtt_ns.size() >= p_.echo_samples) {
    enter_ready();
    return;
  }
  echo_sent_ = 0x40000000u + static_cast<uint32_t>(result_.echo_rtt_ns.size());
  echo_t0_ = Clock::now();
  send(of::Message{of::EchoRequest{}}, echo_sent_);
  flush();
}

void EmulatedSwitch::enter_ready() {
  phase_ = Phase::Ready;
  build_templates();
  if (on_ready_) {
    auto cb = std::move(on_ready_);
    on_ready_ = nullptr;
    cb();
  }
}

void EmulatedSwitch::on_tick() {
  // Decisions never answered: count them and free their slots.
  if (outstanding_ > 0) {
    const auto deadline = Clock::now() - p_.decision_timeout;
    for (auto& s : ring_) {
      if (s.seq != UINT64_MAX && s.sent < deadline) {
        s.seq = UINT64_MAX;
        --outstanding_;
        ++result_.timeouts;
      }
    }
    if (loading_) fill_window();
    flush();
  }
  tick_timer_.expires_after(std::chrono::milliseconds(100));
  tick_timer_.async_wait([this](asio::error_code ec) {
    if (!ec && !closed_) on_tick();
  });
}

// ---- what the controller sends ---------------------------------------------------

int EmulatedSwitch::backend_by_ip(Ipv4Addr ip) const {
  for (std::size_t i = 0; i < p_.backends.size(); ++i) {
    if (p_.backends[i].ip == ip) return static_cast<int>(i);
  }
  return -1;
}

int EmulatedSwitch::backend_by_port(of::PortNo port) const {
  for (std::size_t i = 0; i < p_.backends.size(); ++i) {
    if (p_.backends[i].port == port) return static_cast<int>(i);
  }
  return -1;
}

uint32_t EmulatedSwitch::spread_of(const of::ActionList& actions, std::optional<Ipv4Addr> frame_dst) const {
  const auto nb = static_cast<uint32_t>(p_.backends.size());
  std::optional<Ipv4Addr> set_dst;
  std::optional<of::PortNo> out;
  for (const auto& a : actions) {
    if (const auto* s = std::get_if<of::ActSetIpv4Dst>(&a)) set_dst = s->ip;
    if (const auto* o = std::get_if<of::ActOutput>(&a)) {
      if (!out) out = o->port;
    }
  }
  if (!out) return nb + kSpreadDrop;
  if (set_dst) {
    int b = backend_by_ip(*set_dst);
    if (b >= 0) return static_cast<uint32_t>(b);
  }
  if (*out == of::port::kFlood || *out == of::port::kAll) return nb + kSpreadFlood;
  int b = backend_by_port(*out);
  if (b >= 0) return static_cast<uint32_t>(b);
  if (frame_dst) {
    b = backend_by_ip(*frame_dst);
    if (b >= 0) return static_cast<uint32_t>(b);
  }
  return nb + kSpreadOtherPort;
}

void EmulatedSwitch::on_packet_out(const of::PacketOut& po, Clock::time_point now) {
  for (const auto& a : po.actions) {
    if (const auto* o = std::get_if<of::ActOutput>(&a)) {
      if (o->port < port_tx_.size()) ++port_tx_[o->port];
    }
  }
  if (po.data.empty()) return;  // a buffer id: we never buffer, nothing to match
  auto parsed = pkt::parse(po.data);
  if (!parsed) return;
  const pkt::ParsedPacket& p = *parsed;

  if (p.l3 == pkt::L3::Arp) {
    const pkt::Arp& a = p.arp;
    if (a.op == pkt::kArpReply && a.spa == p_.vip) {
      if (phase_ == Phase::VipArp) {
        vip_mac_ = a.sha;
        result_.vip_arp = "reply";
        result_.vip_mac = a.sha.str();
        enter_echo();
      }
      return;
    }
    if (a.op != pkt::kArpRequest) return;
    if (a.tpa == p_.vip && a.spa == p_.client_ip_base) {
      if (phase_ == Phase::VipArp) result_.vip_arp = "flooded";  // the controller forwarded our request
      return;
    }
    // Discovery: answer for a backend the frame would reach.
    int b = backend_by_ip(a.tpa);
    if (b < 0) return;
    const BackendHost& bh = p_.backends[static_cast<std::size_t>(b)];
    if (!outputs_to(po.actions, bh.port)) return;
    std::array<uint8_t, pkt::kArpFrameLen> f{};
    pkt::build_arp(f, {bh.mac, a.sha}, pkt::kArpReply, bh.mac, bh.ip, a.sha, a.spa);
    send_packet_in(bh.port, f);
    ++result_.arp_probes_answered;
    if (!backend_answered_[static_cast<std::size_t>(b)]) {
      backend_answered_[static_cast<std::size_t>(b)] = true;
      ++result_.backends_answered;
      if (phase_ == Phase::Settle && result_.backends_answered == p_.backends.size()) enter_vip_arp();
    }
    return;
  }
  if (p.l3 != pkt::L3::Ipv4) return;

  if (p.l4 == pkt::L4::Tcp) {
    // A decision: the client's SYN, forwarded (original or rewritten).
    int64_t seq = find_outstanding(p.ipv4.src, p.tcp.src_port);
    if (seq >= 0) {
      complete(static_cast<uint64_t>(seq), spread_of(po.actions, p.ipv4.dst), now, false);
      return;
    }
    // A health check: a SYN to a backend the frame would reach.
    int b = backend_by_ip(p.ipv4.dst);
    if (b < 0 || (p.tcp.flags & (pkt::kTcpSyn | pkt::kTcpAck)) != pkt::kTcpSyn) return;
    const BackendHost& bh = p_.backends[static_cast<std::size_t>(b)];
    if (!outputs_to(po.actions, bh.port)) return;
    std::array<uint8_t, 64> f{};
    std::size_t n = pkt::build_tcp(f, {bh.mac, p.eth_src}, {bh.ip, p.ipv4.src},
                                   {p.tcp.dst_port, p.tcp.src_port, 0x1000, p.tcp.seq + 1,
                                    static_cast<uint8_t>(pkt::kTcpSyn | pkt::kTcpAck), 65535},
                                   {});
    send_packet_in(bh.port, std::span<const uint8_t>(f.data(), std::max<std::size_t>(n, kSynLen)));
    ++result_.tcp_probes_answered;
    return;
  }
  if (p.l4 == pkt::L4::Icmp && p.icmp.type == pkt::kIcmpEchoRequest) {
    int b = backend_by_ip(p.ipv4.dst);
    if (b < 0) return;
    const BackendHost& bh = p_.backends[static_cast<std::size_t>(b)];
    if (!outputs_to(po.actions, bh.port)) return;
    std::vector<uint8_t> f(14 + 20 + 8 + p.icmp.payload.size() + 8);
    std::size_t n = pkt::build_icmp_echo(f, {bh.mac, p.eth_src}, {bh.ip, p.ipv4.src, 64, p.ipv4.id},
                                         pkt::kIcmpEchoReply, p.icmp.id, p.icmp.seq, p.icmp.payload);
    f.resize(std::max<std::size_t>(n, kSynLen));
    send_packet_in(bh.port, f);
    ++result_.icmp_probes_answered;
  }
}

void EmulatedSwitch::on_flow_mod(const of::FlowMod& fm, Clock::time_point now) {
  if (record_flows_ && fm.command == of::FlowModCommand::Add) {
    if (flows_.size() < kMaxFlowsKept) {
      flows_.emplace_back(fm, now);
    } else {
      flows_[flows_next_] = {fm, now};
      flows_next_ = (flows_next_ + 1) % kMaxFlowsKept;
    }
  }
  if (fm.command != of::FlowModCommand::Add && fm.command != of::FlowModCommand::Modify &&
      fm.command != of::FlowModCommand::ModifyStrict) {
    return;
  }
  if (!fm.match.ipv4_src || !fm.match.tp_src) return;
  int64_t seq = find_outstanding(*fm.match.ipv4_src, *fm.match.tp_src);
  if (seq < 0) return;
  complete(static_cast<uint64_t>(seq), spread_of(fm.actions, std::nullopt), now, true);
}

// ---- load ------------------------------------------------------------------------

void EmulatedSwitch::build_templates() {
  templates_.clear();
  for (uint32_t c = 0; c < p_.clients; ++c) {
    std::array<uint8_t, kSynLen> frame{};
    pkt::build_tcp(frame, {client_mac(c), vip_mac_}, {p_.client_ip_base, p_.vip},
                   {1024, p_.vip_port, 1, 0, pkt::kTcpSyn, 64240}, {});
    of::PacketIn pin;
    pin.in_port = c + 1;
    pin.total_len = kSynLen;
    pin.data = frame;
    Template t;
    auto r = of::encode(version_, 0, of::Message{pin}, t.bytes);
    (void)r;
    t.data_off = t.bytes.size() - kSynLen;
    templates_.push_back(std::move(t));
  }
}

void EmulatedSwitch::begin_load(Clock::time_point measure_start, Clock::time_point measure_end) {
  if (closed_ || phase_ != Phase::Ready) return;
  measure_start_ = measure_start;
  measure_end_ = measure_end;
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(measure_end - measure_start).count();
  result_.per_second.assign(static_cast<std::size_t>(std::max<int64_t>(secs, 1)), 0);
  phase_ = Phase::Load;
  loading_ = true;
  fill_window();
  flush();
}

void EmulatedSwitch::stop_load() { loading_ = false; }

void EmulatedSwitch::fill_window() {
  const auto now = Clock::now();
  while (outstanding_ < p_.window) send_syn(next_seq_++, now);
}

void EmulatedSwitch::send_syn(uint64_t seq, Clock::time_point now) {
  const uint32_t j = static_cast<uint32_t>(seq % p_.client_ips);
  const auto sport = static_cast<uint16_t>(1024 + (seq / p_.client_ips) % kPorts);
  const uint32_t cport = j % p_.clients;
  const Template& t = templates_[cport];
  const std::size_t at = wbuf_.size();
  wbuf_.insert(wbuf_.end(), t.bytes.begin(), t.bytes.end());
  uint8_t* m = wbuf_.data() + at;
  put32(m + 4, static_cast<uint32_t>(seq));  // xid
  uint8_t* f = m + t.data_off;
  uint8_t* ip = f + 14;
  uint8_t* tcp = f + 34;
  const uint32_t src = p_.client_ip_base.v + j;
  put32(ip + 12, src);
  put16(tcp, sport);
  put16(ip + 10, 0);
  put16(ip + 10, pkt::inet_checksum(std::span<const uint8_t>(ip, 20)));
  put16(tcp + 16, 0);
  const uint32_t pseudo = (src >> 16) + (src & 0xffff) + (p_.vip.v >> 16) + (p_.vip.v & 0xffff) + 6 + 20;
  put16(tcp + 16, pkt::inet_checksum(std::span<const uint8_t>(tcp, 20), pseudo));

  Slot& s = ring_[seq & (kRing - 1)];
  if (s.seq != UINT64_MAX) {
    ++result_.timeouts;  // a decision older than the ring never came back
    --outstanding_;
  }
  s.seq = seq;
  s.sent = now;
  ++outstanding_;
  ++result_.packet_ins_sent;
  ++port_rx_[cport + 1];
}

int64_t EmulatedSwitch::find_outstanding(Ipv4Addr client, uint16_t sport) const {
  if (next_seq_ == 0 || client.v < p_.client_ip_base.v || sport < 1024) return -1;
  const uint64_t j = client.v - p_.client_ip_base.v;
  const uint64_t q = sport - 1024u;
  if (j >= p_.client_ips || q >= kPorts) return -1;
  const uint64_t period = uint64_t{p_.client_ips} * kPorts;
  const uint64_t m = q * p_.client_ips + j;  // seq mod period
  const uint64_t last = next_seq_ - 1;
  const uint64_t back = (last % period + period - m) % period;
  if (back > last) return -1;
  const uint64_t seq = last - back;
  if (ring_[seq & (kRing - 1)].seq != seq) return -1;
  return static_cast<int64_t>(seq);
}

void EmulatedSwitch::complete(uint64_t seq, uint32_t spread_index, Clock::time_point now, bool by_flow_mod) {
  Slot& s = ring_[seq & (kRing - 1)];
  const auto sent = s.sent;
  s.seq = UINT64_MAX;
  --outstanding_;
  ++result_.decisions_total;
  if (!in_window(now)) return;
  ++result_.decisions;
  ++(by_flow_mod ? result_.completed_by_flow_mod : result_.completed_by_packet_out);
  ++result_.spread[spread_index];
  auto sec = static_cast<std::size_t>(std::chrono::duration_cast<std::chrono::seconds>(now - measure_start_).count());
  if (sec < result_.per_second.size()) ++result_.per_second[sec];
  if (sent >= measure_start_) {
    result_.latency_ns.push_back(static_cast<uint32_t>(
        std::min<int64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(now - sent).count(), UINT32_MAX)));
  }
}

}  // namespace fulcrum::bench
