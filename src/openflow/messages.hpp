// Version-neutral OpenFlow messages.
//
// Nothing outside src/openflow/ knows a wire layout or a protocol version's
// numbering. Port numbers are 32-bit with OpenFlow 1.3's reserved values (the
// codec maps OpenFlow 1.0's 16-bit ports); port feature bitmaps use the 1.3
// bit layout. Messages decoded from a frame hold views (std::span) into that
// frame: copy what must outlive the frame into owned state first.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "net/addr.hpp"
#include "util/static_vec.hpp"

namespace fulcrum::of {

enum class Version : uint8_t { V10 = 0x01, V13 = 0x04 };

// Bit i set = wire version i supported (as in the 1.3 hello version bitmap).
constexpr uint32_t version_bit(Version v) { return 1u << static_cast<uint8_t>(v); }

using PortNo = uint32_t;
namespace port {
constexpr PortNo kMax = 0xffffff00;
constexpr PortNo kInPort = 0xfffffff8;
constexpr PortNo kTable = 0xfffffff9;
constexpr PortNo kNormal = 0xfffffffa;
constexpr PortNo kFlood = 0xfffffffb;
constexpr PortNo kAll = 0xfffffffc;
constexpr PortNo kController = 0xfffffffd;
constexpr PortNo kLocal = 0xfffffffe;
constexpr PortNo kAny = 0xffffffff;  // OpenFlow 1.0's OFPP_NONE
}  // namespace port

constexpr uint32_t kNoBuffer = 0xffffffff;
constexpr uint32_t kGroupAny = 0xffffffff;
constexpr uint16_t kMaxLenNoBuffer = 0xffff;  // send the whole packet to the controller

// Exact-match fields; an unset field is wildcarded.
struct Match {
  std::optional<PortNo> in_port;
  std::optional<MacAddr> eth_src;
  std::optional<MacAddr> eth_dst;
  std::optional<uint16_t> eth_type;
  std::optional<uint8_t> ip_proto;
  std::optional<Ipv4Addr> ipv4_src;
  std::optional<Ipv4Addr> ipv4_dst;
  std::optional<uint16_t> tp_src;  // TCP/UDP source port (ICMP type in 1.0)
  std::optional<uint16_t> tp_dst;  // TCP/UDP destination port (ICMP code in 1.0)
  // Set by the decoder when the wire match held a field this struct does not
  // model (VLAN, IPv6, masks, ...): the match is then not exact to re-encode.
  bool unmodelled = false;

  friend bool operator==(const Match&, const Match&) = default;
};

struct ActOutput {
  PortNo port = port::kAny;
  uint16_t max_len = kMaxLenNoBuffer;  // only meaningful for port::kController
  friend bool operator==(const ActOutput&, const ActOutput&) = default;
};
struct ActSetEthSrc {
  MacAddr mac;
  friend bool operator==(const ActSetEthSrc&, const ActSetEthSrc&) = default;
};
struct ActSetEthDst {
  MacAddr mac;
  friend bool operator==(const ActSetEthDst&, const ActSetEthDst&) = default;
};
struct ActSetIpv4Src {
  Ipv4Addr ip;
  friend bool operator==(const ActSetIpv4Src&, const ActSetIpv4Src&) = default;
};
struct ActSetIpv4Dst {
  Ipv4Addr ip;
  friend bool operator==(const ActSetIpv4Dst&, const ActSetIpv4Dst&) = default;
};
struct ActSetTpSrc {
  uint16_t port = 0;
  friend bool operator==(const ActSetTpSrc&, const ActSetTpSrc&) = default;
};
struct ActSetTpDst {
  uint16_t port = 0;
  friend bool operator==(const ActSetTpDst&, const ActSetTpDst&) = default;
};
using Action =
    std::variant<ActOutput, ActSetEthSrc, ActSetEthDst, ActSetIpv4Src, ActSetIpv4Dst, ActSetTpSrc, ActSetTpDst>;

// Inline capacity: building or decoding an action list never allocates.
using ActionList = StaticVec<Action, 12>;

// ---- messages -------------------------------------------------------------

struct Hello {
  uint32_t version_bitmap = 0;  // 0: the peer sent no bitmap element
  friend bool operator==(const Hello&, const Hello&) = default;
};

// Wire (type, code) as the peer's version numbers them; see errors.hpp for
// the neutral names Fulcrum sends.
struct ErrorMsg {
  uint16_t type = 0;
  uint16_t code = 0;
  std::span<const uint8_t> data;
};

struct EchoRequest {
  std::span<const uint8_t> data;
};
struct EchoReply {
  std::span<const uint8_t> data;
};

struct PortDesc {
  PortNo port_no = 0;
  MacAddr hw_addr;
  std::string name;
  uint32_t config = 0;                                         // bit 0: port administratively down
  uint32_t state = 0;                                          // bit 0: link down
  uint32_t curr = 0, advertised = 0, supported = 0, peer = 0;  // 1.3 feature bit layout
  uint32_t curr_speed_kbps = 0;                                // 1.0: derived from `curr`
  uint32_t max_speed_kbps = 0;
  friend bool operator==(const PortDesc&, const PortDesc&) = default;
};
constexpr uint32_t kPortConfigDown = 1u << 0;
constexpr uint32_t kPortStateLinkDown = 1u << 0;

struct FeaturesRequest {
  friend bool operator==(const FeaturesRequest&, const FeaturesRequest&) = default;
};
struct FeaturesReply {
  uint64_t datapath_id = 0;
  uint32_t n_buffers = 0;
  uint8_t n_tables = 0;
  uint8_t auxiliary_id = 0;  // 1.3 only
  uint32_t capabilities = 0;
  std::vector<PortDesc> ports;  // 1.0 only (1.3 uses PortDescRequest)
  friend bool operator==(const FeaturesReply&, const FeaturesReply&) = default;
};

struct GetConfigRequest {
  friend bool operator==(const GetConfigRequest&, const GetConfigRequest&) = default;
};
struct GetConfigReply {
  uint16_t flags = 0;
  uint16_t miss_send_len = 0;
  friend bool operator==(const GetConfigReply&, const GetConfigReply&) = default;
};
struct SetConfig {
  uint16_t flags = 0;
  uint16_t miss_send_len = kMaxLenNoBuffer;
  friend bool operator==(const SetConfig&, const SetConfig&) = default;
};

// gcc's -Wshadow flags the scoped enumerator `Action` against the type alias
// `Action`; the names cannot collide (PacketInReason::Action is qualified).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
enum class PacketInReason : uint8_t { NoMatch = 0, Action = 1, InvalidTtl = 2 };
#pragma GCC diagnostic pop

struct PacketIn {
  uint32_t buffer_id = kNoBuffer;
  uint16_t total_len = 0;
  PortNo in_port = 0;
  PacketInReason reason = PacketInReason::NoMatch;
  uint8_t table_id = 0;  // 1.3 only
  uint64_t cookie = 0;   // 1.3 only
  std::span<const uint8_t> data;
};

struct PacketOut {
  uint32_t buffer_id = kNoBuffer;
  PortNo in_port = port::kController;
  ActionList actions;
  std::span<const uint8_t> data;  // the frame, when buffer_id is kNoBuffer
};

enum class FlowModCommand : uint8_t { Add, Modify, ModifyStrict, Delete, DeleteStrict };
constexpr uint16_t kFlowSendFlowRem = 1u << 0;
constexpr uint16_t kFlowCheckOverlap = 1u << 1;

struct FlowMod {
  uint64_t cookie = 0;
  uint64_t cookie_mask = 0;  // 1.3 only (delete/modify by cookie)
  uint8_t table_id = 0;      // 1.3 only
  FlowModCommand command = FlowModCommand::Add;
  uint16_t idle_timeout = 0;
  uint16_t hard_timeout = 0;
  uint16_t priority = 0x8000;
  uint32_t buffer_id = kNoBuffer;
  PortNo out_port = port::kAny;
  uint32_t out_group = kGroupAny;  // 1.3 only
  uint16_t flags = 0;
  Match match;
  ActionList actions;  // 1.3: one apply-actions instruction (none if empty)
  friend bool operator==(const FlowMod&, const FlowMod&) = default;
};

enum class FlowRemovedReason : uint8_t { IdleTimeout = 0, HardTimeout = 1, Delete = 2, GroupDelete = 3 };

struct FlowRemoved {
  uint64_t cookie = 0;
  uint16_t priority = 0;
  FlowRemovedReason reason = FlowRemovedReason::IdleTimeout;
  uint8_t table_id = 0;
  uint32_t duration_sec = 0, duration_nsec = 0;
  uint16_t idle_timeout = 0, hard_timeout = 0;
  uint64_t packet_count = 0, byte_count = 0;
  Match match;
  friend bool operator==(const FlowRemoved&, const FlowRemoved&) = default;
};

enum class PortStatusReason : uint8_t { Add = 0, Delete = 1, Modify = 2 };
struct PortStatus {
  PortStatusReason reason = PortStatusReason::Add;
  PortDesc desc;
  friend bool operator==(const PortStatus&, const PortStatus&) = default;
};

struct BarrierRequest {
  friend bool operator==(const BarrierRequest&, const BarrierRequest&) = default;
};
struct BarrierReply {
  friend bool operator==(const BarrierReply&, const BarrierReply&) = default;
};

// 1.3 multipart OFPMP_PORT_DESC. In 1.0, ports come in the features reply.
struct PortDescRequest {
  friend bool operator==(const PortDescRequest&, const PortDescRequest&) = default;
};
struct PortDescReply {
  std::vector<PortDesc> ports;
  bool more = false;  // OFPMPF_REPLY_MORE
  friend bool operator==(const PortDescReply&, const PortDescReply&) = default;
};

struct PortStatsRequest {
  PortNo port_no = port::kAny;
  friend bool operator==(const PortStatsRequest&, const PortStatsRequest&) = default;
};
struct PortStats {
  PortNo port_no = 0;
  uint64_t rx_packets = 0, tx_packets = 0, rx_bytes = 0, tx_bytes = 0;
  uint64_t rx_dropped = 0, tx_dropped = 0, rx_errors = 0, tx_errors = 0;
  uint64_t rx_frame_err = 0, rx_over_err = 0, rx_crc_err = 0, collisions = 0;
  uint32_t duration_sec = 0, duration_nsec = 0;  // 1.3 only
  friend bool operator==(const PortStats&, const PortStats&) = default;
};
struct PortStatsReply {
  std::vector<PortStats> stats;
  bool more = false;
  friend bool operator==(const PortStatsReply&, const PortStatsReply&) = default;
};

struct FlowStatsRequest {
  uint8_t table_id = 0xff;  // all tables
  PortNo out_port = port::kAny;
  uint32_t out_group = kGroupAny;        // 1.3 only
  uint64_t cookie = 0, cookie_mask = 0;  // 1.3 only
  Match match;
  friend bool operator==(const FlowStatsRequest&, const FlowStatsRequest&) = default;
};
struct FlowStats {
  uint8_t table_id = 0;
  uint32_t duration_sec = 0, duration_nsec = 0;
  uint16_t priority = 0, idle_timeout = 0, hard_timeout = 0, flags = 0;
  uint64_t cookie = 0, packet_count = 0, byte_count = 0;
  Match match;
  ActionList actions;
  bool unmodelled_actions = false;  // instructions/actions this struct cannot hold
  friend bool operator==(const FlowStats&, const FlowStats&) = default;
};
struct FlowStatsReply {
  std::vector<FlowStats> stats;
  bool more = false;
  friend bool operator==(const FlowStatsReply&, const FlowStatsReply&) = default;
};

enum class Role : uint32_t { NoChange = 0, Equal = 1, Master = 2, Slave = 3 };
struct RoleRequest {  // 1.3 only
  Role role = Role::NoChange;
  uint64_t generation_id = 0;
  friend bool operator==(const RoleRequest&, const RoleRequest&) = default;
};
struct RoleReply {
  Role role = Role::NoChange;
  uint64_t generation_id = 0;
  friend bool operator==(const RoleReply&, const RoleReply&) = default;
};

using Message = std::variant<Hello, ErrorMsg, EchoRequest, EchoReply, FeaturesRequest, FeaturesReply, GetConfigRequest,
                             GetConfigReply, SetConfig, PacketIn, PacketOut, FlowMod, FlowRemoved, PortStatus,
                             BarrierRequest, BarrierReply, PortDescRequest, PortDescReply, PortStatsRequest,
                             PortStatsReply, FlowStatsRequest, FlowStatsReply, RoleRequest, RoleReply>;

// Short name of a message kind, for logs ("packet-in", "flow-mod", ...).
const char* message_name(const Message& m);

}  // namespace fulcrum::of
