// Golden tests against an independent oracle, Open vSwitch's printer.
//
// tests/golden/openflow/<version>-<name>.txt holds Fulcrum's encoding of a
// sample message (hex) and what `ovs-ofctl ofp-print HEX` says about it,
// reviewed by hand when committed. The tests check that
//   1. today's encoding is byte-for-byte the committed hex,
//   2. the committed hex decodes to the sample message, and
//   3. when ovs-ofctl is installed, it still prints the committed text for
//      freshly encoded bytes.
// Regenerate after an intended change with FULCRUM_UPDATE_GOLDEN=1 and
// review the diff: the oracle must agree with what the message means.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "unit/openflow/samples.hpp"

namespace fulcrum::of {
namespace {

using testing::encode_or_die;
using testing::from_hex;
using testing::msg_equal;
using testing::Sample;
using testing::to_hex;

constexpr const char* kOvsOfctl = "/usr/bin/ovs-ofctl";
constexpr uint32_t kXid = 0x11;

std::string golden_path(const Sample& s) {
  return std::string(FULCRUM_OF_GOLDEN_DIR) + "/" + (s.version == Version::V10 ? "of10-" : "of13-") + s.name + ".txt";
}

struct Golden {
  std::string hex;
  std::string text;  // ovs-ofctl's output
};

std::optional<Golden> read_golden(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  Golden g;
  std::string line;
  bool in_text = false;
  while (std::getline(in, line)) {
    if (in_text) {
      g.text += line + "\n";
    } else if (line.rfind("hex: ", 0) == 0) {
      g.hex = line.substr(5);
    } else if (line.rfind("--- ", 0) == 0) {
      in_text = true;
    }
  }
  return g;
}

bool have_ovs_ofctl() { return access(kOvsOfctl, X_OK) == 0; }

std::string ofp_print(const std::string& hex) {
  std::string cmd = std::string(kOvsOfctl) + " ofp-print " + hex + " 2>&1";  // hex digits only: no quoting needed
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[4096];
    std::size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    pclose(p);
  }
  return out;
}

class OvsGolden : public ::testing::TestWithParam<Sample> {};

TEST_P(OvsGolden, MatchesCommittedOvsOutput) {
  const Sample& s = GetParam();
  const std::string hex = to_hex(encode_or_die(s.version, kXid, s.msg));
  const std::string path = golden_path(s);

  if (std::getenv("FULCRUM_UPDATE_GOLDEN")) {
    ASSERT_TRUE(have_ovs_ofctl());
    std::ofstream out(path);
    out << "# Fulcrum's encoding of the `" << s.name << "` sample (tests/unit/openflow/samples.hpp) in OpenFlow "
        << (s.version == Version::V10 ? "1.0" : "1.3") << ",\n# and what `ovs-ofctl ofp-print HEX` prints for it.\n"
        << "hex: " << hex << "\n--- ovs-ofctl ofp-print\n"
        << ofp_print(hex);
    GTEST_SKIP() << "wrote " << path;
  }

  auto g = read_golden(path);
  ASSERT_TRUE(g) << "missing " << path << " (regenerate with FULCRUM_UPDATE_GOLDEN=1)";
  EXPECT_EQ(hex, g->hex) << "encoding changed: " << path;

  auto bytes = from_hex(g->hex);
  auto d = decode(bytes);
  ASSERT_TRUE(d.ok()) << d.error().detail;
  EXPECT_TRUE(msg_equal(d->msg, s.msg));

  if (!have_ovs_ofctl()) GTEST_SKIP() << "ovs-ofctl not installed; hex checked only";
  EXPECT_EQ(ofp_print(hex), g->text);
  // An error's data is the head of the offending message: "truncated" is right there.
  if (!std::holds_alternative<ErrorMsg>(s.msg)) {
    EXPECT_EQ(g->text.find("***"), std::string::npos) << "ovs-ofctl complained:\n" << g->text;
  }
}

INSTANTIATE_TEST_SUITE_P(AllMessages, OvsGolden, ::testing::ValuesIn(testing::all_samples()),
                         [](const ::testing::TestParamInfo<Sample>& i) {
                           std::string n = (i.param.version == Version::V10 ? "of10_" : "of13_") + i.param.name;
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

}  // namespace
}  // namespace fulcrum::of
