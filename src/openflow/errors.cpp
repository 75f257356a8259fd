#include "openflow/errors.hpp"

namespace fulcrum::of {

const char* err_name(Err e) {
  switch (e) {
    case Err::HelloIncompatible:
      return "OFPHFC_INCOMPATIBLE";
    case Err::BadVersion:
      return "OFPBRC_BAD_VERSION";
    case Err::BadType:
      return "OFPBRC_BAD_TYPE";
    case Err::BadMultipart:
      return "OFPBRC_BAD_MULTIPART";
    case Err::BadExperimenter:
      return "OFPBRC_BAD_EXPERIMENTER";
    case Err::BadLen:
      return "OFPBRC_BAD_LEN";
    case Err::BufferUnknown:
      return "OFPBRC_BUFFER_UNKNOWN";
    case Err::BadActionType:
      return "OFPBAC_BAD_TYPE";
    case Err::BadActionLen:
      return "OFPBAC_BAD_LEN";
    case Err::BadOutPort:
      return "OFPBAC_BAD_OUT_PORT";
    case Err::BadActionArgument:
      return "OFPBAC_BAD_ARGUMENT";
    case Err::BadInstruction:
      return "OFPBIC_UNKNOWN_INST";
    case Err::BadInstructionLen:
      return "OFPBIC_BAD_LEN";
    case Err::BadMatchType:
      return "OFPBMC_BAD_TYPE";
    case Err::BadMatchLen:
      return "OFPBMC_BAD_LEN";
    case Err::BadMatchField:
      return "OFPBMC_BAD_FIELD";
    case Err::BadMatchValue:
      return "OFPBMC_BAD_VALUE";
    case Err::BadMatchPrereq:
      return "OFPBMC_BAD_PREREQ";
    case Err::DupMatchField:
      return "OFPBMC_DUP_FIELD";
    case Err::FlowModBadCommand:
      return "OFPFMFC_BAD_COMMAND";
    case Err::UnsupportedInVersion:
      return "UNSUPPORTED_IN_VERSION";
  }
  return "UNKNOWN_ERROR";
}

namespace {
// OFPET_* types.
constexpr uint16_t kHelloFailed = 0, kBadRequest = 1, kBadAction = 2;
constexpr uint16_t kBadInstruction13 = 3, kBadMatch13 = 4, kFlowModFailed13 = 5;
constexpr uint16_t kFlowModFailed10 = 3;
}  // namespace

std::pair<uint16_t, uint16_t> wire_error(Version v, Err e) {
  using W = std::pair<uint16_t, uint16_t>;
  const bool v10 = v == Version::V10;
  switch (e) {
    case Err::HelloIncompatible:
      return {kHelloFailed, 0};
    case Err::BadVersion:
      return {kBadRequest, 0};
    case Err::BadType:
      return {kBadRequest, 1};
    case Err::BadMultipart:
      return {kBadRequest, 2};  // 1.0: OFPBRC_BAD_STAT
    case Err::BadExperimenter:
      return {kBadRequest, 3};  // 1.0: OFPBRC_BAD_VENDOR
    case Err::BadLen:
      return {kBadRequest, 6};
    case Err::BufferUnknown:
      return {kBadRequest, 8};
    case Err::BadActionType:
      return {kBadAction, 0};
    case Err::BadActionLen:
      return {kBadAction, 1};
    case Err::BadOutPort:
      return {kBadAction, 4};
    case Err::BadActionArgument:
      return {kBadAction, 5};
    // 1.0 has no instructions and no OFPET_BAD_MATCH: report a bad request.
    case Err::BadInstruction:
      return v10 ? W{kBadRequest, 1} : W{kBadInstruction13, 0};
    case Err::BadInstructionLen:
      return v10 ? W{kBadRequest, 6} : W{kBadInstruction13, 7};
    case Err::BadMatchType:
      return v10 ? W{kBadRequest, 6} : W{kBadMatch13, 0};
    case Err::BadMatchLen:
      return v10 ? W{kBadRequest, 6} : W{kBadMatch13, 1};
    case Err::BadMatchField:
      return v10 ? W{kBadRequest, 6} : W{kBadMatch13, 6};
    case Err::BadMatchValue:
      return v10 ? W{kBadRequest, 6} : W{kBadMatch13, 7};
    case Err::BadMatchPrereq:
      return v10 ? W{kBadRequest, 6} : W{kBadMatch13, 9};
    case Err::DupMatchField:
      return v10 ? W{kBadRequest, 6} : W{kBadMatch13, 10};
    case Err::FlowModBadCommand:
      return v10 ? W{kFlowModFailed10, 4} : W{kFlowModFailed13, 6};
    case Err::UnsupportedInVersion:
      return {kBadRequest, 1};
  }
  return {kBadRequest, 1};
}

}  // namespace fulcrum::of
