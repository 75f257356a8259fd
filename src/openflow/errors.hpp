// Version-neutral OpenFlow error codes (after Open vSwitch's ofperr): a decode
// failure is one of these, and can go straight back to the switch as an
// OFPT_ERROR via wire_error().
#pragma once

#include <cstdint>
#include <utility>

#include "openflow/messages.hpp"

namespace fulcrum::of {

enum class Err : uint8_t {
  // OFPET_HELLO_FAILED
  HelloIncompatible,
  // OFPET_BAD_REQUEST
  BadVersion,
  BadType,
  BadMultipart,  // 1.0: OFPBRC_BAD_STAT
  BadExperimenter,
  BadLen,
  BufferUnknown,
  // OFPET_BAD_ACTION
  BadActionType,
  BadActionLen,
  BadOutPort,
  BadActionArgument,
  // OFPET_BAD_INSTRUCTION (1.3)
  BadInstruction,
  BadInstructionLen,
  // OFPET_BAD_MATCH (1.3; 1.0 has no such type and uses BAD_REQUEST/BAD_LEN)
  BadMatchType,
  BadMatchLen,
  BadMatchField,
  BadMatchValue,
  BadMatchPrereq,
  DupMatchField,
  // OFPET_FLOW_MOD_FAILED
  FlowModBadCommand,
  // Encoder-side: the message has no form in the chosen version.
  UnsupportedInVersion,
};

// Text for logs ("OFPBRC_BAD_LEN").
const char* err_name(Err e);

// Wire (type, code) for `e` in version `v`.
std::pair<uint16_t, uint16_t> wire_error(Version v, Err e);

// Decode failures carry the neutral code and a static detail for logs.
struct DecodeError {
  Err err = Err::BadLen;
  const char* detail = "";
};

}  // namespace fulcrum::of
