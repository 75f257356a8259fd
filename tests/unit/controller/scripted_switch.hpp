// A scripted OpenFlow switch over real loopback TCP, built on the codec
// (shared by the controller and shard tests).
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <asio.hpp>
#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "openflow/codec.hpp"

namespace fulcrum::ctl::testing {

using namespace std::chrono_literals;

// A blocking switch over a TCP socket with its own io_context.
class ScriptedSwitch {
 public:
  ScriptedSwitch(uint16_t port, of::Version v) : sock_(io_), version_(v) {
    sock_.connect({asio::ip::make_address("127.0.0.1"), port});
  }

  void send(const of::Message& m, uint32_t xid = 0) {
    std::vector<uint8_t> buf;
    auto r = of::encode(version_, xid, m, buf);
    ASSERT_TRUE(r.ok());
    asio::write(sock_, asio::buffer(buf));
  }
  void send_raw(std::span<const uint8_t> bytes) { asio::write(sock_, asio::buffer(bytes.data(), bytes.size())); }

  // Next decoded message, or nullopt on timeout/close.
  std::optional<of::Decoded> recv(std::chrono::milliseconds timeout = 2000ms) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      auto n = framer_.next();
      if (n.status == of::Framer::Status::Frame) {
        frame_.assign(n.frame.begin(), n.frame.end());
        auto d = of::decode(frame_);
        if (d) return std::move(d.value());
        ADD_FAILURE() << "controller sent an undecodable message: " << d.error().detail;
        return std::nullopt;
      }
      if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
      sock_.non_blocking(true);
      std::array<uint8_t, 4096> buf{};
      asio::error_code ec;
      std::size_t got = sock_.read_some(asio::buffer(buf), ec);
      if (ec == asio::error::would_block) {
        std::this_thread::sleep_for(5ms);
        continue;
      }
      if (ec) {
        closed_ = true;
        return std::nullopt;
      }
      framer_.feed(std::span<const uint8_t>(buf.data(), got));
    }
  }

  template <typename T>
  std::optional<std::pair<of::Header, T>> expect(std::chrono::milliseconds timeout = 2000ms) {
    auto d = recv(timeout);
    if (!d) return std::nullopt;
    if (!std::holds_alternative<T>(d->msg)) {
      ADD_FAILURE() << "expected another message, got " << of::message_name(d->msg);
      return std::nullopt;
    }
    return std::make_pair(d->header, std::get<T>(d->msg));
  }

  // Runs the switch side of the handshake; returns false if it did not go as expected.
  bool handshake(uint64_t dpid, uint32_t ports = 1) {
    auto hello = expect<of::Hello>();
    if (!hello) return false;
    send(of::Hello{of::version_bit(version_)});
    auto freq = expect<of::FeaturesRequest>();
    if (!freq) return false;
    if (!expect<of::SetConfig>()) return false;
    std::vector<of::PortDesc> descs;
    for (uint32_t i = 1; i <= ports; ++i) {
      of::PortDesc p;
      p.port_no = i;
      p.name = "p" + std::to_string(i);
      descs.push_back(p);
    }
    of::FeaturesReply fr;
    fr.datapath_id = dpid;
    fr.n_tables = 254;
    if (version_ == of::Version::V10) fr.ports = descs;
    send(fr, freq->first.xid);
    if (version_ == of::Version::V13) {
      auto pd = expect<of::PortDescRequest>();
      if (!pd) return false;
      send(of::PortDescReply{descs, false}, pd->first.xid);
    }
    // Table-miss entry, then the discovery probe for the one backend.
    auto miss = expect<of::FlowMod>();
    if (!miss || miss->second.priority != 0 || miss->second.actions.size() != 1) return false;
    auto probe = expect<of::PacketOut>();
    if (!probe) return false;
    probe_.assign(probe->second.data.begin(), probe->second.data.end());
    return true;
  }

  [[nodiscard]] bool closed() const { return closed_; }
  // The frame of the discovery probe the handshake ended with.
  [[nodiscard]] const std::vector<uint8_t>& probe() const { return probe_; }
  // True when the controller closes the connection within `timeout`.
  bool wait_closed(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!closed_ && std::chrono::steady_clock::now() < deadline) recv(50ms);
    return closed_;
  }

 private:
  asio::io_context io_;
  asio::ip::tcp::socket sock_;
  of::Version version_;
  of::Framer framer_;
  std::vector<uint8_t> frame_;
  std::vector<uint8_t> probe_;
  bool closed_ = false;
};

}  // namespace fulcrum::ctl::testing
