#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test:
#   1. release build (gcc): unit tests, golden tests against ovs-ofctl/tshark,
#      end-to-end tests against a real Open vSwitch (OpenFlow 1.0 and 1.3);
#   2. asan-ubsan build (clang): unit tests under the sanitizers, and each
#      libFuzzer target for a short run over its seed corpus.
# Needs root (apt, network namespaces, Open vSwitch).
# FULCRUM_TEST_QUICK=1 skips the sanitizer pass.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

jobs=$(nproc)
start=$SECONDS
echo "== release build"
cmake --preset release >/dev/null
cmake --build --preset release -j "$jobs"
echo "== release tests (unit, golden, e2e)"
ctest --preset release -j "$jobs" --timeout 600

if [[ "${FULCRUM_TEST_QUICK:-0}" != 1 ]]; then
  echo "== asan-ubsan build"
  cmake --preset asan-ubsan >/dev/null
  cmake --build --preset asan-ubsan -j "$jobs"
  echo "== asan-ubsan tests (unit, fuzz smoke)"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --preset asan-ubsan -j "$jobs" -L 'unit|fuzz' --timeout 600
fi
echo "== all tests passed in $((SECONDS - start)) s"
