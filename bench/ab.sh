#!/usr/bin/env bash
# A/B of two Fulcrum builds with the same generator: runs alternate A, B, A,
# B, ... so that drift in the machine's load hits both alike. Each run starts
# a fresh controller pinned to CPU 1 and fulcrum-bench (from B_DIR) pinned to
# CPU 0, one switch, throughput mode, window 256.
#
# usage: bench/ab.sh A_BIN_DIR B_BIN_DIR OUT_DIR
#   env: REPS (default 3), POLICIES (default "round-robin combined"),
#        VERSIONS (default "1.3"), DURATION (5), WARMUP (1)
# Prints the medians per (build, policy, version); JSON per run in OUT_DIR.
set -euo pipefail

a=${1:?usage: ab.sh A_BIN_DIR B_BIN_DIR OUT_DIR}
b=${2:?usage: ab.sh A_BIN_DIR B_BIN_DIR OUT_DIR}
out=${3:?usage: ab.sh A_BIN_DIR B_BIN_DIR OUT_DIR}
reps=${REPS:-3}
duration=${DURATION:-5}
warmup=${WARMUP:-1}
mkdir -p "$out"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
trap stop_ctl EXIT

for rep in $(seq 1 "$reps"); do
  for policy in ${POLICIES:-round-robin combined}; do
    for v in ${VERSIONS:-1.3}; do
      for side in A B; do
        dir=$a
        [[ $side == B ]] && dir=$b
        port=$(free_port)
        taskset -c 1 "$dir/fulcrum" --listen "127.0.0.1:$port" --vip 10.0.0.100 \
          --backends 10.0.0.11,10.0.0.12,10.0.0.13 --policy "$policy" --log-level warn --idle-timeout 600 \
          >"$out/fulcrum-$side.log" 2>&1 &
        ctl_pid=$!
        wait_port "$port"
        name="$side-$policy-of${v/./}-$rep"
        taskset -c 0 "$b/fulcrum-bench" --controller "127.0.0.1:$port" --controller-pid "$ctl_pid" \
          --of-version "$v" --mode throughput --window 256 --duration "$duration" --warmup "$warmup" \
          --json "$out/$name.json" >/dev/null
        stop_ctl
        echo "$name done (load $(cut -d' ' -f1 /proc/loadavg))"
      done
    done
  done
done

python3 - "$out" <<'PY'
import json, os, statistics, sys
out = sys.argv[1]
runs = {}
for f in sorted(os.listdir(out)):
    if not f.endswith(".json"):
        continue
    side, rest = f[:-5].split("-", 1)
    key = (rest.rsplit("-", 1)[0], side)
    r = json.load(open(os.path.join(out, f)))
    if r["errors"]["count"]:
        print(f"{f}: {r['errors']['count']} OpenFlow errors", file=sys.stderr)
    runs.setdefault(key, []).append((r["decisions_per_s"]["mean"], r["cpu"].get("controller_us_per_decision", 0),
                                     r["cpu"].get("controller_util", 0)))
print("| run | build | decisions/s (each run) | median | ctl µs CPU / decision (each) | median | ctl CPU |")
print("|---|---|---|---|---|---|---|")
for (name, side), rs in sorted(runs.items()):
    rate = [x[0] for x in rs]
    cpu = [x[1] for x in rs]
    util = [x[2] for x in rs]
    print(f"| {name} | {side} | {', '.join(f'{x:,.0f}' for x in rate)} | {statistics.median(rate):,.0f} "
          f"| {', '.join(f'{x:.2f}' for x in cpu)} | {statistics.median(cpu):.2f} "
          f"| {100 * min(util):.0f}–{100 * max(util):.0f} % |")
PY
