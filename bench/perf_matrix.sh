#!/usr/bin/env bash
# Runs the measurements of docs/PERFORMANCE.md: every run starts a fresh
# controller pinned to CPU 1 and fulcrum-bench pinned to CPU 0, and writes
# one JSON file per run into OUT_DIR (summarise with bench/summarize.py).
#
# usage: bench/perf_matrix.sh BIN_DIR OUT_DIR [SECTION...]
#   sections: fulcrum scaling memory ovs (default: all)
#
# On a shared machine, run it as its own session with a raised autogroup
# weight so the two pinned processes are not queued behind unrelated work:
#   setsid bash -c 'echo -15 > /proc/self/autogroup; exec bench/perf_matrix.sh build/release/bin out'
set -euo pipefail

bin=${1:?usage: perf_matrix.sh BIN_DIR OUT_DIR [SECTION...]}
out=${2:?usage: perf_matrix.sh BIN_DIR OUT_DIR [SECTION...]}
shift 2
sections=${*:-fulcrum scaling memory ovs}
duration=${DURATION:-5}
warmup=${WARMUP:-1}
mkdir -p "$out"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
trap stop_ctl EXIT

start_fulcrum() {  # policy, extra flags...
  local policy=$1
  shift
  port=$(free_port)
  taskset -c 1 "$bin/fulcrum" --listen "127.0.0.1:$port" --vip 10.0.0.100 \
    --backends 10.0.0.11,10.0.0.12,10.0.0.13 --policy "$policy" --log-level warn "$@" >"$out/fulcrum.log" 2>&1 &
  ctl_pid=$!
  wait_port "$port"
}

start_ovs() {
  port=$(free_port)
  taskset -c 1 ovs-testcontroller "ptcp:$port:127.0.0.1" >"$out/ovs-testcontroller.log" 2>&1 &
  ctl_pid=$!
  wait_port "$port"
}

bench() {  # name, flags...
  local name=$1
  shift
  echo "== $name (load $(cut -d' ' -f1-3 /proc/loadavg))"
  taskset -c 0 "$bin/fulcrum-bench" --controller "127.0.0.1:$port" --controller-pid "$ctl_pid" \
    --duration "$duration" --warmup "$warmup" --json "$out/$name.json" "$@" | sed 's/^/  /'
  python3 - "$out/$name.json" "$(cut -d' ' -f1 /proc/loadavg)" <<'PY'
import json, sys
p = sys.argv[1]
r = json.load(open(p))
r["loadavg_1m_after"] = float(sys.argv[2])
json.dump(r, open(p, "w"), indent=2)
PY
}

for section in $sections; do
  case $section in
    fulcrum)
      for policy in ${POLICIES:-round-robin random combined}; do
        for v in 1.0 1.3; do
          start_fulcrum "$policy" --idle-timeout 600
          bench "fulcrum-$policy-of${v/./}-throughput" --of-version "$v" --mode throughput --window 256
          stop_ctl
          start_fulcrum "$policy" --idle-timeout 600
          bench "fulcrum-$policy-of${v/./}-latency" --of-version "$v" --mode latency
          stop_ctl
        done
      done
      ;;
    scaling)
      for n in 1 2 4; do
        start_fulcrum round-robin --idle-timeout 600
        bench "scaling-${n}sw" --of-version 1.3 --mode throughput --switches "$n" --window $((256 / n))
        stop_ctl
      done
      ;;
    memory)
      # Hold about a million connections (no flow-removed ever comes back
      # from the emulated switch, and the idle timeout is an hour).
      # The RSS "after" figure is sampled while the switch is still
      # connected: fulcrum drops a switch's connections when it disconnects.
      start_fulcrum round-robin --idle-timeout 3600
      saved=$duration
      duration=${MEM_DURATION:-10}
      bench "memory-1M" --of-version 1.3 --mode throughput --window 256 --client-ips 65536
      duration=$saved
      stop_ctl
      ;;
    ovs)
      for v in 1.0 1.3; do
        start_ovs
        bench "ovs-testcontroller-of${v/./}-throughput" --of-version "$v" --mode throughput --window 256 --settle 300
        stop_ctl
        start_ovs
        bench "ovs-testcontroller-of${v/./}-latency" --of-version "$v" --mode latency --settle 300
        stop_ctl
      done
      ;;
    *)
      echo "unknown section $section" >&2
      exit 2
      ;;
  esac
done
