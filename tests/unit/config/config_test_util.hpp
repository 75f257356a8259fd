// Helpers shared by the configuration tests: the error a YAML text or a
// command line is refused with ("" when accepted).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"

namespace fulcrum::config::test_util {

inline std::string error_of(const std::string& yaml) {
  try {
    validate(parse_yaml(yaml, "test.yaml"));
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

inline ParseOutcome parse_args(std::vector<std::string> args) {
  args.insert(args.begin(), "fulcrum");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return parse_command_line(static_cast<int>(argv.size()), argv.data());
}

inline std::string arg_error(std::vector<std::string> args) {
  try {
    parse_args(std::move(args));
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace fulcrum::config::test_util
