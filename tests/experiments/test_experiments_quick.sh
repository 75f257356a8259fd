#!/usr/bin/env bash
# CI check of experiments/: run.sh --quick on the namespace testbed into a
# temporary directory, then check_report.py: every run succeeded, the report's
# tables have a row per size and rate with a number per policy, and the plots
# are PNG files. No assertion on the timings (CI machines vary).
set -uo pipefail
src=${FULCRUM_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
out=$(mktemp -d /tmp/fulcrum-exp-ci-XXXXXX) || exit 1
trap 'rm -rf "$out"' EXIT
# Its own name prefix: a grid run by hand (prefix fxp) that lets this test in
# between two of its runs keeps its names.
TB_PREFIX=fxq "$src/experiments/run.sh" --quick --out "$out" || { echo "not ok - experiments/run.sh --quick"; exit 1; }
/usr/bin/python3 "$(dirname "$0")/check_report.py" "$out"
