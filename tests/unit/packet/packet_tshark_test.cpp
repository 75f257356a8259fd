// Independent oracle: frames from every builder are written to a pcap file
// and decoded by tshark, which must see the same fields and Good checksums.
// Skipped when tshark is not installed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "packet/packet.hpp"
#include "unit/packet/golden_packets.hpp"
#include "unit/packet/packet_test_util.hpp"

namespace fulcrum::pkt {
namespace {

using testing::ip;
using testing::mac;

constexpr const char* kTshark = "/usr/bin/tshark";

void put_le32(std::FILE* f, uint32_t v) {
  const uint8_t b[4] = {static_cast<uint8_t>(v), static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v >> 16),
                        static_cast<uint8_t>(v >> 24)};
  std::fwrite(b, 1, 4, f);
}
void put_le16(std::FILE* f, uint16_t v) {
  const uint8_t b[2] = {static_cast<uint8_t>(v), static_cast<uint8_t>(v >> 8)};
  std::fwrite(b, 1, 2, f);
}

// Classic libpcap format: 24-byte global header, 16 bytes per record.
bool write_pcap(const std::string& path, const std::vector<std::vector<uint8_t>>& frames) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return false;
  put_le32(f, 0xa1b2c3d4);  // magic, microsecond timestamps
  put_le16(f, 2);           // version 2.4
  put_le16(f, 4);
  put_le32(f, 0);      // thiszone
  put_le32(f, 0);      // sigfigs
  put_le32(f, 65535);  // snaplen
  put_le32(f, 1);      // LINKTYPE_ETHERNET
  uint32_t sec = 1700000000;
  for (const auto& fr : frames) {
    put_le32(f, sec++);
    put_le32(f, 0);
    put_le32(f, static_cast<uint32_t>(fr.size()));
    put_le32(f, static_cast<uint32_t>(fr.size()));
    std::fwrite(fr.data(), 1, fr.size(), f);
  }
  return std::fclose(f) == 0;
}

// The fields asked of tshark, in column order.
const std::vector<std::string> kFields = {
    "frame.number",
    "frame.protocols",
    "eth.src",
    "eth.dst",
    "eth.type",
    "arp.opcode",
    "arp.src.hw_mac",
    "arp.src.proto_ipv4",
    "arp.dst.hw_mac",
    "arp.dst.proto_ipv4",
    "ip.src",
    "ip.dst",
    "ip.ttl",
    "ip.id",
    "ip.flags.df",
    "ip.flags.mf",
    "ip.len",
    "ip.proto",
    "ip.checksum.status",
    "icmp.type",
    "icmp.code",
    "icmp.ident",
    "icmp.seq",
    "icmp.checksum.status",
    "tcp.srcport",
    "tcp.dstport",
    "tcp.seq_raw",
    "tcp.ack_raw",
    "tcp.flags",
    "tcp.window_size_value",
    "tcp.hdr_len",
    "tcp.checksum.status",
    "udp.srcport",
    "udp.dstport",
    "udp.length",
    "udp.checksum.status",
    "tcp.payload",
    "udp.payload",
    "data.data",
    "_ws.malformed",
    "_ws.expert.severity",
};

using Row = std::map<std::string, std::string>;

// Runs tshark over `path`; one Row per frame (empty on failure).
std::vector<Row> run_tshark(const std::string& path) {
  std::string cmd = std::string(kTshark) + " -r " + path +
                    " -n -T fields -E separator=/t -E occurrence=f"
                    " -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE -o udp.check_checksum:TRUE";
  for (const auto& f : kFields) cmd += " -e " + f;
  cmd += " 2>/dev/null";  // tshark warns about running as root
  std::FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return {};
  std::string out;
  std::array<char, 4096> buf{};
  std::size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  if (pclose(p) != 0) return {};

  std::vector<Row> rows;
  std::size_t start = 0;
  while (start < out.size()) {
    std::size_t end = out.find('\n', start);
    if (end == std::string::npos) end = out.size();
    std::string line = out.substr(start, end - start);
    start = end + 1;
    Row row;
    std::size_t col = 0, pos = 0;
    while (col < kFields.size()) {
      std::size_t tab = line.find('\t', pos);
      row[kFields[col++]] = line.substr(pos, tab == std::string::npos ? std::string::npos : tab - pos);
      if (tab == std::string::npos) break;
      pos = tab + 1;
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string hex(std::span<const uint8_t> b) {
  std::string s;
  char h[3];
  for (uint8_t x : b) {
    std::snprintf(h, sizeof h, "%02x", x);
    s += h;
  }
  return s;
}

class TsharkOracle : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(kTshark, X_OK) != 0) GTEST_SKIP() << "tshark not installed";
    char tmpl[] = "/tmp/fulcrum_packet_XXXXXX.pcap";
    const int fd = mkstemps(tmpl, 5);
    ASSERT_GE(fd, 0);
    close(fd);
    path_ = tmpl;
  }
  void TearDown() override {
    if (!path_.empty()) std::remove(path_.c_str());
  }

  void add(std::span<uint8_t> buf, std::size_t n) {
    ASSERT_NE(n, 0u);
    frames_.emplace_back(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
  }
  std::vector<Row> decode() {
    EXPECT_TRUE(write_pcap(path_, frames_));
    auto rows = run_tshark(path_);
    EXPECT_EQ(rows.size(), frames_.size()) << "tshark failed or printed an unexpected number of frames";
    return rows;
  }

  std::string path_;
  std::vector<std::vector<uint8_t>> frames_;
};

const EthHeader kEth{mac("02:00:00:00:00:01"), mac("02:00:00:00:00:02")};
const IpHeader kIp{ip("10.10.0.1"), ip("10.20.0.2"), 63, 0x1a2b};

void expect_eth_ip(const Row& r, const char* proto) {
  EXPECT_EQ(r.at("eth.src"), "02:00:00:00:00:01");
  EXPECT_EQ(r.at("eth.dst"), "02:00:00:00:00:02");
  EXPECT_EQ(r.at("eth.type"), "0x0800");
  EXPECT_EQ(r.at("ip.src"), "10.10.0.1");
  EXPECT_EQ(r.at("ip.dst"), "10.20.0.2");
  EXPECT_EQ(r.at("ip.ttl"), "63");
  EXPECT_EQ(r.at("ip.id"), "0x1a2b");
  EXPECT_EQ(r.at("ip.flags.df"), "0");
  EXPECT_EQ(r.at("ip.flags.mf"), "0");
  EXPECT_EQ(r.at("ip.proto"), proto);
  EXPECT_EQ(r.at("ip.checksum.status"), "1");  // 1 = Good
  EXPECT_EQ(r.at("_ws.malformed"), "");
}

TEST_F(TsharkOracle, EveryBuilderDecodesWithGoodChecksums) {
  std::array<uint8_t, 2048> buf{};
  const std::array<uint8_t, 5> odd{0xde, 0xad, 0xbe, 0xef, 0x01};
  std::vector<uint8_t> big(1400);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<uint8_t>(i * 7);

  // 1: ARP request, 2: ARP reply
  add(buf,
      build_arp(buf, EthHeader{kEth.src, MacAddr::broadcast()}, kArpRequest, kEth.src, kIp.src, MacAddr{}, kIp.dst));
  add(buf, build_arp(buf, kEth, kArpReply, kEth.src, kIp.src, kEth.dst, kIp.dst));
  // 3: echo request, odd payload; 4: echo reply, empty payload
  add(buf, build_icmp_echo(buf, kEth, kIp, kIcmpEchoRequest, 0xbeef, 7, odd));
  add(buf, build_icmp_echo(buf, kEth, kIp, kIcmpEchoReply, 0x0001, 0xffff, {}));
  // 5: port unreachable quoting the golden DNS query
  add(buf, build_icmp_error(buf, kEth, kIp, kIcmpDestUnreachable, 3, std::span(golden::kUdpDns).subspan(14)));
  // 6: TCP SYN, 7: TCP PSH|ACK with odd payload, 8: large TCP segment
  add(buf, build_tcp(buf, kEth, kIp, TcpFields{47001, 47002, 0xfffffffe, 0, kTcpSyn, 65535}, {}));
  add(buf, build_tcp(buf, kEth, kIp, TcpFields{47001, 47002, 0x01020304, 0xa0b0c0d0, kTcpPsh | kTcpAck, 501}, odd));
  add(buf, build_tcp(buf, kEth, kIp, TcpFields{47002, 47001, 1, 2, kTcpAck | kTcpFin, 1}, big));
  // 9: UDP odd payload, 10: UDP empty, 11: large UDP
  add(buf, build_udp(buf, kEth, kIp, 47001, 47002, odd));
  add(buf, build_udp(buf, kEth, kIp, 47003, 47004, {}));
  add(buf, build_udp(buf, kEth, kIp, 47005, 47006, big));

  auto rows = decode();
  ASSERT_EQ(rows.size(), 11u);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    SCOPED_TRACE(i + 1);
    EXPECT_EQ(rows[i].at("frame.number"), std::to_string(i + 1));
    EXPECT_EQ(rows[i].at("_ws.malformed"), "");
  }

  {
    const Row& r = rows[0];
    EXPECT_EQ(r.at("eth.dst"), "ff:ff:ff:ff:ff:ff");
    EXPECT_EQ(r.at("eth.type"), "0x0806");
    EXPECT_EQ(r.at("arp.opcode"), "1");
    EXPECT_EQ(r.at("arp.src.hw_mac"), "02:00:00:00:00:01");
    EXPECT_EQ(r.at("arp.src.proto_ipv4"), "10.10.0.1");
    EXPECT_EQ(r.at("arp.dst.hw_mac"), "00:00:00:00:00:00");
    EXPECT_EQ(r.at("arp.dst.proto_ipv4"), "10.20.0.2");
    EXPECT_EQ(r.at("_ws.expert.severity"), "");
  }
  {
    const Row& r = rows[1];
    EXPECT_EQ(r.at("arp.opcode"), "2");
    EXPECT_EQ(r.at("arp.dst.hw_mac"), "02:00:00:00:00:02");
    EXPECT_EQ(r.at("_ws.expert.severity"), "");
  }
  {
    const Row& r = rows[2];
    expect_eth_ip(r, "1");
    EXPECT_EQ(r.at("ip.len"), "33");
    EXPECT_EQ(r.at("icmp.type"), "8");
    EXPECT_EQ(r.at("icmp.code"), "0");
    EXPECT_EQ(r.at("icmp.ident"), "48879");
    EXPECT_EQ(r.at("icmp.seq"), "7");
    EXPECT_EQ(r.at("icmp.checksum.status"), "1");
    EXPECT_EQ(r.at("data.data"), hex(odd));
  }
  {
    const Row& r = rows[3];
    expect_eth_ip(r, "1");
    EXPECT_EQ(r.at("ip.len"), "28");
    EXPECT_EQ(r.at("icmp.type"), "0");
    EXPECT_EQ(r.at("icmp.ident"), "1");
    EXPECT_EQ(r.at("icmp.seq"), "65535");
    EXPECT_EQ(r.at("icmp.checksum.status"), "1");
  }
  {
    const Row& r = rows[4];  // first occurrence of ip.* is the outer header
    expect_eth_ip(r, "1");
    EXPECT_EQ(r.at("ip.len"), "56");  // 20 + 8 + quoted 20 + 8
    EXPECT_EQ(r.at("icmp.type"), "3");
    EXPECT_EQ(r.at("icmp.code"), "3");
    EXPECT_EQ(r.at("icmp.checksum.status"), "1");
    EXPECT_EQ(r.at("udp.srcport"), "53124");  // from the quoted datagram
    EXPECT_EQ(r.at("udp.dstport"), "53");
  }
  {
    const Row& r = rows[5];
    expect_eth_ip(r, "6");
    EXPECT_EQ(r.at("ip.len"), "40");
    EXPECT_EQ(r.at("tcp.srcport"), "47001");
    EXPECT_EQ(r.at("tcp.dstport"), "47002");
    EXPECT_EQ(r.at("tcp.seq_raw"), "4294967294");
    EXPECT_EQ(r.at("tcp.flags"), "0x0002");
    EXPECT_EQ(r.at("tcp.window_size_value"), "65535");
    EXPECT_EQ(r.at("tcp.hdr_len"), "20");
    EXPECT_EQ(r.at("tcp.checksum.status"), "1");
  }
  {
    const Row& r = rows[6];
    expect_eth_ip(r, "6");
    EXPECT_EQ(r.at("tcp.seq_raw"), "16909060");
    EXPECT_EQ(r.at("tcp.ack_raw"), "2695938256");
    EXPECT_EQ(r.at("tcp.flags"), "0x0018");
    EXPECT_EQ(r.at("tcp.window_size_value"), "501");
    EXPECT_EQ(r.at("tcp.checksum.status"), "1");
    EXPECT_EQ(r.at("tcp.payload"), hex(odd));
  }
  {
    const Row& r = rows[7];
    expect_eth_ip(r, "6");
    EXPECT_EQ(r.at("ip.len"), "1440");
    EXPECT_EQ(r.at("tcp.flags"), "0x0011");
    EXPECT_EQ(r.at("tcp.checksum.status"), "1");
    EXPECT_EQ(r.at("tcp.payload"), hex(big));
  }
  {
    const Row& r = rows[8];
    expect_eth_ip(r, "17");
    EXPECT_EQ(r.at("ip.len"), "33");
    EXPECT_EQ(r.at("udp.srcport"), "47001");
    EXPECT_EQ(r.at("udp.dstport"), "47002");
    EXPECT_EQ(r.at("udp.length"), "13");
    EXPECT_EQ(r.at("udp.checksum.status"), "1");
    EXPECT_EQ(r.at("udp.payload"), hex(odd));
  }
  {
    const Row& r = rows[9];
    expect_eth_ip(r, "17");
    EXPECT_EQ(r.at("udp.length"), "8");
    EXPECT_EQ(r.at("udp.checksum.status"), "1");
  }
  {
    const Row& r = rows[10];
    expect_eth_ip(r, "17");
    EXPECT_EQ(r.at("udp.length"), "1408");
    EXPECT_EQ(r.at("udp.checksum.status"), "1");
    EXPECT_EQ(r.at("udp.payload"), hex(big));
  }
}

// The UDP checksum that computes to zero is sent as 0xffff; tshark must
// still call it Good.
TEST_F(TsharkOracle, UdpChecksumFfffIsGood) {
  std::array<uint8_t, 64> buf{};
  std::array<uint8_t, 2> payload{0, 0};
  ASSERT_NE(build_udp(buf, kEth, kIp, 47001, 47002, payload), 0u);
  payload = {buf[40], buf[41]};
  const std::size_t n = build_udp(buf, kEth, kIp, 47001, 47002, payload);
  ASSERT_EQ(buf[40], 0xff);
  ASSERT_EQ(buf[41], 0xff);
  add(buf, n);
  auto rows = decode();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].at("udp.checksum.status"), "1");
}

// The golden frames themselves, as a check on the test data.
TEST_F(TsharkOracle, GoldenFramesHaveGoodChecksums) {
  for (auto f : {std::span<const uint8_t>(golden::kIcmpEchoRequest), std::span<const uint8_t>(golden::kTcpSyn),
                 std::span<const uint8_t>(golden::kUdpDns), std::span<const uint8_t>(golden::kVlanIcmpReply),
                 std::span<const uint8_t>(golden::kTcpAckPadded)}) {
    frames_.emplace_back(f.begin(), f.end());
  }
  auto rows = decode();
  ASSERT_EQ(rows.size(), 5u);
  for (const Row& r : rows) {
    EXPECT_EQ(r.at("ip.checksum.status"), "1");
    EXPECT_EQ(r.at("_ws.malformed"), "");
  }
  EXPECT_EQ(rows[0].at("icmp.checksum.status"), "1");
  EXPECT_EQ(rows[1].at("tcp.checksum.status"), "1");
  EXPECT_EQ(rows[2].at("udp.checksum.status"), "1");
  EXPECT_EQ(rows[3].at("icmp.checksum.status"), "1");
  EXPECT_EQ(rows[4].at("tcp.checksum.status"), "1");
}

}  // namespace
}  // namespace fulcrum::pkt
