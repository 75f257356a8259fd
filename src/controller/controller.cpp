#include "controller/controller.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <optional>
#include <variant>

#include "openflow/codec.hpp"
#include "packet/packet.hpp"

namespace fulcrum::ctl {

namespace {
using SteadyClock = std::chrono::steady_clock;
constexpr std::size_t kReadChunk = 64 * 1024;
constexpr std::size_t kErrorDataLen = 64;  // bytes of the offending message echoed in OFPT_ERROR

std::string dpid_str(lb::Dpid d) { return fmt::format("{:016x}", d); }
const char* version_str(of::Version v) { return v == of::Version::V13 ? "1.3" : "1.0"; }
of::Version highest(uint32_t bitmap) {
  return (bitmap & of::version_bit(of::Version::V13)) ? of::Version::V13 : of::Version::V10;
}
}  // namespace

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Controller& ctl, asio::ip::tcp::socket sock, uint64_t seq)
      : ctl_(ctl), sock_(std::move(sock)), timer_(ctl.io_), rbuf_(kReadChunk), seq_(seq) {
    asio::error_code ec;
    auto ep = sock_.remote_endpoint(ec);
    peer_ = ec ? "?" : fmt::format("{}:{}", ep.address().to_string(), ep.port());
    sock_.set_option(asio::ip::tcp::no_delay(true), ec);
  }

  void start() {
    started_ = last_rx_ = SteadyClock::now();
    connected_wall_ = std::chrono::system_clock::now();
    const of::Version v = highest(ctl_.config_.version_bitmap);
    of::Hello hello;
    if (v == of::Version::V13) hello.version_bitmap = ctl_.config_.version_bitmap;
    encode(v, of::Message{hello});
    flush();
    read();
    arm_timer();
  }

  void queue(const of::Message& m) { encode(version_, m); }

  void flush() {
    if (writing_ || wbuf_.empty() || closed_) return;
    std::swap(wbuf_, inflight_);
    wbuf_.clear();
    writing_ = true;
    asio::async_write(sock_, asio::buffer(inflight_), [self = shared_from_this()](asio::error_code ec, std::size_t) {
      self->writing_ = false;
      self->inflight_.clear();
      if (ec) {
        self->close("write failed: " + ec.message());
        return;
      }
      self->flush();
    });
  }

  void close(const std::string& reason) {
    if (closed_) return;
    closed_ = true;
    asio::error_code ec;
    sock_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    sock_.close(ec);
    timer_.cancel();
    if (state_ == State::Up) {
      spdlog::info("switch down dpid={} peer={} reason={}", dpid_str(dpid_), peer_, reason);
    } else {
      spdlog::info("connection closed peer={} before handshake completed: {}", peer_, reason);
    }
    ctl_.session_closed(this);
  }

  [[nodiscard]] lb::Dpid dpid() const { return dpid_; }
  [[nodiscard]] uint64_t seq() const { return seq_; }
  [[nodiscard]] bool pending() const { return !wbuf_.empty(); }

  [[nodiscard]] SessionInfo info() const {
    static constexpr const char* kStates[] = {"hello", "features", "port-desc", "up"};
    SessionInfo i;
    i.peer = peer_;
    i.state = kStates[static_cast<int>(state_)];
    i.dpid = dpid_;
    i.version = negotiated_ ? version_str(version_) : "";
    i.ports = ports_.size();
    i.connected_at = connected_wall_;
    i.messages_in = messages_in_;
    return i;
  }

 private:
  enum class State { Hello, Features, PortDesc, Up };

  void encode(of::Version v, const of::Message& m) {
    if (closed_) return;
    std::size_t before = wbuf_.size();
    auto r = of::encode(v, next_xid_++, m, wbuf_);
    if (!r) {
      spdlog::error("cannot encode {} for OpenFlow {}: {}", of::message_name(m), version_str(v),
                    of::err_name(r.error()));
      return;
    }
    ++ctl_.counters_.messages_out;
    ctl_.counters_.bytes_out += wbuf_.size() - before;
    if (wbuf_.size() > ctl_.config_.max_pending_write) {
      // close() runs its handlers later; drop the buffer now.
      wbuf_.clear();
      close("switch is not reading (write backlog over limit)");
    }
  }

  void read() {
    sock_.async_read_some(asio::buffer(rbuf_), [self = shared_from_this()](asio::error_code ec, std::size_t n) {
      if (self->closed_) return;
      if (ec) {
        self->close(ec == asio::error::eof ? "connection closed by switch" : "read failed: " + ec.message());
        return;
      }
      self->on_bytes(std::span<const uint8_t>(self->rbuf_.data(), n));
      if (!self->closed_) self->read();
    });
  }

  void on_bytes(std::span<const uint8_t> bytes) {
    // One clock read per frame: the end of one frame's work is the start of
    // the next's, and the core's `now` for it.
    auto t = SteadyClock::now();
    last_rx_ = t;
    echo_outstanding_ = false;
    framer_.feed(bytes);
    // Frames are taken kLookAhead at a time: each packet-in of the batch is
    // decoded and its packet parsed, then the connection-table lines of all
    // of them are prefetched back to back, so that their cache and TLB misses
    // (page walks) overlap instead of stalling one at a time; then the frames
    // are handled in order, as one by one.
    while (!closed_) {
      batch_.clear();
      bool framing_lost = false;
      while (batch_.size() < kLookAhead) {
        auto next = framer_.next();
        if (next.status == of::Framer::Status::NeedMore) break;
        if (next.status == of::Framer::Status::Error) {
          framing_lost = true;
          break;
        }
        batch_.push_back(look_ahead(next.frame));
      }
      const bool drained = batch_.size() < kLookAhead;
      for (const Ahead& a : batch_) a.looked.hint.prefetch();
      for (Ahead& a : batch_) {
        if (closed_) break;  // the dirty switches are still flushed below
        // Spans into the framer's buffer: valid until the next feed().
        const Result<of::Decoded, of::DecodeError> decoded =
            a.decoded ? Result<of::Decoded, of::DecodeError>(std::move(*a.decoded)) : of::decode(a.frame);
        const FrameKind kind = on_frame(a.frame, decoded, a.looked.parsed ? &*a.looked.parsed : nullptr, t);
        ctl_.dispatch();
        const auto done = SteadyClock::now();
        if (kind != FrameKind::Other) {
          // Frame taken from the stream to its messages encoded: decode,
          // decision, encoding (not the socket write; the first frame of a
          // batch also carries the batch's look-ahead).
          ctl_.packet_in_latency_.observe(done - t);
          if (kind == FrameKind::Decision) ctl_.decision_latency_.observe(done - t);
        }
        t = done;
      }
      if (framing_lost && !closed_) {
        ++ctl_.counters_.decode_errors;
        send_error(of::Err::BadLen, {});
        flush();
        close("bad OpenFlow framing (length below header size)");
        return;
      }
      if (drained) break;
    }
    ctl_.flush_dirty();
    flush();  // this session's own replies (handshake, echo, errors)
  }

  // A frame taken from the framer's buffer ahead of its turn; a packet-in of
  // this switch comes decoded, with its packet parsed.
  struct Ahead {
    std::span<const uint8_t> frame;
    std::optional<of::Decoded> decoded;
    lb::Balancer::LookAhead looked;  // its packet, parsed, and where its connection will be looked up
  };
  static constexpr std::size_t kLookAhead = 8;

  // When `frame` is a packet-in of this switch: decodes it and asks the
  // balancer where its connection will be looked up (the balancer parses the
  // packet for that, and the parse is kept for its turn). Anything else is
  // decoded, and any error reported, in its turn.
  Ahead look_ahead(std::span<const uint8_t> frame) {
    Ahead a{frame, std::nullopt, {}};
    if (state_ != State::Up) return a;
    const auto h = of::peek_header(frame);
    if (!h || !of::is_packet_in(*h) || h->version != static_cast<uint8_t>(version_)) return a;
    auto decoded = of::decode(frame);
    if (!decoded) return a;
    const auto* pin = std::get_if<of::PacketIn>(&decoded->msg);
    if (pin == nullptr) return a;
    a.looked = ctl_.balancer_.look_ahead(dpid_, *pin);
    a.decoded = std::move(decoded).value();
    return a;
  }

  void send_error(of::Err err, std::span<const uint8_t> offending) {
    ++ctl_.counters_.errors_sent;
    const of::Version v = negotiated_ ? version_ : highest(ctl_.config_.version_bitmap);
    auto [type, code] = of::wire_error(v, err);
    of::ErrorMsg e{type, code, offending.first(std::min(offending.size(), kErrorDataLen))};
    encode(v, of::Message{e});
  }

  void protocol_error(of::Err err, std::span<const uint8_t> frame, const char* detail) {
    ++ctl_.counters_.decode_errors;
    spdlog::warn("bad message from {} peer={}: {} ({})", state_ == State::Up ? "dpid=" + dpid_str(dpid_) : "switch",
                 peer_, of::err_name(err), detail);
    send_error(err, frame);
    if (++consecutive_errors_ > ctl_.config_.max_consecutive_errors) close("too many malformed messages");
  }

  enum class FrameKind { Other, PacketIn, Decision };

  // `parsed`, when given, is the packet of the packet-in `decoded` holds.
  FrameKind on_frame(std::span<const uint8_t> frame, const Result<of::Decoded, of::DecodeError>& decoded,
                     const pkt::ParsedPacket* parsed, SteadyClock::time_point now) {
    ++ctl_.counters_.messages_in;
    ++messages_in_;
    if (!decoded) {
      auto hdr = of::peek_header(frame);
      spdlog::trace("rx undecodable version={} type={} len={} peer={}", hdr ? hdr->version : 0, hdr ? hdr->type : 0,
                    frame.size(), peer_);
      protocol_error(decoded.error().err, frame, decoded.error().detail);
      return FrameKind::Other;
    }
    const of::Header& h = decoded->header;
    const of::Message& msg = decoded->msg;
    spdlog::trace("rx {} xid={} len={} peer={}", of::message_name(msg), h.xid, h.length, peer_);
    if (negotiated_ && h.version != static_cast<uint8_t>(version_)) {
      protocol_error(of::Err::BadVersion, frame, "version differs from the negotiated one");
      return FrameKind::Other;
    }
    consecutive_errors_ = 0;

    if (const auto* hello = std::get_if<of::Hello>(&msg)) {
      on_hello(h, *hello);
      return FrameKind::Other;
    }
    if (!negotiated_) {
      protocol_error(of::Err::BadType, frame, "message before hello");
      return FrameKind::Other;
    }
    if (const auto* echo = std::get_if<of::EchoRequest>(&msg)) {
      encode_with_xid(h.xid, of::Message{of::EchoReply{echo->data}});
      return FrameKind::Other;
    }
    if (std::holds_alternative<of::EchoReply>(msg)) return FrameKind::Other;
    if (const auto* err = std::get_if<of::ErrorMsg>(&msg)) {
      ++ctl_.counters_.errors_received;
      spdlog::warn("switch dpid={} peer={} sent error type={} code={}", dpid_str(dpid_), peer_, err->type, err->code);
      return FrameKind::Other;
    }
    switch (state_) {
      case State::Hello:
        break;
      case State::Features:
        if (const auto* fr = std::get_if<of::FeaturesReply>(&msg)) {
          dpid_ = fr->datapath_id;
          if (version_ == of::Version::V10) {
            ports_ = fr->ports;
            go_up(now);
          } else {
            queue(of::Message{of::PortDescRequest{}});
            state_ = State::PortDesc;
          }
        }
        return FrameKind::Other;
      case State::PortDesc:
        if (const auto* pd = std::get_if<of::PortDescReply>(&msg)) {
          ports_.insert(ports_.end(), pd->ports.begin(), pd->ports.end());
          if (!pd->more) go_up(now);
        }
        return FrameKind::Other;
      case State::Up:
        if (const auto* pin = std::get_if<of::PacketIn>(&msg)) {
          const uint64_t assigned = ctl_.balancer_.counters().connections_assigned;
          ctl_.balancer_.packet_in(dpid_, *pin, now, ctl_.outbox_, parsed);
          return ctl_.balancer_.counters().connections_assigned != assigned ? FrameKind::Decision : FrameKind::PacketIn;
        }
        if (const auto* fr = std::get_if<of::FlowRemoved>(&msg)) {
          ctl_.balancer_.flow_removed(dpid_, *fr, now, ctl_.outbox_);
        } else if (const auto* ps = std::get_if<of::PortStatus>(&msg)) {
          ctl_.balancer_.port_status(dpid_, *ps, now, ctl_.outbox_);
        } else if (const auto* st = std::get_if<of::PortStatsReply>(&msg)) {
          ctl_.balancer_.port_stats(dpid_, *st, now);
        } else {
          spdlog::debug("ignoring {} from dpid={}", of::message_name(msg), dpid_str(dpid_));
        }
        return FrameKind::Other;
    }
    return FrameKind::Other;
  }

  void encode_with_xid(uint32_t xid, const of::Message& m) {
    uint32_t saved = next_xid_;
    next_xid_ = xid;
    encode(version_, m);
    next_xid_ = saved;
  }

  void on_hello(const of::Header& h, const of::Hello& hello) {
    if (negotiated_) return;  // a repeated hello is harmless
    auto v = of::negotiate(h.version, hello.version_bitmap, ctl_.config_.version_bitmap);
    if (!v) {
      spdlog::warn("no common OpenFlow version with peer={} (it offers header version {}, bitmap {:#x})", peer_,
                   h.version, hello.version_bitmap);
      send_error(of::Err::HelloIncompatible, {});
      flush();
      close("version negotiation failed");
      return;
    }
    version_ = *v;
    negotiated_ = true;
    queue(of::Message{of::FeaturesRequest{}});
    queue(of::Message{of::SetConfig{0, of::kMaxLenNoBuffer}});
    state_ = State::Features;
  }

  void go_up(SteadyClock::time_point now) {
    state_ = State::Up;
    spdlog::info("switch up dpid={} version={} peer={} ports={}", dpid_str(dpid_), version_str(version_), peer_,
                 ports_.size());
    ctl_.session_up(shared_from_this());
    if (closed_) return;  // a newer connection of this datapath is up on another shard
    ctl_.balancer_.switch_up(dpid_, ports_, now, ctl_.outbox_);
  }

  void arm_timer() {
    auto period = std::min<std::chrono::milliseconds>(ctl_.config_.echo_interval / 2, std::chrono::seconds(1));
    timer_.expires_after(period);
    timer_.async_wait([self = shared_from_this()](asio::error_code ec) {
      if (ec || self->closed_) return;
      self->on_timer();
      if (!self->closed_) self->arm_timer();
    });
  }

  void on_timer() {
    const auto now = SteadyClock::now();
    const auto& cfg = ctl_.config_;
    if (state_ != State::Up && now - started_ > cfg.handshake_timeout) {
      close("handshake timed out");
      return;
    }
    const auto silent = now - last_rx_;
    if (silent > cfg.echo_timeout) {
      close("echo timeout (no message for " + std::to_string(cfg.echo_timeout.count()) + " ms)");
      return;
    }
    if (negotiated_ && silent > cfg.echo_interval && !echo_outstanding_) {
      echo_outstanding_ = true;
      queue(of::Message{of::EchoRequest{}});
      flush();
    }
  }

  Controller& ctl_;
  asio::ip::tcp::socket sock_;
  asio::steady_timer timer_;
  std::vector<uint8_t> rbuf_;
  Bytes wbuf_, inflight_;  // grown without zeroing: every message is written over
  of::Framer framer_;
  std::vector<Ahead> batch_;  // frames taken ahead (on_bytes), reused
  std::string peer_;
  State state_ = State::Hello;
  of::Version version_ = of::Version::V13;
  bool negotiated_ = false;
  bool writing_ = false;
  bool closed_ = false;
  bool echo_outstanding_ = false;
  uint32_t next_xid_ = 1;
  uint32_t consecutive_errors_ = 0;
  lb::Dpid dpid_ = 0;
  std::vector<of::PortDesc> ports_;
  SteadyClock::time_point started_, last_rx_;
  std::chrono::system_clock::time_point connected_wall_;
  uint64_t messages_in_ = 0;
  uint64_t seq_;  // acceptance order, across shards
};

Controller::Controller(asio::io_context& io, ControllerConfig config, lb::Balancer& balancer)
    : io_(io), config_(std::move(config)), balancer_(balancer), acceptor_(io), tick_timer_(io) {}

Controller::~Controller() { stop(); }

void Controller::start() {
  asio::ip::tcp::endpoint ep(asio::ip::make_address(config_.listen_host), config_.listen_port);
  acceptor_.open(ep.protocol());
  acceptor_.set_option(asio::ip::tcp::acceptor::reuse_address(true));
  acceptor_.bind(ep);
  acceptor_.listen();
  bound_port_ = acceptor_.local_endpoint().port();
  spdlog::info("listening on {}:{}", config_.listen_host, bound_port_);
  accept();
  on_tick();
}

void Controller::stop() {
  if (stopped_) return;
  stopped_ = true;
  asio::error_code ec;
  acceptor_.close(ec);
  tick_timer_.cancel();
  auto sessions = sessions_;
  for (const auto& s : sessions) s->close("controller shutting down");
}

void Controller::start_shard() { on_tick(); }

void Controller::accept() {
  acceptor_.async_accept([this](asio::error_code ec, asio::ip::tcp::socket sock) {
    if (stopped_) return;
    if (!ec) {
      if (handoff_) {
        handoff_(std::move(sock), ++next_seq_);
      } else {
        load_.fetch_add(1, std::memory_order_relaxed);
        serve(std::move(sock), ++next_seq_);
      }
    } else {
      spdlog::warn("accept failed: {}", ec.message());
    }
    accept();
  });
}

void Controller::serve(asio::ip::tcp::socket sock, uint64_t seq) {
  ++counters_.sessions_accepted;
  auto s = std::make_shared<Session>(*this, std::move(sock), seq);
  sessions_.insert(s);
  s->start();
}

void Controller::adopt(asio::ip::tcp::socket::protocol_type protocol, asio::ip::tcp::socket::native_handle_type fd,
                       uint64_t seq) {
  asio::ip::tcp::socket sock(io_);
  asio::error_code ec;
  if (!stopped_) sock.assign(protocol, fd, ec);
  if (stopped_ || ec) {
    if (ec) spdlog::warn("cannot take over an accepted connection: {}", ec.message());
    ::close(fd);
    load_.fetch_sub(1, std::memory_order_relaxed);
    return;
  }
  serve(std::move(sock), seq);
}

void Controller::replace_older(lb::Dpid dpid, uint64_t seq) {
  // Remembered for a connection of ours still in its handshake: when it
  // comes up, it is the older one and gives way (session_up).
  uint64_t& newest = newest_elsewhere_[dpid];
  newest = std::max(newest, seq);
  auto it = by_dpid_.find(dpid);
  if (it == by_dpid_.end() || it->second->seq() >= seq) return;
  auto old = it->second;
  by_dpid_.erase(it);
  balancer_.switch_down(dpid);
  old->close("replaced by a new connection from the same datapath");
}

void Controller::on_tick() {
  const auto now = std::chrono::steady_clock::now();
  // Agent reports carry wall-clock timestamps; the core runs on steady time.
  const auto wall_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  const auto steady_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  balancer_.set_wall_offset_ms(wall_ms - steady_ms);
  balancer_.tick(now, outbox_);
  dispatch();
  flush_dirty();
  tick_timer_.expires_after(config_.tick_interval);
  tick_timer_.async_wait([this](asio::error_code ec) {
    if (!ec && !stopped_) on_tick();
  });
}

void Controller::reconfigure(lb::BalancerConfig config) {
  balancer_.reconfigure(std::move(config), std::chrono::steady_clock::now(), outbox_);
  dispatch();
  flush_dirty();
}

void Controller::reconfigure_parked(lb::BalancerConfig config) {
  balancer_.reconfigure(std::move(config), std::chrono::steady_clock::now(), outbox_);
  dispatch();
  // dirty_ holds raw pointers, valid only within one handler: a session may
  // close and go before the posted flush runs. Flush every live one instead.
  dirty_.clear();
  asio::post(io_, [this] {
    for (const auto& s : sessions_) s->flush();
  });
}

void Controller::session_up(const std::shared_ptr<Session>& s) {
  if (switch_up_hook_) {
    auto newer = newest_elsewhere_.find(s->dpid());
    if (newer != newest_elsewhere_.end() && newer->second > s->seq()) {
      s->close("replaced by a newer connection from the same datapath (on another thread)");
      return;
    }
  }
  ++counters_.switches_up;
  auto it = by_dpid_.find(s->dpid());
  if (it != by_dpid_.end() && it->second != s) {
    auto old = it->second;
    by_dpid_.erase(it);
    old->close("replaced by a new connection from the same datapath");
  }
  by_dpid_[s->dpid()] = s;
  if (switch_up_hook_) switch_up_hook_(s->dpid(), s->seq());
}

void Controller::session_closed(Session* s) {
  auto it = by_dpid_.find(s->dpid());
  if (it != by_dpid_.end() && it->second.get() == s) {
    balancer_.switch_down(s->dpid());
    by_dpid_.erase(it);
  }
  load_.fetch_sub(1, std::memory_order_relaxed);
  // Keep the session alive until its pending handlers have run.
  for (auto sit = sessions_.begin(); sit != sessions_.end(); ++sit) {
    if (sit->get() == s) {
      asio::post(io_, [keep = *sit] {});
      sessions_.erase(sit);
      break;
    }
  }
}

std::vector<SessionInfo> Controller::sessions() const {
  std::vector<SessionInfo> out;
  out.reserve(sessions_.size());
  for (const auto& s : sessions_) out.push_back(s->info());
  std::sort(out.begin(), out.end(), [](const SessionInfo& a, const SessionInfo& b) { return a.peer < b.peer; });
  return out;
}

void Controller::dispatch() {
  // A decision's messages all go to one switch: look it up once per run of
  // items, and mark it dirty once.
  Session* session = nullptr;
  lb::Dpid session_dpid = 0;
  for (const auto& item : outbox_.items()) {
    if (session == nullptr || item.dpid != session_dpid) {
      auto it = by_dpid_.find(item.dpid);
      if (it == by_dpid_.end()) {
        session = nullptr;
        continue;
      }
      session = it->second.get();
      session_dpid = item.dpid;
      if (dirty_.empty() || dirty_.back() != session) dirty_.push_back(session);
    }
    if (std::holds_alternative<of::FlowMod>(item.msg)) {
      ++counters_.flow_mods_out;
    } else if (std::holds_alternative<of::PacketOut>(item.msg)) {
      ++counters_.packet_outs_out;
    }
    session->queue(item.msg);
  }
  outbox_.clear();
}

void Controller::flush_dirty() {
  for (Session* s : dirty_) s->flush();
  dirty_.clear();
}

}  // namespace fulcrum::ctl
